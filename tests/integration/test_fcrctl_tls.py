#!/usr/bin/env python3
"""test_fcrctl_tls.py: fcrctl against fcrd's API over HTTPS, with certificates made at test time:
the server's CA given with --ca (or $FCRD_CA) works; without it, or with another CA, the
certificate check fails and says why; a certificate that does not name the URL's host fails as
a host-name mismatch; --insecure connects to an unknown CA but warns. With [api] tls = mutual a
client without a certificate, with another CA's or with an unlisted subject is refused, and one
with a listed certificate (--cert/--key or $FCRD_CERT/$FCRD_KEY) gets its reply. A refused
connection is named as such."""
import http.client
import os
import re
import shutil
import signal
import socket
import tempfile
import time

import harness
from harness import Harness, free_port
from test_fcrctl import FCRCTL_BIN, FcrctlCase
from test_ops_support import client_context, make_ca, make_cert, subject_rfc2253

PKI = None
# fcrd listens on 127.0.0.1; "localhost" reaches it only where it resolves there first.
try:
    LOCALHOST_IS_V4 = socket.getaddrinfo("localhost", 1, type=socket.SOCK_STREAM)[0][4][0] == "127.0.0.1"
except OSError:
    LOCALHOST_IS_V4 = False


def p(name):
    return os.path.join(PKI, name)


def setUpModule():
    global PKI
    PKI = tempfile.mkdtemp(prefix="fcrd-it-fcrctl-pki-")
    os.chmod(PKI, 0o755)
    make_ca(PKI, "ca", "Test API CA")
    make_ca(PKI, "other-ca", "Another CA")
    make_cert(PKI, "server", "fcrd-api", "ca", server=True)  # localhost and 127.0.0.1
    make_cert(PKI, "desk-a", "desk-a", "ca")
    make_cert(PKI, "desk-b", "desk-b", "ca")
    make_cert(PKI, "rogue", "desk-a", "other-ca")  # the right name, the wrong issuer
    make_cert(PKI, "stranger", "fcrd-api", "other-ca", server=True)


def tearDownModule():
    shutil.rmtree(PKI, True)


class HttpsHarness(Harness):
    """The harness's readiness check speaks HTTPS, with a client certificate where one is set."""

    client = None  # (cert, key) for mutual TLS

    def _ready(self):
        ctx = client_context(p("ca.crt"), *(self.client or ()))
        conn = http.client.HTTPSConnection("127.0.0.1", self.api_port, timeout=5, context=ctx)
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()


class HttpsCase(FcrctlCase):
    api_tls = "on"
    client = None

    @classmethod
    def setUpClass(cls):
        if not os.access(FCRCTL_BIN, os.X_OK):
            raise RuntimeError(f"no fcrctl binary at {FCRCTL_BIN} (build first, or set FCRCTL_BIN)")
        cls.config = {
            "api.tls": cls.api_tls,
            "tls.cert": p("server.crt"),
            "tls.key": p("server.key"),
            "tls.api_client_ca": p("ca.crt"),
            "tls.api_client_subjects": subject_rfc2253(p("desk-a.crt")),
        }
        cls.h = HttpsHarness(cls.__name__, config=cls.config)
        cls.h.client = cls.client
        cls.addClassCleanup(cls.h.stop)
        cls.h.start()

    def url(self, host="127.0.0.1"):
        return f"https://{host}:{self.h.api_port}"

    def ctl(self, *args, env=None, host="127.0.0.1"):
        e = {"FCRD_CA": "", "FCRD_CERT": "", "FCRD_KEY": ""}  # empty: unset, whatever the caller's shell holds
        e.update(env or {})
        return self.fcrctl(*args, url=self.url(host), env=e)

    def assertWorks(self, r):
        rc, out, err = r
        self.assertEqual(rc, 0, err)
        self.assertIn('"items"', out)  # the --json page of GET /v1/pending

    def assertNoReply(self, r, *says):
        rc, out, err = r
        self.assertEqual(rc, 8, f"stdout: {out}\nstderr: {err}")
        self.assertEqual(out, "")
        for s in says:
            self.assertIn(s, err)


class FcrctlHttpsTest(HttpsCase):

    def test_ca_given_works(self):
        self.assertWorks(self.ctl("pending", "--json", "--ca", p("ca.crt")))
        if LOCALHOST_IS_V4:  # by name: checked against the certificate's DNS names, sent as SNI
            self.assertWorks(self.ctl("pending", "--json", "--ca", p("ca.crt"), host="localhost"))
        self.assertWorks(self.ctl("pending", "--json", env={"FCRD_CA": p("ca.crt")}))

    def test_unknown_ca_fails_verification(self):
        # The system store does not hold the test CA; nor does another CA's file.
        for extra in ((), ("--ca", p("other-ca.crt"))):
            with self.subTest(extra=extra):
                self.assertNoReply(self.ctl("pending", *extra), "certificate verify failed",
                                   "unable to get local issuer certificate", "--ca FILE")

    def test_insecure_works_and_warns(self):
        rc, out, err = self.ctl("pending", "--json", "--insecure")
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"warning: --insecure: .*not checked")
        rc, _, err = self.ctl("pending", "--json", "--ca", p("ca.crt"))
        self.assertEqual(rc, 0, err)
        self.assertNotIn("warning", err)

    def test_http_url_with_tls_options_is_usage_error(self):
        rc, _, err = self.fcrctl("pending", "--ca", p("ca.crt"), url=f"http://127.0.0.1:{self.h.api_port}")
        self.assertEqual(rc, 2)
        self.assertIn("https://", err)

    def test_refused_connection_named(self):
        self.assertNoReply(self.fcrctl("pending", "--ca", p("ca.crt"), url=f"https://127.0.0.1:{free_port()}"),
                           "connection refused")

    def reload_with(self, **over):
        with open(self.h.conf_path, "w", encoding="utf-8") as f:
            f.write(self.h.config_text(**{**self.config, **over}))
        log_from = len(self.h.log_text())
        self.h.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while not re.search(r"reload: (done|.*nothing was changed)", self.h.log_text()[log_from:]):
            self.assertLess(time.monotonic(), deadline, "no reload outcome in the log")
            time.sleep(0.05)
        return self.h.log_text()[log_from:]

    def test_reload_does_not_turn_on_mutual(self):
        # api.tls takes effect at a start only: a reload to "mutual" asks no client certificate.
        log = self.reload_with(**{"api.tls": "mutual"})
        try:
            self.assertIn("reload: api.tls: on -> mutual needs a restart", log)
            self.assertWorks(self.ctl("pending", "--json", "--ca", p("ca.crt")))
        finally:
            self.reload_with()

    def test_wrong_hostname_fails(self):
        # A certificate from the right CA that names another host only.
        pki = tempfile.mkdtemp(prefix="fcrd-it-fcrctl-elsewhere-")
        self.addCleanup(shutil.rmtree, pki, True)
        os.chmod(pki, 0o755)
        for f in ("ca.crt", "ca.key"):
            shutil.copy(p(f), pki)
        make_cert(pki, "elsewhere", "fcrd-elsewhere", "ca", server=True, names="DNS:fcrd.invalid")
        self.reload_with(**{"tls.cert": os.path.join(pki, "elsewhere.crt"),
                            "tls.key": os.path.join(pki, "elsewhere.key")})
        try:
            self.assertNoReply(self.ctl("pending", "--ca", p("ca.crt")), "hostname mismatch", "127.0.0.1")
            if LOCALHOST_IS_V4:
                self.assertNoReply(self.ctl("pending", "--ca", p("ca.crt"), host="localhost"), "hostname mismatch",
                                   "localhost")
        finally:
            self.reload_with()
        self.assertWorks(self.ctl("pending", "--json", "--ca", p("ca.crt")))


class FcrctlMutualTlsTest(HttpsCase):
    api_tls = "mutual"

    @classmethod
    def setUpClass(cls):
        cls.client = (p("desk-a.crt"), p("desk-a.key"))
        super().setUpClass()

    def test_listed_client_certificate_works(self):
        self.assertWorks(self.ctl("pending", "--json", "--ca", p("ca.crt"), "--cert", p("desk-a.crt"),
                                  "--key", p("desk-a.key")))
        self.assertWorks(self.ctl("pending", "--json", env={"FCRD_CA": p("ca.crt"), "FCRD_CERT": p("desk-a.crt"),
                                                            "FCRD_KEY": p("desk-a.key")}))

    def test_without_client_certificate_refused(self):
        self.assertNoReply(self.ctl("pending", "--ca", p("ca.crt")), "TLS failed", "--cert FILE and --key FILE")

    def test_other_clients_refused(self):
        for who in ("rogue", "desk-b"):
            with self.subTest(who=who):
                self.assertNoReply(self.ctl("pending", "--ca", p("ca.crt"), "--cert", p(f"{who}.crt"),
                                            "--key", p(f"{who}.key")), "TLS failed")

    def test_mismatched_key_is_usage_error(self):
        rc, _, err = self.ctl("pending", "--ca", p("ca.crt"), "--cert", p("desk-a.crt"), "--key", p("desk-b.key"))
        self.assertEqual(rc, 2)
        self.assertIn("does not match", err)


if __name__ == "__main__":
    harness.main()
