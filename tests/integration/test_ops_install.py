#!/usr/bin/env python3
"""test_ops_install.py: `meson install` into a staging folder (DESTDIR) from the build folder
that made FCRD_BIN: every file in its standard place, the unit and the configuration pointing at
them, `systemd-analyze verify` silent about the unit and `systemd-analyze security --offline=yes`
rating it 2.0 or lower, and the manual pages clean for groff, fcrd.conf(5) naming every key.
Needs no database."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness

BUILD_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(harness.FCRD_BIN)))


def conf_keys(path):
    """{section: [keys]} set in an INI file, in order."""
    out, section = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            s = line.strip()
            if not s or s[0] in "#;":
                continue
            m = re.fullmatch(r"\[([a-z_]+)\]", s)
            if m:
                section = m.group(1)
                out.setdefault(section, [])
                continue
            out[section].append(s.split("=", 1)[0].strip())
    return out


class InstallTest(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        for tool in ("meson", "systemd-analyze", "groff"):
            if not shutil.which(tool):
                raise RuntimeError(f"{tool} is needed (scripts/test installs it: Debian packages meson, "
                                   f"systemd, groff-base)")
        cls.dest = tempfile.mkdtemp(prefix="fcrd-it-install-")
        cls.addClassCleanup(shutil.rmtree, cls.dest, True)
        r = subprocess.run(["meson", "install", "-C", BUILD_ROOT, "--no-rebuild", "--destdir", cls.dest],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"meson install failed:\n{r.stdout}\n{r.stderr}")
        r = subprocess.run(["meson", "introspect", BUILD_ROOT, "--buildoptions"], capture_output=True,
                           text=True, check=True)
        opts = {o["name"]: o["value"] for o in json.loads(r.stdout)}
        prefix = opts["prefix"]
        cls.prefix = prefix
        cls.sbindir = os.path.join(prefix, opts["sbindir"])
        cls.bindir = os.path.join(prefix, opts["bindir"])
        cls.sysconfdir = os.path.join(prefix, opts["sysconfdir"])
        cls.pkgdatadir = os.path.join(prefix, opts["datadir"], "fcrd")
        cls.mandir = os.path.join(prefix, opts["mandir"])
        cls.unitdir = opts.get("systemdunitdir") or os.path.join(prefix, "lib", "systemd", "system")

    def staged(self, path):
        return self.dest + path

    def test_files_in_their_places(self):
        want = [
            os.path.join(self.sbindir, "fcrd"),
            os.path.join(self.unitdir, "fcrd.service"),
            os.path.join(self.prefix, "lib", "sysusers.d", "fcrd.conf"),
            os.path.join(self.sysconfdir, "fcrd", "fcrd.conf"),
            os.path.join(self.sysconfdir, "fcrd", "migrate.conf"),
            os.path.join(self.pkgdatadir, "rules", "hocr-2025.json"),
            os.path.join(self.pkgdatadir, "sql", "roles.sql"),
            os.path.join(self.pkgdatadir, "sql", "0001_schema.sql"),
            os.path.join(self.pkgdatadir, "monitoring", "fcrd-alerts.yml"),
            os.path.join(self.pkgdatadir, "monitoring", "fcrd-alerts.test.yml"),
            os.path.join(self.pkgdatadir, "monitoring", "fcrd-dashboard.json"),
            os.path.join(self.mandir, "man8", "fcrd.8"),
            os.path.join(self.mandir, "man5", "fcrd.conf.5"),
            os.path.join(self.mandir, "man1", "fcrctl.1"),
            os.path.join(self.prefix, "share", "doc", "fcrd", "operations.md"),
        ]
        if os.path.exists(os.path.join(BUILD_ROOT, "tools", "fcrctl")):
            want.append(os.path.join(self.bindir, "fcrctl"))
        for path in want:
            self.assertTrue(os.path.isfile(self.staged(path)), f"{path} not installed")
        self.assertTrue(os.access(self.staged(os.path.join(self.sbindir, "fcrd")), os.X_OK))
        for f in os.listdir(os.path.join(harness.SOURCE_ROOT, "sql")):
            self.assertTrue(os.path.isfile(self.staged(os.path.join(self.pkgdatadir, "sql", f))), f)

    def unit_text(self):
        with open(self.staged(os.path.join(self.unitdir, "fcrd.service")), encoding="utf-8") as f:
            return f.read()

    def test_unit_points_at_the_installation(self):
        text = self.unit_text()
        conf = os.path.join(self.sysconfdir, "fcrd", "fcrd.conf")
        self.assertIn(f"\nExecStart={os.path.join(self.sbindir, 'fcrd')} --config {conf}\n", text)
        # The migrations first, as root, from the owner's file that the serving account cannot read.
        migrate = os.path.join(self.sysconfdir, "fcrd", "migrate.conf")
        self.assertIn(f"\nExecStartPre=!{os.path.join(self.sbindir, 'fcrd')} migrate --config {migrate}\n", text)
        self.assertIn("\nType=notify\n", text)
        self.assertIn("\nExecReload=/bin/kill -HUP $MAINPID\n", text)
        self.assertRegex(text, r"\nWatchdogSec=\d+")
        self.assertNotRegex(text, r"@[A-Z]+@", "a placeholder left")

    def test_installed_config_points_at_the_installation(self):
        path = self.staged(os.path.join(self.sysconfdir, "fcrd", "fcrd.conf"))
        keys = conf_keys(path)
        example = conf_keys(os.path.join(harness.SOURCE_ROOT, "conf", "fcrd.conf"))
        self.assertEqual({s: sorted(k) for s, k in keys.items()}, {s: sorted(k) for s, k in example.items()},
                         "the installed file sets the same keys as conf/fcrd.conf (every key)")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(f"migrations = {os.path.join(self.pkgdatadir, 'sql')}\n", text)
        self.assertIn(f"file = {os.path.join(self.pkgdatadir, 'rules', 'hocr-2025.json')}\n", text)
        self.assertNotIn("admin_conninfo", conf_keys(path).get("database", set()),
                         "the serving daemon's file holds no schema owner's credentials")
        migrate = self.staged(os.path.join(self.sysconfdir, "fcrd", "migrate.conf"))
        self.assertEqual(os.stat(migrate).st_mode & 0o777, 0o600, "migrate.conf is root's alone")
        with open(migrate, encoding="utf-8") as f:
            migrate_text = f.read()
        self.assertIn("admin_conninfo = ", migrate_text)
        self.assertIn(f"migrations = {os.path.join(self.pkgdatadir, 'sql')}\n", migrate_text)
        self.assertNotRegex(migrate_text, r"@[A-Z]+@")
        self.assertNotRegex(text, r"@[A-Z]+@")
        # Moved into the staging folder (and given a tokens file), it passes fcrd --check.
        tokens = os.path.join(self.dest, "tokens")
        with open(tokens, "w", encoding="utf-8") as f:
            f.write("install-test-token-0123456789 tester ops\n")
        os.chmod(tokens, 0o600)  # fcrd refuses a tokens file every user may read
        staged_text = text.replace(f"= {self.prefix}/", f"= {self.dest}{self.prefix}/")
        staged_text = re.sub(r"(?m)^tokens = .*$", f"tokens = {tokens}", staged_text)
        conf = os.path.join(self.dest, "staged.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(staged_text)
        r = subprocess.run([self.staged(os.path.join(self.sbindir, "fcrd")), "--config", conf, "--check"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def staged_unit(self):
        """The installed unit with its paths moved into the staging folder, as the files are."""
        text = self.unit_text().replace(f"{self.prefix}/", f"{self.dest}{self.prefix}/")
        folder = tempfile.mkdtemp(prefix="fcrd-it-unit-")
        self.addCleanup(shutil.rmtree, folder, True)
        path = os.path.join(folder, "fcrd.service")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_systemd_analyze_verify_is_silent(self):
        env = dict(os.environ, MANPATH=self.staged(self.mandir), SYSTEMD_LOG_LEVEL="notice")
        r = subprocess.run(["systemd-analyze", "verify", self.staged_unit()], capture_output=True, text=True,
                           env=env, timeout=120)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    def test_systemd_analyze_security_rates_it_2_or_lower(self):
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", self.staged_unit()],
                           capture_output=True, text=True, timeout=120)
        m = re.search(r"Overall exposure level for fcrd\.service: (\d+\.\d+)", r.stdout)
        self.assertTrue(m, r.stdout + r.stderr)
        self.assertLessEqual(float(m.group(1)), 2.0, r.stdout)

    def test_manual_pages(self):
        for section, page in (("8", "fcrd.8"), ("5", "fcrd.conf.5"), ("1", "fcrctl.1")):
            path = self.staged(os.path.join(self.mandir, f"man{section}", page))
            r = subprocess.run(["groff", "-man", "-ww", "-z", "-Tutf8", path], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual((r.returncode, r.stderr), (0, ""), page)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            self.assertNotRegex(text, r"@[A-Z]+@", page)
        # fcrd.conf(5) describes every key, under its section.
        with open(self.staged(os.path.join(self.mandir, "man5", "fcrd.conf.5")), encoding="utf-8") as f:
            page = f.read()
        sections = {}
        current = None
        for line in page.splitlines():
            m = re.match(r"\.SH \[([a-z_]+)\]$", line)
            if m:
                current = sections.setdefault(m.group(1), set())
            elif line.startswith(".SH"):
                current = None
            elif current is not None and line.startswith(".BR "):
                current.add(line.split()[1])
        for section, keys in conf_keys(os.path.join(harness.SOURCE_ROOT, "conf", "fcrd.conf")).items():
            for key in keys:
                self.assertIn(key, sections.get(section, set()), f"fcrd.conf(5) lacks [{section}] {key}")


if __name__ == "__main__":
    harness.main()
