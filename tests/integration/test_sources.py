#!/usr/bin/env python3
"""test_sources.py: feed sources ([sources]) and the limits on hostile connections.

With sources configured (mutual TLS on TCP, the unix socket for uid 0): a Unix socket peer is
its user's source and the source is stored with its events and incidents; an incident opened by
one room's certificate is refused to another room's (rejected wrong_source, nothing changed, the
owner's next event accepted), and so is another room's resend of its event id; two certificates
of one room feed one incident; a certificate no entry names, and a Unix peer whose user no entry
names, are closed before any line is read and logged rate-limited (many attempts, few lines, each
counting the others). A connection with no complete line in time is closed while an active one
goes on; a source over max_connections_per_source is refused; unidentified connections (TLS
handshakes) cannot take the reserved places, which identified sources still get; accepted TCP
connections have keepalive on.

Without sources every connection is 'default' (said once at start); an incident written then
belongs to no source, and the first named source to write to it after sources are configured
takes it.

Two fcrd instances on one database, two rooms opening the same incidents at the same moment, one
through each instance: each incident is accepted from exactly one room, the other is told
wrong_source, and the stored events and the incident all name that one room."""
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))

import faultkit  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase, Harness, assault_opened, event, uid  # noqa: E402
from test_ops_support import (TlsFeedClient, client_context, https_get, make_ca, make_cert, metric,
                              parse_metrics, subject_rfc2253)  # noqa: E402

REFUSED_UNKNOWN = "refused: no [sources] entry names it"


def wait_for(pred, what, timeout=20.0):
    """Polls pred until it returns something true (returned), or fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def closed_at_once(sock, wait=5.0):
    """True when fcrd closes sock (EOF or reset) within `wait` seconds without a byte."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except (ConnectionError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


def still_open(sock, wait=0.3):
    sock.settimeout(wait)
    try:
        return sock.recv(1) != b""
    except socket.timeout:
        return True
    except (ConnectionError, ssl.SSLError):
        return False


class TlsHarness(Harness):
    """Readiness and metrics over HTTPS."""

    ca = None

    def _ready(self):
        try:
            status, _ = https_get(self.api_port, "/readyz", self.ca, timeout=5)
        except OSError:
            return False
        return status == 200


class ReloadMixin:

    def reload_with(self, **over):
        with open(self.h.conf_path, "w", encoding="utf-8") as f:
            f.write(self.h.config_text(**over))
        log_from = len(self.h.log_text())
        self.h.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: re.search(r"reload: (done|.*nothing was changed)", self.h.log_text()[log_from:]),
                 "the reload's outcome in the log")
        text = self.h.log_text()[log_from:]
        self.assertIn("reload: done", text)
        return text


class SourcesTest(ReloadMixin, DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="fcrd-it-sources-")
        cls.addClassCleanup(shutil.rmtree, cls.pki, True)
        os.chmod(cls.pki, 0o755)
        make_ca(cls.pki, "ca", "Sources Test CA")
        make_cert(cls.pki, "server", "fcrd-sources", "ca", server=True)
        for name in ("room-a", "room-a2", "room-b", "stranger"):
            make_cert(cls.pki, name, name, "ca")
        cls.subject = {n: subject_rfc2253(cls.p(f"{n}.crt")) for n in ("room-a", "room-a2", "room-b", "stranger")}
        cls.config = {
            "feed.tls": "mutual",
            "api.tls": "on",
            "tls.cert": cls.p("server.crt"),
            "tls.key": cls.p("server.key"),
            "tls.client_ca": cls.p("ca.crt"),
            "tls.client_subjects": "*",  # [sources] names the rooms
            # the subjects' own commas stay inside them
            "sources.room-a": f"subject:{cls.subject['room-a']}, subject:{cls.subject['room-a2']}",
            "sources.room-b": f"subject:{cls.subject['room-b']}",
            "sources.local": "uid:0",
            "feed.max_connections": "8",
            "feed.max_connections_per_source": "3",
            "feed.reserved_connections": "4",
            "log.refusal_interval_s": "2",
        }
        cls.h = TlsHarness(cls.__name__, config=cls.config)
        cls.h.ca = cls.p("ca.crt")
        cls.addClassCleanup(cls.h.stop)
        cls.h.start()

    @classmethod
    def p(cls, name):
        return os.path.join(cls.pki, name)

    def tls(self, client):
        ctx = client_context(self.p("ca.crt"), self.p(f"{client}.crt"), self.p(f"{client}.key"))
        return TlsFeedClient(self.h.feed_port, ctx)

    def open_connections(self):
        status, body = https_get(self.h.api_port, "/metrics", self.p("ca.crt"), self.h.tokens["ops"])
        self.assertEqual(status, 200, body)
        return metric(parse_metrics(body)[0], "fcrd_feed_connections")

    def settle(self):
        """Waits until the connections of earlier tests are gone from fcrd too."""
        wait_for(lambda: self.open_connections() == 0, "fcrd to close the earlier connections")

    def incident_row(self, incident_id):
        rows = self.h.sql("SELECT last_seq, state::text, source FROM incidents WHERE incident_id = %s",
                          (incident_id,))
        return rows[0] if rows else None

    # -- where events come from ------------------------------------------------------------
    def test_unix_peer_is_its_users_source(self):
        inc = uid("SRC-U")
        ev = assault_opened(inc)
        with self.h.feed(unix=True) as feed:
            self.assertStatus(feed.request(ev), "accepted")
        self.assertEqual(self.h.sql_value("SELECT source FROM raw_events WHERE event_id = %s", (ev["event_id"],)),
                         "local")
        self.assertEqual(self.incident_row(inc)[2], "local")

    def test_another_rooms_event_is_rejected_and_changes_nothing(self):
        inc = uid("SRC-AB")
        opening = assault_opened(inc)
        with self.tls("room-a") as a:
            self.assertStatus(a.request(opening), "accepted")
        before = self.incident_row(inc)
        self.assertEqual(before[2], "room-a")
        intruder = event(inc, 2, "incident.updated", at="2026-03-02T10:05:00Z", narrative="not theirs")
        with self.tls("room-b") as b:
            r = b.request(intruder)
            self.assertStatus(r, "rejected", "wrong_source")
            self.assertEqual(r["error"].get("field"), "incident_id")
            self.assertSchema("feed-reply", r, "wrong_source reply")
            # the owner's event id, resent by another room: refused, its reply not repeated
            r = b.request(opening)
            self.assertStatus(r, "rejected", "wrong_source")
            self.assertEqual(r["error"].get("field"), "event_id")
            self.assertNotIn("crimes", r)
            # a closing too, and the connection goes on
            r = b.request(event(inc, 3, "incident.closed", at="2026-03-02T10:06:00Z", closing_category="crime"))
            self.assertStatus(r, "rejected", "wrong_source")
            self.assertStatus(b.request(assault_opened(uid("SRC-B"))), "accepted")
        self.assertEqual(self.incident_row(inc), before, "the incident is unchanged")
        self.assertIsNone(self.h.sql_value("SELECT 1 FROM raw_events WHERE event_id = %s", (intruder["event_id"],)))
        with self.tls("room-a") as a:
            self.assertStatus(a.request(event(inc, 2, "incident.updated", at="2026-03-02T10:05:00Z")), "accepted")
        self.assertEqual(self.incident_row(inc)[0], 2)

    def test_two_certificates_of_one_room_feed_one_incident(self):
        inc = uid("SRC-AA")
        with self.tls("room-a") as a1, self.tls("room-a2") as a2:
            self.assertStatus(a1.request(assault_opened(inc)), "accepted")
            self.assertStatus(a2.request(event(inc, 2, "incident.updated", at="2026-03-02T10:05:00Z")), "accepted")
            self.assertStatus(a1.request(event(inc, 3, "incident.updated", at="2026-03-02T10:06:00Z")), "accepted")
        self.assertEqual(self.incident_row(inc)[0], 3)
        self.assertEqual(self.incident_row(inc)[2], "room-a")
        self.assertEqual(self.h.sql("SELECT DISTINCT source FROM raw_events WHERE incident_id = %s", (inc,)),
                         [("room-a",)])

    # -- who is refused --------------------------------------------------------------------
    def test_unnamed_certificate_refused_before_any_line(self):
        log_from = len(self.h.log_text())
        ev = assault_opened(uid("SRC-X"))
        try:
            with self.tls("stranger") as s:
                s.send(ev)
                with self.assertRaises((ConnectionError, ssl.SSLError, OSError)):
                    s.read_line(timeout=10)
        except (ssl.SSLError, ConnectionError):
            pass  # refused during the handshake's last flight: as good
        self.assertIsNone(self.h.sql_value("SELECT 1 FROM raw_events WHERE event_id = %s", (ev["event_id"],)))
        wait_for(lambda: REFUSED_UNKNOWN in self.h.log_text()[log_from:], "the refusal in the log")
        self.assertIn(f"subject {self.subject['stranger']}", self.h.log_text()[log_from:])

    def test_unnamed_unix_user_refused_and_logged_rate_limited(self):
        self.reload_with(**{"sources.local": "uid:4242"})
        try:
            log_from = len(self.h.log_text())
            started = time.monotonic()
            for _ in range(40):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.h.feed_unix)
                try:
                    s.sendall(b'{"v":1}\n')
                except (BrokenPipeError, ConnectionError):
                    pass  # closed already
                self.assertTrue(closed_at_once(s), "an unnamed peer is closed at once")
                s.close()
            took = time.monotonic() - started
            lines = [ln for ln in self.h.log_text()[log_from:].splitlines() if REFUSED_UNKNOWN in ln]
            # one line per 2 s interval at most (an earlier refusal may have started the interval)
            self.assertLessEqual(len(lines), 1 + int(took / 2), "\n".join(lines))

            # a line comes once the interval is over, counting those left out
            def counted():
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.h.feed_unix)
                closed_at_once(s)
                s.close()
                return re.search(r"from unix uid 0 pid \d+ refused: no \[sources\] entry names it "
                                 r"\((\d+) more since the last such line\)", self.h.log_text()[log_from:])
            m = wait_for(counted, "a refusal line counting those not logged")
            self.assertGreaterEqual(int(m.group(1)), 1)
        finally:
            self.reload_with()
        with self.h.feed(unix=True) as feed:
            self.assertStatus(feed.request(assault_opened(uid("SRC-U2"))), "accepted")

    # -- connections that hold places ------------------------------------------------------
    def test_silent_connection_closed_active_one_goes_on(self):
        self.reload_with(**{"feed.first_line_timeout_s": "1"})
        try:
            log_from = len(self.h.log_text())
            inc = uid("SRC-IDLE")
            with self.h.feed(unix=True) as active, self.h.feed(unix=True) as silent:
                self.assertStatus(active.request(assault_opened(inc)), "accepted")
                self.assertTrue(closed_at_once(silent.sock, wait=15), "the silent connection is closed")
                # the active one has outlived the deadline and still works
                self.assertStatus(active.request(event(inc, 2, "incident.updated", at="2026-03-02T10:05:00Z")),
                                  "accepted")
            self.assertRegex(self.h.log_text()[log_from:], r"closed: no complete line within 1 s of opening")
        finally:
            self.reload_with()

    def test_per_source_cap(self):
        self.settle()
        log_from = len(self.h.log_text())
        held = [self.h.feed(unix=True) for _ in range(3)]
        try:
            for c in held:
                self.assertStatus(c.request(assault_opened(uid("SRC-CAP"))), "accepted")
            extra = self.h.feed(unix=True)
            self.assertTrue(closed_at_once(extra.sock), "a fourth connection of one source is refused")
            extra.close()
            self.assertIn("source local holds 3 connections already", self.h.log_text()[log_from:])
            # another source is not affected
            with self.tls("room-b") as b:
                self.assertStatus(b.request(assault_opened(uid("SRC-CAP-B"))), "accepted")
        finally:
            for c in held:
                c.close()
        self.settle()
        with self.h.feed(unix=True) as again:
            self.assertStatus(again.request(assault_opened(uid("SRC-CAP"))), "accepted")

    def test_unidentified_cannot_take_reserved_places(self):
        """max_connections 8, reserved 4: at most 4 unidentified (handshakes never finished)."""
        self.settle()
        log_from = len(self.h.log_text())
        loiterers = []
        try:
            for _ in range(4):
                s = socket.create_connection(("127.0.0.1", self.h.feed_port), timeout=5)
                loiterers.append(s)
            wait_for(lambda: self.open_connections() == 4, "four unidentified connections held")
            for s in loiterers:
                self.assertTrue(still_open(s), "within the unreserved places")
            fifth = socket.create_connection(("127.0.0.1", self.h.feed_port), timeout=5)
            self.assertTrue(closed_at_once(fifth), "a fifth unidentified connection is refused")
            fifth.close()
            self.assertIn("4 of them unidentified", self.h.log_text()[log_from:])
            # the reserved places are there for identified sources
            with self.h.feed(unix=True) as u, self.h.feed(unix=True) as u2:
                self.assertStatus(u.request(assault_opened(uid("SRC-RES"))), "accepted")
                self.assertStatus(u2.request(assault_opened(uid("SRC-RES"))), "accepted")
        finally:
            for s in loiterers:
                s.close()

    def test_tcp_keepalive_on(self):
        with self.tls("room-a") as a:
            self.assertStatus(a.request(assault_opened(uid("SRC-KA"))), "accepted")
            def keepalive_timer():
                out = subprocess.run(["ss", "-tnoH", "state", "established", f"( sport = :{self.h.feed_port} )"],
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    self.skipTest(f"ss failed: {out.stderr}")
                # once the reply is acknowledged, the timer the kernel runs is keepalive's
                return re.search(r"timer:\(keepalive,", out.stdout)
            wait_for(keepalive_timer, "a keepalive timer on fcrd's side of the connection", timeout=10)


class NoSourcesTest(ReloadMixin, DaemonTestCase):
    """No [sources]: today's behaviour, and what configuring sources later does to old incidents."""

    def test_default_source_then_adoption_by_the_first_named_source(self):
        self.assertIn("[sources] is not configured: every feed connection is source 'default'", self.h.log_text())
        inc = uid("SRC-D")
        ev = assault_opened(inc)
        self.send_accepted(ev)
        self.assertEqual(self.h.sql_value("SELECT source FROM raw_events WHERE event_id = %s", (ev["event_id"],)),
                         "default")
        self.assertIsNone(self.h.sql_value("SELECT source FROM incidents WHERE incident_id = %s", (inc,)),
                          "'default' takes no incident")
        self.reload_with(**{"sources.tools": "loopback", "sources.local": "uid:0"})
        try:
            with self.h.feed() as tools:  # loopback TCP: source tools
                self.assertStatus(tools.request(event(inc, 2, "incident.updated", at="2026-03-02T10:05:00Z")),
                                  "accepted")
            self.assertEqual(self.h.sql_value("SELECT source FROM incidents WHERE incident_id = %s", (inc,)),
                             "tools", "the first named source to write takes the incident")
            with self.h.feed(unix=True) as local:
                r = local.request(event(inc, 3, "incident.updated", at="2026-03-02T10:06:00Z"))
                self.assertStatus(r, "rejected", "wrong_source")
                # a resend of an event of the incident is the owner's business too
                self.assertStatus(local.request(ev), "rejected", "wrong_source")
            with self.h.feed() as tools:
                # the event stored as 'default', resent by the owner: an ordinary duplicate
                self.assertStatus(tools.request(ev), "duplicate")
        finally:
            self.reload_with(**{"sources.tools": None, "sources.local": None})
        # without sources again: 'default' may not write to a named source's incident
        with self.h.feed() as plain:
            r = plain.request(event(inc, 3, "incident.updated", at="2026-03-02T10:06:00Z"))
            self.assertStatus(r, "rejected", "wrong_source")


class TwoInstancesSourcesTest(faultkit.TwoInstancesCase):
    """The owner is read under the incident's row lock, so two instances agree on it."""

    harness_config = {"sources.room-x": "loopback", "sources.room-y": "uid:0"}

    def test_two_rooms_race_for_the_same_incidents_on_two_instances(self):
        incidents = [uid("SRC-RACE") for _ in range(60)]
        replies = {}

        def room(name, address):
            feed = harness.FeedClient(address)
            try:
                feed.send_many([assault_opened(inc) for inc in incidents])
                replies[name] = feed.read_replies(len(incidents), timeout=60)
            finally:
                feed.close()

        links = [threading.Thread(target=room, args=("room-x", f"tcp:127.0.0.1:{self.h.feed_port}")),
                 threading.Thread(target=room, args=("room-y", f"unix:{self.peer.feed_unix}"))]
        for t in links:
            t.start()
        for t in links:
            t.join(90)
        self.assertEqual(sorted(replies), ["room-x", "room-y"], "both rooms got every reply")
        owners = dict(self.h.sql("SELECT incident_id, source FROM incidents WHERE incident_id = ANY (%s)",
                                 (incidents,)))
        stored = dict(self.h.sql("SELECT incident_id, string_agg(DISTINCT source, ',') FROM raw_events"
                                 " WHERE incident_id = ANY (%s) GROUP BY incident_id", (incidents,)))
        for i, inc in enumerate(incidents):
            x, y = replies["room-x"][i], replies["room-y"][i]
            outcome = sorted([(x["status"], (x.get("error") or {}).get("code")),
                              (y["status"], (y.get("error") or {}).get("code"))])
            self.assertEqual(outcome, [("accepted", None), ("rejected", "wrong_source")], f"{inc}: {x} {y}")
            winner = "room-x" if x["status"] == "accepted" else "room-y"
            self.assertEqual(owners.get(inc), winner, inc)
            self.assertEqual(stored.get(inc), winner, inc)


if __name__ == "__main__":
    harness.main()
