#!/usr/bin/env python3
"""test_screening.py: narrative screening through the real feed: force described behind a keyed
theft opens a possible_crime decision naming robbery, in the reply and the incident view; a
person's decision holds until a new disclosure; value_gbp is accepted, used, and checked."""
import json

import harness
from harness import DaemonTestCase, event, uid

AT = "2026-03-02T22:40:00Z"
LOCATION = {"force_area": "own", "premises": "public_place"}


def theft_opened(incident_id, narrative):
    """A victim reports a theft from the person, keyed as such, with the narrative given."""
    return event(
        incident_id, 1, "incident.opened", AT,
        channel="emergency_call", narrative=narrative, reported_by="v1",
        persons=[{"id": "v1", "role": "victim", "sex": "female", "age": 41, "confirms": True},
                 {"id": "s1", "role": "suspect", "sex": "male"}],
        allegations=[{"id": "a1", "victim": "v1", "suspects": ["s1"], "conduct": "theft.from_person",
                      "occurred_at": "2026-03-02T22:30:00Z", "location": LOCATION}])


def damage_opened(incident_id, damage):
    """An injury and damage to the same victim on one occasion; `damage` adds to the damage."""
    a2 = {"id": "a2", "victim": "v1", "suspects": ["s1"], "conduct": "damage.other",
          "occurred_at": "2026-03-02T22:30:00Z", "location": LOCATION}
    a2.update(damage)
    return event(
        incident_id, 1, "incident.opened", AT, reported_by="v1",
        persons=[{"id": "v1", "role": "victim", "sex": "male", "age": 30, "confirms": True},
                 {"id": "s1", "role": "suspect", "sex": "male"}],
        allegations=[{"id": "a1", "victim": "v1", "suspects": ["s1"], "conduct": "assault.injury",
                      "occurred_at": "2026-03-02T22:30:00Z", "location": LOCATION}, a2])


class ScreeningTest(DaemonTestCase):

    def send(self, ev):
        with self.h.feed() as feed:
            reply = feed.request(ev)
        self.assertSchema("feed-reply", reply, ev["event_id"])
        return reply

    def view(self, incident_id):
        status, body = self.h.api.get(f"/v1/incidents/{incident_id}", role="auditor")
        self.assertEqual(status, 200, body)
        return body

    def possible(self, view):
        return [p for p in view["pending"] if p["reason"] == "possible_crime"]

    def test_force_behind_keyed_theft(self):
        inc = uid("SCR")
        reply = self.send(theft_opened(inc, "He shoved her against the wall and pulled the handbag off her "
                                            "shoulder; she didn\u2019t see where he went."))
        self.assertStatus(reply, "accepted")
        self.assertEqual([(c["offence"], c["action"]) for c in reply["crimes"]], [("39", "recorded")], reply)
        pend = [p for p in reply["pending"] if p["reason"] == "possible_crime"]
        self.assertEqual(len(pend), 1, json.dumps(reply))
        self.assertEqual(pend[0].get("candidate_offence"), "34B", "the reply names the candidate")
        self.assertSchema("feed-reply", reply, "reply with a candidate")
        warn = [w for w in reply["warnings"] if w["code"] == "possible_crime"]
        self.assertEqual(len(warn), 1, reply)
        self.assertEqual(warn[0].get("field"), "narrative")
        self.assertIn("34B", warn[0]["message"])
        self.assertIn(pend[0]["id"], warn[0]["message"])
        items = self.possible(self.view(inc))
        self.assertEqual([(p["id"], p["candidate_offence"], p["victim"]) for p in items],
                         [(pend[0]["id"], "34B", "v1")], items)

    def test_nothing_more_serious(self):
        inc = uid("SCR")
        reply = self.send(theft_opened(inc, "Her purse was taken from her coat pocket on the bus; she felt nothing."))
        self.assertStatus(reply, "accepted")
        self.assertEqual([p for p in reply["pending"] if p["reason"] == "possible_crime"], [], reply)
        self.assertEqual(self.possible(self.view(inc)), [])

    def test_decided_item_stays_closed_until_a_new_disclosure(self):
        inc = uid("SCR")
        reply = self.send(theft_opened(inc, "He pushed her over and took the bag."))
        pid = [p for p in reply["pending"] if p["reason"] == "possible_crime"][0]["id"]
        status, body = self.h.api.request("POST", f"/v1/pending/{pid}/decision",
                                          {"decision": "no_crime", "rationale": "CCTV: she tripped; no force"},
                                          role="supervisor")
        self.assertEqual(status, 200, body)
        again = self.send(event(inc, 2, "incident.updated", "2026-03-02T23:00:00Z",
                                narrative="Victim repeats that he pushed her."))
        self.assertStatus(again, "accepted")
        self.assertEqual([p for p in again["pending"] if p["reason"] == "possible_crime"], [], again)
        later = self.send(event(inc, 3, "incident.updated", "2026-03-03T09:00:00Z",
                                narrative="Second account: he punched her in the face before taking it."))
        new = [p for p in later["pending"] if p["reason"] == "possible_crime"]
        self.assertEqual(len(new), 1, later)
        self.assertNotEqual(new[0]["id"], pid)
        self.assertEqual([p["candidate_offence"] for p in self.possible(self.view(inc))], ["34B"])

    def test_value_gbp_ranks_damage(self):
        inc = uid("VAL")
        reply = self.send(damage_opened(inc, {"value_gbp": 6500}))
        self.assertStatus(reply, "accepted")
        self.assertEqual([c["offence"] for c in reply["crimes"]], ["58D"], reply)
        self.assertFalse([w for w in reply["warnings"] if w["code"] == "value_from_narrative"], reply)
        decisions = {d["allegation"]: d["outcome"] for d in reply["decisions"]}
        self.assertEqual(decisions, {"a1": "counted_in", "a2": "recorded"}, reply)
        # Below the threshold the injury is the principal crime.
        inc2 = uid("VAL")
        reply = self.send(damage_opened(inc2, {"value_gbp": 120.5, "note": "owner first said \u00a36,500"}))
        self.assertEqual([c["offence"] for c in reply["crimes"]], ["8N"], reply)

    def test_value_from_note_warns(self):
        inc = uid("VAL")
        reply = self.send(damage_opened(inc, {"note": "repair quoted at \u00a36,500"}))
        self.assertStatus(reply, "accepted")
        self.assertEqual([c["offence"] for c in reply["crimes"]], ["58D"], reply)
        warn = [w for w in reply["warnings"] if w["code"] == "value_from_narrative"]
        self.assertEqual([w.get("field") for w in warn], ["allegations[1].note"], reply)

    def test_bad_value_gbp_rejected(self):
        for bad in (-1, "6500", True):
            with self.subTest(value=bad):
                ev = damage_opened(uid("VAL"), {"value_gbp": bad})
                with self.h.feed() as feed:
                    reply = feed.request(ev)
                self.assertSchema("feed-reply", reply, "rejection")
                self.assertStatus(reply, "rejected", "bad_field")
                self.assertEqual(reply["error"].get("field"), "allegations[1].value_gbp", reply)
                self.assertIn("allegations[1].value_gbp", reply["error"]["message"])


if __name__ == "__main__":
    harness.main()
