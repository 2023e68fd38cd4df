#!/usr/bin/env python3
"""test_api.py: every endpoint of the supervisor API with every role, through the real fcrd:
authentication and roles (nothing written on 401/403), the pending queue (order, filters,
paging), deciding, cancelling and reclassifying, the audit trail and its hash chain, the
OpenAPI document against the route table fcrd serves (both ways, roles included), tokens re-read on SIGHUP, and the
crime-data-integrity report on a period whose figures are known by construction."""
import hashlib
import http.client
import json
import math
import os
import re
import signal
import subprocess
import time
import urllib.parse

import yaml

import harness
from harness import DaemonTestCase, assault_opened, event, third_party_opened, uid

ROLES = ["ops", "auditor", "supervisor", "ddm", "fcr"]


def q(crn):
    return urllib.parse.quote(crn, safe="")


def rape_opened(incident_id, at="2026-03-02T10:00:00Z"):
    return event(incident_id, 1, "incident.opened", at, reported_by="v1",
                 persons=[{"id": "v1", "role": "victim", "sex": "female", "age": 30, "confirms": True}],
                 allegations=[{"id": "a1", "victim": "v1", "conduct": "rape", "occurred_at": at,
                               "location": {"force_area": "own", "premises": "dwelling"}}])


def wilson(x, n, z=1.959963984540054):
    p = x / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
    return max(0.0, centre - half), min(1.0, centre + half)


class ApiTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = cls.h.api

    # -- helpers --------------------------------------------------------------------------
    def crime_of(self, reply):
        self.assertTrue(reply["crimes"], json.dumps(reply))
        return reply["crimes"][0]["crn"]

    def pending_of(self, reply):
        self.assertTrue(reply["pending"], json.dumps(reply))
        return reply["pending"][0]["id"]

    def writes(self):
        return self.h.sql_value("SELECT (SELECT count(*) FROM audit) + (SELECT count(*) FROM crimes)"
                                " + (SELECT count(*) FROM pending_decisions WHERE status = 'closed')")

    # -- authentication and roles ---------------------------------------------------------
    def test_role_matrix_and_nothing_written_when_refused(self):
        crn = self.crime_of(self.send_accepted(assault_opened(uid("ROLE")))[0])
        pid = self.pending_of(self.send_accepted(third_party_opened(uid("ROLE")))[0])
        inc = uid("ROLEX")
        self.send_accepted(assault_opened(inc))
        reads = [f"/v1/pending", f"/v1/incidents/{inc}", f"/v1/crimes/{q(crn)}", f"/v1/audit?crn={q(crn)}",
                 "/v1/reports/cdi?from=2026-01-01&to=2026-12-31"]
        # Bodies that are invalid on purpose: an allowed role gets 400 and nothing is written.
        writes = [(f"/v1/pending/{pid}/decision", "supervisor"),
                  (f"/v1/crimes/{q(crn)}/cancel", "ddm"),
                  (f"/v1/crimes/{q(crn)}/reclassify", "ddm")]
        level = {r: i for i, r in enumerate(ROLES)}
        before = self.writes()
        for path in reads:
            self.assertEqual(self.api.get(path)[0], 401, path)
            self.assertEqual(self.api.get(path, token="not-a-known-token-at-all")[0], 401, path)
            self.assertEqual(self.api.get(path, role="ops")[0], 403, path)
            for role in ROLES[1:]:
                status, body = self.api.get(path, role=role)
                self.assertEqual(status, 200, f"{role} {path}: {body}")
        for path, least in writes:
            self.assertEqual(self.api.request("POST", path, {})[0], 401, path)
            for role in ROLES:
                status, body = self.api.request("POST", path, {"unexpected": 1}, role=role)
                want = 400 if level[role] >= level[least] else 403
                self.assertEqual(status, want, f"{role} POST {path}: {body}")
        self.assertEqual(self.writes(), before, "refused and invalid requests wrote nothing")
        # Health needs no token.
        self.assertEqual(self.api.get("/healthz")[0], 200)
        self.assertIn(self.api.get("/readyz")[0], (200, 503))
        # Errors are JSON with a code.
        status, body = self.api.get("/v1/nothing-here", role="fcr")
        self.assertEqual(status, 404)
        self.assertEqual(body["error"]["code"], "not_found")

    # -- the pending queue ----------------------------------------------------------------
    def test_pending_items_are_the_stored_rows(self):
        """Each queue item states its stored row exactly: times to the second in UTC (floored,
        also before 1970), the cursor to the microsecond, nulls as nulls. The expected items are
        built here by PostgreSQL from the rows themselves."""
        tag = uid("PR")
        first = self.pending_of(self.send_accepted(third_party_opened(tag + "-1", at="2019-05-06T07:08:09Z"))[0])
        second = self.pending_of(self.send_accepted(third_party_opened(tag + "-2", at="2019-05-06T07:08:10Z"))[0])
        # Due before every other decision, with a fraction of a second; opened before 1970.
        self.h.sql("UPDATE pending_decisions SET due = '1969-12-31 23:59:58.250001+00',"
                   " opened_at = '1969-12-31 23:59:57.5+00', victim = NULL WHERE id = %s", (first,))
        self.h.sql("UPDATE pending_decisions SET due = '1969-12-31 23:59:58.250002+00' WHERE id = %s", (second,))
        try:
            expected = self.h.sql(
                "SELECT json_build_object('id', id, 'incident_id', incident_id, 'reason', reason,"
                " 'opened_at', to_char(opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                " 'due', to_char(due AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                " 'overdue', due < now(), 'flags', to_json(flags), 'victim', victim,"
                " 'candidate_offence', candidate_offence, 'allegation', allegation)"
                " FROM pending_decisions WHERE id IN (%s, %s) ORDER BY due", (first, second))
            status, page = self.api.get("/v1/pending?limit=1", role="auditor")
            self.assertEqual(status, 200, page)
            item = dict(page["items"][0])
            self.assertIs(item.pop("repeat_victim"), False)
            self.assertEqual(item, expected[0][0])
            self.assertEqual((item["opened_at"], item["due"], item["victim"]),
                             ("1969-12-31T23:59:57Z", "1969-12-31T23:59:58Z", None))
            self.assertEqual(page["next"], f"1969-12-31T23:59:58.250001Z|{first}")
            # The cursor names that due exactly: the next page starts with the decision due a
            # microsecond later.
            status, page = self.api.get(f"/v1/pending?limit=1&after={urllib.parse.quote(page['next'])}",
                                        role="auditor")
            self.assertEqual(status, 200, page)
            item = dict(page["items"][0])
            item.pop("repeat_victim")
            self.assertEqual(item, expected[1][0])
        finally:
            self.h.sql("UPDATE pending_decisions SET status = 'closed' WHERE id IN (%s, %s)", (first, second))

    def test_pending_queue_order_filters_paging(self):
        tag = uid("PQ")
        early = self.pending_of(self.send_accepted(third_party_opened(tag + "-1", at="2020-01-01T10:00:00Z"))[0])
        late = self.pending_of(self.send_accepted(third_party_opened(tag + "-2", at="2020-01-01T11:00:00Z"))[0])
        da = third_party_opened(tag + "-3", at="2020-01-01T12:00:00Z", qualifiers=["domestic"],
                                victim_extra={"relationships": [{"to": "s1", "kind": "partner"}], "sex": "female"})
        da["persons"].append({"id": "s1", "role": "suspect", "age": 35,
                              "relationships": [{"to": "v1", "kind": "partner"}]})
        da["allegations"][0]["suspects"] = ["s1"]
        self.send_accepted(da)
        status, body = self.api.get("/v1/pending?overdue=true&limit=1000", role="auditor")
        self.assertEqual(status, 200)
        ids = [i["id"] for i in body["items"]]
        self.assertLess(ids.index(early), ids.index(late), "soonest due first")
        dues = [i["due"] for i in body["items"]]
        self.assertEqual(dues, sorted(dues))
        item = body["items"][ids.index(early)]
        self.assertTrue(item["overdue"])
        self.assertEqual(item["reason"], "third_party_unconfirmed")
        self.assertEqual(item["due"], "2020-01-02T10:00:00Z", "due 24 hours after first contact")
        # Paging with the cursor visits every item once, in order.
        seen, after = [], None
        while True:
            path = "/v1/pending?overdue=true&limit=2" + (f"&after={urllib.parse.quote(after)}" if after else "")
            status, page = self.api.get(path, role="auditor")
            self.assertEqual(status, 200, page)
            seen += [i["id"] for i in page["items"]]
            after = page["next"]
            if not after:
                break
        self.assertEqual(seen, ids)
        # Filters.
        status, body = self.api.get("/v1/pending?reason=third_party_unconfirmed&limit=1000", role="auditor")
        self.assertTrue(all(i["reason"] == "third_party_unconfirmed" for i in body["items"]))
        status, body = self.api.get("/v1/pending?flag=domestic_abuse&limit=1000", role="auditor")
        self.assertTrue(body["items"] and all("domestic_abuse" in i["flags"] for i in body["items"]), body)
        # Bad parameters name the field.
        for path, field in [("/v1/pending?limit=0", "limit"), ("/v1/pending?overdue=maybe", "overdue"),
                            ("/v1/pending?after=garbage", "after"), ("/v1/pending?colour=red", "colour")]:
            status, body = self.api.get(path, role="auditor")
            self.assertEqual((status, body["error"]["field"]), (400, field), path)

    # -- deciding, cancelling, reclassifying ----------------------------------------------
    def test_decide_record_then_conflict(self):
        inc = uid("DEC")
        pid = self.pending_of(self.send_accepted(third_party_opened(inc))[0])
        status, body = self.api.request("POST", f"/v1/pending/{pid}/decision",
                                        {"decision": "record", "rationale": "CCTV confirms the assault"},
                                        role="supervisor")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["pending"]["status"], "closed")
        self.assertEqual(len(body["crimes"]), 1)
        crn = body["crimes"][0]["crn"]
        self.assertRegex(crn, r"^XX/\d{4}/\d{6}$")
        status, view = self.api.get(f"/v1/incidents/{inc}", role="auditor")
        self.assertEqual([c["crn"] for c in view["crimes"]], [crn])
        self.assertEqual(view["pending"], [])
        self.assertEqual(self.h.sql_value("SELECT status FROM pending_decisions WHERE id = %s", (pid,)), "closed")
        status, body = self.api.request("POST", f"/v1/pending/{pid}/decision",
                                        {"decision": "no_crime", "rationale": "again"}, role="fcr")
        self.assertEqual(status, 409, body)
        status, audit = self.api.get(f"/v1/audit?incident_id={inc}", role="auditor")
        people = [e for e in audit["items"] if e["actor"] != "rules"]
        self.assertTrue(people and all(e["role"] == "supervisor" for e in people), people)
        self.assertEqual(self.api.request("POST", "/v1/pending/PD-0/decision",
                                          {"decision": "record", "rationale": "x"}, role="fcr")[0], 404)

    def test_c3_finds_the_crime_against_the_same_person(self):
        """A C3 naming no surviving crime takes the earliest other recorded crime of the same offence
        whose victim has the same command-and-control `ref`, in any incident; another person's
        earlier crime of that offence is not it."""
        ref, other_ref = uid("REF"), uid("REF-OTHER")
        earlier = assault_opened(uid("C3X"), at="2026-03-02T09:00:00Z")
        earlier["persons"][0]["ref"] = other_ref
        first = assault_opened(uid("C3A"), at="2026-03-02T10:00:00Z")
        first["persons"][0]["ref"] = ref
        second = assault_opened(uid("C3B"), at="2026-03-02T11:00:00Z")
        second["persons"][0]["ref"] = ref
        crns = [self.crime_of(r) for r in self.send_accepted(earlier, first, second)]
        status, body = self.api.request("POST", f"/v1/crimes/{q(crns[2])}/cancel",
                                        {"reason": "C3", "rationale": "the same assault reported twice"},
                                        role="ddm")
        self.assertEqual((status, body["status"]), (200, "cancelled"), body)
        status, trail = self.api.get(f"/v1/audit?crn={q(crns[2])}", role="auditor")
        cancelled = [e for e in trail["items"] if e["action"] == "crime.cancelled"]
        self.assertEqual(len(cancelled), 1, trail)
        self.assertEqual(cancelled[0]["after"]["cancellation"]["duplicate_of"], crns[1])
        # With no crime against the same person, nothing is guessed.
        status, body = self.api.request("POST", f"/v1/crimes/{q(crns[0])}/cancel",
                                        {"reason": "C3", "rationale": "thought to be a duplicate"}, role="ddm")
        self.assertEqual((status, body["error"]["code"]), (422, "duplicate_of_required"), body)

    def test_cancel_and_reclassify(self):
        crn = self.crime_of(self.send_accepted(assault_opened(uid("CAN")))[0])
        status, body = self.api.request("POST", f"/v1/crimes/{q(crn)}/cancel",
                                        {"reason": "C2", "rationale": "footage"}, role="ddm")
        self.assertEqual((status, body["error"]["code"]), (422, "avi_required"))
        status, body = self.api.request("POST", f"/v1/crimes/{q(crn)}/reclassify",
                                        {"offence": "105A", "rationale": "no injury"}, role="ddm")
        self.assertEqual((status, body["offence"]), (200, "105A"), body)
        status, body = self.api.request("POST", f"/v1/crimes/{q(crn)}/reclassify",
                                        {"offence": "105A", "rationale": "again"}, role="ddm")
        self.assertEqual((status, body["error"]["code"]), (422, "offence_unchanged"))
        status, body = self.api.request("POST", f"/v1/crimes/{q(crn)}/cancel",
                                        {"reason": "C4", "rationale": "keyed in error",
                                         "victim_informed_at": "2026-03-03T09:00:00Z"}, role="ddm")
        self.assertEqual((status, body["status"]), (200, "cancelled"), body)
        status, crime = self.api.get(f"/v1/crimes/{q(crn)}", role="auditor")
        self.assertEqual(crime["status"], "cancelled", "a cancelled crime stays visible")
        actions = [e["action"] for e in crime["history"]]
        self.assertIn("crime.reclassified", actions)
        self.assertIn("crime.cancelled", actions)
        self.assertEqual(self.api.request("POST", f"/v1/crimes/{q(crn)}/cancel",
                                          {"reason": "C4", "rationale": "x"}, role="fcr")[0], 409)
        # Rape: the registrar only.
        rape = self.crime_of(self.send_accepted(rape_opened(uid("RAPE")))[0])
        status, body = self.api.request("POST", f"/v1/crimes/{q(rape)}/cancel",
                                        {"reason": "C4", "rationale": "x"}, role="ddm")
        self.assertEqual(status, 403, body)
        self.assertEqual(self.h.sql_value("SELECT status FROM crimes WHERE crn = %s", (rape,)), "recorded")
        status, body = self.api.request("POST", f"/v1/crimes/{q(rape)}/cancel",
                                        {"reason": "C4", "rationale": "entered against the wrong person"},
                                        role="fcr")
        self.assertEqual(status, 200, body)

    # -- the audit trail ------------------------------------------------------------------
    def test_audit_chain_over_the_api(self):
        self.send_accepted(assault_opened(uid("CHAIN")))
        entries, after = [], None
        while True:
            path = "/v1/audit?limit=500" + (f"&after={after}" if after else "")
            status, page = self.api.get(path, role="auditor")
            self.assertEqual(status, 200)
            entries += page["items"]
            after = page["next"]
            if not after:
                break
        self.assertTrue(entries)
        last = {}
        for e in entries:
            self.assertIn(e["chain"], range(1, 17), f"entry {e['id']} names its chain")
            prev = last.get(e["chain"], "")
            self.assertEqual(e["prev_hash"], prev, f"entry {e['id']} links to the one before in its chain")
            self.assertEqual(hashlib.sha256((prev + e["entry"]).encode()).hexdigest(), e["hash"], e["id"])
            body = json.loads(e["entry"])
            for key in ("action", "actor", "role", "crn", "incident_id", "before", "after", "rules", "at"):
                self.assertEqual(body.get(key), e.get(key), f"entry {e['id']} field {key}")
            last[e["chain"]] = e["hash"]

    # -- the contract and the routes ------------------------------------------------------
    def test_openapi_matches_routes(self):
        """proto/openapi.yaml and the route table fcrd serves (`fcrd --routes`) list the same
        operations, each with the same least role; and fcrd answers each as a known endpoint."""
        with open(os.path.join(harness.SOURCE_ROOT, "proto", "openapi.yaml"), encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        documented = set()
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if method not in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
                    continue
                self.assertIn("x-fcrd-role", op, f"{method} {path} names its least role")
                role = op["x-fcrd-role"]
                # An operation open to all says so to OpenAPI too, and only such an operation.
                self.assertEqual(op.get("security", doc["security"]) == [], role == "none", f"{method} {path}")
                documented.add((method.upper(), path, role))
        self.assertTrue(documented, "operations read from the OpenAPI document")
        listing = subprocess.run([harness.FCRD_BIN, "--routes"], capture_output=True, text=True, timeout=30,
                                 check=True).stdout.splitlines()
        served = {tuple(line.split(" ")) for line in listing}
        self.assertTrue(served and all(len(r) == 3 for r in served), listing)
        self.assertEqual(len(served), len(listing), "no route is listed twice")
        self.assertEqual(sorted(documented - served), [], "documented (method, path, role) not routed so")
        self.assertEqual(sorted(served - documented), [], "routed (method, path, role) not documented so")
        for method, p, _ in sorted(documented):
            if method == "HEAD":
                continue
            concrete = re.sub(r"\{[^}]+\}", "X", p)
            if p == "/v1/stream":
                # Never ends by itself: the status line and the headers are the answer here.
                conn = http.client.HTTPConnection("127.0.0.1", self.h.api_port, timeout=harness.REPLY_TIMEOUT)
                conn.request(method, concrete, headers={"Authorization": f"Bearer {self.h.tokens['fcr']}"})
                resp = conn.getresponse()
                conn.close()
                self.assertEqual((resp.status, resp.getheader("Content-Type")), (200, "text/event-stream"))
                continue
            status, body = self.api.request(method, concrete, {} if method == "POST" else None, role="fcr")
            message = (body or {}).get("error", {}).get("message", "") if isinstance(body, dict) else ""
            self.assertNotIn(status, (401, 403, 405), f"{method} {concrete}")
            self.assertNotEqual(message, "no such endpoint", f"{method} {concrete}")

    # -- tokens file re-read on SIGHUP ----------------------------------------------------
    def test_tokens_reloaded_on_sighup(self):
        path = os.path.join(self.h.workdir, "tokens")
        with open(path, encoding="utf-8") as f:
            original = f.read()
        fresh = "it-fresh-token-" + uid("T").lower()
        try:
            lines = [ln for ln in original.splitlines() if f"it-auditor-" not in ln.split(" ")[0]]
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines + [f"{fresh} new-auditor auditor"]) + "\n")
            os.kill(self.h.proc.pid, signal.SIGHUP)
            deadline = time.time() + 10
            while time.time() < deadline and self.api.get("/v1/pending", token=fresh)[0] != 200:
                time.sleep(0.1)
            self.assertEqual(self.api.get("/v1/pending", token=fresh)[0], 200)
            self.assertEqual(self.api.get("/v1/pending", role="auditor")[0], 401, "removed token refused")
        finally:
            with open(path, "w", encoding="utf-8") as f:
                f.write(original)
            os.kill(self.h.proc.pid, signal.SIGHUP)
            deadline = time.time() + 10
            while time.time() < deadline and self.api.get("/v1/pending", role="auditor")[0] != 200:
                time.sleep(0.1)

    # -- the self-audit report ------------------------------------------------------------
    def test_cdi_report_on_a_constructed_period(self):
        """A period (January 2019) holding exactly these incidents, so every figure is known."""
        day = "2019-01-%02dT10:00:00Z"
        tag = uid("CDI")
        replies = self.send_accepted(assault_opened(f"{tag}-A1", at=day % 3), assault_opened(f"{tag}-A2", at=day % 4),
                            assault_opened(f"{tag}-A3", at=day % 5), rape_opened(f"{tag}-R1", at=day % 6))
        cancel = self.crime_of(replies[0])
        # Confirmed 2 hours and 30 hours after first contact.
        for name, later in (("C2H", "2019-01-08T12:00:00Z"), ("C30H", "2019-01-09T16:00:00Z")):
            self.send_accepted(third_party_opened(f"{tag}-{name}", at=day % 8))
            self.send_accepted(event(f"{tag}-{name}", 2, "incident.updated", later,
                            persons=[{"id": "v1", "role": "victim", "sex": "male", "age": 40, "confirms": True}]))
        # Two never confirmed: recording debt.
        self.send_accepted(third_party_opened(f"{tag}-U1", at=day % 10), third_party_opened(f"{tag}-U2", at=day % 11))
        # Domestic abuse recorded at first contact.
        da = assault_opened(f"{tag}-DA", at=day % 12)
        da["persons"] = [{"id": "v1", "role": "victim", "sex": "female", "age": 30, "confirms": True,
                          "relationships": [{"to": "s1", "kind": "partner"}]},
                         {"id": "s1", "role": "suspect", "sex": "male", "age": 33}]
        self.send_accepted(da)
        # A hidden crime in an ASB incident, reviewed and closed as no crime.
        asb = event(f"{tag}-ASB", 1, "incident.opened", day % 13, category="asb",
                    narrative="Neighbour says youths kicked her door in and threatened her with a knife.")
        pid = self.pending_of(self.send_accepted(asb)[0])
        status, body = self.api.request("POST", f"/v1/pending/{pid}/decision",
                                        {"decision": "no_crime", "reason_code": "evidence_against",
                                         "rationale": "door intact, CCTV shows nobody"}, role="supervisor")
        self.assertEqual(status, 200, body)
        status, body = self.api.request("POST", f"/v1/crimes/{q(cancel)}/cancel",
                                        {"reason": "C4", "rationale": "test record"}, role="ddm")
        self.assertEqual(status, 200, body)

        status, report = self.api.get("/v1/reports/cdi?from=2019-01-01&to=2019-01-31", role="auditor")
        self.assertEqual(status, 200, report)
        strata = {s["name"]: s for s in report["strata"]}
        # Live crimes: A2, A3, C2H, C30H, DA (violence) and R1 (rape); A1 cancelled.
        expect = {"all_crime": (6, 2, 4, 5), "violence_against_the_person": (5, 2, 3, 4), "rape": (1, 0, 1, 1),
                  "sexual_offences": (1, 0, 1, 1), "domestic_abuse": (1, 0, 1, 1)}
        for name, (crimes, debt, first, within) in expect.items():
            s = strata[name]
            self.assertEqual((s["crimes"], s["overdue_pending"], s["first_contact"], s["within_24h"]),
                             (crimes, debt, first, within), name)
            self.assertAlmostEqual(s["rate"], crimes / (crimes + debt), places=9, msg=name)
            lo, hi = wilson(crimes, crimes + debt)
            self.assertAlmostEqual(s["ci_low"], lo, places=9, msg=name)
            self.assertAlmostEqual(s["ci_high"], hi, places=9, msg=name)
        self.assertEqual(strata["violence_against_the_person"]["incidents"], 8)
        self.assertEqual(report["incidents_in_period"], 10)
        self.assertEqual(report["cancellations"], [{"reason": "C4", "role": "ddm", "count": 1}])
        hidden = report["hidden_crime_reviews"]
        self.assertEqual((hidden["opened"], hidden["no_crime"], hidden["open"]), (1, 1, 0))
        status, body = self.api.get("/v1/reports/cdi?from=2019-02-01&to=2019-01-01", role="auditor")
        self.assertEqual((status, body["error"]["field"]), (400, "to"))


if __name__ == "__main__":
    harness.main()
