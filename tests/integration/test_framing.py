#!/usr/bin/env python3
"""test_framing.py: the feed's line protocol. Bad lines cost nothing but themselves, replies
come one per line in order, and pipelining and several connections work. A seq far above an
incident's last (2^53) is rejected seq_gap and the incident takes its genuine next event."""
import json
import threading

import harness
from harness import DaemonTestCase, assault_opened, event, uid

MAX_LINE = 65536  # the default limit; the harness config leaves it alone


class FramingTest(DaemonTestCase):

    def assertNotStored(self, event_id):
        self.assertIsNone(self.h.sql_value("SELECT 1 FROM raw_events WHERE event_id = %s", (event_id,)),
                          f"{event_id} must not be written")

    def assertField(self, reply, field):
        err = reply.get("error") or {}
        got = err.get("field") or ""
        self.assertTrue(got == field or got.startswith(field + ".") or got.startswith(field + "["),
                        f"error must name {field}: {json.dumps(reply)}")

    def test_malformed_lines_then_good_event_on_same_connection(self):
        inc = uid("BAD")
        good = assault_opened(inc)
        missing = {k: v for k, v in assault_opened(uid("BAD")).items() if k != "incident_id"}
        wrong_seq = assault_opened(uid("BAD"), seq="1")
        wrong_persons = assault_opened(uid("BAD"), persons={"id": "v1"})
        wrong_type = event(uid("BAD"), 1, "incident.reopened")
        bad_time = assault_opened(uid("BAD"), at="yesterday at ten")
        version = dict(assault_opened(uid("BAD")), v=2)
        unknown_person = assault_opened(uid("BAD"), reported_by="p9")
        bad_ref = assault_opened(uid("BAD"))
        bad_ref["allegations"][0]["victim"] = "nobody"
        cases = [  # (line, status, code or None, field or None, echoed event_id or None)
            ('{"v":1, "event_id": "x",', "rejected", "bad_json", None, None),
            ("this is not json", "rejected", "bad_json", None, None),
            ("[1, 2, 3]", "rejected", None, None, None),
            (missing, "rejected", None, "incident_id", missing["event_id"]),
            (wrong_seq, "rejected", "bad_field", "seq", wrong_seq["event_id"]),
            (wrong_persons, "rejected", "bad_field", "persons", wrong_persons["event_id"]),
            (wrong_type, "rejected", "bad_field", "type", wrong_type["event_id"]),
            (bad_time, "rejected", "bad_field", "at", bad_time["event_id"]),
            (version, "rejected", "unsupported_version", None, version["event_id"]),
            (unknown_person, "rejected", "unknown_person", "reported_by", unknown_person["event_id"]),
            (bad_ref, "rejected", "unknown_person", "allegations[0].victim", bad_ref["event_id"]),
        ]
        with self.h.feed() as feed:
            feed.send_many([c[0] for c in cases] + [good])
            replies = feed.read_replies(len(cases) + 1)
        for (line, status, code, field, event_id), r in zip(cases, replies):
            with self.subTest(line=str(line)[:60]):
                self.assertStatus(r, status, code)
                err = r.get("error") or {}
                self.assertTrue(err.get("message"), f"an error explains itself: {r}")
                if field:
                    self.assertField(r, field)
                self.assertEqual(r.get("event_id"), event_id, r)
                if event_id:
                    self.assertNotStored(event_id)
        self.assertStatus(replies[-1], "accepted")
        self.assertEqual(replies[-1].get("event_id"), good["event_id"])

    def test_too_long_line_rejected_and_connection_goes_on(self):
        chunk = b"x" * 65536
        with self.h.feed() as feed:
            feed.send_raw(b'{"v":1,"event_id":"huge","narrative":"')
            for _ in range(160):  # 10 MiB, streamed
                feed.send_raw(chunk)
            feed.send_raw(b'"}\n')
            r = feed.read_reply()
            self.assertStatus(r, "rejected", "too_long")
            self.assertNotStored("huge")
            good = assault_opened(uid("LONG"))
            self.assertStatus(feed.request(good), "accepted")

    @staticmethod
    def sized_event(size):
        """A valid event whose line is exactly `size` bytes (newline not counted): the bulk is
        witnesses with long names, which decide nothing."""
        ev = assault_opened(uid("LIM"))
        enc = lambda: len(json.dumps(ev, separators=(",", ":")).encode())  # noqa: E731
        n = 0
        while enc() < size - 600:
            n += 1
            ev["persons"].append({"id": f"w{n}", "role": "witness", "name": "W" * 500})
        last = ev["persons"][-1]
        last["name"] += "W" * (size - enc())
        assert enc() == size, (enc(), size)
        return ev

    def test_line_just_over_limit_rejected_just_under_accepted(self):
        over, under = self.sized_event(MAX_LINE + 2), self.sized_event(MAX_LINE - 2)
        with self.h.feed() as feed:
            feed.send_many([over, under])
            r_over, r_under = feed.read_replies(2)
        self.assertStatus(r_over, "rejected", "too_long")
        self.assertNotStored(over["event_id"])
        self.assertStatus(r_under, "accepted")

    def test_blank_lines_get_no_reply(self):
        ev = assault_opened(uid("BLANK"))
        with self.h.feed() as feed:
            feed.send_raw(b"\n   \n\t\r\n\r\n")
            feed.send(ev)
            r = feed.read_reply()
            self.assertEqual(r.get("event_id"), ev["event_id"], "the first reply is the event's")
            self.assertStatus(r, "accepted")
            self.assertFalse(feed.pending_input(0.5), "nothing more was sent")

    def test_seq_gap_is_refused_and_the_incident_stays_open(self):
        inc = uid("GAP")
        at = "2026-03-02T10:30:00Z"
        with self.h.feed() as feed:
            self.assertStatus(feed.request(assault_opened(inc)), "accepted")
            far = event(inc, 2 ** 53, "incident.updated", at, narrative="Forged.")
            r = feed.request(far)
            self.assertStatus(r, "rejected", "seq_gap")
            self.assertField(r, "seq")
            self.assertSchema("feed-reply", r, "seq_gap reply")
            self.assertNotStored(far["event_id"])
            self.assertEqual(self.h.sql_value("SELECT last_seq FROM incidents WHERE incident_id = %s", (inc,)), 1)
            # The genuine next event is accepted; so is a step of exactly the limit (10,000), and
            # one beyond it is not.
            self.assertStatus(feed.request(event(inc, 2, "incident.updated", at, narrative="Suspect gone.")),
                              "accepted")
            self.assertStatus(feed.request(event(inc, 10002, "incident.updated", at, narrative="Later.")),
                              "accepted")
            r = feed.request(event(inc, 20003, "incident.updated", at, narrative="Too far."))
            self.assertStatus(r, "rejected", "seq_gap")
            self.assertStatus(feed.request(event(inc, 10003, "incident.updated", at, narrative="Next.")),
                              "accepted")
            # A new incident may begin at any seq.
            self.assertStatus(feed.request(assault_opened(uid("GAP"), seq=2 ** 53)), "accepted")

    def test_crlf_line_end(self):
        ev = assault_opened(uid("CRLF"))
        with self.h.feed() as feed:
            feed.send_raw(json.dumps(ev).encode() + b"\r\n")
            self.assertStatus(feed.read_reply(), "accepted")

    def test_unix_socket(self):
        with self.h.feed(unix=True) as feed:
            self.assertStatus(feed.request(assault_opened(uid("UNIX"))), "accepted")

    def pipeline_events(self, n_incidents, per_incident):
        events = []
        for _ in range(n_incidents):
            inc = uid("PIPE")
            events.append(assault_opened(inc))
            for seq in range(2, per_incident + 1):
                events.append(event(inc, seq, "incident.updated", f"2026-03-02T10:{seq:02d}:00Z",
                                    narrative=f"Update {seq}."))
        return events

    def test_pipelining_200_events(self):
        events = self.pipeline_events(20, 10)
        self.assertEqual(len(events), 200)
        with self.h.feed() as feed:
            feed.send_many(events)
            replies = feed.read_replies(len(events))
        self.assertEqual([r.get("event_id") for r in replies], [e["event_id"] for e in events],
                         "one reply per line, in order")
        self.assertEqual({r.get("status") for r in replies}, {"accepted"})
        ids = [e["event_id"] for e in events]
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM raw_events WHERE event_id = ANY(%s)", (ids,)), 200)

    def test_several_connections_at_once(self):
        conns = [self.h.feed(unix=(i % 3 == 0)) for i in range(6)]
        batches = [self.pipeline_events(2, 15) for _ in conns]
        results = [None] * len(conns)
        errors = []

        def work(i):
            try:
                conns[i].send_many(batches[i])
                results[i] = conns[i].read_replies(len(batches[i]))
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(f"connection {i}: {e!r}")

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(conns))]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(errors, [])
        for batch, replies in zip(batches, results):
            self.assertEqual([r.get("event_id") for r in replies], [e["event_id"] for e in batch])
            self.assertEqual({r.get("status") for r in replies}, {"accepted"})


if __name__ == "__main__":
    harness.main()
