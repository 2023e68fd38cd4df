"""openapi_check.py: every API response the integration tests see, checked against proto/openapi.yaml.

harness.ApiClient calls check_response() for each response it reads, so a test that makes a
request fails when fcrd answers something the contract does not promise: a status not documented
for the path and method, a Content-Type the response does not list, or a body its schema
refuses. The errors name the request, the operation that matched it and every mismatch, so a
failure in a test about something else still says what to fix (proto/openapi.yaml, or fcrd).

Requests to no documented path and method (garbage on purpose, a typo) must get the answers
supervisor-api-v1.md section 3 gives every path: 400 bad_path, 404 not_found or 405
method_not_allowed, 401/429 before those where a token is needed, with the Error body.

OpenAPI 3.0 schemas are not quite JSON Schema: they are converted here (nullable becomes "or
null"; $refs point into the whole document) and checked with python3-jsonschema (draft 2020-12),
with an RFC 3339 check for format date-time, which is what the contract means by it.
"""
import copy
import datetime
import functools
import json
import os
import re

OPENAPI_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "proto", "openapi.yaml")
DOC_URI = "urn:fcrd:openapi"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# What any path may answer before (or instead of) its own operation: section 3 of the prose.
GENERIC_STATUSES = {400, 401, 404, 405, 429}

RFC3339_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _is_rfc3339(value):
    if not isinstance(value, str):
        return True  # format only constrains strings
    m = RFC3339_RE.match(value)
    if not m:
        return False
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    try:
        datetime.datetime(y, mo, d, h, mi, min(s, 59))  # 60: a leap second is valid RFC 3339
    except ValueError:
        return False
    return s <= 60


def _convert(node):
    """An OpenAPI 3.0 schema (or any part of the document) as JSON Schema 2020-12."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "$ref" and isinstance(v, str) and v.startswith("#"):
            out[k] = DOC_URI + v
        elif k in ("example", "nullable") or k.startswith("x-"):
            continue  # an annotation; nullable is applied below
        else:
            out[k] = _convert(v)
    if node.get("nullable") is True:
        # OpenAPI 3.0: null is allowed besides whatever the rest of the schema allows.
        return {"anyOf": [{"type": "null"}, out]}
    return out


class Contract:
    """proto/openapi.yaml, loaded once: operations by method and path template, and a validator
    factory for response schemas."""

    def __init__(self, path=OPENAPI_PATH):
        import yaml  # Debian: python3-yaml

        class StrictLoader(yaml.SafeLoader):
            """PyYAML keeps the last of two equal keys; a contract that says two things must not load."""

        def mapping(loader, node, deep=False):
            seen = set()
            for k, _ in node.value:
                key = loader.construct_object(k, deep=deep)
                if key in seen:
                    raise ValueError(f"{path}:{k.start_mark.line + 1}: key {key!r} given twice")
                seen.add(key)
            return yaml.SafeLoader.construct_mapping(loader, node, deep)

        StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.load(f, Loader=StrictLoader)  # noqa: S506 -- a SafeLoader subclass
        self.path = path
        self.ops = []  # (literal length, regex, template, method, operation)
        for template, item in (self.doc.get("paths") or {}).items():
            rx = "^" + "".join(".+" if part.startswith("{") else re.escape(part)
                               for part in re.split(r"(\{[^}]+\})", template) if part) + "$"
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            for method in METHODS:
                if method in item:
                    self.ops.append((literal, re.compile(rx), template, method.upper(), item[method]))
        self.ops.sort(key=lambda o: -o[0])  # the most specific template first
        self.converted = _convert(self.doc)

    def operation(self, method, path):
        """(template, operation) for a request, (template, None) when the path is known but not
        the method, (None, None) when neither."""
        path = path.split("?", 1)[0]
        known = None
        for _, rx, template, m, op in self.ops:
            if rx.match(path):
                if m == method.upper():
                    return template, op
                known = known or template
        return known, None

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"{self.path}: $ref {ref} is not local")
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    @functools.lru_cache(maxsize=None)
    def _validator(self, schema_json):
        import jsonschema
        schema = json.loads(schema_json)
        checker = jsonschema.FormatChecker()
        checker.checks("date-time")(_is_rfc3339)
        try:  # jsonschema 4.18 and later resolve $refs through a registry
            import referencing
            import referencing.jsonschema
        except ImportError:  # Debian 12's 4.10: a RefResolver with the document in its store
            resolver = jsonschema.RefResolver(base_uri="", referrer=schema, store={DOC_URI: self.converted})
            return jsonschema.Draft202012Validator(schema, resolver=resolver, format_checker=checker)
        resource = referencing.Resource(contents=self.converted, specification=referencing.jsonschema.DRAFT202012)
        registry = referencing.Registry().with_resource(DOC_URI, resource)
        return jsonschema.Draft202012Validator(schema, registry=registry, format_checker=checker)

    def schema_errors(self, schema, doc):
        """One "json/path: message" per way `doc` fails the (OpenAPI) `schema`."""
        v = self._validator(json.dumps(_convert(schema), sort_keys=True))
        errors = sorted(v.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
        out = []
        for e in errors:
            where = "/".join(str(p) for p in e.absolute_path) or "(top)"
            # anyOf from nullable: say what each branch wanted rather than "is not valid under any"
            detail = "; ".join(sorted({c.message for c in e.context}))[:400] if e.context else ""
            out.append(f"{where}: {e.message[:300]}" + (f" [{detail}]" if detail else ""))
        return out


@functools.lru_cache(maxsize=1)
def contract():
    return Contract()


def _media(content_type):
    return (content_type or "").split(";", 1)[0].strip().lower()


def _media_matches(pattern, media):
    if pattern == "*/*":
        return True
    if pattern.endswith("/*"):
        return media.startswith(pattern[:-1])
    return pattern == media


def _body_documents(media, raw):
    """The JSON documents a body holds for its media type: one for JSON, one a line for NDJSON,
    none for others. Raises ValueError when it does not parse."""
    if media == "application/json" or media.endswith("+json"):
        return [json.loads(raw)]
    if media == "application/x-ndjson":
        return [json.loads(line) for line in raw.splitlines() if line.strip()]
    return []


def check_response(method, path, status, content_type, raw):
    """Problems of one response (status, its Content-Type header, its body as text) against the
    contract; empty when it conforms."""
    c = contract()
    template, op = c.operation(method, path)
    problems = []
    what = f"{method} {template}" if template else f"{method} (no documented path)"
    if op is None:
        # Only the answers section 3 gives every path, with the Error body.
        if status not in GENERIC_STATUSES:
            return [f"{what}: status {status}: an undocumented path or method may only get "
                    f"{sorted(GENERIC_STATUSES)}"]
        response = c.resolve({"$ref": "#/components/responses/BadRequest"})
    else:
        responses = op.get("responses") or {}
        response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        if response is None:
            return [f"{what}: status {status} is not documented (documented: {', '.join(sorted(responses))})"]
        response = c.resolve(response)
    content = response.get("content") or {}
    media = _media(content_type)
    if not content:
        if raw and method.upper() != "HEAD":
            problems.append(f"{what} {status}: a body ({media or 'no Content-Type'}) where the "
                            f"contract documents none")
        return problems
    if method.upper() == "HEAD":
        return problems  # the headers of the GET, no body
    match = next((m for m in content if _media_matches(m, media)), None)
    if match is None:
        return [f"{what} {status}: Content-Type {content_type!r} is not one of {', '.join(content)}"]
    schema = (content[match] or {}).get("schema")
    if schema is None:
        return problems
    try:
        docs = _body_documents(media, raw)
    except ValueError as e:
        return [f"{what} {status}: the {media} body does not parse ({e}): {raw[:200]!r}"]
    for i, d in enumerate(docs):
        for err in c.schema_errors(schema, d):
            problems.append(f"{what} {status}: " + (f"line {i + 1}: " if len(docs) > 1 else "") + err)
    return problems


def assert_response(method, path, status, content_type, raw):
    """AssertionError naming the request and each mismatch when the response breaks the contract."""
    problems = check_response(method, path, status, content_type, raw)
    if problems:
        body = raw if len(raw) <= 600 else raw[:600] + "..."
        raise AssertionError(f"response breaks proto/openapi.yaml: {method} {path} -> {status} "
                             f"({content_type}):\n  " + "\n  ".join(problems[:20])
                             + (f"\n  ... {len(problems) - 20} more" if len(problems) > 20 else "")
                             + f"\n  body: {body}")
