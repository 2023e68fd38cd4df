#!/usr/bin/env python3
"""test_outage.py: with PostgreSQL down fcrd answers `retry`/`db_unavailable` and writes
nothing; once PostgreSQL is back the same events are accepted, without restarting fcrd."""
import time

import harness
from harness import DaemonTestCase, assault_opened, event, uid

RECOVERY_WAIT = 90.0  # seconds fcrd may take to reconnect after PostgreSQL returns


class OutageTest(DaemonTestCase):

    def test_outage_then_recovery(self):
        h = self.h
        with h.feed() as feed:
            self.assertStatus(feed.request(assault_opened(uid("PRE"))), "accepted")

        inc = uid("OUT")
        events = [assault_opened(inc),
                  event(inc, 2, "incident.updated", "2026-03-02T10:30:00Z", narrative="Suspect left on foot."),
                  assault_opened(uid("OUT"))]
        ids = [e["event_id"] for e in events]

        h.pg_stop()
        try:
            with h.feed() as feed:
                feed.send_many(events)
                replies = feed.read_replies(len(events))
            for ev, r in zip(events, replies):
                with self.subTest(event=ev["event_id"]):
                    self.assertStatus(r, "retry", "db_unavailable")
                    self.assertEqual(r.get("event_id"), ev["event_id"])
            self.assertIsNone(h.proc.poll(), "fcrd keeps running without its database")
            status, _ = h.api.get("/healthz")
            self.assertEqual(status, 200, "the process is alive even though the database is not")
        finally:
            h.pg_start()

        self.assertEqual(h.sql_value("SELECT count(*) FROM raw_events WHERE event_id = ANY(%s)", (ids,)), 0,
                         "nothing from a retried line was written")

        # Resend as a sender would until everything is acknowledged, within a bounded wait.
        seen = {}
        deadline = time.monotonic() + RECOVERY_WAIT
        while time.monotonic() < deadline:
            todo = [e for e in events if seen.get(e["event_id"]) not in ("accepted", "duplicate")]
            if not todo:
                break
            try:
                with h.feed() as feed:
                    feed.send_many(todo)
                    for ev, r in zip(todo, feed.read_replies(len(todo))):
                        if seen.get(ev["event_id"]) != "accepted":
                            seen[ev["event_id"]] = r.get("status")
                        if r.get("status") not in ("accepted", "duplicate", "retry"):
                            self.fail(f"unexpected reply while recovering: {r}")
            except (ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        self.assertEqual([seen.get(i) for i in ids], ["accepted"] * len(ids),
                         f"all accepted within {RECOVERY_WAIT:.0f} s of PostgreSQL's return")
        self.assertIsNone(h.proc.poll(), "fcrd was not restarted")
        self.assertEqual(h.sql("SELECT event_id, count(*) FROM raw_events WHERE event_id = ANY(%s) "
                               "GROUP BY event_id ORDER BY event_id", (ids,)),
                         sorted((i, 1) for i in ids))
        self.assertEqual(h.sql_value("SELECT count(*) FROM crimes WHERE incident_id = %s", (inc,)), 1)
        status, body = h.api.get(f"/v1/incidents/{inc}", role="auditor")
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body.get("crimes") or []), 1, body)


if __name__ == "__main__":
    harness.main()
