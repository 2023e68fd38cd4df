#!/usr/bin/env python3
"""test_whatif.py: POST /v1/whatif and `fcrctl whatif` against the real daemon: incidents fed
through the feed and decided through the API, replayed through the loaded rule set (nothing
changes) and through a candidate that maps one conduct to another offence (exactly the
allegations it reaches change, people's decisions still stand); the period's bounds; nothing
written; a bad rule set, an oversized body and the roles refused; the API answering other reads
while a run waits on the database; one run at a time; a client that goes away stops its run."""
import copy
import http.client
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

import harness
import openapi_check
from harness import DaemonTestCase, assault_opened, event, uid

FCRCTL_BIN = os.environ.get("FCRCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(harness.FCRD_BIN))), "tools", "fcrctl")
RULES = os.path.join(harness.SOURCE_ROOT, "conf", "rules", "hocr-2025.json")


def loaded_rules():
    with open(RULES, encoding="utf-8") as f:
        return json.load(f)


def candidate_rules():
    """The loaded rule set with injury assaults coded 105A instead of 8N."""
    rs = copy.deepcopy(loaded_rules())
    rs["version"] = "hocr-2026.0"
    for entry in rs["lexicon"]["assault.injury"]:
        if entry["offence"] == "8N":
            entry["offence"] = "105A"
    return rs


def theft_opened(incident_id, at):
    return event(
        incident_id, 1, "incident.opened", at,
        channel="emergency_call", narrative="Phone taken from her hand on the bus.", reported_by="v1",
        persons=[{"id": "v1", "role": "victim", "sex": "female", "age": 40, "confirms": True},
                 {"id": "s1", "role": "suspect", "sex": "male"}],
        allegations=[{"id": "a1", "victim": "v1", "suspects": ["s1"], "conduct": "theft.from_person",
                      "occurred_at": at, "location": {"force_area": "own", "premises": "public_place"}}])


def pending_opened(incident_id, at):
    """An injury assault (a1, recorded at once) and an allegation coded ZZ99, which no rule set
    knows (a2): a pending decision for a person."""
    return event(
        incident_id, 1, "incident.opened", at,
        channel="emergency_call", narrative="Fight outside a takeaway; two men hurt.", reported_by="v1",
        persons=[{"id": "v1", "role": "victim", "sex": "male", "age": 27, "confirms": True,
                  "relationships": [{"to": "s1", "kind": "stranger"}]},
                 {"id": "v2", "role": "victim", "sex": "male", "age": 28, "confirms": True},
                 {"id": "s1", "role": "suspect", "sex": "male"}],
        allegations=[{"id": "a1", "victim": "v1", "suspects": ["s1"], "conduct": "assault.injury",
                      "occurred_at": at, "location": {"force_area": "own", "premises": "public_place"}},
                     {"id": "a2", "victim": "v2", "offence": "ZZ99", "occurred_at": at,
                      "location": {"force_area": "own", "premises": "public_place"}}])


def ndjson(raw):
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


class WhatifTest(DaemonTestCase):
    # [api] max_body stays at its default (64 KiB): a candidate rule set has its own limit.

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.inc = {k: uid("WI" + k) for k in ("A1", "T1", "P1", "A2", "X1")}
        with cls.h.feed() as feed:
            cls.replies = {
                "A1": feed.request(assault_opened(cls.inc["A1"], at="2026-03-02T10:00:00Z")),
                "T1": feed.request(theft_opened(cls.inc["T1"], "2026-03-03T11:00:00Z")),
                "P1": feed.request(pending_opened(cls.inc["P1"], "2026-03-04T22:40:00Z")),
                "A2": feed.request(assault_opened(cls.inc["A2"], at="2026-03-05T09:00:00Z")),
                # outside every period below but the last
                "X1": feed.request(assault_opened(cls.inc["X1"], at="2026-04-20T09:00:00Z")),
            }
            # a later event on A1: its narrative only
            cls.replies["A1u"] = feed.request(event(cls.inc["A1"], 2, "incident.updated", "2026-03-02T12:00:00Z",
                                                    narrative="Caller adds that the man ran off."))
        for k, r in cls.replies.items():
            assert r.get("status") == "accepted", (k, r)
        api = cls.h.api
        # a person records the pending allegation a2 of P1 as an offence they name
        pid = cls.replies["P1"]["pending"][0]["id"]
        status, body = api.request("POST", f"/v1/pending/{pid}/decision", role="supervisor",
                                   body={"decision": "record", "offence": "105A", "rationale": "seen on CCTV"})
        assert status == 200, body
        # the force crime registrar reclassifies A2's crime
        crn = cls.replies["A2"]["crimes"][0]["crn"]
        status, body = api.request("POST", f"/v1/crimes/{crn}/reclassify", role="fcr",
                                   body={"offence": "5D", "rationale": "injury worse than first said"})
        assert status == 200, body

    def whatif(self, ruleset, frm="2026-03-01", to="2026-03-31", role="auditor"):
        status, raw = self.raw_whatif({"ruleset": ruleset, "from": frm, "to": to}, role)
        self.assertEqual(status, 200, raw)
        lines = ndjson(raw)
        self.assertIn("summary", lines[-1], lines[-3:])
        return lines

    def raw_whatif(self, body, role="auditor", headers=None):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        conn = http.client.HTTPConnection("127.0.0.1", self.h.api_port, timeout=60)
        try:
            hdrs = {"Authorization": f"Bearer {self.h.tokens[role]}", "Content-Type": "application/json"}
            hdrs.update(headers or {})
            conn.request("POST", "/v1/whatif", body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read().decode()
            if resp.status == 200:
                self.assertEqual(resp.getheader("Content-Type"), "application/x-ndjson")
            # every line of the stream, or the error, as proto/openapi.yaml describes it
            openapi_check.assert_response("POST", "/v1/whatif", resp.status, resp.getheader("Content-Type"), raw)
            return resp.status, raw
        finally:
            conn.close()

    @staticmethod
    def changes(lines):
        return [x["change"] for x in lines if "change" in x]

    def snapshot(self):
        counts = {t: self.h.sql_value(f"SELECT count(*) FROM {t}")
                  for t in ("incidents", "raw_events", "crimes", "pending_decisions", "audit")}
        counts["states"] = self.h.sql_value("SELECT md5(string_agg(incident_doc(incident_id, state), '' ORDER BY incident_id))"
                                            " FROM incidents")
        counts["heads"] = self.h.sql_value("SELECT string_agg(hash, ',' ORDER BY hash) FROM audit_head")
        counts["serials"] = self.h.sql_value("SELECT last_value FROM serials")
        return counts

    # (a) the loaded rule set itself: nothing changes
    def test_loaded_ruleset_changes_nothing(self):
        lines = self.whatif(loaded_rules())
        self.assertEqual(self.changes(lines), [])
        s = lines[-1]["summary"]
        self.assertEqual(s["incidents"], 4)
        self.assertEqual(s["changed"], 0)
        self.assertEqual(s["by_category"], {})
        self.assertEqual(s["allegations"], 5)
        self.assertEqual(s["decisions"], 2)
        self.assertEqual(s["decisions_refused"] + s["decisions_unmatched"] + s["events_refused"], 0, s)
        self.assertEqual(s["ruleset"], loaded_rules()["version"])
        self.assertTrue(any("progress" in x for x in lines))

    # (b) a candidate reaching injury assaults: exactly those allegations, right before and after
    def test_candidate_reports_exactly_the_allegations_it_reaches(self):
        lines = self.whatif(candidate_rules())
        got = sorted(((c["incident_id"], c["allegation"]), c["before"], c["after"]) for c in self.changes(lines))
        crn_a1 = self.replies["A1"]["crimes"][0]["crn"]
        crn_p1 = [c["crn"] for c in self.replies["P1"]["crimes"] if c["offence"] == "8N"][0]
        expected = sorted([
            ((self.inc["A1"], "a1"), {"outcome": "recorded", "offence": "8N", "crn": crn_a1},
             {"outcome": "recorded", "offence": "105A"}),
            ((self.inc["P1"], "a1"), {"outcome": "recorded", "offence": "8N", "crn": crn_p1},
             {"outcome": "recorded", "offence": "105A"}),
        ])
        # A2: the registrar's reclassification stands; P1's a2: the supervisor's offence stands;
        # T1: a theft, out of the candidate's reach.
        self.assertEqual(got, expected)
        s = lines[-1]["summary"]
        self.assertEqual((s["incidents"], s["changed"], s["by_category"]), (4, 2, {"violence": 2}))
        self.assertEqual(s["ruleset"], "hocr-2026.0")
        self.assertEqual(s["decisions"], 2)
        self.assertEqual(s["decisions_refused"] + s["decisions_unmatched"], 0, s)

    # (c) the period: incidents first reported in it, whole days, RFC 3339 bounds too
    def test_period_bounds(self):
        lines = self.whatif(candidate_rules(), "2026-03-03", "2026-03-04")
        self.assertEqual(lines[-1]["summary"]["incidents"], 2)  # T1 and P1
        self.assertEqual({c["incident_id"] for c in self.changes(lines)}, {self.inc["P1"]})
        lines = self.whatif(candidate_rules(), "2026-03-02T10:00:00Z", "2026-03-02T10:00:01Z")
        self.assertEqual(lines[-1]["summary"]["incidents"], 1)
        self.assertEqual({c["incident_id"] for c in self.changes(lines)}, {self.inc["A1"]})
        lines = self.whatif(candidate_rules(), "2026-03-02T10:00:01Z", "2026-03-02T23:00:00Z")
        self.assertEqual(lines[-1]["summary"]["incidents"], 0)
        lines = self.whatif(candidate_rules(), "2026-01-01", "2026-12-31")
        self.assertEqual(lines[-1]["summary"]["incidents"], 5)
        total = [x["progress"]["total"] for x in lines if "progress" in x]
        self.assertEqual(total[-1], 5)

    # (d) nothing is written
    def test_nothing_written(self):
        before = self.snapshot()
        self.whatif(candidate_rules(), "2026-01-01", "2026-12-31")
        self.whatif(loaded_rules(), "2026-01-01", "2026-12-31", role="fcr")
        self.assertEqual(self.snapshot(), before)

    # (e) refusals
    def test_bad_ruleset_names_the_path(self):
        rs = loaded_rules()
        rs["lexicon"]["assault.injury"][0]["offence"] = "NOPE1"
        status, raw = self.raw_whatif({"ruleset": rs, "from": "2026-03-01", "to": "2026-03-31"})
        self.assertEqual(status, 422, raw)
        err = json.loads(raw)["error"]
        self.assertEqual(err["code"], "bad_ruleset")
        self.assertIn("lexicon", err["field"])
        self.assertIn("assault.injury", err["message"])

    def test_bad_bodies(self):
        for body, field in (({"ruleset": loaded_rules(), "from": "2026-03-31", "to": "2026-03-01"}, "to"),
                            ({"ruleset": loaded_rules(), "from": "March", "to": "2026-03-01"}, "from"),
                            ({"ruleset": "hocr", "from": "2026-03-01", "to": "2026-03-02"}, "ruleset"),
                            ({"ruleset": {}, "from": "2026-03-01", "to": "2026-03-02", "x": 1}, "x")):
            status, raw = self.raw_whatif(body)
            self.assertEqual(status, 400, raw)
            self.assertEqual(json.loads(raw)["error"]["field"], field, raw)
        status, raw = self.raw_whatif("{not json")
        self.assertEqual(status, 400, raw)

    def test_body_past_max_body_but_within_its_own_limit(self):
        rs = loaded_rules()
        rs["title"] = "x" * 200000  # over [api] max_body's 64 KiB, under whatif_max_body's 1 MiB
        status, raw = self.raw_whatif({"ruleset": rs, "from": "2026-03-01", "to": "2026-03-31"})
        self.assertEqual(status, 200, raw[:300])
        status, reply = self.h.api.request("POST", "/v1/pending/X/decision", {"decision": "record",
                                           "rationale": "x" * 70000}, role="supervisor")
        self.assertEqual((status, reply["error"]["code"]), (413, "too_large"), "other endpoints keep max_body")

    def test_body_over_1_mib(self):
        """Past [api] whatif_max_body (1 MiB by default) the request is refused from its
        Content-Length, before the body is read."""
        s = socket.create_connection(("127.0.0.1", self.h.api_port), timeout=10)
        try:
            s.sendall(f"POST /v1/whatif HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.h.tokens['auditor']}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {(1 << 20) + 1}\r\n\r\n".encode())
            head = s.recv(4096).decode(errors="replace")
        finally:
            s.close()
        self.assertTrue(head.startswith("HTTP/1.1 413"), head[:200])

    def test_roles(self):
        body = {"ruleset": loaded_rules(), "from": "2026-03-01", "to": "2026-03-31"}
        for role in ("supervisor", "ddm", "ops"):
            status, raw = self.raw_whatif(body, role=role)
            self.assertEqual(status, 403, (role, raw))
        status, _ = self.raw_whatif(body, role="fcr")
        self.assertEqual(status, 200)
        status, _ = self.h.api.request("POST", "/v1/whatif", body=body)
        self.assertEqual(status, 401)

    # (f) other reads go on while a run waits; one run at a time; a client that leaves stops it
    def test_reads_answered_while_a_run_waits(self):
        locker = self.h.connect(autocommit=False)
        try:
            cur = locker.cursor()
            cur.execute("LOCK TABLE raw_events IN ACCESS EXCLUSIVE MODE")
            result = {}

            def run():
                result["status"], result["raw"] = self.raw_whatif(
                    {"ruleset": loaded_rules(), "from": "2026-01-01", "to": "2026-12-31"})

            t = threading.Thread(target=run)
            t.start()
            self.await_run()  # the run holds the what-if lock and waits for raw_events
            for _ in range(3):
                t0 = time.monotonic()
                status, body = self.h.api.get(f"/v1/incidents/{self.inc['A1']}", role="auditor")
                self.assertEqual(status, 200, body)
                status, _ = self.h.api.get("/v1/pending", role="auditor")
                self.assertEqual(status, 200)
                self.assertLess(time.monotonic() - t0, 2.0)
            self.assertTrue(t.is_alive(), "the run should still be waiting")
            status, raw = self.raw_whatif({"ruleset": loaded_rules(), "from": "2026-01-01", "to": "2026-12-31"})
            self.assertEqual(status, 429, raw)
            self.assertEqual(json.loads(raw)["error"]["code"], "whatif_busy")
        finally:
            locker.rollback()
            locker.close()
        t.join(30)
        self.assertEqual(result.get("status"), 200, result)
        self.assertEqual(ndjson(result["raw"])[-1]["summary"]["incidents"], 5)

    def test_client_that_leaves_stops_the_run(self):
        locker = self.h.connect(autocommit=False)
        try:
            locker.cursor().execute("LOCK TABLE raw_events IN ACCESS EXCLUSIVE MODE")
            body = json.dumps({"ruleset": loaded_rules(), "from": "2026-01-01", "to": "2026-12-31"}).encode()
            s = socket.create_connection(("127.0.0.1", self.h.api_port), timeout=10)
            s.sendall(b"POST /v1/whatif HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Authorization: Bearer {self.h.tokens['auditor']}\r\n".encode()
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            self.await_run()
            s.close()
            deadline = time.monotonic() + 10
            while self.whatif_sessions() and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(self.whatif_sessions(), 0, "the run's connection should have closed")
        finally:
            locker.rollback()
            locker.close()
        self.whatif(loaded_rules())  # the lock went with it

    def await_run(self, timeout=20):
        """Until a run holds the what-if lock (a fixed sleep is not enough under the sanitizers
        on a busy machine: the run first opens its own connection)."""
        deadline = time.monotonic() + timeout
        while self.whatif_sessions() != 1:
            self.assertLess(time.monotonic(), deadline, "no what-if run took the lock")
            time.sleep(0.05)

    def whatif_sessions(self):
        return self.h.sql_value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                " AND classid = 1717793380 AND objid = 2003331430 AND granted")

    # fcrctl whatif through the real daemon
    def fcrctl(self, *args, role="auditor"):
        e = {k: v for k, v in os.environ.items() if k not in ("FCRD_TOKEN", "FCRD_URL")}
        e["FCRD_TOKEN"] = self.h.tokens[role]
        e["FCRD_URL"] = f"http://127.0.0.1:{self.h.api_port}"
        r = subprocess.run([FCRCTL_BIN, *args], env=e, capture_output=True, text=True, timeout=120)
        self.assertIsNone(harness.SANITIZER_RE.search(r.stderr), r.stderr)
        return r.returncode, r.stdout, r.stderr

    def test_fcrctl_whatif(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(candidate_rules(), f)
            path = f.name
        try:
            rc, out, err = self.fcrctl("whatif", path, "--from", "2026-03-01", "--to", "2026-03-31")
            self.assertEqual(rc, 0, err)
            self.assertIn("incidents replayed", err)
            rows = [line.split() for line in out.splitlines() if line.strip()]
            self.assertEqual(rows[0], ["INCIDENT", "ALLEGATION", "BEFORE", "OFFENCE_BEFORE", "CRN", "AFTER",
                                       "OFFENCE_AFTER"])
            self.assertEqual(sorted(r[0] for r in rows[1:3]), sorted([self.inc["A1"], self.inc["P1"]]))
            for r in rows[1:3]:
                self.assertEqual((r[1], r[2], r[3], r[5], r[6]), ("a1", "recorded", "8N", "recorded", "105A"))
            self.assertIn("changed: 2", out)
            self.assertIn(["violence", "2"], rows)
            rc, out, err = self.fcrctl("--json", "whatif", path, "--from", "2026-03-01", "--to", "2026-03-31")
            self.assertEqual(rc, 0, err)
            lines = ndjson(out)
            self.assertEqual(len(self.changes(lines)), 2)
            self.assertEqual(lines[-1]["summary"]["changed"], 2)
            rc, _, err = self.fcrctl("whatif", path, "--from", "2026-03-01", "--to", "2026-03-31", role="supervisor")
            self.assertEqual(rc, 3, err)
            rc, _, err = self.fcrctl("whatif", path, "--from", "2026-03-01")
            self.assertEqual(rc, 2, err)
        finally:
            os.unlink(path)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            rs = loaded_rules()
            rs["offences"][0]["category"] = 7
            json.dump(rs, f)
            path = f.name
        try:
            rc, _, err = self.fcrctl("whatif", path, "--from", "2026-03-01", "--to", "2026-03-31")
            self.assertEqual(rc, 5, err)
            self.assertIn("offences[0]", err)
        finally:
            os.unlink(path)


if __name__ == "__main__":
    harness.main()
