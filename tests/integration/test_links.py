#!/usr/bin/env python3
"""test_links.py: a `same_report` link is honoured whichever of the two reports arrives first.

Incident B says `{"relation": "same_report", "incident_id": "A"}`. One crime per victim per matter
whatever the order: B first, then A, is counted in B's crime; a third party's report (A) waiting
for the victim is settled when the victim's own call (B) records the crime
(`HOCR-GR.same_report_settled`); a later call that discloses an injury reclassifies the crime up.
And the order that used to slip through, B to one fcrd instance and A to another at the same
moment, many pairs at once: exactly one crime per pair.
"""
import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))

import faultkit  # noqa: E402
import harness  # noqa: E402
from harness import assault_opened, uid  # noqa: E402

PAIRS = 40


def report(incident_id, ref, at="2026-03-02T10:00:00Z", links=None, conduct="assault.injury", confirms=True,
           third_party=False):
    """A call about one assault on the victim with C&C `ref`: the victim's own, or a witness's
    (then the victim has not yet confirmed)."""
    ev = assault_opened(incident_id, at=at)
    ev["persons"][0]["ref"] = ref
    ev["persons"][0]["name"] = "Ann Lee"
    ev["allegations"][0]["conduct"] = conduct
    if conduct != "assault.injury":
        ev["narrative"] = "Caller says a stranger pushed her outside the station."
    if third_party:
        ev["persons"][0]["confirms"] = None
        ev["persons"].append({"id": "w1", "role": "witness"})
        ev["reported_by"] = "w1"
        ev["narrative"] = "Passer-by says a woman was attacked outside the station."
    elif not confirms:
        ev["persons"][0]["confirms"] = None
    if links:
        ev["links"] = [{"incident_id": i, "relation": "same_report"} for i in links]
    return ev


class LinksTest(faultkit.TwoInstancesCase):
    def send(self, ev, d=None):
        with (d or self.h).feed() as feed:
            r = feed.request(ev)
        self.assertStatus(r, "accepted")
        self.assertSchema("feed-reply", r)
        return r

    def crimes(self, *incidents):
        return self.h.sql("SELECT crn, incident_id, offence FROM crimes WHERE incident_id = ANY (%s)"
                          " AND status = 'recorded' ORDER BY crn", (list(incidents),))

    def test_linking_report_first(self):
        a, b, ref = uid("LA"), uid("LB"), uid("REF")
        rb = self.send(report(b, ref, links=[a]))
        self.assertEqual([d["outcome"] for d in rb["decisions"]], ["recorded"])
        ra = self.send(report(a, ref, at="2026-03-02T10:05:00Z"))
        self.assertEqual([d["outcome"] for d in ra["decisions"]], ["counted_in"], json.dumps(ra))
        self.assertIn("HOCR-GR.same_report", ra["decisions"][0]["rules"])
        crimes = self.crimes(a, b)
        self.assertEqual([(i, o) for _, i, o in crimes], [(b, "8N")], "one 8N for one victim")
        self.assertEqual(ra["decisions"][0]["crn"], crimes[0][0])

    def test_linking_report_first_in_one_batch(self):
        """The linking report and the report it names sent back to back behind a queue of
        unrelated calls, so that both wait and are mostly decided in one batch: the named report
        must find the crime its linking report recorded a moment before, in the same batch."""
        fillers = [report(uid("PF"), uid("FREF")) for _ in range(400)]
        pairs = [(uid("PA"), uid("PB")) for _ in range(12)]
        events = list(fillers)
        for a, b in pairs:
            events.append(report(b, "x", links=[a]))
            events.append(report(a, "x", at="2026-03-02T10:05:00Z"))
        for ev in events[len(fillers):]:  # the link alone ties the two reports, no victim ref
            del ev["persons"][0]["ref"]
        with self.h.feed() as feed:
            feed.send_many(events)
            replies = {}
            for _ in events:
                r = feed.read_reply()
                replies[r["incident_id"]] = r
        for a, b in pairs:
            self.assertEqual([d["outcome"] for d in replies[b]["decisions"]], ["recorded"], json.dumps(replies[b]))
            self.assertEqual([d["outcome"] for d in replies[a]["decisions"]], ["counted_in"], json.dumps(replies[a]))
            self.assertIn("HOCR-GR.same_report", replies[a]["decisions"][0]["rules"], json.dumps(replies[a]))
            self.assertEqual([(i, o) for _, i, o in self.crimes(a, b)], [(b, "8N")], "one 8N for one victim")
        together = self.h.sql_value(
            "SELECT count(*) FROM unnest(%s::text[], %s::text[]) AS p(a, b) WHERE"
            " (SELECT xmin::text FROM raw_events WHERE incident_id = p.a)"
            " = (SELECT xmin::text FROM raw_events WHERE incident_id = p.b)",
            ([a for a, b in pairs], [b for a, b in pairs]))
        print(f"pairs decided in one batch: {together} of {len(pairs)}", file=sys.stderr)

    def test_third_party_pending_settled_by_the_victims_call(self):
        a, b, ref = uid("TA"), uid("TB"), uid("REF")
        ra = self.send(report(a, ref, third_party=True))
        self.assertEqual([d["outcome"] for d in ra["decisions"]], ["pending"], json.dumps(ra))
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM pending_decisions WHERE incident_id = %s"
                                          " AND status = 'open'", (a,)), 1)
        rb = self.send(report(b, ref, at="2026-03-02T11:00:00Z", links=[a]), self.peer)
        self.assertEqual([d["outcome"] for d in rb["decisions"]], ["recorded"], json.dumps(rb))
        crn = rb["decisions"][0]["crn"]
        rows = self.h.sql("SELECT status, rules, resolution FROM pending_decisions WHERE incident_id = %s", (a,))
        self.assertEqual(len(rows), 1)
        status, rules, resolution = rows[0]
        self.assertEqual(status, "closed", "the linked report's crime settles the third party's item")
        self.assertIn("HOCR-GR.same_report_settled", rules)
        self.assertEqual(resolution.get("crn"), crn)
        # the audit trail says which event of which report closed it
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM audit WHERE action = 'pending.closed'"
                                          " AND pending_id = (SELECT id FROM pending_decisions WHERE incident_id = %s)"
                                          " AND %s = ANY (rules)", (a, "HOCR-GR.same_report_settled")), 1)
        # A later event of A does not reopen it, nor record a second crime
        ev = harness.event(a, 2, "incident.updated", "2026-03-02T12:00:00Z", narrative="Caller rang back.")
        self.send(ev)
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM pending_decisions WHERE incident_id = %s"
                                          " AND status = 'open'", (a,)), 0)
        self.assertEqual(len(self.crimes(a, b)), 1)

    def test_later_call_discloses_injury(self):
        for linking_first in (False, True):
            with self.subTest(linking_first=linking_first):
                a, b, ref = uid("IA"), uid("IB"), uid("REF")
                if linking_first:
                    first = report(b, ref, links=[a], conduct="assault.no_injury")
                    later = report(a, ref, at="2026-03-02T10:30:00Z")
                else:
                    first = report(a, ref, conduct="assault.no_injury")
                    later = report(b, ref, at="2026-03-02T10:30:00Z", links=[a])
                r1 = self.send(first)
                self.assertEqual([c["offence"] for c in r1["crimes"]], ["105A"])
                crn = r1["crimes"][0]["crn"]
                r2 = self.send(later, self.peer)
                self.assertEqual([d["outcome"] for d in r2["decisions"]], ["counted_in"], json.dumps(r2))
                self.assertEqual([(c["crn"], c["offence"], c["action"]) for c in r2["crimes"]],
                                 [(crn, "8N", "reclassified")], json.dumps(r2))
                self.assertEqual([(c, o) for c, _, o in self.crimes(a, b)], [(crn, "8N")],
                                 "the more serious offence wins, one crime")
                # the first report's next event does not take it back down, nor ask for a review
                self.send(harness.event(first["incident_id"], 2, "incident.updated", "2026-03-02T10:45:00Z",
                                        narrative="Caller rang back."))
                self.assertEqual([(c, o) for c, _, o in self.crimes(a, b)], [(crn, "8N")])
                self.assertEqual(self.h.sql_value("SELECT count(*) FROM pending_decisions WHERE incident_id = ANY (%s)"
                                                  " AND status = 'open'", ([a, b],)), 0)
                # the lesser offence told later never takes it down
                ev = report(uid("IC"), ref, at="2026-03-02T11:00:00Z", links=[a, b], conduct="assault.no_injury")
                r3 = self.send(ev)
                self.assertEqual([d["outcome"] for d in r3["decisions"]], ["counted_in"], json.dumps(r3))
                self.assertEqual([(c, o) for c, _, o in self.crimes(a, b, ev["incident_id"])], [(crn, "8N")])

    def test_other_victim_not_folded(self):
        a, b = uid("OA"), uid("OB")
        self.send(report(b, uid("REF"), links=[a]))
        ra = self.send(report(a, uid("REF"), at="2026-03-02T10:05:00Z"))
        self.assertEqual([d["outcome"] for d in ra["decisions"]], ["recorded"], json.dumps(ra))
        self.assertEqual(len(self.crimes(a, b)), 2)

    def test_linking_first_at_two_instances_many_pairs(self):
        """B reaches instance 1 and A instance 2 at the same moment, for many pairs at once."""
        pairs = [(uid("PA"), uid("PB"), uid("REF")) for _ in range(PAIRS)]
        errors = []

        def sender(d, evs, key):
            try:
                with d.feed() as feed:
                    feed.send_many(evs)
                    replies = feed.read_replies(len(evs), timeout=120)
                bad = [r for r in replies if r.get("status") != "accepted"]
                if bad:
                    errors.append((key, bad[:3]))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append((key, repr(e)))

        bs = [report(b, ref, links=[a]) for a, b, ref in pairs]
        as_ = [report(a, ref, at="2026-03-02T10:00:30Z") for a, b, ref in pairs]
        threads = []
        # several connections per side, so both instances carry many batches in parallel
        for k in range(4):
            threads.append(threading.Thread(target=sender, args=(self.h, bs[k::4], f"b{k}")))
            threads.append(threading.Thread(target=sender, args=(self.peer, as_[k::4], f"a{k}")))
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        self.assertEqual(errors, [])
        counts = dict(self.h.sql(
            "SELECT v.ref, count(c.crn) FROM unnest(%s::text[]) AS v(ref)"
            " LEFT JOIN crimes c ON c.victim_ref = v.ref AND c.status = 'recorded' GROUP BY v.ref",
            ([ref for _, _, ref in pairs],)))
        wrong = {ref: n for ref, n in counts.items() if n != 1}
        self.assertEqual(wrong, {}, "exactly one crime per pair")


if __name__ == "__main__":
    unittest.main()
