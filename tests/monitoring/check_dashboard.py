#!/usr/bin/env python3
"""check_dashboard.py: conf/monitoring/fcrd-dashboard.json is a well-formed Grafana dashboard whose
queries name only metrics fcrd exports (or the documented future ones, metric_names.FUTURE).

Usage: check_dashboard.py [DASHBOARD.json]

Checked: valid JSON; a schemaVersion Grafana 9/10 reads (36-39); a title and uid; a data source
variable of type prometheus that every panel and query uses; unique panel ids; panels inside the
24-column grid and not overlapping; every query has a refId (unique in its panel) and an expression
whose metric names fcrd exports; the panels the operations guide promises are there. Then the
same checks are run on broken copies of the dashboard, each of which must be refused, so that a
check that silently passes everything is noticed. Exit status 0 when all is well."""
import copy
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metric_names  # noqa: E402

DEFAULT = os.path.join(metric_names.SOURCE_ROOT, "conf", "monitoring", "fcrd-dashboard.json")

# The figures the dashboard must show (docs/operations.md, Monitoring): each name must be read by
# some query.
REQUIRED = [
    "fcrd_events_received_total", "fcrd_events_accepted_total", "fcrd_events_rejected_total",
    "fcrd_events_retry_total", "fcrd_events_duplicate_total", "fcrd_event_ack_seconds_bucket",
    "fcrd_store_backlog", "fcrd_feed_inflight", "fcrd_store_batch_size_bucket",
    "fcrd_store_commit_seconds_bucket", "fcrd_pending_open", "fcrd_pending_overdue",
    "fcrd_crimes_recorded", "fcrd_db_up", "fcrd_db_read_only", "fcrd_db_reconnects_total",
    "fcrd_feed_connections", "fcrd_api_auth_failures_total",
    "fcrd_audit_checkpoint_last_success_timestamp_seconds",
]


def panels_of(dash):
    """Every panel, those nested in collapsed rows included."""
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out += p.get("panels", []) if p.get("type") == "row" else []
    return out


def datasource_variable(dash):
    for v in (dash.get("templating") or {}).get("list", []):
        if v.get("type") == "datasource":
            return v
    return None


def uses_variable(ds, var):
    """A panel's or query's datasource names the variable: {"uid": "${var}"} or "$var"."""
    if isinstance(ds, str):
        return ds in (f"${var}", f"${{{var}}}")
    return isinstance(ds, dict) and ds.get("type") == "prometheus" and ds.get("uid") in (f"${var}", f"${{{var}}}")


def check(dash, known):
    """Problems found in a parsed dashboard (an empty list when there are none)."""
    problems = []
    if not isinstance(dash, dict):
        return ["the top level is not an object"]
    sv = dash.get("schemaVersion")
    if not isinstance(sv, int) or not 36 <= sv <= 39:
        problems.append(f"schemaVersion {sv!r}: expected 36-39 (Grafana 9 and 10)")
    for key in ("title", "uid"):
        if not isinstance(dash.get(key), str) or not dash[key]:
            problems.append(f"no {key}")
    var = datasource_variable(dash)
    if var is None or var.get("query") != "prometheus":
        problems.append("no data source variable of type prometheus in templating.list")
        var_name = None
    else:
        var_name = var.get("name")
    for v in (dash.get("templating") or {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            expr = q.get("query") if isinstance(q, dict) else q
            for name in sorted(metric_names.expr_names(expr or "") - known):
                problems.append(f"variable {v.get('name')}: {name} is not a metric fcrd exports")
            if var_name and not uses_variable(v.get("datasource"), var_name):
                problems.append(f"variable {v.get('name')}: does not use the data source variable")

    ids, cells, used = set(), {}, set()
    for p in panels_of(dash):
        title = p.get("title") or "(untitled)"
        pid = p.get("id")
        if not isinstance(pid, int):
            problems.append(f"panel {title!r}: no integer id")
        elif pid in ids:
            problems.append(f"panel {title!r}: id {pid} used twice")
        ids.add(pid)
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")):
            problems.append(f"panel {title!r}: gridPos needs integers x, y, w, h")
        elif g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24 or g["h"] < 1 or g["y"] < 0:
            problems.append(f"panel {title!r}: gridPos {g} is outside the 24-column grid")
        elif p.get("type") != "row" or not p.get("collapsed"):
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    if (x, y) in cells:
                        problems.append(f"panel {title!r} overlaps panel {cells[(x, y)]!r}")
                        break
                    cells[(x, y)] = title
                else:
                    continue
                break
        if p.get("type") == "row":
            continue
        if var_name and not uses_variable(p.get("datasource"), var_name):
            problems.append(f"panel {title!r}: its datasource is not the variable ${{{var_name}}}")
        targets = p.get("targets")
        if not isinstance(targets, list) or not targets:
            problems.append(f"panel {title!r}: no queries")
            continue
        refs = set()
        for t in targets:
            ref = t.get("refId")
            if not ref or ref in refs:
                problems.append(f"panel {title!r}: refId {ref!r} missing or used twice")
            refs.add(ref)
            if var_name and "datasource" in t and not uses_variable(t["datasource"], var_name):
                problems.append(f"panel {title!r} query {ref}: its datasource is not the variable")
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.append(f"panel {title!r} query {ref}: no expr")
                continue
            if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}") \
                    or expr.count("[") != expr.count("]"):
                problems.append(f"panel {title!r} query {ref}: unbalanced brackets in {expr!r}")
            names = metric_names.expr_names(expr)
            if not names:
                problems.append(f"panel {title!r} query {ref}: reads no metric: {expr!r}")
            for name in sorted(names - known):
                problems.append(f"panel {title!r} query {ref}: {name} is not a metric fcrd exports")
            used |= names
    for name in REQUIRED:
        if name not in used:
            problems.append(f"no panel shows {name}")
    return problems


def broken_copies(dash):
    """(what, dashboard) pairs, each broken in one way the check must notice."""
    def first_query(d):
        return next(p for p in panels_of(d) if p.get("targets"))["targets"][0]

    def first_panel(d):
        return next(p for p in panels_of(d) if p.get("type") != "row")

    out = []
    d = copy.deepcopy(dash)
    first_query(d)["expr"] = "rate(fcrd_events_recieved_total[5m])"
    out.append(("a misspelt metric", d))
    d = copy.deepcopy(dash)
    panels = [p for p in panels_of(d) if p.get("type") != "row"]
    panels[1]["id"] = panels[0]["id"]
    out.append(("a duplicate panel id", d))
    d = copy.deepcopy(dash)
    first_panel(d)["datasource"] = {"type": "prometheus", "uid": "PBFA97CFB590B2093"}
    out.append(("a panel tied to one data source", d))
    d = copy.deepcopy(dash)
    d["templating"]["list"] = [v for v in d["templating"]["list"] if v.get("type") != "datasource"]
    out.append(("no data source variable", d))
    d = copy.deepcopy(dash)
    d["schemaVersion"] = 16
    out.append(("an old schemaVersion", d))
    d = copy.deepcopy(dash)
    g = first_panel(d)["gridPos"]
    g["x"], g["w"] = 20, 8
    out.append(("a panel wider than the grid", d))
    d = copy.deepcopy(dash)
    for p in panels_of(d):
        p["targets"] = [t for t in p.get("targets", []) if "fcrd_pending_overdue" not in t.get("expr", "")]
    out.append(("no panel for overdue decisions", d))
    return out


def main(argv):
    path = argv[1] if len(argv) > 1 else DEFAULT
    try:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{path}: not readable JSON: {e}")
        return 1
    known = metric_names.known_names()
    problems = check(dash, known)
    for p in problems:
        print(f"{path}: {p}")
    missed = []
    if not problems:
        for what, broken in broken_copies(dash):
            if not check(broken, known):
                missed.append(what)
        for what in missed:
            print(f"check_dashboard: the check did not notice {what}")
    n = len(panels_of(dash))
    print(f"{path}: {n} panels, {len(problems)} problem(s)" + (f", {len(missed)} blind spot(s)" if missed else ""))
    return 1 if problems or missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
