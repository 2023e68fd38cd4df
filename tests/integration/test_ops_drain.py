#!/usr/bin/env python3
"""test_ops_drain.py: stopping with events in flight. After SIGTERM fcrd accepts no connection,
answers new lines retry/shutting_down, finishes and acknowledges what it can, and exits 0 within
[service] drain_timeout_ms. Whatever the timing: every event acknowledged (accepted/duplicate)
is in the database, and no event answered retry is.

The store is held up at will by locking the audit trail's head row from a test transaction:
every fcrd batch takes that lock before it writes."""
import signal
import socket
import time

import harness
from harness import DaemonTestCase, assault_opened, uid

DRAIN_MS = 3000


class DrainTest(DaemonTestCase):
    harness_config = {"service.drain_timeout_ms": str(DRAIN_MS)}

    def setUp(self):
        if self.h.proc is None or self.h.proc.poll() is not None:
            self.h.stop_fcrd()
            self.h.start_fcrd()

    # -- helpers -----------------------------------------------------------------------------
    def block_store(self):
        """A transaction holding the audit head's lock; rollback() releases it."""
        conn = self.h.connect(autocommit=False)
        with conn.cursor() as cur:
            cur.execute("SELECT hash FROM audit_head ORDER BY id FOR UPDATE")
        return conn

    def wait_blocked(self, timeout=20):
        """Until an fcrd connection waits for the audit head's lock (in its write statement, where
        the database's own entry for the crime it inserts is chained, sql/0014_audit_guard.sql; the
        audit head's lock is the only one block_store holds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = self.h.sql_value("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                 "AND usename = 'fcrd'")
            if n:
                return
            time.sleep(0.05)
        self.fail("fcrd's batch never reached the audit head's lock")

    def stored(self, ids):
        rows = self.h.sql("SELECT event_id FROM raw_events WHERE event_id = ANY(%s)", (list(ids),))
        return {r[0] for r in rows}

    def read_all(self, feed, timeout=20):
        """Every reply until fcrd closes the connection."""
        out = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                out.append(feed.read_reply(timeout=max(0.1, deadline - time.monotonic())))
            except (ConnectionError, OSError):
                return out
            except TimeoutError:
                break
        self.fail(f"fcrd did not close the connection within {timeout} s")

    def assert_promise(self, replies_by_id):
        """None acknowledged is lost, none lost is acknowledged (retry means nothing written)."""
        stored = self.stored(replies_by_id)
        for eid, r in replies_by_id.items():
            status = r.get("status") if r else None
            if status in ("accepted", "duplicate"):
                self.assertIn(eid, stored, f"acknowledged but not stored: {r}")
            elif status in ("retry", "rejected"):
                self.assertNotIn(eid, stored, f"answered {status} but stored: {r}")

    def exit_within(self, started, bound):
        rc = self.h.proc.wait(bound + 10)
        took = time.monotonic() - started
        self.assertEqual(rc, 0)
        self.assertLess(took, bound, f"took {took:.1f} s")
        self.assertEqual(self.h.stop_fcrd(), [])  # sanitizer reports, exit status
        return took

    # -- tests ---------------------------------------------------------------------------------
    def test_in_flight_batch_commits_and_is_answered(self):
        h = self.h
        lock = self.block_store()
        try:
            feed = h.feed()
            ev = assault_opened(uid("DR"))
            feed.send(ev)
            self.wait_blocked()
            started = time.monotonic()
            h.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            status, _ = h.api.get("/readyz")
            self.assertEqual(status, 503, "not ready while stopping")
        finally:
            lock.rollback()
            lock.close()
        replies = self.read_all(feed)
        feed.close()
        self.assertEqual(len(replies), 1)
        self.assertStatus(replies[0], "accepted")
        took = self.exit_within(started, DRAIN_MS / 1000)
        self.assertLess(took, DRAIN_MS / 1000 - 0.5, "it exits as soon as everything is answered")
        self.assert_promise({ev["event_id"]: replies[0]})
        self.assertEqual(self.stored([ev["event_id"]]), {ev["event_id"]})

    def test_stuck_batch_times_out_queued_get_retry(self):
        h = self.h
        with h.feed() as warm:
            first = assault_opened(uid("DR"))
            self.assertStatus(warm.request(first), "accepted")
        stuck = assault_opened(uid("DR"))
        queued = [assault_opened(uid("DR")) for _ in range(5)]
        late = assault_opened(uid("DR"))
        lock = self.block_store()
        a = h.feed()   # the batch that will be stuck
        b = h.feed()   # events queued behind it
        c = h.feed()   # open before the stop, used after it
        try:
            a.send(stuck)
            self.wait_blocked()
            b.send_many(queued)
            time.sleep(0.5)  # read and queued behind the stuck batch
            started = time.monotonic()
            h.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            # No new connection is accepted ...
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", h.feed_port), timeout=2).close()
            # ... and a line on an open one is told to come back.
            r_late = c.request(late, timeout=5)
            self.assertStatus(r_late, "retry", "shutting_down")
            self.assertEqual(r_late.get("event_id"), late["event_id"])
            # Before the bound, the queued ones are answered retry/shutting_down, in order.
            replies_b = [b.read_reply(timeout=DRAIN_MS / 1000 + 2) for _ in queued]
            for ev, r in zip(queued, replies_b):
                self.assertStatus(r, "retry", "shutting_down")
                self.assertEqual(r.get("event_id"), ev["event_id"])
            # The stuck batch never sent its COMMIT: fcrd closes its connection, so it cannot
            # commit, and it is answered the same way before fcrd exits.
            replies_a = self.read_all(a, timeout=DRAIN_MS / 1000 + 5)
            self.assertEqual(len(replies_a), 1)
            self.assertStatus(replies_a[0], "retry", "shutting_down")
            self.exit_within(started, DRAIN_MS / 1000 + 1.5)
        finally:
            lock.rollback()
            lock.close()
            for f in (a, b, c):
                f.close()
        answered = {ev["event_id"]: r for ev, r in zip(queued, replies_b)}
        answered[late["event_id"]] = r_late
        answered[stuck["event_id"]] = replies_a[0]
        answered[first["event_id"]] = {"status": "accepted"}
        self.assert_promise(answered)
        self.assertEqual(self.stored([stuck["event_id"]]), set(), "its transaction never committed")
        self.assertIn("answered retry/shutting_down", h.log_text())

        # After a restart the sender's resends are all accepted, none lost, none doubled.
        h.start_fcrd()
        with h.feed() as feed:
            for ev in [stuck] + queued + [late]:
                self.assertStatus(feed.request(ev), "accepted")
        self.assertEqual(self.stored([e["event_id"] for e in [stuck] + queued + [late]]),
                         {e["event_id"] for e in [stuck] + queued + [late]})

    def test_bulk_traffic_keeps_the_promise(self):
        h = self.h
        events = [[assault_opened(uid("BK")) for _ in range(60)] for _ in range(4)]
        feeds = [h.feed() for _ in events]
        try:
            for f, evs in zip(feeds, events):
                f.send_many(evs)
            started = time.monotonic()
            h.proc.send_signal(signal.SIGTERM)
            replies = {}
            for f, evs in zip(feeds, events):
                got = self.read_all(f)
                self.assertLessEqual(len(got), len(evs))
                for ev, r in zip(evs, got):
                    self.assertEqual(r.get("event_id"), ev["event_id"], "replies come in order")
                    self.assertIn(r.get("status"), ("accepted", "retry"), r)
                    if r["status"] == "retry":
                        self.assertEqual(r["error"]["code"], "shutting_down")
                    replies[ev["event_id"]] = r
                for ev in evs[len(got):]:
                    replies[ev["event_id"]] = None
            self.exit_within(started, DRAIN_MS / 1000 + 1.5)
        finally:
            for f in feeds:
                f.close()
        self.assert_promise(replies)
        # The database was quick: nothing was left unanswered.
        self.assertEqual([k for k, v in replies.items() if v is None], [])


if __name__ == "__main__":
    harness.main()
