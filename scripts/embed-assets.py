#!/usr/bin/env python3
"""embed-assets.py: compile the supervisor page's files into a C source file for fcrd.

Usage: embed-assets.py --output FILE.c --prefix /ui/ ASSET...

Each ASSET becomes one entry of `api_ui_assets[]` (declared in daemon/api/api_ui.h): its URL path
(the prefix and the file's base name), its Content-Type chosen by extension, its bytes, and a
strong ETag made from a SHA-256 of the bytes, so that a browser revalidates cheaply and sees a
new build at once. A file type without a known Content-Type stops the build rather than being
served as something a browser might sniff.

Run by meson at build time (daemon/api/meson.build); standard library only.
"""
import argparse
import hashlib
import os
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}

BYTES_PER_LINE = 16


def c_string(text):
    """A C string literal for plain ASCII text (paths, types, tags)."""
    if any(ord(ch) < 0x20 or ord(ch) > 0x7E for ch in text):
        raise ValueError(f"not printable ASCII: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(prefix, assets):
    out = [
        "/* api_ui_assets.c: the supervisor page's files (daemon/api/ui/), generated at build time by",
        " * scripts/embed-assets.py. Do not edit: change the files and rebuild. */",
        "#include \"api/api_ui.h\"",
        "",
    ]
    entries = []
    for i, path in enumerate(assets):
        name = os.path.basename(path)
        ext = os.path.splitext(name)[1].lower()
        if ext not in TYPES:
            raise ValueError(f"{path}: no Content-Type known for '{ext}' files")
        with open(path, "rb") as f:
            data = f.read()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        out.append(f"/* {name}: {len(data)} bytes */")
        out.append(f"static const unsigned char asset_{i}[] = {{")
        for at in range(0, len(data), BYTES_PER_LINE):
            chunk = data[at:at + BYTES_PER_LINE]
            out.append("    " + ", ".join(f"0x{b:02x}" for b in chunk) + ",")
        if not data:
            out.append("    0x00,")
        out.append("};")
        out.append("")
        entries.append(f"    {{{c_string(prefix + name)}, {c_string(TYPES[ext])}, asset_{i}, {len(data)}, "
                       f"{c_string(etag)}}},")
    out.append("const struct api_ui_asset api_ui_assets[] = {")
    out += entries
    out.append("};")
    out.append(f"const size_t api_ui_nassets = {len(entries)};")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description="Embed the supervisor page's files into fcrd.")
    ap.add_argument("--output", required=True, help="the C file to write")
    ap.add_argument("--prefix", default="/ui/", help="URL path prefix of the assets (default /ui/)")
    ap.add_argument("assets", nargs="+", help="files to embed")
    args = ap.parse_args()
    names = [os.path.basename(a) for a in args.assets]
    if len(set(names)) != len(names):
        sys.exit("embed-assets: two assets share a file name")
    try:
        text = render(args.prefix, args.assets)
    except (OSError, ValueError) as e:
        sys.exit(f"embed-assets: {e}")
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(text)
    os.replace(tmp, args.output)


if __name__ == "__main__":
    main()
