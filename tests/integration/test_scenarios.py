#!/usr/bin/env python3
"""test_scenarios.py: every worked case of $FCRD_SHARED_DIR/scenarios/cases.json through the real
feed and the real daemon, one test method per case, checked as the cases' README defines.

Adding a case to cases.json needs no code here. Supervisor `actions` are made through the API
right after their event (and that event's checkpoints); each must get its `expect_status`. With
FCRD_SCENARIO_ACTIONS=0 they are left out: such cases are then checked only up to their first
action and reported as PARTIAL. One line per case goes to stdout: PASS, PARTIAL or FAIL with the
problems found, printed together once all cases have run.

Each event is checked against proto/feed-event.schema.json before it is sent, and each reply
against proto/feed-reply.schema.json. Without cases.json the one test skips, or fails with CI=true;
MissingCasesTest checks that, and the same of the unit test of the cases, on an empty folder.

Cases normally run with their ids as written. Should two cases use the same incident or event
id, the later case gets its ids prefixed consistently (events, links and expectations), so that
one shared database cannot make cases interfere.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import harness
from harness import SHARED_DIR, DaemonTestCase, schema_errors

CASES_PATH = os.path.join(SHARED_DIR, "scenarios", "cases.json")
# Supervisor actions go through the API's write endpoints. FCRD_SCENARIO_ACTIONS=0 leaves them
# out: cases then stop at their first action and are reported PARTIAL.
RUN_ACTIONS = os.environ.get("FCRD_SCENARIO_ACTIONS", "1") != "0"
EXPECT_KEYS = {"crimes", "pending", "flags", "flags_absent", "decisions", "checkpoints", "replies", "notes"}
STATE_KEYS = {"crimes", "pending", "flags", "flags_absent", "decisions"}


def load_cases():
    if not os.path.isfile(CASES_PATH):
        return None
    with open(CASES_PATH, encoding="utf-8") as f:
        data = json.load(f)
    return data["cases"] if isinstance(data, dict) else data


def fmt(items):
    return json.dumps(items, sort_keys=True, separators=(",", ":"))


def value_matches(expected, actual):
    """A list in an expectation means "any of these"."""
    return actual in expected if isinstance(expected, list) else actual == expected


class Run:
    """One case in flight: the id mapping, the replies so far, and the problems found."""

    def __init__(self, case, rename):
        self.case = case
        self.rename = rename          # original incident/event id -> id sent
        self.replies = []             # replies to events 1..n
        self.incidents = []           # incident ids sent, in order of first appearance
        self.problems = []
        self.unchecked = set()

    def inc(self, incident_id):
        return self.rename.get(incident_id, incident_id)

    def problem(self, where, text):
        self.problems.append(f"{where}: {text}")

    # -- sending ---------------------------------------------------------------------------
    def event_as_sent(self, ev):
        ev = json.loads(json.dumps(ev))
        ev["event_id"] = self.rename.get(ev.get("event_id"), ev.get("event_id"))
        ev["incident_id"] = self.inc(ev.get("incident_id"))
        for link in ev.get("links") or []:
            if isinstance(link, dict) and "incident_id" in link:
                link["incident_id"] = self.inc(link["incident_id"])
        return ev

    # -- state from the API ----------------------------------------------------------------
    def views(self, api):
        out = {}
        for incident_id in self.incidents:
            status, body = api.get(f"/v1/incidents/{incident_id}", role="auditor")
            if status != 200 or not isinstance(body, dict):
                self.problem("GET", f"/v1/incidents/{incident_id} gave {status}: {str(body)[:200]}")
                continue
            out[incident_id] = body
        return out

    @staticmethod
    def live_crimes(views):
        return [dict(c, incident_id=iid) for iid, v in views.items() for c in v.get("crimes") or []
                if c.get("status") == "recorded"]

    def crns_replied(self, upto):
        return {c.get("crn") for r in self.replies[:upto] for c in r.get("crimes") or []}

    # -- the checks ------------------------------------------------------------------------
    def check_crimes(self, where, expected, actual):
        """The complete multiset of live crimes; `after_event: k` means the crime's CRN was in
        the replies to events 1..k."""

        def fits(e, a):
            if e.get("victim") != a.get("victim") or e.get("offence") != a.get("offence"):
                return False
            if "incident_id" in e and self.inc(e["incident_id"]) != a["incident_id"]:
                return False
            if "after_event" in e and a.get("crn") not in self.crns_replied(e["after_event"]):
                return False
            return True

        def assign(i, free):
            if i == len(expected):
                return True
            return any(fits(expected[i], actual[j]) and assign(i + 1, free - {j}) for j in sorted(free))

        if len(expected) == len(actual) and assign(0, frozenset(range(len(actual)))):
            return
        got = [{k: a.get(k) for k in ("victim", "offence", "crn", "incident_id")} for a in actual]
        self.problem(where, f"crimes expected {fmt(expected)}, got {fmt(got)}")

    def check_pending(self, where, expected, views):
        open_items = [p for v in views.values() for p in v.get("pending") or []]
        reasons = sorted(p.get("reason") for p in open_items)
        if expected is True and not open_items:
            self.problem(where, "a pending decision should be open, none is")
        elif expected is False and open_items:
            self.problem(where, f"no pending decision should be open, open: {reasons}")
        elif isinstance(expected, list):
            if not open_items or any(r not in expected for r in reasons):
                self.problem(where, f"pending reasons expected from {expected}, open: {reasons}")

    def check_flags(self, where, expected, crimes, present):
        for victim, flags in expected.items():
            theirs = [c for c in crimes if c.get("victim") == victim]
            if present and not theirs:
                self.problem(where, f"flags {flags} expected on {victim}'s crimes, but {victim} has none")
            for c in theirs:
                have = set(c.get("flags") or [])
                wrong = [f for f in flags if (f in have) != present]
                if wrong:
                    self.problem(where, f"{victim}'s crime {c.get('offence')} {c.get('crn')} "
                                        f"{'lacks' if present else 'carries'} {wrong} (flags {sorted(have)})")

    def check_decisions(self, where, expected, decisions_by_incident):
        """decisions_by_incident: incident id -> list of decisions, later ones win."""
        for e in expected:
            allegation = e.get("allegation")
            if "incident_id" in e:
                candidates = [self.inc(e["incident_id"])]
            else:
                candidates = [i for i in self.incidents
                              if any(d.get("allegation") == allegation for d in decisions_by_incident.get(i, []))]
            if not candidates:
                self.problem(where, f"no decision for allegation {allegation}")
                continue
            latest = None
            for d in decisions_by_incident.get(candidates[0], []):
                if d.get("allegation") == allegation:
                    latest = d
            wrong = [k for k, v in e.items() if k not in ("allegation", "incident_id")
                     and not value_matches(v, (latest or {}).get(k))]
            if latest is None or wrong:
                self.problem(where, f"decision for {allegation} expected {fmt(e)}, got {fmt(latest)}")

    def check_state(self, where, expect, views):
        crimes = self.live_crimes(views)
        if "crimes" in expect:
            self.check_crimes(where, expect["crimes"], crimes)
        if expect.get("pending") is not None:
            self.check_pending(where, expect["pending"], views)
        if expect.get("flags"):
            self.check_flags(where, expect["flags"], crimes, True)
        if expect.get("flags_absent"):
            self.check_flags(where, expect["flags_absent"], crimes, False)
        if "decisions" in expect:
            self.check_decisions(where, expect["decisions"],
                                 {i: v.get("decisions") or [] for i, v in views.items()})

    def do_action(self, api, action):
        """One supervisor API call; {crn-of:P} / {crn-of:P:CODE} in the path is the CRN of
        victim P's live crime (with that offence)."""
        where = f"action after event {action.get('after_event')}"
        path = action.get("path", "")
        for m in re.finditer(r"\{crn-of:([^}:]+)(?::([^}]+))?\}", path):
            victim, offence = m.group(1), m.group(2)
            crns = [c.get("crn") for c in self.live_crimes(self.views(api))
                    if c.get("victim") == victim and offence in (None, c.get("offence"))]
            if len(crns) != 1:
                self.problem(where, f"{m.group(0)} names {len(crns)} live crimes")
                return
            path = path.replace(m.group(0), crns[0])
        role = action.get("role")
        if role not in api.tokens:
            self.problem(where, f"no token for role {role!r}")
            return
        status, body = api.request(action.get("method", "GET"), path, action.get("body"), role=role)
        if status != action.get("expect_status"):
            self.problem(where, f"{action.get('method')} {path} as {role} gave {status}, "
                                f"expected {action.get('expect_status')}: {str(body)[:200]}")

    def check_reply(self, spec):
        n = spec.get("event")
        where = f"reply {n}"
        if not isinstance(n, int) or not 1 <= n <= len(self.replies):
            self.problem(where, "names no event that was sent")
            return
        reply = self.replies[n - 1]
        got = reply.get("crimes") or []
        for e in spec.get("crimes") or []:
            def fits(c, e=e):
                if any(k in e and c.get(k) != e[k] for k in ("victim", "offence", "action")):
                    return False
                if "same_crn_as_event" in e:
                    m = e["same_crn_as_event"]
                    earlier = self.replies[m - 1].get("crimes") or [] if 1 <= m <= len(self.replies) else []
                    same_victim = [x for x in earlier if x.get("victim") == c.get("victim")] or earlier
                    return c.get("crn") in {x.get("crn") for x in same_victim}
                return True
            if not any(fits(c) for c in got):
                self.problem(where, f"expected a crime {fmt(e)}, got {fmt(got)}")
        if "decisions" in spec:
            self.check_decisions(where, spec["decisions"], {self.inc(reply.get("incident_id")):
                                                            reply.get("decisions") or []})
        if "pending" in spec:
            self.check_pending(where, spec["pending"], {"reply": {"pending": reply.get("pending") or []}})
        self.unchecked |= set(spec) - {"event", "crimes", "decisions", "pending"}


class ScenarioTest(DaemonTestCase):
    """Cases share one daemon and database; each case uses its own incident ids."""

    used_ids = set()
    lines = []  # one result line per case, printed together at the end

    @classmethod
    def setUpClass(cls):
        if CASES is not None:  # without cases the one test skips; no daemon is needed
            super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        if cls.lines:
            kinds = [line.split(" ", 1)[0] for line in cls.lines]
            print(f"\nScenario cases from {CASES_PATH}:")
            for line in cls.lines:
                print(f"  {line}")
            print(f"scenarios: {kinds.count('PASS')} passed, {kinds.count('PARTIAL')} partial, "
                  f"{kinds.count('FAIL')} failed", flush=True)
        super().tearDownClass()

    def rename_for(self, case):
        ids = set()
        for ev in case.get("events") or []:
            ids.add(ev.get("incident_id"))
            ids.add(ev.get("event_id"))
            ids.update(link.get("incident_id") for link in ev.get("links") or [] if isinstance(link, dict))
        ids.discard(None)
        rename = {}
        if ids & self.used_ids:
            n = 2
            while any(f"R{n}-{i}" in self.used_ids for i in ids):
                n += 1
            rename = {i: f"R{n}-{i}" for i in ids}
        self.used_ids.update(rename.get(i, i) for i in ids)
        return rename

    def run_case(self, case):
        run = Run(case, self.rename_for(case))
        events = case.get("events") or []
        expect = case.get("expect") or {}
        actions = case.get("actions") or []
        if RUN_ACTIONS:
            first_action = None
        else:
            first_action = min((a.get("after_event", len(events)) for a in actions), default=None)
        limit = min(first_action, len(events)) if first_action is not None else len(events)
        actions_after = {}
        for a in actions if RUN_ACTIONS else []:
            actions_after.setdefault(a.get("after_event"), []).append(a)
        checkpoints = {}
        for cp in expect.get("checkpoints") or []:
            checkpoints.setdefault(cp.get("after_event"), []).append(cp)
        run.unchecked |= set(expect) - EXPECT_KEYS
        for cp in expect.get("checkpoints") or []:
            run.unchecked |= set(cp) - STATE_KEYS - {"after_event"}

        with self.h.feed() as feed:
            for k, ev in enumerate(events[:limit], 1):
                for p in schema_errors("feed-event", ev):
                    run.problem(f"event {k}", f"not a valid feed-event: {p}")
                sent = run.event_as_sent(ev)
                reply = feed.request(sent)
                run.replies.append(reply)
                for p in schema_errors("feed-reply", reply):
                    run.problem(f"reply {k}", f"not a valid feed-reply: {p}")
                if sent["incident_id"] not in run.incidents:
                    run.incidents.append(sent["incident_id"])
                if reply.get("status") != "accepted":
                    run.problem(f"event {k}", f"answered {reply.get('status')}, not accepted: "
                                              f"{fmt(reply.get('error'))}")
                    break
                for cp in checkpoints.get(k, []):
                    run.check_state(f"after event {k}", cp, run.views(self.h.api))
                for action in actions_after.get(k, []):
                    run.do_action(self.h.api, action)

        if not run.problems:
            for spec in expect.get("replies") or []:
                if spec.get("event", 0) <= limit:
                    run.check_reply(spec)
            if first_action is None:
                run.check_state("at the end", {k: v for k, v in expect.items() if k in STATE_KEYS},
                                run.views(self.h.api))

        cid = case.get("id", "?")
        note = f" (not checked: {', '.join(sorted(run.unchecked))})" if run.unchecked else ""
        if run.problems:
            line = f"FAIL {cid}: " + "; ".join(run.problems)
        elif first_action is not None:
            skipped = sum(1 for cp in expect.get("checkpoints") or [] if cp.get("after_event", 0) > limit)
            line = (f"PARTIAL {cid}: checked up to event {limit}; {len(actions)} supervisor action(s) "
                    f"and the expectations after them not run yet"
                    + (f" ({skipped} later checkpoint(s))" if skipped else ""))
        else:
            line = f"PASS {cid}"
        self.lines.append(f"{line}{note}")
        if run.problems:
            self.fail(f"{cid} ({case.get('oracle', '?')} oracle): " + "; ".join(run.problems))


def _method_name(case_id, taken):
    base = "test_case_" + re.sub(r"\W+", "_", str(case_id)).strip("_").lower()
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


CASES = load_cases()
if CASES is not None:
    for _case in CASES:
        _name = _method_name(_case.get("id"), vars(ScenarioTest))
        setattr(ScenarioTest, _name, (lambda c: lambda self: self.run_case(c))(_case))
else:
    def test_cases_present(self):
        harness.shared_missing(self, CASES_PATH)
    ScenarioTest.test_cases_present = test_cases_present


class MissingCasesTest(unittest.TestCase):
    """Without the worked cases both runners of them skip, naming the file they looked for; with
    CI=true both fail instead, so a CI run cannot pass with the cases silently left out."""

    def run_without_cases(self, argv, ci):
        with tempfile.TemporaryDirectory(prefix="fcrd-no-shared-") as empty:
            env = {k: v for k, v in os.environ.items() if k != "CI"}
            env["FCRD_SHARED_DIR"] = empty
            if ci:
                env["CI"] = "true"
            r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
            return r.returncode, r.stdout + r.stderr, os.path.join(empty, "scenarios", "cases.json")

    def unit_binary(self):
        path = os.environ.get("FCRD_UNIT_SCENARIOS") or os.path.join(
            os.path.dirname(os.path.dirname(harness.FCRD_BIN)), "tests", "test_scenarios")
        if not os.access(path, os.X_OK):
            self.fail(f"no unit test binary at {path} (set FCRD_UNIT_SCENARIOS)")
        return path

    def test_unit_skips_outside_ci(self):
        rc, out, path = self.run_without_cases([self.unit_binary()], ci=False)
        self.assertEqual(rc, 77, out)  # meson's "skipped"
        self.assertIn(path, out)

    def test_unit_fails_in_ci(self):
        rc, out, path = self.run_without_cases([self.unit_binary()], ci=True)
        self.assertNotIn(rc, (0, 77), out)
        self.assertIn(path, out)
        self.assertIn("CI=true", out)

    def test_integration_skips_outside_ci(self):
        rc, out, path = self.run_without_cases([sys.executable, os.path.abspath(__file__), "ScenarioTest"], ci=False)
        self.assertEqual(rc, 0, out)
        self.assertIn("fcrd-integration: 0 passed, 0 failed, 1 skipped", out)
        self.assertIn(path, out)

    def test_integration_fails_in_ci(self):
        rc, out, path = self.run_without_cases([sys.executable, os.path.abspath(__file__), "ScenarioTest"], ci=True)
        self.assertEqual(rc, 1, out)
        self.assertIn("fcrd-integration: 0 passed, 1 failed, 0 skipped", out)
        self.assertIn(path, out)
        self.assertIn("CI=true", out)


if __name__ == "__main__":
    harness.main()
