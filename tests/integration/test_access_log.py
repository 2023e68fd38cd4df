#!/usr/bin/env python3
"""test_access_log.py: the access log ('access' chain) and subject access through the real feed,
API and database: every read that carries personal data leaves a record with the user, the role,
the ids the reply holds and the purpose, before the reply is sent; [api] require_purpose refuses
a read without one, naming `purpose`; the serving login cannot insert, update or delete records,
only append through access_log_append; the chain verifies; a read whose record cannot be written
is answered 503 and nothing is sent; GET /v1/access-log filters and pages; GET /v1/subjects/{ref}
exports what is held about a person across two incidents, and is itself logged; and the fcrctl
commands for both."""
import concurrent.futures
import copy
import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.parse

import psycopg2

import harness
from harness import DaemonTestCase, assault_opened, event, uid

FCRCTL_BIN = os.environ.get("FCRCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(harness.FCRD_BIN))), "tools", "fcrctl")
DEADLINE = 20


def q(text):
    return urllib.parse.quote(text, safe="")


def two_victims_opened(incident_id, ref, other_ref, suspect_ref, at="2026-03-02T22:40:00Z"):
    """v1 (ref) punched by s1 (suspect_ref): a crime at once; v2 (other_ref) under an offence code
    no rule set knows: a pending decision for a person."""
    return event(
        incident_id, 1, "incident.opened", at,
        channel="emergency_call", narrative="Fight outside a takeaway.", reported_by="v1",
        persons=[{"id": "v1", "role": "victim", "sex": "male", "age": 27, "confirms": True, "ref": ref,
                  "relationships": [{"to": "s1", "kind": "stranger"}]},
                 {"id": "v2", "role": "victim", "sex": "male", "age": 28, "confirms": True, "ref": other_ref},
                 {"id": "s1", "role": "suspect", "sex": "male", "ref": suspect_ref}],
        allegations=[{"id": "a1", "victim": "v1", "suspects": ["s1"], "conduct": "assault.injury",
                      "occurred_at": at, "location": {"force_area": "own", "premises": "public_place"}},
                     {"id": "a2", "victim": "v2", "offence": "ZZ99", "occurred_at": at,
                      "location": {"force_area": "own", "premises": "public_place"}}])


class AccessLogTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = cls.h.api
        tag = uid("AL")
        cls.ref, cls.ref2, cls.sref = f"{tag}-V", f"{tag}-V2", f"{tag}-S"
        cls.inc_a, cls.inc_b = f"{tag}-A", f"{tag}-B"
        b = assault_opened(cls.inc_b, at="2026-03-03T09:00:00Z")
        b["persons"][0]["ref"] = cls.ref
        with cls.h.feed() as feed:
            ra = feed.request(two_victims_opened(cls.inc_a, cls.ref, cls.ref2, cls.sref))
            rb = feed.request(b)
        assert ra.get("status") == "accepted" and rb.get("status") == "accepted", json.dumps([ra, rb])
        cls.crn_a, cls.crn_b = ra["crimes"][0]["crn"], rb["crimes"][0]["crn"]
        cls.pending_a = ra["pending"][0]["id"]

    # -- helpers --------------------------------------------------------------------------
    def get(self, path, role="auditor", purpose=None, headers=None):
        hdrs = dict(headers or {})
        if purpose is not None:
            hdrs["X-Purpose"] = purpose
        return self.api.request("GET", path, role=role, headers=hdrs)

    def records(self, purpose):
        rows = self.h.sql("SELECT user_id, role, method, route, incident_ids, crns, person_refs, client, path"
                          " FROM access_log WHERE purpose = %s ORDER BY id", (purpose,))
        return [dict(zip(["user", "role", "method", "route", "incident_ids", "crns", "person_refs", "client",
                          "path"], r)) for r in rows]

    def one_record(self, purpose):
        recs = self.records(purpose)
        self.assertEqual(len(recs), 1, recs)
        return recs[0]

    def set_config(self, **over):
        """Rewrite fcrd's config with `over` and reload it (SIGHUP)."""
        with open(self.h.conf_path, "w", encoding="utf-8") as f:
            f.write(self.h.config_text(**over))
        self.h.proc.send_signal(signal.SIGHUP)

    def poll(self, what, fn):
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            value = fn()
            if value:
                return value
            time.sleep(0.05)
        self.fail(f"not within {DEADLINE} s: {what}")

    # -- a record for each kind of read ---------------------------------------------------
    def test_each_read_is_logged(self):
        status, body = self.api.request("POST", "/v1/audits", role="auditor",
                                        body={"from": "2026-03-02", "to": "2026-03-04", "size": 5, "seed": 1})
        self.assertEqual(status, 200, body)
        audit_id = body["id"]
        refs = {self.ref, self.ref2, self.sref}
        reads = [
            ("incident", f"/v1/incidents/{q(self.inc_a)}", {self.inc_a}, {self.crn_a}, refs),
            ("events", f"/v1/incidents/{q(self.inc_a)}/events", {self.inc_a}, set(), refs),
            ("crime", f"/v1/crimes/{q(self.crn_a)}", {self.inc_a}, {self.crn_a}, set()),
            ("audit", f"/v1/audit?incident_id={q(self.inc_a)}", {self.inc_a}, {self.crn_a}, set()),
            ("pending", "/v1/pending?limit=1000", {self.inc_a}, set(), set()),
            ("audits", f"/v1/audits/{audit_id}", {self.inc_a, self.inc_b}, set(), set()),
            ("access-log", f"/v1/access-log?incident_id={q(self.inc_a)}", {self.inc_a}, set(), set()),
        ]
        for name, path, incs, crns, refs in reads:
            purpose = f"{uid('case')} {name}"
            status, body = self.get(path, purpose=purpose)
            self.assertEqual(status, 200, f"{path}: {body}")
            rec = self.one_record(purpose)
            self.assertEqual((rec["user"], rec["role"], rec["method"]), ("it-auditor-user", "auditor", "GET"), name)
            self.assertEqual(rec["client"], "127.0.0.1", name)
            self.assertTrue(rec["route"].startswith("/v1/"), rec)
            self.assertLessEqual(incs, set(rec["incident_ids"]), f"{name}: {rec}")
            self.assertLessEqual(crns, set(rec["crns"]), f"{name}: {rec}")
            self.assertLessEqual(refs, set(rec["person_refs"]), f"{name}: {rec}")
            # Only ids the reply holds: the other incident is not in a reply about the first.
            if name in ("incident", "events", "crime", "audit"):
                self.assertNotIn(self.inc_b, rec["incident_ids"], f"{name}: {rec}")

    def test_purpose_from_the_query_and_refusals_of_a_bad_one(self):
        purpose = uid("query purpose")
        status, body = self.api.get(f"/v1/crimes/{q(self.crn_b)}?purpose={q(purpose)}", role="supervisor")
        self.assertEqual(status, 200, body)
        rec = self.one_record(purpose)
        self.assertEqual((rec["user"], rec["role"], rec["crns"]), ("it-supervisor-user", "supervisor", [self.crn_b]))
        self.assertEqual(rec["route"], "/v1/crimes/{crn}")
        for path, headers in [(f"/v1/crimes/{q(self.crn_b)}?purpose=a&purpose=b", {}),
                              (f"/v1/crimes/{q(self.crn_b)}?purpose=a", {"X-Purpose": "b"}),
                              (f"/v1/crimes/{q(self.crn_b)}?purpose=", {}),
                              (f"/v1/crimes/{q(self.crn_b)}?purpose=" + "x" * 501, {})]:
            status, body = self.get(path, headers=headers)
            self.assertEqual(status, 400, f"{path}: {body}")
            self.assertEqual(body["error"]["field"], "purpose", body)

    def test_require_purpose(self):
        crime = f"/v1/crimes/{q(self.crn_a)}"
        try:
            self.set_config(**{"api.require_purpose": "yes"})
            status, body = self.poll("require_purpose in force", lambda: (lambda r: r if r[0] == 400 else None)(
                self.get(crime)))
            self.assertEqual(body["error"]["code"], "purpose_required", body)
            self.assertEqual(body["error"]["field"], "purpose", body)
            before = self.h.sql_value("SELECT count(*) FROM access_log")
            for path in [f"/v1/subjects/{q(self.ref)}", "/v1/pending", "/v1/access-log"]:
                status, body = self.get(path, role="fcr")
                self.assertEqual((status, body["error"]["field"]), (400, "purpose"), path)
            self.assertEqual(self.h.sql_value("SELECT count(*) FROM access_log"), before, "a refusal logs nothing")
            # A reply without personal data needs none.
            status, _ = self.get("/v1/reports/cdi?from=2026-03-01&to=2026-03-05")
            self.assertEqual(status, 200)
            purpose = uid("required")
            status, _ = self.get(crime, purpose=purpose)
            self.assertEqual(status, 200)
            self.one_record(purpose)
        finally:
            self.set_config()
            self.poll("require_purpose off again", lambda: self.get(crime)[0] == 200)

    # -- the table's privileges and the chain ---------------------------------------------
    def test_serving_login_may_only_append_through_the_function(self):
        conn = self.h.connect(user="fcrd")
        try:
            for sql in ["INSERT INTO access_log (at, user_id, role, method, route, path, entry, prev_hash, hash)"
                        " VALUES (now(), 'x', 'x', 'GET', '/', '/', '{}', '', '')",
                        "UPDATE access_log SET purpose = 'forged'",
                        "DELETE FROM access_log",
                        "UPDATE access_log_head SET hash = ''",
                        "TRUNCATE access_log"]:
                with conn.cursor() as cur, self.subTest(sql=sql):
                    with self.assertRaises(psycopg2.errors.InsufficientPrivilege):
                        cur.execute(sql)
            entry = json.dumps({"at": "2026-03-04T10:00:00.000Z", "client": None, "crns": [],
                                "incident_ids": ["by-hand"], "method": "GET", "path": "/by-hand",
                                "person_refs": [], "purpose": "appended by hand", "role": "auditor",
                                "route": "/by-hand", "user": "dpo"}, sort_keys=True, separators=(",", ":"))
            with conn.cursor() as cur:
                cur.execute("SELECT access_log_append(%s)", (entry,))
                self.assertEqual(cur.fetchone()[0], 1)
                cur.execute("SELECT has_function_privilege('fcrd', 'access_log_append(text)', 'EXECUTE'),"
                            " (SELECT prosecdef FROM pg_proc WHERE proname = 'access_log_append'),"
                            " (SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'access_log_append')")
                self.assertEqual(cur.fetchone(), (True, True, "fcrd_chain"))
        finally:
            conn.close()
        rec = self.one_record("appended by hand")
        self.assertEqual((rec["user"], rec["incident_ids"]), ("dpo", ["by-hand"]))
        # The superuser cannot edit a record either: the table refuses it.
        with self.assertRaises(psycopg2.Error):
            self.h.sql("UPDATE access_log SET purpose = 'x' WHERE purpose = 'appended by hand'")

    def test_chain_verifies(self):
        self.get(f"/v1/incidents/{q(self.inc_b)}", purpose="chain")
        rows = self.h.sql("SELECT entry, prev_hash, hash FROM access_log ORDER BY id")
        self.assertGreater(len(rows), 0)
        prev = ""
        for entry, prev_hash, h in rows:
            self.assertEqual(prev_hash, prev)
            self.assertEqual(h, hashlib.sha256((prev + entry).encode("utf-8")).hexdigest())
            prev = h
        self.assertEqual(self.h.sql_value("SELECT hash FROM access_log_head"), prev)
        # The check docs/operations.md gives the data protection officer agrees.
        self.assertTrue(self.h.sql_value(
            "SELECT bool_and(ok) FROM (SELECT hash = encode(sha256(convert_to(prev_hash || entry, 'UTF8')), 'hex')"
            " AND prev_hash = coalesce(lag(hash) OVER (ORDER BY id), '') AS ok FROM access_log) AS x"))
        # The stored columns are those of the hashed text.
        bad = self.h.sql_value("SELECT count(*) FROM access_log WHERE entry::jsonb->>'user' <> user_id"
                               " OR entry::jsonb->'incident_ids' <> to_jsonb(incident_ids)")
        self.assertEqual(bad, 0)

    def access_metric(self, result):
        status, text = self.api.get("/metrics", role="ops")
        self.assertEqual(status, 200)
        m = re.search(r'^fcrd_access_log_records_total\{result="%s"\} (\d+)$' % result, text, re.M)
        self.assertIsNotNone(m, text)
        return int(m.group(1))

    def test_no_reply_without_its_record(self):
        purpose = uid("refused")
        failed, written = self.access_metric("failed"), self.access_metric("written")
        self.h.sql("REVOKE EXECUTE ON FUNCTION access_log_append(text) FROM fcrd_app")
        try:
            for path in [f"/v1/incidents/{q(self.inc_a)}", f"/v1/subjects/{q(self.ref)}"]:
                status, body = self.get(path, role="fcr", purpose=purpose)
                self.assertEqual(status, 503, body)
                self.assertEqual(body["error"]["code"], "access_log_unavailable", body)
                self.assertNotIn(self.inc_a, json.dumps(body))
        finally:
            self.h.sql("GRANT EXECUTE ON FUNCTION access_log_append(text) TO fcrd_app")
        self.assertEqual(self.records(purpose), [])
        self.assertEqual(self.access_metric("failed"), failed + 2)
        status, body = self.get(f"/v1/incidents/{q(self.inc_a)}", purpose=purpose)
        self.assertEqual(status, 200, body)
        self.assertEqual(len(self.records(purpose)), 1)
        self.assertGreater(self.access_metric("written"), written)

    def test_a_batch_that_takes_too_long_fails_its_replies(self):
        """The log's head locked by another transaction: the batch waits, past
        [api] access_log_timeout_ms, and the read is refused; once the lock goes, reads work."""
        crime = f"/v1/crimes/{q(self.crn_a)}"
        purpose = uid("stalled")
        locker = self.h.connect(autocommit=False)
        try:
            self.set_config(**{"api.access_log_timeout_ms": "300"})
            self.poll("the reload applied", lambda: "access_log_timeout_ms" in self.h.log_text())
            with locker.cursor() as cur:
                cur.execute("LOCK TABLE access_log_head IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            status, body = self.get(crime, purpose=purpose)
            self.assertEqual((status, body["error"]["code"]), (503, "access_log_unavailable"), body)
            self.assertLess(time.monotonic() - started, 10)
        finally:
            locker.rollback()
            locker.close()
            self.set_config()
        self.poll("reads served again", lambda: self.get(crime, purpose=purpose)[0] == 200)
        self.assertGreaterEqual(len(self.records(purpose)), 1)
        self.assertIn("an access log batch took too long", self.h.log_text())

    def test_a_burst_of_reads_is_written_in_shared_batches(self):
        purpose = uid("burst")
        path = f"/v1/crimes/{q(self.crn_a)}"
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda _: self.get(path, purpose=purpose)[0], range(48)))
        self.assertEqual(results, [200] * 48)
        self.assertEqual(len(self.records(purpose)), 48)
        txns = self.h.sql_value("SELECT count(DISTINCT xmin::text) FROM access_log WHERE purpose = %s", (purpose,))
        self.assertLessEqual(txns, 48)

    # -- what-if results ------------------------------------------------------------------
    def whatif(self, purpose):
        with open(os.path.join(harness.SOURCE_ROOT, "conf", "rules", "hocr-2025.json"), encoding="utf-8") as f:
            rs = json.load(f)
        rs = copy.deepcopy(rs)
        rs["version"] = "hocr-2026.0"
        for entry in rs["lexicon"]["assault.injury"]:
            if entry["offence"] == "8N":
                entry["offence"] = "105A"
        conn = http.client.HTTPConnection("127.0.0.1", self.h.api_port, timeout=60)
        try:
            body = json.dumps({"ruleset": rs, "from": "2026-03-02", "to": "2026-03-03"})
            conn.request("POST", "/v1/whatif", body=body,
                         headers={"Authorization": f"Bearer {self.h.tokens['auditor']}",
                                  "Content-Type": "application/json", "X-Purpose": purpose})
            resp = conn.getresponse()
            return resp.status, [json.loads(x) for x in resp.read().decode().splitlines() if x.strip()]
        finally:
            conn.close()

    def test_whatif_results_are_logged_before_they_are_sent(self):
        purpose = uid("whatif")
        status, lines = self.whatif(purpose)
        self.assertEqual(status, 200, lines)
        self.assertIn("summary", lines[-1], lines[-3:])
        changed = {x["change"]["incident_id"] for x in lines if "change" in x}
        self.assertIn(self.inc_a, changed)
        logged = set()
        for rec in self.records(purpose):
            self.assertEqual((rec["route"], rec["method"], rec["user"]), ("/v1/whatif", "POST", "it-auditor-user"))
            logged |= set(rec["incident_ids"])
        self.assertLessEqual(changed, logged)
        # A record that cannot be written: the changes are not sent, the stream ends in an error.
        purpose = uid("whatif refused")
        self.h.sql("REVOKE EXECUTE ON FUNCTION access_log_append(text) FROM fcrd_app")
        try:
            status, lines = self.whatif(purpose)
        finally:
            self.h.sql("GRANT EXECUTE ON FUNCTION access_log_append(text) TO fcrd_app")
        self.assertEqual(status, 200, lines)
        self.assertEqual([x for x in lines if "change" in x or "summary" in x], [], lines)
        self.assertEqual(lines[-1]["error"]["code"], "access_log_unavailable", lines)
        self.assertEqual(self.records(purpose), [])

    # -- GET /v1/access-log ----------------------------------------------------------------
    def test_access_log_filters_and_paging(self):
        marker = uid("paging")
        for i in range(5):
            self.get(f"/v1/crimes/{q(self.crn_b)}", role="supervisor", purpose=f"{marker} {i}")
        status, body = self.get(f"/v1/access-log?user=it-supervisor-user&incident_id={q(self.inc_b)}&limit=2",
                                purpose="paging")
        self.assertEqual(status, 200, body)
        seen, after = [], None
        while True:
            path = f"/v1/access-log?user=it-supervisor-user&incident_id={q(self.inc_b)}&limit=2"
            if after:
                path += f"&after={q(after)}"
            status, body = self.get(path, purpose="paging")
            self.assertEqual(status, 200, body)
            self.assertLessEqual(len(body["items"]), 2)
            seen += body["items"]
            after = body["next"]
            if not after:
                break
        mine = [it for it in seen if (it["purpose"] or "").startswith(marker)]
        self.assertEqual([it["purpose"] for it in mine], [f"{marker} {i}" for i in range(5)])
        self.assertEqual([it["id"] for it in seen], sorted(it["id"] for it in seen))
        for it in seen:
            self.assertEqual(it["user"], "it-supervisor-user")
            self.assertIn(self.inc_b, it["incident_ids"])
            self.assertEqual(it["chain"], "access")
        status, body = self.get(f"/v1/access-log?ref={q(self.ref)}&limit=1000")
        self.assertEqual(status, 200, body)
        self.assertTrue(all(self.ref in it["person_refs"] for it in body["items"]), body)
        status, body = self.get("/v1/access-log?from=2000-01-01&to=2000-01-02")
        self.assertEqual((status, body["items"]), (200, []))
        for path, field in [("/v1/access-log?from=yesterday", "from"), ("/v1/access-log?after=x", "after"),
                            ("/v1/access-log?limit=0", "limit"), ("/v1/access-log?colour=red", "colour")]:
            status, body = self.get(path)
            self.assertEqual((status, body["error"]["field"]), (400, field), path)
        for role, want in [("ops", 403), ("auditor", 200), ("fcr", 200)]:
            self.assertEqual(self.get("/v1/access-log?limit=1", role=role)[0], want, role)

    # -- subject access --------------------------------------------------------------------
    def test_subject_export_across_incidents(self):
        purpose = uid("subject access request")
        status, body = self.get(f"/v1/subjects/{q(self.ref)}", role="fcr", purpose=purpose)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["ref"], self.ref)
        by_inc = {it["incident_id"]: it for it in body["incidents"]}
        self.assertEqual(set(by_inc), {self.inc_a, self.inc_b})
        a = by_inc[self.inc_a]
        self.assertEqual([p["id"] for p in a["persons"]], ["v1"])
        self.assertEqual([al["id"] for al in a["allegations"]], ["a1"])
        self.assertEqual([c["crn"] for c in a["crimes"]], [self.crn_a])
        self.assertEqual(a["pending"], [])
        self.assertTrue(a["audit"], a)
        self.assertTrue(all(e["crn"] == self.crn_a or e["allegation"] == "a1" or self.ref in e["entry"]
                            for e in a["audit"]), a["audit"])
        self.assertEqual([c["crn"] for c in by_inc[self.inc_b]["crimes"]], [self.crn_b])
        rec = self.one_record(purpose)
        self.assertEqual((rec["user"], rec["role"], rec["route"]), ("it-fcr-user", "fcr", "/v1/subjects/{ref}"))
        self.assertEqual(set(rec["incident_ids"]), {self.inc_a, self.inc_b})
        self.assertEqual(set(rec["crns"]), {self.crn_a, self.crn_b})
        self.assertIn(self.ref, rec["person_refs"])
        # The other victim: the pending decision about them, not the first victim's crime.
        status, body = self.get(f"/v1/subjects/{q(self.ref2)}", role="fcr", purpose=purpose + " 2")
        self.assertEqual(status, 200, body)
        (only,) = body["incidents"]
        self.assertEqual([p["id"] for p in only["pending"]], [self.pending_a])
        self.assertEqual(only["crimes"], [])
        # A suspect is found through the allegation naming them.
        status, body = self.get(f"/v1/subjects/{q(self.sref)}", role="fcr")
        self.assertEqual([al["id"] for al in body["incidents"][0]["allegations"]], ["a1"])
        # Nobody known: an empty export, still logged.
        status, body = self.get("/v1/subjects/nobody-known", role="fcr", purpose=purpose + " 3")
        self.assertEqual((status, body), (200, {"ref": "nobody-known", "incidents": []}))
        self.assertEqual(self.one_record(purpose + " 3")["person_refs"], ["nobody-known"])
        for role in ["auditor", "supervisor", "ddm"]:
            self.assertEqual(self.get(f"/v1/subjects/{q(self.ref)}", role=role)[0], 403, role)

    # -- fcrctl ----------------------------------------------------------------------------
    def fcrctl(self, *args, role="auditor"):
        env = {k: v for k, v in os.environ.items() if k not in ("FCRD_TOKEN", "FCRD_URL")}
        env["FCRD_TOKEN"] = self.h.tokens[role]
        env["FCRD_URL"] = f"http://127.0.0.1:{self.h.api_port}"
        r = subprocess.run([FCRCTL_BIN, *args], env=env, capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr

    def test_fcrctl_access_log_and_subject(self):
        self.get(f"/v1/incidents/{q(self.inc_b)}", role="ddm", purpose="fcrctl check")
        rc, out, err = self.fcrctl("access-log", "--user", "it-ddm-user", "--incident", self.inc_b, "--json")
        self.assertEqual(rc, 0, err)
        items = json.loads(out)["items"]
        self.assertTrue(items and all(it["user"] == "it-ddm-user" for it in items), out)
        self.assertIn("fcrctl check", [it["purpose"] for it in items])
        rc, out, err = self.fcrctl("access-log", "--ref", self.ref, "--all")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines()[0].split()[:5], ["ID", "AT", "USER", "ROLE", "ROUTE"], out)
        self.assertIn(self.ref, out)
        rc, _, err = self.fcrctl("access-log", "--from", "not-a-date")
        self.assertEqual(rc, 6, err)
        self.assertIn("from", err)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "export.json")
            rc, out, err = self.fcrctl("subject", self.ref, "--json", "--out", path, "--purpose", "SAR 17",
                                       role="fcr")
            self.assertEqual(rc, 0, err)
            with open(path, encoding="utf-8") as f:
                export = json.load(f)
            self.assertEqual({it["incident_id"] for it in export["incidents"]}, {self.inc_a, self.inc_b})
            self.assertEqual(os.stat(path).st_mode & 0o077, 0, "the export is readable by its owner only")
        self.assertEqual(self.one_record("SAR 17")["route"], "/v1/subjects/{ref}")
        rc, _, err = self.fcrctl("subject", self.ref, "--json", role="auditor")
        self.assertNotEqual(rc, 0)


if __name__ == "__main__":
    harness.main()
