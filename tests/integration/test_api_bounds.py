#!/usr/bin/env python3
"""test_api_bounds.py: the supervisor API stays bounded and responsive under a hostile client and
under long reads.

- A client trickling a request's headers is disconnected at [api] header_timeout_ms, and one
  trickling its body at [api] body_timeout_ms after its headers, while others are served; nothing
  of a cut request is acted on. A keep-alive connection idle between requests is not cut, but a
  later request trickled on it is.
- A connection beyond [api] max_connections is closed at once, unanswered; the connections
  already open go on, and new ones are served again once one closes.
- With its open-files limit lowered to a few above what it uses, fcrd flooded with connections on
  the API and the feed runs out of descriptors: its listeners pause ([service] accept_pause_ms)
  instead of spinning the loop (its CPU time stays low during the flood), and it serves both
  again once the flood ends.
- A read blocked in the database (the test holds an ACCESS EXCLUSIVE lock on the table GET
  /v1/audits reads) is cancelled at [api] read_statement_timeout_ms and answered 503 read_timeout
  naming the setting, while a decision on a pending item is answered at once meanwhile, and other
  reads go on on the pool's other connection.
"""
import http.client
import os
import re
import resource
import select
import signal
import socket
import threading
import time
import unittest

import harness
from harness import DaemonTestCase, assault_opened, uid

HEADER_MS = 600
BODY_MS = 1000
MAX_CONNS = 6
READ_TIMEOUT_MS = 2500
PAUSE_MS = 200


def wait_until(check, timeout, what):
    """Poll check() until it is true, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def closed_within(sock, timeout, trickle=None, every=0.15):
    """Seconds until the peer closes sock (EOF or reset), sending trickle() bytes every `every`
    seconds meanwhile; None if it stays open for timeout seconds. Data received fails."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        readable, _, _ = select.select([sock], [], [], every)
        if readable:
            try:
                data = sock.recv(4096)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            if data:
                raise AssertionError(f"an answer came to an unfinished request: {data[:200]!r}")
            return time.monotonic() - start
        if trickle is not None:
            try:
                sock.sendall(trickle())
            except (ConnectionResetError, BrokenPipeError):
                return time.monotonic() - start
    return None


class ApiBoundsTest(DaemonTestCase):
    harness_config = {
        "api.max_connections": str(MAX_CONNS),
        "api.header_timeout_ms": str(HEADER_MS),
        "api.body_timeout_ms": str(BODY_MS),
        "api.read_connections": "2",
        "api.read_statement_timeout_ms": str(READ_TIMEOUT_MS),
        "service.accept_pause_ms": str(PAUSE_MS),
    }

    # ---- helpers -------------------------------------------------------------------------
    def metric(self, series):
        # fcrd closes the connection as it sends the reply, so it is no longer counted once the
        # reply has arrived.
        status, text = self.h.api.request("GET", "/metrics", role="ops", headers={"Connection": "close"})
        self.assertEqual(status, 200, text)
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        self.fail(f"no {series} in /metrics")

    def quiet(self):
        """Wait until no API connection is open but the metrics request's own."""
        wait_until(lambda: self.metric("fcrd_api_connections") <= 1, 10, "earlier connections to close")

    def open_pending(self):
        """An incident with an open pending decision; returns the pending id."""
        inc = uid("BND")
        opened = assault_opened(inc)
        opened["allegations"].append({"id": "a2", "victim": "v1", "conduct": "hostile.unlisted_conduct"})
        with self.h.feed() as feed:
            reply = feed.request(opened)
        self.assertEqual(reply.get("status"), "accepted", reply)
        return reply["pending"][0]["id"]

    def timed_get(self, path, role=None):
        t = time.monotonic()
        status, body = self.h.api.get(path, role=role)
        return status, body, time.monotonic() - t

    # ---- deadlines -----------------------------------------------------------------------
    def test_trickled_headers_cut_at_deadline(self):
        self.quiet()
        before = self.metric('fcrd_api_requests_cut_total{phase="headers"}')
        served = []

        def trickle():
            if not served:  # a well-behaved client is served while the slow one holds on
                served.append(self.timed_get("/healthz"))
            return b"X-Slow: 1\r\n"

        with socket.create_connection(("127.0.0.1", self.h.api_port), timeout=10) as s:
            s.sendall(b"GET /v1/pending HTTP/1.1\r\nHost: fcrd\r\n")
            cut = closed_within(s, 10, trickle)
        self.assertIsNotNone(cut, "a client trickling its headers was never disconnected")
        self.assertGreaterEqual(cut, HEADER_MS / 1000 - 0.1)
        self.assertLess(cut, HEADER_MS / 1000 + 2.0)
        status, _, took = served[0]
        self.assertEqual(status, 200)
        self.assertLess(took, 1.0, "a normal request waited for the slow client")
        self.assertEqual(self.metric('fcrd_api_requests_cut_total{phase="headers"}'), before + 1)

    def test_idle_connection_cut_at_header_deadline(self):
        with socket.create_connection(("127.0.0.1", self.h.api_port), timeout=10) as s:
            cut = closed_within(s, 10)
        self.assertIsNotNone(cut, "a connection that never sent a byte was never closed")
        self.assertLess(cut, HEADER_MS / 1000 + 2.0)

    def test_keepalive_idle_is_not_a_slow_request(self):
        c = http.client.HTTPConnection("127.0.0.1", self.h.api_port, timeout=10)
        try:
            c.request("GET", "/healthz")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            # Idle between requests for longer than the header deadline: the deadline runs from a
            # request's first byte, so the next request is served.
            time.sleep(HEADER_MS / 1000 + 0.4)
            c.request("GET", "/healthz")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            # A later request trickled on the same connection is cut like a first one.
            c.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: fcrd\r\n")
            cut = closed_within(c.sock, 10, lambda: b"X-Slow: 1\r\n")
        finally:
            c.close()
        self.assertIsNotNone(cut, "a trickled second request was never cut")
        self.assertGreaterEqual(cut, HEADER_MS / 1000 - 0.1)
        self.assertLess(cut, HEADER_MS / 1000 + 2.0)

    def test_trickled_body_cut_at_deadline(self):
        self.quiet()
        pid = self.open_pending()
        audit_before = self.h.sql_value("SELECT count(*) FROM audit")
        before = self.metric('fcrd_api_requests_cut_total{phase="body"}')
        body = b'{"decision": "record", "rationale": "' + b"x" * 150 + b'"}'
        head = (f"POST /v1/pending/{pid}/decision HTTP/1.1\r\nHost: fcrd\r\n"
                f"Authorization: Bearer {self.h.tokens['supervisor']}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        sent = [0]
        served = []

        def trickle():
            if not served:
                served.append(self.timed_get("/v1/pending?limit=1", role="auditor"))
            sent[0] += 1
            return body[sent[0] - 1:sent[0]]

        with socket.create_connection(("127.0.0.1", self.h.api_port), timeout=10) as s:
            s.sendall(head)
            cut = closed_within(s, 10, trickle)
        self.assertIsNotNone(cut, "a client trickling its body was never disconnected")
        # Counted from the headers' end: later than the header deadline would have cut it.
        self.assertGreaterEqual(cut, BODY_MS / 1000 - 0.1)
        self.assertLess(cut, BODY_MS / 1000 + 2.0)
        self.assertLess(sent[0], len(body), "the whole body went out before the cut")
        self.assertEqual(served[0][0], 200)
        self.assertLess(served[0][2], 1.0, "a normal request waited for the slow client")
        self.assertEqual(self.metric('fcrd_api_requests_cut_total{phase="body"}'), before + 1)
        # Nothing of the cut request was acted on.
        self.assertEqual(self.h.sql_value("SELECT status FROM pending_decisions WHERE id = %s", (pid,)), "open")
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM audit"), audit_before)

    # ---- the connection cap --------------------------------------------------------------
    def test_connections_beyond_cap_closed_then_served_again(self):
        self.quiet()
        before = self.metric("fcrd_api_connections_refused_total")
        held = []
        try:
            for _ in range(MAX_CONNS):
                c = http.client.HTTPConnection("127.0.0.1", self.h.api_port, timeout=10)
                c.request("GET", "/healthz")
                r = c.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
                held.append(c)  # kept alive, idle between requests
            t = time.monotonic()
            with socket.create_connection(("127.0.0.1", self.h.api_port), timeout=10) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: fcrd\r\n\r\n")
                cut = closed_within(s, 5)
            self.assertIsNotNone(cut, "a connection beyond the cap was served")
            self.assertLess(time.monotonic() - t, HEADER_MS / 1000, "not closed at once")
            # The connections already open are not affected.
            held[0].request("GET", "/healthz")
            r = held[0].getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            held.pop().close()

            def served():
                try:
                    return self.h.api.get("/healthz")[0] == 200
                except OSError:
                    return False
            wait_until(served, 10, "a new connection to be served once one closed")
        finally:
            for c in held:
                c.close()
        self.quiet()
        self.assertGreaterEqual(self.metric("fcrd_api_connections_refused_total"), before + 1)

    def reload(self, expect, **over):
        """Rewrite the config with `over` and reload; wait for the log line `expect`."""
        seen = self.h.log_text().count(expect)
        with open(self.h.conf_path, "w", encoding="utf-8") as f:
            f.write(self.h.config_text(**over))
        os.kill(self.h.proc.pid, signal.SIGHUP)
        wait_until(lambda: self.h.log_text().count(expect) > seen, 10, f"the reload to log {expect!r}")

    def test_reload_changes_the_cap(self):
        self.quiet()
        held = []
        try:
            self.reload("reload: api.max_connections: 6 -> 2", **{"api.max_connections": "2"})
            self.quiet()
            for _ in range(2):
                c = http.client.HTTPConnection("127.0.0.1", self.h.api_port, timeout=10)
                c.request("GET", "/healthz")
                r = c.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
                held.append(c)
            with socket.create_connection(("127.0.0.1", self.h.api_port), timeout=10) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: fcrd\r\n\r\n")
                self.assertIsNotNone(closed_within(s, 5), "a third connection was served under a cap of 2")
        finally:
            for c in held:
                c.close()
            self.reload("reload: api.max_connections: 2 -> 6")

    # ---- out of descriptors --------------------------------------------------------------
    def test_out_of_descriptors_pauses_accepting(self):
        pid = self.h.proc.pid
        self.quiet()
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        pauses = {k: self.metric(f'fcrd_accept_pauses_total{{listener="{k}"}}') for k in ("api", "feed")}
        # The limit a few above what fcrd holds now: the flood exhausts it at once.
        in_use = len(os.listdir(f"/proc/{pid}/fd"))
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 4, hard))
        flood = []
        try:
            for _ in range(60):
                flood.append(socket.create_connection(("127.0.0.1", self.h.api_port), timeout=5))
                flood.append(socket.create_connection(("127.0.0.1", self.h.feed_port), timeout=5))
            log = lambda: self.h.log_text()  # noqa: E731
            wait_until(lambda: re.search(r"api: cannot accept a connection", log()) and
                       re.search(r"feed: cannot accept a connection", log()), 10, "both listeners to run out")

            def cpu():
                fields = open(f"/proc/{pid}/stat", encoding="ascii").read().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            # A window of measurement, not a wait for something: a listener that spins would use
            # a whole core in it.
            c0, t0 = cpu(), time.monotonic()
            time.sleep(2.0)
            used, wall = cpu() - c0, time.monotonic() - t0
            self.assertLess(used, 0.25 * wall, f"fcrd used {used:.2f} s of CPU in {wall:.2f} s while out of "
                                               f"descriptors")
        finally:
            for s in flood:
                s.close()
        # With the low limit still in force, both listeners serve again once the flood is gone.
        try:
            def api_serves():
                try:
                    return self.h.api.get("/healthz")[0] == 200
                except OSError:
                    return False
            wait_until(api_serves, 20, "the API to serve again")
            pending = self.open_pending()  # a feed connection, an event accepted
            self.assertTrue(pending)
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        for k in ("api", "feed"):
            self.assertGreater(self.metric(f'fcrd_accept_pauses_total{{listener="{k}"}}'), pauses[k], k)

    # ---- reads held to their statement timeout --------------------------------------------
    def test_blocked_read_times_out_while_decision_proceeds(self):
        pid = self.open_pending()
        before = self.metric("fcrd_api_read_timeouts_total")
        locker = self.h.connect(autocommit=False)
        result = {}
        try:
            locker.cursor().execute("LOCK TABLE audits IN ACCESS EXCLUSIVE MODE")

            def report():
                result["read"] = self.timed_get("/v1/audits", role="auditor")
            reader = threading.Thread(target=report)
            reader.start()
            wait_until(lambda: self.h.sql_value(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                " WHERE c.relname = 'audits' AND NOT l.granted") > 0, 10, "the read to wait for the lock")
            # The pool's other connection serves other reads.
            status, _, took = self.timed_get("/v1/pending?limit=1", role="auditor")
            self.assertEqual(status, 200)
            self.assertLess(took, 1.0)
            # A decision does not wait for the read.
            t = time.monotonic()
            status, body = self.h.api.request("POST", f"/v1/pending/{pid}/decision",
                                              {"decision": "no_crime", "reason_code": "evidence_against",
                                               "rationale": "CCTV shows nothing happened"},
                                              role="supervisor")
            took = time.monotonic() - t
            self.assertEqual(status, 200, body)
            self.assertEqual(body["pending"]["status"], "closed")
            self.assertTrue(reader.is_alive(), "the read ended before the decision was answered")
            self.assertLess(took, READ_TIMEOUT_MS / 1000 / 2)
            reader.join(READ_TIMEOUT_MS / 1000 + 15)
            self.assertFalse(reader.is_alive(), "the blocked read was never answered")
        finally:
            locker.rollback()
            locker.close()
        status, body, took = result["read"]
        self.assertEqual(status, 503, body)
        self.assertEqual(body["error"]["code"], "read_timeout")
        self.assertIn("api.read_statement_timeout_ms", body["error"]["message"])
        self.assertGreaterEqual(took, READ_TIMEOUT_MS / 1000 - 0.1)
        self.assertLess(took, READ_TIMEOUT_MS / 1000 + 5)
        self.assertEqual(self.metric("fcrd_api_read_timeouts_total"), before + 1)
        self.assertRegex(self.h.log_text(), r"GET /v1/audits: the read was cancelled after 2500 ms")
        # The connection that ran it serves again.
        for _ in range(3):
            self.assertEqual(self.h.api.get("/v1/audits", role="auditor")[0], 200)


if __name__ == "__main__":
    harness.main()
