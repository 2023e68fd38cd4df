#!/usr/bin/env python3
"""test_check.py: `fcrd --check` accepts a good config (exit 0) and refuses a bad one (exit 1),
naming the key and the line; a tokens file every user may read is refused, one holding a token
hashed by `fcrctl token hash` passes. Needs no database."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness
from harness import FCRD_BIN, SOURCE_ROOT

FCRCTL_BIN = os.environ.get("FCRCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(FCRD_BIN))), "tools", "fcrctl")


class CheckTest(unittest.TestCase):

    def setUp(self):
        if not os.access(FCRD_BIN, os.X_OK):
            self.fail(f"no fcrd binary at {FCRD_BIN}")
        self.dir = tempfile.mkdtemp(prefix="fcrd-it-check-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.tokens = os.path.join(self.dir, "tokens")
        with open(self.tokens, "w", encoding="utf-8") as f:
            f.write("check-token-auditor alice auditor\n")
        os.chmod(self.tokens, 0o600)

    def config_lines(self):
        return [
            "# written by test_check.py",
            "[database]",
            "conninfo = host=127.0.0.1 port=1 dbname=fcrd user=fcrd",
            "admin_conninfo = host=127.0.0.1 port=1 dbname=fcrd user=fcrd_owner",
            f"migrations = {os.path.join(SOURCE_ROOT, 'sql')}",
            "",
            "[feed]",
            f"listen = tcp:127.0.0.1:0, unix:{os.path.join(self.dir, 'feed.sock')}",
            "max_line = 65536",
            "",
            "[api]",
            "listen = 127.0.0.1:0",
            f"tokens = {self.tokens}",
            "",
            "[rules]",
            f"file = {os.path.join(SOURCE_ROOT, 'conf', 'rules', 'hocr-2025.json')}",
            "",
            "[recording]",
            "force = XX",
            "",
            "[log]",
            "level = info",
        ]

    def check(self, lines):
        path = os.path.join(self.dir, "fcrd.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([FCRD_BIN, "--config", path, "--check"], cwd=self.dir,
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr

    def line_of(self, lines, prefix):
        return next(i for i, text in enumerate(lines, 1) if text.startswith(prefix))

    def assertNames(self, output, key, lineno):
        self.assertIn(key, output)
        self.assertRegex(output, rf"(:|line ){lineno}\b", f"the line number {lineno} is named: {output}")

    def test_good_config_exits_0(self):
        rc, out = self.check(self.config_lines())
        self.assertEqual(rc, 0, out)

    def test_out_of_range_value_exits_1_naming_key_and_line(self):
        lines = self.config_lines()
        n = self.line_of(lines, "max_line")
        lines[n - 1] = "max_line = 12"
        rc, out = self.check(lines)
        self.assertEqual(rc, 1, out)
        self.assertNames(out, "max_line", n)

    def test_bad_listen_address_exits_1_naming_key_and_line(self):
        lines = self.config_lines()
        n = self.line_of(lines, "listen = tcp:")
        lines[n - 1] = "listen = carrier-pigeon:loft"
        rc, out = self.check(lines)
        self.assertEqual(rc, 1, out)
        self.assertNames(out, "listen", n)

    def test_bad_log_level_exits_1_naming_key_and_line(self):
        lines = self.config_lines()
        n = self.line_of(lines, "level")
        lines[n - 1] = "level = chatty"
        rc, out = self.check(lines)
        self.assertEqual(rc, 1, out)
        self.assertNames(out, "level", n)

    def test_missing_required_key_exits_1_naming_it(self):
        lines = [text for text in self.config_lines() if not text.startswith("tokens")]
        rc, out = self.check(lines)
        self.assertEqual(rc, 1, out)
        self.assertIn("tokens", out)

    def test_tokens_file_every_user_may_read_exits_1_naming_it(self):
        for mode, word in ((0o644, "read"), (0o604, "read"), (0o602, "write")):
            os.chmod(self.tokens, mode)
            rc, out = self.check(self.config_lines())
            self.assertEqual(rc, 1, out)
            self.assertIn(self.tokens, out)
            self.assertIn(f"mode {mode:04o} lets every user {word} it", out)
        # Readable by fcrd's group is allowed (root:fcrd 0640 is the packaged layout).
        os.chmod(self.tokens, 0o640)
        rc, out = self.check(self.config_lines())
        self.assertEqual(rc, 0, out)

    def test_hashed_token_passes_check(self):
        r = subprocess.run([FCRCTL_BIN, "token", "hash"], input="check-token-supervisor\n",
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.tokens, "a", encoding="utf-8") as f:
            f.write(f"{r.stdout.strip()} bob supervisor\n")
        rc, out = self.check(self.config_lines())
        self.assertEqual(rc, 0, out)
        with open(self.tokens, "a", encoding="utf-8") as f:
            f.write("sha256:00ff bob2 supervisor\n")
        rc, out = self.check(self.config_lines())
        self.assertEqual(rc, 1, out)
        self.assertIn(":3: a hashed token is sha256: and 64 lowercase hex digits", out)

    def test_feed_open_to_the_network_needs_mutual_tls_or_allow_insecure(self):
        base = self.config_lines()
        n = self.line_of(base, "listen = tcp:")
        for listen, named in (("tcp:0.0.0.0:7999", "tcp:0.0.0.0:7999"), ("tcp:[::]:7999", "tcp:[::]:7999"),
                              ("tcp:127.0.0.1:7998, tcp:192.0.2.7:7999", "tcp:192.0.2.7:7999")):
            for tls in ("off", "on"):
                with self.subTest(listen=listen, tls=tls):
                    lines = list(base)
                    lines[n - 1] = f"listen = {listen}"
                    lines.insert(n, f"tls = {tls}")
                    rc, out = self.check(lines)
                    self.assertEqual(rc, 1, out)
                    self.assertIn(f"[feed] listen: {named} is not a loopback address and [feed] tls is {tls}", out)
                    self.assertIn("allow_insecure", out)
                    # Said in plain words, it is allowed.
                    lines.insert(n, "allow_insecure = yes")
                    rc, out = self.check(lines)
                    self.assertNotIn("is not a loopback address", out)
                    if tls == "off":  # (with tls = on, the check goes on to want a certificate)
                        self.assertEqual(rc, 0, out)
        # Loopback (any of 127.0.0.0/8, ::1, a name that resolves only to them) and unix sockets
        # need nothing.
        for listen in ("tcp:127.0.0.2:7999", "tcp:[::1]:7999", "tcp:localhost:7999",
                       f"unix:{os.path.join(self.dir, 'only.sock')}"):
            with self.subTest(listen=listen):
                lines = list(base)
                lines[n - 1] = f"listen = {listen}"
                rc, out = self.check(lines)
                self.assertEqual(rc, 0, out)
        lines = list(base)
        lines.insert(n, "allow_insecure = maybe")
        rc, out = self.check(lines)
        self.assertEqual(rc, 1, out)
        self.assertIn("allow_insecure", out)

    def test_version(self):
        r = subprocess.run([FCRD_BIN, "--version"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout + r.stderr, r"\d+\.\d+\.\d+")
        # It names the allocator, and that is the one the binary links.
        m = re.search(r"\(allocator (\w+)\)", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        with open(FCRD_BIN, "rb") as f:
            links_jemalloc = b"libjemalloc.so" in f.read()
        self.assertEqual(m.group(1), "jemalloc" if links_jemalloc else "system", r.stdout)


if __name__ == "__main__":
    harness.main()
