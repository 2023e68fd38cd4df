#!/usr/bin/env python3
"""test_ops_promtool.py: the monitoring files against a live fcrd. `promtool check metrics` finds
nothing to complain about in /metrics after some traffic (TLS on, so that the certificate's gauge
is there too); the families on the page are those tests/monitoring/metric_names.py reads from the
source, which the checks of the alerts and the dashboard rely on; every metric the alerts and the
dashboard read is on the page, but for the documented future ones; and fcrd_db_read_only shows a
database that refuses writes, and clears once one commits.

promtool comes with Debian's prometheus package (scripts/lib.sh installs it for scripts/test);
without it the promtool tests fail and say so."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import harness
import yaml
from harness import DaemonTestCase, assault_opened, uid
from test_ops_support import get_metrics, make_ca, make_cert, metric, parse_metrics

sys.path.insert(0, os.path.join(harness.SOURCE_ROOT, "tests", "monitoring"))
import metric_names  # noqa: E402

MONITORING = os.path.join(harness.SOURCE_ROOT, "conf", "monitoring")
NO_PROMTOOL = ("promtool is not installed: install Debian's prometheus package "
               "(scripts/lib.sh lists it for scripts/test)")


def promtool_check_metrics(text):
    """(exit status, what promtool said) for `promtool check metrics` on the exposition text."""
    exe = shutil.which("promtool")
    if exe is None:
        raise AssertionError(NO_PROMTOOL)
    r = subprocess.run([exe, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


class MonitoringTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="fcrd-it-pki-")
        cls.addClassCleanup(shutil.rmtree, cls.pki, True)
        os.chmod(cls.pki, 0o755)
        make_ca(cls.pki, "ca", "Test Feed CA")
        make_cert(cls.pki, "server", "fcrd-one", "ca", server=True)
        # TLS on the feed's TCP listener only: the events go over the unix socket, which stays
        # plain, and the API stays plain HTTP for the harness.
        cls.harness_config = {
            "api.metrics_refresh_ms": "1000",
            "feed.tls": "on",
            "tls.cert": os.path.join(cls.pki, "server.crt"),
            "tls.key": os.path.join(cls.pki, "server.key"),
        }
        super().setUpClass()

    def scrape(self):
        status, _, body = get_metrics(self.h.api_port, self.h.tokens["ops"])
        self.assertEqual(status, 200, body)
        return body

    def wait_scrape(self, pred, timeout=30, what="the metrics never showed what was expected"):
        """The first page whose parsed samples satisfy pred, polled until the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.scrape()
            if pred(parse_metrics(body)[0]):
                return body
            if time.monotonic() > deadline:
                self.fail(what)
            time.sleep(0.2)

    def traffic(self):
        """Events of every kind but retry, a pending decision among them; then a page that shows
        the figures read from the database."""
        inc = uid("PT")
        opened = assault_opened(inc)
        with self.h.feed(unix=True) as feed:
            self.assertStatus(feed.request(opened), "accepted")
            self.assertStatus(feed.request(opened), "duplicate")
            self.assertStatus(feed.request("not json"), "rejected")
            self.assertStatus(feed.request(assault_opened(
                uid("PT"), reported_by="w1",
                persons=[{"id": "v1", "role": "victim", "confirms": None},
                         {"id": "w1", "role": "third_party"}, {"id": "s1", "role": "suspect"}])), "accepted")
        return self.wait_scrape(lambda s: (metric(s, "fcrd_pending_open") or 0) >= 1
                                and (metric(s, "fcrd_crimes_recorded", category="violence") or 0) >= 1,
                                what="the figures from the database never showed the traffic")

    def test_promtool_finds_nothing_to_lint(self):
        body = self.traffic()
        self.assertIn("fcrd_tls_certificate_expiry_seconds ", body)
        rc, said = promtool_check_metrics(body)
        self.assertEqual((rc, said), (0, ""), f"promtool check metrics:\n{said}")

    def test_promtool_notices_a_bad_page(self):
        # The same check on a page with a counter named like a gauge: a promtool that accepted
        # anything would make the test above worthless.
        bad = "# HELP fcrd_x_seconds x\n# TYPE fcrd_x_seconds counter\nfcrd_x_seconds 1\n"
        rc, said = promtool_check_metrics(bad)
        self.assertNotEqual(rc, 0)
        self.assertIn("_total", said)

    def test_families_are_those_the_source_declares(self):
        body = self.traffic()
        _, types = parse_metrics(body)
        declared = metric_names.exported()
        # Every family on the page, with its type: the checks of the alerts and the dashboard
        # must know them all. (A family may be declared and yet absent from this page, as the
        # certificate's gauge is without TLS, so the other direction is not required.)
        self.assertEqual({n: k for n, k in types.items() if declared.get(n) != k}, {},
                         "tests/monitoring/metric_names.py must read every family fcrd renders, with its "
                         "type, from daemon/service/metrics*.c")
        for name in ("fcrd_events_received_total", "fcrd_event_ack_seconds", "fcrd_db_up", "fcrd_db_read_only",
                     "fcrd_pending_overdue", "fcrd_tls_certificate_expiry_seconds"):
            self.assertIn(name, types)

    def test_monitoring_files_read_live_metrics(self):
        body = self.traffic()
        samples, types = parse_metrics(body)
        live = metric_names.series_names(types) | metric_names.PROMETHEUS
        future = metric_names.series_names({n: k for n, (k, _) in metric_names.FUTURE.items()})
        used = {}
        with open(os.path.join(MONITORING, "fcrd-alerts.yml"), encoding="utf-8") as f:
            for group in yaml.safe_load(f)["groups"]:
                for rule in group["rules"]:
                    for name in metric_names.expr_names(rule["expr"]):
                        used.setdefault(name, set()).add(f"alert {rule['alert']}")
        with open(os.path.join(MONITORING, "fcrd-dashboard.json"), encoding="utf-8") as f:
            dash = json.load(f)
        for panel in dash["panels"]:
            for t in panel.get("targets", []):
                for name in metric_names.expr_names(t["expr"]):
                    used.setdefault(name, set()).add(f"panel {panel['title']!r}")
        missing = {n: sorted(w) for n, w in used.items() if n not in live and n not in future}
        self.assertEqual(missing, {}, "read by the monitoring files but not on fcrd's page")

    def test_zz_read_only_database(self):
        h = self.h
        before = self.wait_scrape(lambda s: metric(s, "fcrd_db_read_only") == 0,
                                  what="fcrd_db_read_only is not 0 on a writable database")
        # A reload makes every session's next transaction read-only, as on a standby; the store
        # then answers retry. Which session sees it first is the server's business: poll.
        h.sql("ALTER SYSTEM SET default_transaction_read_only = on")
        try:
            h.sql("SELECT pg_reload_conf()")
            deadline = time.monotonic() + 60
            with h.feed(unix=True) as feed:
                while True:
                    r = feed.request(assault_opened(uid("RO")))
                    if r.get("status") == "retry":
                        break
                    self.assertLess(time.monotonic(), deadline, "the database never turned read-only")
                    time.sleep(0.2)
            self.assertStatus(r, "retry", "db_unavailable")
            body = self.wait_scrape(lambda s: metric(s, "fcrd_db_read_only") == 1,
                                    what="fcrd_db_read_only never showed the read-only database")
            self.assertGreater(metric(parse_metrics(body)[0], "fcrd_store_rollbacks_total"),
                               metric(parse_metrics(before)[0], "fcrd_store_rollbacks_total"))
            self.assertIn("cannot execute", h.log_text())
            # the page with a retry code and the gauge up passes promtool too
            rc, said = promtool_check_metrics(body)
            self.assertEqual((rc, said), (0, ""), f"promtool check metrics:\n{said}")
        finally:
            h.sql("ALTER SYSTEM RESET default_transaction_read_only")
            h.sql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 60
        with h.feed(unix=True) as feed:
            while feed.request(assault_opened(uid("RW"))).get("status") != "accepted":
                self.assertLess(time.monotonic(), deadline, "the database never took writes again")
                time.sleep(0.2)
        self.wait_scrape(lambda s: metric(s, "fcrd_db_read_only") == 0,
                         what="fcrd_db_read_only stayed 1 after a commit")


if __name__ == "__main__":
    harness.main()
