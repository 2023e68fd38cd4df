#!/usr/bin/env python3
"""contracts.py: proto/'s contracts checked by established validators (suite `contracts`).

    contracts.py openapi          redocly lint proto/openapi.yaml (redocly.yaml: recommended-strict)
    contracts.py schemas          Ajv (strict) compiles proto/*.schema.json and validates the feed
                                  contract's examples and the corpus lines marked accepted
    contracts.py broken-openapi   a copy of openapi.yaml with known faults must fail the lint
    contracts.py broken-schemas   copies of the schemas with known faults, and of the feed
                                  contract with a wrong example, must fail Ajv

The validators are npm packages pinned in package.json/package-lock.json here; scripts/test
installs them (scripts/lib.sh fcr_contract_deps, `npm ci`). Without them every check fails and
says so. Each check prints the validator's own output; exit status 0 when it holds.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("FCRD_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
PROTO = os.path.join(SOURCE_ROOT, "proto")
CONTRACTS = os.path.join(SOURCE_ROOT, "tests", "contracts")
MODULES = os.path.join(CONTRACTS, "node_modules")
REDOCLY = os.path.join(MODULES, "@redocly", "cli", "bin", "cli.js")


def fail(msg):
    print(f"contracts: {msg}", flush=True)
    sys.exit(1)


def need_node():
    node = shutil.which("node")
    if node is None:
        fail("no node: the contract checks need Node.js (scripts/test installs it)")
    for pkg in ("@redocly/cli", "ajv", "ajv-formats"):
        if not os.path.isfile(os.path.join(MODULES, pkg, "package.json")):
            fail(f"npm package {pkg} is not installed in {MODULES}: run `npm ci` there "
                 f"(scripts/test does it)")
    return node


def run(cmd):
    """Run a validator, its output passed through; returns its exit status."""
    env = dict(os.environ)
    # Offline and quiet: no usage reports, no version checks (the machines reach no such host).
    env.update(REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true", NO_COLOR="1",
               FORCE_COLOR="0", CI="true")
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, cwd=CONTRACTS, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Redocly's banner about the Node.js version in use says nothing about the document.
    out = "\n".join(line for line in r.stdout.splitlines() if not any(c in line for c in "║╔╚"))
    print(out.strip(), flush=True)
    return r.returncode


def lint_openapi(node, path):
    return run([node, REDOCLY, "lint", "--config", os.path.join(CONTRACTS, "redocly.yaml"),
                "--format", "codeframe", path])


def check_schemas(node, schemas, examples=True, feed_doc=None):
    cmd = [node, os.path.join(CONTRACTS, "check_schemas.mjs")]
    if examples:
        cmd += ["--examples", feed_doc or os.path.join(PROTO, "feed-v1.md"),
                "--corpus", os.path.join(SOURCE_ROOT, "tests", "corpus")]
    return run(cmd + schemas)


def proto_schemas():
    found = sorted(glob.glob(os.path.join(PROTO, "*.schema.json")))
    if not found:
        fail(f"no *.schema.json in {PROTO}")
    return found


# Faults each broken copy holds: (what, text to find, replacement). Each must make its check fail
# on its own, so a validator that stopped looking would be caught.
OPENAPI_FAULTS = [
    ("a response without its description",
     "          description: A page of open pending decisions.\n", ""),
    ("a $ref to a schema that does not exist",
     "schema: {$ref: '#/components/schemas/PendingPage'}", "schema: {$ref: '#/components/schemas/NoSuchPage'}"),
    ("a type OpenAPI does not have", "next: {type: string, nullable: true}", "next: {type: text, nullable: true}"),
    ("an operationId used twice", "operationId: getCrime", "operationId: getIncident"),
    # what a bad merge once left: a response listed twice in one operation, the second silently winning
    ("a status given twice", "        '401': {$ref: '#/components/responses/Unauthorized'}\n",
     "        '401': {$ref: '#/components/responses/Unauthorized'}\n        '401': {description: again}\n"),
]
SCHEMA_FAULTS = [
    ("feed-event.schema.json", "a keyword no draft defines",
     '"seq": {"type": "integer", "minimum": 1,', '"seq": {"type": "integer", "minimun": 1,'),
    ("feed-event.schema.json", "a type JSON Schema does not have", '"type": "object"', '"type": "record"'),
    ("feed-reply.schema.json", "a $ref to a definition that does not exist",
     '"$ref": "#/$defs/error"', '"$ref": "#/$defs/no_such_error"'),
    ("feed-reply.schema.json", "required given as a string", '"required": ["v", "event_id"', '"required": "v", "x": ["event_id"'),
]


def broken_openapi(node):
    with open(os.path.join(PROTO, "openapi.yaml"), encoding="utf-8") as f:
        good = f.read()
    bad = []
    with tempfile.TemporaryDirectory(prefix="fcrd-contracts-") as tmp:
        for what, find, repl in OPENAPI_FAULTS:
            if find not in good:
                fail(f"the fault '{what}' no longer applies: {find!r} is not in openapi.yaml (update {__file__})")
            path = os.path.join(tmp, "openapi.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(good.replace(find, repl, 1))
            print(f"--- openapi.yaml with {what}: the lint must fail", flush=True)
            if lint_openapi(node, path) == 0:
                bad.append(what)
    return bad


def broken_schemas(node):
    bad = []
    with tempfile.TemporaryDirectory(prefix="fcrd-contracts-") as tmp:
        for name, what, find, repl in SCHEMA_FAULTS:
            with open(os.path.join(PROTO, name), encoding="utf-8") as f:
                good = f.read()
            if find not in good:
                fail(f"the fault '{what}' no longer applies: {find!r} is not in {name} (update {__file__})")
            path = os.path.join(tmp, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(good.replace(find, repl, 1))
            print(f"--- {name} with {what}: Ajv must refuse it", flush=True)
            if check_schemas(node, [path], examples=False) == 0:
                bad.append(f"{name}: {what}")
        # the contract's example reply with a status the reply schema does not have
        with open(os.path.join(PROTO, "feed-v1.md"), encoding="utf-8") as f:
            good = f.read()
        find = '"incident_id":"CAD-77120","status":"accepted"'
        if find not in good:
            fail(f"the example fault no longer applies: {find!r} is not in feed-v1.md (update {__file__})")
        path = os.path.join(tmp, "feed-v1.md")
        with open(path, "w", encoding="utf-8") as f:
            f.write(good.replace(find, find.replace("accepted", "taken"), 1))
        print("--- feed-v1.md with an example reply of an unknown status: Ajv must refuse it", flush=True)
        if check_schemas(node, proto_schemas(), feed_doc=path) == 0:
            bad.append("feed-v1.md: an example reply of an unknown status")
    return bad


def main(argv):
    if len(argv) != 1 or argv[0] not in ("openapi", "schemas", "broken-openapi", "broken-schemas"):
        print(__doc__, file=sys.stderr)
        return 2
    node = need_node()
    what = argv[0]
    if what == "openapi":
        return 0 if lint_openapi(node, os.path.join(PROTO, "openapi.yaml")) == 0 else 1
    if what == "schemas":
        return 0 if check_schemas(node, proto_schemas()) == 0 else 1
    bad = broken_openapi(node) if what == "broken-openapi" else broken_schemas(node)
    if bad:
        fail("the validator passed documents with faults: " + "; ".join(bad))
    print("contracts: every broken copy was refused")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
