#!/usr/bin/env python3
"""The harness's own contract checks: each real fcrd response is checked against
proto/openapi.yaml, and a response that breaks the contract fails the test that read it.

Broken copies of openapi.yaml (a schema fcrd's answer does not meet, a status or media type it does
not list) must turn the same real responses into AssertionErrors that name the request, the
status and each mismatch; a feed reply outside proto/feed-reply.schema.json must fail likewise.
"""
import os
import tempfile

import openapi_check
from harness import DaemonTestCase, FeedClient, assault_opened, main, uid


class ContractCheckTest(DaemonTestCase):

    def broken_contract(self, find, replace):
        """A Contract read from a copy of openapi.yaml with one change."""
        with open(openapi_check.OPENAPI_PATH, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(find, text, "the fault no longer applies to openapi.yaml: update this test")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "openapi.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(find, replace, 1))
            return openapi_check.Contract(path)

    def with_contract(self, contract):
        """Make the harness check against `contract` until the test ends."""
        real = openapi_check.contract
        openapi_check.contract = lambda: contract
        self.addCleanup(setattr, openapi_check, "contract", real)

    def test_real_responses_pass_the_real_contract(self):
        self.send_accepted(assault_opened(uid("CC")))
        for path, role, want in (("/v1/pending", "auditor", 200), ("/v1/audit?limit=5", "auditor", 200),
                                 ("/v1/pending", None, 401), ("/v1/pending?limit=0", "auditor", 400),
                                 ("/v1/no-such-thing", "auditor", 404), ("/healthz", None, 200)):
            status, body = self.h.api.get(path, role=role)  # raises when the contract is broken
            self.assertEqual(status, want, (path, body))

    def test_a_body_the_schema_refuses_fails_the_request(self):
        # PendingPage made to require a member fcrd does not send, and `next` made an integer
        broken = self.broken_contract("""    PendingPage:
      type: object
      required: [items, next]""", """    PendingPage:
      type: object
      required: [items, next, total]""")
        self.with_contract(broken)
        with self.assertRaises(AssertionError) as cm:
            self.h.api.get("/v1/pending", role="auditor")
        msg = str(cm.exception)
        self.assertIn("GET /v1/pending -> 200", msg)
        self.assertIn("'total' is a required property", msg)

    def test_a_nested_type_mismatch_names_its_path(self):
        self.send_accepted(assault_opened(uid("CC")))
        broken = self.broken_contract("    Crime:\n      type: object\n      description: incident_id is left out "
                                      "where the crime is listed inside its incident.\n      required: [crn, offence, "
                                      "victim, status, flags, recorded_at, rules]\n      properties:\n        crn: "
                                      "{type: string, example: WM/2026/000123}",
                                      "    Crime:\n      type: object\n      description: incident_id is left out "
                                      "where the crime is listed inside its incident.\n      required: [crn, offence, "
                                      "victim, status, flags, recorded_at, rules]\n      properties:\n        crn: "
                                      "{type: integer}")
        iid = uid("CC")
        replies = self.send_accepted(assault_opened(iid))
        self.assertTrue(replies[0]["crimes"])
        self.with_contract(broken)
        with self.assertRaises(AssertionError) as cm:
            self.h.api.get(f"/v1/incidents/{iid}", role="auditor")
        self.assertRegex(str(cm.exception), r"crimes/0/crn: '[^']+' is not of type 'integer'")

    def test_an_undocumented_status_fails(self):
        broken = self.broken_contract("""        '200':
          description: A page of open pending decisions.""", """        '299':
          description: A page of open pending decisions.""")
        self.with_contract(broken)
        with self.assertRaises(AssertionError) as cm:
            self.h.api.get("/v1/pending", role="auditor")
        self.assertIn("status 200 is not documented", str(cm.exception))

    def test_an_undocumented_media_type_fails(self):
        broken = self.broken_contract("""          description: A page of open pending decisions.
          content:
            application/json:""", """          description: A page of open pending decisions.
          content:
            text/csv:""")
        self.with_contract(broken)
        with self.assertRaises(AssertionError) as cm:
            self.h.api.get("/v1/pending", role="auditor")
        self.assertIn("is not one of text/csv", str(cm.exception))

    def test_a_document_with_a_key_given_twice_does_not_load(self):
        with self.assertRaisesRegex(ValueError, r"key '401' given twice"):
            self.broken_contract("        '401': {$ref: '#/components/responses/Unauthorized'}\n",
                                 "        '401': {$ref: '#/components/responses/Unauthorized'}\n"
                                 "        '401': {description: again}\n")

    def test_an_undocumented_path_may_only_get_the_generic_errors(self):
        c = openapi_check.contract()
        ok = '{"error": {"code": "not_found", "message": "no such endpoint"}}'
        self.assertEqual(openapi_check.check_response("GET", "/v2/x", 404, "application/json", ok), [])
        self.assertTrue(openapi_check.check_response("GET", "/v2/x", 200, "application/json", "{}"))
        self.assertTrue(openapi_check.check_response("GET", "/v2/x", 404, "application/json", '{"code": 1}'))
        # a path known with another method: 405 with the Error body
        self.assertEqual(c.operation("DELETE", "/v1/pending"), ("/v1/pending", None))
        self.assertEqual(openapi_check.check_response("DELETE", "/v1/pending", 405, "application/json",
                                                      '{"error": {"code": "method_not_allowed", "message": "m"}}'), [])
        # the most specific template wins; a CRN may hold slashes
        self.assertEqual(c.operation("POST", "/v1/crimes/XX/2026/000001/cancel")[0], "/v1/crimes/{crn}/cancel")
        self.assertEqual(c.operation("GET", "/v1/incidents/A%2FB/events?limit=3")[0],
                         "/v1/incidents/{incident_id}/events")

    def test_nullable_and_date_time_are_checked(self):
        c = openapi_check.contract()
        page = {"items": [], "next": None}
        self.assertEqual(c.schema_errors({"$ref": "#/components/schemas/PendingPage"}, page), [])
        self.assertTrue(c.schema_errors({"$ref": "#/components/schemas/PendingPage"}, {"items": [], "next": 3}))
        when = {"type": "string", "format": "date-time"}
        self.assertEqual(c.schema_errors(when, "2026-03-02T10:00:00.123Z"), [])
        self.assertEqual(c.schema_errors(when, "2026-03-02T10:00:00+01:00"), [])
        for bad in ("2026-02-30T10:00:00Z", "2026-03-02 10:00:00Z", "2026-03-02T10:00:00", "yesterday"):
            self.assertTrue(c.schema_errors(when, bad), bad)

    def test_a_feed_reply_outside_its_schema_fails(self):
        with self.h.feed() as feed:
            feed.send(assault_opened(uid("CC")))
            self.assertEqual(feed.read_reply()["status"], "accepted")  # a real reply passes
        fake = FeedClient.__new__(FeedClient)
        fake.sock, fake.timeout = None, 1
        fake.buf = b'{"v":1,"event_id":"E","incident_id":"I","status":"accepted"}\n'
        with self.assertRaises(AssertionError) as cm:
            fake.read_reply()
        self.assertIn("breaks proto/feed-reply.schema.json", str(cm.exception))
        self.assertIn("'crimes' is a required property", str(cm.exception))


if __name__ == "__main__":
    main()
