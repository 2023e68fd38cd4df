#!/usr/bin/env python3
"""persons-load.py: closed-loop load of openings that name a victim and a suspect by ref, so that
every batch locks refs and reads the person index (bench/run, step persons).

    persons-load.py HOST:PORT SECONDS [--window N] [--refs N] [--prefix TEXT] [--json FILE]

Each event opens an incident with one harassment occasion against victim BV-k by suspect
BS-(k mod 50000), k drawn from 1..refs (seed-persons.sql's refs, so lookups find rows), and
keeps `window` events in flight on one connection. Prints acknowledged events/s; every reply
must be `accepted`.
"""
import argparse
import json
import random
import socket
import sys
import time


def event(prefix, n, k):
    inc = f"{prefix}-{n}"
    when = "2026-03-02T10:00:00Z"
    return {"v": 1, "event_id": f"{inc}-e1", "type": "incident.opened", "incident_id": inc, "seq": 1,
            "at": when, "category": "crime", "channel": "emergency_call",
            "narrative": "Caller says her ex-partner keeps turning up at her door.", "reported_by": "v1",
            "persons": [{"id": "v1", "role": "victim", "sex": "female", "age": 30, "confirms": True,
                         "ref": f"BV-{k}"},
                        {"id": "s1", "role": "suspect", "sex": "male", "ref": f"BS-{k % 50000}"}],
            "allegations": [{"id": "a1", "victim": "v1", "suspects": ["s1"], "offence": "8L",
                             "occurred_at": when, "location": {"force_area": "own", "premises": "dwelling"}}]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("address")
    ap.add_argument("seconds", type=float)
    ap.add_argument("--window", type=int, default=500)
    ap.add_argument("--refs", type=int, default=1000000)
    ap.add_argument("--prefix", default=f"pl-{int(time.time())}")
    ap.add_argument("--json")
    a = ap.parse_args()
    host, port = a.address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    rnd = random.Random(1)
    rfile = sock.makefile("rb")
    sent = acked = bad = 0
    start = time.monotonic()
    stop = start + a.seconds
    while True:
        now = time.monotonic()
        if now < stop and sent - acked < a.window:
            burst = b"".join(json.dumps(event(a.prefix, sent + i, rnd.randint(1, a.refs))).encode() + b"\n"
                             for i in range(a.window - (sent - acked)))
            sock.sendall(burst)
            sent += burst.count(b"\n")
        if acked == sent:
            break
        line = rfile.readline()
        if not line:
            print("persons-load: the connection closed", file=sys.stderr)
            return 1
        acked += 1
        if json.loads(line).get("status") != "accepted":
            bad += 1
    secs = time.monotonic() - start
    res = {"events": acked, "seconds": round(secs, 3), "events_per_s": round(acked / secs, 1), "not_accepted": bad}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f)
    print(json.dumps(res))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
