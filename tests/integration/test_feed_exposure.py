#!/usr/bin/env python3
"""test_feed_exposure.py: the feed is never opened to the network by mistake.

fcrd itself (not only --check) refuses to start with a TCP feed listener on 0.0.0.0 and [feed]
tls off, naming the listener; with [feed] allow_insecure = yes it starts, serves the feed there,
and logs a warning naming the listener at that start and at the next."""
import os
import subprocess
import unittest

import harness
from harness import DaemonTestCase, assault_opened, uid


class OpenHarness(harness.Harness):
    """Listens for the feed on every address instead of loopback alone."""

    def config_text(self, **over):
        return super().config_text(**over).replace(f"tcp:127.0.0.1:{self.feed_port}", f"tcp:0.0.0.0:{self.feed_port}")


class FeedExposureTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        cls.h = OpenHarness(cls.__name__, config={"feed.allow_insecure": "yes"})
        cls.addClassCleanup(cls.h.stop)
        cls.h.start()

    def warning(self):
        return f"feed: tcp:0.0.0.0:{self.h.feed_port} accepts events from anyone who can reach it"

    def test_allowed_in_plain_words_it_serves_and_warns_at_every_start(self):
        self.assertIn(self.warning(), self.h.log_text())
        self.send_accepted(assault_opened(uid("EXP")))
        self.h.restart_fcrd()
        self.assertIn(self.warning(), self.h.log_text(), "warned again at the next start")
        self.send_accepted(assault_opened(uid("EXP")))

    def test_refused_at_start_without_allow_insecure(self):
        text = self.h.config_text(**{"feed.allow_insecure": None})
        self.assertIn(f"tcp:0.0.0.0:{self.h.feed_port}", text)
        path = os.path.join(self.h.workdir, "open.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        r = subprocess.run([harness.FCRD_BIN, "--config", path], cwd=harness.SOURCE_ROOT, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"[feed] listen: tcp:0.0.0.0:{self.h.feed_port} is not a loopback address and [feed] tls "
                      "is off", r.stderr)
        self.assertIsNone(self.h.proc.poll(), "the running fcrd is untouched")


if __name__ == "__main__":
    harness.main()
