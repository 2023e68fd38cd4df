#!/usr/bin/env python3
"""test_ops_tls.py: the feed over mutual TLS and the API over HTTPS, with certificates made at
test time: allowed clients accepted; no certificate, another CA's or an unlisted subject refused;
plain TCP refused; the unix socket stays plain. A reload re-reads the certificates and the
subject list for new connections, and a broken certificate changes nothing."""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness
from harness import DaemonTestCase, Harness, assault_opened, uid
from test_ops_support import (TlsFeedClient, client_context, feed_refused, https_get, make_ca, make_cert,
                              metric, parse_metrics, subject_rfc2253)


class TlsHarness(Harness):
    """The harness's readiness check and API client speak HTTPS here."""

    ca = None

    def _ready(self):
        try:
            status, _ = https_get(self.api_port, "/readyz", self.ca, timeout=5)
        except OSError:
            return False
        return status == 200


class TlsTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="fcrd-it-pki-")
        cls.addClassCleanup(shutil.rmtree, cls.pki, True)
        os.chmod(cls.pki, 0o755)
        make_ca(cls.pki, "ca", "Test Feed CA")
        make_ca(cls.pki, "other-ca", "Another CA")
        make_cert(cls.pki, "server", "fcrd-one", "ca", server=True)
        make_cert(cls.pki, "server2", "fcrd-two", "ca", server=True)
        make_cert(cls.pki, "room-a", "room-a", "ca")
        make_cert(cls.pki, "room-b", "room-b", "ca")
        make_cert(cls.pki, "rogue", "room-a", "other-ca")  # the right name, the wrong issuer
        cls.room_a = subject_rfc2253(cls.p("room-a.crt"))
        cls.room_b = subject_rfc2253(cls.p("room-b.crt"))
        cls.tls_config = {
            "feed.tls": "mutual",
            "api.tls": "on",
            "tls.cert": cls.p("server.crt"),
            "tls.key": cls.p("server.key"),
            "tls.client_ca": cls.p("ca.crt"),
            "tls.client_subjects": cls.room_a,
        }
        cls.h = TlsHarness(cls.__name__, config=cls.tls_config)
        cls.h.ca = cls.p("ca.crt")
        cls.addClassCleanup(cls.h.stop)
        cls.h.start()

    # -- helpers -----------------------------------------------------------------------------
    @classmethod
    def p(cls, name):
        return os.path.join(cls.pki, name)

    def ctx(self, client=None):
        if client is None:
            return client_context(self.p("ca.crt"))
        return client_context(self.p("ca.crt"), self.p(f"{client}.crt"), self.p(f"{client}.key"))

    def accepted_over_tls(self, client):
        ev = assault_opened(uid("TLS"))
        with TlsFeedClient(self.h.feed_port, self.ctx(client)) as feed:
            r = feed.request(ev)
            cn = feed.peer_subject_cn()
        self.assertStatus(r, "accepted")
        return cn

    def refused(self, client):
        ev = assault_opened(uid("TLS"))
        refused = feed_refused(self.h.feed_port, self.ctx(client), ev)
        if refused:
            self.assertIsNone(self.h.sql_value("SELECT event_id FROM raw_events WHERE event_id = %s",
                                               (ev["event_id"],)))
        return refused

    def metrics(self):
        status, body = https_get(self.h.api_port, "/metrics", self.p("ca.crt"), self.h.tokens["ops"])
        self.assertEqual(status, 200, body)
        return parse_metrics(body)[0]

    def reload_with(self, **over):
        with open(self.h.conf_path, "w", encoding="utf-8") as f:
            f.write(self.h.config_text(**over))
        log_from = len(self.h.log_text())
        self.h.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while not re.search(r"reload: (done|.*nothing was changed)", self.h.log_text()[log_from:]):
            self.assertLess(time.monotonic(), deadline, "no reload outcome in the log")
            time.sleep(0.05)
        return self.h.log_text()[log_from:]

    # -- tests ---------------------------------------------------------------------------------
    def test_listed_client_accepted(self):
        self.assertEqual(self.accepted_over_tls("room-a"), "fcrd-one")

    def test_refused_clients(self):
        before = metric(self.metrics(), "fcrd_feed_tls_failures_total")
        self.assertTrue(self.refused(None), "no client certificate")
        self.assertTrue(self.refused("room-b"), "a subject not listed")
        self.assertTrue(self.refused("rogue"), "a certificate from another CA")
        deadline = time.monotonic() + 10
        while metric(self.metrics(), "fcrd_feed_tls_failures_total") < before + 3:
            self.assertLess(time.monotonic(), deadline, "each refusal is counted")
            time.sleep(0.1)
        self.assertIn("client certificate refused", self.h.log_text(), "refusals are logged with a reason")

    def test_plain_tcp_gets_no_reply(self):
        with socket.create_connection(("127.0.0.1", self.h.feed_port), timeout=10) as s:
            s.sendall((harness.FeedClient.encode(assault_opened(uid("TLS")))))
            s.settimeout(10)
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except (socket.timeout, ConnectionError):
                pass
        self.assertNotIn(b'"status"', data, "no feed reply in the clear")

    def test_unix_socket_stays_plain(self):
        with self.h.feed(unix=True) as feed:
            self.assertStatus(feed.request(assault_opened(uid("TLS"))), "accepted")

    def test_api_over_https_only(self):
        status, body = https_get(self.h.api_port, "/readyz", self.p("ca.crt"))
        self.assertEqual(status, 200, body)
        samples = self.metrics()
        expiry = metric(samples, "fcrd_tls_certificate_expiry_seconds")
        self.assertTrue(expiry and time.time() + 20 * 86400 < expiry < time.time() + 40 * 86400, expiry)
        conn = http.client.HTTPConnection("127.0.0.1", self.h.api_port, timeout=10)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            try:
                conn.request("GET", "/readyz")
                conn.getresponse().read()
            finally:
                conn.close()

    def test_reload_rereads_certificates_and_subjects(self):
        try:
            log = self.reload_with(**{"tls.cert": self.p("server2.crt"), "tls.key": self.p("server2.key"),
                                      "tls.client_subjects": f"{self.room_b}; CN=nobody"})
            self.assertIn("reload: tls.cert:", log)
            self.assertIn("reload: tls.client_subjects:", log)
            self.assertRegex(log, r"reload: feed TLS: certificate CN=fcrd-two")
            self.assertEqual(self.accepted_over_tls("room-b"), "fcrd-two")
            self.assertTrue(self.refused("room-a"), "room-a is no longer listed")
            status, _ = https_get(self.h.api_port, "/readyz", self.p("ca.crt"))
            self.assertEqual(status, 200)

            # A key that does not match its certificate: nothing changes, and the log says why.
            log = self.reload_with(**{"tls.cert": self.p("server.crt"), "tls.key": self.p("server2.key"),
                                      "tls.client_subjects": self.room_a})
            self.assertRegex(log, r"reload: \[tls\] for the feed: private key .*server2\.key does not match "
                                  r"the certificate .*; nothing was changed")
            self.assertEqual(self.accepted_over_tls("room-b"), "fcrd-two")
            self.assertTrue(self.refused("room-a"))
        finally:
            log = self.reload_with()
        self.assertIn("reload: done", log)
        self.assertEqual(self.accepted_over_tls("room-a"), "fcrd-one")

    def test_check_validates_tls_files(self):
        conf = os.path.join(self.h.workdir, "broken-tls.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(self.h.config_text(**{"tls.client_ca": self.p("missing-ca.crt")}))
        r = subprocess.run([harness.FCRD_BIN, "--config", conf, "--check"], capture_output=True, text=True,
                           cwd=harness.SOURCE_ROOT, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("client CA file", r.stderr)
        self.assertIn("missing-ca.crt", r.stderr)


if __name__ == "__main__":
    harness.main()
