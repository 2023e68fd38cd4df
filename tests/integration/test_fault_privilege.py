#!/usr/bin/env python3
"""test_fault_privilege.py: least privilege, held by PostgreSQL and not by fcrd's good manners.

The migrations run as the schema owner, so every table belongs to fcrd_owner; the role fcrd
serves with is no superuser and can do no DDL, no UPDATE or DELETE of raw events or the audit
trail, no write of the access log but through its append function, no write of the plaintext kept
beside audit entries (audit_personal) but through audit_append and the retention functions, and
no DELETE or TRUNCATE anywhere; no statement is composed from text (a source scan).
Secrets stay out of the log: a password in a connection string and
the API tokens are never written there, not at debug level, not in a reload's list of changes.
"""
import glob
import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))

import faultkit  # noqa: E402
import harness  # noqa: E402
from harness import DaemonTestCase, assault_opened, uid  # noqa: E402

SECRET = "S3cret-pw-never-logged"


class PrivilegeTest(DaemonTestCase):

    def setUp(self):
        self.assertIsNotNone(faultkit.wait_ready(self.h, 60))

    def as_fcrd(self, sql, args=None):
        """One statement as the serving login: None, or the error's SQLSTATE."""
        return self.h.sql_refused(sql, args)

    def test_schema_belongs_to_the_owner(self):
        owners = self.h.sql("SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'v', 'm', 'p')")
        self.assertTrue(owners)
        self.assertEqual({o for _, o in owners}, {"fcrd_owner"}, owners)

    def test_serving_role_attributes(self):
        row = self.h.sql("SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
                         "FROM pg_roles WHERE rolname = 'fcrd'")
        self.assertEqual(row, [(False, False, False, False, False)])

    def test_serving_role_refusals(self):
        with self.h.feed() as feed:
            self.assertStatus(feed.request(assault_opened(uid("PRIV"))), "accepted")
        refused = {
            "create table": "CREATE TABLE fcrd_evil (x int)",
            "create schema": "CREATE SCHEMA evil",
            "create function": "CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "alter table": "ALTER TABLE crimes ADD COLUMN evil int",
            "drop table": "DROP TABLE audit",
            "drop trigger": "DROP TRIGGER audit_no_update_delete ON audit",
            "update raw_events": "UPDATE raw_events SET body = body",
            "delete raw_events": "DELETE FROM raw_events",
            "truncate raw_events": "TRUNCATE raw_events",
            "update audit": "UPDATE audit SET actor = 'x'",
            "delete audit": "DELETE FROM audit",
            "truncate audit": "TRUNCATE audit",
            "insert access_log": "INSERT INTO access_log (at, user_id, role, method, route, path, entry, prev_hash,"
                                 " hash) VALUES (now(), 'x', 'x', 'GET', '/', '/', '{}', '', '')",
            "update access_log": "UPDATE access_log SET purpose = 'x'",
            "delete access_log": "DELETE FROM access_log",
            "truncate access_log": "TRUNCATE access_log",
            "update access_log_head": "UPDATE access_log_head SET hash = ''",
            "replace the append function": "CREATE OR REPLACE FUNCTION access_log_append(lines text) RETURNS integer"
                                           " LANGUAGE sql AS 'SELECT 0'",
            "update audit_personal": "UPDATE audit_personal SET vals = '{}'",
            "delete audit_personal": "DELETE FROM audit_personal",
            "insert audit_personal": "INSERT INTO audit_personal VALUES (0, 'x', '{}')",
            "truncate audit_personal": "TRUNCATE audit_personal",
            "replace the redaction function": "CREATE OR REPLACE FUNCTION retention_redact(incident text, period text,"
                                              " seconds bigint, actor text, role text) RETURNS boolean"
                                              " LANGUAGE sql AS 'SELECT true'",
            "delete crimes": "DELETE FROM crimes",
            "delete pending": "DELETE FROM pending_decisions",
            "delete incidents": "DELETE FROM incidents",
            "truncate crimes": "TRUNCATE crimes",
            "write migrations": "INSERT INTO fcrd_migrations (version, name) VALUES (9999, 'evil')",
            "set role owner": "SET ROLE fcrd_owner",
            "read a server file": "SELECT pg_read_file('postgresql.conf')",
            "copy to a file": "COPY raw_events TO '/tmp/fcrd-evil'",
        }
        allowed = []
        for what, sql in refused.items():
            with self.subTest(what=what):
                code = self.as_fcrd(sql)
                if code is None:
                    allowed.append(what)
                self.assertIsNotNone(code, f"the serving role may not: {what}")
        self.assertGreater(self.h.sql_value("SELECT count(*) FROM audit"), 0)
        # A GRANT by a role without grant option only warns: what matters is that nothing changed.
        self.as_fcrd("GRANT UPDATE, DELETE ON audit, raw_events TO fcrd")
        self.assertEqual(self.h.sql("SELECT has_table_privilege('fcrd', t, p) FROM (VALUES ('audit'), ('raw_events')) "
                                    "AS x(t), (VALUES ('UPDATE'), ('DELETE'), ('TRUNCATE')) AS y(p)"),
                         [(False,)] * 6)

    # Finding (reported to the lead): PostgreSQL gives PUBLIC the TEMPORARY privilege on every new
    # database, and the migrations do not revoke it, so the serving role can still run DDL in its
    # own temporary schema (CREATE TEMP TABLE / FUNCTION). Harmless to the stored data, but it is
    # DDL, which the serving role was meant to have none of.
    def test_serving_role_has_no_temporary_ddl(self):
        self.assertIsNotNone(self.as_fcrd("CREATE TEMP TABLE evil (x int)"), "CREATE TEMP TABLE refused")

    def test_sql_is_never_built_from_text(self):
        """Every statement fcrd sends is fixed text with $n parameters: no printf-family call or
        string concatenation in the daemon's sources composes SQL. (A source scan: cheap, and it
        fails the day someone starts building queries.)"""
        sql_word = re.compile(r"\b(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|WHERE|VALUES)\b")
        call = re.compile(r"\b(v?s?n?printf|asprintf|strn?cat|evbuffer_add_printf)\s*\(([^;]*)", re.S)
        offenders = []
        for path in sorted(glob.glob(os.path.join(harness.SOURCE_ROOT, "daemon", "**", "*.c"), recursive=True)):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            for m in call.finditer(text):
                literals = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2)))
                if sql_word.search(literals):
                    line = text.count("\n", 0, m.start()) + 1
                    offenders.append(f"{os.path.basename(path)}:{line}: {m.group(0)[:80]}")
        self.assertEqual(offenders, [], "SQL composed with printf or concatenation")

    def test_secrets_stay_out_of_the_log(self):
        h = self.h
        port = h.pg.port
        # A password in both connection strings (trust authentication ignores it), debug logging.
        h.overrides["database.conninfo"] = f"host=127.0.0.1 port={port} dbname=fcrd user=fcrd password={SECRET}"
        h.overrides["database.admin_conninfo"] = (f"host=127.0.0.1 port={port} dbname=fcrd user=fcrd_owner "
                                                  f"password={SECRET}")
        h.overrides["log.level"] = "debug"
        h.restart_fcrd()
        self.assertIsNotNone(faultkit.wait_ready(h, 60))
        # tokens presented, good and bad, on reads and writes
        bad_token = "NeverLogThisBadToken-0123456789"
        for role in harness.ROLES:
            h.api.get("/v1/pending", role=role)
        h.api.get("/v1/pending", token=bad_token)
        h.api.request("POST", "/v1/pending/nope/decision", body={"decision": "record", "rationale": "x"},
                      token=bad_token)
        # a lost connection and its reconnect
        faultkit.terminate_backends(h)
        time.sleep(1)
        self.assertIsNotNone(faultkit.wait_ready(h, 30))
        # a reload that changes the password: the change is logged, the secret is not
        h.overrides["database.conninfo"] = (f"host=127.0.0.1 port={port} dbname=fcrd user=fcrd "
                                            f"password={SECRET}-changed")
        with open(h.conf_path, "w", encoding="utf-8") as f:
            f.write(h.config_text())
        h.proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        text = h.log_text()
        self.assertIn("debug", text, "the log was written at debug level")
        self.assertIn("database.conninfo", text, "the reload named the changed setting")
        for secret in [SECRET, bad_token] + list(h.tokens.values()):
            self.assertNotIn(secret, text, "a secret is in the log")


if __name__ == "__main__":
    harness.main()
