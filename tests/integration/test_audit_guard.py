#!/usr/bin/env python3
"""test_audit_guard.py: the audit trail holds against fcrd's own database role, every change to
crimes and pending decisions is in the chain whoever makes it, and the migrations run under an
account the serving daemon does not hold (sql/0014_audit_guard.sql, fcrd migrate).

Connected as the serving login `fcrd` (what a stolen serving password gives): the trail's tables
refuse INSERT, UPDATE of a chain head and DELETE; an UPDATE of a crime or a pending decision is
chained as an entry the database made, naming the row with digests of its old and new text, and
`fcrctl audit verify` still passes. fcrd's own batches put those entries on their lane's chain,
and people's decisions through the API keep working. The serving daemon started before
`fcrd migrate` is not ready and says to run it; it becomes ready once it has run. `fcrd migrate`
with a connection string that cannot connect exits non-zero, saying why.
"""
import hashlib
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))

import faultkit  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase, assault_opened, free_port, third_party_opened, uid  # noqa: E402

FCRCTL_BIN = os.environ.get("FCRCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(harness.FCRD_BIN))), "tools", "fcrctl")


def row_digest(h, table, key_col, key):
    """SHA-256 of the row's text as PostgreSQL writes a whole row, as the triggers digest it."""
    return h.sql_value(f"SELECT encode(sha256(convert_to(t::text, 'UTF8')), 'hex') FROM {table} t "
                       f"WHERE {key_col} = %s", (key,))


class AuditGuardTest(DaemonTestCase):

    def setUp(self):
        self.assertIsNotNone(faultkit.wait_ready(self.h, 60))

    def as_fcrd(self, sql, args=None):
        """One statement as the serving login: None, or the error's SQLSTATE."""
        return self.h.sql_refused(sql, args)

    def db_entries(self, table, key):
        """The database's own entries naming `key` of `table`: (chain, action, actor, row), in order."""
        out = []
        for chain, action, actor, after in self.h.sql(
                "SELECT chain, action, actor, after FROM audit WHERE role = 'database' AND after->>'table' = %s "
                "ORDER BY id", (table,)):
            for row in after["rows"]:
                if row["key"] == key:
                    out.append((chain, action, actor, row))
        return out

    def verify(self):
        e = dict(os.environ, FCRD_TOKEN=self.h.tokens["auditor"], FCRD_URL=f"http://127.0.0.1:{self.h.api_port}")
        r = subprocess.run([FCRCTL_BIN, "audit", "verify"], env=e, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(faultkit.audit_chain_problems(self.h), [])

    def crime_of(self, reply):
        self.assertTrue(reply["crimes"], json.dumps(reply))
        return reply["crimes"][0]["crn"]

    # -- the serving role and the trail ------------------------------------------------------
    def test_serving_role_cannot_write_the_trail(self):
        self.send_accepted(assault_opened(uid("GRD")))
        trail = self.h.sql("SELECT count(*), max(id) FROM audit")
        heads = self.h.sql("SELECT id, hash FROM audit_head ORDER BY id")
        text = json.dumps({"action": "forged", "actor": "rules", "at": "2026-01-01T00:00:00.000Z", "role": "rules"},
                          sort_keys=True, separators=(",", ":"))
        refused = {
            "insert into audit": ("INSERT INTO audit (actor, role, action, entry, prev_hash, hash, chain) "
                                  "VALUES ('x', 'x', 'forged', %s, '', 'x', 1)", (text,)),
            "update audit_head": ("UPDATE audit_head SET hash = 'x' WHERE id = 1", None),
            "delete from audit": ("DELETE FROM audit", None),
            "update audit": ("UPDATE audit SET actor = 'x'", None),
            "draw an audit id": ("SELECT nextval('audit_id_seq')", None),
        }
        for what, (sql, args) in refused.items():
            with self.subTest(what=what):
                self.assertEqual(self.as_fcrd(sql, args), "42501", f"the serving role may not: {what}")
        self.assertEqual(self.h.sql("SELECT count(*), max(id) FROM audit"), trail, "the trail is unchanged")
        self.assertEqual(self.h.sql("SELECT id, hash FROM audit_head ORDER BY id"), heads, "the heads are unchanged")
        # What it may still do: read the trail, and append through the function, chained.
        self.assertIsNone(self.as_fcrd("SELECT count(*) FROM audit"))
        owners = dict(self.h.sql("SELECT p.oid::regprocedure::text, pg_get_userbyid(p.proowner) FROM pg_proc p "
                                 "WHERE p.proname = 'audit_append' AND p.prosecdef"))
        self.assertEqual(owners, {"audit_append(text,integer)": "fcrd_chain", "audit_append(text)": "fcrd_chain"})
        self.verify()

    # -- direct SQL changes are chained -------------------------------------------------------
    def test_direct_crime_update_is_chained(self):
        crn = self.crime_of(self.send_accepted(assault_opened(uid("DIR")))[0])
        before = row_digest(self.h, "crimes", "crn", crn)
        recorded = self.db_entries("crimes", crn)
        self.assertEqual([(a, r["op"], r["old"], r["new"]) for _, a, _, r in recorded],
                         [("db.crimes.insert", "insert", None, before)], "fcrd's own insert is chained too")
        self.assertIsNone(self.as_fcrd("UPDATE crimes SET status = 'cancelled' WHERE crn = %s", (crn,)))
        after = row_digest(self.h, "crimes", "crn", crn)
        entries = self.db_entries("crimes", crn)
        self.assertEqual(len(entries), 2, entries)
        chain, action, actor, row = entries[-1]
        self.assertEqual((chain, action, actor), (1, "db.crimes.update", "fcrd"), "chain 1 when fcrd.chain is unset")
        self.assertEqual((row["op"], row["old"], row["new"]), ("update", before, after))
        self.assertNotEqual(before, after)
        self.verify()

    def test_statements_that_change_no_row_append_nothing(self):
        """The triggers return at once for a statement that changed no row (sql/0026), and still
        chain one that did, whatever its kind."""
        crn = self.crime_of(self.send_accepted(assault_opened(uid("NOP")))[0])
        trail = self.h.sql("SELECT count(*), max(id) FROM audit")
        for sql in ("UPDATE crimes SET status = 'cancelled' WHERE crn = 'XX-none'",
                    "DELETE FROM crimes WHERE crn = 'XX-none'",
                    "INSERT INTO crimes SELECT * FROM crimes WHERE false",
                    "UPDATE pending_decisions SET status = 'closed' WHERE id = 'XX-none'",
                    "DELETE FROM pending_decisions WHERE id = 'XX-none'"):
            with self.subTest(sql=sql):
                self.h.sql(sql)
                self.assertEqual(self.h.sql("SELECT count(*), max(id) FROM audit"), trail, sql)
        before = row_digest(self.h, "crimes", "crn", crn)
        self.h.sql("DELETE FROM crimes WHERE crn = %s", (crn,))
        _, action, actor, row = self.db_entries("crimes", crn)[-1]
        self.assertEqual((action, actor, row["op"], row["old"], row["new"]),
                         ("db.crimes.delete", "postgres", "delete", before, None))
        self.verify()

    def test_direct_pending_update_is_chained(self):
        reply = self.send_accepted(third_party_opened(uid("PND")))[0]
        self.assertTrue(reply["pending"], json.dumps(reply))
        pid = reply["pending"][0]["id"]
        before = row_digest(self.h, "pending_decisions", "id", pid)
        self.assertIsNone(self.as_fcrd("UPDATE pending_decisions SET due = due + interval '30 days' WHERE id = %s",
                                       (pid,)))
        entries = self.db_entries("pending_decisions", pid)
        self.assertEqual([a for _, a, _, _ in entries], ["db.pending_decisions.insert", "db.pending_decisions.update"])
        chain, _, actor, row = entries[-1]
        self.assertEqual((chain, actor), (1, "fcrd"))
        self.assertEqual((row["old"], row["new"]), (before, row_digest(self.h, "pending_decisions", "id", pid)))
        # A session may name its chain: the entry goes there.
        conn = self.h.connect(user="fcrd", autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SET LOCAL fcrd.chain = '5'")
                cur.execute("UPDATE pending_decisions SET flags = flags || '{touched}' WHERE id = %s", (pid,))
            conn.commit()
        finally:
            conn.close()
        self.assertEqual(self.db_entries("pending_decisions", pid)[-1][0], 5)
        self.verify()

    # -- fcrd's own writes -------------------------------------------------------------------
    def test_event_flow_chains_on_the_lanes_chain(self):
        """Several connections at once, so that several lanes write: the database's entry for each
        crime is on the chain of the lane whose batch recorded it (the one fcrd's crime.recorded
        entry is on), so a batch holds one chain head only."""
        feeds = [self.h.feed() for _ in range(4)]
        crns = []
        try:
            for feed in feeds:
                feed.send_many([assault_opened(uid("LANE")) for _ in range(25)])
            for feed in feeds:
                for r in feed.read_replies(25):
                    self.assertStatus(r, "accepted")
                    crns.append(self.crime_of(r))
        finally:
            for feed in feeds:
                feed.close()
        fcrd_chain = dict(self.h.sql("SELECT crn, chain FROM audit WHERE crn = ANY(%s) AND action = 'crime.recorded'",
                                     (crns,)))
        self.assertEqual(set(fcrd_chain), set(crns))
        db_chain = {}
        for chain, after in self.h.sql("SELECT chain, after FROM audit WHERE action = 'db.crimes.insert'"):
            for row in after["rows"]:
                db_chain[row["key"]] = chain
        self.assertEqual({c: db_chain.get(c) for c in crns}, fcrd_chain)
        self.assertGreater(len(set(fcrd_chain.values())), 1, "more than one lane wrote")
        self.verify()

    def test_people_decisions_still_work(self):
        crn = self.crime_of(self.send_accepted(assault_opened(uid("PPL")))[0])
        status, body = self.h.api.request("POST", f"/v1/crimes/{urllib.parse.quote(crn, safe='')}/reclassify",
                                          {"offence": "105A", "rationale": "no injury after all"}, role="ddm")
        self.assertEqual((status, body.get("offence")), (200, "105A"), body)
        chain = self.h.sql_value("SELECT chain FROM audit WHERE crn = %s AND action = 'crime.reclassified'", (crn,))
        entries = self.db_entries("crimes", crn)
        self.assertEqual([a for _, a, _, _ in entries], ["db.crimes.insert", "db.crimes.update"])
        self.assertEqual(entries[-1][0], chain, "the decision's database entry is on its lane's chain")
        self.assertEqual(entries[-1][3]["new"], row_digest(self.h, "crimes", "crn", crn))
        self.verify()


class MigrateFirstTest(DaemonTestCase):
    """The serving daemon started on a database no migration ran on."""

    @classmethod
    def setUpClass(cls):
        start = harness.Harness.start_fcrd
        harness.Harness.start_fcrd = lambda self, **kw: start(self, wait_ready=False, migrate=False)
        try:
            super().setUpClass()
        finally:
            harness.Harness.start_fcrd = start

    def ready(self):
        try:
            return self.h.api.get("/readyz")[0] == 200
        except OSError:
            return False

    def test_a_not_ready_until_migrated(self):
        h = self.h
        self.assertNotIn("admin_conninfo", open(h.conf_path, encoding="utf-8").read(),
                         "the serving daemon's file holds no owner's credentials")
        deadline = time.monotonic() + 30
        while "run `fcrd migrate" not in h.log_text():
            self.assertLess(time.monotonic(), deadline, h.log_tail())
            time.sleep(0.1)
        self.assertIn("the schema is at migration 0", h.log_text())
        # Not ready, and stays so while it checks again (its connections retry with backoff).
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            self.assertFalse(self.ready(), "ready on a schema it cannot use")
            time.sleep(0.2)
        with h.feed() as feed:
            self.assertStatus(feed.request(assault_opened(uid("EARLY"))), "retry")
        r = h.migrate()
        self.assertIn("fcrd migrate: the schema is at migration", r.stdout)
        self.assertIsNotNone(faultkit.wait_ready(h, 60), "ready once fcrd migrate has run")
        self.send_accepted(assault_opened(uid("LATE")))
        self.assertEqual(h.sql_value("SELECT count(*) FROM rulesets"), 1, "the rule set stored by the first batch")
        self.assertIsNone(h.proc.poll())

    def test_b_admin_conninfo_in_the_serving_file_is_ignored_with_a_warning(self):
        h = self.h
        h.stop_fcrd()
        owner = f"host=127.0.0.1 port={h.pg.port} dbname=fcrd user=fcrd_owner"
        real = h.config_text
        h.config_text = lambda **over: real(**over) + f"\n[database]\nadmin_conninfo = {owner}\n"
        try:
            h.start_fcrd()
        finally:
            h.config_text = real
        self.assertIn("admin_conninfo is set in", h.log_text())
        self.assertIn("the serving daemon does not use it", h.log_text())
        # It never connected as the owner.
        self.assertEqual(h.sql_value("SELECT count(*) FROM pg_stat_activity WHERE usename = 'fcrd_owner'"), 0)

    def test_c_migrate_with_a_bad_admin_conninfo_fails_clearly(self):
        h = self.h
        h.overrides["database.admin_conninfo"] = f"host=127.0.0.1 port={free_port()} dbname=fcrd user=fcrd_owner"
        try:
            r = h.migrate(check=False)
        finally:
            del h.overrides["database.admin_conninfo"]
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("fcrd migrate: cannot connect to the database (admin_conninfo)", r.stderr)
        # No admin_conninfo at all: the key is named.
        with open(h.migrate_path, "w", encoding="utf-8") as f:
            f.write(f"[database]\nmigrations = {os.path.join(harness.SOURCE_ROOT, 'sql')}\n")
        r = subprocess.run([harness.FCRD_BIN, "migrate", "--config", h.migrate_path], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("[database] admin_conninfo: required by fcrd migrate", r.stderr)
        # fcrd itself served on throughout.
        self.assertIsNotNone(faultkit.wait_ready(h, 30))


if __name__ == "__main__":
    harness.main()
