"""faultkit.py: the pieces of the fault tests (tests/integration/test_fault*.py, test_instances.py,
test_backpressure.py): senders that keep every event until it is acknowledged and log every outcome,
the faults themselves (kill -9, SIGSTOP, lock stalls, terminated backends, vanishing clients), and
the checks of the database afterwards.

The checks read the tables as the superuser and compare them with what the senders were told:

- every event acknowledged `accepted`/`duplicate` is stored exactly once, with the body that was
  sent and the reply the sender got (crimes, decisions, rules);
- every crime and pending decision named in an acknowledgement exists, in the right incident;
- nothing is half-written: every stored event has its audit entries, incident row and entries,
  and every audit entry, person and allegation row names a stored event;
- no crime is recorded twice: one live crime per incident, victim and offence;
- per incident, stored events are applied in `seq` order (audit ids follow seq);
- the audit hash chains are whole: each entry's hash is sha256(prev_hash || entry) and links to the
  one before it in its chain, and each audit_head row holds its chain's last hash.

Nothing here is a test by itself; the test files import it through sys.path.
"""
import hashlib
import json
import os
import signal
import socket
import struct
import threading
import time
import uuid

import harness

REPLY_TIMEOUT = 45.0  # longer than fcrd's 10 s database round-trip limit, with room for ASan


def now():
    return time.monotonic()


# ---- the workload ----------------------------------------------------------------------------

def incident_script(incident_id, base_at="2026-03-02T10:00:00Z"):
    """Three events with consequences: an opening that records an assault, an update that records
    criminal damage against a second victim and leaves one allegation pending (its conduct is
    not in the lexicon), and a closing. Expected at the end: two live crimes, one open pending."""
    ref = f"REF-{incident_id}"
    opened = harness.assault_opened(incident_id, at=base_at)
    opened["persons"][0]["ref"] = ref
    updated = harness.event(
        incident_id, 2, "incident.updated", "2026-03-02T10:20:00Z",
        narrative="Second caller: the suspect also kicked the neighbour's car.",
        persons=[{"id": "v2", "role": "victim", "sex": "male", "age": 50, "confirms": True}],
        allegations=[{"id": "a2", "victim": "v2", "suspects": ["s1"], "conduct": "damage.vehicle",
                      "occurred_at": "2026-03-02T09:50:00Z",
                      "location": {"force_area": "own", "premises": "public_place"}},
                     {"id": "a3", "victim": "v2", "conduct": "fault.unlisted_conduct",
                      "occurred_at": "2026-03-02T09:50:00Z"}])
    closed = harness.event(incident_id, 3, "incident.closed", "2026-03-02T11:00:00Z", closing_category="crime")
    return [opened, updated, closed]


EXPECTED_CRIMES = {("v1", "8N"), ("v2", "58C")}


class History:
    """Every send and every outcome, in order, from every sender (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []
        self.t0 = now()

    def add(self, kind, **kw):
        rec = {"t": round(now() - self.t0, 3), "kind": kind}
        rec.update(kw)
        with self.lock:
            self.ops.append(rec)

    def dump(self, path):
        with self.lock, open(path, "w", encoding="utf-8") as f:
            for rec in self.ops:
                f.write(json.dumps(rec, sort_keys=True) + "\n")

    def count(self, kind, **match):
        with self.lock:
            return sum(1 for r in self.ops if r["kind"] == kind and all(r.get(k) == v for k, v in match.items()))


class Incident:
    def __init__(self, incident_id, events):
        self.id = incident_id
        self.events = events
        self.next = 0            # index of the next event to send
        self.inflight = False    # its next event awaits a reply
        self.not_before = 0.0    # after a retry, wait a little
        self.failed = None       # a rejection that stopped it

    @property
    def done(self):
        return self.next >= len(self.events) or self.failed is not None


class Sender(threading.Thread):
    """A control room's link: sends its incidents' events in seq order (one in flight per
    incident, pipelined across incidents), resends what is unacknowledged after a retry or a
    reconnect, and records every outcome. `address()` names the feed to use right now, so a
    restarted fcrd on new ports is found again. New incidents start until `stop_new` is set;
    the thread ends when all its incidents are done or at `deadline` (monotonic)."""

    def __init__(self, name, address, history, window=3, pace=0.15, script=incident_script,
                 stop_new=None, deadline=None, prefix="F", max_incidents=None, plan=None):
        super().__init__(name=name, daemon=True)
        self.plan = list(plan) if plan is not None else None  # [(incident_id, events)] to send instead
        self.address = address
        self.history = history
        self.window = window
        self.pace = pace
        self.script = script
        self.stop_new = stop_new or threading.Event()
        self.deadline = deadline
        self.prefix = prefix
        self.max_incidents = max_incidents
        self.incidents = []
        self.acked = {}        # event_id -> first acknowledging reply
        self.events = {}       # event_id -> event sent
        self.sent = set()      # event ids sent at least once
        self.attempts = 0
        self.anomalies = []    # replies that break the contract as the sender sees it
        self.replies = {}      # event_id -> every reply it got, in order
        self.reconnects = 0
        self.error = None

    # -- the link ---------------------------------------------------------------------------
    def _connect(self):
        s = harness.feed_socket(self.address(), 3)
        s.settimeout(REPLY_TIMEOUT)
        return s

    def _active(self):
        live = [i for i in self.incidents if not i.done]
        while (len(live) < self.window and not self.stop_new.is_set()
               and (self.max_incidents is None or len(self.incidents) < self.max_incidents)):
            if self.plan is not None:
                if not self.plan:
                    break
                incident_id, events = self.plan.pop(0)
                inc = Incident(incident_id, events)
            else:
                inc = Incident(f"{self.prefix}-{self.name}-{uuid.uuid4().hex[:10]}", None)
                inc.events = self.script(inc.id)
            self.incidents.append(inc)
            live.append(inc)
        return live

    def run(self):
        try:
            self._run()
        except Exception as e:  # noqa: BLE001 -- reported by the test
            self.error = repr(e)
            self.history.add("sender_crash", sender=self.name, error=repr(e))

    def _run(self):
        sock, buf, fifo = None, b"", []
        while True:
            if self.deadline is not None and now() > self.deadline:
                self.history.add("sender_deadline", sender=self.name)
                break
            live = self._active()
            if not live:
                break
            if sock is None:
                try:
                    sock = self._connect()
                    buf, fifo = b"", []
                except OSError as e:
                    self.history.add("connect_failed", sender=self.name, error=str(e))
                    time.sleep(0.2)
                    continue
            t = now()
            batch = [i for i in live if not i.inflight and i.not_before <= t]
            try:
                if batch:
                    data = b""
                    for inc in batch:
                        ev = inc.events[inc.next]
                        self.events[ev["event_id"]] = ev
                        self.sent.add(ev["event_id"])
                        self.attempts += 1
                        inc.inflight = True
                        fifo.append(inc)
                        data += json.dumps(ev, separators=(",", ":")).encode() + b"\n"
                        self.history.add("send", sender=self.name, event_id=ev["event_id"], incident=inc.id,
                                         seq=ev["seq"])
                    sock.sendall(data)
                if not fifo:
                    time.sleep(0.05)
                    continue
                # Read what is there (at least one reply), then pace.
                while fifo:
                    while b"\n" not in buf:
                        chunk = sock.recv(65536)
                        if not chunk:
                            raise ConnectionError("fcrd closed the connection")
                        buf += chunk
                    line, buf = buf.split(b"\n", 1)
                    self._outcome(fifo.pop(0), line)
                    if b"\n" not in buf:
                        break
            except (OSError, ConnectionError, ValueError) as e:
                self.history.add("link_lost", sender=self.name, error=str(e), unanswered=len(fifo))
                for inc in fifo:
                    inc.inflight = False
                fifo = []
                try:
                    sock.close()
                except OSError:
                    pass
                sock = None
                self.reconnects += 1
                time.sleep(0.2)
                continue
            time.sleep(self.pace)
        if sock is not None:
            sock.close()

    def _outcome(self, inc, line):
        ev = inc.events[inc.next]
        inc.inflight = False
        reply = json.loads(line)
        status = reply.get("status")
        code = (reply.get("error") or {}).get("code")
        self.history.add("reply", sender=self.name, event_id=ev["event_id"], status=status, code=code)
        if reply.get("event_id") != ev["event_id"]:
            self.anomalies.append(f"reply for {reply.get('event_id')} where {ev['event_id']} was due: {line[:200]!r}")
        self.replies.setdefault(ev["event_id"], []).append(reply)
        if status in ("accepted", "duplicate"):
            if ev["event_id"] in self.acked:
                self.anomalies.append(f"{ev['event_id']} acknowledged twice")
            else:
                self.acked[ev["event_id"]] = reply
            inc.next += 1
        elif status == "retry":
            inc.not_before = now() + 0.25
        else:
            inc.failed = reply
            self.anomalies.append(f"{ev['event_id']} (seq {ev['seq']}) rejected: {line[:300]!r}")

    # -- summary ----------------------------------------------------------------------------
    def unfinished(self):
        return [i for i in self.incidents if not i.done]


def summarise(senders, lost, duplicated):
    sent = sum(len(s.sent) for s in senders)
    attempts = sum(s.attempts for s in senders)
    acked = sum(len(s.acked) for s in senders)
    return (f"sent {sent} (in {attempts} attempts), acknowledged {acked}, lost {lost}, duplicated {duplicated}, "
            f"unacknowledged at the end {sent - acked}")


# ---- processes -------------------------------------------------------------------------------

def children(pid):
    """Pids of the direct children of pid (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(entry))
    return out


def rss_kib(pid):
    """Resident set size of a process in KiB (VmRSS), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def pg_pids(h):
    master = h.pg.proc.pid
    return master, children(master)


def pg_kill9(h):
    """kill -9 of the postmaster and every backend: a power cut, as far as PostgreSQL knows."""
    master, kids = pg_pids(h)
    os.kill(master, signal.SIGSTOP)  # no new children while we count them
    kids = children(master)
    for pid in [master] + kids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    h.pg.proc.wait(30)
    h.pg.proc = None
    deadline = now() + 30
    while now() < deadline and any(os.path.exists(f"/proc/{p}") and not _zombie(p) for p in kids):
        time.sleep(0.05)
    if h._sql is not None:
        try:
            h._sql.close()
        except Exception:  # noqa: BLE001
            pass
        h._sql = None


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        return stat[stat.rfind(")") + 2] == "Z"
    except OSError:
        return True


def pg_freeze(h):
    """SIGSTOP the postmaster and every backend; returns the pids for pg_thaw."""
    master = h.pg.proc.pid
    os.kill(master, signal.SIGSTOP)
    pids = [master] + children(master)
    for pid in pids[1:]:
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            pass
    return pids


def pg_thaw(pids):
    for pid in reversed(pids):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def fcrd_kill9(h):
    """kill -9 of fcrd. Returns the log text of the killed process (checked for sanitizer reports)."""
    text = h.log_text()
    h.proc.kill()
    h.proc.wait(30)
    h.proc = None
    return text


def terminate_backends(h, user="fcrd"):
    return h.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (user,))


class LockStall:
    """Hold a table lock from a separate session until release()."""

    def __init__(self, h, sql):
        self.conn = h.connect(autocommit=False)
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            self.pid = cur.fetchone()[0]
            cur.execute(sql)

    def release(self):
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


def wait_ready(h, timeout, api=None):
    """Wait until /readyz answers 200; returns the seconds it took or None."""
    t0 = now()
    while now() - t0 < timeout:
        try:
            status, _ = (api or h.api).get("/readyz")
            if status == 200:
                return now() - t0
        except OSError:
            pass
        time.sleep(0.1)
    return None


def vanish(address, lines, cut_at=None, reset=True):
    """A client that sends `lines` (bytes, already framed), perhaps cut in the middle of a line,
    and disappears: with reset an RST (SO_LINGER 0), else a plain close. Never reads a reply."""
    try:
        s = harness.feed_socket(address, 3)
        if reset and not address.startswith("unix:"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        data = lines if cut_at is None else lines[:cut_at]
        s.sendall(data)
        s.close()
        return True
    except OSError:
        return False


# ---- the checks ------------------------------------------------------------------------------

def audit_chain_problems(h, limit=20):
    """Breaks in the audit hash chains (empty when whole): each chain links its own entries in id
    order, and each chain's head row holds its last entry's hash ('' for a chain never used)."""
    problems = []
    last = {}
    for aid, chain, entry, prev_hash, hsh in h.sql("SELECT id, chain, entry, prev_hash, hash FROM audit ORDER BY id"):
        prev = last.get(chain, "")
        if prev_hash != prev:
            problems.append(f"audit {aid}: prev_hash {prev_hash[:12]} does not follow {prev[:12]} in chain {chain}")
        want = hashlib.sha256((prev_hash + entry).encode()).hexdigest()
        if want != hsh:
            problems.append(f"audit {aid}: hash is not sha256(prev_hash || entry)")
        last[chain] = hsh
        if len(problems) >= limit:
            break
    for chain, head in h.sql("SELECT id, hash FROM audit_head ORDER BY id"):
        if head != last.get(chain, ""):
            problems.append(f"audit_head {chain} {str(head)[:12]} is not its chain's last hash "
                            f"{last.get(chain, '')[:12]}")
    return problems


def database_problems(h, senders, expect_complete=True):
    """Compare the database with what the senders were told. Returns (problems, lost, duplicated)."""
    problems = []
    acked = {}
    sent = {}
    incidents = {}
    for s in senders:
        acked.update(s.acked)
        sent.update(s.events)
        for inc in s.incidents:
            incidents[inc.id] = inc
    ids = list(sent)
    stored = {}
    for event_id, incident_id, seq, body, reply, n in h.sql(
            "SELECT event_id, incident_id, seq, body, reply::text, count(*) OVER (PARTITION BY event_id) "
            "FROM raw_events WHERE event_id = ANY(%s)", (ids,)):
        stored[event_id] = (incident_id, seq, json.loads(body), json.loads(reply), n)

    lost = duplicated = 0
    for event_id, reply in acked.items():
        row = stored.get(event_id)
        if row is None:
            lost += 1
            problems.append(f"LOST: {event_id} was acknowledged {reply.get('status')} but is not stored")
            continue
        incident_id, seq, body, stored_reply, n = row
        if n != 1:
            duplicated += 1
            problems.append(f"{event_id} stored {n} times")
        if body != sent[event_id]:
            problems.append(f"{event_id}: stored body differs from what was sent")
        for key in ("crimes", "decisions", "rules"):
            if stored_reply.get(key) != reply.get(key):
                problems.append(f"{event_id}: acknowledged {key} {json.dumps(reply.get(key))[:200]} differ from "
                                f"the stored {json.dumps(stored_reply.get(key))[:200]}")
    # consequences named in the acknowledgements
    crns = {c["crn"]: (eid, acked[eid]["incident_id"]) for eid in acked for c in acked[eid].get("crimes") or []}
    if crns:
        have = dict(h.sql("SELECT crn, incident_id FROM crimes WHERE crn = ANY(%s)", (list(crns),)))
        for crn, (eid, inc) in crns.items():
            if have.get(crn) != inc:
                problems.append(f"crime {crn} acknowledged to {eid} is {'missing' if crn not in have else 'elsewhere'}")
    pend = {p["id"]: eid for eid in acked for p in acked[eid].get("pending") or []}
    if pend:
        have = {r[0] for r in h.sql("SELECT id FROM pending_decisions WHERE id = ANY(%s)", (list(pend),))}
        for pid, eid in pend.items():
            if pid not in have:
                problems.append(f"pending {pid} acknowledged to {eid} is missing")

    incident_ids = list(incidents)
    # nothing half-written, nothing written without its event
    for (event_id,) in h.sql(
            "SELECT r.event_id FROM raw_events r WHERE r.incident_id = ANY(%s) AND NOT EXISTS "
            "(SELECT 1 FROM audit a WHERE a.event_id = r.event_id)", (incident_ids,)):
        problems.append(f"HALF-WRITTEN: {event_id} is stored without any audit entry")
    for (event_id,) in h.sql(
            "SELECT DISTINCT t.event_id FROM audit t WHERE t.incident_id = ANY(%s) AND t.event_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM raw_events r WHERE r.event_id = t.event_id)", (incident_ids,)):
        problems.append(f"HALF-WRITTEN: audit names {event_id}, which is not stored")
    for incident_id, last_seq, max_seq in h.sql(
            "SELECT i.incident_id, i.last_seq, (SELECT max(seq) FROM raw_events r WHERE r.incident_id = i.incident_id) "
            "FROM incidents i WHERE i.incident_id = ANY(%s)", (incident_ids,)):
        if (max_seq or 0) != last_seq:
            problems.append(f"{incident_id}: last_seq {last_seq} but the stored events go to seq {max_seq}")
    # stored but never sent by anyone
    for (event_id,) in h.sql("SELECT event_id FROM raw_events WHERE incident_id = ANY(%s) AND NOT (event_id = ANY(%s))",
                             (incident_ids, ids)):
        problems.append(f"{event_id} is stored but was never sent")
    # per-incident seq order: each later audit entry belongs to an event of no smaller seq
    for incident_id, seqs in h.sql(
            "SELECT a.incident_id, array_agg(r.seq ORDER BY a.id) FROM audit a JOIN raw_events r USING (event_id) "
            "WHERE a.incident_id = ANY(%s) GROUP BY a.incident_id", (incident_ids,)):
        if any(b < a for a, b in zip(seqs, seqs[1:])):
            problems.append(f"{incident_id}: events applied out of seq order: {seqs}")
    # no crime twice
    for incident_id, victim, offence, n in h.sql(
            "SELECT incident_id, victim, offence, count(*) FROM crimes WHERE incident_id = ANY(%s) "
            "AND status = 'recorded' GROUP BY 1, 2, 3 HAVING count(*) > 1", (incident_ids,)):
        duplicated += 1
        problems.append(f"DUPLICATE CRIME: {incident_id} records {offence} for {victim} {n} times")
    if expect_complete:
        crimes = {}
        for incident_id, victim, offence in h.sql(
                "SELECT incident_id, victim, offence FROM crimes WHERE incident_id = ANY(%s) AND status = 'recorded'",
                (incident_ids,)):
            crimes.setdefault(incident_id, set()).add((victim, offence))
        for inc in incidents.values():
            if inc.next >= len(inc.events) and crimes.get(inc.id, set()) != EXPECTED_CRIMES:
                problems.append(f"{inc.id}: live crimes {sorted(crimes.get(inc.id, set()))}, expected "
                                f"{sorted(EXPECTED_CRIMES)}")
    problems += audit_chain_problems(h)
    return problems, lost, duplicated


def sanitizer_report(text):
    return bool(harness.SANITIZER_RE.search(text or ""))


# ---- a second fcrd on the same PostgreSQL ------------------------------------------------------

class Peer(harness.Harness):
    """Another fcrd process on the harness's PostgreSQL: its own folder, ports, tokens and log.
    Started like the first (start_fcrd: `fcrd migrate` from its own migrate.conf, which finds
    nothing to do, then the serving daemon, whose file holds no owner's credentials).
    Stop it with stop_fcrd() (never stop(): the cluster belongs to the first harness)."""

    def __init__(self, first, name="peer"):
        super().__init__(name, config=first.overrides)
        self.workdir = os.path.join(first.workdir, name)
        os.makedirs(self.workdir, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        self.pg = first.pg
        self.write_tokens()

    def start(self):
        self.start_fcrd()
        return self


class TwoInstancesCase(harness.DaemonTestCase):
    """Two fcrd instances on one database: the harness's (self.h) and a peer (self.peer), both
    ready before each test; the peer must stop cleanly (no sanitizer report) at the end."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.peer = Peer(cls.h, "peer")
        cls.addClassCleanup(cls._stop_peer)
        cls.peer.start()

    @classmethod
    def _stop_peer(cls):
        problems = cls.peer.stop_fcrd()
        if problems:
            raise AssertionError("second fcrd: " + "; ".join(problems))

    def setUp(self):
        for d in (self.h, self.peer):
            self.assertIsNotNone(wait_ready(d, 60), f"{d.name} ready")


class Flood:
    """One feed connection (a Unix socket) written as fast as fcrd reads it, with lines from
    make_line() -> (event_id or None, bytes); a second thread reads the replies. start(), then
    finish(timeout)."""

    def __init__(self, path, make_line):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.make_line = make_line
        self.written = 0      # bytes fully handed to the kernel
        self.lines = []       # (event_id or None) per line written
        self.replies = []
        self.stop = threading.Event()
        self.error = None
        self.eof = False
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.reader = threading.Thread(target=self._read, daemon=True)

    def start(self):
        self.writer.start()
        self.reader.start()
        return self

    def _write(self):
        try:
            while not self.stop.is_set():
                event_id, data = self.make_line()
                self.sock.sendall(data)
                self.lines.append(event_id)
                self.written += len(data)
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = f"write: {e}"

    def _read(self):
        buf = b""
        try:
            while True:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    self.eof = True
                    return
                buf += chunk
                *lines, buf = buf.split(b"\n")
                self.replies.extend(json.loads(x) for x in lines)
        except OSError as e:
            self.error = f"read: {e}"

    def finish(self, timeout):
        self.stop.set()
        self.writer.join(timeout)
        self.reader.join(timeout)
        self.sock.close()
