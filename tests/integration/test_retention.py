#!/usr/bin/env python3
"""test_retention.py: personal data stays out of the hashed audit text and is retired on schedule
without breaking the chains (sql/0020_audit_personal.sql, docs/operations.md "Data protection").

Audit entries written now hold digests, not the planted rationale, in audit.entry, while the API
shows the plaintext; `fcrctl audit verify` passes, and fails naming the entry once a kept plaintext
is changed. Periods come from [retention] (a non-crime incident 1 year, a crime 2 years) and the
feed's own event times: incidents whose events are from 2020 are due, those of today are not.
A dry run lists the due incidents; a run redacts them: the planted words vanish from every table
while codes, CRNs and decisions stay, verify passes, each has a retention.redacted entry, and a
second run changes nothing. A legal hold keeps an incident whole until it is cleared. Entries from
before the migration are counted per incident, in the dry run and the redaction's entry. A run stopped
halfway (its backend terminated while it waits for a locked incident) leaves each incident whole
or fully redacted, and the next run finishes. The serving login still cannot edit the tables.
Independent audit verdicts on a due incident lose their notes to the marker, nothing else of them
changes, and the redaction's entry counts them (sql/0021_verdict_notes_redaction.sql); the
verdicts' append-only trigger refuses every other change, whoever makes it.
"""
import datetime
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))

import faultkit  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase, assault_opened, event, uid  # noqa: E402

FCRCTL_BIN = os.environ.get("FCRCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(harness.FCRD_BIN))), "tools", "fcrctl")

OLD = "2020-01-06T10:00:00Z"
NAME = "Zebedee Quillfeather"
EMPLOYER = "Quillfeather Haulage"
NARRATIVE = "Narrwordzx says the van was blue"
RATIONALE = "Ratwordzx spoke to the witness twice"
VERDICT_NOTE = "Verdwordzx told the auditor the caller was drunk"
PLANTED = ["Quillfeather", "Narrwordzx", "Ratwordzx"]
TABLES = {"raw_events": "body", "incidents": "incident_doc(incident_id, state)", "incident_members": "doc::text",
          "person_index": "person_index::text",
          "pending_decisions": "pending_decisions::text", "audit": "audit::text",
          "audit_personal": "audit_personal::text", "crimes": "crimes::text"}


def now_at():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def third_party(incident_id, at):
    """A witness reports an assault: a pending decision, no crime; names, employer and narrative."""
    return event(incident_id, 1, "incident.opened", at, reported_by="w1", narrative=NARRATIVE,
                 persons=[{"id": "w1", "role": "witness", "name": NAME, "employer": EMPLOYER},
                          {"id": "v1", "role": "victim", "sex": "male", "age": 40, "name": NAME + " Jr"}],
                 allegations=[{"id": "a1", "victim": "v1", "conduct": "assault.injury", "occurred_at": at,
                               "location": {"force_area": "own", "premises": "public_place"}}])


class RetentionTest(DaemonTestCase):
    harness_config = {"retention.incident_s": "31536000", "retention.crime_s": "63072000"}

    def setUp(self):
        self.assertIsNotNone(faultkit.wait_ready(self.h, 60))

    # -- helpers ------------------------------------------------------------------------------
    def fcrctl(self, *args, role="auditor"):
        e = dict(os.environ, FCRD_TOKEN=self.h.tokens[role], FCRD_URL=f"http://127.0.0.1:{self.h.api_port}")
        return subprocess.run([FCRCTL_BIN, *args], env=e, capture_output=True, text=True, timeout=120)

    def verify_ok(self):
        r = self.fcrctl("audit", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def as_fcrd(self, sql, args=None):
        """One statement as the serving login: None, or the error's SQLSTATE."""
        return self.h.sql_refused(sql, args)

    def planted_in(self, incident_id):
        """{table: count} of rows of the incident (or its audit entries) holding a planted word."""
        out = {}
        for table, col in TABLES.items():
            if table == "audit_personal":
                where = "audit_id IN (SELECT id FROM audit WHERE incident_id = %s)"
            else:
                where = "incident_id = %s"
            like = " OR ".join(f"{col} LIKE %s" for _ in PLANTED)
            n = self.h.sql_value(f"SELECT count(*) FROM {table} WHERE {where} AND ({like})",
                                 (incident_id, *[f"%{w}%" for w in PLANTED]))
            if n:
                out[table] = n
        return out

    def pending_of(self, incident_id):
        return self.h.sql_value("SELECT id FROM pending_decisions WHERE incident_id = %s AND status = 'open'",
                                (incident_id,))

    def decide(self, incident_id):
        pid = self.pending_of(incident_id)
        self.assertIsNotNone(pid)
        st, body = self.h.api.request("POST", f"/v1/pending/{pid}/decision",
                                        {"decision": "no_crime", "rationale": RATIONALE}, role="supervisor")
        self.assertEqual(st, 200, body)

    def retention(self, dry_run, expect=200):
        st, body = self.h.api.request("POST", "/v1/retention/run", {"dry_run": dry_run}, role="fcr")
        self.assertEqual(st, expect, body)
        return body

    def due(self):
        return {i["incident_id"] for i in self.retention(True)["incidents"]}

    def audit_of(self, incident_id, at):
        """An independent audit whose sample is the one incident opened at `at` (its id)."""
        t = datetime.datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ")
        span = {"from": (t - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "to": (t + datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "size": 5, "seed": 1}
        st, body = self.h.api.request("POST", "/v1/audits", span, role="auditor")
        self.assertEqual(st, 200, body)
        self.assertEqual([i["incident_id"] for i in body["items"]], [incident_id], body)
        return body["id"]

    def verdict(self, audit_id, incident_id, **extra):
        st, body = self.h.api.request("POST", f"/v1/audits/{audit_id}/verdicts",
                                        {"incident_id": incident_id, "verdict": "correct", **extra}, role="auditor")
        self.assertEqual(st, 200, body)

    def verdicts_of(self, incident_id):
        return self.h.sql("SELECT id, audit_id, incident_id, verdict, offence, note, recorded, actor, role, at "
                          "FROM audit_verdicts WHERE incident_id = %s ORDER BY id", (incident_id,))

    def word_anywhere(self, word):
        """The tables of the schema whose rows' text holds `word` (every table, not only the incident's)."""
        tables = [t for (t,) in self.h.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                            "ORDER BY tablename")]
        return [t for t in tables
                if self.h.sql_value(f'SELECT count(*) FROM "{t}" AS r WHERE r::text LIKE %s', (f"%{word}%",))]

    def as_chain(self, sql, args=None, grant_all=False):
        """One statement as fcrd_chain (SET ROLE from the superuser's session), in a transaction
        rolled back whatever happens: None when it ran, else (SQLSTATE, message). grant_all: first
        give fcrd_chain every UPDATE and DELETE on audit_verdicts, so that only the trigger stands
        in the way (rolled back too)."""
        conn = self.h.connect(autocommit=False)
        try:
            with conn.cursor() as cur:
                if grant_all:
                    cur.execute("GRANT UPDATE, DELETE ON audit_verdicts TO fcrd_chain")
                cur.execute("SET LOCAL ROLE fcrd_chain")
                cur.execute(sql, args)
            return None
        except harness.psycopg2.Error as e:
            return e.pgcode, e.pgerror or ""
        finally:
            conn.rollback()
            conn.close()

    def old_incident(self, crime=False, at=OLD):
        iid = uid("RET")
        if crime:
            self.send_accepted(assault_opened(iid, at=at, narrative=NARRATIVE))
        else:
            self.send_accepted(third_party(iid, at))
            self.decide(iid)
        return iid

    # -- 1. the hashed text ---------------------------------------------------------------------
    def test_a_entries_hold_digests_and_the_api_shows_plaintext(self):
        iid = self.old_incident(at=now_at())
        n = self.h.sql_value("SELECT count(*) FROM audit WHERE incident_id = %s AND entry LIKE %s",
                             (iid, "%Ratwordzx%"))
        self.assertEqual(n, 0, "the rationale is not in the hashed text")
        self.assertGreater(self.h.sql_value(
            "SELECT count(*) FROM audit WHERE incident_id = %s AND entry LIKE '%%{\"pd\":\"%%'", (iid,)), 0)
        st, page = self.h.api.get(f"/v1/audit?incident_id={iid}", role="auditor")
        self.assertEqual(st, 200, page)
        self.assertIn(RATIONALE, json.dumps(page), "the API shows the plaintext while it is kept")
        self.verify_ok()

    def test_b_verify_detects_a_changed_plaintext(self):
        iid = self.old_incident(at=now_at())
        aid, vals = self.h.sql("SELECT p.audit_id, p.vals FROM audit_personal p JOIN audit a ON a.id = p.audit_id "
                               "WHERE a.incident_id = %s ORDER BY p.audit_id LIMIT 1", (iid,))[0]
        changed = {k: json.dumps("someone else") for k in vals}
        self.h.sql("UPDATE audit_personal SET vals = %s WHERE audit_id = %s", (json.dumps(changed), aid))
        try:
            r = self.fcrctl("audit", "verify")
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn(str(aid), r.stdout + r.stderr)
            self.assertIn("plaintext was changed", r.stdout + r.stderr)
        finally:
            self.h.sql("UPDATE audit_personal SET vals = %s WHERE audit_id = %s", (json.dumps(vals), aid))
        self.verify_ok()

    # -- 2, 3. runs -------------------------------------------------------------------------------
    def test_c_run_redacts_what_is_due_and_only_that(self):
        old = self.old_incident()
        old_crime = self.old_incident(crime=True)
        recent = self.old_incident(at=now_at())
        held = self.old_incident()
        st, body = self.h.api.request("POST", f"/v1/incidents/{held}/legal-hold",
                                        {"hold": True, "reason": "Civil claim pending"}, role="fcr")
        self.assertEqual(st, 200, body)
        st, body = self.h.api.request("POST", f"/v1/incidents/{held}/legal-hold",
                                        {"hold": True, "reason": "x"}, role="supervisor")
        self.assertEqual(st, 403, body)
        st, body = self.h.api.request("POST", f"/v1/incidents/{held}/legal-hold", {"reason": "x"}, role="fcr")
        self.assertEqual((st, body["error"]["field"]), (400, "hold"), body)
        st, body = self.h.api.request("POST", f"/v1/incidents/{uid('NONE')}/legal-hold",
                                      {"hold": True, "reason": "x"}, role="fcr")
        self.assertEqual((st, body["error"]["code"]), (404, "not_found"), body)
        st, body = self.h.api.request("POST", "/v1/retention/run", {"dry_run": "yes"}, role="fcr")
        self.assertEqual((st, body["error"]["field"]), (400, "dry_run"), body)
        crn = self.h.sql_value("SELECT crn FROM crimes WHERE incident_id = %s", (old_crime,))
        self.assertIsNotNone(crn)

        due = self.due()
        self.assertIn(old, due)
        self.assertIn(old_crime, due)
        self.assertNotIn(recent, due)
        self.assertNotIn(held, due)
        r = self.fcrctl("retention", "run", "--dry-run", role="fcr")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(old, r.stdout)
        self.assertNotIn(recent, r.stdout)
        self.assertIn("dry run:", r.stdout)
        self.assertTrue(self.planted_in(old), "a dry run changes nothing")
        decisions = self.h.sql("SELECT id, status, reason, resolution->>'decision' FROM pending_decisions "
                               "WHERE incident_id = %s ORDER BY id", (old,))

        body = self.retention(False)
        self.assertGreaterEqual(body["redacted"], 2, body)
        for iid in (old, old_crime):
            self.assertEqual(self.planted_in(iid), {}, iid)
            entries = self.h.sql("SELECT after FROM audit WHERE incident_id = %s AND action = 'retention.redacted'",
                                 (iid,))
            self.assertEqual(len(entries), 1, entries)
            self.assertIn(entries[0][0]["period"], ("incident", "crime"))
        self.assertEqual(self.h.sql_value("SELECT status FROM crimes WHERE crn = %s", (crn,)), "recorded")
        self.assertEqual(self.h.sql("SELECT id, status, reason, resolution->>'decision' FROM pending_decisions "
                                    "WHERE incident_id = %s ORDER BY id", (old,)), decisions)
        self.assertTrue(self.planted_in(recent), "the recent incident is whole")
        self.assertTrue(self.planted_in(held), "the held incident is whole")
        st, page = self.h.api.get(f"/v1/audit?incident_id={old}", role="auditor")
        self.assertIn("[redacted]", json.dumps(page))
        self.verify_ok()

        # Again: nothing more to do, nothing written.
        count = self.h.sql_value("SELECT count(*) FROM audit")
        self.assertNotIn(old, self.due())
        again = self.retention(False)
        self.assertEqual(again["redacted"], 0, again)
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM audit"), count, "a second run appends nothing")
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM audit WHERE action = 'retention.redacted' "
                                          "AND incident_id IN (%s, %s)", (old, old_crime)), 2)

        # Clearing the hold lets the next run redact it; the hold is audited without its reason.
        st, body = self.h.api.request("POST", f"/v1/incidents/{held}/legal-hold", {"hold": False}, role="fcr")
        self.assertEqual(st, 200, body)
        holds = self.h.sql("SELECT entry FROM audit WHERE incident_id = %s AND action = 'incident.legal_hold' "
                           "ORDER BY id", (held,))
        self.assertEqual(len(holds), 2)
        self.assertNotIn("Civil claim", holds[0][0])
        self.assertIn(held, self.due())
        r = self.fcrctl("retention", "run", role="fcr")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(held, r.stdout)
        self.assertEqual(self.planted_in(held), {})
        self.verify_ok()

    def test_d_run_stopped_halfway_leaves_each_incident_whole_or_redacted(self):
        ids = [self.old_incident(at=f"2020-02-{d:02d}T10:00:00Z") for d in range(1, 13)]
        due = [i["incident_id"] for i in self.retention(True)["incidents"]]
        ours = [i for i in due if i in ids]
        self.assertEqual(len(ours), len(ids))
        blocker = ours[6]
        lock = self.h.connect(autocommit=False)
        cur = lock.cursor()
        cur.execute("SELECT 1 FROM incidents WHERE incident_id = %s FOR UPDATE", (blocker,))
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=self.h.api.request("POST", "/v1/retention/run", {"dry_run": False}, role="fcr")))
        t.start()
        pid = None
        deadline = time.monotonic() + 60
        while pid is None and time.monotonic() < deadline:
            pid = self.h.sql_value("SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL retention_run%%' "
                                   "AND wait_event_type = 'Lock'")
            if pid is None:
                time.sleep(0.05)
        self.assertIsNotNone(pid, "the run waits for the locked incident")
        self.h.sql("SELECT pg_terminate_backend(%s)", (pid,))
        t.join(60)
        lock.rollback()
        lock.close()
        self.assertNotEqual(result["r"][0], 200, result)
        states = {}
        for iid in ids:
            redacted = self.h.sql_value("SELECT redacted_at IS NOT NULL FROM incidents WHERE incident_id = %s", (iid,))
            planted = self.planted_in(iid)
            marks = self.h.sql_value("SELECT count(*) FROM audit WHERE incident_id = %s "
                                     "AND action = 'retention.redacted'", (iid,))
            self.assertEqual((redacted, marks), (True, 1) if not planted else (False, 0), (iid, planted))
            states[iid] = redacted
        self.assertTrue(any(states.values()) and not all(states.values()), states)
        # The next run finishes (the write connection comes back first).
        deadline = time.monotonic() + 60
        while True:
            st, body = self.h.api.request("POST", "/v1/retention/run", {"dry_run": False}, role="fcr")
            if st == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(st, 200, body)
        for iid in ids:
            self.assertEqual(self.planted_in(iid), {}, iid)
        self.verify_ok()

    def test_f_entries_from_before_the_migration_are_counted_not_touched(self):
        iid = self.old_incident()
        n = self.h.sql_value("SELECT count(*) FROM audit WHERE incident_id = %s", (iid,))
        self.assertGreater(n, 0)
        start = self.h.sql_value("SELECT last_id FROM audit_personal_start")
        # As if the incident's entries had been written before migration 0020.
        self.h.sql("UPDATE audit_personal_start SET last_id = (SELECT max(id) FROM audit)")
        try:
            listed = {i["incident_id"]: i for i in self.retention(True)["incidents"]}
            self.assertEqual(listed[iid]["old_entries"], n)
            self.retention(False)
            after = self.h.sql_value("SELECT after FROM audit WHERE incident_id = %s AND action = 'retention.redacted'",
                                     (iid,))
            self.assertEqual(after["old_entries"], n, after)
        finally:
            self.h.sql("UPDATE audit_personal_start SET last_id = %s", (start,))
        self.verify_ok()

    def test_g_verdict_notes_are_redacted_with_their_incident(self):
        at = "2020-03-17T10:00:00Z"
        iid = self.old_incident(at=at)
        # Not due: a week old (a time no other test uses, so that its sample is itself alone).
        recent_at = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=7)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        recent = self.old_incident(at=recent_at)
        aid = self.audit_of(iid, at)
        self.verdict(aid, iid, note=VERDICT_NOTE)
        self.verdict(aid, iid, verdict="not_a_crime")  # no note: stays without one
        self.verdict(self.audit_of(recent, recent_at), recent, note=VERDICT_NOTE)
        before = self.verdicts_of(iid)
        self.assertEqual([v[5] for v in before], [VERDICT_NOTE, None])
        self.assertEqual(self.word_anywhere("Verdwordzx"), ["audit_verdicts"])
        self.assertIn(iid, self.due())

        body = self.retention(False)
        self.assertIn(iid, [i["incident_id"] for i in body["incidents"] if i["redacted"]], body)
        after = self.verdicts_of(iid)
        self.assertEqual([v[5] for v in after], ["[redacted]", None], "the note is the marker, a missing one stays")
        self.assertEqual([v[:5] + v[6:] for v in after], [v[:5] + v[6:] for v in before], "nothing else changed")
        # The word is left only in the verdict of the incident that is not due.
        self.assertEqual(self.word_anywhere("Verdwordzx"), ["audit_verdicts"])
        self.assertEqual(self.h.sql("SELECT incident_id FROM audit_verdicts WHERE note LIKE '%%Verdwordzx%%'"),
                         [(recent,)])
        self.assertEqual(self.planted_in(iid), {})
        entry = self.h.sql_value("SELECT after FROM audit WHERE incident_id = %s AND action = 'retention.redacted'",
                                 (iid,))
        self.assertEqual(entry["audit_verdicts"], 1, entry)
        st, page = self.h.api.get(f"/v1/audits/{aid}", role="auditor")
        self.assertEqual(st, 200, page)
        self.assertNotIn("Verdwordzx", json.dumps(page))
        self.verify_ok()

        # Again: nothing due, nothing written; the function itself, called again, does nothing.
        count = self.h.sql_value("SELECT count(*) FROM audit")
        self.assertNotIn(iid, self.due())
        self.assertNotIn(iid, [i["incident_id"] for i in self.retention(False)["incidents"]])
        self.assertFalse(self.h.sql_value("SELECT retention_redact(%s, 'incident', 1, 'x', 'fcr')", (iid,)))
        self.assertEqual(self.verdicts_of(iid), after)
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM audit"), count, "a second run appends nothing")

    def test_h_verdicts_stay_append_only_but_for_retention(self):
        at = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=9)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        iid = self.old_incident(at=at)
        aid = self.audit_of(iid, at)
        self.verdict(aid, iid, note=VERDICT_NOTE)
        self.verdict(aid, iid)
        rows = self.verdicts_of(iid)
        noted = " WHERE incident_id = %s AND note IS NOT NULL"
        every = " WHERE incident_id = %s"
        # The serving login: no UPDATE or DELETE at all, and no way to act as fcrd_chain.
        for sql in ["UPDATE audit_verdicts SET note = '[redacted]'" + noted,
                    "UPDATE audit_verdicts SET note = note" + every, "DELETE FROM audit_verdicts" + every]:
            with self.subTest(sql=sql):
                self.assertEqual(self.as_fcrd(sql, (iid,)), "42501")
        self.assertEqual(self.as_fcrd("SET ROLE fcrd_chain"), "42501")
        # The superuser, as itself: the trigger refuses even the marker.
        for sql in ["UPDATE audit_verdicts SET note = '[redacted]'" + noted, "DELETE FROM audit_verdicts" + every]:
            with self.subTest(sql=sql):
                self.assertEqual(self.h.sql_refused(sql, (iid,), user="postgres"), "42501")
        # fcrd_chain holding every UPDATE and DELETE: the trigger lets the marker through alone.
        for sql in ["UPDATE audit_verdicts SET note = '[redacted]', actor = 'x'" + noted,
                    "UPDATE audit_verdicts SET note = 'someone else'" + noted,
                    "UPDATE audit_verdicts SET note = '[redacted]'" + every,  # the second verdict has no note
                    "UPDATE audit_verdicts SET verdict = 'not_a_crime'" + every,
                    "DELETE FROM audit_verdicts" + every]:
            with self.subTest(sql=sql):
                code, msg = self.as_chain(sql, (iid,), grant_all=True) or (None, "")
                self.assertEqual(code, "42501", sql)
                self.assertIn("audit verdicts are append-only", msg)
        self.assertIsNone(self.as_chain("UPDATE audit_verdicts SET note = '[redacted]'" + noted, (iid,)),
                          "fcrd_chain's own privileges and the trigger allow the marker")
        self.assertEqual(self.verdicts_of(iid), rows, "every attempt was refused or rolled back")
        # Replaced, retention_redact is still fcrd_chain's SECURITY DEFINER function, for fcrd_app only.
        self.assertEqual(self.h.sql("SELECT pg_get_userbyid(p.proowner), p.prosecdef, p.proconfig, "
                                    "has_function_privilege('fcrd', p.oid, 'EXECUTE'), "
                                    "has_function_privilege('public', p.oid, 'EXECUTE') "
                                    "FROM pg_proc p WHERE p.proname = 'retention_redact'"),
                         [("fcrd_chain", True, ["search_path=public, pg_temp"], True, False)])

    # -- privileges -------------------------------------------------------------------------------
    def test_e_serving_login_cannot_edit_directly(self):
        refused = ["UPDATE raw_events SET body = body", "UPDATE audit SET entry = entry",
                   "DELETE FROM audit_personal", "UPDATE audit_personal SET salt = salt",
                   "INSERT INTO audit_personal VALUES (0, 'x', '{}')"]
        for sql in refused:
            with self.subTest(sql=sql):
                self.assertEqual(self.as_fcrd(sql), "42501")

    def test_j_group_period_found_under_the_crimes_incident(self):
        """A recorded crime's offence group, read from the person index, sets its incident's
        period; the listing finds it under the crime's own incident (sql/0029): planned as for an
        index of any real size (sequential scans off), it never scans the whole person index."""
        iid = uid("RGRP")
        self.send_accepted(assault_opened(
            iid, at=OLD, narrative=NARRATIVE,
            persons=[{"id": "v1", "role": "victim", "sex": "female", "age": 34, "confirms": True,
                      "ref": uid("BV"), "relationships": [{"to": "s1", "kind": "stranger"}]},
                     {"id": "s1", "role": "suspect", "sex": "male"}]))
        group = self.h.sql_value("SELECT offence_group FROM person_index WHERE incident_id = %s AND role = 'victim'",
                                 (iid,))
        self.assertIsNotNone(group, "the assault's offence has a group in the rule set")
        conn = self.h.connect(autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SET LOCAL enable_seqscan = off")
                cur.execute("SELECT period, seconds FROM retention_due(1, 1, %s) WHERE incident_id = %s",
                            (f"{group}=2", iid))
                rows = cur.fetchall()
                cur.execute("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'person_index'")
                scans = cur.fetchone()[0]
        finally:
            conn.rollback()
            conn.close()
        self.assertEqual(rows, [(f"group {group}", 2)])
        self.assertEqual(scans, 0)

    def test_i_no_redaction_before_the_floor(self):
        """The serving login calls retention_redact itself on an incident reported today, naming a
        one-second period: the database keeps it whole (the floor, sql/0022_retention_floor.sql),
        and only the schema owner may lower the floor."""
        inc = uid("RFLOOR")
        self.send_accepted(third_party(inc, now_at()))
        conn = self.h.connect(user="fcrd")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT retention_redact(%s, 'incident', 1, 'it-fcr-user', 'fcr')", (inc,))
                self.assertIs(cur.fetchone()[0], False)
        finally:
            conn.close()
        state = self.h.sql_value("SELECT incident_doc(incident_id, state) FROM incidents WHERE incident_id = %s", (inc,))
        self.assertIn("Quillfeather", state)
        self.assertIsNone(self.h.sql_value("SELECT redacted_at FROM incidents WHERE incident_id = %s", (inc,)))
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM audit WHERE incident_id = %s "
                                          "AND action = 'retention.redacted'", (inc,)), 0)
        # A dry run with periods of one second does not list it either.
        due = self.h.sql("SELECT incident_id FROM retention_due(1, 1, '') WHERE incident_id = %s", (inc,))
        self.assertEqual(due, [])
        self.assertEqual(self.as_fcrd("UPDATE retention_floor SET seconds = 0"), "42501")


if __name__ == "__main__":
    harness.main()
