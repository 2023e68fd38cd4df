#!/usr/bin/env python3
"""test_fault.py: the delivery promise under faults, Jepsen style.

Senders (three TCP links and one Unix-socket link) send unique events with consequences, one in
flight per incident and pipelined across incidents, resend whatever is unacknowledged after a
`retry` or a reconnect, and log every outcome. Meanwhile a nemesis, one fault after another:
terminates fcrd's backends (pg_terminate_backend), holds a lock that stalls the read phase and
then one that stalls the write phase past fcrd's round-trip limit (a COMMIT in doubt), kills
PostgreSQL with -9 and restarts it (crash recovery), kills fcrd with -9 and restarts it, stops it
with SIGTERM under load (it must drain and exit 0) and starts it again, freezes
PostgreSQL with SIGSTOP past the round-trip limit and thaws it, and all along clients vanish in
the middle of a line or with replies outstanding. Afterwards fcrd must be ready again on its own,
every sender must get every event acknowledged, and the database must agree with every
acknowledgement (see tests/fault/faultkit.py for the checks). Prints sent / acknowledged / lost /
duplicated. Bounded: under a minute of faults (the pauses between them last until the load flows
again) and at most a minute and a half more to drain.
"""
import json
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))

import faultkit  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase, assault_opened, uid  # noqa: E402

DRAIN_LIMIT = 90.0     # seconds the senders get after the last fault
READY_LIMIT = 60.0     # seconds fcrd may take to be ready again after the last fault
STALL_SHORT = 4.0      # a lock held for less than fcrd's 10 s round-trip limit
STALL_LONG = 13.0      # ... and for more
FREEZE = 12.0          # SIGSTOP of PostgreSQL, past the round-trip limit
SETTLE_LIMIT = 30.0    # seconds the load may take to flow again between faults
SETTLE_ACKS = 6        # ... judged by this many fresh acknowledgements per sender (two windows)


class FaultTest(DaemonTestCase):

    def test_delivery_promise_under_faults(self):
        h = self.h
        self.assertIsNotNone(faultkit.wait_ready(h, 60), "fcrd ready before the run")
        history = faultkit.History()
        stop_new = threading.Event()
        tcp = lambda: f"tcp:127.0.0.1:{h.feed_port}"  # noqa: E731 -- re-read after a restart
        unix = lambda: f"unix:{h.feed_unix}"  # noqa: E731
        senders = [faultkit.Sender(f"s{i}", unix if i == 3 else tcp, history, stop_new=stop_new)
                   for i in range(4)]
        for s in senders:
            s.start()

        log = []
        sanitizer_texts = []
        drain_problems = []

        def step(what, fn, *a):
            t = time.monotonic() - history.t0
            history.add("nemesis", what=what)
            fn(*a)
            log.append(f"{t:6.1f}s {what}")

        # Between faults, no fixed pause: the next fault waits until the load flows again, every
        # sender's incidents moving on (or, after PostgreSQL is killed, until fcrd has seen it
        # gone). Past SETTLE_LIMIT the schedule goes on regardless, as it did after a fixed pause;
        # the checks at the end judge the run.
        def settle():
            t = time.monotonic() - history.t0
            took = _flowing(h, history, senders, SETTLE_LIMIT)
            log.append(f"{t:6.1f}s load flowing again after "
                       + (f"{took:.1f} s" if took is not None else f"more than {SETTLE_LIMIT:.0f} s"))

        # Clients that vanish: RST with replies outstanding, and a line cut in the middle.
        vandal_stop = threading.Event()

        def vandal():
            n = 0
            while not vandal_stop.wait(1.5):
                n += 1
                evs = faultkit.incident_script(uid("VAN"))
                data = b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in evs)
                addr = f"unix:{h.feed_unix}" if n % 3 == 0 else f"tcp:127.0.0.1:{h.feed_port}"
                faultkit.vanish(addr, data, cut_at=None if n % 2 else len(data) * 2 // 3, reset=n % 4 != 1)
                history.add("nemesis", what=f"client vanished ({'mid-line' if n % 2 == 0 else 'replies pending'})")

        vt = threading.Thread(target=vandal, daemon=True)
        vt.start()
        try:
            settle()
            step("pg_terminate_backend of fcrd's sessions", faultkit.terminate_backends, h)
            settle()

            stall = faultkit.LockStall(h, "LOCK TABLE audit_head IN ACCESS EXCLUSIVE MODE")
            step(f"lock on audit_head held {STALL_SHORT:.0f} s (read phase stalls)", time.sleep, STALL_SHORT)
            stall.release()
            settle()

            stall = faultkit.LockStall(h, "LOCK TABLE crimes IN EXCLUSIVE MODE")
            step(f"lock on crimes held {STALL_LONG:.0f} s (write phase stalls, COMMIT in doubt)", time.sleep,
                 STALL_LONG)
            stall.release()
            settle()

            step("kill -9 of PostgreSQL", faultkit.pg_kill9, h)
            t = time.monotonic() - history.t0
            took = _unready(h, SETTLE_LIMIT)
            log.append(f"{t:6.1f}s fcrd not ready after "
                       + (f"{took:.1f} s" if took is not None else f"more than {SETTLE_LIMIT:.0f} s"))
            step("PostgreSQL restarted (crash recovery)", h.pg.start)
            settle()

            sanitizer_texts.append(faultkit.fcrd_kill9(h))
            step("kill -9 of fcrd", lambda: None)
            step("fcrd restarted", h.start_fcrd)
            settle()

            step("SIGTERM of fcrd under load (drain)", lambda: drain_problems.extend(h.stop_fcrd()))
            step("fcrd restarted", h.start_fcrd)
            settle()

            pids = faultkit.pg_freeze(h)
            step(f"PostgreSQL frozen with SIGSTOP for {FREEZE:.0f} s", time.sleep, FREEZE)
            faultkit.pg_thaw(pids)
            step("PostgreSQL thawed", lambda: None)
            settle()
        finally:
            vandal_stop.set()
            vt.join()
            stop_new.set()

        ready = faultkit.wait_ready(h, READY_LIMIT)
        deadline = time.monotonic() + DRAIN_LIMIT
        for s in senders:
            s.deadline = deadline
        for s in senders:
            s.join(DRAIN_LIMIT + 30)

        problems, lost, duplicated = faultkit.database_problems(h, senders)
        summary = faultkit.summarise(senders, lost, duplicated)
        print("fault schedule:\n  " + "\n  ".join(log))
        print(f"fault run: {summary}; retries {history.count('reply', status='retry')}, "
              f"links lost {history.count('link_lost')}, fcrd ready again after {ready and round(ready, 1)} s")
        # The whole history, for a post-mortem: FCRD_FAULT_HISTORY names a file, or it stays in the
        # test folder (kept with FCRD_IT_KEEP=1).
        path = os.environ.get("FCRD_FAULT_HISTORY") or os.path.join(h.workdir, "fault-history.jsonl")
        try:
            history.dump(path)
            print(f"history: {path}")
        except OSError as e:
            print(f"history not written: {e}")

        self.assertIsNotNone(ready, f"fcrd ready again within {READY_LIMIT:.0f} s without a hand on it")
        self.assertIsNone(h.proc.poll(), "fcrd still running")
        for s in senders:
            self.assertIsNone(s.error, f"sender {s.name} crashed: {s.error}")
        anomalies = [a for s in senders for a in s.anomalies]
        self.assertEqual(anomalies, [], "no sender was told anything against the contract")
        unfinished = [i.id for s in senders for i in s.unfinished()]
        self.assertEqual(unfinished, [], f"every event acknowledged within {DRAIN_LIMIT:.0f} s of the last fault")
        self.assertEqual(problems, [], summary)
        self.assertEqual(drain_problems, [], "a stop under load drains and exits cleanly")
        self.assertFalse(any(faultkit.sanitizer_report(t) for t in sanitizer_texts),
                         "no sanitizer report from the fcrd that was killed")
        self.assertGreater(sum(len(s.acked) for s in senders), 100, "the run did real work")



class CrashSerialsTest(DaemonTestCase):
    """Crime reference numbers after PostgreSQL crashes with serials fetched but not committed."""

    # Bug (reported to the lead): the store fetches serials ahead (nextval in the batch's read phase)
    # and keeps the unused ones in memory across transactions and reconnects. nextval is not
    # transactional and its WAL record becomes durable only with a later commit, so when PostgreSQL
    # crashes before any commit, recovery rewinds the sequence and hands the same numbers out again
    # while fcrd still holds them. Two incidents then get one CRN; the write's
    # `INSERT INTO crimes ... ON CONFLICT (crn) DO UPDATE` overwrites the first incident's crime with
    # the second's offence and victim (incident_id unchanged), so an acknowledged crime is not in the
    # database (pending_decisions ids: the same). Here: a stall holds a batch that topped the pool up,
    # PostgreSQL is killed, and the events after the restart reuse about 70 numbers.
    def test_crime_numbers_stay_unique_after_a_crash(self):
        h = self.h
        self.assertIsNotNone(faultkit.wait_ready(h, 60))
        acks = {}
        with h.feed() as feed:
            r = feed.request(assault_opened(uid("SER")))
            acks[r["incident_id"]] = r
        # An event that needs more serials than the pool holds, so its read phase fetches more...
        big = assault_opened(uid("SER-BIG"))
        big["allegations"] = [dict(big["allegations"][0], id=f"a{i}") for i in range(100)]
        stall = faultkit.LockStall(h, "LOCK TABLE crimes IN EXCLUSIVE MODE")
        feed = h.feed()
        feed.send(big)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not h.sql_value(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = 'fcrd' AND wait_event_type = 'Lock'"):
            time.sleep(0.05)
        before = h.sql_value("SELECT last_value FROM serials")
        # ... and PostgreSQL dies while its write waits, before anything flushed the sequence.
        faultkit.pg_kill9(h)
        h.pg.start()
        after = h.sql_value("SELECT last_value FROM serials")
        r = feed.read_reply()
        feed.close()
        # The write was stalled before its COMMIT went out, so the batch was certainly not stored:
        # retry, and the resend after the restart is accepted.
        self.assertStatus(r, "retry")
        self.assertEqual(h.sql_value("SELECT count(*) FROM raw_events WHERE event_id = %s", (big["event_id"],)), 0)
        self.assertIsNotNone(faultkit.wait_ready(h, 60))
        with h.feed() as feed:
            r = feed.request(big)
        self.assertStatus(r, "accepted")
        acks[r["incident_id"]] = r
        with h.feed() as feed:
            for _ in range(16):
                evs = [assault_opened(uid("SER")) for _ in range(50)]
                feed.send_many(evs)
                for r in feed.read_replies(len(evs)):
                    self.assertStatus(r, "accepted")
                    acks[r["incident_id"]] = r
        owners = {}
        for inc, r in acks.items():
            for c in r.get("crimes") or []:
                owners.setdefault(c["crn"], []).append(inc)
        shared = {crn: incs for crn, incs in owners.items() if len(incs) > 1}
        missing = h.sql_value("SELECT count(*) FROM unnest(%s::text[]) AS i WHERE NOT EXISTS "
                              "(SELECT 1 FROM crimes c WHERE c.incident_id = i)", (list(acks),))
        print(f"sequence before the crash {before}, after {after}; {len(shared)} CRNs acknowledged to two "
              f"incidents; {missing} incidents without their acknowledged crime")
        self.assertEqual(shared, {}, "one CRN, one crime")
        self.assertEqual(missing, 0, "every acknowledged crime is stored")



class ConnectDeadlineTest(DaemonTestCase):
    """A connection attempt to a PostgreSQL that accepts TCP but never answers must give up after
    database.connect_timeout_ms (3 s in the harness) and try again."""
    harness_config = {"log.level": "debug"}

    # libpq ignores connect_timeout in PQconnectPoll: the deadline is fcrd's to keep. Without it an
    # attempt whose server never answers the startup packet (a frozen postmaster, a peer behind a
    # firewall that drops packets) hangs until the server or the kernel gives up.
    def test_a_hung_connection_attempt_is_abandoned(self):
        h = self.h
        self.assertIsNotNone(faultkit.wait_ready(h, 60))
        master = h.pg.proc.pid
        backends = faultkit.children(master)
        os.kill(master, signal.SIGSTOP)  # new connections are accepted by the kernel, then nothing
        try:
            start = len(h.log_text())
            # end fcrd's sessions the way pg_terminate_backend would (the postmaster cannot serve SQL)
            fcrd_pids = [p for p in backends if _session_user(p) == "fcrd"]
            for pid in fcrd_pids:
                os.kill(pid, signal.SIGTERM)
            # Within the 10 s this always allowed (three attempts' worth): stop looking once two
            # attempts have been given up.
            deadline = time.monotonic() + 10
            while True:
                attempts = h.log_text()[start:].count("not connected")
                if attempts >= 2 or time.monotonic() >= deadline:
                    break
                time.sleep(0.1)
        finally:
            os.kill(master, signal.SIGCONT)
        self.assertIsNotNone(faultkit.wait_ready(h, 60), "fcrd recovers once the postmaster answers")
        self.assertGreaterEqual(attempts, 2, "attempts given up and retried while the postmaster was frozen")


def _flowing(h, history, senders, limit, acks=SETTLE_ACKS):
    """Wait until every sender has had `acks` events acknowledged (accepted or duplicate) that it
    sent after this call, so fcrd took them in after whatever came before, and fcrd answers ready.
    Two windows' worth: each incident the sender had going moves on, and new ones follow. Returns
    the seconds it took, or None past limit."""
    t0 = time.monotonic()
    with history.lock:
        mark = len(history.ops)
    names = {s.name for s in senders}
    while time.monotonic() - t0 < limit:
        with history.lock:
            ops = history.ops[mark:]
        sent = {(o["sender"], o["event_id"]) for o in ops if o["kind"] == "send"}
        fresh = {}
        for o in ops:
            if (o["kind"] == "reply" and o["status"] in ("accepted", "duplicate")
                    and (o["sender"], o["event_id"]) in sent):
                fresh[o["sender"]] = fresh.get(o["sender"], 0) + 1
        if all(fresh.get(n, 0) >= acks for n in names):
            if faultkit.wait_ready(h, max(0.0, limit - (time.monotonic() - t0))) is None:
                return None
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def _unready(h, limit):
    """Wait until fcrd answers /readyz with anything but 200 (it has seen its database gone).
    Returns the seconds it took, or None past limit."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        try:
            status, _ = h.api.get("/readyz")
            if status != 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.05)
    return None


def _session_user(pid):
    """The user of a PostgreSQL backend, from its process title ("postgres: USER DB ...")."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            title = f.read().replace(b"\0", b" ").decode("utf-8", "replace").split()
    except OSError:
        return None
    return title[1] if len(title) > 1 and title[0].startswith("postgres:") else None


if __name__ == "__main__":
    harness.main()
