#!/usr/bin/env python3
"""test_api_errors.py: how the API answers when the database fails it. A query PostgreSQL refuses
on a working connection (here: the serving role has lost its SELECT) is a 500 whose body says
nothing of the database, and one log line naming the route's pattern and the SQLSTATE; a stopped
database is still 503 db_unavailable."""
import re
import time
import urllib.parse

import harness
from harness import DaemonTestCase, assault_opened, uid

READY_WAIT = 90.0


class ApiErrorsTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.inc = uid("AE")
        with cls.h.feed() as feed:
            reply = feed.request(assault_opened(cls.inc))
        cls.crn = reply["crimes"][0]["crn"]

    def refused_lines(self, text):
        return [ln for ln in text.splitlines() if "refused the query" in ln]

    def assertRefused(self, method, path, pattern, table, body=None, role="fcr"):
        """Revoke SELECT on table from the serving roles, call the endpoint, restore the grant."""
        before = self.h.log_text()
        self.h.sql(f"REVOKE SELECT ON {table} FROM fcrd_app")
        try:
            status, reply = self.h.api.request(method, path, body=body, role=role)
        finally:
            self.h.sql(f"GRANT SELECT ON {table} TO fcrd_app")
        self.assertEqual(status, 500, reply)
        self.assertEqual(set(reply), {"error"}, reply)
        self.assertEqual(reply["error"]["code"], "internal", reply)
        self.assertIsInstance(reply["error"]["message"], str)
        # Nothing the database said, nor what the query reads, reaches the client.
        text = str(reply).lower()
        for word in ("permission", "denied", table, "sqlstate", "42501", "select", self.crn.lower(),
                     self.inc.lower()):
            self.assertNotIn(word, text, reply)
        # One line in fcrd's log: the route's pattern and the SQLSTATE, nothing of the server's text.
        deadline = time.time() + 5
        while time.time() < deadline and not self.refused_lines(self.h.log_text()[len(before):]):
            time.sleep(0.05)
        lines = self.refused_lines(self.h.log_text()[len(before):])
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].endswith(f" api: {method} {pattern}: the database refused the query (SQLSTATE 42501)"),
                        lines[0])
        self.assertNotIn("permission", lines[0])
        # The connection was fine all along: with the grant back the endpoint reads again.
        if method == "GET":
            status, reply = self.h.api.request(method, path, role=role)
            self.assertEqual(status, 200, reply)

    def test_refused_read_is_500_and_logged_once(self):
        self.assertRefused("GET", f"/v1/crimes/{urllib.parse.quote(self.crn, safe='')}", "/v1/crimes/{crn}",
                           "crimes")
        self.assertRefused("GET", f"/v1/incidents/{self.inc}/events", "/v1/incidents/{incident_id}/events",
                           "raw_events")

    def test_refused_read_after_a_first_statement(self):
        # The whole trail is read in two statements; the first one is the one refused here.
        self.assertRefused("GET", "/v1/audit", "/v1/audit", "audit")

    def test_refused_pre_read_of_a_write_writes_nothing(self):
        audit = self.h.sql_value("SELECT count(*) FROM audit")
        self.assertRefused("POST", f"/v1/crimes/{urllib.parse.quote(self.crn, safe='')}/reclassify",
                           "/v1/crimes/{crn}/reclassify", "crimes",
                           body={"offence": "8N", "rationale": "refused before anything is written"})
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM audit"), audit)
        self.assertEqual(self.h.sql_value("SELECT status FROM crimes WHERE crn = %s", (self.crn,)), "recorded")

    def test_z_stopped_database_is_503(self):
        h = self.h
        before = h.log_text()
        h.pg_stop()
        try:
            for path in (f"/v1/incidents/{self.inc}", "/v1/pending", "/v1/audit"):
                with self.subTest(path=path):
                    status, reply = h.api.get(path, role="auditor")
                    self.assertEqual(status, 503, reply)
                    self.assertEqual(reply["error"]["code"], "db_unavailable", reply)
        finally:
            h.pg_start()
        self.assertEqual(self.refused_lines(h.log_text()[len(before):]), [], "an outage is not a refused query")
        deadline = time.time() + READY_WAIT
        while time.time() < deadline and h.api.get("/v1/pending", role="auditor")[0] != 200:
            time.sleep(0.2)
        self.assertEqual(h.api.get("/v1/pending", role="auditor")[0], 200, "the API reads again")


if __name__ == "__main__":
    harness.main()
