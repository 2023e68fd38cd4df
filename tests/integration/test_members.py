#!/usr/bin/env python3
"""test_members.py: an incident's persons and allegations are rows of their own.

An update writes the members it names and nothing else of what the incident has gathered: after
many witnesses the incident row's state is no larger than after one, every witness is a row, and
the API shows them all in the order they arrived, a re-sent person replaced where it stood.

The store reads the members once it holds the incident's lock: a transaction that adds a person
to an incident (and writes its row, as every writer does) and commits while fcrd's batch waits for
the incident's row is seen by that batch (an allegation naming the new person is accepted, not
refused as naming an unknown person), though the lane had the incident's state cached.

Each lane keeps the states its commits left (one lane here, so every batch meets its own cache):
the next event of the incident takes the cached state instead of reading it, and a row written by
anyone else since is read again.
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
    # one lane, so that every batch meets its own cache; every incident cached, however small
    harness_config = {"store.lanes": "1", "store.state_cache_min_members": "0"}

    def metric(self, series):
        status, text = self.h.api.request("GET", "/metrics", role="ops")
        self.assertEqual(status, 200, text)
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        self.fail(f"no {series} in /metrics")

    def states(self):
        return self.metric("fcrd_store_states_cached_total"), self.metric("fcrd_store_states_read_total")
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
        # Another writer (as a second instance would) holds the incident's row while fcrd's batch
        # for it waits in its lock statement, then adds a person, writes the row and commits.
        other = self.h.connect(autocommit=False)
        replies = []
        try:
            with other.cursor() as cur:
                cur.execute("SELECT 1 FROM incidents WHERE incident_id = %s FOR UPDATE", (inc,))
            # fcrd's batch for the incident: an allegation naming the person only that writer adds
            upd = event(inc, 2, "incident.updated",
                        allegations=[{"id": "a2", "victim": "v2", "conduct": "assault.injury",
                                      "occurred_at": "2026-03-02T10:05:00Z",
                                      "location": {"force_area": "own", "premises": "public_place"}}])
            t = threading.Thread(target=lambda: replies.append(self.send_one(upd)))
            t.start()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not self.h.sql_value(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE '%%FOR UPDATE%%' AND pid <> pg_backend_pid()"):
                time.sleep(0.02)
            self.assertLess(time.monotonic(), deadline, "fcrd's batch never waited for the row")
            with other.cursor() as cur:
                cur.execute("INSERT INTO incident_members (incident_id, kind, ord, member_id, doc)"
                            " VALUES (%s, 'persons', 2, 'v2', %s)",
                            (inc, '{"id":"v2","role":"victim","sex":"male","age":51,"confirms":true}'))
                cur.execute("UPDATE incidents SET updated_at = now() WHERE incident_id = %s", (inc,))
            other.commit()
        finally:
            other.close()
        t.join(30)
        self.assertEqual(len(replies), 1)
        self.assertStatus(replies[0], "accepted")
        status, view = self.h.api.get(f"/v1/incidents/{inc}", role="supervisor")
        self.assertEqual([p["id"] for p in view["persons"]], ["v1", "s1", "v2"])
        self.assertEqual([a["id"] for a in view["allegations"]], ["a1", "a2"])

    def test_the_lane_keeps_what_it_committed(self):
        inc = uid("MEMC")
        self.send_accepted(assault_opened(inc))
        cached, read = self.states()
        self.send_accepted(witness(inc, 2, 1))
        self.send_accepted(witness(inc, 3, 2))
        # both updates took the state the lane's previous commit left
        self.assertEqual(self.states(), (cached + 2, read))
        # a write of the row by anyone else (here a legal hold) makes the next batch read it
        self.h.sql("UPDATE incidents SET legal_hold = true, legal_hold_reason = 'test' WHERE incident_id = %s",
                   (inc,))
        self.send_accepted(witness(inc, 4, 3))
        self.assertEqual(self.states(), (cached + 2, read + 1))
        # another writer's member, committed with its row, is seen although the state was cached
        self.h.sql("BEGIN; INSERT INTO incident_members (incident_id, kind, ord, member_id, doc)"
                   " VALUES (%s, 'persons', 5, 'v2', '{\"id\":\"v2\",\"role\":\"victim\",\"confirms\":true}');"
                   " UPDATE incidents SET updated_at = now() WHERE incident_id = %s; COMMIT", (inc, inc))
        upd = event(inc, 5, "incident.updated",
                    allegations=[{"id": "a2", "victim": "v2", "conduct": "assault.injury",
                                  "occurred_at": "2026-03-02T10:05:00Z",
                                  "location": {"force_area": "own", "premises": "public_place"}}])
        self.send_accepted(upd)
        self.assertEqual(self.states(), (cached + 2, read + 2))
        status, view = self.h.api.get(f"/v1/incidents/{inc}", role="supervisor")
        self.assertEqual([p["id"] for p in view["persons"]], ["v1", "s1", "w1", "w2", "w3", "v2"])
        self.assertEqual(len(view["crimes"]), 2)

    def send_one(self, ev):
        with self.h.feed() as feed:
            return feed.request(ev)


if __name__ == "__main__":
    unittest.main()
