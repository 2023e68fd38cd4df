#!/usr/bin/env python3
"""test_auth_guard.py: the API against a client that guesses tokens, and the tokens file at rest.

Twenty wrong tokens from one address within the window block it: even the right token then gets
429 too_many_failures with Retry-After, until the block (3 s here) runs out; requests with no
credentials are answered 401 but are not guesses and block nothing; refusals are logged at most
once a second per kind, with a count of those not logged, never with the token, and counted in
fcrd_api_auth_failures_total. A token stored only as its SHA-256 (`fcrctl token hash`) lets its
holder in; a reload refuses a tokens file every user may read, naming it and its mode, and keeps
the tokens in force."""
import os
import re
import signal
import subprocess
import time
import unittest

import harness
import openapi_check
from harness import DaemonTestCase, uid
from test_ops_support import metric, parse_metrics

FCRCTL_BIN = os.environ.get("FCRCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(harness.FCRD_BIN))), "tools", "fcrctl")
BLOCK_S = 3


class AuthGuardTest(DaemonTestCase):
    harness_config = {"api.auth_failures_max": "20", "api.auth_failure_window_s": "60",
                      "api.auth_block_s": str(BLOCK_S)}

    def setUp(self):
        self.wait_unblocked()

    def wait_unblocked(self):
        deadline = time.monotonic() + BLOCK_S + 5
        while self.h.api.get("/v1/pending", role="auditor")[0] == 429:
            if time.monotonic() > deadline:
                self.fail("the block never ran out")
            time.sleep(0.2)

    def scrape(self):
        status, body = self.h.api.get("/metrics", role="ops")
        self.assertEqual(status, 200, body)
        return parse_metrics(body)[0]

    def raw_get(self, path, token):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.h.api_port, timeout=30)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            raw = resp.read().decode()
            openapi_check.assert_response("GET", path, resp.status, resp.getheader("Content-Type"), raw)
            return resp.status, dict(resp.getheaders()), raw
        finally:
            conn.close()

    def test_guessing_blocks_the_address_then_the_block_runs_out(self):
        before = self.scrape()
        offset = len(self.h.log_text())
        guess = "Guess-" + uid("G")
        t0 = time.monotonic()
        for i in range(19):
            self.assertEqual(self.h.api.get("/v1/pending", token=f"{guess}-{i}")[0], 401, i)
        # Nineteen failures block nothing yet.
        self.assertEqual(self.h.api.get("/v1/pending", role="auditor")[0], 200)
        self.assertEqual(self.h.api.get("/v1/pending", token=f"{guess}-19")[0], 401, "the twentieth is a 401")
        spent = time.monotonic() - t0
        status, headers, body = self.raw_get("/v1/pending", self.h.tokens["auditor"])
        self.assertEqual(status, 429, body)
        self.assertIn('"too_many_failures"', body)
        retry = int(headers.get("Retry-After", "0"))
        self.assertTrue(1 <= retry <= BLOCK_S, headers)
        # Even a write with the right token, and a role's own route, are refused; health is not.
        self.assertEqual(self.h.api.get("/metrics", role="ops")[0], 429)
        self.assertEqual(self.h.api.get("/healthz")[0], 200)
        log = self.h.log_text()[offset:]
        self.assertIn("too many failed authentications: address blocked", log)
        self.assertIn("from 127.0.0.1", log)
        self.assertNotIn(guess, log, "no token in the log")
        self.assertNotIn(self.h.tokens["auditor"], log)
        # Twenty 401s: one line a second at most (however long they took), the rest counted.
        lines = [ln for ln in log.splitlines() if "401 unauthorized" in ln]
        self.assertLessEqual(len(lines), int(spent) + 2, "\n".join(lines))
        self.assertLess(len(lines), 20, "not one line per failure")
        time.sleep(1.1)
        self.assertEqual(self.h.api.get("/v1/pending", token=f"{guess}-x")[0], 429, "still blocked, not counted")
        self.h.api.get("/v1/pending", token=f"{guess}-y")
        # After the block: the right token works again.
        time.sleep(BLOCK_S + 0.2)
        self.assertEqual(self.h.api.get("/v1/pending", role="auditor")[0], 200)
        after = self.scrape()
        for reason, least in (("unauthorized", 20), ("too_many_failures", 3)):
            got = (metric(after, "fcrd_api_auth_failures_total", reason=reason) or 0) - \
                (metric(before, "fcrd_api_auth_failures_total", reason=reason) or 0)
            self.assertGreaterEqual(got, least, reason)
        # A second 401 line within a second of the first says how many were not logged.
        self.h.api.get("/v1/pending", token=f"{guess}-a")
        self.h.api.get("/v1/pending", token=f"{guess}-b")
        time.sleep(1.1)
        self.h.api.get("/v1/pending", token=f"{guess}-c")
        self.assertRegex(self.h.log_text()[offset:], r"401 unauthorized.*\(\d+ more since the last such line")

    def test_no_credentials_are_not_guesses(self):
        for _ in range(30):
            self.assertEqual(self.h.api.get("/v1/pending")[0], 401)
        self.assertEqual(self.h.api.get("/v1/pending", role="auditor")[0], 200)

    def test_forbidden_is_logged_and_blocks_nothing(self):
        offset = len(self.h.log_text())
        for _ in range(25):
            self.assertEqual(self.h.api.get("/v1/pending", role="ops")[0], 403)
        self.assertEqual(self.h.api.get("/v1/pending", role="auditor")[0], 200)
        log = self.h.log_text()[offset:]
        self.assertIn("403 forbidden", log)
        self.assertNotIn(self.h.tokens["ops"], log)

    def test_hashed_token_and_tokens_file_mode_on_reload(self):
        path = os.path.join(self.h.workdir, "tokens")
        with open(path, encoding="utf-8") as f:
            original = f.read()
        token = "it-hashed-" + uid("H").lower()
        r = subprocess.run([FCRCTL_BIN, "token", "hash"], input=token + "\n", capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        line = r.stdout.strip()
        self.assertRegex(line, r"^sha256:[0-9a-f]{64}$")
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(f"{line} hashed-user supervisor\n")
            os.kill(self.h.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 10
            while self.h.api.get("/v1/pending", token=token)[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(self.h.api.get("/v1/pending", token=token)[0], 200, "the hashed token lets its holder in")
            self.assertEqual(self.h.api.get("/v1/pending", token=line)[0], 401, "the hash itself is no token")
            # Every user may read it now: the reload is refused and the tokens in force stay.
            offset = len(self.h.log_text())
            os.chmod(path, 0o644)
            os.kill(self.h.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 10
            while "mode 0644" not in self.h.log_text()[offset:] and time.monotonic() < deadline:
                time.sleep(0.1)
            log = self.h.log_text()[offset:]
            self.assertIn(f"{path}: mode 0644 lets every user read it", log)
            self.assertEqual(self.h.api.get("/v1/pending", token=token)[0], 200)
        finally:
            with open(path, "w", encoding="utf-8") as f:
                f.write(original)
            os.chmod(path, 0o600)
            os.kill(self.h.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 10
            while self.h.api.get("/v1/pending", token=token)[0] == 200 and time.monotonic() < deadline:
                time.sleep(0.1)


if __name__ == "__main__":
    harness.main()
