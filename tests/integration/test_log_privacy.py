#!/usr/bin/env python3
"""test_log_privacy.py: no personal data reaches fcrd's own log, at any level.

Distinctive names, narratives, person refs and free-text rationales are planted everywhere
personal data enters fcrd: valid feed events, events refused for a bad field (the value that is
wrong is one of the planted words), lines that are not JSON at all, people's decisions and
cancellations through the API, bodies and query parameters the API refuses, and writes the
database refuses (whose DETAIL would quote the row). fcrd runs at debug level; afterwards not one
log line may hold any planted word, in any case or JSON escaping."""
import json
import time
import unittest
import urllib.parse

import harness
from harness import DaemonTestCase, assault_opened, event, uid

# Each planted word is unlikely to occur by chance; a test adds the ones it plants.
PLANTED = []


def plant(kind):
    word = f"{kind}Zq{uid('')[-8:]}x"
    PLANTED.append(word)
    return word


def witness_opened(incident_id, name, narrative, ref):
    """A third party reports an assault on a named victim: it stays pending until she confirms."""
    return event(incident_id, 1, "incident.opened", narrative=narrative, reported_by="w1",
                 persons=[{"id": "w1", "role": "witness", "name": plant("Witness")},
                          {"id": "v1", "role": "victim", "sex": "female", "age": 52, "name": name, "ref": ref}],
                 allegations=[{"id": "a1", "victim": "v1", "conduct": "assault.injury",
                               "occurred_at": "2026-03-02T10:00:00Z",
                               "location": {"force_area": "own", "premises": "public_place"}}])


class LogPrivacyTest(DaemonTestCase):
    harness_config = {"log.level": "debug"}

    def tearDown(self):
        # Every test's planted words are checked against the whole log so far.
        log = self.h.log_text()
        folded = log.casefold()
        for word in PLANTED:
            for form in {word, json.dumps(word)[1:-1], urllib.parse.quote(word)}:
                self.assertNotIn(form.casefold(), folded, f"planted word {word!r} reached the log")

    def assertLogged(self, needle, timeout=20):
        """The log shows `needle` (so the path under test did log something)."""
        deadline = time.monotonic() + timeout
        while needle not in self.h.log_text():
            self.assertLess(time.monotonic(), deadline, f"never logged: {needle}\n{self.h.log_tail()}")
            time.sleep(0.1)

    def test_feed_events_valid_and_refused(self):
        name, narrative, ref = plant("Marrowfield"), plant("Narrative"), plant("Ref")
        inc = uid("LP")
        opened = assault_opened(inc, narrative=f"Caller says {name} was punched: {narrative}")
        opened["persons"][0].update(name=name, ref=ref, employer=plant("Employer"))
        self.send_accepted(opened)
        with self.h.feed() as feed:
            # A wrong type in fields that carry personal data: the reply names the field.
            bad = assault_opened(uid("LPBAD"))
            bad["persons"][0]["age"] = plant("AgeText")
            reply = feed.request(bad)
            self.assertStatus(reply, "rejected")
            bad = assault_opened(uid("LPBAD"))
            bad["persons"][0]["role"] = plant("RoleText")
            self.assertStatus(feed.request(bad), "rejected")
            bad = assault_opened(uid("LPBAD"))
            bad["allegations"][0]["conduct"] = plant("ConductText")
            self.assertStatus(feed.request(bad), "accepted")  # an unknown code is pending, with a warning
            bad = assault_opened(uid("LPBAD"))
            bad["persons"][0]["relationships"][0]["to"] = plant("Dangling")
            self.assertStatus(feed.request(bad), "rejected")
            # Not JSON at all, and a line that is JSON but not an event.
            feed.send_raw(f"{{\"victim\": {plant('Broken')}\n".encode())
            self.assertStatus(feed.read_reply(), "rejected")
            feed.send_raw((json.dumps({"narrative": plant("NotAnEvent")}) + "\n").encode())
            self.assertStatus(feed.read_reply(), "rejected")
            # An update of the incident with more of the same.
            renamed = plant("Renamed")
            upd = event(inc, 2, "incident.updated", narrative=plant("Update"),
                        persons=[{"id": "v1", "role": "victim", "name": renamed}])
            self.assertStatus(feed.request(upd), "accepted")
        self.assertIn(renamed, self.h.sql_value("SELECT incident_doc(incident_id, state) FROM incidents"
                                                 " WHERE incident_id = %s", (inc,)),
                      "the names are stored, only the log must not hold them")

    def test_people_decisions_and_refused_requests(self):
        name, rationale = plant("Thistlewood"), plant("Rationale")
        inc = uid("LPD")
        with self.h.feed() as feed:
            reply = feed.request(witness_opened(inc, name, plant("Narr"), plant("Ref")))
        self.assertStatus(reply, "accepted")
        pid = reply["pending"][0]["id"]
        api = self.h.api
        # Refused bodies and parameters carrying the words.
        status, _ = api.request("POST", f"/v1/pending/{pid}/decision",
                                {"decision": plant("Decision"), "rationale": rationale}, role="fcr")
        self.assertEqual(status, 400)
        status, _ = api.request("POST", f"/v1/pending/{pid}/decision",
                                {"decision": "record", "rationale": rationale, plant("Member"): 1}, role="fcr")
        self.assertEqual(status, 400)
        status, _ = api.get(f"/v1/pending?{urllib.parse.quote(plant('Param'))}=1", role="auditor")
        self.assertEqual(status, 400)
        status, _ = api.get(f"/v1/pending?reason={urllib.parse.quote(plant('Reason'))}", role="auditor")
        self.assertIn(status, (200, 400))
        # The accepted decision, then a cancellation, both with free text.
        status, body = api.request("POST", f"/v1/pending/{pid}/decision",
                                   {"decision": "record", "rationale": f"{name} confirmed: {rationale}"},
                                   role="fcr")
        self.assertEqual(status, 200, body)
        crn = body.get("crn") or self.h.sql_value("SELECT crn FROM crimes WHERE incident_id = %s", (inc,))
        self.assertTrue(crn, body)
        status, body = api.request("POST", f"/v1/crimes/{urllib.parse.quote(crn, safe='')}/cancel",
                                   {"reason": "C4", "rationale": plant("Cancel"),
                                    "victim_informed_at": "2026-03-03T09:00:00Z"}, role="fcr")
        self.assertEqual(status, 200, body)

    def test_refused_database_writes(self):
        """The database refuses a person's decision; its DETAIL would quote the row, rationale
        and all. fcrd logs that the write failed, never the row."""
        inc = uid("LPDB")
        with self.h.feed() as feed:
            reply = feed.request(witness_opened(inc, plant("Fairweather"), plant("Narr"), plant("Ref")))
        self.assertStatus(reply, "accepted")
        pid = reply["pending"][0]["id"]
        rationale = plant("Refused")
        self.h.sql("ALTER TABLE pending_decisions ADD CONSTRAINT it_refuse_close "
                   "CHECK (status <> 'closed' OR id <> %s) NOT VALID", (pid,))
        try:
            status, _ = self.h.api.request("POST", f"/v1/pending/{pid}/decision",
                                           {"decision": "record", "rationale": rationale}, role="fcr")
            self.assertGreaterEqual(status, 500)
            self.assertLogged("it_refuse_close")
        finally:
            self.h.sql("ALTER TABLE pending_decisions DROP CONSTRAINT IF EXISTS it_refuse_close")
        self.assertNotIn("Failing row contains", self.h.log_text())


if __name__ == "__main__":
    harness.main()
