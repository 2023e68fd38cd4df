#!/usr/bin/env python3
"""test_audit.py: the audit trail is append-only by PostgreSQL's own doing: a trigger refuses
UPDATE, DELETE and TRUNCATE even to the owner, the serving role holds no such privilege, and
the hash chains over the entries (one per store lane) are intact."""
import datetime
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

import harness
from harness import DaemonTestCase, assault_opened, psycopg2, uid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
import faultkit  # noqa: E402


class AuditTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.incident = uid("AUD")
        with cls.h.feed() as feed:
            cls.reply = feed.request(assault_opened(cls.incident))

    def audit_rows(self):
        return self.h.sql("SELECT id, actor, action, crn FROM audit WHERE incident_id = %s ORDER BY id",
                          (self.incident,))

    def setUp(self):
        self.assertStatus(self.reply, "accepted")
        self.before = self.audit_rows()
        self.assertTrue(self.before, "the accepted event left audit entries")

    def refused(self, user, statement):
        """Run statement as user in its own transaction; returns the error PostgreSQL raised."""
        conn = self.h.connect(user=user, autocommit=False)
        try:
            with conn.cursor() as cur:
                with self.assertRaises(psycopg2.Error) as ctx:
                    cur.execute(statement, (self.incident,))
            conn.rollback()
        finally:
            conn.close()
        self.assertEqual(self.audit_rows(), self.before, "the audit trail is unchanged")
        return ctx.exception

    def test_trigger_refuses_update_even_to_superuser(self):
        self.refused("postgres", "UPDATE audit SET actor = 'someone' WHERE incident_id = %s")

    def test_trigger_refuses_delete_even_to_owner(self):
        self.refused("fcrd_owner", "DELETE FROM audit WHERE incident_id = %s")
        self.refused("postgres", "DELETE FROM audit WHERE incident_id = %s")

    def test_trigger_refuses_truncate(self):
        self.refused("postgres", "TRUNCATE audit -- %s")

    def test_serving_role_lacks_privileges(self):
        rows = self.h.sql("SELECT has_table_privilege('fcrd', t, p) FROM unnest(%s::text[]) t, "
                          "unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) p", (["audit", "raw_events"],))
        self.assertEqual([r[0] for r in rows], [False] * 6)
        # It appends only through audit_append, which runs as fcrd_chain (sql/0014_audit_guard.sql).
        self.assertEqual(self.h.sql("SELECT has_table_privilege('fcrd', 'audit', 'INSERT'), "
                                    "has_table_privilege('fcrd', 'audit', 'SELECT')"), [(False, True)])
        self.assertFalse(self.h.sql_value("SELECT has_schema_privilege('fcrd', 'public', 'CREATE')"),
                         "the serving role cannot change the schema")

    def test_hash_chain_is_intact(self):
        """Each entry's hash is sha256(previous hash of its chain || entry text); each chain's
        head row names its last entry's hash, and a chain never used has an empty head."""
        rows = self.h.sql("SELECT id, chain, action, entry, prev_hash, hash FROM audit ORDER BY id")
        self.assertTrue(rows)
        last = {}
        for id_, chain, action, entry, prev_hash, digest in rows:
            self.assertEqual(prev_hash, last.get(chain, ""), f"entry {id_} chains to the one before in chain {chain}")
            self.assertEqual(digest, hashlib.sha256((prev_hash + entry).encode("utf-8")).hexdigest(),
                             f"entry {id_}'s hash covers its text")
            self.assertEqual(json.loads(entry).get("action"), action, f"entry {id_}'s text is its row")
            last[chain] = digest
        heads = dict(self.h.sql("SELECT id, hash FROM audit_head"))
        self.assertEqual(sorted(heads), list(range(1, 17)), "sixteen chains, each with a head")
        for chain, head in heads.items():
            self.assertEqual(head, last.get(chain, ""), f"chain {chain}'s head is its last entry's hash")
        self.refused("postgres", "DELETE FROM audit_head -- %s")

    def test_lanes_append_to_chains_of_their_own(self):
        """A transaction waiting for one chain's head does not hold up the other lanes: with chain
        1's head locked, a second event (taken by another lane) is answered at once, in chain 2;
        once the lock goes, the first is answered too, and both chains are whole."""
        first, second = uid("CHA"), uid("CHB")
        stall = faultkit.LockStall(self.h, "SELECT hash FROM audit_head WHERE id = 1 FOR UPDATE")
        try:
            with self.h.feed() as one, self.h.feed() as two:
                one.send(assault_opened(first))
                deadline = time.monotonic() + 20
                # (waiting in its write statement: the database's own entry for the crime it
                # inserts goes to the lane's chain first, sql/0014_audit_guard.sql)
                while not self.h.sql_value("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                           " AND usename = 'fcrd'"):
                    self.assertLess(time.monotonic(), deadline, "the first batch never waited for chain 1")
                    time.sleep(0.05)
                self.assertStatus(two.request(assault_opened(second), timeout=5), "accepted")
                self.assertFalse(one.pending_input(0.2), "the first event waits for chain 1's head")
                stall.release()
                stall = None
                self.assertStatus(one.read_reply(), "accepted")
        finally:
            if stall:
                stall.release()
        chains = dict(self.h.sql("SELECT incident_id, min(chain) FROM audit WHERE incident_id IN (%s, %s)"
                                 " GROUP BY incident_id HAVING min(chain) = max(chain)", (first, second)))
        self.assertEqual(chains, {first: 1, second: 2}, "each batch's entries are in its lane's chain")
        self.assertEqual(faultkit.audit_chain_problems(self.h), [])

    def test_listing_waits_for_an_entry_not_yet_committed(self):
        """Ids are not drawn in commit order across chains. While an append on chain 3 (from
        another session) is not committed, entries committed since on other chains, with higher
        ids, are not listed in the whole trail yet, so a reader paging with `after` cannot skip
        the late one; an incident's own listing shows them at once."""
        top = self.h.sql_value("SELECT max(id) FROM audit")
        text = json.dumps({"action": "test.late", "actor": "someone", "at": "2026-01-02T03:04:05.000Z",
                           "role": "auditor"}, sort_keys=True, separators=(",", ":"))
        conn = self.h.connect(user="postgres", autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT audit_append(%s, 3)", (text + "\n",))
                cur.execute("SELECT max(id) FROM audit")
                late = cur.fetchone()[0]
            incident = uid("AFT")
            with self.h.feed() as feed:
                self.assertStatus(feed.request(assault_opened(incident)), "accepted")
            later = [r[0] for r in self.h.sql("SELECT id FROM audit WHERE incident_id = %s ORDER BY id", (incident,))]
            self.assertTrue(later and later[0] > late, "the committed entries have higher ids than the late one")
            status, page = self.h.api.get(f"/v1/audit?after={top}", role="auditor")
            self.assertEqual(status, 200, page)
            self.assertEqual([e["id"] for e in page["items"]], [], "nothing above the uncommitted id is listed")
            # One incident's entries commit in id order, so its listing need not wait.
            status, page = self.h.api.get(f"/v1/audit?incident_id={incident}", role="auditor")
            self.assertEqual([e["id"] for e in page["items"]], later, "an incident's entries are listed at once")
            conn.commit()
        finally:
            conn.rollback()
            conn.close()
        status, page = self.h.api.get(f"/v1/audit?after={top}", role="auditor")
        self.assertEqual(status, 200, page)
        # (with the database's own entries of the batch, which name no incident)
        everything = [r[0] for r in self.h.sql("SELECT id FROM audit WHERE id > %s ORDER BY id", (top,))]
        self.assertTrue(set([late] + later) <= set(everything))
        self.assertEqual([e["id"] for e in page["items"]], everything, "once committed, all in id order")

    COLUMNS = ("at", "incident_id", "crn", "pending_id", "allegation", "event_id", "actor", "role", "action",
               "before", "after", "rules", "ruleset")

    def columns_match_text(self, rows):
        """Every column of each row is the field of the same name in its canonical text."""
        for row in rows:
            entry = json.loads(row["entry"])
            for col in self.COLUMNS:
                want = entry.get(col)
                got = row[col]
                if col == "at":
                    got = got.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
                        f"{got.microsecond // 1000:03d}Z"
                if col == "rules":
                    want = want or []
                self.assertEqual(got, want, f"entry {row['id']}: column {col} is its text's field")

    def audit_dicts(self, where, args=None, conn=None):
        query = ("SELECT id, entry, chain, prev_hash, hash, " + ", ".join(self.COLUMNS) + " FROM audit WHERE " + where
                 + " ORDER BY id")
        if conn is None:
            rows = self.h.sql(query, args)
        else:
            with conn.cursor() as cur:
                cur.execute(query, args)
                rows = cur.fetchall()
        return [dict(zip(("id", "entry", "chain", "prev_hash", "hash") + self.COLUMNS, r)) for r in rows]

    def test_every_column_is_its_text(self):
        rows = self.audit_dicts("true")
        self.assertTrue(rows)
        self.columns_match_text(rows)

    def test_columns_read_from_text_sent_alone(self):
        """A line holding only the canonical text (fcrd sends that when a value holds a control
        character) gets its columns from the text; one with its columns beside it gets those."""
        alone = {"action": "test.alone", "actor": "tab\there", "after": {"n": 1}, "allegation": None,
                 "at": "2026-01-02T03:04:05.678Z", "before": None, "crn": None, "event_id": None,
                 "incident_id": self.incident, "pending_id": "P-1", "role": "rules", "rules": ["R1", "R2"],
                 "ruleset": "rs-1"}
        split = dict(alone, action="test.split", actor="someone")
        def text(e):
            return json.dumps(e, sort_keys=True, separators=(",", ":"))
        def column(e, col):
            v = e[col]
            if col in ("before", "after", "rules"):
                return json.dumps(v, separators=(",", ":"))
            return "" if v is None else v
        lines = text(alone) + "\n" + "\t".join([text(split)] + [column(split, c) for c in self.COLUMNS]) + "\n"
        conn = self.h.connect(user="postgres", autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT hash FROM audit_head WHERE id = 3")
                head = cur.fetchone()[0]
                cur.execute("SELECT audit_append(%s, 3)", (lines,))
                self.assertEqual(cur.fetchone()[0], 2)
                cur.execute("SELECT hash FROM audit_head WHERE id = 3")
                new_head = cur.fetchone()[0]
            rows = self.audit_dicts("action LIKE 'test.%%'", conn=conn)
            self.assertEqual([r["action"] for r in rows], ["test.alone", "test.split"])
            self.assertEqual([r["chain"] for r in rows], [3, 3], "appended to the chain asked for")
            self.assertEqual(rows[0]["prev_hash"], head, "the first links to chain 3's head")
            self.assertEqual(rows[1]["prev_hash"], rows[0]["hash"])
            self.assertEqual(new_head, rows[1]["hash"], "chain 3's head moved to the last")
            self.assertEqual([r["entry"] for r in rows], [text(alone), text(split)])
            self.columns_match_text(rows)
            self.assertEqual(rows[0]["actor"], "tab\there")
        finally:
            conn.rollback()
            conn.close()

    def test_rules_column_both_forms(self):
        """The rules column is read from a PostgreSQL array literal (what fcrd sends) and from a
        JSON array (what an fcrd of the previous version sends) alike, awkward rule ids included."""
        awkward = ["R1", "b c", 'q"uote', "back\\slash", "{,}", "NULL", ""]
        def text(e):
            return json.dumps(e, sort_keys=True, separators=(",", ":"))
        def literal(rules):
            return "{" + ",".join('"' + r.replace("\\", "\\\\").replace('"', '\\"') + '"' for r in rules) + "}"
        def line(e, rules_column):
            cols = []
            for c in self.COLUMNS:
                v = e[c]
                if c == "rules":
                    cols.append(rules_column)
                elif c in ("before", "after"):
                    cols.append(json.dumps(v, separators=(",", ":")))
                else:
                    cols.append("" if v is None else v)
            return "\t".join([text(e)] + cols)
        base = {"action": "test.lit", "actor": "someone", "after": {"n": 1}, "allegation": None,
                "at": "2026-01-02T03:04:05.678Z", "before": None, "crn": None, "event_id": None,
                "incident_id": self.incident, "pending_id": None, "role": "rules", "rules": awkward,
                "ruleset": "rs-1"}
        lit = dict(base)
        empty = dict(base, action="test.lit_empty", rules=[])
        js = dict(base, action="test.json")
        lines = "\n".join([line(lit, literal(awkward)), line(empty, "{}"),
                           line(js, json.dumps(awkward, separators=(",", ":")))]) + "\n"
        conn = self.h.connect(user="postgres", autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT audit_append(%s, 4)", (lines,))
                self.assertEqual(cur.fetchone()[0], 3)
            rows = self.audit_dicts("action IN ('test.lit', 'test.lit_empty', 'test.json')", conn=conn)
            self.assertEqual([r["action"] for r in rows], ["test.lit", "test.lit_empty", "test.json"])
            self.assertEqual([r["rules"] for r in rows], [awkward, [], awkward])
            self.assertEqual(rows[1]["prev_hash"], rows[0]["hash"])
            self.assertEqual(rows[2]["prev_hash"], rows[1]["hash"])
            self.columns_match_text(rows)
        finally:
            conn.rollback()
            conn.close()

    def test_serving_role_refused_update_and_delete(self):
        for statement in ("UPDATE audit SET actor = 'someone' WHERE incident_id = %s",
                          "DELETE FROM audit WHERE incident_id = %s",
                          "UPDATE raw_events SET body = '{}' WHERE incident_id = %s",
                          "DELETE FROM raw_events WHERE incident_id = %s"):
            with self.subTest(statement=statement):
                err = self.refused("fcrd", statement)
                self.assertIsInstance(err, psycopg2.errors.InsufficientPrivilege, err)
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM raw_events WHERE incident_id = %s",
                                          (self.incident,)), 1)



class AuditUpgradeTest(DaemonTestCase):
    """A trail written before migration 0007 (one chain) goes on as chain 1 after it, beside the
    other lanes' new chains, and every chain checks out."""

    @classmethod
    def setUpClass(cls):
        # The database is first brought to the schema before 0007 (fcrd applies the migrations
        # at start; this build cannot serve on that schema, so it is stopped at once).
        cls.old = tempfile.mkdtemp(prefix="fcrd-it-sql-before-0007-")
        cls.addClassCleanup(shutil.rmtree, cls.old, True)
        sql = os.path.join(harness.SOURCE_ROOT, "sql")
        for name in os.listdir(sql):
            if name.endswith(".sql") and name[:4].isdigit() and int(name[:4]) < 7:
                shutil.copy(os.path.join(sql, name), cls.old)
        cls.harness_config = {"database.migrations": cls.old}
        start = harness.Harness.start_fcrd
        harness.Harness.start_fcrd = lambda self, **kw: start(self, wait_ready=False)
        try:
            super().setUpClass()
        finally:
            harness.Harness.start_fcrd = start

    def test_one_chain_goes_on_as_chain_one(self):
        self.h.stop_fcrd()
        self.assertEqual(self.h.sql_value("SELECT max(version) FROM fcrd_migrations"), 6)
        # The trail as the old function wrote it: one chain, under audit_head's single row.
        texts = [json.dumps({"action": "test.old", "actor": "rules", "at": f"2026-01-02T03:04:0{n}.000Z",
                             "role": "rules"}, sort_keys=True, separators=(",", ":")) for n in range(3)]
        self.h.sql("SELECT audit_append(%s)", ("\n".join(texts) + "\n",))
        before = self.h.sql("SELECT id, hash FROM audit ORDER BY id")
        self.assertEqual(len(before), 3)
        self.h.overrides["database.migrations"] = os.path.join(harness.SOURCE_ROOT, "sql")
        self.h.start_fcrd()
        self.assertEqual(self.h.sql("SELECT DISTINCT chain FROM audit"), [(1,)], "old entries are chain 1")
        # Several connections at once, so that more than one lane writes.
        feeds = [self.h.feed() for _ in range(4)]
        try:
            for feed in feeds:
                feed.send_many([assault_opened(uid("NEW")) for _ in range(20)])
            for feed in feeds:
                for r in feed.read_replies(20):
                    self.assertStatus(r, "accepted")
        finally:
            for feed in feeds:
                feed.close()
        first_new = self.h.sql("SELECT prev_hash FROM audit WHERE chain = 1 AND id > %s ORDER BY id LIMIT 1",
                               (before[-1][0],))
        self.assertEqual(first_new, [(before[-1][1],)], "chain 1 goes on from the old trail's last hash")
        self.assertGreater(self.h.sql_value("SELECT count(DISTINCT chain) FROM audit"), 1)
        # An instance still on the previous version calls the one-argument form: chain 1.
        head = self.h.sql_value("SELECT hash FROM audit_head WHERE id = 1")
        self.h.sql("SELECT audit_append(%s)", (texts[0].replace("test.old", "test.old_caller") + "\n",))
        self.assertEqual(self.h.sql("SELECT chain, prev_hash FROM audit WHERE action = 'test.old_caller'"),
                         [(1, head)])
        self.assertEqual(faultkit.audit_chain_problems(self.h), [])


if __name__ == "__main__":
    harness.main()
