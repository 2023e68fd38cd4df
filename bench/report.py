#!/usr/bin/env python3
"""report.py: the summary of a bench/run results folder, judged against issue 6's targets.

    report.py RESULTS-DIR      the whole summary (bench/run prints it and saves summary.txt)
    report.py --one FILE.json  one line for one fcr-loadgen result

Reads what bench/run left there: ref-cN.txt (pgbench's output) with .batch/.secs/.pgcpu beside
it, ref-again-cN.txt (the best client count run again after the throughput step), and
fcr-loadgen's JSON results (tp-*, lat-*, replay, read-*) with the PostgreSQL server's
CPU seconds in NAME.pgcpu. Standard library only.
"""
import glob
import json
import os
import re
import sys

TARGET_RATIO = 0.80       # fcrd's sustained events/s over the pgbench reference's
TARGET_OPEN_P99_MS = 5.0  # 1,000 events/s offered over 4 connections
TARGET_LONE_P50_MS = 2.0
TARGET_REPLAY_S = 60.0
TARGET_RSS_MB = 64.0
TARGET_READ_P99_MS = 20.0
REPLAY_EVENTS = 900000


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None


def read_float(path):
    try:
        with open(path, encoding="utf-8") as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return None


def ms(us):
    return us / 1000.0


def side(d, name, ext):
    """A number bench/run stored beside NAME.json (pgcpu, wal), or None."""
    return read_float(os.path.join(d, f"{name}.{ext}"))


def one_line(name, r, pgcpu=None, wal=None):
    if r is None:
        return f"{name}: no result"
    lat = r["latency_us"]
    s = r["status"]
    bad = s["rejected"] + s["retry"] + s["other"]
    parts = [f"{name}: {r['throughput']:,.0f}/s",
             f"p50 {ms(lat['p50']):.2f} ms p99 {ms(lat['p99']):.2f} ms p99.9 {ms(lat['p999']):.2f} ms"
             f" max {ms(lat['max']):.2f} ms"]
    if r["mode"] != "http":
        parts.append(f"{r['replies']:,} replies ({bad} not accepted)")
    else:
        parts.append(f"{r['replies']:,} requests ({bad} not 2xx)")
    wall = r["elapsed_s"] or 1.0
    target = r["cpu_s"]["target"]
    cpu = f"cpu: fcrd {100 * target / wall:.0f}%" if target >= 0 else "cpu: fcrd n/a"
    if pgcpu is not None:
        cpu += f", postgres {100 * pgcpu / wall:.0f}%"
    cpu += f", loadgen {100 * r['cpu_s']['loadgen'] / wall:.0f}%"
    parts.append(cpu)
    if r.get("rss_kb"):
        parts.append(f"rss max {r['rss_kb']['max'] / 1024:.1f} MiB")
    if wal is not None and r["mode"] != "http" and s["accepted"]:
        parts.append(f"WAL {wal / s['accepted'] / 1024:.1f} KiB/event")
    if not r["completed"]:
        parts.append(f"INCOMPLETE: {r.get('failure')}")
    return "; ".join(parts)


def rss_growth(r):
    """KiB per 100,000 replies over the second half of the run (least squares), or None."""
    samples = (r.get("rss_kb") or {}).get("samples") or []
    total = r["replies"]
    pts = [(n, kb) for _, n, kb in samples if n >= total / 2]
    if len(pts) < 3:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None
    slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    return slope * 100000


def verdict(ok):
    return "met" if ok else "NOT MET"


def main(argv):
    if len(argv) == 3 and argv[1] == "--one":
        name = os.path.basename(argv[2])[:-5]
        base = argv[2][:-5]
        print(f"bench: {one_line(name, load(argv[2]), read_float(base + '.pgcpu'), read_float(base + '.wal'))}",
              file=sys.stderr)
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    d = argv[1]
    out = []
    machine = ""
    try:
        with open(os.path.join(d, "machine.txt"), encoding="utf-8") as f:
            machine = f.read().strip()
        with open(os.path.join(d, "versions.txt"), encoding="utf-8") as f:
            machine += "\n" + f.read().strip()
    except OSError:
        pass
    out.append("fcrd benchmark summary")
    out.append("=" * 22)
    out += ["  " + line for line in machine.splitlines()]
    out.append("")

    # reference: each client count, then (ref-again-cN) the best count once more after fcrd's
    # throughput step; the ratio is judged against the best of them all
    def ref_runs(prefix):
        runs = []
        pattern = os.path.join(d, prefix + "-c*.txt")
        for path in sorted(glob.glob(pattern), key=lambda p: int(re.findall(r"c(\d+)\.txt", p)[-1])):
            clients = int(re.findall(r"-c(\d+)\.txt", path)[-1])
            with open(path, encoding="utf-8") as f:
                text = f.read()
            m = re.search(r"^tps = ([0-9.]+) \(without", text, re.M)
            lat = re.search(r"^latency average = ([0-9.]+) ms", text, re.M)
            batch = read_float(path[:-4] + ".batch") or 1
            secs = read_float(path[:-4] + ".secs") or 0
            pgcpu = read_float(path[:-4] + ".pgcpu")
            wal = read_float(path[:-4] + ".wal")
            rows = read_float(path[:-4] + ".events")
            if m:
                runs.append((clients, float(m.group(1)) * batch, float(lat.group(1)) if lat else None, batch, secs,
                             pgcpu, wal / rows if wal and rows else None))
        return runs

    def ref_line(run, label):
        clients, eps, lat, batch, secs, pgcpu, wal = run
        cpu = f", postgres {100 * pgcpu / secs:.0f}% of a core" if pgcpu is not None and secs else ""
        walk = f", WAL {wal / 1024:.1f} KiB/event" if wal else ""
        lat_ms = f", {lat:.1f} ms each" if lat is not None else ""
        return (f"  {label}{clients} client(s): {eps:>9,.0f} events/s  ({batch:.0f} events per transaction"
                f"{lat_ms}{cpu}{walk})")

    refs = ref_runs("ref")
    refs_again = ref_runs("ref-again")
    if refs:
        out.append("Reference: pgbench, the same four rows per event, pipelined, one transaction per batch")
        out += [ref_line(r, "") for r in refs]
        out += [ref_line(r, "again after fcrd's throughput step, ") for r in refs_again]
        out.append("")

    results = {os.path.basename(p)[:-5]: load(p) for p in glob.glob(os.path.join(d, "*.json"))}
    results.pop("warmup", None)
    judged = []

    tps = {k: v for k, v in results.items() if k.startswith("tp-") and v}
    if tps:
        out.append("fcrd throughput (closed loop)")
        for k in sorted(tps):
            out.append("  " + one_line(k, tps[k], side(d, k, "pgcpu"), side(d, k, "wal")))
        best = max(v["throughput"] for v in tps.values())
        if refs:
            ref_best = max(r[1] for r in refs + refs_again)
            ref_one = refs[0][1]
            ratio = best / ref_best if ref_best else 0
            out.append(f"  best fcrd {best:,.0f} events/s = {100 * ratio:.0f}% of the best reference"
                       f" ({ref_best:,.0f}/s); {100 * best / ref_one:.0f}% of the reference with"
                       f" {refs[0][0]} client(s) ({ref_one:,.0f}/s)")
            if refs_again:
                first, again = max(r[1] for r in refs), refs_again[0][1]
                out.append(f"  the best reference before fcrd ran: {first:,.0f}/s ({100 * best / first:.0f}%);"
                           f" after: {again:,.0f}/s ({100 * best / again:.0f}%)")
            judged.append((f"throughput >= {100 * TARGET_RATIO:.0f}% of the reference", f"{100 * ratio:.0f}%",
                           ratio >= TARGET_RATIO))
        out.append("")

    before, after = results.pop("persons-before", None), results.pop("persons-after", None)
    if before and after:
        b, a = before["throughput"], after["throughput"]
        ratio = a / b if b else 0
        out.append("person index (openings naming refs, closed loop)")
        out.append(f"  {b:,.0f} events/s before seeding, {a:,.0f} events/s with the seeded index ({100 * ratio:.0f}%)")
        judged.append(("throughput with a seeded person index >= 90% of without", f"{100 * ratio:.0f}%", ratio >= 0.9))
        out.append("")

    lats = {k: v for k, v in results.items() if k.startswith("lat-") and v}
    if lats:
        out.append("fcrd latency, send to reply")
        for k in sorted(lats):
            out.append("  " + one_line(k, lats[k], side(d, k, "pgcpu"), side(d, k, "wal")))
            v = lats[k]
            if v["mode"] == "open":
                sched = v["schedule"]
                out.append(f"    sends late by over 1 ms: {sched['late_sends']}, worst {ms(sched['max_lag_us']):.2f} ms")
        opened = [v for k, v in lats.items() if v["mode"] == "open"]
        if opened:
            worst = max(ms(v["latency_us"]["p99"]) for v in opened)
            judged.append((f"p99 at 1,000 events/s over 4 connections <= {TARGET_OPEN_P99_MS:g} ms",
                           f"{worst:.2f} ms", worst <= TARGET_OPEN_P99_MS))
        lone = lats.get("lat-lone")
        if lone:
            p50 = ms(lone["latency_us"]["p50"])
            judged.append((f"lone event p50 <= {TARGET_LONE_P50_MS:g} ms", f"{p50:.2f} ms",
                           p50 <= TARGET_LONE_P50_MS))
        out.append("")

    rp = results.get("replay")
    if rp:
        out.append("Replay")
        out.append("  " + one_line("replay", rp, side(d, "replay", "pgcpu"), side(d, "replay", "wal")))
        rss = rp.get("rss_kb") or {}
        growth = rss_growth(rp)
        out.append(f"  {rp['replies']:,} events in {rp['elapsed_s']:.1f} s; fcrd resident memory start"
                   f" {rss.get('start', 0) / 1024:.1f} MiB, max {rss.get('max', 0) / 1024:.1f} MiB,"
                   f" end {rss.get('end', 0) / 1024:.1f} MiB"
                   + (f"; second-half growth {growth / 1024:+.2f} MiB per 100,000 events" if growth is not None
                      else ""))
        mix = rp.get("mix", {})
        out.append(f"  mix: {mix.get('opened', 0):,} opened ({mix.get('unconfirmed', 0):,} third-party),"
                   f" {mix.get('updated', 0):,} updated, {mix.get('closed', 0):,} closed")
        done = rp["completed"] and rp["status"]["accepted"] + rp["status"]["duplicate"] == rp["replies"]
        if rp["sent"] >= REPLAY_EVENTS:
            judged.append((f"replay of {rp['sent']:,} events < {TARGET_REPLAY_S:g} s", f"{rp['elapsed_s']:.1f} s",
                           done and rp["elapsed_s"] < TARGET_REPLAY_S))
        else:
            at_rate = REPLAY_EVENTS / rp["throughput"] if rp["throughput"] else float("inf")
            judged.append((f"replay of {REPLAY_EVENTS:,} events < {TARGET_REPLAY_S:g} s (extrapolated from"
                           f" {rp['sent']:,})", f"{at_rate:.0f} s", done and at_rate < TARGET_REPLAY_S))
        judged.append((f"fcrd resident memory <= {TARGET_RSS_MB:g} MB throughout",
                       f"{rss.get('max', 0) / 1024:.1f} MiB", rss.get("max", 0) / 1024 <= TARGET_RSS_MB * 1e6 / 2**20))
        out.append("")

    reads = {k: v for k, v in results.items() if k.startswith("read-") and v}
    if reads:
        out.append("Reads")
        try:
            with open(os.path.join(d, "seed.txt"), encoding="utf-8") as f:
                out += ["  " + line.strip() for line in f if line.strip().startswith("seeded")]
        except OSError:
            pass
        for k in sorted(reads):
            v = reads[k]
            size = v["bytes"]["received"] / v["replies"] if v["replies"] else 0
            out.append("  " + one_line(k, v, side(d, k, "pgcpu"))
                       + f"; {size / 1024:.1f} KiB per reply")
        worst = max(ms(v["latency_us"]["p99"]) for v in reads.values())
        judged.append((f"GET /v1/pending p99 <= {TARGET_READ_P99_MS:g} ms (worst of the variants)",
                       f"{worst:.2f} ms", worst <= TARGET_READ_P99_MS))
        out.append("")

    if judged:
        out.append("Targets (issue 6)")
        for what, got, ok in judged:
            out.append(f"  {verdict(ok):8} {what}: {got}")
        if "cpus: 2" in machine:
            out.append("  (judged on this run only; timings on a shared machine are noisy)")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
