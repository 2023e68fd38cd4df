#!/usr/bin/env python3
"""test_persons.py: persons by command-and-control `ref` across incidents, through the real feed
and API: a course of conduct reported one occasion per call (same victim ref, same suspect ref)
records one crime at the rule set's minimum, later calls are counted in it; other suspects and
occasions outside the window stay separate; a repeat victim is marked on the incident view and in
the queue; two unlinked incidents of the same assault open a possible_duplicate decision, linked
ones do not; two fcrd instances sent the calls of one course interleaved record exactly one crime.
"""
import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))

import faultkit  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase, assault_opened, event, uid  # noqa: E402


def harassment_call(incident_id, victim_ref, suspect_ref, when, seq=1):
    """One call: one occasion of harassment of the victim by the suspect, both with a C&C ref."""
    return event(incident_id, seq, "incident.opened", when,
                 channel="emergency_call",
                 narrative="Caller says her ex-partner keeps turning up at her door shouting at her.",
                 reported_by="v1",
                 persons=[{"id": "v1", "role": "victim", "sex": "female", "age": 30, "confirms": True,
                           "ref": victim_ref, "relationships": [{"to": "s1", "kind": "ex_partner"}]},
                          {"id": "s1", "role": "suspect", "sex": "male", "ref": suspect_ref}],
                 allegations=[{"id": "a1", "victim": "v1", "suspects": ["s1"], "offence": "8L",
                               "occurred_at": when, "location": {"force_area": "own", "premises": "dwelling"}}])


class PersonsTest(DaemonTestCase):

    def send(self, ev, d=None):
        with (d or self.h).feed() as feed:
            r = feed.request(ev)
        self.assertStatus(r, "accepted")
        self.assertSchema("feed-reply", r)
        return r

    def outcomes(self, r):
        return [d.get("outcome") for d in r.get("decisions") or []]

    def course_crimes(self, victim_ref):
        return self.h.sql("SELECT crn, incident_id FROM crimes WHERE victim_ref = %s AND offence = '8L'"
                          " AND status = 'recorded'", (victim_ref,))

    def test_course_over_three_calls(self):
        v, s = uid("V"), uid("S")
        a, b, c = uid("C1"), uid("C2"), uid("C3")
        r1 = self.send(harassment_call(a, v, s, "2026-01-05T20:00:00Z"))
        self.assertEqual(self.outcomes(r1), ["pending"], "one occasion is no course yet")
        self.assertEqual(self.course_crimes(v), [])
        r2 = self.send(harassment_call(b, v, s, "2026-01-12T20:00:00Z"))
        self.assertEqual(self.outcomes(r2), ["recorded"], json.dumps(r2))
        d = r2["decisions"][0]
        self.assertEqual(d.get("incidents"), [a], "the decision names the incident it counted")
        self.assertIn("HOCR-E.course_across_incidents", d["rules"])
        crimes = self.course_crimes(v)
        self.assertEqual([i for _, i in crimes], [b], "one crime at the minimum")
        r3 = self.send(harassment_call(c, v, s, "2026-01-20T20:00:00Z"))
        self.assertEqual(self.outcomes(r3), ["counted_in"], json.dumps(r3))
        self.assertEqual(r3["decisions"][0]["crn"], crimes[0][0])
        self.assertEqual(len(self.course_crimes(v)), 1, "later calls are counted in it")
        rows = self.h.sql("SELECT role, ref FROM person_index WHERE incident_id = %s ORDER BY role", (a,))
        self.assertEqual(rows, [("suspect", s), ("victim", v)])

    def test_other_suspect_stays_separate(self):
        v = uid("V")
        self.send(harassment_call(uid("D1"), v, uid("S"), "2026-02-01T20:00:00Z"))
        r = self.send(harassment_call(uid("D2"), v, uid("S"), "2026-02-03T20:00:00Z"))
        self.assertEqual(self.outcomes(r), ["pending"])
        self.assertEqual(self.course_crimes(v), [])

    def test_outside_the_window_stays_separate(self):
        v, s = uid("V"), uid("S")
        self.send(harassment_call(uid("W1"), v, s, "2025-01-01T10:00:00Z"))
        # 365 days and one minute later: outside the rule set's 365-day window
        r = self.send(harassment_call(uid("W2"), v, s, "2026-01-01T10:01:00Z"))
        self.assertEqual(self.outcomes(r), ["pending"])
        self.assertEqual(self.course_crimes(v), [])
        # exactly at the edge: counted
        r = self.send(harassment_call(uid("W3"), v, s, "2026-01-01T10:00:00Z"))
        self.assertEqual(self.outcomes(r), ["recorded"], json.dumps(r))

    def test_repeat_victim_on_view_and_queue(self):
        v = uid("V")
        incs = [uid("RV") for _ in range(3)]
        api = self.h.api

        def marks(inc):
            status, view = api.get(f"/v1/incidents/{inc}", role="auditor")
            self.assertEqual(status, 200)
            status, page = api.get("/v1/pending?reason=insufficient_detail&limit=1000", role="auditor")
            self.assertEqual(status, 200)
            items = [it for it in page["items"] if it["incident_id"] == inc]
            self.assertTrue(items, "the single occasion waits in the queue")
            return view["repeat_victim"], {it["repeat_victim"] for it in items}

        # Three calls from one victim about three different people within the window.
        for k, inc in enumerate(incs):
            self.send(harassment_call(inc, v, uid("S"), f"2026-06-0{k + 1}T20:00:00Z"))
            if k == 1:
                self.assertEqual(marks(inc), (False, {False}), "two incidents are not yet a repeat victim")
        self.assertEqual(marks(incs[2]), (True, {True}))
        self.assertEqual(marks(incs[0]), (True, {True}))
        # Another victim, once: not marked.
        other = uid("RV")
        self.send(harassment_call(other, uid("V"), uid("S"), "2026-06-01T20:00:00Z"))
        self.assertEqual(marks(other), (False, {False}))

    def test_possible_duplicate_unlinked_only(self):
        v, s = uid("V"), uid("S")
        p, q, l = uid("DUP-P"), uid("DUP-Q"), uid("DUP-L")
        first = assault_opened(p)
        first["persons"][0]["ref"] = v
        first["persons"][1]["ref"] = s
        self.send(first)
        second = assault_opened(q, at="2026-03-02T10:20:00Z")
        second["persons"][0]["ref"] = v
        second["persons"][1]["ref"] = s
        second["allegations"][0]["occurred_at"] = "2026-03-02T10:00:00Z"
        r = self.send(second)
        reasons = [x["reason"] for x in r["pending"]]
        self.assertIn("possible_duplicate", reasons, json.dumps(r))
        row = self.h.sql("SELECT id FROM pending_decisions WHERE incident_id = %s AND reason = 'possible_duplicate'",
                         (q,))
        self.assertEqual(len(row), 1)
        # The same assault reported again with a link to the first report: not a duplicate.
        v2 = uid("V")
        p2 = uid("DUP-P2")
        first2 = assault_opened(p2)
        first2["persons"][0]["ref"] = v2
        first2["persons"][1]["ref"] = s
        self.send(first2)
        linked = assault_opened(l, at="2026-03-02T10:30:00Z", links=[{"incident_id": p2, "relation": "related"}])
        linked["persons"][0]["ref"] = v2
        linked["persons"][1]["ref"] = s
        linked["allegations"][0]["occurred_at"] = "2026-03-02T10:00:00Z"
        r = self.send(linked)
        self.assertNotIn("possible_duplicate", [x["reason"] for x in r["pending"]], json.dumps(r))

    def test_two_instances_interleaved_record_one_crime(self):
        peer = faultkit.Peer(self.h, "peer")
        peer.start()
        try:
            self.assertIsNotNone(faultkit.wait_ready(peer, 60))
            self.assertIsNotNone(faultkit.wait_ready(self.h, 60))
            for round_ in range(3):
                v, s = uid("V"), uid("S")
                calls = [harassment_call(uid(f"I{round_}{k}"), v, s, f"2026-04-0{k + 1}T20:00:00Z")
                         for k in range(4)]
                replies, errors = {}, []

                def go(d, evs, key):
                    try:
                        with d.feed() as feed:
                            feed.send_many(evs)
                            replies[key] = feed.read_replies(len(evs))
                    except Exception as e:  # noqa: BLE001
                        errors.append(repr(e))

                ts = [threading.Thread(target=go, args=(self.h, calls[0::2], "a")),
                      threading.Thread(target=go, args=(peer, calls[1::2], "b"))]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join(60)
                self.assertEqual(errors, [])
                for r in replies["a"] + replies["b"]:
                    self.assertStatus(r, "accepted")
                self.assertEqual(len(self.course_crimes(v)), 1, json.dumps(replies)[:1500])
        finally:
            problems = peer.stop_fcrd()
            self.assertEqual(problems, [])


if __name__ == "__main__":
    harness.main()
