#!/usr/bin/env python3
"""test_accept.py: an accepted event is committed everywhere before its reply, and the supervisor
API shows it to the right roles only."""
import json
import os
import re
import subprocess

import harness
from harness import SOURCE_ROOT, DaemonTestCase, assault_opened, event, uid


def two_allegations(incident_id):
    """One recordable assault (v1) and one allegation with an offence code no rule set knows
    (v2): accepted with a warning and left to a person as a pending decision."""
    return event(
        incident_id, 1, "incident.opened", "2026-03-02T22:40:00Z",
        channel="emergency_call",
        narrative="Fight outside a takeaway. One man punched, nose bleeding; his friend says "
                  "something else happened to him but is vague about it.",
        reported_by="v1",
        persons=[{"id": "v1", "role": "victim", "sex": "male", "age": 27, "confirms": True,
                  "relationships": [{"to": "s1", "kind": "stranger"}]},
                 {"id": "v2", "role": "victim", "sex": "male", "age": 28, "confirms": True},
                 {"id": "s1", "role": "suspect", "sex": "male"}],
        allegations=[{"id": "a1", "victim": "v1", "suspects": ["s1"], "conduct": "assault.injury",
                      "occurred_at": "2026-03-02T22:30:00Z",
                      "location": {"force_area": "own", "premises": "public_place"}},
                     {"id": "a2", "victim": "v2", "offence": "ZZ99",
                      "occurred_at": "2026-03-02T22:30:00Z",
                      "location": {"force_area": "own", "premises": "public_place"}}])


class AcceptTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.incident = uid("ACC")
        cls.event = two_allegations(cls.incident)
        with cls.h.feed() as feed:
            cls.reply = feed.request(cls.event)
        # Read at once, before anything else can happen: the reply promises the commit.
        h = cls.h
        cls.rows = {
            "raw_events": h.sql("SELECT event_id, incident_id, seq, type FROM raw_events WHERE incident_id = %s",
                                (cls.incident,)),
            "incidents": h.sql("SELECT incident_id, last_seq, category FROM incidents WHERE incident_id = %s",
                               (cls.incident,)),
            "crimes": h.sql("SELECT crn, offence, victim, status, rules, ruleset FROM crimes WHERE incident_id = %s",
                            (cls.incident,)),
            "pending": h.sql("SELECT id, reason, status, due > opened_at FROM pending_decisions "
                             "WHERE incident_id = %s", (cls.incident,)),
            "audit": h.sql("SELECT actor, crn, pending_id, rules, ruleset FROM audit WHERE incident_id = %s ORDER BY id",
                           (cls.incident,)),
        }

    def crime(self):
        crimes = self.reply.get("crimes") or []
        self.assertEqual(len(crimes), 1, self.reply)
        return crimes[0]

    def test_reply_accepted_with_crime_decisions_and_pending(self):
        r = self.reply
        self.assertStatus(r, "accepted")
        self.assertEqual(r.get("v"), 1)
        self.assertEqual(r.get("event_id"), self.event["event_id"])
        self.assertEqual(r.get("incident_id"), self.incident)
        self.assertTrue(isinstance(r.get("rules"), str) and r["rules"], r)
        c = self.crime()
        self.assertEqual((c.get("offence"), c.get("victim"), c.get("action")), ("8N", "v1", "recorded"), r)
        self.assertIsInstance(c.get("flags"), list)
        decisions = {d.get("allegation"): d for d in r.get("decisions") or []}
        self.assertEqual(decisions.get("a1", {}).get("outcome"), "recorded", r)
        self.assertEqual(decisions["a1"].get("crn"), c.get("crn"), r)
        self.assertTrue(decisions["a1"].get("rules"), "a recorded decision names its rules")
        self.assertEqual(decisions.get("a2", {}).get("outcome"), "pending", r)
        self.assertTrue(r.get("pending"), r)
        for p in r["pending"]:
            self.assertTrue(p.get("id") and p.get("reason") and p.get("due"), p)
        self.assertTrue(any(str(w.get("field") or "").startswith("allegations[1]") for w in r.get("warnings") or []),
                        f"unknown offence code gives a warning naming the field: {r}")

    def test_crime_has_a_crn(self):
        crn = self.crime().get("crn")
        self.assertTrue(isinstance(crn, str) and crn.strip(), crn)
        self.assertIn("XX", crn, "the CRN carries the configured force code")

    def test_rows_committed_before_reply(self):
        rows = self.rows
        self.assertEqual(rows["raw_events"], [(self.event["event_id"], self.incident, 1, "incident.opened")])
        self.assertEqual(rows["incidents"], [(self.incident, 1, "crime")])
        self.assertEqual(len(rows["crimes"]), 1, rows["crimes"])
        crn, offence, victim, status, rules, ruleset = rows["crimes"][0]
        self.assertEqual((crn, offence, victim, status), (self.crime()["crn"], "8N", "v1", "recorded"))
        self.assertTrue(rules and ruleset, "a crime records its rule ids and the rule-set version")
        self.assertEqual(ruleset, self.reply["rules"])
        self.assertTrue(any(status == "open" for _, _, status, _ in rows["pending"]), rows["pending"])
        self.assertTrue(all(later for *_, later in rows["pending"]), "due after opened_at")
        self.assertEqual({p["id"] for p in self.reply["pending"]},
                         {pid for pid, _, status, _ in rows["pending"] if status == "open"})
        audit = rows["audit"]
        self.assertTrue(all(actor == "rules" for actor, *_ in audit), audit)
        self.assertTrue(any(a_crn == crn and rules and rs for _, a_crn, _, rules, rs in audit),
                        f"the crime's recording is audited with its rules: {audit}")
        open_ids = {p["id"] for p in self.reply["pending"]}
        self.assertTrue(any(pid in open_ids for _, _, pid, _, _ in audit),
                        f"the pending decision's opening is audited: {audit}")

    def test_incident_view(self):
        status, body = self.h.api.get(f"/v1/incidents/{self.incident}", role="auditor")
        self.assertEqual(status, 200, body)
        self.assertEqual(body.get("incident_id"), self.incident)
        self.assertEqual(body.get("category"), "crime")
        self.assertTrue(body.get("opened_at"))
        crimes = body.get("crimes") or []
        self.assertEqual([(c.get("crn"), c.get("offence"), c.get("victim"), c.get("status")) for c in crimes],
                         [(self.crime()["crn"], "8N", "v1", "recorded")], body)
        self.assertTrue(crimes[0].get("recorded_at") and crimes[0].get("rules"), crimes[0])
        decisions = {d.get("allegation"): d.get("outcome") for d in body.get("decisions") or []}
        self.assertEqual(decisions, {"a1": "recorded", "a2": "pending"}, body)
        self.assertEqual({p.get("id") for p in body.get("pending") or []},
                         {p["id"] for p in self.reply["pending"]}, body)

    def test_every_reading_role_may_read(self):
        for role in ("auditor", "supervisor", "ddm", "fcr"):
            with self.subTest(role=role):
                status, body = self.h.api.get(f"/v1/incidents/{self.incident}", role=role)
                self.assertEqual(status, 200, body)

    def test_401_without_token(self):
        status, body = self.h.api.get(f"/v1/incidents/{self.incident}")
        self.assertEqual(status, 401, body)
        self.assertIn("code", (body or {}).get("error", {}), "errors are JSON {error: {code, message}}")

    def test_401_with_unknown_token(self):
        status, body = self.h.api.get(f"/v1/incidents/{self.incident}", token="not-a-known-token")
        self.assertEqual(status, 401, body)

    def test_403_with_ops_token(self):
        status, body = self.h.api.get(f"/v1/incidents/{self.incident}", role="ops")
        self.assertEqual(status, 403, body)
        self.assertNotIn(self.incident, str(body), "a refused request shows nothing of the incident")

    def test_404_for_unknown_incident(self):
        status, body = self.h.api.get(f"/v1/incidents/{uid('NONE')}", role="auditor")
        self.assertEqual(status, 404, body)

    def test_healthz_needs_no_token(self):
        status, _ = self.h.api.get("/healthz")
        self.assertEqual(status, 200)

    def test_update_for_unopened_incident_is_accepted_with_warning(self):
        inc = uid("LATE")
        ev = event(inc, 3, "incident.updated", "2026-03-02T23:10:00Z",
                   narrative="Update arrives before the opening was ever sent.")
        with self.h.feed() as feed:
            r = feed.request(ev)
        self.assertStatus(r, "accepted")
        self.assertIn("not_opened", [w.get("code") for w in r.get("warnings") or []], r)
        self.assertEqual(self.h.sql("SELECT last_seq FROM incidents WHERE incident_id = %s", (inc,)), [(3,)])


def write_statement():
    """The write statement's text, read from daemon/store/store_sql.h (the C string literals of
    SQL_WRITE joined), so that it is tested as fcrd sends it."""
    # The C preprocessor expands the macros the statement is built from, as the compiler does.
    out = subprocess.run(["cc", "-E", "-P", "-I", os.path.join(SOURCE_ROOT, "daemon"), "-"],
                         input='#include "store/store_sql.h"\nSQL_WRITE\n', capture_output=True, text=True,
                         check=True).stdout
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', out)
    return "".join(parts).encode().decode("unicode_escape")


class IncidentRowsTest(DaemonTestCase):
    """An incident's row holds the columns of its state as the last event left it, whether the
    batch inserted the row (an opening) or updated it, and whichever form its line took."""

    def columns(self, inc):
        rows = self.h.sql("SELECT last_seq, category, opened_at IS NOT NULL, closed_at IS NOT NULL,"
                          " state->>'category', (state->>'last_seq')::bigint FROM incidents WHERE incident_id = %s",
                          (inc,))
        self.assertEqual(len(rows), 1, rows)
        return rows[0]

    def test_opened_updated_closed(self):
        inc = uid("ROW")
        with self.h.feed() as feed:
            self.assertStatus(feed.request(assault_opened(inc)), "accepted")
            self.assertEqual(self.columns(inc), (1, "crime", True, False, "crime", 1))
            self.assertStatus(feed.request(event(inc, 2, "incident.updated", "2026-03-02T10:05:00Z",
                                                 narrative="More detail.")), "accepted")
            self.assertEqual(self.columns(inc), (2, "crime", True, False, "crime", 2))
            self.assertStatus(feed.request(event(inc, 3, "incident.closed", "2026-03-02T12:00:00Z",
                                                 closing_category="crime")), "accepted")
            self.assertEqual(self.columns(inc), (3, "crime", True, True, "crime", 3))

    def test_updates_stay_on_their_page(self):
        """Updates of incidents find room on the row's own page (heap-only updates: no new key
        entry), because the table's pages keep space free for them. Counted within one transaction,
        so the figure is exact."""
        conn = self.h.connect(user="postgres", autocommit=False)
        try:
            with conn.cursor() as cur:
                prefix = uid("HOT")
                cur.execute("INSERT INTO incidents (incident_id, last_seq, state)"
                            " SELECT %s || '-' || g, 1, json_build_object('pad', repeat('x', 300))"
                            " FROM generate_series(1, 300) AS g", (prefix,))
                cur.execute("UPDATE incidents SET last_seq = 2, state = json_build_object('pad', repeat('y', 300))"
                            " WHERE incident_id IN (SELECT %s || '-' || g FROM generate_series(5, 300, 5) AS g)",
                            (prefix,))
                cur.execute("SELECT pg_stat_get_xact_tuples_updated('incidents'::regclass),"
                            " pg_stat_get_xact_tuples_hot_updated('incidents'::regclass)")
                updated, hot = cur.fetchone()
        finally:
            conn.rollback()
            conn.close()
        self.assertEqual(updated, 60)
        self.assertEqual(hot, 60, "every update stayed on its page")

    def test_statement_reads_both_line_forms(self):
        """A line of tab-separated fields and a line holding the row as one JSON object (what fcrd
        sends when a column cannot go as a field) give the same columns, for new and existing rows."""
        old_plain, old_json, new_plain, new_json = (uid("SQL") for _ in range(4))
        def state(inc, seq, closed):
            return {"incident_id": inc, "category": "crime", "opened_at": "2026-03-02T10:00:00Z",
                    "closed_at": "2026-03-02T12:00:00Z" if closed else None, "last_seq": seq, "crimes": [],
                    "pending": []}
        def plain(inc, seq, closed):
            st = state(inc, seq, closed)
            return "\t".join([inc, str(seq), "crime", st["opened_at"], st["closed_at"] or "",
                              json.dumps(st, separators=(",", ":"))])
        def as_json(inc, seq, closed):
            st = state(inc, seq, closed)
            return json.dumps({"incident_id": inc, "last_seq": seq, "category": "crime",
                               "opened_at": st["opened_at"], "closed_at": st["closed_at"], "state": st},
                              separators=(",", ":"))
        conn = self.h.connect(user="fcrd", autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO incidents (incident_id) VALUES (%s), (%s)", (old_plain, old_json))
                cur.execute("PREPARE write_rows (text, text, text, text, text, text) AS " + write_statement())
                cur.execute("EXECUTE write_rows (%s, %s, %s, %s, %s, %s)", (
                    "",
                    "\n".join([plain(old_plain, 4, True), as_json(old_json, 5, True)]) + "\n",
                    "[]", "[]",
                    "\n".join([as_json(new_json, 2, False), plain(new_plain, 3, False)]) + "\n", ""))
                cur.execute("SELECT incident_id, last_seq, category, opened_at, closed_at, state->>'incident_id'"
                            " FROM incidents WHERE incident_id IN (%s, %s, %s, %s) ORDER BY last_seq",
                            (old_plain, old_json, new_plain, new_json))
                rows = cur.fetchall()
        finally:
            conn.rollback()
            conn.close()
        self.assertEqual([(r[0], r[1], r[2], r[5]) for r in rows],
                         [(new_json, 2, "crime", new_json), (new_plain, 3, "crime", new_plain),
                          (old_plain, 4, "crime", old_plain), (old_json, 5, "crime", old_json)])
        self.assertTrue(all(r[3] is not None for r in rows), "opened_at read in both forms")
        self.assertEqual([r[4] is not None for r in rows], [False, False, True, True],
                         "closed_at empty or null is null, and read when set, in both forms")


if __name__ == "__main__":
    harness.main()
