#!/usr/bin/env python3
"""test_audit.py: the audit trail is append-only by PostgreSQL's own doing: a trigger refuses
UPDATE, DELETE and TRUNCATE even to the owner, the serving role holds no such privilege, and
the hash chain over the entries is intact."""
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
