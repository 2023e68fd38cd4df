#!/usr/bin/env python3
"""test_authority.py: who may do what, through the real feed and API: the rule set's authority
table (a DDM may not downgrade or cancel a rape; the registrar may; nothing is written on a
refusal), the feed's reclassification review instead of a downgrade, and no re-decision of old
crimes after a SIGHUP reload to a rule set that codes the same conduct differently."""
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest
import urllib.parse

import harness
from harness import DaemonTestCase, event, uid


def q(crn):
    return urllib.parse.quote(crn, safe="")


def rape_opened(incident_id, at="2026-03-02T10:00:00Z"):
    return event(incident_id, 1, "incident.opened", at, reported_by="v1",
                 persons=[{"id": "v1", "role": "victim", "sex": "female", "age": 30, "confirms": True}],
                 allegations=[{"id": "a1", "victim": "v1", "conduct": "rape", "occurred_at": at,
                               "location": {"force_area": "own", "premises": "dwelling"}}])


# The rule set fcrd runs with lives in a folder of the test's own, so that it can be rewritten.
_rules_dir = tempfile.mkdtemp(prefix="fcrd-it-authority-rules-")
os.chmod(_rules_dir, 0o755)
RULES = os.path.join(_rules_dir, "rules.json")
shutil.copy(os.path.join(harness.SOURCE_ROOT, "conf", "rules", "hocr-2025.json"), RULES)
os.chmod(RULES, 0o644)


class AuthorityTest(DaemonTestCase):
    harness_config = {"rules.file": RULES}

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(_rules_dir, ignore_errors=True)

    def writes(self):
        return self.h.sql_value("SELECT (SELECT count(*) FROM audit) + (SELECT count(*) FROM crimes)"
                                " + (SELECT count(*) FROM pending_decisions)")

    def offence_of(self, crn):
        return self.h.sql_value("SELECT offence FROM crimes WHERE crn = %s", (crn,))

    def test_ddm_may_not_downgrade_or_cancel_a_rape(self):
        inc = uid("RAPE")
        crn = self.send_accepted(rape_opened(inc))[0]["crimes"][0]["crn"]
        before = self.writes()
        status, body = self.h.api.request("POST", f"/v1/crimes/{q(crn)}/reclassify",
                                          {"offence": "20A", "rationale": "consent unclear"}, role="ddm")
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["code"], "forbidden")
        for word in ("reclassify_down", "19C", "fcr"):
            self.assertIn(word, body["error"]["message"])
        status, body = self.h.api.request("POST", f"/v1/crimes/{q(crn)}/cancel",
                                          {"reason": "C4", "rationale": "keyed in error"}, role="ddm")
        self.assertEqual((status, body["error"]["code"]), (403, "forbidden"), body)
        self.assertEqual(self.writes(), before, "a refused action writes nothing")
        self.assertEqual(self.offence_of(crn), "19C")
        # C2 of a rape needs the victim told.
        status, body = self.h.api.request("POST", f"/v1/crimes/{q(crn)}/cancel",
                                          {"reason": "C2", "rationale": "x", "avi": "CCTV 17"}, role="fcr")
        self.assertEqual((status, body["error"]["code"], body["error"].get("field")),
                         (422, "victim_not_informed", "victim_informed_at"), body)
        self.assertEqual(self.writes(), before)
        # The registrar may downgrade.
        status, body = self.h.api.request("POST", f"/v1/crimes/{q(crn)}/reclassify",
                                          {"offence": "20A", "rationale": "victim's account"}, role="fcr")
        self.assertEqual((status, body["offence"]), (200, "20A"), body)
        self.assertEqual(self.offence_of(crn), "20A")

    # ---- every role against every action, expected from the rule set's own table ------------
    def needed(self, group, action):
        with open(RULES, encoding="utf-8") as f:
            return json.load(f)["authority"]["groups"][group]["roles"][action]

    def allowed(self, role, needed):
        rank = {"supervisor": 1, "ddm": 2, "fcr": 3}  # ops and auditor take no action
        return role in rank and rank[role] >= rank[needed]

    def attempt(self, role, needed, what, method, path, body, ok_status=200):
        """One action by one role: allowed by the table, it succeeds; refused, it is 403 and nothing
        is written."""
        before = self.writes()
        status, reply = self.h.api.request(method, path, body, role=role)
        if self.allowed(role, needed):
            self.assertEqual(status, ok_status, f"{what} by {role} (table: {needed}): {reply}")
            self.assertGreater(self.writes(), before, f"{what} by {role} wrote nothing")
        else:
            self.assertEqual((status, reply["error"]["code"]), (403, "forbidden"),
                             f"{what} by {role} (table: {needed}): {reply}")
            self.assertEqual(self.writes(), before, f"{what} refused to {role} wrote something")

    def rape_crime(self):
        inc = uid("MX")
        return inc, self.send_accepted(rape_opened(inc))[0]["crimes"][0]["crn"]

    def rape_pending(self):
        """A rape reported by a third party, the victim not yet heard: a pending decision open."""
        inc = uid("MXH")
        ev = rape_opened(inc)
        ev["reported_by"] = "t1"
        ev["persons"] = [dict(ev["persons"][0], confirms=None), {"id": "t1", "role": "third_party"}]
        reply = self.send_accepted(ev)[0]
        self.assertEqual(reply["crimes"], [], reply)
        self.assertEqual(len(reply["pending"]), 1, reply)
        return reply["pending"][0]["id"], reply["decisions"][0]["outcome"]

    def test_every_role_against_every_action_on_a_rape(self):
        group = "serious_sexual"
        cancel = {"C1": {"to_force": "NMP"}, "C2": {"avi": "CCTV 17 shows otherwise",
                                                    "victim_informed_at": "2026-03-03T10:00:00Z"},
                  "C3": {}, "C4": {}}
        for role in harness.ROLES:
            with self.subTest(role=role, action="record"):
                pid, _ = self.rape_pending()
                self.attempt(role, self.needed(group, "record"), "record", "POST", f"/v1/pending/{pid}/decision",
                             {"decision": "record", "rationale": "the victim's account stands"})
            for decision in ("no_crime", "transfer"):
                with self.subTest(role=role, action=decision):
                    pid, outcome = self.rape_pending()
                    body = {"decision": decision, "rationale": "evidence against"}
                    if decision == "transfer":
                        body["to_force"] = "NMP"
                    # closing an allegation held as N100 without a crime is its disposal
                    action = "n100_dispose" if outcome == "held" else decision
                    self.attempt(role, self.needed(group, action), decision, "POST",
                                 f"/v1/pending/{pid}/decision", body)
            for action, offence in (("reclassify_down", "20A"), ("reclassify_up", "19D")):
                with self.subTest(role=role, action=action):
                    _, crn = self.rape_crime()
                    self.attempt(role, self.needed(group, action), action, "POST", f"/v1/crimes/{q(crn)}/reclassify",
                                 {"offence": offence, "rationale": "new facts"})
            for code, extra in cancel.items():
                with self.subTest(role=role, action="cancel_" + code):
                    _, crn = self.rape_crime()
                    body = {"reason": code, "rationale": "reviewed", **extra}
                    if code == "C3":
                        body["duplicate_of"] = self.rape_crime()[1]
                    self.attempt(role, self.needed(group, "cancel_" + code), "cancel " + code, "POST",
                                 f"/v1/crimes/{q(crn)}/cancel", body)

    def test_feed_rekey_of_a_rape_opens_a_review(self):
        inc = uid("REKEY")
        opened = rape_opened(inc)
        crn = self.send_accepted(opened)[0]["crimes"][0]["crn"]
        rekey = event(inc, 2, "incident.updated", "2026-03-02T11:00:00Z",
                      allegations=[dict(opened["allegations"][0], conduct="sexual_assault")])
        reply = self.send_accepted(rekey)[0]
        self.assertSchema("feed-reply", reply, "rekey reply")
        self.assertEqual(self.offence_of(crn), "19C", "the feed never downgrades")
        reviews = [p for p in reply["pending"] if p["reason"] == "reclassification_review"]
        self.assertEqual(len(reviews), 1, json.dumps(reply))
        pid = reviews[0]["id"]
        status, view = self.h.api.get(f"/v1/incidents/{inc}", role="auditor")
        item = [p for p in view["pending"] if p["id"] == pid][0]
        self.assertEqual(item["candidate_offence"], "20A")
        self.assertEqual((item["crn"], item["role"]), (crn, "fcr"), "the review names its crime and who may close it")
        status, body = self.h.api.request("POST", f"/v1/pending/{pid}/decision",
                                          {"decision": "record", "rationale": "agree"}, role="ddm")
        self.assertEqual((status, body["error"]["code"]), (403, "forbidden"), body)
        self.assertEqual(self.offence_of(crn), "19C")
        status, body = self.h.api.request("POST", f"/v1/pending/{pid}/decision",
                                          {"decision": "record", "rationale": "victim's account"}, role="fcr")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.offence_of(crn), "20A")

    def test_z_reload_does_not_redecide_old_crimes(self):
        """Named to run last: it swaps the rule set of the running daemon."""
        inc = uid("THEFT")
        opened = event(inc, 1, "incident.opened", "2026-03-02T10:00:00Z", reported_by="v1",
                       persons=[{"id": "v1", "role": "victim", "confirms": True}],
                       allegations=[{"id": "a1", "victim": "v1", "conduct": "theft.other",
                                     "occurred_at": "2026-03-02T09:00:00Z"}])
        crn = self.send_accepted(opened)[0]["crimes"][0]["crn"]
        self.assertEqual(self.offence_of(crn), "49")
        with open(RULES, encoding="utf-8") as f:
            doc = json.load(f)
        doc["version"] = "hocr-2025.it"
        doc["lexicon"]["theft.other"] = [{"offence": "39", "rule": "HOCR-THEFT.39"}]
        with open(RULES + ".new", "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(RULES + ".new", RULES)
        os.kill(self.h.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        while "hocr-2025.it" not in self.h.log_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn("hocr-2025.it", self.h.log_text(), "the reload was not logged")
        witness = event(inc, 2, "incident.updated", "2026-03-02T11:00:00Z",
                        persons=[{"id": "w1", "role": "witness"}])
        reply = self.send_accepted(witness)[0]
        self.assertEqual(reply["rules"], "hocr-2025.it")
        self.assertEqual(self.offence_of(crn), "49", "an update that changes nothing about a1 re-decides nothing")
        self.assertEqual(reply["crimes"], [], json.dumps(reply))
        # A new allegation of the same kind is decided by the loaded rule set.
        later = event(inc, 3, "incident.updated", "2026-03-02T12:00:00Z",
                      persons=[{"id": "v2", "role": "victim", "confirms": True}],
                      allegations=[{"id": "a2", "victim": "v2", "conduct": "theft.other",
                                    "occurred_at": "2026-03-02T09:30:00Z"}])
        reply = self.send_accepted(later)[0]
        self.assertEqual([c["offence"] for c in reply["crimes"]], ["39"], json.dumps(reply))
        self.assertEqual(self.offence_of(crn), "49")


if __name__ == "__main__":
    harness.main()
