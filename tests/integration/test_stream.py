#!/usr/bin/env python3
"""test_stream.py: GET /v1/stream, the server-sent events the supervisor's page listens to.
A queue item opened by the feed and an incident's update each arrive as an event within a
couple of seconds, from this instance's writes and from another instance's on the same
database (NOTIFY); heartbeats keep an idle stream talking; the number of streams is capped;
events carry ids, never names or narratives; a token is needed; a stop ends streams cleanly."""
import http.client
import json
import os
import queue
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))

import faultkit  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase, event, uid  # noqa: E402
from test_api import third_party_opened  # noqa: E402

EVENT_WAIT_S = 5  # the bound on an event's arrival; it normally takes milliseconds


class Stream:
    """One GET /v1/stream, read by a thread into a queue of ("event", name, data),
    ("comment", text) and finally ("end", "clean" | error text)."""

    def __init__(self, port, token, path="/v1/stream"):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.items = queue.Queue()
        self.raw = []  # every line received, to check what the events hold
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = json.loads(self.resp.read() or b"null")
            self.conn.close()

    def _read(self):
        name, data = None, []
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    self.items.put(("end", "clean"))
                    return
                line = line.decode("utf-8").rstrip("\n")
                self.raw.append(line)
                if line == "":
                    if name or data:
                        self.items.put(("event", name or "message", json.loads("\n".join(data))))
                    name, data = None, []
                elif line.startswith(":"):
                    self.items.put(("comment", line[1:].strip()))
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
        except Exception as e:  # noqa: BLE001 - reported to the test as the stream's end
            self.items.put(("end", f"{type(e).__name__}: {e}"))

    def wait_for(self, pred, timeout=EVENT_WAIT_S):
        """The first item satisfying pred within timeout (items before it are dropped), or None."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                item = self.items.get(timeout=left)
            except queue.Empty:
                return None
            if pred(item):
                return item
            if item[0] == "end":
                return None

    def wait_event(self, name, pred=lambda d: True, timeout=EVENT_WAIT_S):
        return self.wait_for(lambda it: it[0] == "event" and it[1] == name and pred(it[2]), timeout)

    def wait_events(self, wanted, timeout=EVENT_WAIT_S):
        """Wait for one event matching each (name, pred) of wanted, in whatever order they come.
        Returns the names of those that did not come."""
        left = list(wanted)
        deadline = time.monotonic() + timeout
        while left and time.monotonic() < deadline:
            try:
                item = self.items.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                break
            if item[0] == "end":
                break
            hit = [i for i, (n, p) in enumerate(left) if item[0] == "event" and n == item[1] and p(item[2])]
            if hit:
                del left[hit[0]]
        return [n for n, _ in left]

    def close(self):
        try:
            self.conn.sock and self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


def wait_until(pred, timeout=EVENT_WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


class StreamTest(DaemonTestCase):
    harness_config = {"api.stream_heartbeat_s": "1", "api.max_streams": "3"}

    def open(self, role="auditor", path="/v1/stream"):
        s = Stream(self.h.api_port, self.h.tokens[role] if role else None, path)
        self.addCleanup(s.close)
        if s.status == 200:
            self.assertIsNotNone(s.wait_event("hello"), "the stream starts with hello")
        return s

    def test_a_token_is_needed_and_the_role_that_reads_the_queue(self):
        self.assertEqual(self.open(None).status, 401)
        self.assertEqual(self.open("ops").status, 403)
        s = self.open("auditor")
        self.assertEqual(s.status, 200)
        self.assertEqual(s.resp.getheader("Content-Type"), "text/event-stream")
        self.assertEqual(s.resp.getheader("Cache-Control"), "no-store")

    def test_bad_query_names_the_parameter(self):
        for path, field in (("/v1/stream?incident_id=", "incident_id"), ("/v1/stream?incident_id=" + "x" * 65,
                            "incident_id"), ("/v1/stream?foo=1", "foo")):
            s = self.open("auditor", path)
            self.assertEqual(s.status, 400, path)
            self.assertEqual(s.body["error"]["code"], "bad_query")
            self.assertEqual(s.body["error"]["field"], field)

    def test_pending_and_incident_events_hold_ids_only(self):
        s = self.open()
        inc = uid("SSE")
        marker_name, marker_text = "Zebedee" + uid("N"), "Narrative-" + uid("M")
        reply = self.send_accepted(third_party_opened(inc, narrative=marker_text,
                                                      victim_extra={"name": marker_name}))[0]
        pid = reply["pending"][0]["id"]
        self.assertEqual(s.wait_events([("pending", lambda d: set(d) == {"ids"} and pid in d["ids"]),
                                         ("incident", lambda d: d == {"incident_id": inc})]), [],
                         "the opening: a pending event naming the item, an incident event naming the incident")
        # The item closes: the victim confirms.
        self.send_accepted(event(inc, 2, "incident.updated", "2026-03-02T11:00:00Z",
                                 persons=[{"id": "v1", "role": "victim", "confirms": True}]))
        self.assertEqual(s.wait_events([("incident", lambda d: d == {"incident_id": inc}),
                                         ("pending", lambda d: pid in d["ids"])]), [],
                         "the update that closes the item: both events")
        self.assertEqual(self.h.sql_value("SELECT status FROM pending_decisions WHERE id = %s", (pid,)), "closed")
        text = "\n".join(s.raw)
        for secret in (marker_name, marker_text, "witness", "assault"):
            self.assertNotIn(secret, text)

    def test_incident_filter(self):
        inc, other = uid("SSEF"), uid("SSEO")
        s = self.open("auditor", f"/v1/stream?incident_id={inc}")
        self.send_accepted(third_party_opened(other))
        self.send_accepted(third_party_opened(inc))
        got = s.wait_for(lambda it: it[0] == "event" and it[1] != "hello")
        self.assertEqual(got, ("event", "incident", {"incident_id": inc}), "only the incident asked for")

    def test_heartbeats(self):
        s = self.open()
        t0 = time.monotonic()
        self.assertIsNotNone(s.wait_for(lambda it: it == ("comment", "heartbeat"), 4))
        self.assertIsNotNone(s.wait_for(lambda it: it == ("comment", "heartbeat"), 4))
        self.assertLess(time.monotonic() - t0, 4, "two heartbeats a second apart")

    def test_the_number_of_streams_is_capped(self):
        streams = [self.open() for _ in range(3)]
        over = self.open()
        self.assertEqual(over.status, 503)
        self.assertEqual(over.body["error"]["code"], "too_many_streams")
        streams[0].close()

        def another():
            s = Stream(self.h.api_port, self.h.tokens["auditor"])
            self.addCleanup(s.close)
            return s.status == 200
        self.assertTrue(wait_until(another), "a closed stream frees its place")
        # The other streams still work.
        inc = uid("SSEC")
        self.send_accepted(third_party_opened(inc))
        self.assertIsNotNone(streams[1].wait_event("incident", lambda d: d["incident_id"] == inc))

    def test_a_lost_listening_connection_ends_streams_until_it_is_back(self):
        s = self.open()
        killed = self.h.sql_value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                  " WHERE usename = 'fcrd' AND query = 'LISTEN fcrd_changes'")
        self.assertEqual(killed, 1, "one listening session")
        self.assertEqual(s.wait_for(lambda it: it[0] == "end", 10), ("end", "clean"),
                         "the stream ends: what commits now would not be told")

        def back():
            t = Stream(self.h.api_port, self.h.tokens["auditor"])
            self.addCleanup(t.close)
            if t.status != 200:
                self.assertEqual((t.status, t.body["error"]["code"]), (503, "stream_unavailable"))
                return None
            return t
        deadline = time.monotonic() + 15
        t = None
        while t is None and time.monotonic() < deadline:
            t = back()
            if t is None:
                time.sleep(0.1)
        self.assertIsNotNone(t, "streams are served again once the connection is back")
        inc = uid("SSEL")
        self.send_accepted(third_party_opened(inc))
        self.assertEqual(t.wait_events([("incident", lambda d: d["incident_id"] == inc)]), [])

    def test_z_a_stop_ends_streams_cleanly(self):
        s = self.open()
        self.h.restart_fcrd()
        self.assertEqual(s.wait_for(lambda it: it[0] == "end", 10), ("end", "clean"))
        s2 = self.open()
        self.assertEqual(s2.status, 200, "a new stream after the restart")


class StreamTwoInstancesTest(faultkit.TwoInstancesCase):
    harness_config = {"api.stream_heartbeat_s": "5"}

    def test_another_instances_write_reaches_this_stream(self):
        s = Stream(self.h.api_port, self.h.tokens["auditor"])
        self.addCleanup(s.close)
        self.assertEqual(s.status, 200)
        self.assertIsNotNone(s.wait_event("hello"))
        inc = uid("SSE2")
        with self.peer.feed() as feed:
            reply = feed.request(third_party_opened(inc))
        self.assertStatus(reply, "accepted")
        pid = reply["pending"][0]["id"]
        self.assertEqual(s.wait_events([("pending", lambda d: pid in d["ids"]),
                                         ("incident", lambda d: d["incident_id"] == inc)]), [],
                         "the peer's pending item and incident")
        # A person's decision on the peer, too.
        status, body = self.peer.api.request("POST", f"/v1/pending/{pid}/decision",
                                             {"decision": "record", "rationale": "CCTV confirms the assault"},
                                             role="supervisor")
        self.assertEqual(status, 200, body)
        self.assertEqual(s.wait_events([("pending", lambda d: pid in d["ids"])]), [],
                         "the peer's decision closes the item")


if __name__ == "__main__":
    harness.main()
