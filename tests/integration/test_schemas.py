#!/usr/bin/env python3
"""test_schemas.py: the feed's published JSON schemas (proto/feed-event.schema.json and
proto/feed-reply.schema.json) against what is really sent and answered.

Without a daemon: both files are valid schemas of the draft they name (2020-12), and the
validator the tests use knows that draft; the validator rejects what the schemas forbid (so the
checks below can fail at all); every event of the worked cases ($FCRD_SHARED_DIR/scenarios/
cases.json; missing, it skips, or fails with CI=true) and every corpus line fcrd accepts is a valid
event, and the corpus lines fcrd rejects as bad_field or unsupported_version are invalid events,
but for the few limits the event schema says it cannot express.

With the real daemon: every reply fcrd gives to the hostile corpus (tests/corpus/, expected.tsv),
to those lines sent again (`duplicate`), and to events while PostgreSQL is down (`retry`) is a
valid reply. test_fault_corpus.py and test_scenarios.py check their own replies the same way.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))

import faultkit  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase, assault_opened, schema_errors, schema_validator, uid  # noqa: E402

CASES_PATH = os.path.join(harness.SHARED_DIR, "scenarios", "cases.json")
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# Corpus lines fcrd rejects that the event schema lets through, each for a limit the schema's
# description names: integers written with a fraction, the calendar and leap seconds (the pattern
# cannot count days; format date-time is checked only where jsonschema has a date-time checker,
# Debian's has none, and RFC 3339 allows second 60), ids repeated in one event.
SCHEMA_CANNOT_SAY = {
    "040-seq-float.line": "an integer written with a fraction",
    "051-at-feb-30.line": "the calendar",
    "052-at-leap-second.line": "leap seconds",
    "063-person-duplicate-id.line": "a person id repeated within one event",
    "071-allegation-duplicate-id.line": "an allegation id repeated within one event",
}


class SchemaFilesTest(unittest.TestCase):
    """The schemas themselves, and the documents that need no daemon."""

    maxDiff = None

    def test_schemas_are_valid_2020_12_schemas(self):
        import jsonschema
        for name in ("feed-event", "feed-reply"):
            with self.subTest(schema=name):
                with open(os.path.join(harness.PROTO_DIR, f"{name}.schema.json"), encoding="utf-8") as f:
                    schema = json.load(f)
                self.assertEqual(schema.get("$schema"), DRAFT, "proto/feed-v1.md names draft 2020-12")
                v = schema_validator(name)  # checks the schema against its meta-schema
                self.assertIs(type(v), jsonschema.Draft202012Validator)
                jsonschema.Draft202012Validator.check_schema(schema)

    def test_validator_rejects_what_the_schemas_forbid(self):
        """Without this, a validator that accepted everything would pass every test here."""
        good_event = assault_opened("SCHEMA-1")
        self.assertEqual(schema_errors("feed-event", good_event), [])
        for what, change in [("seq 0", {"seq": 0}), ("v 2", {"v": 2}), ("no category", {"category": None}),
                             ("type unknown", {"type": "incident.deleted"}), ("at without offset",
                                                                               {"at": "2026-03-02T10:00:00"})]:
            with self.subTest(event=what):
                self.assertNotEqual(schema_errors("feed-event", dict(good_event, **change)), [])
        good_reply = {"v": 1, "event_id": "E-1", "incident_id": "I-1", "status": "accepted", "crimes": [],
                      "decisions": [], "pending": [], "warnings": [], "rules": "hocr-2025.1"}
        self.assertEqual(schema_errors("feed-reply", good_reply), [])
        bad_replies = {
            "accepted without rules": {k: v for k, v in good_reply.items() if k != "rules"},
            "accepted with an error": dict(good_reply, error={"code": "bad_field", "message": "m"}),
            "rejected without an error": {"v": 1, "event_id": None, "incident_id": None, "status": "rejected"},
            "rejected with a retry code": {"v": 1, "event_id": None, "incident_id": None, "status": "rejected",
                                           "error": {"code": "db_unavailable", "message": "m"}},
            "retry with a rejection code": {"v": 1, "event_id": "E", "incident_id": "I", "status": "retry",
                                            "error": {"code": "bad_json", "message": "m"}},
            "unknown status": dict(good_reply, status="ok"),
            "crime without crn": dict(good_reply, crimes=[{"offence": "8N", "victim": "v1", "flags": [],
                                                           "action": "recorded"}]),
            "pending decision without reason": dict(good_reply, decisions=[{"allegation": "a1",
                                                                            "outcome": "pending", "rules": []}]),
        }
        for what, reply in bad_replies.items():
            with self.subTest(reply=what):
                self.assertNotEqual(schema_errors("feed-reply", reply), [])

    def test_worked_cases_events_are_valid(self):
        if not os.path.isfile(CASES_PATH):
            harness.shared_missing(self, CASES_PATH)
        with open(CASES_PATH, encoding="utf-8") as f:
            data = json.load(f)
        cases = data["cases"] if isinstance(data, dict) else data
        n = 0
        for case in cases:
            for k, ev in enumerate(case.get("events") or [], 1):
                n += 1
                with self.subTest(case=case.get("id"), event=k):
                    self.assertEqual(schema_errors("feed-event", ev), [], json.dumps(ev)[:400])
        self.assertGreater(n, 0, f"{CASES_PATH} holds no events")

    def test_corpus_lines_agree_with_the_event_schema(self):
        rows = harness.corpus_rows()
        checked = 0
        for name, data, status, code, field in rows:
            if code == "bad_json" or name in SCHEMA_CANNOT_SAY:
                continue  # not a JSON document fcrd reads, or a limit the schema cannot express
            doc = json.loads(data.decode("utf-8"))
            errors = schema_errors("feed-event", doc)
            with self.subTest(line=name):
                checked += 1
                if status == "accepted":
                    self.assertEqual(errors, [], f"{name}: fcrd accepts it, the schema does not")
                else:
                    self.assertNotEqual(errors, [], f"{name}: fcrd answers {code} ({field}), the schema allows it")
        self.assertGreaterEqual(checked, 50)


class ReplySchemaTest(DaemonTestCase):
    """Real replies from the real daemon, of every status, against the reply schema."""

    def setUp(self):
        self.assertIsNotNone(faultkit.wait_ready(self.h, 60), "fcrd not ready")

    def send_all(self, feed, lines):
        feed.send_raw(b"".join(lines))
        return feed.read_replies(len(lines))

    def test_corpus_replies_and_duplicates_are_valid(self):
        rows = harness.corpus_rows()
        with self.h.feed() as feed:
            replies = self.send_all(feed, [r[1] for r in rows])
        statuses = set()
        for (name, data, status, code, field), r in zip(rows, replies):
            with self.subTest(line=name):
                self.assertEqual(r.get("status"), status, f"{name}: {json.dumps(r)[:300]}")
                self.assertSchema("feed-reply", r, name)
                statuses.add(r.get("status"))
        self.assertEqual(statuses, {"accepted", "rejected"})
        accepted = [data for (_, data, status, _, _) in rows if status == "accepted"]
        with self.h.feed(unix=True) as feed:
            again = self.send_all(feed, accepted)
        for r in again:
            with self.subTest(resent=r.get("event_id")):
                self.assertEqual(r.get("status"), "duplicate", json.dumps(r)[:300])
                self.assertSchema("feed-reply", r, "duplicate")

    def test_a_real_reply_fails_once_broken(self):
        """The reply schema bites on fcrd's own output: a real accepted reply loses a member it
        must carry, or gains an error, and is then invalid."""
        with self.h.feed() as feed:
            r = feed.request(assault_opened(uid("BREAK")))
        self.assertEqual(r.get("status"), "accepted", r)
        self.assertSchema("feed-reply", r, "accepted")
        self.assertTrue(r.get("crimes"), r)
        for key in ("crimes", "decisions", "pending", "warnings", "rules"):
            with self.subTest(without=key):
                self.assertNotEqual(schema_errors("feed-reply", {k: v for k, v in r.items() if k != key}), [])
        crime = {k: v for k, v in r["crimes"][0].items() if k != "crn"}
        self.assertNotEqual(schema_errors("feed-reply", dict(r, crimes=[crime])), [])

    def test_retry_replies_are_valid(self):
        h = self.h
        events = [assault_opened(uid("RETRY")) for _ in range(3)]
        h.pg_stop()
        try:
            with h.feed() as feed:
                replies = self.send_all(feed, [feed.encode(e) for e in events])
        finally:
            h.pg_start()
        for ev, r in zip(events, replies):
            with self.subTest(event=ev["event_id"]):
                self.assertEqual((r.get("status"), (r.get("error") or {}).get("code")), ("retry", "db_unavailable"),
                                 json.dumps(r))
                self.assertSchema("feed-reply", r, "retry")
        self.assertIsNotNone(faultkit.wait_ready(h, 90), "fcrd did not reconnect to PostgreSQL")


if __name__ == "__main__":
    harness.main()
