#!/usr/bin/env python3
"""test_audit.py: the audit trail is append-only by PostgreSQL's own doing: a trigger refuses
UPDATE, DELETE and TRUNCATE even to the owner, the serving role holds no such privilege, and
the hash chain over the entries is intact."""
import datetime
import hashlib
import json

import harness
from harness import DaemonTestCase, assault_opened, psycopg2, uid


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
        self.assertEqual(self.h.sql("SELECT has_table_privilege('fcrd', 'audit', 'INSERT'), "
                                    "has_table_privilege('fcrd', 'audit', 'SELECT')"), [(True, True)])
        self.assertFalse(self.h.sql_value("SELECT has_schema_privilege('fcrd', 'public', 'CREATE')"),
                         "the serving role cannot change the schema")

    def test_hash_chain_is_intact(self):
        """Each entry's hash is sha256(previous hash || entry text); the head names the last."""
        rows = self.h.sql("SELECT id, action, entry, prev_hash, hash FROM audit ORDER BY id")
        self.assertTrue(rows)
        prev = ""
        for id_, action, entry, prev_hash, digest in rows:
            self.assertEqual(prev_hash, prev, f"entry {id_} chains to the one before")
            self.assertEqual(digest, hashlib.sha256((prev_hash + entry).encode("utf-8")).hexdigest(),
                             f"entry {id_}'s hash covers its text")
            self.assertEqual(json.loads(entry).get("action"), action, f"entry {id_}'s text is its row")
            prev = digest
        self.assertEqual(self.h.sql_value("SELECT hash FROM audit_head"), prev)
        self.refused("postgres", "DELETE FROM audit_head -- %s")

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
        query = ("SELECT id, entry, " + ", ".join(self.COLUMNS) + " FROM audit WHERE " + where + " ORDER BY id")
        if conn is None:
            rows = self.h.sql(query, args)
        else:
            with conn.cursor() as cur:
                cur.execute(query, args)
                rows = cur.fetchall()
        return [dict(zip(("id", "entry") + self.COLUMNS, r)) for r in rows]

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
                cur.execute("SELECT audit_append(%s)", (lines,))
                self.assertEqual(cur.fetchone()[0], 2)
            rows = self.audit_dicts("action LIKE 'test.%%'", conn=conn)
            self.assertEqual([r["action"] for r in rows], ["test.alone", "test.split"])
            self.assertEqual([r["entry"] for r in rows], [text(alone), text(split)])
            self.columns_match_text(rows)
            self.assertEqual(rows[0]["actor"], "tab\there")
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


if __name__ == "__main__":
    harness.main()
