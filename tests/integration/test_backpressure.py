#!/usr/bin/env python3
"""test_backpressure.py: bounded memory when the database stalls or a reader is slow.

With the database stalled (a lock every batch needs), fcrd must stop reading the feed once a
connection has `feed.max_inflight` lines awaiting a reply, so the senders block in the kernel and
fcrd's memory stays near its bound; /readyz says not ready once the backlog passes half the queue;
a stall longer than fcrd's round-trip limit is answered `retry`; and everything recovers when the
lock goes. A reader that never reads its replies is bounded the same way on the output side.
Every line gets exactly one reply throughout, also when the sender half-closes.
"""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))

import faultkit  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase, assault_opened, uid  # noqa: E402

# These tests measure how fast fcrd takes input; ASan's slow unwinding on every malloc (which the
# harness asks for, for whole leak stacks) makes a sanitized fcrd some fifty times slower, too slow
# to reach its limits in a bounded time; a small quarantine keeps freed memory out of the RSS
# this file measures. Leak reports keep their (shorter) stacks.
if "ASAN_OPTIONS" not in os.environ:
    os.environ["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:fast_unwind_on_malloc=1:quarantine_size_mb=32"

MAX_INFLIGHT = 32
MAX_CONNECTIONS = 8
QUEUE_MAX = MAX_INFLIGHT * MAX_CONNECTIONS  # as service/service.c derives it
PAD = 16 * 1024                             # bytes of padding per event line
FLOODS = 6                                  # 6 * 32 = 192 queued > QUEUE_MAX / 2


def padded_event():
    ev = assault_opened(uid("BP"))
    ev["x_padding"] = "p" * PAD  # an unknown field: kept, warned about, and it costs memory
    return ev


def settle(sample, limit=40.0, quiet=3.0):
    """Wait until sample() stops changing for `quiet` seconds (fcrd has stopped reading); returns
    (first settled value, value after the quiet period)."""
    deadline = time.monotonic() + limit
    last = sample()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = sample()
        if now == last:
            break
        last = now
    time.sleep(quiet)
    return last, sample()


class BackpressureTest(DaemonTestCase):
    harness_config = {"feed.max_inflight": str(MAX_INFLIGHT), "feed.max_connections": str(MAX_CONNECTIONS)}

    def setUp(self):
        self.assertIsNotNone(faultkit.wait_ready(self.h, 60))

    def test_stalled_database_stops_reading_and_recovers(self):
        h = self.h
        sent = {}

        def make_line():
            ev = padded_event()
            sent[ev["event_id"]] = ev
            return ev["event_id"], json.dumps(ev, separators=(",", ":")).encode() + b"\n"

        rss0 = faultkit.rss_kib(h.proc.pid)
        stall = faultkit.LockStall(h, "LOCK TABLE audit_head IN ACCESS EXCLUSIVE MODE")
        floods = []
        try:
            floods = [faultkit.Flood(h.feed_unix, make_line).start() for _ in range(FLOODS)]
            w1, w2 = settle(lambda: [f.written for f in floods])
            rss1 = faultkit.rss_kib(h.proc.pid)
            status, _ = h.api.get("/readyz")
            replies_during = sum(len(f.replies) for f in floods)
        finally:
            for f in floods:
                f.stop.set()  # each writer ends with the line it is on, then half-closes
            stall.release()
        t_release = time.monotonic()
        for f in floods:
            f.finish(120)
        line = len(json.dumps(padded_event(), separators=(",", ":"))) + 1
        print(f"stalled: bytes taken per connection {w2} (a line is {line} bytes, max_inflight {MAX_INFLIGHT}); "
              f"fcrd RSS grew {(rss1 - rss0) // 1024} MiB; /readyz {status}")

        for f in floods:
            self.assertIsNone(f.error)
        self.assertEqual(w1, w2, "fcrd stopped reading: the senders made no progress while the database stalled")
        for w in w2:
            # The in-flight lines plus what the socket buffers hold, never the whole stream.
            self.assertLess(w, MAX_INFLIGHT * line + (4 << 20), "bounded intake per connection")
        self.assertLess(rss1 - rss0, 256 * 1024, "fcrd's memory stays bounded while stalled (KiB)")
        self.assertEqual(replies_during, 0, "nothing acknowledged while the database is stalled")
        self.assertEqual(status, 503, "/readyz is not ready with the backlog past half the queue")

        # Every line written got exactly one reply, accepted or retry, and the connections ended.
        acked = {}
        for f in floods:
            self.assertTrue(f.eof, "fcrd closed each connection after answering it")
            self.assertEqual(len(f.replies), len(f.lines), "one reply per line")
            for eid, r in zip(f.lines, f.replies):
                self.assertEqual(r.get("event_id"), eid)
                self.assertIn(r.get("status"), ("accepted", "retry"), json.dumps(r)[:300])
                if r["status"] == "accepted":
                    acked[eid] = r
        self.assertGreater(len(acked), 0)
        stored = dict(h.sql("SELECT event_id, count(*) FROM raw_events WHERE event_id = ANY(%s) GROUP BY 1",
                            (list(sent),)))
        self.assertEqual({e for e in acked if stored.get(e) != 1}, set(), "every acknowledged event stored once")
        retried = [e for f in floods for e, r in zip(f.lines, f.replies) if r.get("status") == "retry"]
        self.assertEqual([e for e in retried if e in stored], [], "nothing of a retried line was written")
        self.assertIsNotNone(faultkit.wait_ready(h, 30), "ready again once the lock is gone")
        print(f"recovered: {len(acked)} accepted, {len(retried)} retry, ready "
              f"{time.monotonic() - t_release:.1f} s after the release")

    def test_stall_past_round_trip_limit_answers_retry(self):
        h = self.h
        events = [assault_opened(uid("LS")) for _ in range(20)]
        stall = faultkit.LockStall(h, "LOCK TABLE audit_head IN ACCESS EXCLUSIVE MODE")
        try:
            t0 = time.monotonic()
            with h.feed() as feed:
                feed.send_many(events)
                replies = feed.read_replies(len(events), timeout=40)
            waited = time.monotonic() - t0
        finally:
            stall.release()
        for r in replies:
            self.assertStatus(r, "retry", "db_unavailable")
        self.assertLess(waited, 30, "answered within fcrd's round-trip limit plus a margin")
        ids = [e["event_id"] for e in events]
        self.assertEqual(h.sql_value("SELECT count(*) FROM raw_events WHERE event_id = ANY(%s)", (ids,)), 0)
        self.assertIsNotNone(faultkit.wait_ready(h, 30))
        deadline = time.monotonic() + 30
        todo = list(events)
        while todo and time.monotonic() < deadline:
            with h.feed() as feed:
                feed.send_many(todo)
                rs = feed.read_replies(len(todo))
            todo = [e for e, r in zip(todo, rs) if r.get("status") == "retry"]
            for r in rs:
                self.assertIn(r.get("status"), ("accepted", "retry"), json.dumps(r)[:300])
            time.sleep(0.3)
        self.assertEqual(todo, [], "all accepted after the stall")

    def _slow_reader(self, half_close):
        """Many lines whose replies (about 9 MB) outgrow fcrd's 4 MiB output limit and the socket
        buffers, with nobody reading them."""
        h = self.h
        n = 60000
        data = b"x" * 20 + b"\n"  # rejected at once (bad_json) with a reply of about 150 bytes
        data *= n
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(h.feed_unix)
        rss0 = faultkit.rss_kib(h.proc.pid)
        done = threading.Event()
        progress = [0]

        def write():
            try:
                view = memoryview(data)
                while view:
                    k = s.send(view[:65536])
                    progress[0] += k
                    view = view[k:]
                if half_close:
                    s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            done.set()

        t = threading.Thread(target=write, daemon=True)
        t.start()
        p1, p2 = settle(lambda: progress[0])
        rss1 = faultkit.rss_kib(h.proc.pid)
        # now read everything
        got, buf = 0, b""
        s.settimeout(60)
        while got < n:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
            k = buf.count(b"\n")
            got += k
            buf = buf[buf.rfind(b"\n") + 1:] if k else buf
        t.join(30)
        if half_close:
            s.settimeout(10)
            try:
                tail = s.recv(100)
            except OSError:
                tail = b"?"
        s.close()
        print(f"slow reader: {p2} of {len(data)} bytes taken while nobody read; RSS grew {(rss1 - rss0) // 1024} MiB")
        self.assertEqual(p1, p2, "fcrd stopped reading while its replies were not read")
        self.assertLess(p2, len(data), "the sender was held back")
        self.assertLess(rss1 - rss0, 128 * 1024, "fcrd's memory stays bounded (KiB)")
        self.assertEqual(got, n, "every line answered once the reader reads")
        if half_close:
            self.assertEqual(tail, b"", "and the connection then ends")

    def test_slow_reader_is_bounded(self):
        self._slow_reader(half_close=False)

    def test_slow_reader_half_close_every_line_answered(self):
        self._slow_reader(half_close=True)



class QueueFullTest(DaemonTestCase):
    """fcrd caps the events awaiting the database at 4096 whatever the connections allow; past
    that, with the database stalled, lines are answered retry/overloaded (in line order on each
    connection) and nothing of them is written; nothing is accepted while the database stalls."""
    QUEUE = 4096
    harness_config = {"feed.max_inflight": "4096", "feed.max_connections": "8"}

    def test_full_queue_answers_overloaded(self):
        h = self.h
        self.assertIsNotNone(faultkit.wait_ready(h, 60))
        per_conn = 1000  # 5 * 1000 = 5000: past the queue and the batch in flight
        sent = {}

        def lines(k):
            evs = [assault_opened(uid(f"QF{k}")) for _ in range(per_conn)]
            for ev in evs:
                sent[ev["event_id"]] = ev
            return [e["event_id"] for e in evs], b"".join(
                json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in evs)

        batches = [lines(k) for k in range(5)]
        stall = faultkit.LockStall(h, "LOCK TABLE audit_head IN ACCESS EXCLUSIVE MODE")
        floods = []
        try:
            for ids, _ in batches:
                f = faultkit.Flood(h.feed_unix, None)  # its reader only: the lines go in one write below
                f.lines = list(ids)
                f.reader.start()
                floods.append(f)
            for f, (_, data) in zip(floods, batches):
                f.sock.sendall(data)
            time.sleep(2)  # all of it within fcrd's 10 s round-trip limit
            during = [r for f in floods for r in list(f.replies)]
        finally:
            stall.release()
        for f in floods:
            f.sock.shutdown(socket.SHUT_WR)
            f.reader.join(120)
            f.sock.close()
        # While the database stalls, a line is answered only when it is refused: nothing accepted.
        self.assertEqual([r for r in during if (r.get("error") or {}).get("code") != "overloaded"], [],
                         "while stalled, only overloaded answers")
        over = [r for f in floods for r in f.replies if (r.get("error") or {}).get("code") == "overloaded"]
        print(f"queue full: {len(over)} of {5 * per_conn} lines answered retry/overloaded")
        self.assertGreater(len(over), 0, "lines past the queue are answered overloaded")
        self.assertLessEqual(len(over), 5 * per_conn - self.QUEUE, "only lines past the queue")
        for r in over:
            self.assertEqual(r.get("status"), "retry")
        acked = []
        for f in floods:
            self.assertEqual(len(f.replies), len(f.lines), "one reply per line")
            for eid, r in zip(f.lines, f.replies):
                self.assertEqual(r.get("event_id"), eid)
                self.assertIn(r.get("status"), ("accepted", "retry"))
                if r["status"] == "accepted":
                    acked.append(eid)
        stored = h.sql_value("SELECT count(*) FROM raw_events WHERE event_id = ANY(%s)", (list(sent),))
        self.assertEqual(stored, len(acked), "exactly the accepted lines are stored")


if __name__ == "__main__":
    harness.main()
