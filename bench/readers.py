#!/usr/bin/env python3
"""readers.py: supervisors and the registrar reading while the feed runs (bench/run, step readers).

    readers.py --api HOST:PORT --tokens FILE [--secs S] [--period S] [--report PATH] [--out FILE]
    readers.py --api HOST:PORT --tokens FILE --walk PATHS [--role ROLE] [--out FILE]

FILE holds one token per line, as fcrd's token file does (TOKEN USER ROLE): every `supervisor`
token is one simulated supervisor, who GETs /v1/pending every --period seconds (default 10), the
supervisors' first requests spread evenly over the first period so that they do not arrive
together; the first `fcr` token is the registrar, who GETs --report (default: the self-audit
report of the current year) again as soon as the previous one is answered. Each supervisor keeps
one HTTP/1.1 connection open, as a browser would. Requests are timed send to full reply.

Requests are scheduled by the clock (a late request does not push the next one back), so a slow
answer shows as latency rather than as fewer requests. Prints one JSON object (also written to
--out): per kind, count, failures, p50/p99/max in ms. Exit status 0 when every request got a 2xx,
1 otherwise, 2 on a usage error. Standard library only.

With --walk, one client (the first token of --role, default auditor) GETs each path of the file
PATHS in turn, one request in flight, and the summary's "walk" entry times them (bench/run's
large step: incidents picked at random, the self-audit report of a month and of a year).
"""
import argparse
import http.client
import json
import math
import statistics
import sys
import threading
import time


def percentile(xs, q):
    if not xs:
        return 0.0
    xs = sorted(xs)  # nearest rank: the smallest value with at least q of them at or below it
    return xs[max(0, min(len(xs), math.ceil(q * len(xs))) - 1)]


class Client:
    """One keep-alive connection; reconnects after a failure."""

    def __init__(self, host, port, token):
        self.host, self.port, self.token = host, port, token
        self.conn = None

    def get(self, path):
        """(seconds, HTTP status or 0 for no reply, body size)."""
        t0 = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
            resp = self.conn.getresponse()
            body = resp.read()
            t = time.perf_counter() - t0
            if resp.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return t, resp.status, len(body)
        except (OSError, http.client.HTTPException):
            if self.conn:
                self.conn.close()
            self.conn = None
            return time.perf_counter() - t0, 0, 0


class Kind:
    def __init__(self):
        self.lock = threading.Lock()
        self.times, self.codes, self.bytes = [], {}, 0

    def add(self, t, status, size):
        with self.lock:
            self.times.append(t)
            self.codes[status] = self.codes.get(status, 0) + 1
            self.bytes += size

    def summary(self):
        ms = [t * 1000 for t in self.times]
        bad = sum(n for code, n in self.codes.items() if not 200 <= code < 300)
        return {"count": len(ms), "failures": bad, "codes": {str(k): v for k, v in self.codes.items()},
                "p50_ms": percentile(ms, 0.5), "p99_ms": percentile(ms, 0.99), "max_ms": max(ms, default=0.0),
                "mean_bytes": self.bytes / len(ms) if ms else 0}


def supervisor(client, path, start, period, end, kind):
    due = start
    while due < end:
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the schedule itself, not a wait for something to happen
        kind.add(*client.get(path))
        due += period


def registrar(client, path, end, kind):
    while time.monotonic() < end:
        kind.add(*client.get(path))


def write(result, out):
    text = json.dumps(result)
    print(text)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text + "\n")


def walk(a, host, port):
    token = None
    with open(a.tokens, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == a.role:
                token = parts[0]
                break
    if not token:
        print(f"readers: no {a.role} token in {a.tokens}", file=sys.stderr)
        return 2
    with open(a.walk, encoding="utf-8") as f:
        paths = [line.strip() for line in f if line.strip()]
    client, kind = Client(host, port, token), Kind()
    t0 = time.monotonic()
    for path in paths:
        kind.add(*client.get(path))
    summary = kind.summary()
    summary["p50_ms"] = statistics.median([t * 1000 for t in kind.times]) if kind.times else 0.0
    write({"secs": time.monotonic() - t0, "walk": summary, "first_path": paths[0] if paths else None}, a.out)
    return 0 if summary["failures"] == 0 and kind.times else 1


def main(argv):
    year = time.gmtime().tm_year
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--api", required=True, help="HOST:PORT of fcrd's API")
    ap.add_argument("--tokens", required=True, help="token file: TOKEN USER ROLE per line")
    ap.add_argument("--secs", type=float, default=60)
    ap.add_argument("--period", type=float, default=10, help="seconds between a supervisor's requests")
    ap.add_argument("--pending", default="/v1/pending")
    ap.add_argument("--report", default=f"/v1/reports/cdi?from={year}-01-01&to={year + 1}-01-01")
    ap.add_argument("--no-report", action="store_true", help="supervisors only")
    ap.add_argument("--walk", help="GET each path of this file in turn, one in flight")
    ap.add_argument("--role", default="auditor", help="with --walk: whose token (default auditor)")
    ap.add_argument("--out")
    a = ap.parse_args(argv[1:])
    host, _, port = a.api.rpartition(":")
    if a.walk:
        return walk(a, host, int(port))
    sups, reg = [], None
    with open(a.tokens, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "supervisor":
                sups.append(parts[0])
            elif len(parts) == 3 and parts[2] == "fcr" and reg is None:
                reg = parts[0]
    if not sups:
        ap.error(f"no supervisor tokens in {a.tokens}")
    if not a.no_report and not reg:
        ap.error(f"no fcr token (the registrar) in {a.tokens}")
    pending, report = Kind(), Kind()
    t0 = time.monotonic()
    end = t0 + a.secs
    threads = [threading.Thread(target=supervisor, daemon=True,
                                args=(Client(host, int(port), tok), a.pending, t0 + i * a.period / len(sups),
                                      a.period, end, pending))
               for i, tok in enumerate(sups)]
    if not a.no_report:
        threads.append(threading.Thread(target=registrar, daemon=True,
                                        args=(Client(host, int(port), reg), a.report, end, report)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = {"secs": time.monotonic() - t0, "supervisors": len(sups), "period_s": a.period,
              "pending": pending.summary(), "report_path": None if a.no_report else a.report,
              "report": report.summary()}
    write(result, a.out)
    ok = pending.summary()["failures"] == 0 and report.summary()["failures"] == 0 and pending.times
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
