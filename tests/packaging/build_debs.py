#!/usr/bin/env python3
"""build_debs.py: build the Debian packages from a copy of the source tree and check them.

Usage: build_debs.py   (FCRD_SOURCE_ROOT names the tree; default: two folders up)

1. Copies the tree (the files git knows of, tracked or not ignored; without git, everything but
   the build folders) into a temporary folder, so the checkout is never written to.
2. dpkg-buildpackage -us -uc -b there, with DEB_BUILD_OPTIONS=nocheck: the unit suite runs in
   scripts/test already, and under CI=true its scenarios test wants ../shared beside the tree,
   which the copy has not got.
3. lintian on the .changes: any error fails.
4. Reads each .deb's files (owners, modes), its conffiles and maintainer scripts, and unpacks it
   with dpkg -x into a throwaway root; nothing is installed on this machine.
5. Runs the unpacked /usr/sbin/fcrd --check --config /etc/fcrd/fcrd.conf, the unit's own command
   line, in a private mount namespace where read-only overlays put the root's /usr and /etc over
   the machine's: the installed configuration's absolute paths then reach the installed files,
   the machine's libraries stay visible, and nothing outside the namespace sees a change. An
   empty tokens file stands in for the one postinst creates.

One test case: prints every problem it finds, then "packaging: N problem(s)" or "packaging: ok".
Needs dpkg-dev, debhelper, lintian (scripts/lib.sh installs them) and the build dependencies in
debian/control."""
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

SOURCE_ROOT = os.environ.get("FCRD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD_TIMEOUT = 1500
NEEDED = {"dpkg-buildpackage": "dpkg-dev", "dh": "debhelper", "lintian": "lintian", "unshare": "util-linux"}

problems = []


def problem(msg):
    problems.append(msg)
    print("PROBLEM: " + msg, flush=True)


def log(msg):
    print(msg, flush=True)


def project_version():
    with open(os.path.join(SOURCE_ROOT, "meson.build"), encoding="utf-8") as f:
        m = re.search(r"version\s*:\s*'([^']+)'", f.read())
    return m.group(1)


def copy_tree(dest):
    """The source tree into dest: git's files when it is a checkout, else all but build output."""
    if os.path.exists(os.path.join(SOURCE_ROOT, ".git")) and shutil.which("git"):
        r = subprocess.run(["git", "-C", SOURCE_ROOT, "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], capture_output=True, check=True)
        for rel in sorted(set(p for p in r.stdout.decode().split("\0") if p)):
            src = os.path.join(SOURCE_ROOT, rel)
            if not os.path.lexists(src):  # deleted in the work tree, not yet committed
                continue
            os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, rel), follow_symlinks=False)
    else:
        shutil.copytree(SOURCE_ROOT, dest, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            "build*", "var", ".git", "node_modules", "__pycache__", "*.pyc"))


def build(src, work):
    env = dict(os.environ, DEB_BUILD_OPTIONS=f"nocheck parallel={min(os.cpu_count() or 1, 2)}")
    logfile = os.path.join(work, "dpkg-buildpackage.log")
    start = time.monotonic()
    with open(logfile, "w", encoding="utf-8") as out:
        try:
            r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env, stdout=out,
                               stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
            rc = r.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    log(f"dpkg-buildpackage: exit {rc} after {time.monotonic() - start:.0f} s")
    if rc != 0:
        with open(logfile, encoding="utf-8", errors="replace") as f:
            tail = f.readlines()[-60:]
        problem("dpkg-buildpackage -us -uc -b failed; the end of its log:\n" + "".join(tail))
        return False
    return True


def run_lintian(changes):
    # --fail-on error: warnings and notes are printed but do not fail; they are listed (or
    # overridden with a reason) in debian/*.lintian-overrides.
    r = subprocess.run(["lintian", "--fail-on", "error", "--tag-display-limit", "0", changes],
                       capture_output=True, text=True, timeout=600)
    out = (r.stdout + r.stderr).strip()
    log("lintian:\n" + (out or "(nothing to say)"))
    errors = [ln for ln in out.splitlines() if ln.startswith("E: ")]
    if r.returncode != 0 or errors:
        problem(f"lintian reports errors (exit {r.returncode}): " + "; ".join(errors))


def deb_members(deb):
    """{path: TarInfo} of a .deb's files, paths made absolute ('/usr/sbin/fcrd')."""
    r = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as t:
        return {"/" + m.name.lstrip("./").rstrip("/"): m for m in t.getmembers() if m.name not in (".", "./")}


def control_dir(deb, work):
    d = tempfile.mkdtemp(prefix="control-", dir=work)
    subprocess.run(["dpkg-deb", "-e", deb, d], check=True)
    return d


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def check_fcrd(members, ctrl, version):
    want_files = {
        "/usr/sbin/fcrd": 0o755,
        "/usr/bin/fcr-replay": 0o755,
        "/usr/bin/fcr-loadgen": 0o755,
        "/lib/systemd/system/fcrd.service": 0o644,
        "/usr/lib/sysusers.d/fcrd.conf": 0o644,
        "/etc/fcrd/fcrd.conf": 0o640,
        "/etc/fcrd/migrate.conf": 0o600,
        "/usr/share/fcrd/rules/hocr-2025.json": 0o644,
        "/usr/share/fcrd/monitoring/fcrd-alerts.yml": 0o644,
        "/usr/share/fcrd/monitoring/fcrd-alerts.test.yml": 0o644,
        "/usr/share/fcrd/monitoring/fcrd-dashboard.json": 0o644,
        "/usr/share/man/man8/fcrd.8.gz": 0o644,
        "/usr/share/man/man5/fcrd.conf.5.gz": 0o644,
        "/usr/share/doc/fcrd/copyright": 0o644,
        "/usr/share/doc/fcrd/operations.md.gz": 0o644,
        "/usr/share/doc/fcrd/tokens.example": 0o644,
    }
    for name in os.listdir(os.path.join(SOURCE_ROOT, "sql")):
        want_files["/usr/share/fcrd/sql/" + name] = 0o644
    check_files("fcrd", members, want_files, {"/etc/fcrd": 0o750})
    for path in members:
        if path.startswith("/etc/") and path not in ("/etc/fcrd", "/etc/fcrd/fcrd.conf", "/etc/fcrd/migrate.conf"):
            problem(f"fcrd: {path} under /etc: only fcrd.conf and migrate.conf belong there (tokens are not shipped)")
        if path.endswith("/fcrctl") or "fcrctl.1" in path:
            problem(f"fcrd: {path} belongs to the fcrctl package")
    conffiles = read(os.path.join(ctrl, "conffiles")).split() if os.path.exists(os.path.join(ctrl, "conffiles")) else []
    if sorted(conffiles) != ["/etc/fcrd/fcrd.conf", "/etc/fcrd/migrate.conf"]:
        problem(f"fcrd: conffiles are {conffiles}, want /etc/fcrd/fcrd.conf and /etc/fcrd/migrate.conf")
    control = read(os.path.join(ctrl, "control"))
    if not re.search(rf"(?m)^Version: {re.escape(version)}$", control):
        problem(f"fcrd: control's Version is not meson.build's {version}:\n{control}")
    depends = re.search(r"(?m)^Depends: (.*)$", control)
    depends = depends.group(1) if depends else ""
    for lib in ("libjemalloc2", "libpq5", "libevent-", "libjansson4", "libssl3", "python3", "systemd"):
        if lib not in depends:
            problem(f"fcrd: Depends lacks {lib}: {depends}")
    postinst = read(os.path.join(ctrl, "postinst")) if os.path.exists(os.path.join(ctrl, "postinst")) else ""
    for needle, why in (("dh_installsysusers", "debhelper's snippet creates the fcrd account"),
                        ("install -o root -g fcrd -m 0640 /dev/null /etc/fcrd/tokens", "creates an empty tokens file"),
                        ("chown root:fcrd /etc/fcrd", "gives the configuration folder to group fcrd"),
                        ("try-restart", "restarts a running fcrd after an upgrade")):
        if needle not in postinst:
            problem(f"fcrd: postinst lacks {needle!r} ({why})")
    # The account exists before the chown, and the folder is the group's before a running fcrd
    # is restarted to read it.
    order = [postinst.find(x) for x in ("systemd-sysusers", "chown root:fcrd /etc/fcrd", "try-restart")]
    if -1 not in order and order != sorted(order):
        problem("fcrd: postinst must create the account, then chown /etc/fcrd, then restart fcrd")
    if re.search(r"deb-systemd-invoke \$_dh_action|deb-systemd-invoke start", postinst):
        problem("fcrd: postinst starts the service on installation; it must wait for the database and tokens")
    # debhelper's enabling snippet enables a unit on first installation; the one for --no-enable
    # only keeps an enabled unit's links up to date.
    if "was-enabled defaults to true" in postinst or "deb-systemd-helper debian-installed" not in postinst:
        problem("fcrd: postinst enables the unit on installation instead of leaving it to the administrator")
    prerm = read(os.path.join(ctrl, "prerm")) if os.path.exists(os.path.join(ctrl, "prerm")) else ""
    if "deb-systemd-invoke stop fcrd.service" not in prerm:
        problem("fcrd: prerm does not stop fcrd on removal")
    postrm = read(os.path.join(ctrl, "postrm")) if os.path.exists(os.path.join(ctrl, "postrm")) else ""
    if "rm -f /etc/fcrd/tokens" not in postrm or "deb-systemd-helper purge" not in postrm:
        problem("fcrd: postrm does not clean up on purge (tokens file, unit state)")


def check_fcrctl(members, ctrl, version):
    check_files("fcrctl", members, {
        "/usr/bin/fcrctl": 0o755,
        "/usr/share/man/man1/fcrctl.1.gz": 0o644,
        "/usr/share/doc/fcrctl/copyright": 0o644,
    }, {})
    for path, m in members.items():
        if not m.isdir() and not (path.startswith("/usr/bin/fcrctl") or path.startswith("/usr/share/man/man1/fcrctl")
                                  or path.startswith("/usr/share/doc/fcrctl/")):
            problem(f"fcrctl: unexpected file {path}")
    control = read(os.path.join(ctrl, "control"))
    if not re.search(rf"(?m)^Version: {re.escape(version)}$", control):
        problem(f"fcrctl: control's Version is not meson.build's {version}")


def check_files(pkg, members, files, dirs):
    for path, mode in list(files.items()) + list(dirs.items()):
        m = members.get(path)
        if m is None:
            problem(f"{pkg}: {path} is missing")
            continue
        if path in dirs and not m.isdir():
            problem(f"{pkg}: {path} is not a folder")
        if path in files and not m.isfile():
            problem(f"{pkg}: {path} is not a regular file")
        if m.mode & 0o7777 != mode:
            problem(f"{pkg}: {path} has mode {m.mode & 0o7777:04o}, want {mode:04o}")
    for path, m in members.items():
        if (m.uname, m.gname) != ("root", "root"):
            problem(f"{pkg}: {path} is owned by {m.uname}:{m.gname}, want root:root (postinst sets the group)")
        if m.mode & 0o002:
            problem(f"{pkg}: {path} is writable by every user")


def check_installed_config(root):
    unit = read(os.path.join(root, "lib/systemd/system/fcrd.service"))
    if "\nExecStart=/usr/sbin/fcrd --config /etc/fcrd/fcrd.conf\n" not in unit:
        problem("fcrd.service: ExecStart is not /usr/sbin/fcrd --config /etc/fcrd/fcrd.conf")
    for rel in ("lib/systemd/system/fcrd.service", "etc/fcrd/fcrd.conf"):
        if re.search(r"@[A-Z]+@", read(os.path.join(root, rel))):
            problem(f"/{rel}: a placeholder was left unfilled")
    conf = read(os.path.join(root, "etc/fcrd/fcrd.conf"))
    for line in ("migrations = /usr/share/fcrd/sql", "file = /usr/share/fcrd/rules/hocr-2025.json",
                 "tokens = /etc/fcrd/tokens"):
        if f"\n{line}\n" not in conf:
            problem(f"/etc/fcrd/fcrd.conf lacks the line {line!r}")


# Inside the namespace: the root's folders over the machine's, read-only (an overlay with no upper
# folder), then the installed programs by their installed paths.
NS_SCRIPT = r"""set -e
mount -t overlay fcrd-pkg-etc -o "lowerdir=$ROOT/etc:/etc" /etc
mount -t overlay fcrd-pkg-usr -o "lowerdir=$ROOT/usr:/usr" /usr
/usr/sbin/fcrd --version
/usr/sbin/fcrd --check --config /etc/fcrd/fcrd.conf
/usr/bin/fcrctl --help >/dev/null
/usr/bin/fcr-replay --help >/dev/null
echo "installed programs ran"
"""


def run_installed(root):
    # What postinst does: an empty tokens file (it is group fcrd there; the group does not matter to --check).
    tokens = os.path.join(root, "etc/fcrd/tokens")
    with open(tokens, "w", encoding="utf-8"):
        pass
    os.chmod(tokens, 0o640)
    env = dict(os.environ, ROOT=root)
    attempts = [["unshare", "--mount", "--propagation", "private"]]
    if os.geteuid() != 0:
        attempts = [["unshare", "--mount", "--map-root-user", "--propagation", "private"]]
    for prefix in attempts:
        r = subprocess.run(prefix + ["sh", "-c", NS_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
        log(f"$ {' '.join(prefix)} sh -c '...fcrd --check --config /etc/fcrd/fcrd.conf...' (exit {r.returncode})\n"
            + (r.stdout + r.stderr).strip())
        if r.returncode == 0:
            if "is valid" not in r.stdout:
                problem("fcrd --check did not say the installed configuration is valid")
            return
        if "mount" not in r.stderr and "unshare" not in r.stderr:
            problem("the installed fcrd --check (or fcrctl, fcr-replay) failed in the overlay root")
            return
    problem("could not make a private mount namespace to run the installed fcrd in (needs root, or "
            "unprivileged user namespaces with overlayfs)")


def main():
    missing = [f"{cmd} (Debian package {pkg})" for cmd, pkg in NEEDED.items() if not shutil.which(cmd)]
    if missing:
        print("cannot build or check the packages, missing: " + ", ".join(missing)
              + "; scripts/lib.sh lists them for scripts/test")
        return 1
    version = project_version()
    work = tempfile.mkdtemp(prefix="fcrd-packaging-")
    try:
        src = os.path.join(work, "fcrd-" + version)
        os.makedirs(src)
        copy_tree(src)
        log(f"building the packages of fcrd {version} in {work}")
        if build(src, work):
            changes = [f for f in os.listdir(work) if f.endswith(".changes")]
            debs = {f.split("_")[0]: os.path.join(work, f) for f in os.listdir(work) if f.endswith(".deb")
                    and "-dbgsym_" not in f}
            log("built: " + ", ".join(sorted(os.listdir(work))))
            if sorted(debs) != ["fcrctl", "fcrd"]:
                problem(f"the binary packages are {sorted(debs)}, want fcrctl and fcrd")
            if len(changes) != 1:
                problem(f"want one .changes file, found {changes}")
            else:
                run_lintian(os.path.join(work, changes[0]))
            root = os.path.join(work, "root")
            os.makedirs(root)
            for pkg, deb in sorted(debs.items()):
                members = deb_members(deb)
                ctrl = control_dir(deb, work)
                if pkg == "fcrd":
                    check_fcrd(members, ctrl, version)
                elif pkg == "fcrctl":
                    check_fcrctl(members, ctrl, version)
                subprocess.run(["dpkg", "-x", deb, root], check=True)
            if "fcrd" in debs and "fcrctl" in debs:
                check_installed_config(root)
                run_installed(root)
    finally:
        if os.environ.get("FCRD_PACKAGING_KEEP"):
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"packaging: {len(problems)} problem(s)" if problems else "packaging: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
