#!/usr/bin/env python3
"""test_db_log_privacy.py: what the database says about a refused row never reaches fcrd's log.

A check constraint added behind fcrd's back refuses the incident row of one opening. PostgreSQL's
DETAIL ("Failing row contains (...)") and CONTEXT quote that row, the incident's state included; fcrd's log (at debug level) must show that the database refused it (the
primary message) and never the row. Once the constraint is gone the same event is accepted."""
import time
import unittest

import harness
from harness import DaemonTestCase, assault_opened, uid

PHRASE = "ZebraQuartz7781"  # an allegation id: the incident row's state holds it


class DbLogPrivacyTest(DaemonTestCase):
    harness_config = {"log.level": "debug"}

    def test_refused_row_is_not_logged(self):
        inc = uid("LEAKTEST")
        self.h.sql("ALTER TABLE incidents ADD CONSTRAINT it_refuse_leaktest "
                   "CHECK (incident_id NOT LIKE 'LEAKTEST%%') NOT VALID")
        dropped = False
        try:
            opened = assault_opened(inc)
            opened["allegations"][0]["id"] = PHRASE
            with self.h.feed(timeout=60) as feed:
                feed.send(opened)
                deadline = time.monotonic() + 30
                while "it_refuse_leaktest" not in self.h.log_text():
                    self.assertLess(time.monotonic(), deadline, "the refusal was never logged:\n" + self.h.log_tail())
                    time.sleep(0.1)
                self.h.sql("ALTER TABLE incidents DROP CONSTRAINT it_refuse_leaktest")
                dropped = True
                reply = feed.read_reply()
                while reply.get("status") == "retry":
                    feed.send(opened)
                    reply = feed.read_reply()
                self.assertStatus(reply, "accepted")
        finally:
            if not dropped:
                self.h.sql("ALTER TABLE incidents DROP CONSTRAINT IF EXISTS it_refuse_leaktest")
        # The row the database would have quoted does hold the words.
        state = self.h.sql_value("SELECT state::text FROM incidents WHERE incident_id = %s", (inc,))
        self.assertIn(PHRASE, state or "")
        log = self.h.log_text()
        self.assertIn('violates check constraint "it_refuse_leaktest"', log)
        self.assertNotIn(PHRASE, log, "the refused row's contents reached the log")
        self.assertNotIn(inc, log, "the refused row's key reached the log")
        self.assertNotIn("Failing row contains", log)
        self.assertNotIn("COPY incidents", log)


if __name__ == "__main__":
    harness.main()
