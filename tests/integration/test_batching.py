#!/usr/bin/env python3
"""test_batching.py: how events are grouped into database transactions never changes what is
decided. The same events pipelined (many to a transaction) and sent one at a time (one per
transaction) must get the same outcomes, also when one event depends on an incident opened
earlier in the same batch."""
import json
import os

import harness
from harness import SOURCE_ROOT, DaemonTestCase, assault_opened, uid

SHIFT = os.path.join(SOURCE_ROOT, "tools", "demo", "shift.ndjson")


def renamed(events, prefix):
    """The events with every incident and event id prefixed (links too), so a set can be sent
    again as new incidents."""
    out = []
    for ev in events:
        ev = json.loads(json.dumps(ev))
        ev["event_id"] = prefix + ev["event_id"]
        ev["incident_id"] = prefix + ev["incident_id"]
        for link in ev.get("links") or []:
            link["incident_id"] = prefix + link["incident_id"]
        out.append(ev)
    return out


def outcome(reply):
    """What was decided, without the numbers handed out (CRNs, pending ids, due times)."""
    return {
        "status": reply.get("status"),
        "crimes": sorted((c.get("offence"), str(c.get("victim")), tuple(sorted(c.get("flags") or [])),
                          c.get("action")) for c in reply.get("crimes") or []),
        "decisions": sorted((d.get("allegation"), d.get("outcome"), str(d.get("offence")), str(d.get("reason")),
                             str(d.get("code"))) for d in reply.get("decisions") or []),
        "pending": sorted(p.get("reason") for p in reply.get("pending") or []),
    }


class BatchingTest(DaemonTestCase):

    def both_ways(self, events):
        """(replies sent one at a time, replies pipelined) for two renamed copies of events."""
        one, many = renamed(events, uid("S") + "-"), renamed(events, uid("P") + "-")
        with self.h.feed() as feed:
            singly = [feed.request(e) for e in one]
        with self.h.feed() as feed:
            feed.send_many(many)
            piped = feed.read_replies(len(many))
        return singly, piped

    def test_same_report_link_inside_one_batch(self):
        pairs = []
        for _ in range(10):
            first, second = uid("A"), uid("B")
            a = assault_opened(first)
            b = assault_opened(second, at="2026-03-02T10:06:00Z",
                               links=[{"incident_id": first, "relation": "same_report"}])
            a["persons"][0]["name"] = b["persons"][0]["name"] = "Jo Example"
            pairs += [a, b]
        singly, piped = self.both_ways(pairs)
        self.assertEqual([r.get("status") for r in singly + piped], ["accepted"] * (2 * len(pairs)))
        for k in range(1, len(pairs), 2):
            with self.subTest(pair=k // 2):
                self.assertEqual(outcome(piped[k]), outcome(singly[k]),
                                 "a second report of the same matter is decided alike however it is batched")

    def test_demo_shift_alike_pipelined_and_one_by_one(self):
        with open(SHIFT, encoding="utf-8") as f:
            events = [json.loads(line) for line in f if line.strip()]
        singly, piped = self.both_ways(events)
        differ = [f"{e['event_id']}: one by one {outcome(s)}, pipelined {outcome(p)}"
                  for e, s, p in zip(events, singly, piped) if outcome(s) != outcome(p)]
        if differ:
            self.fail("decided differently when pipelined:\n" + "\n".join(differ))
        self.assertEqual({r.get("status") for r in singly}, {"accepted"})


class ManyLanesTest(BatchingTest):
    """Sixteen store connections carrying batches of at most four events: an incident's events
    land in different batches that are in flight together, and must still be applied in the order
    they arrived (a later seq written first would be refused as a seq conflict)."""

    harness_config = {"store.lanes": "16", "store.batch_max": "4"}

    def test_one_session_per_lane(self):
        rows = self.h.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'fcrd'"
                          " AND backend_type = 'client backend'")
        self.assertGreaterEqual(rows[0][0], 16, "every lane holds a session of its own")


if __name__ == "__main__":
    harness.main()
