#!/usr/bin/env python3
"""incident_size.py: does an update cost more as its incident grows? (bench/run, step incident-size)

    incident_size.py [--updates N] [--incidents K] [--prefix P] [--lsn-command CMD] [--out FILE]
                     tcp:HOST:PORT|unix:PATH

Opens K incidents over one feed connection, then sends each of them N updates in order, round
robin, one line in flight at a time: every update adds a witness (a new person) and a line of
narrative text, so incident state, persons and stored events grow with every update. Each
update's acknowledgement latency (send to reply line) is recorded, and the summary compares the
median of the last 100 update rounds with the first 100 (with K incidents, K samples a round).
With --lsn-command (a shell command that prints PostgreSQL's pg_current_wal_lsn()), it also
reports the WAL written per update over the first and the last 100 rounds: what the database
wrote for an update, a figure that does not depend on how busy the machine is.

Why Python and not an fcr-loadgen mode: with one line in flight the figure wanted is
milliseconds (an update is a commit), and the driver's own time per line (building it, a
send, a blocking read) is tens of microseconds, measured here as `driver_us` from a loop that
only builds and parses; with nothing concurrent to schedule, a blocking socket measures the
same as libevent would. Standard library only.

Exit status 0 when every line was accepted, 1 otherwise (the first bad reply is printed), 2 on
a usage error. Prints one JSON object (also written to --out).
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

WINDOW = 100  # update rounds compared at the start and at the end


def connect(address):
    if address.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(address[5:])
        return s
    if address.startswith("tcp:"):
        address = address[4:]
    host, _, port = address.rpartition(":")
    s = socket.create_connection((host.strip("[]"), int(port)), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def now_text():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def opening(incident, at):
    return {"v": 1, "event_id": f"{incident}-1", "type": "incident.opened", "incident_id": incident, "seq": 1,
            "at": at, "force": "XX", "handler": "CH001", "channel": "emergency_call", "category": "crime",
            "opening_code": "ASSLT", "narrative": "Caller reports an assault outside the station; the person"
            " responsible has left on foot.", "reported_by": "v1",
            "persons": [{"id": "v1", "role": "victim", "sex": "female", "age": 34,
                         "relationships": [{"to": "s1", "kind": "stranger"}], "confirms": True},
                        {"id": "s1", "role": "suspect", "sex": "male"}],
            "allegations": [{"id": "a1", "victim": "v1", "suspects": ["s1"], "conduct": "assault.injury",
                             "occurred_at": at, "location": {"force_area": "own", "premises": "public_place"}}]}


def update(incident, seq, at):
    return {"v": 1, "event_id": f"{incident}-{seq}", "type": "incident.updated", "incident_id": incident,
            "seq": seq, "at": at, "force": "XX", "handler": "CH001",
            "narrative": f"Log {seq}: officer spoke to witness {seq}, who saw the person responsible run"
                         " towards the bus station; statement to follow.",
            "persons": [{"id": f"w{seq}", "role": "witness", "name": f"Witness {seq}"}]}


class Feed:
    def __init__(self, address):
        self.sock = connect(address)
        self.buf = b""

    def send(self, event):
        """One line, one in flight: seconds from the send to its reply, and the reply."""
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        t0 = time.perf_counter()
        self.sock.sendall(line)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("fcrd closed the feed connection")
            self.buf += chunk
        t1 = time.perf_counter()
        reply, _, self.buf = self.buf.partition(b"\n")
        return t1 - t0, json.loads(reply)


def driver_cost_us(prefix):
    """Microseconds the driver itself spends per line (build, encode, parse), no network."""
    reply = b'{"v":1,"event_id":"x","status":"accepted","crimes":[],"warnings":[]}'
    n = 2000
    t0 = time.perf_counter()
    for seq in range(2, n + 2):
        (json.dumps(update(prefix, seq, now_text()), separators=(",", ":")) + "\n").encode()
        json.loads(reply)
    return (time.perf_counter() - t0) / n * 1e6


def lsn_now(command):
    """PostgreSQL's current WAL position, in bytes, from `command`'s output (X/Y in hex)."""
    text = subprocess.run(command, shell=True, check=True, capture_output=True, text=True).stdout.strip()
    hi, _, lo = text.partition("/")
    return (int(hi, 16) << 32) + int(lo, 16)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("address")
    ap.add_argument("--updates", type=int, default=1000, help="updates per incident (default 1000)")
    ap.add_argument("--incidents", type=int, default=1, help="incidents updated in turn (default 1)")
    ap.add_argument("--prefix", default=f"isz-{int(time.time())}-{os.getpid()}")
    ap.add_argument("--out", help="also write the JSON result here")
    ap.add_argument("--lsn-command", help="shell command printing pg_current_wal_lsn(), for WAL bytes per update")
    a = ap.parse_args(argv[1:])
    if a.updates < 1 or a.incidents < 1 or a.incidents > 100 or len(a.prefix) > 40:
        ap.error("--updates >= 1, --incidents 1..100, --prefix at most 40 characters")
    feed = Feed(a.address)
    incidents = [f"{a.prefix}-{i}" for i in range(a.incidents)]
    bad = None
    rounds = []  # per update round: the latencies (s) of its K updates
    lsn = {}     # round index -> WAL position before it (first and last windows' edges only)
    w_edges = min(WINDOW, a.updates // 2) or 1
    edges = {0, w_edges, a.updates - w_edges, a.updates}
    started = time.perf_counter()
    for inc in incidents:
        _, r = feed.send(opening(inc, now_text()))
        if r.get("status") != "accepted":
            bad = r
    for seq in range(2, a.updates + 2):
        if a.lsn_command and seq - 2 in edges:
            lsn[seq - 2] = lsn_now(a.lsn_command)
        if bad:
            break
        lat = []
        for inc in incidents:
            t, r = feed.send(update(inc, seq, now_text()))
            if r.get("status") != "accepted":
                bad = r
                break
            lat.append(t)
        rounds.append(lat)
    if a.lsn_command and not bad:
        lsn[a.updates] = lsn_now(a.lsn_command)
    elapsed = time.perf_counter() - started
    w = min(WINDOW, len(rounds) // 2) or 1
    first = [x for lat in rounds[:w] for x in lat]
    last = [x for lat in rounds[-w:] for x in lat]
    every = [x for lat in rounds for x in lat]
    med_first = statistics.median(first) * 1000 if first else 0.0
    med_last = statistics.median(last) * 1000 if last else 0.0
    result = {
        "incidents": a.incidents, "updates": a.updates, "rounds": len(rounds), "window": w,
        "completed": bad is None and len(rounds) == a.updates, "first_bad_reply": bad,
        "elapsed_s": elapsed,
        "median_first_ms": med_first, "median_last_ms": med_last,
        "ratio": med_last / med_first if med_first else None,
        "p99_ms": sorted(every)[int(0.99 * (len(every) - 1))] * 1000 if every else 0.0,
        "driver_us": driver_cost_us(a.prefix),
        # WAL bytes per update over the first and the last window (None without --lsn-command)
        "wal_first_bytes": ((lsn[w_edges] - lsn[0]) / (w_edges * a.incidents)
                            if {0, w_edges} <= lsn.keys() else None),
        "wal_last_bytes": ((lsn[a.updates] - lsn[a.updates - w_edges]) / (w_edges * a.incidents)
                           if {a.updates - w_edges, a.updates} <= lsn.keys() else None),
        # the median of each block of ten rounds, to see the shape of any growth
        "median_per_10_rounds_ms": [statistics.median(x for lat in rounds[i:i + 10] for x in lat) * 1000
                                    for i in range(0, len(rounds), 10)],
    }
    text = json.dumps(result)
    print(text)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    if bad:
        print(f"incident_size: not accepted: {json.dumps(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
