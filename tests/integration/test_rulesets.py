#!/usr/bin/env python3
"""test_rulesets.py: rule sets are governed. The loaded rule set is stored at start-up with the
SHA-256 of its canonical text; GET /v1/rulesets lists the stored ones and GET /v1/rulesets/{sha256}
returns one's text; a SIGHUP to a new version stores it and what is decided after names it; a
changed content under a version already loaded or stored is refused on reload (the old rule set
stays) and at start-up (fcrd does not start); every crime, pending decision, decision and audit
entry names the version and the hash, and `fcrctl audit verify` passes over entries written before
and after the hash was added to their text."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import harness
from harness import DaemonTestCase, assault_opened, event, uid

FCRCTL_BIN = os.environ.get("FCRCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(harness.FCRD_BIN))), "tools", "fcrctl")
SHIPPED = os.path.join(harness.SOURCE_ROOT, "conf", "rules", "hocr-2025.json")

# The rule set fcrd runs with lives in a folder of the test's own, so that it can be rewritten.
_rules_dir = tempfile.mkdtemp(prefix="fcrd-it-rulesets-")
os.chmod(_rules_dir, 0o755)
RULES = os.path.join(_rules_dir, "rules.json")
shutil.copy(SHIPPED, RULES)
os.chmod(RULES, 0o644)


def canonical(doc):
    """The canonical text as docs/rules.md defines it: sorted keys, compact, UTF-8 as it is."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shipped():
    with open(SHIPPED, encoding="utf-8") as f:
        return json.load(f)


def write_rules(doc, indent=None):
    """Replace the running rule set's file at once (a reload never sees half a file)."""
    with open(RULES + ".new", "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=indent)
    os.replace(RULES + ".new", RULES)


NEW_VERSION = "hocr-2025.it-rulesets"


def new_version_doc():
    doc = shipped()
    doc["version"] = NEW_VERSION
    doc["title"] = doc.get("title", "") + " (test revision)"
    return doc


class RulesetsTest(DaemonTestCase):
    """The tests run in name order and build on each other: one daemon, its rule set rewritten."""
    harness_config = {"rules.file": RULES}

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(_rules_dir, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------
    def api_get(self, path, role="auditor"):
        status, body = self.h.api.get(path, role=role)
        self.assertEqual(status, 200, body)
        return body

    def stored(self):
        return {v: s for v, s in self.h.sql("SELECT version, sha256 FROM rulesets")}

    def reload_and_wait(self, needle):
        os.kill(self.h.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        while needle not in self.h.log_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn(needle, self.h.log_text(), "the reload was not logged")

    def crime_hash(self, reply):
        crn = reply["crimes"][0]["crn"]
        return self.h.sql("SELECT ruleset, ruleset_sha256 FROM crimes WHERE crn = %s", (crn,))[0]

    def fcrctl(self, *args):
        e = {k: v for k, v in os.environ.items() if k not in ("FCRD_TOKEN", "FCRD_URL")}
        e["FCRD_TOKEN"] = self.h.tokens["auditor"]
        e["FCRD_URL"] = f"http://127.0.0.1:{self.h.api_port}"
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        return subprocess.run([FCRCTL_BIN, *args], env=e, capture_output=True, text=True, timeout=120)

    # -- start-up --------------------------------------------------------------------------
    def test_a_start_stores_the_loaded_rule_set(self):
        doc = shipped()
        want = canonical(doc)
        rows = self.h.sql("SELECT version, sha256, text, loaded_by FROM rulesets")
        self.assertEqual(len(rows), 1, rows)
        version, digest, text, loaded_by = rows[0]
        self.assertEqual(version, doc["version"])
        self.assertEqual(text, want, "the stored text is the canonical text")
        self.assertEqual(digest, sha256(want))
        self.assertTrue(loaded_by)
        self.assertIn(f"rule set {version}, sha256 {digest}: stored now", self.h.log_text())
        # The table refuses a hash that is not of its text, and any change.
        with self.assertRaises(Exception):
            self.h.sql("INSERT INTO rulesets (version, sha256, text) VALUES ('x', %s, 'y')", ("0" * 64,))
        with self.assertRaises(Exception):
            self.h.sql("UPDATE rulesets SET loaded_by = 'someone else'")

    def test_b_api_lists_and_returns_rule_sets(self):
        doc = shipped()
        digest = sha256(canonical(doc))
        listing = self.api_get("/v1/rulesets")
        self.assertEqual(listing["loaded"], {"version": doc["version"], "sha256": digest})
        self.assertEqual([(i["version"], i["sha256"], i["loaded"]) for i in listing["items"]],
                         [(doc["version"], digest, True)])
        self.assertRegex(listing["items"][0]["loaded_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        one = self.api_get(f"/v1/rulesets/{digest}", role="supervisor")
        self.assertEqual((one["version"], one["sha256"], one["loaded"]), (doc["version"], digest, True))
        self.assertEqual(sha256(one["text"]), digest, "the text is what the hash is of")
        self.assertEqual(sha256(canonical(one["document"])), digest)
        self.assertEqual(one["document"], doc)
        for path in (f"/v1/rulesets/{'0' * 64}", "/v1/rulesets/not-a-hash", f"/v1/rulesets/{digest.upper()}"):
            status, body = self.h.api.get(path, role="auditor")
            self.assertEqual((status, body["error"]["code"]), (404, "not_found"), path)
        self.assertEqual(self.h.api.get("/v1/rulesets", role="ops")[0], 403)
        self.assertEqual(self.h.api.get(f"/v1/rulesets/{digest}")[0], 401)

    def test_c_decisions_name_version_and_hash(self):
        doc = shipped()
        digest = sha256(canonical(doc))
        inc = uid("RS")
        reply = self.send_accepted(assault_opened(inc))[0]
        self.assertEqual(reply["rules"], doc["version"])
        self.assertNotIn("ruleset_sha256", json.dumps(reply), "the feed's reply is unchanged")
        self.assertEqual(self.crime_hash(reply), (doc["version"], digest))
        state = json.loads(self.h.sql_value("SELECT state::text FROM incidents WHERE incident_id = %s", (inc,)))
        for d in state["decisions"].values():
            self.assertEqual((d["ruleset"], d["ruleset_sha256"]), (doc["version"], digest), d)
        for c in state["crimes"]:
            self.assertEqual((c["ruleset"], c["ruleset_sha256"]), (doc["version"], digest), c)
        entries = self.h.sql("SELECT ruleset, ruleset_sha256, entry FROM audit WHERE incident_id = %s", (inc,))
        self.assertTrue(entries)
        for version, h, entry in entries:
            self.assertEqual((version, h), (doc["version"], digest))
            self.assertEqual(json.loads(entry)["ruleset_sha256"], digest, "the hash is in the hashed text")
        status, trail = self.h.api.get(f"/v1/audit?incident_id={inc}", role="auditor")
        self.assertEqual({e["ruleset_sha256"] for e in trail["items"]}, {digest})

    # -- reloads ---------------------------------------------------------------------------
    def test_d_reload_to_a_new_version_stores_it(self):
        doc = new_version_doc()
        digest = sha256(canonical(doc))
        write_rules(doc, indent=2)
        self.reload_and_wait(f"-> {NEW_VERSION} (sha256 {digest})")
        inc = uid("RS-NEW")
        reply = self.send_accepted(assault_opened(inc))[0]
        self.assertEqual(reply["rules"], NEW_VERSION)
        self.assertEqual(self.crime_hash(reply), (NEW_VERSION, digest))
        self.assertEqual(self.stored().get(NEW_VERSION), digest, "stored with the first batch it decided")
        listing = self.api_get("/v1/rulesets")
        self.assertEqual(listing["loaded"], {"version": NEW_VERSION, "sha256": digest})
        self.assertEqual({i["version"]: i["loaded"] for i in listing["items"]},
                         {shipped()["version"]: False, NEW_VERSION: True})
        # A person's decision names the loaded rule set too.
        crn = reply["crimes"][0]["crn"]
        status, body = self.h.api.request("POST", f"/v1/crimes/{urllib.parse.quote(crn, safe='')}/cancel",
                                          {"reason": "C2", "rationale": "footage", "avi": "CCTV 17"}, role="ddm")
        self.assertEqual(status, 200, body)
        rows = self.h.sql("SELECT ruleset, ruleset_sha256 FROM audit WHERE crn = %s AND actor <> 'rules'", (crn,))
        self.assertEqual(set(rows), {(NEW_VERSION, digest)})

    def test_e_reload_changing_a_loaded_version_is_refused(self):
        digest = sha256(canonical(new_version_doc()))
        doc = new_version_doc()
        doc["title"] += ", edited without a new version"
        changed = sha256(canonical(doc))
        write_rules(doc)
        self.reload_and_wait(f"is loaded with sha256 {digest}, but this file's content has sha256 {changed}")
        self.assertIn("nothing was changed", self.h.log_text())
        reply = self.send_accepted(assault_opened(uid("RS-KEPT")))[0]
        self.assertEqual(reply["rules"], NEW_VERSION)
        self.assertEqual(self.crime_hash(reply), (NEW_VERSION, digest), "the old rule set stays")
        self.assertNotIn(changed, self.stored().values())

    def test_f_reload_changing_a_stored_version_is_refused(self):
        """The version that was loaded before: known from start-up, no longer the running one."""
        old = shipped()
        old_digest = sha256(canonical(old))
        old["title"] = old.get("title", "") + " (edited)"
        changed = sha256(canonical(old))
        write_rules(old)
        self.reload_and_wait(f"already stored with sha256 {old_digest}, but this file's content has sha256 {changed}")
        reply = self.send_accepted(assault_opened(uid("RS-KEPT2")))[0]
        self.assertEqual(self.crime_hash(reply)[0], NEW_VERSION)
        self.assertNotIn(changed, self.stored().values())

    def test_fb_a_version_another_instance_stored_meanwhile_is_not_recorded(self):
        """Another instance stores other content under a version this one then loads: the reload
        cannot know (it does not wait for the database), but the batch that would store it is
        refused, so nothing decided with it is recorded; a reload to a proper version recovers."""
        race = shipped()
        race["version"] = "hocr-2025.it-race"
        theirs = dict(race, title="another instance's edit")
        text = canonical(theirs)
        self.h.sql("INSERT INTO rulesets (version, sha256, text, loaded_by) VALUES (%s, %s, %s, 'elsewhere')",
                   (race["version"], sha256(text), text))
        write_rules(race)
        self.reload_and_wait(f"-> {race['version']}")
        with self.h.feed() as feed:
            reply = feed.request(assault_opened(uid("RS-RACE")))
        self.assertStatus(reply, "retry")
        self.assertIn(f"rule set {race['version']} (sha256 {sha256(canonical(race))}) cannot be stored",
                      self.h.log_text())
        self.assertEqual(self.stored()[race["version"]], sha256(text))
        write_rules(new_version_doc())
        self.reload_and_wait(f"{race['version']} -> {NEW_VERSION}")
        reply = self.send_accepted(assault_opened(uid("RS-BACK")))[0]
        self.assertEqual(self.crime_hash(reply), (NEW_VERSION, sha256(canonical(new_version_doc()))))

    def test_g_every_row_names_version_and_hash(self):
        # Also a pending decision: a third party's report waits for the victim's word.
        pend = event(uid("RS-PD"), 1, "incident.opened", reported_by="w1", channel="emergency_call",
                     persons=[{"id": "w1", "role": "witness"}, {"id": "v1", "role": "victim"}],
                     allegations=[{"id": "a1", "victim": "v1", "conduct": "assault.injury",
                                   "occurred_at": "2026-03-02T10:00:00Z",
                                   "location": {"force_area": "own", "premises": "public_place"}}])
        self.send_accepted(pend)
        self.assertGreater(self.h.sql_value("SELECT count(*) FROM pending_decisions"), 0)
        # (The database's own entries for changed rows, role 'database', decide nothing: they name
        # no rule set.)
        for table, only in (("crimes", ""), ("pending_decisions", ""), ("audit", " AND t.role <> 'database'")):
            missing = self.h.sql_value(f"SELECT count(*) FROM {table} t WHERE (t.ruleset IS NULL OR NOT EXISTS"
                                       " (SELECT 1 FROM rulesets r WHERE r.version = t.ruleset"
                                       "  AND r.sha256 = t.ruleset_sha256))" + only)
            self.assertEqual(missing, 0, f"{table} rows that do not name a stored rule set")
        for state, in self.h.sql("SELECT state::text FROM incidents WHERE state IS NOT NULL"):
            s = json.loads(state)
            for d in s["decisions"].values():
                self.assertIn("ruleset_sha256", d)
            for p in s["pending"]:
                self.assertIn("ruleset_sha256", p)

    def test_h_audit_verify_passes_over_old_and_new_entries(self):
        # An entry as an fcrd of the previous version wrote it: 14 fields, no hash in its text.
        fields = {"action": "incident.noted", "actor": "rules", "after": None, "allegation": None,
                  "at": "2026-03-02T10:00:00.000Z", "before": None, "crn": None, "event_id": "E-OLD",
                  "incident_id": "INC-OLD", "pending_id": None, "role": "rules", "rules": [],
                  "ruleset": "hocr-2024.9"}
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        columns = [fields["at"], "INC-OLD", "", "", "", "E-OLD", "rules", "rules", "incident.noted",
                   "null", "null", "{}", "hocr-2024.9"]
        self.h.sql("SELECT audit_append(%s, 1)", ("\t".join([text, *columns]) + "\n",))
        self.assertIsNone(self.h.sql_value("SELECT ruleset_sha256 FROM audit WHERE event_id = 'E-OLD'"))
        self.send_accepted(assault_opened(uid("RS-LAST")))
        r = self.fcrctl("audit", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        total = self.h.sql_value("SELECT count(*) FROM audit")
        self.assertIn(f"audit chain OK: {total} entries", r.stdout)
        # The hash column is checked against the hashed text like any other.
        self.h.sql("ALTER TABLE audit DISABLE TRIGGER audit_no_update_delete")
        try:
            self.h.sql("UPDATE audit SET ruleset_sha256 = %s WHERE event_id = 'E-OLD'", ("f" * 64,))
            r = self.fcrctl("audit", "verify")
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("ruleset_sha256", r.stdout + r.stderr)
        finally:
            self.h.sql("UPDATE audit SET ruleset_sha256 = NULL WHERE event_id = 'E-OLD'")
            self.h.sql("ALTER TABLE audit ENABLE TRIGGER audit_no_update_delete")
        r = self.fcrctl("audit", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    # -- restart ---------------------------------------------------------------------------
    def test_i_restart_with_a_changed_stored_version_refuses_to_start(self):
        doc = new_version_doc()
        digest = sha256(canonical(doc))
        doc["title"] += ", edited before a restart"
        changed = sha256(canonical(doc))
        write_rules(doc)
        before = self.stored()
        problems = self.h.stop_fcrd()
        self.assertEqual(problems, [])
        with self.assertRaises(RuntimeError) as ctx:
            self.h.start_fcrd(timeout=30)
        message = str(ctx.exception)
        self.assertIn(f"rule set version {NEW_VERSION} is already stored with sha256 {digest}", message)
        self.assertIn(f"this file's content has sha256 {changed}", message)
        self.assertNotIn(changed, self.stored().values())
        # With the stored content back, it starts, and nothing new is stored.
        write_rules(new_version_doc(), indent=4)
        self.h.start_fcrd()
        self.assertIn(f"rule set {NEW_VERSION}, sha256 {digest}: stored already", self.h.log_text())
        self.assertEqual(self.stored(), before)


if __name__ == "__main__":
    harness.main()
