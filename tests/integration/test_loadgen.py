#!/usr/bin/env python3
"""test_loadgen.py: a short smoke run of fcr-loadgen against the real fcrd, in each of its modes.

Not a benchmark (timings on a shared machine say little): it checks that the load generator
drives the feed and the API correctly, that every generated event is one fcrd accepts, that the
figures it reports add up, and that what it reports as acknowledged is in the database.

FCRD_LOADGEN names the binary; by default it is tools/fcr-loadgen in the build folder that holds
FCRD_BIN (build/daemon/fcrd -> build/tools/fcr-loadgen).
"""
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import harness
from harness import DaemonTestCase

LOADGEN = os.environ.get("FCRD_LOADGEN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(harness.FCRD_BIN))), "tools", "fcr-loadgen")
RUN_TIMEOUT = 120


def loadgen(*args, check=True):
    """Run fcr-loadgen; returns (exit status, parsed JSON report or None, stderr)."""
    if not os.access(LOADGEN, os.X_OK):
        raise AssertionError(f"no fcr-loadgen at {LOADGEN} (build it, or set FCRD_LOADGEN)")
    r = subprocess.run([LOADGEN, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    if harness.SANITIZER_RE.search(r.stderr):
        raise AssertionError(f"fcr-loadgen {' '.join(args)}: sanitizer report:\n{r.stderr}")
    report = None
    lines = r.stdout.strip().splitlines()
    if lines and lines[-1].startswith("{"):
        report = json.loads(lines[-1])
    if check and r.returncode != 0:
        raise AssertionError(f"fcr-loadgen {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.returncode, report, r.stderr


class GeneratorTest(unittest.TestCase):
    """What --print produces, checked without the daemon's help."""

    def test_printed_events_are_well_formed_and_in_seq_order(self):
        r = subprocess.run([LOADGEN, "--print", "2000", "--prefix", "pr", "--updates", "1", "--close", "0.5",
                            "--unconfirmed", "0.3", "--links", "0.3"], capture_output=True, text=True,
                           timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        events = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(len(events), 2000)
        self.assertEqual(len({e["event_id"] for e in events}), 2000, "event ids are unique")
        last = {}
        types = collections.Counter()
        for e in events:
            types[e["type"]] += 1
            inc = e["incident_id"]
            self.assertTrue(inc.startswith("pr-"), inc)
            self.assertLessEqual(len(inc), 64)
            if e["type"] == "incident.opened":
                self.assertNotIn(inc, last, "an incident is opened once")
                self.assertEqual(e["seq"], 1)
                self.assertEqual(len(e["allegations"]), 1)
                for link in e.get("links", []):
                    types["linked"] += 1
                    self.assertIn(link["incident_id"], last, "a link names an incident opened before")
                    self.assertIn(link["relation"], ("same_report", "related"))
            else:
                self.assertIn(inc, last, "follow-ups come after the opening")
                self.assertEqual(e["seq"], last[inc] + 1)
            last[inc] = e["seq"]
        # roughly the mix asked for: one update per incident, half closed
        self.assertGreater(types["incident.updated"], types["incident.opened"] * 0.6)
        self.assertGreater(types["incident.closed"], types["incident.opened"] * 0.2)
        self.assertGreater(types["linked"], types["incident.opened"] * 0.2)
        self.assertLess(types["linked"], types["incident.opened"] * 0.4)

    def test_fixed_epoch_repeats_the_same_events(self):
        args = [LOADGEN, "--print", "50", "--prefix", "ep", "--epoch", "1780000000"]
        a = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT).stdout
        b = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT).stdout
        self.assertEqual(a, b)
        self.assertIn('"at":"2026-05-28T20:26:40Z"', a.splitlines()[0])

    def test_bad_options_are_usage_errors(self):
        for args in (["--closed", "0", "-n", "5", "tcp:127.0.0.1:1"], ["--updates", "9", "--print", "1"],
                     ["--closed", "5", "tcp:127.0.0.1:1"], ["--bogus"]):
            r = subprocess.run([LOADGEN, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stdout} {r.stderr}")


class LoadgenTest(DaemonTestCase):

    def feed_addr(self):
        return f"tcp:127.0.0.1:{self.h.feed_port}"

    def count(self, table, prefix):
        return self.h.sql_value(f"SELECT count(*) FROM {table} WHERE incident_id LIKE %s", (prefix + "-%",))

    def test_closed_loop_reports_what_was_committed(self):
        prefix = harness.uid("cl")
        _, rep, _ = loadgen("--json", "--closed", "40", "-c", "2", "-n", "400", "--prefix", prefix,
                            "--unconfirmed", "0.2", "--links", "0.2", "--pid", str(self.h.proc.pid), self.feed_addr())
        self.assertTrue(rep["completed"], rep)
        self.assertEqual(rep["sent"], 400)
        self.assertEqual(rep["replies"], 400)
        self.assertEqual(rep["status"]["accepted"], 400, rep.get("first_bad_reply"))
        self.assertEqual(rep["latency_us"]["count"], 400)
        lat = rep["latency_us"]
        self.assertLessEqual(lat["p50"], lat["p99"])
        self.assertLessEqual(lat["p99"], lat["max"])
        self.assertGreater(rep["throughput"], 0)
        mix = rep["mix"]
        self.assertEqual(mix["opened"] + mix["updated"] + mix["closed"], 400)
        # fcrd's memory was sampled
        self.assertGreater(rep["rss_kb"]["max"], 1000)
        self.assertGreaterEqual(rep["rss_kb"]["max"], rep["rss_kb"]["start"])
        self.assertGreater(rep["cpu_s"]["target"], 0)
        # every acknowledged event is in the database, and each confirmed opening recorded a crime
        self.assertEqual(self.count("raw_events", prefix), 400)
        self.assertEqual(self.count("incidents", prefix), mix["opened"])
        crimes = self.count("crimes", prefix)
        self.assertGreaterEqual(crimes, mix["opened"] - mix["unconfirmed"])
        self.assertLessEqual(crimes, mix["opened"])

    def test_bench_reference_writes_its_rows(self):
        """bench/ref-sql: its additions apply on sql/0001_schema.sql, and one pgbench transaction
        of its SQL writes each event's four rows. (A transaction naming a column its schema lacks
        fails whole, and the ref step of bench/run stops.)"""
        ref_sql = os.path.join(harness.SOURCE_ROOT, "bench", "ref-sql")
        pgbench = os.path.join(harness.pg_bindir(), "pgbench")
        if not os.access(pgbench, os.X_OK):
            pgbench = shutil.which("pgbench")
        self.assertTrue(pgbench, "no pgbench (Debian: postgresql-client)")
        db = harness.uid("ref").replace("-", "_").lower()
        admin = self.h.pg.connect()
        try:
            with admin.cursor() as cur:
                cur.execute(f"CREATE DATABASE {db}")
            conn = self.h.pg.connect(dbname=db)
            with conn, conn.cursor() as cur:
                with open(os.path.join(harness.SOURCE_ROOT, "sql", "0001_schema.sql"), encoding="utf-8") as f:
                    cur.execute(f.read())
                cur.execute(subprocess.run([ref_sql, "schema"], capture_output=True, text=True, check=True,
                                           timeout=RUN_TIMEOUT).stdout)
            with tempfile.NamedTemporaryFile("w", suffix=".sql", encoding="utf-8") as script:
                script.write(subprocess.run([ref_sql, "transaction", "3"], capture_output=True, text=True,
                                            check=True, timeout=RUN_TIMEOUT).stdout)
                script.flush()
                r = subprocess.run([pgbench, "-n", "-M", "prepared", "-h", "127.0.0.1", "-p", str(self.h.pg.port),
                                    "-U", "postgres", "-t", "1", "-D", 'state={"persons": []}', "-D", "body={}",
                                    "-D", 'reply={"status": "accepted"}', "-D", "entry={}", "-D", 'after={"crn": "x"}',
                                    "-f", script.name, db], capture_output=True, text=True, timeout=RUN_TIMEOUT)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with conn.cursor() as cur:
                cur.execute("SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM raw_events),"
                            " (SELECT count(*) FROM crimes WHERE first_contact IS NOT NULL),"
                            " (SELECT count(*) FROM audit)")
                self.assertEqual(cur.fetchone(), (3, 3, 3, 3))
            conn.close()
        finally:
            with admin.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            admin.close()

    def test_bench_summary_judges_against_the_best_reference(self):
        """bench/report.py on a real closed-loop report and two reference runs of set speeds: the
        ratio is judged against the faster of the reference's runs, whichever ran first."""
        prefix = harness.uid("br")
        _, rep, _ = loadgen("--json", "--closed", "20", "-n", "60", "--prefix", prefix, "--pid",
                            str(self.h.proc.pid), self.feed_addr())
        self.assertTrue(rep["completed"], rep)
        fcrd = rep["throughput"]
        report = os.path.join(harness.SOURCE_ROOT, "bench", "report.py")

        def summary(first, again):
            with tempfile.TemporaryDirectory() as d:
                with open(os.path.join(d, "tp-c1-w1000.json"), "w", encoding="utf-8") as f:
                    f.write(json.dumps(rep) + "\n")
                runs = [("ref-c2", first)] + ([("ref-again-c2", again)] if again else [])
                for name, eps in runs:  # pgbench's lines the summary reads; one event per transaction
                    with open(os.path.join(d, name + ".txt"), "w", encoding="utf-8") as f:
                        f.write(f"latency average = 10.0 ms\ntps = {eps:.6f} (without initial connection time)\n")
                    for ext, value in (("batch", 1), ("secs", 1)):
                        with open(os.path.join(d, f"{name}.{ext}"), "w", encoding="utf-8") as f:
                            f.write(f"{value}\n")
                r = subprocess.run([sys.executable, report, d], capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                return r.stdout

        row = "| throughput: sustained acknowledged events/s ≥ 80 % of the reference | "
        out = summary(fcrd * 2, fcrd * 4)  # the reference ran faster the second time
        self.assertIn(row + "best run 25 % (", out)
        self.assertTrue(any(line.startswith(row) and line.endswith("| no |") for line in out.splitlines()), out)
        self.assertIn("again after fcrd's throughput step, 2 client(s)", out)
        self.assertIn("the best reference before fcrd ran", out)
        out = summary(fcrd * 4, fcrd * 2)  # ... or the first time
        self.assertIn(row + "best run 25 % (", out)
        out = summary(fcrd, None)  # a run without the second reference
        self.assertIn(row + "best run 100 % (", out)
        self.assertTrue(any(line.startswith(row) and line.endswith("| yes |") for line in out.splitlines()), out)
        self.assertNotIn("again after", out)

    def test_bench_summary_judges_the_median_of_the_rounds(self):
        """bench/report.py on alternating rounds of fcrd and the reference: the median of the rounds'
        ratios is judged, one odd round does not decide; every target has its row, those no step
        measured say so, and the table is also written to targets.md with the machine and date."""
        prefix = harness.uid("bm")
        _, rep, _ = loadgen("--json", "--closed", "20", "-n", "60", "--prefix", prefix, "--pid",
                            str(self.h.proc.pid), self.feed_addr())
        self.assertTrue(rep["completed"], rep)
        report = os.path.join(harness.SOURCE_ROOT, "bench", "report.py")
        with tempfile.TemporaryDirectory() as d:
            def put(name, text):
                with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                    f.write(text + "\n")
            put("machine.txt", "date: 2026-12-07T14:00:00Z\ncpus: 2\nmodel name\t: Test CPU\nMemTotal: 1000 kB")
            put("scale.txt", "quick (test)")
            # fcrd 1,000/s each round; the reference 1,250 (80 %), 5,000 (20 %), 1,000 (100 %)
            for k, ref in ((1, 1250), (2, 5000), (3, 1000)):
                put(f"tp-round{k}.json", json.dumps(dict(rep, throughput=1000.0)))
                put(f"ref-round{k}-c2.txt", f"latency average = 10.0 ms\ntps = {ref:.6f} (without initial connection time)")
                put(f"ref-round{k}-c2.batch", "1")
                put(f"ref-round{k}-c2.secs", "1")
            put("lat-open100.json", json.dumps(dict(rep, mode="open", connections=1, poisson=False,
                                                    latency_us=dict(rep["latency_us"], p99=2500),
                                                    schedule={"max_lag_us": 0, "late_sends": 0})))
            r = subprocess.run([sys.executable, report, d], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = r.stdout.splitlines()
            row = [line for line in lines if line.startswith("| throughput: sustained")]
            self.assertEqual(len(row), 1, r.stdout)
            self.assertIn("median of 3 rounds 80 %", row[0])
            self.assertTrue(row[0].endswith("| yes |"), row[0])
            self.assertIn("| latency: 100 events/s, p99 ≤ 3 ms | 2.50 ms (1 connection(s)) | yes |", lines)
            self.assertIn("| large: fcrd ready after a restart ≤ 10 s | not measured | not measured |", lines)
            with open(os.path.join(d, "targets.md"), encoding="utf-8") as f:
                table = f.read()
            self.assertIn("date: 2026-12-07T14:00:00Z; machine: 2 CPUs (Test CPU), 1000 kB RAM; run: quick (test)",
                          table)
            self.assertEqual(table.count("\n| "), 19, table)  # the header and the 18 targets

    def test_bench_summary_judges_the_year_report_at_full_scale(self):
        """The year target is for a full-scale database: from scale 0.1 on, the report over all ten
        seeded years (a full-scale year's rows) is what the row judges, with the seeded scale's own
        year shown beside it; below 0.1 that span is smaller than such a year and only printed."""
        report = os.path.join(harness.SOURCE_ROOT, "bench", "report.py")
        row = "| large: self-audit report of a year ≤ 2 s | "

        def year_row(scale, year_ms, span_ms, span_failed=0):
            with tempfile.TemporaryDirectory() as d:
                def put(name, text):
                    with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                        f.write(text + "\n")
                put("large-seed.txt", f"seeded: 1 incidents\nscale {scale}: seeded in 5 s")
                for name, ms, bad in (("large-cdi-year", year_ms, 0), ("large-cdi-span", span_ms, span_failed)):
                    codes = ["200"] + (["503"] if bad else [])
                    put(name + ".json", json.dumps({"walk": {"count": 3, "failures": bad, "codes": codes,
                                                             "p50_ms": ms, "p99_ms": ms, "max_ms": ms + 10}}))
                r = subprocess.run([sys.executable, report, d], capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                rows = [line for line in r.stdout.splitlines() if line.startswith(row)]
                self.assertEqual(len(rows), 1, r.stdout)
                self.assertIn("all ten years seeded", r.stdout)
                return rows[0]

        got = year_row("0.1", 132, 2531)
        self.assertIn("a full-scale year's rows (all ten years seeded): median 2531 ms", got)
        self.assertIn("the seeded scale's own year: median 132 ms", got)
        self.assertTrue(got.endswith("| no |"), got)
        self.assertTrue(year_row("0.2", 132, 1900).endswith("| yes |"))
        got = year_row("0.1", 132, 1900, span_failed=1)  # a run cut off at the read timeout
        self.assertIn("(3 runs); 1 failed (HTTP 503)", got)
        self.assertTrue(got.endswith("| no |"), got)
        got = year_row("0.01", 30, 2531)  # ten years at 0.01: a tenth of a full-scale year
        self.assertNotIn("full-scale", got)
        self.assertTrue(got.endswith("| yes |"), got)

    def test_bench_incident_size_driver(self):
        """bench/incident_size.py: every update accepted and on file, one in flight, summary sane."""
        prefix = harness.uid("is")
        script = os.path.join(harness.SOURCE_ROOT, "bench", "incident_size.py")
        r = subprocess.run([sys.executable, script, "--incidents", "2", "--updates", "12", "--prefix", prefix,
                            self.feed_addr()], capture_output=True, text=True, timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertTrue(res["completed"], res)
        self.assertEqual(res["rounds"], 12)
        self.assertEqual(res["window"], 6)
        self.assertGreater(res["median_first_ms"], 0)
        self.assertGreater(res["ratio"], 0)
        self.assertEqual(self.count("raw_events", prefix), 2 * 13)
        self.assertEqual(self.h.sql_value("SELECT max(last_seq) FROM incidents WHERE incident_id LIKE %s",
                                          (prefix + "-%",)), 13)

    def test_bench_readers_driver(self):
        """bench/readers.py: supervisors on their schedule and the registrar's report, all answered;
        and the walk of a list of paths."""
        script = os.path.join(harness.SOURCE_ROOT, "bench", "readers.py")
        tokens = os.path.join(self.h.workdir, "tokens")
        r = subprocess.run([sys.executable, script, "--api", f"127.0.0.1:{self.h.api_port}", "--tokens", tokens,
                            "--secs", "1.5", "--period", "0.5"], capture_output=True, text=True, timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(res["supervisors"], 1)
        self.assertIn(res["pending"]["count"], (3, 4))  # at 0, 0.5, 1.0 s (and 1.5 s, rounding)
        self.assertEqual(res["pending"]["failures"], 0)
        self.assertGreaterEqual(res["report"]["count"], 1)
        self.assertEqual(res["report"]["failures"], 0, res)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("/v1/pending\n/v1/reports/cdi?from=2026-01-01&to=2027-01-01\n/v1/incidents/no-such\n")
        try:
            r = subprocess.run([sys.executable, script, "--api", f"127.0.0.1:{self.h.api_port}", "--tokens", tokens,
                                "--walk", f.name], capture_output=True, text=True, timeout=RUN_TIMEOUT)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # the unknown incident is a 404
        res = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(res["walk"]["count"], 3)
        self.assertEqual(res["walk"]["codes"], {"200": 2, "404": 1})

    def test_resending_the_same_run_is_all_duplicate(self):
        prefix = harness.uid("rs")
        args = ["--json", "--closed", "25", "-n", "150", "--prefix", prefix, "--epoch", "1780000000",
                self.feed_addr()]
        _, first, _ = loadgen(*args)
        self.assertEqual(first["status"]["accepted"], 150, first.get("first_bad_reply"))
        before = self.count("raw_events", prefix)
        _, again, _ = loadgen(*args)
        self.assertEqual(again["status"]["duplicate"], 150, again.get("first_bad_reply"))
        self.assertEqual(self.count("raw_events", prefix), before)

    def test_open_loop_offers_the_rate(self):
        prefix = harness.uid("op")
        _, rep, _ = loadgen("--json", "--open", "100", "-c", "2", "-d", "2", "--prefix", prefix, self.feed_addr())
        self.assertTrue(rep["completed"], rep)
        self.assertEqual(rep["status"]["accepted"], rep["sent"], rep.get("first_bad_reply"))
        # 100/s for 2 s, give or take the first and last tick
        self.assertGreaterEqual(rep["sent"], 190)
        self.assertLessEqual(rep["sent"], 202)
        self.assertEqual(rep["latency_us"]["count"], rep["sent"])
        self.assertEqual(rep["latency_from_send_us"]["count"], rep["sent"])
        self.assertLessEqual(rep["latency_from_send_us"]["p50"], rep["latency_us"]["p50"])
        self.assertEqual(self.count("raw_events", prefix), rep["sent"])

    def test_lone_events_one_at_a_time_over_unix_socket(self):
        prefix = harness.uid("lo")
        _, rep, _ = loadgen("--json", "--lone", "5", "-n", "20", "--prefix", prefix, f"unix:{self.h.feed_unix}")
        self.assertEqual(rep["status"]["accepted"], 20, rep.get("first_bad_reply"))
        # one in flight: at most one reply per gap plus its latency
        self.assertGreaterEqual(rep["elapsed_s"], 19 * 0.005)
        self.assertEqual(self.count("raw_events", prefix), 20)

    def test_rejections_make_the_run_fail(self):
        # The same ids with other times: fcrd refuses every event as a reused event_id.
        prefix = harness.uid("rj")
        args = ["--json", "--closed", "10", "-n", "30", "--prefix", prefix, self.feed_addr()]
        _, first, _ = loadgen(*args, "--epoch", "1780000000")
        self.assertEqual(first["status"]["accepted"], 30)
        status, again, _ = loadgen(*args, "--epoch", "1790000000", check=False)
        self.assertEqual(status, 1)
        self.assertTrue(again["completed"], again)
        self.assertEqual(again["status"]["rejected"], 30)
        self.assertEqual(again["error_codes"], {"event_id_conflict": 30})
        self.assertIn('"status":"rejected"', again["first_bad_reply"])

    def test_http_reads(self):
        env_token = self.h.tokens["auditor"]
        os.environ["FCR_LOADGEN_TOKEN"] = env_token
        try:
            _, rep, _ = loadgen("--json", "--http", "/v1/pending?limit=10", "-c", "2", "-n", "30",
                                f"127.0.0.1:{self.h.api_port}")
            self.assertEqual(rep["status"]["accepted"], 30, rep.get("first_bad_reply"))
            self.assertEqual(rep["latency_us"]["count"], 30)
            _, rep, _ = loadgen("--json", "--http", "/v1/pending", "--http-close", "-n", "5",
                                f"127.0.0.1:{self.h.api_port}")
            self.assertEqual(rep["status"]["accepted"], 5, rep.get("first_bad_reply"))
            # without a token every request is refused, and the run says so
            os.environ.pop("FCR_LOADGEN_TOKEN")
            status, rep, _ = loadgen("--json", "--http", "/v1/pending", "-n", "3", f"127.0.0.1:{self.h.api_port}",
                                     check=False)
            self.assertEqual(status, 1)
            self.assertEqual(rep["error_codes"].get("http_401"), 3, rep)
        finally:
            os.environ.pop("FCR_LOADGEN_TOKEN", None)

    def test_unreachable_daemon_fails_cleanly(self):
        status, rep, err = loadgen("--json", "--closed", "5", "-n", "5", f"tcp:127.0.0.1:{harness.free_port()}",
                                   check=False)
        self.assertEqual(status, 1)
        self.assertFalse(rep["completed"])
        self.assertIn("connection", rep["failure"])


if __name__ == "__main__":
    harness.main()
