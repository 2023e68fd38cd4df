#!/usr/bin/env python3
"""test_fcrctl.py: the real fcrctl against the real daemon: tables and --json for every read,
the writes with the roles that may and may not make them, exit statuses, and audit verify over
a good trail (longer than one page) and over one tampered with in the database.

FCRCTL_BIN names the binary; by default it is tools/fcrctl beside FCRD_BIN's daemon/ folder."""
import json
import os
import subprocess
import tempfile
import urllib.parse

import harness
from harness import DaemonTestCase, assault_opened, event, free_port, uid

FCRCTL_BIN = os.environ.get("FCRCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(harness.FCRD_BIN))), "tools", "fcrctl")
RUN_TIMEOUT = 120


def pending_opened(incident_id, at="2026-03-02T22:40:00Z"):
    """An opening with one recordable assault (a1) and one allegation whose offence code no rule
    set knows (a2): a crime at once and a pending decision for a person."""
    return event(
        incident_id, 1, "incident.opened", at,
        channel="emergency_call",
        narrative="Fight outside a takeaway; one man punched, his friend vague about what happened to him.",
        reported_by="v1",
        persons=[{"id": "v1", "role": "victim", "sex": "male", "age": 27, "confirms": True,
                  "relationships": [{"to": "s1", "kind": "stranger"}]},
                 {"id": "v2", "role": "victim", "sex": "male", "age": 28, "confirms": True},
                 {"id": "s1", "role": "suspect", "sex": "male"}],
        allegations=[{"id": "a1", "victim": "v1", "suspects": ["s1"], "conduct": "assault.injury",
                      "occurred_at": at, "location": {"force_area": "own", "premises": "public_place"}},
                     {"id": "a2", "victim": "v2", "offence": "ZZ99", "occurred_at": at,
                      "location": {"force_area": "own", "premises": "public_place"}}])


class FcrctlCase(DaemonTestCase):
    """Running fcrctl against this class's daemon."""

    @classmethod
    def setUpClass(cls):
        if not os.access(FCRCTL_BIN, os.X_OK):
            raise RuntimeError(f"no fcrctl binary at {FCRCTL_BIN} (build first, or set FCRCTL_BIN)")
        super().setUpClass()

    def fcrctl(self, *args, role="auditor", token=None, url=None, env=None):
        """(exit status, stdout, stderr) of one fcrctl run; role picks the token put in FCRD_TOKEN."""
        e = {k: v for k, v in os.environ.items() if k not in ("FCRD_TOKEN", "FCRD_URL")}
        e.update(env or {})
        if token is None and role is not None:
            token = self.h.tokens[role]
        if token is not None:
            e["FCRD_TOKEN"] = token
        e["FCRD_URL"] = url or f"http://127.0.0.1:{self.h.api_port}"
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        r = subprocess.run([FCRCTL_BIN, *args], env=e, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        self.assertIsNone(harness.SANITIZER_RE.search(r.stderr), f"fcrctl {' '.join(args)}:\n{r.stderr}")
        return r.returncode, r.stdout, r.stderr

    def ok(self, *args, **kw):
        rc, out, err = self.fcrctl(*args, **kw)
        self.assertEqual(rc, 0, f"fcrctl {' '.join(args)}: {err}")
        return out

    def ok_json(self, *args, **kw):
        return json.loads(self.ok("--json", *args, **kw))

    def api_get(self, path):
        status, body = self.h.api.get(path, role="auditor")
        self.assertEqual(status, 200, body)
        return body

    @staticmethod
    def table(out):
        """A table's rows as lists of cells (cells never hold blanks in these tests)."""
        return [line.split() for line in out.splitlines() if line.strip()]


class FcrctlTest(FcrctlCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plain = uid("CTL")
        cls.mixed = [uid("CTLP") for _ in range(5)]  # 1 and 2 get decided, 3 and 4 stay open
        with cls.h.feed() as feed:
            cls.plain_reply = feed.request(assault_opened(cls.plain))
            cls.mixed_replies = [feed.request(pending_opened(i)) for i in cls.mixed]

    def setUp(self):
        self.assertStatus(self.plain_reply, "accepted")
        for r in self.mixed_replies:
            self.assertStatus(r, "accepted")
            self.assertEqual(len(r["pending"]), 1, r)

    def open_pending_ids(self):
        ids, after = [], None
        while True:
            body = self.api_get("/v1/pending?limit=1000" + (f"&after={urllib.parse.quote(after)}" if after else ""))
            ids += [p["id"] for p in body["items"]]
            after = body["next"]
            if after is None:
                return ids

    # -- reads -----------------------------------------------------------------------------
    def test_pending_table(self):
        rows = self.table(self.ok("pending"))
        self.assertEqual(rows[0], ["ID", "INCIDENT", "REASON", "DUE", "OVERDUE", "FLAGS"])
        shown = {r[0]: r for r in rows[1:]}
        for incident, reply in zip(self.mixed, self.mixed_replies):
            pid = reply["pending"][0]["id"]
            if pid in self.open_pending_ids():
                self.assertIn(pid, shown)
                self.assertEqual(shown[pid][1], incident)
                self.assertIn(shown[pid][4], ("yes", "no"))

    def test_pending_json_is_the_api_body(self):
        self.assertEqual(self.ok_json("pending", "--limit", "50"), self.api_get("/v1/pending?limit=50"))

    def test_pending_filters_reach_the_api(self):
        self.assertEqual(self.ok_json("pending", "--reason", "insufficient_detail", "--overdue"),
                         self.api_get("/v1/pending?reason=insufficient_detail&overdue=true"))
        self.assertEqual(self.ok_json("pending", "--reason", "no such reason")["items"], [])

    def test_pending_all_follows_every_page(self):
        expected = self.open_pending_ids()
        self.assertGreaterEqual(len(expected), 2, "needs two open items to page")
        merged = self.ok_json("pending", "--limit", "1", "--all")
        self.assertEqual([p["id"] for p in merged["items"]], expected)
        self.assertIsNone(merged["next"])
        rc, out, err = self.fcrctl("pending", "--limit", "1")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.table(out)), 2, out)  # heading and one item
        self.assertIn("--all", err)

    def test_show_incident(self):
        reply = self.mixed_replies[0]
        out = self.ok("show", self.mixed[0])
        self.assertIn(f"incident_id: {self.mixed[0]}", out)
        self.assertIn(reply["crimes"][0]["crn"], out)
        self.assertIn("decisions:", out)
        self.assertEqual(self.ok_json("show", self.mixed[0]), self.api_get(f"/v1/incidents/{self.mixed[0]}"))

    def test_crime_with_slashes_in_its_crn(self):
        crn = self.plain_reply["crimes"][0]["crn"]
        self.assertEqual(crn.count("/"), 2)
        out = self.ok("crime", crn)
        self.assertIn(f"crn: {crn}", out)
        self.assertIn("history:", out)
        body = self.ok_json("crime", crn)
        self.assertEqual(body, self.api_get("/v1/crimes/" + urllib.parse.quote(crn, safe="")))
        self.assertTrue(body["history"])

    def test_audit_listing(self):
        crn = self.plain_reply["crimes"][0]["crn"]
        entries = self.api_get("/v1/audit?crn=" + urllib.parse.quote(crn, safe=""))["items"]
        rows = self.table(self.ok("audit", "--crn", crn))
        self.assertEqual(rows[0], ["ID", "AT", "ACTOR", "ROLE", "ACTION", "SUBJECT"])
        self.assertEqual([int(r[0]) for r in rows[1:]], [e["id"] for e in entries])
        self.assertTrue(all(r[5] == crn for r in rows[1:]), rows)
        by_incident = self.ok_json("audit", "--incident", self.plain)
        self.assertEqual(by_incident, self.api_get(f"/v1/audit?incident_id={self.plain}"))

    def test_report(self):
        out = self.ok("report", "--from", "2026-01-01", "--to", "2026-12-31")
        body = self.api_get("/v1/reports/cdi?from=2026-01-01&to=2026-12-31")
        for key, value in body.items():
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                self.assertIn(f"{key}: {value}", out)
        if body.get("strata"):
            self.assertIn("strata:", out)
            for s in body["strata"]:
                self.assertIn(s["name"], out)
        self.assertEqual(self.ok_json("report", "--from", "2026-01-01", "--to", "2026-12-31"), body)

    # -- writes ----------------------------------------------------------------------------
    def test_decide_record(self):
        incident, reply = self.mixed[1], self.mixed_replies[1]
        pid = reply["pending"][0]["id"]
        # An auditor may not decide: 403, exit 3, and nothing is written.
        rc, out, err = self.fcrctl("decide", pid, "record", "--rationale", "x", role="auditor")
        self.assertEqual(rc, 3, err)
        self.assertIn("403", err)
        self.assertEqual(out, "")
        self.assertIn(pid, [p["id"] for p in self.api_get(f"/v1/incidents/{incident}")["pending"]])
        # A rule refuses an offence code the rule set does not know: 422, exit 5, field named.
        rc, _, err = self.fcrctl("decide", pid, "record", "--rationale", "x", "--offence", "ZZ99", role="supervisor")
        self.assertEqual(rc, 5, err)
        self.assertIn("422", err)
        self.assertIn("offence", err)
        body = self.ok_json("decide", pid, "record", "--rationale", "victim confirmed an assault by phone",
                            "--offence", "8N", "--victim", "v2", role="supervisor")
        self.assertEqual(body["pending"]["id"], pid)
        self.assertEqual(len(body["crimes"]), 1, body)
        crn = body["crimes"][0]["crn"]
        self.assertNotIn(pid, [p["id"] for p in self.api_get(f"/v1/incidents/{incident}")["pending"]])
        actors = {(e["actor"], e["role"]) for e in self.api_get(f"/v1/audit?incident_id={incident}")["items"]}
        self.assertIn(("it-supervisor-user", "supervisor"), actors)
        self.assertEqual(self.api_get("/v1/crimes/" + urllib.parse.quote(crn, safe=""))["victim"], "v2")
        # Closed already: 409, exit 5.
        rc, _, err = self.fcrctl("decide", pid, "no_crime", "--rationale", "again", role="supervisor")
        self.assertEqual(rc, 5, err)
        self.assertIn("409", err)

    def test_decide_no_crime_table_output(self):
        pid = self.mixed_replies[2]["pending"][0]["id"]
        # The item's candidate offence (ZZ99) is not in the rule set: the authority table cannot say
        # who may no-crime it, so only the most demanding role any group names may (403 is exit 3).
        rc, _, err = self.fcrctl("decide", pid, "no_crime", "--rationale", "caller withdrew", role="supervisor")
        self.assertEqual(rc, 3, err)
        self.assertIn("403", err)
        out = self.ok("decide", pid, "no_crime", "--rationale", "caller withdrew: nothing happened to v2",
                      role="fcr")
        self.assertIn(f"pending.id: {pid}", out)
        self.assertIn("crimes: none", out)

    def test_reclassify_and_cancel(self):
        crn = self.mixed_replies[0]["crimes"][0]["crn"]
        rc, _, err = self.fcrctl("reclassify", crn, "5D", "--rationale", "injury worse than first said",
                                 role="supervisor")
        self.assertEqual(rc, 3, err)
        out = self.ok("reclassify", crn, "5D", "--rationale", "injury worse than first said", role="ddm")
        self.assertIn("offence: 5D", out)
        rc, _, err = self.fcrctl("reclassify", crn, "5D", "--rationale", "same again", role="ddm")
        self.assertEqual(rc, 5, err)
        # C2 needs the additional verifiable information: 422.
        rc, _, err = self.fcrctl("cancel", crn, "C2", "--rationale", "CCTV", role="ddm")
        self.assertEqual(rc, 5, err)
        self.assertIn("avi", err)
        body = self.ok_json("cancel", crn, "C2", "--rationale", "CCTV shows no assault took place",
                            "--avi", "CCTV reference 4471, held by the station", role="ddm")
        self.assertEqual(body["status"], "cancelled")
        self.assertEqual(body["offence"], "5D")
        rc, _, err = self.fcrctl("cancel", crn, "C4", "--rationale", "again", role="ddm")
        self.assertEqual(rc, 5, err)
        self.assertIn("409", err)

    # -- exit statuses ---------------------------------------------------------------------
    def test_not_found_is_4(self):
        for args in (("show", uid("NOPE")), ("crime", "XX/2026/999999"),
                     ("decide", "PD-999999", "no_crime", "--rationale", "x")):
            with self.subTest(args=args):
                rc, out, err = self.fcrctl(*args, role="fcr")
                self.assertEqual(rc, 4, err)
                self.assertIn("404", err)
                self.assertEqual(out, "")

    def test_bad_request_is_6_and_names_the_field(self):
        rc, _, err = self.fcrctl("report", "--from", "2026-13-01", "--to", "2026-12-31")
        self.assertEqual(rc, 6, err)
        self.assertIn("400", err)
        self.assertIn("from", err)

    def test_authentication(self):
        rc, _, err = self.fcrctl("pending", token="not-a-known-token-at-all")
        self.assertEqual(rc, 3, err)
        self.assertIn("401", err)
        rc, _, err = self.fcrctl("pending", role=None)
        self.assertEqual(rc, 3, err)
        self.assertIn("FCRD_TOKEN", err)
        rc, _, err = self.fcrctl("pending", role="ops")
        self.assertEqual(rc, 3, err)
        self.assertIn("403", err)

    def test_token_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".token") as f:
            f.write(self.h.tokens["auditor"] + "\n# the rest of the file is ignored\n")
            f.flush()
            rc, _, err = self.fcrctl("--token-file", f.name, "pending", role=None)
            self.assertEqual(rc, 0, err)
            # The file wins over the environment.
            rc, _, err = self.fcrctl("--token-file", f.name, "pending", token="not-a-known-token-at-all")
            self.assertEqual(rc, 0, err)
        rc, _, err = self.fcrctl("--token-file", "/nonexistent/token", "pending", role=None)
        self.assertEqual(rc, 2, err)

    def test_cannot_connect_is_8(self):
        rc, out, err = self.fcrctl("pending", url=f"http://127.0.0.1:{free_port()}")
        self.assertEqual(rc, 8, err)
        self.assertEqual(out, "")
        self.assertIn("cannot connect", err)

    def test_usage_is_2_and_sends_nothing(self):
        for args in (("frobnicate",), ("decide", "PD-1", "record"), ("cancel", "XX/2026/1", "C9", "--rationale", "r"),
                     ("audit",), ("pending", "--limit", "0")):
            with self.subTest(args=args):
                rc, out, err = self.fcrctl(*args, url=f"http://127.0.0.1:{free_port()}")
                self.assertEqual(rc, 2, err)
                self.assertEqual(out, "")
                self.assertIn("--help", err)

    def test_help_lists_exit_statuses(self):
        out = self.ok("--help", role=None)
        for code in range(10):
            self.assertIn(f"\n  {code}  ", out)


class FcrctlVerifyTest(FcrctlCase):
    """audit verify over a trail longer than one page, then over the same trail tampered with by
    someone holding the database's superuser (who can switch the append-only trigger off)."""

    EVENTS = 360  # three or more audit entries each: past the 1,000 entries of one page

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.incidents = [uid("VER") for _ in range(cls.EVENTS)]
        with cls.h.feed() as feed:
            feed.send_many([assault_opened(i) for i in cls.incidents])
            cls.replies = feed.read_replies(cls.EVENTS)

    def tamper(self, statement, args=None):
        self.h.sql("ALTER TABLE audit DISABLE TRIGGER audit_no_update_delete")
        try:
            self.h.sql(statement, args)
        finally:
            self.h.sql("ALTER TABLE audit ENABLE TRIGGER audit_no_update_delete")

    def audit_rows(self):
        """(id, chain, hash) of every audit entry, by id. A trail with no chain column (written
        before there were several chains) is chain 1 throughout."""
        has_chain = self.h.sql_value("SELECT count(*) FROM information_schema.columns"
                                     " WHERE table_name = 'audit' AND column_name = 'chain'")
        return [tuple(r) for r in self.h.sql("SELECT id, " + ("chain" if has_chain else "1") + ", hash"
                                             " FROM audit ORDER BY id")]

    @staticmethod
    def heads_of(rows):
        """The last (id, hash) of each chain, in chain order, as the `head:` lines give them."""
        last = {}
        for id_, chain, digest in rows:
            last[chain] = (id_, digest)
        return [(chain, *last[chain]) for chain in sorted(last)]

    @staticmethod
    def head_lines(out):
        """The (id, hash) of every `head: ID:HASH` line."""
        heads = []
        for line in out.splitlines():
            if line.startswith("head: "):
                id_, digest = line[len("head: "):].split(":")
                heads.append((int(id_), digest))
        return heads

    @staticmethod
    def anchors(heads):
        return ",".join(f"{id_}:{digest}" for id_, digest in heads)

    def test_verify(self):
        # One method, in order: each step depends on the damage done by the one before. Every
        # fcrctl run walks the whole trail, and serving its first page of 1,000 entries is most of
        # the cost (seconds in the sanitized build), so each run checks as much as it can: the
        # first both the table output and anchors that are all found, the one after the repair
        # the --json output of a good trail.
        self.assertTrue(all(r["status"] == "accepted" for r in self.replies))
        total = self.h.sql_value("SELECT count(*) FROM audit")
        self.assertGreater(total, 1000)
        rows = self.audit_rows()
        expected = self.heads_of(rows)
        heads = [(id_, digest) for _, id_, digest in expected]
        head_id, head = self.h.sql("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")[0]

        # Anchors recorded earlier, every head line as the database has it: found with their
        # hashes. A different hash or an entry past the end means the trail was rewritten or cut
        # short.
        out = self.ok("audit", "verify", "--anchor", self.anchors(heads))
        self.assertIn(f"audit chain OK: {total} entries", out)
        self.assertEqual(self.head_lines(out), heads, out)
        self.assertIn(f"head: {head_id}:{head}", out)
        other = ("0" if head[0] != "0" else "1") + head[1:]
        changed = [(i, other if i == head_id else d) for i, d in heads]
        rc, out, err = self.fcrctl("audit", "verify", "--anchor", self.anchors(changed))
        self.assertEqual(rc, 9, out + err)
        self.assertIn(f"entry {head_id}", out)
        self.assertIn("anchor", out)
        beyond = [(head_id + 50 if i == head_id else i, d) for i, d in heads]
        rc, out, err = self.fcrctl("audit", "verify", "--anchor", self.anchors(beyond))
        self.assertEqual(rc, 9, out + err)
        self.assertIn("not in the trail", out)

        ids = [r[0] for r in rows]
        # A changed row on the second page: the structured field no longer agrees with the
        # hashed text.
        changed = ids[-5]
        self.tamper("UPDATE audit SET actor = 'mallory' WHERE id = %s", (changed,))
        rc, out, err = self.fcrctl("audit", "verify")
        self.assertEqual(rc, 9, out + err)
        self.assertIn(f"entry {changed}", out)
        self.assertIn("actor", out)
        # Put back, the trail is the good one again, every entry and head as before.
        self.tamper("UPDATE audit SET actor = 'rules' WHERE id = %s", (changed,))
        self.assertEqual(self.ok_json("audit", "verify"),
                         {"ok": True, "entries": total, "head_id": head_id, "head_hash": head,
                          "heads": [{"chain": c, "id": i, "hash": d} for c, i, d in expected]})

        # A removed row: the next entry of its chain links to nothing shown. The row is the
        # first from the 501st on whose chain goes on after it.
        chain_of = {id_: chain for id_, chain, _ in rows}
        removed, following = next((a, b) for k, a in enumerate(ids[500:], 500)
                                  for b in ids[k + 1:] if chain_of[b] == chain_of[a])
        self.tamper("DELETE FROM audit WHERE id = %s", (removed,))
        rc, out, err = self.fcrctl("audit", "verify")
        self.assertEqual(rc, 9, out + err)
        self.assertIn(f"entry {following}", out)
        self.assertIn("prev_hash", out)
        self.assertIn(f"chain {chain_of[removed]}", out)
        body = json.loads(self.fcrctl("--json", "audit", "verify")[1])
        self.assertEqual((body["ok"], body["bad_id"], body["entries"]), (False, following, ids.index(following) - 1))


if __name__ == "__main__":
    harness.main()
