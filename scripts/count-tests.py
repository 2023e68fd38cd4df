#!/usr/bin/env python3
"""count-tests.py: turn meson test logs into per-suite counts and the final "N passed, M failed".

Usage: count-tests.py [--extra-failed K] [--checks LABEL:PASSED:FAILED]... [--skipped-fail]
                      LABEL=PATH/testlog.json ...

A test binary built with check prints "NN%: Checks: C, Failures: F, Errors: E"; the integration
runner prints "fcrd-integration: P passed, F failed, S skipped". Those lines give the counts of
individual cases. A test that printed neither counts as one case. A test whose meson result is a
failure although its own count shows none (a crash or sanitizer report at exit, a timeout) adds
one failure, so nothing that failed can be reported as passed. With --skipped-fail (scripts/test
gives it when CI=true) a skipped case counts as failed: the only tests that skip are those whose
shared worked cases are missing, and a CI run must not pass by leaving them out. Exit status 1 if
anything failed.
"""
import json
import re
import sys

CHECK_RE = re.compile(r"^\d+%: Checks: (\d+), Failures: (\d+), Errors: (\d+)", re.M)
PY_RE = re.compile(r"^fcrd-integration: (\d+) passed, (\d+) failed, (\d+) skipped", re.M)
GOOD = {"OK", "EXPECTEDFAIL"}


def count_one(entry):
    """(passed, failed, skipped) for one meson test log entry."""
    out = (entry.get("stdout") or "") + (entry.get("stderr") or "")
    result = entry.get("result", "ERROR")
    passed = failed = skipped = 0
    found = False
    for m in CHECK_RE.finditer(out):
        found = True
        checks, fails, errors = map(int, m.groups())
        passed += checks - fails - errors
        failed += fails + errors
    for m in PY_RE.finditer(out):
        found = True
        passed += int(m.group(1))
        failed += int(m.group(2))
        skipped += int(m.group(3))
    if not found:
        if result == "SKIP":
            return 0, 0, 1
        return (1, 0, 0) if result in GOOD else (0, 1, 0)
    if result not in GOOD and result != "SKIP" and failed == 0:
        failed += 1
    return passed, failed, skipped


def main(argv):
    extra_failed = 0
    skipped_fail = False
    groups, checks = [], []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--extra-failed":
            extra_failed = int(args.pop(0))
        elif a == "--skipped-fail":
            skipped_fail = True
        elif a == "--checks":
            label, p, f = args.pop(0).rsplit(":", 2)
            checks.append((label, int(p), int(f)))
        elif "=" in a:
            groups.append(a.split("=", 1))
        else:
            print(f"count-tests: bad argument {a!r}", file=sys.stderr)
            return 2
    total_p, total_f = 0, extra_failed
    if extra_failed:
        print(f"builds: {extra_failed} failed")
    for label, path in groups:
        gp = gf = gs = 0
        bad = []
        try:
            with open(path, encoding="utf-8") as f:
                entries = [json.loads(line) for line in f if line.strip()]
        except (OSError, ValueError) as e:
            print(f"{label}: no usable test log ({e}); counted as 1 failed")
            total_f += 1
            continue
        for e in entries:
            p, fl, s = count_one(e)
            if skipped_fail and s:
                fl, s = fl + s, 0
            gp, gf, gs = gp + p, gf + fl, gs + s
            if fl:
                bad.append(f"{e.get('name')} ({e.get('result')})")
        line = f"{label}: {gp} passed, {gf} failed"
        if gs:
            line += f", {gs} skipped"
        if bad:
            line += " -- failing: " + ", ".join(bad)
        print(line)
        total_p += gp
        total_f += gf
    for label, p, f in checks:
        print(f"{label}: {p} passed, {f} failed")
        total_p += p
        total_f += f
    print(f"{total_p} passed, {total_f} failed")
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
