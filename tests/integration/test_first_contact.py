#!/usr/bin/env python3
"""test_first_contact.py: crimes and pending decisions carry their incident's first contact.

The self-audit report chooses a period's crimes and decisions by their incident's first contact,
read from the rows themselves (sql/0025_first_contact.sql), so every row must hold it:

- fcrd writes it with every crime and decision it inserts: the incident's opened_at, whether the
  crime comes with the opening or with a later event (not the later event's time), and the
  report then counts the later crime in the period of the incident's first contact;
- migration 0025 fills it for the rows stored before it, in updates of 10,000 rows, each chained
  like any other change: after a db.<table>.alter entry, every stored row's key is listed in a
  db.<table>.update entry whose after-digest is the SHA-256 of the row as it now stands. A row
  whose incident has no opened_at keeps none.
"""
import hashlib
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import FCRD_BIN, SOURCE_ROOT, assault_opened, event, third_party_opened, uid  # noqa: E402


class WrittenTest(harness.DaemonTestCase):
    def first_contacts(self, inc):
        return self.h.sql("SELECT 'crime', c.first_contact = i.opened_at FROM crimes c JOIN incidents i USING"
                          " (incident_id) WHERE incident_id = %s UNION ALL SELECT 'pending',"
                          " p.first_contact = i.opened_at FROM pending_decisions p JOIN incidents i USING"
                          " (incident_id) WHERE incident_id = %s ORDER BY 1", (inc, inc))

    def test_rows_written_by_fcrd_carry_the_incident_opening(self):
        tag = uid("FC")
        opened, confirmed = "2018-03-05T22:00:00Z", "2018-04-02T09:00:00Z"
        with self.h.feed() as feed:
            self.assertStatus(feed.request(third_party_opened(f"{tag}-P", opened)), "accepted")
            self.assertEqual(self.first_contacts(f"{tag}-P"), [("pending", True)])
            # The victim confirms four weeks later: the crime is recorded then, in April, but it
            # belongs to the incident's first contact, in March.
            self.assertStatus(feed.request(event(f"{tag}-P", 2, "incident.updated", confirmed, persons=[
                {"id": "v1", "role": "victim", "sex": "male", "age": 40, "confirms": True}])), "accepted")
            self.assertStatus(feed.request(assault_opened(f"{tag}-A", at=opened)), "accepted")
        self.assertEqual(self.first_contacts(f"{tag}-P"), [("crime", True), ("pending", True)])
        self.assertEqual(self.first_contacts(f"{tag}-A"), [("crime", True)])
        self.assertEqual(self.h.sql("SELECT DISTINCT first_contact::text FROM crimes WHERE incident_id LIKE %s",
                                    (f"{tag}-%",)), [("2018-03-05 22:00:00+00",)])
        status, march = self.h.api.get("/v1/reports/cdi?from=2018-03-01&to=2018-03-31", role="auditor")
        self.assertEqual(status, 200, march)
        self.assertEqual(march["strata"][0]["crimes"], 2, march)
        status, april = self.h.api.get("/v1/reports/cdi?from=2018-04-01&to=2018-04-30", role="auditor")
        self.assertEqual(status, 200, april)
        self.assertEqual(april["strata"][0]["crimes"], 0, april)


class MigrationTest(harness.DaemonTestCase):
    """A database at 0024 with rows in it, then migration 0025, as `fcrd migrate` applies it."""

    DB = "fc_upgrade"

    def migrate(self, upto):
        folder = os.path.join(self.work, f"upto{upto}")
        os.makedirs(folder, exist_ok=True)
        for name in sorted(os.listdir(os.path.join(SOURCE_ROOT, "sql"))):
            if name[:4].isdigit() and int(name[:4]) <= upto:
                os.symlink(os.path.join(SOURCE_ROOT, "sql", name), os.path.join(folder, name))
        conf = os.path.join(folder, "migrate.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f"[database]\nadmin_conninfo = host=127.0.0.1 port={self.h.pg.port} dbname={self.DB}"
                    f" user=fcrd_owner\nmigrations = {folder}\n")
        r = subprocess.run([FCRD_BIN, "migrate", "--config", conf], capture_output=True, text=True,
                           env=self.h.fcrd_env(), timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)

    def rows(self, query, args=None):
        conn = self.h.pg.connect(self.DB)
        try:
            with conn.cursor() as cur:
                cur.execute(query, args)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def test_stored_rows_are_filled_and_the_change_is_chained(self):
        self.work = tempfile.mkdtemp(prefix="fc-upgrade-")
        conn = self.h.pg.connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE {self.DB} OWNER fcrd_owner")
        finally:
            conn.close()
        self.migrate(24)
        # 10,001 crimes of incidents opened at known times (two updates of the backfill), one
        # crime of an incident with no opened_at, and two decisions.
        self.rows("INSERT INTO incidents (incident_id, last_seq, category, opened_at)"
                  " SELECT 'U-' || g, 1, 'crime', timestamptz '2019-01-01' + g * interval '1 minute'"
                  " FROM generate_series(1, 10001) AS g")
        self.rows("INSERT INTO incidents (incident_id, last_seq) VALUES ('U-none', 0)")
        self.rows("INSERT INTO crimes (crn, incident_id, offence, status, recorded_at, rules, ruleset)"
                  " SELECT 'XX-U-' || g, 'U-' || g, '8N', 'recorded', now(), ARRAY['seed'], 'seed'"
                  " FROM generate_series(1, 10001) AS g"
                  " UNION ALL SELECT 'XX-U-none', 'U-none', '8N', 'recorded', now(), ARRAY['seed'], 'seed'")
        self.rows("INSERT INTO pending_decisions (id, incident_id, reason, opened_at, due, status, rules, ruleset)"
                  " SELECT 'XX-P-U-' || g, 'U-' || g, 'third_party_unconfirmed', now(), now(), 'open', ARRAY['seed'],"
                  " 'seed' FROM generate_series(1, 2) AS g")
        before = self.rows("SELECT max(id) FROM audit")[0][0]

        self.migrate(25)

        self.assertEqual(self.rows("SELECT count(*) FILTER (WHERE c.first_contact = i.opened_at),"
                                   " count(*) FILTER (WHERE c.first_contact IS NULL) FROM crimes c"
                                   " JOIN incidents i USING (incident_id)"), [(10001, 1)])
        self.assertEqual(self.rows("SELECT count(*) FROM pending_decisions p JOIN incidents i USING (incident_id)"
                                   " WHERE p.first_contact = i.opened_at"), [(2,)])
        entries = self.rows("SELECT action, after FROM audit WHERE id > %s ORDER BY id", (before,))
        actions = [a for a, _ in entries]
        self.assertEqual(actions, ["db.crimes.alter", "db.pending_decisions.alter", "db.crimes.update",
                                   "db.crimes.update", "db.pending_decisions.update"], actions)
        stored = {crn: hashlib.sha256(text.encode()).hexdigest()
                  for crn, text in self.rows("SELECT crn, c::text FROM crimes c")}
        listed = {}
        for action, after in entries:
            if action == "db.crimes.update":
                for row in after["rows"]:
                    self.assertNotIn(row["key"], listed)
                    listed[row["key"]] = row["new"]
        # Every crime that changed is listed with the digest of the row as it now stands.
        self.assertEqual(len(listed), 10001)
        self.assertEqual({k: stored[k] for k in listed}, listed)
        self.assertNotIn("XX-U-none", listed)
        # The entries are chained: each names the hash of the entry before it on its chain.
        links = self.rows("SELECT a.prev_hash = b.hash FROM audit a JOIN LATERAL (SELECT hash FROM audit b"
                          " WHERE b.chain = a.chain AND b.id < a.id ORDER BY b.id DESC LIMIT 1) b ON true"
                          " WHERE a.id > %s", (before,))
        self.assertEqual(links, [(True,)] * len(entries))


if __name__ == "__main__":
    harness.main()
