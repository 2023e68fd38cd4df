#!/usr/bin/env python3
"""test_ops_notify.py: fcrd under a fake systemd. The notifications it sends to $NOTIFY_SOCKET
(readiness once it listens, status lines, watchdog pings, reload and stop), and reloads on SIGHUP:
a changed file applies what it may and logs every change, a broken one changes nothing and says
why."""
import os
import re
import signal
import time

import harness
from harness import DaemonTestCase, Harness, assault_opened, uid
from test_ops_support import NotifySocket, log_json_lines

WATCHDOG_USEC = 1_000_000


class NotifyHarness(Harness):
    """Starts fcrd (only fcrd: PostgreSQL would notify too) with NOTIFY_SOCKET and WATCHDOG_USEC."""

    notify = None

    def start_fcrd(self, timeout=harness.START_TIMEOUT):
        env = {"NOTIFY_SOCKET": self.notify.name, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            super().start_fcrd(timeout)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class NotifyTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        cls.notify = NotifySocket()
        cls.addClassCleanup(cls.notify.close)
        cls.h = NotifyHarness(cls.__name__)
        cls.h.notify = cls.notify
        cls.addClassCleanup(cls.h.stop)
        cls.h.start()

    def setUp(self):
        self.notify.drain(0.05)
        self.mark = len(self.notify.messages)

    def pid(self):
        return self.h.proc.pid

    # -- helpers -----------------------------------------------------------------------------
    def write_config(self, **over):
        with open(self.h.conf_path, "w", encoding="utf-8") as f:
            f.write(self.h.config_text(**over))

    def restore_config(self):
        self.write_config()
        self.reload()

    def reload(self):
        """SIGHUP; returns (RELOADING message, READY message, log text of the reload)."""
        start = len(self.notify.messages)
        log_from = len(self.h.log_text())
        os.kill(self.pid(), signal.SIGHUP)
        i, reloading = self.notify.wait_for(self.pid(), lambda f: f.get("RELOADING") == "1", start=start)
        _, ready = self.notify.wait_for(self.pid(), lambda f: f.get("READY") == "1", start=i + 1)
        deadline = time.monotonic() + 10
        while "reload: " not in self.h.log_text()[log_from:] or not re.search(
                r"reload: (done|.*nothing was changed)", self.h.log_text()[log_from:]):
            self.assertLess(time.monotonic(), deadline, "no reload outcome in the log")
            time.sleep(0.05)
        return reloading, ready, self.h.log_text()[log_from:]

    def long_line_status(self, size):
        inc = uid("RL")
        ev = assault_opened(inc, narrative="x" * size)
        with self.h.feed() as feed:
            return feed.request(ev)

    # -- tests ---------------------------------------------------------------------------------
    def test_ready_once_listening_with_status(self):
        i, ready = self.notify.wait_for(self.pid(), lambda f: f.get("READY") == "1")
        self.assertTrue(ready.get("STATUS", "").startswith("serving"), ready)
        # Nothing from this pid claimed readiness before: the first READY=1 is after start-up.
        earlier = [m for m in self.notify.messages[:i] if m[0] == self.pid() and m[1].get("READY")]
        self.assertEqual(earlier, [])
        # Every message came from fcrd's main process (the unit says NotifyAccess=main).
        fcrd_msgs = [m for m in self.notify.messages if m[0] == self.pid()]
        self.assertTrue(fcrd_msgs)
        self.assertTrue(self.h._accepts(self.h.feed_port) and self.h._accepts(self.h.api_port))

    def test_watchdog_pings_at_half_the_interval(self):
        time.sleep(2.2)
        self.notify.drain(0.05)
        pings = [m for m in self.notify.messages[self.mark:] if m[0] == self.pid() and m[1].get("WATCHDOG") == "1"]
        # every 0.5 s: four or five in 2.2 s, and certainly not fewer than three
        self.assertGreaterEqual(len(pings), 3, [m[2] for m in self.notify.messages[self.mark:]])
        self.assertLessEqual(len(pings), 7)

    def test_reload_changed_file_applies_and_logs_each_change(self):
        self.assertStatus(self.long_line_status(3000), "accepted")
        self.write_config(**{
            "feed.max_line": "2048",
            "service.drain_timeout_ms": "4000",
            "log.format": "json",
            "feed.listen": f"tcp:127.0.0.1:{harness.free_port()}",  # needs a restart
        })
        try:
            reloading, ready, log = self.reload()
            self.assertRegex(reloading.get("MONOTONIC_USEC", ""), r"^\d+$")
            self.assertGreater(int(reloading["MONOTONIC_USEC"]), 0)
            self.assertIn("configuration reloaded", ready.get("STATUS", ""))
            self.assertIn("reload: feed.max_line: 65536 -> 2048", log)
            self.assertIn("reload: service.drain_timeout_ms: 10000 -> 4000", log)
            self.assertIn("reload: log.format: plain -> json", log)
            self.assertRegex(log, r"reload: feed\.listen: .* needs a restart; still using tcp:127\.0\.0\.1:"
                             + str(self.h.feed_port))
            # Exactly the four changed settings are named.
            named = set(re.findall(r"reload: ([a-z_]+\.[a-z_]+): ", log))
            self.assertEqual(named, {"feed.max_line", "service.drain_timeout_ms", "log.format", "feed.listen"})
            # Applied: a line over the new limit is too long now; the old address still serves.
            r = self.long_line_status(3000)
            self.assertStatus(r, "rejected", "too_long")
            # From now on the log is JSON lines with the stable members.
            objs = log_json_lines(self.h.log_text()[-4000:])
            self.assertTrue(objs, "no JSON log lines after the reload")
            self.assertEqual(set(objs[-1]), {"time", "level", "priority", "message"})
            self.assertIn(objs[-1]["level"], ("debug", "info", "warn", "error"))

            # A second reload of the same file: nothing changes, but the restart is still pending.
            _, _, log = self.reload()
            self.assertRegex(log, r"feed\.listen: .* needs a restart")
            self.assertNotIn("feed.max_line", log)
        finally:
            self.restore_config()
        self.assertStatus(self.long_line_status(3000), "accepted")

    def test_reload_broken_file_changes_nothing(self):
        good = self.h.config_text(**{"feed.max_line": "2048"})
        with open(self.h.conf_path, "w", encoding="utf-8") as f:
            f.write(good + "\n[feed]\nbogus = 1\n")
        try:
            reloading, ready, log = self.reload()
            self.assertIn("RELOADING", reloading)
            self.assertIn("failed", ready.get("STATUS", ""))
            self.assertRegex(log, r"reload: .*fcrd\.conf:\d+: \[feed\] bogus: unknown key; nothing was changed")
            self.assertNotIn("feed.max_line", log)
            self.assertStatus(self.long_line_status(3000), "accepted")  # the old limit holds

            # A file that parses but names a rule set that does not load: all or nothing too.
            self.write_config(**{"feed.max_line": "2048",
                                 "rules.file": os.path.join(self.h.workdir, "missing-rules.json")})
            _, _, log = self.reload()
            self.assertRegex(log, r"reload: \[rules\] file: .*missing-rules\.json.*; nothing was changed")
            self.assertStatus(self.long_line_status(3000), "accepted")
        finally:
            self.restore_config()
        status, body = self.h.api.get("/metrics", role="ops")
        self.assertEqual(status, 200)
        failed = re.search(r'^fcrd_reloads_total\{result="failed"\} (\d+)$', body, re.M)
        self.assertTrue(failed and int(failed.group(1)) >= 2, body[:2000])

    def test_zz_stop_says_stopping(self):
        pid = self.pid()
        start = len(self.notify.messages)
        self.h.proc.send_signal(signal.SIGTERM)
        _, fields = self.notify.wait_for(pid, lambda f: f.get("STOPPING") == "1", start=start)
        self.assertIn("STATUS", fields)
        self.assertEqual(self.h.proc.wait(30), 0)
        self.assertEqual(self.h.stop_fcrd(), [])
        self.h.start_fcrd()  # for the class clean-up


if __name__ == "__main__":
    harness.main()
