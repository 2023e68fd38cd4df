#!/usr/bin/env python3
"""test_instances.py: redundant links and two fcrd instances on one PostgreSQL.

A control room sends the same stream over two links, one to each of two fcrd processes sharing
one database, concurrently and in different interleavings (each link keeps every incident's
events in seq order, as the contract asks of a sender). Each event must be applied exactly once
(one link is told `accepted`, the other `duplicate` with the same crimes and decisions; both
`duplicate` when the instance that committed it died before answering), no
crime may be recorded twice, and per incident the events must be applied in seq order. Midway
one instance is killed with -9 and restarted; its link reconnects and resends. The coordination
is PostgreSQL's own row locks, nothing else.

Reports about the same matter (`same_report` links) must be counted once too, whether the two
reports arrive in one batch of one instance or at two instances at the same moment.
"""
import json
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))

import faultkit  # noqa: E402
import harness  # noqa: E402
from harness import assault_opened, uid  # noqa: E402

INCIDENTS = 150
DRAIN_LIMIT = 120.0


def same_report_pair():
    """Two incidents about one assault on one person (same C&C `ref`): the second links to the
    first as `same_report`. One crime between them is right; two is double counting."""
    p, q = uid("SR-P"), uid("SR-Q")
    first = assault_opened(p)
    first["persons"][0]["ref"] = f"REF-{p}"
    second = assault_opened(q, at="2026-03-02T10:05:00Z", links=[{"incident_id": p, "relation": "same_report"}])
    second["persons"][0]["ref"] = f"REF-{p}"
    return p, q, first, second


class TwoInstancesTest(faultkit.TwoInstancesCase):

    def test_same_stream_over_two_links_to_two_instances(self):
        h, peer = self.h, self.peer
        plan = [(f"TWO-{i:03d}-{uid('I')}", None) for i in range(INCIDENTS)]
        plan = [(inc, faultkit.incident_script(inc)) for inc, _ in plan]
        # Link b works through the incidents in another order, so the two meet at every stage.
        plan_b = list(plan)
        random.Random(7).shuffle(plan_b)
        history = faultkit.History()
        a = faultkit.Sender("a", lambda: f"tcp:127.0.0.1:{h.feed_port}", history, window=6, pace=0.05, plan=plan)
        b = faultkit.Sender("b", lambda: f"unix:{peer.feed_unix}", history, window=6, pace=0.05, plan=plan_b)
        a.start()
        b.start()
        time.sleep(3)
        killed_text = faultkit.fcrd_kill9(peer)
        history.add("nemesis", what="kill -9 of the second fcrd")
        time.sleep(1)
        peer.start_fcrd()
        history.add("nemesis", what="second fcrd restarted")
        deadline = time.monotonic() + DRAIN_LIMIT
        a.deadline = b.deadline = deadline
        a.join(DRAIN_LIMIT + 30)
        b.join(DRAIN_LIMIT + 30)

        problems, lost, duplicated = faultkit.database_problems(h, [a, b])
        print(f"two links: {faultkit.summarise([a, b], lost, duplicated)}; "
              f"retries {history.count('reply', status='retry')}")
        self.assertIsNone(a.error)
        self.assertIsNone(b.error)
        self.assertEqual(a.anomalies + b.anomalies, [])
        self.assertEqual([i.id for i in a.unfinished() + b.unfinished()], [], "both links got everything acknowledged")
        self.assertEqual(problems, [])
        self.assertFalse(faultkit.sanitizer_report(killed_text))

        # At most one `accepted` per event over both links (none when the instance that committed it
        # was killed before it could answer: the resend is then a `duplicate`); every acknowledgement
        # the same. That each is stored exactly once, database_problems has already checked.
        twice, differ = [], []
        for inc, events in plan:
            for ev in events:
                eid = ev["event_id"]
                replies = a.replies.get(eid, []) + b.replies.get(eid, [])
                acks = [r for r in replies if r.get("status") in ("accepted", "duplicate")]
                if sum(r["status"] == "accepted" for r in acks) > 1 or not acks:
                    twice.append((eid, [r["status"] for r in replies]))
                first = acks[0] if acks else {}
                for r in acks[1:]:
                    if any(r.get(k) != first.get(k) for k in ("crimes", "decisions", "rules")):
                        differ.append(eid)
        self.assertEqual(twice, [], "no event accepted twice over the two links")
        self.assertEqual(differ, [], "a duplicate repeats the first acknowledgement")

    # ---- same_report links ---------------------------------------------------------------
    def test_same_report_in_one_batch_counts_once(self):
        p, q, first, second = same_report_pair()
        with self.h.feed() as feed:
            feed.send_many([first, second])  # one write: both lines land in one batch
            replies = feed.read_replies(2)
        for r in replies:
            self.assertStatus(r, "accepted")
        crimes = self.h.sql("SELECT crn FROM crimes WHERE incident_id IN (%s, %s) AND status = 'recorded'", (p, q))
        self.assertEqual(len(crimes), 1, f"one crime for one assault reported twice: {json.dumps(replies)[:600]}")

    def test_same_report_one_after_the_other_counts_once(self):
        """The control: the second report arrives after the first is committed."""
        p, q, first, second = same_report_pair()
        with self.h.feed() as feed:
            self.assertStatus(feed.request(first), "accepted")
        with self.peer.feed() as feed:
            r = feed.request(second)
        self.assertStatus(r, "accepted")
        self.assertEqual([d.get("outcome") for d in r.get("decisions") or []], ["counted_in"], json.dumps(r))
        crimes = self.h.sql("SELECT crn FROM crimes WHERE incident_id IN (%s, %s) AND status = 'recorded'", (p, q))
        self.assertEqual(len(crimes), 1)

    def _race(self, first, second):
        """Sends `first` to this instance and, once its transaction waits for the audit head (held
        here), `second` to the peer; releases the head once both wait. Returns both replies."""
        stall = faultkit.LockStall(self.h, "SELECT hash FROM audit_head ORDER BY id FOR UPDATE")
        results = {}

        def send(d, ev, key):
            with d.feed() as feed:
                results[key] = feed.request(ev)

        ts = [threading.Thread(target=send, args=(self.h, first, "first")),
              threading.Thread(target=send, args=(self.peer, second, "second"))]
        try:
            ts[0].start()
            self._wait_for_lock_waiters(1, stall.pid)
            ts[1].start()
            self._wait_for_lock_waiters(2, stall.pid)
        finally:
            stall.release()
        for t in ts:
            t.join(60)
        return results.get("first", {}), results.get("second", {})

    # The store locks the incidents an event links to together with its own (one sorted FOR UPDATE),
    # so the second report waits for the instance committing the first and then sees its crime.
    # Before that, the linked incident was read without a lock and both instances recorded a crime.
    # Holding the audit head lock makes the interleaving certain: the first instance holds its
    # incident and waits for the audit head; the second waits for that incident. (The reverse
    # order, the linking report committed before the report it links to, is tested in
    # test_links.py: incident_links makes a link visible from the incident it names.)
    def test_same_report_at_two_instances_counts_once(self):
        """Both reports reach the two instances while the audit head is locked, so both are in
        their transaction, blocked, before either commits."""
        p, q, first, second = same_report_pair()
        r1, r2 = self._race(first, second)
        self.assertStatus(r1, "accepted")
        self.assertStatus(r2, "accepted")
        crimes = self.h.sql("SELECT crn FROM crimes WHERE incident_id IN (%s, %s) AND status = 'recorded'", (p, q))
        self.assertEqual(len(crimes), 1, f"one crime for one assault reported twice: {json.dumps([r1, r2])[:600]}")

    # An opening is decided without a row to lock first: its new incident is inserted whole by the
    # write statement. Two instances opening one incident at once both find it missing; the second
    # one's insert waits for the first and then fails on the key, and that batch must be rolled
    # back and decided again on what the first committed, never written as a second opening. Other
    # events (an update here) still create and lock the row first, so they wait for an opening in
    # flight.
    def _crimes(self, inc):
        rows = self.h.sql("SELECT victim, offence FROM crimes WHERE incident_id = %s AND status = 'recorded'", (inc,))
        return sorted((v, o) for v, o in rows)

    def test_one_opening_at_two_instances_at_once(self):
        inc = uid("BOTH")
        opened = faultkit.incident_script(inc)[0]
        first, second = self._race(opened, opened)
        self.assertStatus(first, "accepted")
        self.assertStatus(second, "duplicate")
        self.assertEqual(second.get("crimes"), first.get("crimes"), "the duplicate repeats the first reply")
        self.assertEqual(self._crimes(inc), [("v1", "8N")])
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM raw_events WHERE incident_id = %s", (inc,)), 1)

    def test_two_openings_of_one_incident_at_two_instances_at_once(self):
        inc = uid("TWIN")
        opened = faultkit.incident_script(inc)[0]
        other = dict(opened, event_id=uid("E"), narrative="Another call handler opened the same incident.")
        first, second = self._race(opened, other)
        self.assertStatus(first, "accepted")
        self.assertStatus(second, "rejected", "seq_conflict")
        self.assertEqual(self._crimes(inc), [("v1", "8N")])
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM raw_events WHERE incident_id = %s", (inc,)), 1)

    def test_update_at_one_instance_while_the_other_opens(self):
        inc = uid("UPD")
        opened, updated, _ = faultkit.incident_script(inc)
        first, second = self._race(opened, updated)
        self.assertStatus(first, "accepted")
        self.assertStatus(second, "accepted")  # decided on the opening: its suspect s1 is known
        self.assertNotIn("not_opened", [w.get("code") for w in second.get("warnings") or []])
        self.assertEqual(self.h.sql_value("SELECT last_seq FROM incidents WHERE incident_id = %s", (inc,)), 2)
        self.assertEqual(self._crimes(inc), sorted(faultkit.EXPECTED_CRIMES))

    def _wait_for_lock_waiters(self, n, holder, timeout=30):
        """Until n store sessions wait for a lock, at least one of them for the audit head behind
        `holder` (the other may wait for the incident the first one holds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = self.h.sql_value("SELECT count(*) FROM pg_stat_activity WHERE usename = 'fcrd' "
                                       "AND wait_event_type = 'Lock'")
            behind = self.h.sql_value("SELECT count(*) FROM pg_stat_activity WHERE usename = 'fcrd' "
                                      "AND wait_event_type = 'Lock' AND %s = ANY(pg_blocking_pids(pid))",
                                      (holder,))
            if waiting >= n and behind >= 1:
                return
            time.sleep(0.05)
        self.fail(f"{n} fcrd sessions did not queue behind the locks")


if __name__ == "__main__":
    harness.main()
