#!/usr/bin/env python3
"""check_alerts.py: what promtool does not check in conf/monitoring/fcrd-alerts.yml.

Usage: check_alerts.py [RULES.yml [TESTS.yml [OPERATIONS.md]]]

Every rule is an alert with a severity label (critical, warning or info) and the annotations
summary, description and runbook; the runbook names a section of docs/operations.md that exists;
the expression and the description name only metrics fcrd exports (or the documented future
ones); and the promtool unit tests hold, for every alert, a case where it fires (for each of its
severities) and one where it does not. Then the same checks run on broken copies, each of which
must be refused. Exit status 0 when all is well. Needs PyYAML (Debian: python3-yaml)."""
import copy
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metric_names  # noqa: E402

try:
    import yaml
except ImportError:
    yaml = None

ROOT = metric_names.SOURCE_ROOT
SEVERITIES = {"critical", "warning", "info"}
ANNOTATIONS = ("summary", "description", "runbook")


def heading_anchors(markdown):
    """The anchors GitHub gives the headings of a Markdown text."""
    anchors = set()
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def check(rules, tests, anchors, known, families):
    problems = []
    alerts = {}  # name -> set of severities
    for group in (rules or {}).get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert")
            if not name:
                problems.append(f"group {group.get('name')}: a rule that is not an alert ({rule.get('record')})")
                continue
            sev = (rule.get("labels") or {}).get("severity")
            if sev not in SEVERITIES:
                problems.append(f"{name}: severity {sev!r}, expected one of {sorted(SEVERITIES)}")
            ann = rule.get("annotations") or {}
            for key in ANNOTATIONS:
                if not str(ann.get(key) or "").strip():
                    problems.append(f"{name}: no {key} annotation")
            runbook = str(ann.get("runbook") or "")
            m = re.fullmatch(r"docs/operations\.md#([\w-]+)", runbook)
            if runbook and (not m or m.group(1) not in anchors):
                problems.append(f"{name}: runbook {runbook!r} is not a section of docs/operations.md")
            for name_used in sorted(metric_names.expr_names(str(rule.get("expr") or "")) - known):
                problems.append(f"{name}: expr reads {name_used}, which fcrd does not export")
            if not metric_names.expr_names(str(rule.get("expr") or "")):
                problems.append(f"{name}: expr reads no metric")
            for name_used in sorted(metric_names.text_names(str(ann.get("description") or "")) - known - families):
                problems.append(f"{name}: description names {name_used}, which fcrd does not export")
            alerts.setdefault(name, set()).add(sev)
    if not alerts:
        problems.append("no alerts")

    firing, silent = {}, set()
    for case in (tests or {}).get("tests") or []:
        for t in case.get("alert_rule_test") or []:
            name = t.get("alertname")
            exp = t.get("exp_alerts") or []
            if not exp:
                silent.add(name)
            for e in exp:
                firing.setdefault(name, set()).add((e.get("exp_labels") or {}).get("severity"))
    if "fcrd-alerts.yml" not in [os.path.basename(str(f)) for f in (tests or {}).get("rule_files") or []]:
        problems.append("the unit tests do not load fcrd-alerts.yml")
    for name, sevs in sorted(alerts.items()):
        for sev in sorted(s for s in sevs if s):
            if sev not in firing.get(name, set()):
                problems.append(f"{name}: no unit test where it fires with severity {sev}")
        if name not in silent:
            problems.append(f"{name}: no unit test where it does not fire")
    for name in sorted(set(firing) | silent):
        if name not in alerts:
            problems.append(f"the unit tests test {name}, which is not an alert")
    return problems


def broken_copies(rules, tests):
    """(what, rules, tests) triples, each broken in one way the check must notice."""
    def first(r):
        return r["groups"][0]["rules"][0]

    out = []
    r = copy.deepcopy(rules)
    first(r)["expr"] = "fcrd_db_upp == 0"
    out.append(("a misspelt metric", r, tests))
    r = copy.deepcopy(rules)
    del first(r)["labels"]["severity"]
    out.append(("a missing severity", r, tests))
    r = copy.deepcopy(rules)
    first(r)["annotations"]["runbook"] = "docs/operations.md#no-such-section"
    out.append(("a runbook pointing nowhere", r, tests))
    r = copy.deepcopy(rules)
    del first(r)["annotations"]["description"]
    out.append(("a missing description", r, tests))
    r = copy.deepcopy(rules)
    r["groups"][0]["rules"].append(dict(first(r), alert="FcrdUntested"))
    out.append(("an alert without tests", r, tests))
    t = copy.deepcopy(tests)
    target = first(rules)["alert"]
    for case in t["tests"]:
        case["alert_rule_test"] = [a for a in case.get("alert_rule_test") or []
                                   if a.get("alertname") != target or a.get("exp_alerts")]
    out.append(("an alert never tested silent", rules, t))
    return out


def main(argv):
    if yaml is None:
        print("check_alerts: PyYAML is not installed (Debian: python3-yaml)")
        return 1
    mon = os.path.join(ROOT, "conf", "monitoring")
    paths = [os.path.join(mon, "fcrd-alerts.yml"), os.path.join(mon, "fcrd-alerts.test.yml"),
             os.path.join(ROOT, "docs", "operations.md")]
    paths[:len(argv) - 1] = argv[1:4]
    try:
        with open(paths[0], encoding="utf-8") as f:
            rules = yaml.safe_load(f)
        with open(paths[1], encoding="utf-8") as f:
            tests = yaml.safe_load(f)
        with open(paths[2], encoding="utf-8") as f:
            anchors = heading_anchors(f.read())
    except (OSError, yaml.YAMLError) as e:
        print(f"check_alerts: {e}")
        return 1
    known = metric_names.known_names()
    families = set(metric_names.exported()) | set(metric_names.FUTURE)
    problems = check(rules, tests, anchors, known, families)
    for p in problems:
        print(f"{paths[0]}: {p}")
    missed = []
    if not problems:
        for what, r, t in broken_copies(rules, tests):
            if not check(r, t, anchors, known, families):
                missed.append(what)
        for what in missed:
            print(f"check_alerts: the check did not notice {what}")
    n = sum(len(g.get("rules") or []) for g in (rules or {}).get("groups") or [])
    print(f"{paths[0]}: {n} alerting rules, {len(problems)} problem(s)"
          + (f", {len(missed)} blind spot(s)" if missed else ""))
    return 1 if problems or missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
