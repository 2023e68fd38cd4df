#!/usr/bin/env python3
"""test_ops_metrics.py: GET /metrics parsed as Prometheus text 0.0.4: who may read it, that the
counters move with the traffic that was sent, the figures read from the database, and what it
and /readyz say while the database is down."""
import threading
import time

import harness
from harness import DaemonTestCase, assault_opened, event, uid
from test_ops_support import get_metrics, metric, parse_metrics

CONTENT_TYPE = "text/plain; version=0.0.4"


class MetricsTest(DaemonTestCase):
    harness_config = {"api.metrics_refresh_ms": "1000"}

    def scrape(self, role="ops"):
        status, content_type, body = get_metrics(self.h.api_port, self.h.tokens[role])
        self.assertEqual(status, 200, body)
        self.assertTrue(content_type.startswith(CONTENT_TYPE), content_type)
        samples, types = parse_metrics(body)
        return samples, types

    def wait_metric(self, pred, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            samples, _ = self.scrape()
            if pred(samples):
                return samples
            if time.monotonic() > deadline:
                self.fail("the metrics never showed what was expected")
            time.sleep(0.2)

    def test_who_may_read(self):
        for role in ("ops", "auditor", "fcr"):
            self.scrape(role)
        before, _ = self.scrape()
        status, _ = self.h.api.get("/metrics")
        self.assertEqual(status, 401)
        status, _ = self.h.api.get("/v1/pending", token="not-a-known-token-at-all")
        self.assertEqual(status, 401)
        status, _ = self.h.api.get("/v1/pending", role="ops")
        self.assertEqual(status, 403, "ops may read the metrics and nothing else")
        after, _ = self.scrape()
        for reason, n in (("unauthorized", 2), ("forbidden", 1), ("too_many_failures", 0)):
            self.assertEqual((metric(after, "fcrd_api_auth_failures_total", reason=reason) or 0)
                             - (metric(before, "fcrd_api_auth_failures_total", reason=reason) or 0), n, reason)

    def test_families_and_types(self):
        _, types = self.scrape()
        want = {
            "fcrd_events_received_total": "counter", "fcrd_events_accepted_total": "counter",
            "fcrd_events_duplicate_total": "counter", "fcrd_events_rejected_total": "counter",
            "fcrd_events_retry_total": "counter", "fcrd_event_ack_seconds": "histogram",
            "fcrd_store_batch_size": "histogram", "fcrd_store_commit_seconds": "histogram",
            "fcrd_db_up": "gauge", "fcrd_db_reconnects_total": "counter", "fcrd_feed_connections": "gauge",
            "fcrd_feed_connections_accepted_total": "counter", "fcrd_store_backlog": "gauge",
            "fcrd_store_backlog_bytes": "gauge",
            "fcrd_build_info": "gauge", "fcrd_reloads_total": "counter",
            "fcrd_store_direct_batches_total": "counter", "fcrd_store_direct_misses_total": "counter",
            "fcrd_api_auth_failures_total": "counter",
        }
        for name, kind in want.items():
            self.assertEqual(types.get(name), kind, name)

    def test_counters_follow_the_traffic(self):
        before, _ = self.scrape()
        inc = uid("MX")
        opened = assault_opened(inc)
        with self.h.feed() as feed:
            self.assertStatus(feed.request(opened), "accepted")
            self.assertStatus(feed.request(event(inc, 2, "incident.updated", "2026-03-02T10:30:00Z",
                                                 narrative="Suspect gone.")), "accepted")
            self.assertStatus(feed.request(opened), "duplicate")
            bad = [feed.request('{"v":1}'), feed.request("not json")]
            for r in bad:
                self.assertStatus(r, "rejected")
            during, _ = self.scrape()
            self.assertGreaterEqual(metric(during, "fcrd_feed_connections"), 1)
        after, _ = self.scrape()

        def delta(name, **labels):
            return (metric(after, name, **labels) or 0) - (metric(before, name, **labels) or 0)

        self.assertEqual(delta("fcrd_events_received_total"), 5)
        self.assertEqual(delta("fcrd_events_accepted_total"), 2)
        self.assertEqual(delta("fcrd_events_duplicate_total"), 1)
        rejected = sum(v for (n, _), v in after.items() if n == "fcrd_events_rejected_total") - \
            sum(v for (n, _), v in before.items() if n == "fcrd_events_rejected_total")
        self.assertEqual(rejected, 2)
        codes = [r["error"]["code"] for r in bad]
        for code in set(codes):
            self.assertEqual(delta("fcrd_events_rejected_total", code=code), codes.count(code), code)
        self.assertEqual(delta("fcrd_event_ack_seconds_count"), 3, "the three lines the store decided")
        self.assertGreaterEqual(delta("fcrd_store_batch_size_count"), 2)
        self.assertGreaterEqual(delta("fcrd_store_batch_size_sum"), 2)
        self.assertGreaterEqual(delta("fcrd_store_commit_seconds_count"), 2)
        self.assertGreaterEqual(delta("fcrd_feed_connections_accepted_total"), 1)
        self.assertEqual(metric(after, "fcrd_db_up", connection="store"), 1)
        self.assertEqual(metric(after, "fcrd_db_up", connection="api"), 1)
        self.assertEqual(metric(after, "fcrd_draining"), 0)

    def test_figures_from_the_database(self):
        with self.h.feed() as feed:
            self.assertStatus(feed.request(assault_opened(uid("MX"))), "accepted")
            # a third party's report the victim has not confirmed: a pending decision
            inc = uid("MX")
            r = feed.request(assault_opened(
                inc, reported_by="w1",
                persons=[{"id": "v1", "role": "victim", "confirms": None},
                         {"id": "w1", "role": "third_party"}, {"id": "s1", "role": "suspect"}]))
            self.assertStatus(r, "accepted")

        def matches(samples):
            crimes = self.h.sql("SELECT offence, count(*) FROM crimes WHERE status = 'recorded' GROUP BY offence")
            total = sum(n for _, n in crimes)
            shown = sum(v for (n, _), v in samples.items() if n == "fcrd_crimes_recorded")
            pending = self.h.sql_value("SELECT count(*) FROM pending_decisions WHERE status = 'open'")
            overdue = self.h.sql_value("SELECT count(*) FROM pending_decisions WHERE status = 'open' "
                                       "AND due < now()")
            return (total >= 1 and shown == total and metric(samples, "fcrd_pending_open") == pending
                    and metric(samples, "fcrd_pending_overdue") == overdue)

        samples = self.wait_metric(matches)
        self.assertGreaterEqual(metric(samples, "fcrd_crimes_recorded", category="violence") or 0, 1)
        self.assertGreater(metric(samples, "fcrd_stats_timestamp_seconds"), time.time() - 60)

    # -- the recorded crimes' counts (sql/0027_crime_counts.sql) -------------------------------
    COUNTED = "SELECT offence, sum(n)::bigint FROM crime_counts GROUP BY offence HAVING sum(n) <> 0 ORDER BY 1"
    TABLE = "SELECT offence, count(*) FROM crimes WHERE status = 'recorded' GROUP BY offence ORDER BY 1"

    def assertCountsMatch(self, what):
        self.assertEqual(self.h.sql(self.COUNTED), self.h.sql(self.TABLE), what)

    def test_counts_follow_every_writer(self):
        """The counts behind fcrd_crimes_recorded follow crimes through fcrd's writes and a
        person's SQL alike, leave nothing for a rolled-back change, and keep their sum through
        folds running at once and beside an uncommitted change."""
        crns = []
        with self.h.feed() as feed:
            for _ in range(4):
                r = feed.request(assault_opened(uid("CC")))
                self.assertStatus(r, "accepted")
                crns += [c["crn"] for c in r["crimes"]]
        self.assertEqual(len(crns), 4)
        self.assertCountsMatch("after fcrd's writes")
        # a person's statements, with the triggers on: a cancellation, a change of offence, a
        # deletion, and one rolled back
        self.h.sql("UPDATE crimes SET status = 'cancelled' WHERE crn = %s", (crns[0],))
        self.h.sql("UPDATE crimes SET offence = '8N' WHERE crn = %s", (crns[1],))
        self.h.sql("DELETE FROM crimes WHERE crn = %s", (crns[2],))
        conn = self.h.connect(autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("UPDATE crimes SET status = 'cancelled' WHERE crn = %s", (crns[3],))
            conn.rollback()
        finally:
            conn.close()
        self.assertCountsMatch("after SQL statements")
        # two folds at once, and a change not yet committed while they run
        a, b, w = (self.h.connect(autocommit=False) for _ in range(3))
        try:
            with w.cursor() as cur:
                cur.execute("UPDATE crimes SET status = 'cancelled' WHERE crn = %s", (crns[3],))
            with a.cursor() as cur:
                cur.execute("SELECT crime_counts_fold()")
            done = threading.Event()

            def second_fold():
                with b.cursor() as cur:
                    cur.execute("SELECT crime_counts_fold()")
                b.commit()
                done.set()

            b_pid = b.get_backend_pid()  # asked before b is busy in its thread
            t = threading.Thread(target=second_fold)
            t.start()
            # b's DELETE must be waiting for the rows a deleted before a commits
            deadline = time.monotonic() + 10
            while self.h.sql_value("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                                   (b_pid,)) != "Lock":
                self.assertLess(time.monotonic(), deadline, "the second fold never waited for the first")
                time.sleep(0.05)
            a.commit()
            t.join(10)
            self.assertTrue(done.is_set(), "the second fold never finished")
            self.assertCountsMatch("after two folds, the change still open")
            w.commit()
            self.assertCountsMatch("after the change committed")
        finally:
            for c in (a, b, w):
                c.close()
        folded = self.h.sql_value("SELECT count(*) FROM crime_counts")
        self.h.sql("SELECT crime_counts_fold()")
        self.assertLessEqual(self.h.sql_value("SELECT count(*) FROM crime_counts"),
                             min(folded, len(self.h.sql(self.TABLE))), "a fold leaves a row per offence")
        self.assertCountsMatch("after one more fold")

        def shown(samples):
            return sum(v for (n, _), v in samples.items() if n == "fcrd_crimes_recorded")
        total = sum(n for _, n in self.h.sql(self.TABLE))
        self.wait_metric(lambda s: shown(s) == total)

    def test_fold_does_nothing_when_read_only(self):
        """In a read-only transaction (a standby, or a server set read-only) the fold writes
        nothing and does not fail, so the figures' refresh goes on there; elsewhere it folds the
        rows it sees. Two rows of a made-up offence, uncommitted, so that the daemon's own folds
        (every second here) cannot take them first."""
        mine = "SELECT count(*) FROM crime_counts WHERE offence = 'ZZ-test'"
        for read_only, left in ((True, 2), (False, 0)):
            conn = self.h.connect(user="fcrd", autocommit=False)
            try:
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO crime_counts (offence, n) VALUES ('ZZ-test', 1), ('ZZ-test', -1)")
                    if read_only:
                        cur.execute("SET TRANSACTION READ ONLY")
                    cur.execute("SELECT crime_counts_fold()")
                    cur.execute(mine)
                    self.assertEqual(cur.fetchone()[0], left, f"read only: {read_only}")
            finally:
                conn.rollback()
                conn.close()
        self.assertCountsMatch("after the folds, rolled back")

    def test_refresh_reads_no_crime(self):
        """The figures' refresh costs the same whatever crimes holds, because it never reads
        that table: with crimes locked against every reader, the figures go on being refreshed
        (every second here) and still count the crimes recorded."""
        with self.h.feed() as feed:
            self.assertStatus(feed.request(assault_opened(uid("CC"))), "accepted")
        total = sum(n for _, n in self.h.sql(self.TABLE))
        conn = self.h.connect(autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("LOCK TABLE crimes IN ACCESS EXCLUSIVE MODE")
            start, _ = self.scrape()
            t0 = metric(start, "fcrd_stats_timestamp_seconds") or 0
            samples = self.wait_metric(lambda s: (metric(s, "fcrd_stats_timestamp_seconds") or 0) >= t0 + 2,
                                       timeout=10)
        finally:
            conn.rollback()
            conn.close()
        self.assertEqual(sum(v for (n, _), v in samples.items() if n == "fcrd_crimes_recorded"), total)

    def test_zz_database_down(self):
        h = self.h
        h.pg_stop()
        try:
            samples = self.wait_metric(lambda s: metric(s, "fcrd_db_up", connection="store") == 0, timeout=30)
            self.assertEqual(metric(samples, "fcrd_db_up", connection="api"), 0)
            status, body = h.api.get("/readyz")
            self.assertEqual(status, 503)
            self.assertEqual(body, {"status": "not_ready"})
            with h.feed() as feed:
                self.assertStatus(feed.request(assault_opened(uid("MX"))), "retry", "db_unavailable")
            samples = self.wait_metric(lambda s: (metric(s, "fcrd_events_retry_total", code="db_unavailable")
                                                  or 0) >= 1)
            failures = metric(samples, "fcrd_stats_failures_total")
            self.wait_metric(lambda s: metric(s, "fcrd_stats_failures_total") > failures, timeout=10)
        finally:
            h.pg_start()
        samples = self.wait_metric(lambda s: metric(s, "fcrd_db_up", connection="store") == 1
                                   and metric(s, "fcrd_db_up", connection="api") == 1, timeout=90)
        self.assertGreaterEqual(metric(samples, "fcrd_db_reconnects_total", connection="store"), 1)
        deadline = time.monotonic() + 30
        while h.api.get("/readyz")[0] != 200:
            self.assertLess(time.monotonic(), deadline, "ready again once the database is back")
            time.sleep(0.2)


if __name__ == "__main__":
    harness.main()
