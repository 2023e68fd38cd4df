#!/usr/bin/env python3
"""test_members.py: an incident's persons and allegations are rows of their own.

An update writes the members it names and nothing else of what the incident has gathered: after
many witnesses the incident row's state is no larger than after one, every witness is a row, and
the API shows them all in the order they arrived, a re-sent person replaced where it stood.

The store reads the members once it holds the incident's lock: a transaction that adds a person
to an incident and commits while fcrd's batch waits for the incident's row is seen by that batch
(an allegation naming the new person is accepted, not refused as naming an unknown person).
"""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import assault_opened, event, uid  # noqa: E402


def witness(incident_id, seq, n, name=None):
    return event(incident_id, seq, "incident.updated", narrative=f"Log {seq}: witness {n} saw the suspect leave.",
                 persons=[{"id": f"w{n}", "role": "witness", "name": name or f"Witness {n}"}])


class MembersTest(harness.DaemonTestCase):
    def row_state_size(self, inc):
        return self.h.sql_value("SELECT octet_length((state::jsonb - 'last_seq')::text) FROM incidents WHERE incident_id = %s", (inc,))

    def test_an_update_writes_what_it_names(self):
        inc = uid("MEM")
        self.send_accepted(assault_opened(inc), witness(inc, 2, 1))
        small = self.row_state_size(inc)
        self.send_accepted(*[witness(inc, seq, seq - 1) for seq in range(3, 43)])
        # the row holds no member, so forty more witnesses leave it as it was (but for last_seq)
        self.assertEqual(self.row_state_size(inc), small)
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM incidents WHERE incident_id = %s"
                                          " AND (state::jsonb ? 'persons' OR state::jsonb ? 'allegations')", (inc,)), 0)
        rows = self.h.sql("SELECT kind, ord, member_id FROM incident_members WHERE incident_id = %s"
                          " ORDER BY kind, ord", (inc,))
        persons = [(o, m) for k, o, m in rows if k == "persons"]
        self.assertEqual(persons, [(0, "v1"), (1, "s1")] + [(i + 1, f"w{i}") for i in range(1, 42)])
        self.assertEqual([(k, o, m) for k, o, m in rows if k == "allegations"], [("allegations", 0, "a1")])
        # a person sent again is replaced where it stands; the others are not rewritten
        before = dict(self.h.sql("SELECT member_id, xmin::text FROM incident_members WHERE incident_id = %s", (inc,)))
        self.send_accepted(witness(inc, 43, 5, name="Witness Five Renamed"))
        after = dict(self.h.sql("SELECT member_id, xmin::text FROM incident_members WHERE incident_id = %s", (inc,)))
        self.assertEqual(sorted(m for m in after if after[m] != before[m]), ["w5"])
        status, view = self.h.api.get(f"/v1/incidents/{inc}", role="supervisor")
        self.assertEqual(status, 200, view)
        self.assertEqual([p["id"] for p in view["persons"]], ["v1", "s1"] + [f"w{i}" for i in range(1, 42)])
        self.assertEqual(view["persons"][6]["name"], "Witness Five Renamed")
        self.assertEqual([a["id"] for a in view["allegations"]], ["a1"])
        self.assertEqual(len(view["crimes"]), 1)

    def test_members_committed_while_the_batch_waits_are_read(self):
        inc = uid("MEMW")
        self.send_accepted(assault_opened(inc))
        # Another writer (as a second instance would) holds the incident's row and adds a person.
        other = self.h.connect(autocommit=False)
        replies = []
        try:
            with other.cursor() as cur:
                cur.execute("SELECT 1 FROM incidents WHERE incident_id = %s FOR UPDATE", (inc,))
                cur.execute("INSERT INTO incident_members (incident_id, kind, ord, member_id, doc)"
                            " VALUES (%s, 'persons', 2, 'v2', %s)",
                            (inc, '{"id":"v2","role":"victim","sex":"male","age":51,"confirms":true}'))
            # fcrd's batch for the incident: an allegation naming the person only that writer added
            upd = event(inc, 2, "incident.updated",
                        allegations=[{"id": "a2", "victim": "v2", "conduct": "assault.injury",
                                      "occurred_at": "2026-03-02T10:05:00Z",
                                      "location": {"force_area": "own", "premises": "public_place"}}])
            t = threading.Thread(target=lambda: replies.append(self.send_one(upd)))
            t.start()
            # wait until fcrd's transaction is waiting for the row lock, then commit
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not self.h.sql_value(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE '%%FOR UPDATE%%' AND pid <> pg_backend_pid()"):
                time.sleep(0.02)
            self.assertLess(time.monotonic(), deadline, "fcrd's batch never waited for the row")
            other.commit()
        finally:
            other.close()
        t.join(30)
        self.assertEqual(len(replies), 1)
        self.assertStatus(replies[0], "accepted")
        status, view = self.h.api.get(f"/v1/incidents/{inc}", role="supervisor")
        self.assertEqual([p["id"] for p in view["persons"]], ["v1", "s1", "v2"])
        self.assertEqual([a["id"] for a in view["allegations"]], ["a1", "a2"])

    def send_one(self, ev):
        with self.h.feed() as feed:
            return feed.request(ev)


if __name__ == "__main__":
    unittest.main()
