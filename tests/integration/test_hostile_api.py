#!/usr/bin/env python3
"""test_hostile_api.py: hostile input to the supervisor HTTP API.

Bodies (not JSON, wrong shapes, duplicate keys, invalid UTF-8, NUL bytes, deep nesting, huge
numbers, unknown and over-long fields, SQL-looking text, bodies past the limit, lying
Content-Length, hostile chunked encoding), paths (NUL, encoded slashes and dots, very long,
SQL-looking ids), query strings (out-of-range and repeated parameters, forged cursors), headers
and tokens (none, wrong scheme, near misses, very long, repeated, wrong role), methods and
malformed requests. Each must get a 4xx answer -- never a 5xx, never a crash, never data without a
valid token -- nothing a refused request sent may be written, and the API must go on serving.
"""
import json
import os
import socket
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))

import faultkit  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase, assault_opened, uid  # noqa: E402

MAX_BODY = 65536


class HostileApiTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        h = cls.h
        faultkit.wait_ready(h, 60)
        # Something to act on: a live crime and an open pending decision.
        cls.inc = uid("API")
        opened = assault_opened(cls.inc)
        opened["allegations"].append({"id": "a2", "victim": "v1", "conduct": "hostile.unlisted_conduct"})
        with h.feed() as feed:
            r = feed.request(opened)
        assert r.get("status") == "accepted", r
        cls.crn = r["crimes"][0]["crn"]
        cls.pending = r["pending"][0]["id"]

    def setUp(self):
        self.audit_before = self.h.sql_value("SELECT count(*) FROM audit")

    def tearDown(self):
        status, _ = self.h.api.get("/healthz")
        self.assertEqual(status, 200, "the API still serves")
        self.assertIsNone(self.h.proc.poll(), "fcrd still running")

    # ---- helpers -------------------------------------------------------------------------
    def raw(self, data, read_timeout=10):
        """Send raw bytes to the API; return (status or None, the whole response)."""
        s = socket.create_connection(("127.0.0.1", self.h.api_port), timeout=read_timeout)
        try:
            s.sendall(data)
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    break
                if not chunk:
                    break
                out += chunk
        finally:
            s.close()
        status = None
        if out.startswith(b"HTTP/"):
            try:
                status = int(out.split(b" ", 2)[1])
            except (IndexError, ValueError):
                pass
        return status, out

    def assertRefused(self, status, body, what, allowed=None):
        ok = allowed or range(400, 500)
        self.assertIn(status, ok, f"{what}: {status} {str(body)[:300]}")

    def assertNothingWritten(self):
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM audit"), self.audit_before,
                         "a refused request wrote nothing")
        self.assertEqual(self.h.sql_value("SELECT status FROM crimes WHERE crn = %s", (self.crn,)), "recorded")
        self.assertEqual(self.h.sql_value("SELECT status FROM pending_decisions WHERE id = %s", (self.pending,)),
                         "open")

    def post(self, path, body, role, headers=None):
        return self.h.api.request("POST", path, body=body, role=role, headers=headers)

    # ---- bodies --------------------------------------------------------------------------
    def test_hostile_bodies(self):
        dpath = f"/v1/pending/{urllib.parse.quote(self.pending, safe='')}/decision"
        cpath = f"/v1/crimes/{urllib.parse.quote(self.crn, safe='')}/cancel"
        rpath = f"/v1/crimes/{urllib.parse.quote(self.crn, safe='')}/reclassify"
        cases = [
            ("empty", dpath, b""),
            ("not json", dpath, b"decision=record"),
            ("array", dpath, b'["record"]'),
            ("string", dpath, b'"record"'),
            ("null", dpath, b"null"),
            ("truncated", dpath, b'{"decision": "no_crime", "rationale": "x'),
            ("trailing garbage", dpath, b'{"decision": "no_crime", "rationale": "x"} {}'),
            ("duplicate key", dpath, b'{"decision": "no_crime", "decision": "record", "rationale": "x"}'),
            ("invalid utf-8", dpath, b'{"decision": "no_crime", "rationale": "\xff\xfe"}'),
            ("overlong utf-8", dpath, b'{"decision": "no_crime", "rationale": "\xc0\xaf"}'),
            ("raw NUL", dpath, b'{"decision": "no_crime", "rationale": "a\x00b"}'),
            ("escaped NUL", dpath, b'{"decision": "no_crime", "rationale": "a\\u0000b"}'),
            ("lone surrogate", dpath, b'{"decision": "no_crime", "rationale": "\\ud800"}'),
            ("deep nesting", dpath, b'{"decision": "no_crime", "rationale": "x", "n": ' + b"[" * 30000 + b"]" * 30000 + b"}"),
            ("huge number", dpath, b'{"decision": "no_crime", "rationale": 1' + b"0" * 400 + b"}"),
            ("NaN", dpath, b'{"decision": "no_crime", "rationale": NaN}'),
            ("wrong type", dpath, b'{"decision": 1, "rationale": "x"}'),
            ("wrong type object", dpath, b'{"decision": {"$ne": null}, "rationale": "x"}'),
            ("unknown field", dpath, b'{"decision": "no_crime", "rationale": "x", "role": "fcr"}'),
            ("missing field", dpath, b'{"decision": "no_crime"}'),
            ("empty rationale", dpath, b'{"decision": "no_crime", "rationale": ""}'),
            ("rationale too long", dpath, json.dumps({"decision": "no_crime", "rationale": "r" * 4001}).encode()),
            ("enum case", dpath, b'{"decision": "NO_CRIME", "rationale": "x"}'),
            ("enum sql", dpath, b'{"decision": "record\' OR 1=1 --", "rationale": "x"}'),
            ("cancel reason", cpath, b'{"reason": "C9", "rationale": "x"}'),
            ("cancel time", cpath, b'{"reason": "C2", "rationale": "x", "avi": "y", "victim_informed_at": "soon"}'),
            ("cancel leap second", cpath,
             b'{"reason": "C2", "rationale": "x", "avi": "y", "victim_informed_at": "2026-06-30T23:59:60Z"}'),
            ("reclassify long code", rpath, json.dumps({"offence": "8" * 17, "rationale": "x"}).encode()),
        ]
        roles = {dpath: "supervisor", cpath: "ddm", rpath: "ddm"}
        for what, path, body in cases:
            with self.subTest(body=what):
                status, reply = self.post(path, body, roles[path])
                self.assertRefused(status, reply, what, allowed=(400, 413))
                if status == 400:
                    self.assertIsInstance(reply, dict, what)
                    self.assertTrue((reply.get("error") or {}).get("code"), what)
        self.assertNothingWritten()

    def test_sql_looking_text_is_data(self):
        """Injection attempts reach the rules as plain text: a refusal by the rules, not a 5xx."""
        evil = "x'); DELETE FROM audit; UPDATE crimes SET status='cancelled'; --"
        status, reply = self.post(f"/v1/crimes/{urllib.parse.quote(self.crn, safe='')}/reclassify",
                                  {"offence": "8N' --", "rationale": evil}, "ddm")
        self.assertRefused(status, reply, "reclassify to a made-up code", allowed=(400, 404, 409, 422))
        status, reply = self.post(f"/v1/crimes/{urllib.parse.quote(evil[:60], safe='')}/cancel",
                                  {"reason": "C4", "rationale": evil}, "fcr")
        self.assertEqual(status, 404, reply)
        self.assertNothingWritten()
        self.assertGreater(self.h.sql_value("SELECT count(*) FROM audit"), 0)

    def test_body_over_the_limit(self):
        path = f"/v1/pending/{urllib.parse.quote(self.pending, safe='')}/decision"
        body = json.dumps({"decision": "no_crime", "rationale": "x", "pad": "p" * (MAX_BODY + 10)})
        status, reply = self.post(path, body, "supervisor")
        self.assertRefused(status, reply, "body past the limit", allowed=(400, 413))
        # chunked, with a chunk size far past the limit
        token = self.h.tokens["supervisor"]
        req = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
               "ffffffffffffffff\r\n{}\r\n0\r\n\r\n").encode()
        status, out = self.raw(req)
        self.assertRefused(status, out, "chunk size 2^64-1", allowed=(400, 413, None))
        req = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
               "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n").encode()
        status, out = self.raw(req)
        self.assertRefused(status, out, "chunk size not hex", allowed=(400, 413, None))
        self.assertNothingWritten()

    def test_lying_content_length(self):
        path = f"/v1/pending/{urllib.parse.quote(self.pending, safe='')}/decision"
        token = self.h.tokens["supervisor"]
        for what, headers, body in [
            ("longer than sent", "Content-Length: 1000\r\n", b'{"decision":"no_crime","rationale":"x"}'),
            ("negative", "Content-Length: -5\r\n", b'{}'),
            ("not a number", "Content-Length: ten\r\n", b'{}'),
            ("huge", "Content-Length: 99999999999999999999\r\n", b'{}'),
            ("twice, differing", "Content-Length: 2\r\nContent-Length: 40\r\n", b'{"decision":"no_crime","rationale":"x"}'),
            ("with chunked", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
        ]:
            with self.subTest(content_length=what):
                req = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                       f"Content-Type: application/json\r\n{headers}\r\n").encode() + body
                status, out = self.raw(req, read_timeout=40)
                self.assertNotIn(status, range(200, 300), f"{what}: {out[:300]!r}")
                self.assertFalse(status is not None and status >= 500, f"{what}: {out[:300]!r}")
        self.assertNothingWritten()

    # ---- paths and queries ---------------------------------------------------------------
    def test_hostile_paths(self):
        paths = [
            "/v1/incidents/%00", "/v1/incidents/a%00b", "/v1/incidents/..%2F..%2Fetc%2Fpasswd",
            "/v1/incidents/../../etc/passwd", "/v1/incidents/%2e%2e/%2e%2e/", "/v1/incidents/",
            "/v1/incidents/" + "A" * 65, "/v1/incidents/" + "B" * 8000,
            "/v1/incidents/%27%20OR%20%271%27%3D%271", "/v1/incidents/%ZZ", "/v1/incidents/%",
            "/v1/crimes/%00", "/v1/crimes/" + "%41" * 100,
            "//v1/pending", "/v1//pending", "/v1/pending/..", "/V1/PENDING", "/v1/pending%00",
            "/v1/audit/../pending", "/v1/reports/cdi/../../pending",
        ]
        for path in paths:
            with self.subTest(path=path[:60]):
                status, body = self.h.api.get(path, role="auditor")
                self.assertFalse(status >= 500, f"{path[:80]}: {status} {str(body)[:200]}")
                if path.startswith("/v1/incidents/") and status == 200:
                    self.assertIsInstance(body, dict)
                    self.assertNotEqual(body.get("incident_id"), self.inc, f"{path[:80]} must not reach {self.inc}")
                # without a token nothing protected is served
                status, body = self.h.api.get(path)
                if status == 200:
                    self.assertNotIn(self.inc, str(body), f"{path[:80]} served incident data without a token")

    def test_hostile_queries(self):
        queries = [
            "/v1/pending?limit=0", "/v1/pending?limit=-1", "/v1/pending?limit=1001", "/v1/pending?limit=abc",
            "/v1/pending?limit=99999999999999999999", "/v1/pending?limit=1&limit=2", "/v1/pending?nope=1",
            "/v1/pending?overdue=maybe", "/v1/pending?flag=" + "f" * 65, "/v1/pending?after=garbage",
            "/v1/pending?after=%7C", "/v1/pending?after=2026-01-01T00:00:00Z", "/v1/pending?reason=%00",
            "/v1/pending?%00=1", "/v1/pending?limit=1%00", "/v1/pending?&&&", "/v1/pending?=",
            "/v1/audit?after=-1", "/v1/audit?after=x", "/v1/audit?limit=1e3", "/v1/audit?crn=" + "c" * 65,
            "/v1/reports/cdi?from=yesterday", "/v1/reports/cdi?from=2026-02-30", "/v1/reports/cdi?to=2026-01-01&from=2026-02-01",
        ]
        for q in queries:
            with self.subTest(query=q[:60]):
                status, body = self.h.api.get(q, role="auditor")
                self.assertFalse(status >= 500, f"{q}: {status} {str(body)[:200]}")

    # Input PostgreSQL would refuse (cursors out of bigint range, ids that are not UTF-8, report dates
    # past the years timestamptz holds) is checked before it becomes a query parameter, so it is a
    # client error (400 or 404). Were one to reach PostgreSQL, the refusal would be 500 internal.
    def test_input_postgresql_refuses_is_a_client_error(self):
        bad = []
        for q in ["/v1/audit?after=9223372036854775808", "/v1/audit?after=99999999999999999999",
                  "/v1/pending?after=9999-99-99T99:99:99Z%7Cx", "/v1/pending?after=-%7Cx",
                  "/v1/incidents/%C0%AF", "/v1/incidents/%FF%FE", "/v1/crimes/%FF",
                  "/v1/reports/cdi?from=0000-01-01&to=9999-12-31"]:
            status, body = self.h.api.get(q, role="auditor")
            if status >= 500:
                bad.append(f"{q}: {status} {str(body)[:120]}")
        self.assertEqual(bad, [])

    # ---- clients that leave before their answer ----------------------------------------------
    def test_clients_that_leave_before_the_answer(self):
        """A read and a decision whose clients hang up while PostgreSQL holds them up: fcrd still
        commits the decision the store had taken on, serves the next client, and stops cleanly
        (the sanitized build reports any leak or bad access when fcrd stops)."""
        token = self.h.tokens["ddm"]
        inc = uid("LEAVE")
        with self.h.feed() as feed:
            r = feed.request(assault_opened(inc))
        self.assertEqual(r.get("status"), "accepted", r)
        crn = r["crimes"][0]["crn"]
        crime = f"/v1/crimes/{urllib.parse.quote(crn, safe='')}"

        def leave(method, path, body, hold):
            locker = self.h.pg.connect(autocommit=False)
            try:
                with locker.cursor() as cur:
                    cur.execute(*hold)
                s = socket.create_connection(("127.0.0.1", self.h.api_port), timeout=5)
                s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                          + body)
                # until fcrd's query waits on the lock: the request was read and is in its hands
                deadline = time.monotonic() + 20
                while not self.h.sql_value("SELECT count(*) FROM pg_stat_activity WHERE datname = 'fcrd'"
                                           " AND wait_event_type = 'Lock'"):
                    self.assertLess(time.monotonic(), deadline, f"{method} {path} never reached the database")
                    time.sleep(0.05)
                s.close()
                time.sleep(0.3)
            finally:
                locker.rollback()
                locker.close()

        # a read waiting on its query
        leave("GET", crime, b"", ("LOCK TABLE crimes IN ACCESS EXCLUSIVE MODE",))
        # a decision waiting in the store's transaction, behind a lock on its incident's row
        leave("POST", crime + "/reclassify",
              json.dumps({"offence": "5D", "rationale": "worse than first said"}).encode(),
              ("SELECT 1 FROM incidents WHERE incident_id = %s FOR UPDATE", (inc,)))
        deadline = time.time() + 10
        while self.h.sql_value("SELECT offence FROM crimes WHERE crn = %s", (crn,)) != "5D":
            self.assertLess(time.time(), deadline, "the decision the store had taken on was not written")
            time.sleep(0.1)
        self.h.restart_fcrd()  # raises on a sanitizer report in fcrd's log
        faultkit.wait_ready(self.h, 60)

    # ---- headers and tokens --------------------------------------------------------------
    def test_hostile_tokens(self):
        good = self.h.tokens["auditor"]
        path = f"/v1/incidents/{self.inc}"
        cases = [
            ("none", {}),
            ("empty", {"Authorization": ""}),
            ("scheme only", {"Authorization": "Bearer"}),
            ("scheme and space", {"Authorization": "Bearer "}),
            ("basic", {"Authorization": "Basic " + good}),
            ("token alone", {"Authorization": good}),
            ("prefix", {"Authorization": "Bearer " + good[:-1]}),
            ("one more", {"Authorization": "Bearer " + good + "x"}),
            ("changed case", {"Authorization": "Bearer " + good.upper()}),
            ("long", {"Authorization": "Bearer " + "t" * 8000}),
            ("sql", {"Authorization": "Bearer ' OR '1'='1"}),
            ("non-ascii", {"Authorization": "Bearer \u00e9\u00e9"}),
            ("two tokens", {"Authorization": "Bearer x " + good}),
        ]
        for what, headers in cases:
            with self.subTest(token=what):
                try:
                    status, body = self.h.api.request("GET", path, headers=headers)
                except UnicodeEncodeError:
                    raw = f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode() + b"Authorization: Bearer \xc3\xa9\r\n\r\n"
                    status, body = self.raw(raw)
                self.assertIn(status, (400, 401, 431), f"{what}: {status} {str(body)[:200]}")
                self.assertNotIn(self.crn, str(body))
        # raw header tricks
        for what, hdrs in [
            ("first of two is wrong", f"Authorization: Bearer nope\r\nAuthorization: Bearer {good}\r\n"),
            ("NUL inside", f"Authorization: Bearer {good}\x00junk\r\n"),
            ("folded", f"Authorization: Bearer\r\n {good}\r\n"),
            ("huge header", "X-Junk: " + "j" * 20000 + f"\r\nAuthorization: Bearer {good}\r\n"),
            ("many headers", "".join(f"X-H{i}: v\r\n" for i in range(2000)) + f"Authorization: Bearer {good}\r\n"),
        ]:
            with self.subTest(header=what):
                status, out = self.raw(f"GET {path} HTTP/1.1\r\nHost: x\r\n{hdrs}\r\n".encode())
                self.assertFalse(status is not None and status >= 500, f"{what}: {out[:200]!r}")
                if what == "first of two is wrong":
                    self.assertNotEqual(status, 200, f"{what}: {out[:300]!r}")

    def test_roles_and_nothing_written(self):
        dpath = f"/v1/pending/{urllib.parse.quote(self.pending, safe='')}/decision"
        cpath = f"/v1/crimes/{urllib.parse.quote(self.crn, safe='')}/cancel"
        decide = {"decision": "no_crime", "rationale": "hostile"}
        cancel = {"reason": "C4", "rationale": "hostile"}
        for what, method, path, body, role, want in [
            ("ops reads pending", "GET", "/v1/pending", None, "ops", 403),
            ("ops reads an incident", "GET", f"/v1/incidents/{self.inc}", None, "ops", 403),
            ("auditor decides", "POST", dpath, decide, "auditor", 403),
            ("ops decides", "POST", dpath, decide, "ops", 403),
            ("supervisor cancels", "POST", cpath, cancel, "supervisor", 403),
            ("no token decides", "POST", dpath, decide, None, 401),
            ("no token cancels", "POST", cpath, cancel, None, 401),
            ("bad token cancels", "POST", cpath, cancel, "bad", 401),
        ]:
            with self.subTest(what=what):
                kw = {"token": "nope"} if role == "bad" else {"role": role}
                status, reply = self.h.api.request(method, path, body=body, **kw)
                self.assertEqual(status, want, f"{what}: {reply}")
        self.assertNothingWritten()

    # ---- methods and malformed requests --------------------------------------------------
    def test_methods_and_malformed_requests(self):
        good = self.h.tokens["fcr"]
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "GETT", "get"):
            with self.subTest(method=method):
                status, out = self.raw(f"{method} /v1/crimes/{self.crn} HTTP/1.1\r\nHost: x\r\n"
                                       f"Authorization: Bearer {good}\r\nContent-Length: 0\r\n\r\n".encode())
                # evhttp answers methods it does not serve with 501, which is HTTP's word for it.
                self.assertIn(status, (400, 404, 405, 501, None), f"{method}: {out[:200]!r}")
        for what, req in [
            ("garbage", b"HELLO\r\n\r\n"),
            ("http/0.9", b"GET /healthz\r\n\r\n"),
            ("version 9.9", b"GET /healthz HTTP/9.9\r\n\r\n"),
            ("no version", b"GET /v1/pending\r\n\r\n"),
            ("space in path", b"GET /v1/pen ding HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("absolute uri", b"GET http://evil.example/v1/pending HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("bare LF", b"GET /healthz HTTP/1.1\nHost: x\n\n"),
            ("binary", bytes(range(256)) * 4),
            ("header without colon", b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n"),
            ("very long request line", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n"),
        ]:
            with self.subTest(request=what):
                status, out = self.raw(req)
                self.assertFalse(status is not None and status >= 500, f"{what}: {out[:200]!r}")

    def test_pipelined_requests_and_a_stalled_one(self):
        token = self.h.tokens["auditor"]
        one = f"GET /v1/incidents/{self.inc} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
        # A half-sent request held open does not stop the others being served.
        stalled = socket.create_connection(("127.0.0.1", self.h.api_port), timeout=10)
        stalled.sendall(b"POST /v1/pending/x/decision HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        try:
            s = socket.create_connection(("127.0.0.1", self.h.api_port), timeout=30)
            s.sendall((one * 50).encode())
            out, deadline = b"", time.monotonic() + 30
            while out.count(b"HTTP/1.1 200") < 50 and time.monotonic() < deadline:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                out += chunk
            s.close()
            self.assertEqual(out.count(b"HTTP/1.1 200"), 50, "50 pipelined requests, 50 answers")
        finally:
            stalled.close()


if __name__ == "__main__":
    harness.main()
