#!/usr/bin/env python3
"""test_idempotency.py: resends answer `duplicate` and change nothing; a reused event_id or an
out-of-order seq is refused and writes nothing."""
import json

import harness
from harness import DaemonTestCase, assault_opened, event, uid


class IdempotencyTest(DaemonTestCase):

    def counts(self, incident_id):
        """Row counts that a resend must leave alone."""
        q = {
            "raw_events": "SELECT count(*) FROM raw_events WHERE incident_id = %s",
            "crimes": "SELECT count(*) FROM crimes WHERE incident_id = %s",
            "pending": "SELECT count(*) FROM pending_decisions WHERE incident_id = %s",
            "audit": "SELECT count(*) FROM audit WHERE incident_id = %s",
            "last_seq": "SELECT last_seq FROM incidents WHERE incident_id = %s",
        }
        return {k: self.h.sql_value(v, (incident_id,)) for k, v in q.items()}

    @staticmethod
    def outcome(reply):
        return {k: reply.get(k) for k in ("crimes", "decisions", "rules")}

    def test_resend_is_duplicate_with_same_outcome(self):
        inc = uid("DUP")
        ev = assault_opened(inc)
        with self.h.feed() as feed:
            first = feed.request(ev)
            self.assertStatus(first, "accepted")
            before = self.counts(inc)
            again = feed.request(ev)
        self.assertStatus(again, "duplicate")
        self.assertEqual(again.get("event_id"), ev["event_id"])
        self.assertEqual(self.outcome(again), self.outcome(first))
        self.assertEqual(self.counts(inc), before, "a resend writes nothing")
        self.assertEqual(before["crimes"], 1)

    def test_resend_on_new_connection_and_reordered_keys_is_duplicate(self):
        inc = uid("DUP")
        ev = assault_opened(inc)
        with self.h.feed() as feed:
            first = feed.request(ev)
        self.assertStatus(first, "accepted")
        before = self.counts(inc)
        # The same content with its keys in another order and other spacing is the same event.
        line = json.dumps(dict(reversed(list(ev.items()))), indent=1).replace("\n", " ")
        with self.h.feed(unix=True) as feed:
            again = feed.request(line)
        self.assertStatus(again, "duplicate")
        self.assertEqual(self.outcome(again), self.outcome(first))
        self.assertEqual(self.counts(inc), before)

    def test_resend_of_earlier_event_after_later_ones_is_duplicate(self):
        inc = uid("DUP")
        e1 = assault_opened(inc)
        e2 = event(inc, 2, "incident.updated", "2026-03-02T10:20:00Z", narrative="Victim taken to hospital.")
        with self.h.feed() as feed:
            r1, r2 = feed.request(e1), feed.request(e2)
            self.assertStatus(r1, "accepted")
            self.assertStatus(r2, "accepted")
            before = self.counts(inc)
            again = feed.request(e1)
        self.assertStatus(again, "duplicate")
        self.assertEqual(self.outcome(again), self.outcome(r1))
        self.assertEqual(self.counts(inc), before)

    def test_same_event_id_other_content_is_event_id_conflict(self):
        inc = uid("CONF")
        ev = assault_opened(inc)
        with self.h.feed() as feed:
            self.assertStatus(feed.request(ev), "accepted")
            before = self.counts(inc)
            changed = dict(ev, narrative=ev["narrative"] + " (edited)")
            r = feed.request(changed)
            self.assertStatus(r, "rejected", "event_id_conflict")
            self.assertEqual(r.get("event_id"), ev["event_id"])
            # The same id on another incident is a conflict as well.
            other = assault_opened(uid("CONF"), event_id=ev["event_id"])
            self.assertStatus(feed.request(other), "rejected", "event_id_conflict")
            self.assertIsNone(self.h.sql_value("SELECT 1 FROM incidents WHERE incident_id = %s",
                                               (other["incident_id"],)), "nothing written for a conflict")
        self.assertEqual(self.counts(inc), before)

    def test_seq_not_greater_is_seq_conflict(self):
        inc = uid("SEQ")
        with self.h.feed() as feed:
            self.assertStatus(feed.request(assault_opened(inc)), "accepted")
            self.assertStatus(feed.request(event(inc, 3, "incident.updated", "2026-03-02T10:05:00Z",
                                                 narrative="Suspect described.")), "accepted")
            before = self.counts(inc)
            for seq in (3, 2, 1):
                with self.subTest(seq=seq):
                    late = event(inc, seq, "incident.updated", "2026-03-02T10:06:00Z", narrative="Out of order.")
                    r = feed.request(late)
                    self.assertStatus(r, "rejected", "seq_conflict")
                    self.assertIsNone(self.h.sql_value("SELECT 1 FROM raw_events WHERE event_id = %s",
                                                       (late["event_id"],)))
            self.assertEqual(self.counts(inc), before)
            # Gaps are allowed: the sender may skip numbers.
            self.assertStatus(feed.request(event(inc, 7, "incident.updated", "2026-03-02T10:07:00Z",
                                                 narrative="Gap in seq is fine.")), "accepted")
        self.assertEqual(self.counts(inc)["last_seq"], 7)


if __name__ == "__main__":
    harness.main()
