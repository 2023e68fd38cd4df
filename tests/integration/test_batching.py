#!/usr/bin/env python3
"""test_batching.py: how events are grouped into database transactions never changes what is
decided. The same events pipelined (many to a transaction) and sent one at a time (one per
transaction) must get the same outcomes, also when one event depends on an incident opened
earlier in the same batch."""
import json
import os

import harness
from harness import SOURCE_ROOT, DaemonTestCase, assault_opened, event, uid
from test_ops_support import get_metrics, metric, parse_metrics

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


class DirectBatchTest(DaemonTestCase):
    """A batch made only of openings of new incidents is decided without reading the database
    first. Reading would have found nothing unless the incident or the event id is already there;
    then the write fails on that key, and the batch is decided again after reading. Each test
    checks both the answer and which way the batch went (the store's counters)."""

    def counts(self):
        """(direct batches sent, direct batches refused) so far."""
        status, _, body = get_metrics(self.h.api_port, self.h.tokens["ops"])
        self.assertEqual(status, 200, body)
        samples, _ = parse_metrics(body)
        return (metric(samples, "fcrd_store_direct_batches_total"),
                metric(samples, "fcrd_store_direct_misses_total"))

    def request_counted(self, feed, ev):
        """(reply, direct batches sent, direct batches refused) for one event sent alone."""
        d0, m0 = self.counts()
        reply = feed.request(ev)
        d1, m1 = self.counts()
        return reply, d1 - d0, m1 - m0

    def crimes_of(self, incident_id):
        return self.h.sql_value("SELECT count(*) FROM crimes WHERE incident_id = %s", (incident_id,))

    def test_lone_opening_goes_direct_and_an_update_reads(self):
        inc = uid("D")
        with self.h.feed() as feed:
            # A lane holds no spare serials until its first opening, which reads; and lanes finish
            # connecting one by one, so the first openings may each land on a lane of their own.
            # Warm up until one goes direct: from then on the same (first idle) lane takes each
            # lone event, and it holds serials.
            for _ in range(8):
                _, warm_direct, _ = self.request_counted(feed, assault_opened(uid("W")))
                if warm_direct:
                    break
            else:
                self.fail("no lone opening went direct")
            reply, direct, missed = self.request_counted(feed, assault_opened(inc))
            self.assertStatus(reply, "accepted")
            self.assertEqual(len(reply["crimes"]), 1, reply)
            self.assertEqual((direct, missed), (1, 0), "an opening of a new incident is written without reading")
            update = event(inc, 2, "incident.updated", at="2026-03-02T10:05:00Z",
                           narrative="Officer attended; victim confirms.")
            reply, direct, missed = self.request_counted(feed, update)
            self.assertStatus(reply, "accepted")
            self.assertEqual((direct, missed), (0, 0), "an update is decided on the stored state")
        self.assertEqual(self.crimes_of(inc), 1)
        self.assertEqual(self.h.sql_value("SELECT last_seq FROM incidents WHERE incident_id = %s", (inc,)), 2)

    def test_resent_opening_is_a_duplicate(self):
        inc = uid("D")
        ev = assault_opened(inc)
        with self.h.feed() as feed:
            first = feed.request(ev)
            self.assertStatus(first, "accepted")
            again, direct, missed = self.request_counted(feed, ev)
        self.assertStatus(again, "duplicate")
        self.assertEqual(again["crimes"], first["crimes"], "a resend gets the reply first given")
        self.assertEqual((direct, missed), (1, 1), "tried without reading, refused on the event id, read")
        self.assertEqual(self.crimes_of(inc), 1)
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM raw_events WHERE incident_id = %s", (inc,)), 1)

    def test_reused_event_id_with_other_content_conflicts(self):
        inc = uid("D")
        ev = assault_opened(inc)
        other = assault_opened(uid("D"), event_id=ev["event_id"])
        with self.h.feed() as feed:
            self.assertStatus(feed.request(ev), "accepted")
            reply, _, missed = self.request_counted(feed, other)
        self.assertStatus(reply, "rejected", "event_id_conflict")
        self.assertEqual(missed, 1)
        self.assertEqual(self.crimes_of(other["incident_id"]), 0)

    def test_refused_opening_is_answered_as_after_reading(self):
        """An opening the rules refuse keeps its batch from going direct: reading first finds a
        stored event with that id, and the answer is that conflict, not the rules' refusal."""
        ev = assault_opened(uid("D"))
        refused = assault_opened(uid("D"), event_id=ev["event_id"], reported_by="nobody")
        with self.h.feed() as feed:
            self.assertStatus(feed.request(ev), "accepted")
            reply, direct, missed = self.request_counted(feed, refused)
        self.assertStatus(reply, "rejected", "event_id_conflict")
        self.assertEqual((direct, missed), (0, 0), "decided after reading, before anything was sent")

    def test_second_opening_of_an_incident_is_a_seq_conflict(self):
        inc = uid("D")
        with self.h.feed() as feed:
            self.assertStatus(feed.request(assault_opened(inc)), "accepted")
            reply, _, missed = self.request_counted(feed, assault_opened(inc))
        self.assertStatus(reply, "rejected", "seq_conflict")
        self.assertEqual(missed, 1, "the incident's key refused the direct write")
        self.assertEqual(self.crimes_of(inc), 1)

    def test_opening_an_incident_another_one_linked_to_first(self):
        """A link to an incident not yet opened leaves a row with no state; opening it later is
        an ordinary opening, decided again after the direct write met that row."""
        first, later = uid("D"), uid("D")
        with self.h.feed() as feed:
            linking = assault_opened(first, links=[{"incident_id": later, "relation": "related"}])
            self.assertStatus(feed.request(linking), "accepted")
            self.assertEqual(self.h.sql_value("SELECT count(*) FROM incidents WHERE incident_id = %s"
                                              " AND state IS NULL", (later,)), 1)
            reply, _, missed = self.request_counted(feed, assault_opened(later))
        self.assertStatus(reply, "accepted")
        self.assertEqual(len(reply["crimes"]), 1, reply)
        self.assertEqual(missed, 1)
        self.assertEqual(self.crimes_of(later), 1)

    def test_pipelined_openings_get_distinct_crime_numbers(self):
        """Serials kept from earlier batches are handed out once: many openings, some direct and
        some read, never share a crime number. A number handed out twice would not show as two
        rows (crn is the key, and a crime is written with ON CONFLICT (crn) DO UPDATE) but as one
        incident's crime overwriting another's: fewer rows than openings."""
        events = [assault_opened(uid("D")) for _ in range(300)]
        direct_before, _ = self.counts()
        with self.h.feed() as feed:
            for k in range(0, len(events), 30):
                for ev in events[k:k + 30]:
                    feed.send(ev)
                feed.read_replies(30)
            self.assertStatus(feed.request(assault_opened(uid("D"))), "accepted")
        direct_after, _ = self.counts()
        self.assertGreater(direct_after - direct_before, 0, "some batches went direct")
        rows = self.h.sql("SELECT incident_id FROM crimes WHERE incident_id = ANY(%s)",
                          ([e["incident_id"] for e in events],))
        self.assertEqual(sorted(r[0] for r in rows), sorted(e["incident_id"] for e in events),
                         "every opening kept its own crime")


if __name__ == "__main__":
    harness.main()
