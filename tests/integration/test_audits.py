#!/usr/bin/env python3
"""test_audits.py: independent audits through the real feed and API: a sample drawn from the
incidents first reported in a period is reproducible by its seed and changes with it, never reaches
outside the period, and is drawn per stratum when asked; bad bodies are refused naming the field;
verdicts are kept with who gave them and when (a later one replaces an earlier one in the results,
both stay stored); the results per stratum and overall are right for a known set of verdicts; and
only an auditor or above may do any of it."""
import json
import math

import harness
from harness import DaemonTestCase, assault_opened, event, uid

FROM = "2025-06-01"
TO = "2025-06-02"


def wilson(x, n, z=1.959963984540054):
    p = x / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
    return (0.0 if x == 0 else max(0.0, centre - half)), (1.0 if x == n else min(1.0, centre + half))


def at(i):
    return f"2025-06-01T{i // 60:02d}:{i % 60:02d}:00Z"


class AuditsTest(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.api = cls.h.api
        tag = uid("IA")
        # In the period: 24 assaults that record a crime at once (12 with the qualifier
        # `domestic`), 12 anti-social behaviour incidents with no allegation (2 with a vulnerable
        # caller). Outside it: one the minute before, one at its end.
        cls.assaults = [f"{tag}-A{i:02d}" for i in range(24)]
        cls.domestic = set(cls.assaults[:12])
        cls.asb = [f"{tag}-B{i:02d}" for i in range(12)]
        cls.vulnerable = set(cls.asb[:2])
        cls.outside = [f"{tag}-X0", f"{tag}-X1"]
        events = []
        for i, inc in enumerate(cls.assaults):
            extra = {"qualifiers": ["domestic"]} if inc in cls.domestic else {}
            events.append(assault_opened(inc, at=at(i), **extra))
        for i, inc in enumerate(cls.asb):
            persons = [{"id": "c1", "role": "caller", "vulnerable": inc in cls.vulnerable}]
            events.append(event(inc, 1, "incident.opened", at(100 + i), category="asb", reported_by="c1",
                                persons=persons, narrative="Youths shouting in the car park."))
        events.append(assault_opened(cls.outside[0], at="2025-05-31T23:59:00Z"))
        events.append(assault_opened(cls.outside[1], at="2025-06-02T00:00:00Z"))
        with cls.h.feed() as feed:
            replies = [feed.request(e) for e in events]
        for e, r in zip(events, replies):
            assert r.get("status") == "accepted", json.dumps(r)
            if e["incident_id"] in cls.assaults:
                assert r["crimes"], json.dumps(r)
        cls.in_period = set(cls.assaults) | set(cls.asb)

    # -- helpers ----------------------------------------------------------------------------
    def draw(self, role="auditor", **body):
        req = {"from": FROM, "to": TO, "size": 10, "seed": 1}
        req.update(body)
        req = {k: v for k, v in req.items() if v is not None}
        status, reply = self.api.request("POST", "/v1/audits", req, role=role)
        self.assertEqual(status, 200, json.dumps(reply))
        return reply

    def refused(self, body, field, status=400, code="bad_field"):
        got, reply = self.api.request("POST", "/v1/audits", body, role="auditor")
        self.assertEqual((got, reply["error"]["code"]), (status, code), json.dumps(reply))
        self.assertEqual(reply["error"].get("field"), field, json.dumps(reply))

    def verdict(self, audit, incident, verdict, role="auditor", **extra):
        body = {"incident_id": incident, "verdict": verdict}
        body.update(extra)
        return self.api.request("POST", f"/v1/audits/{audit}/verdicts", body, role=role)

    @staticmethod
    def ids(reply):
        return [it["incident_id"] for it in reply["items"]]

    # -- the draw ---------------------------------------------------------------------------
    def test_same_seed_same_sample(self):
        first = self.draw(seed=20250601, size=12)
        again = self.draw(seed=20250601, size=12)
        self.assertNotEqual(first["id"], again["id"], "each draw is an audit of its own")
        self.assertEqual(first["items"], again["items"])
        self.assertEqual(len(first["items"]), 12)
        self.assertEqual(len(set(self.ids(first))), 12, "no incident drawn twice")
        self.assertEqual(self.draw(seed="20250601", size=12)["items"], first["items"],
                         "an integer seed is its decimal text")

    def test_different_seed_different_sample(self):
        a = set(self.ids(self.draw(seed="alpha", size=10)))
        b = set(self.ids(self.draw(seed="beta", size=10)))
        # Two seeds drawing the same 10 of 36 would happen about once in 250 million.
        self.assertNotEqual(a, b)
        self.assertTrue(a <= self.in_period and b <= self.in_period)

    def test_the_draw_is_the_seeded_ranking(self):
        """The documented order: lowest sha256("<chars of seed>:<seed><incident_id>") first."""
        import hashlib
        seed = "ranking"
        ranked = sorted(self.in_period, key=lambda i: (hashlib.sha256(
            f"{len(seed)}:{seed}{i}".encode("utf-8")).digest(), i))
        self.assertEqual(self.ids(self.draw(seed=seed, size=7)), ranked[:7])

    def test_period_bounds(self):
        reply = self.draw(size=1000, seed=3)
        self.assertEqual(set(self.ids(reply)), self.in_period, "the whole period, nothing outside it")
        self.assertEqual({it["stratum"] for it in reply["items"]}, {"all"})
        reply = self.draw(**{"from": "2025-05-31T23:59:00Z", "to": "2025-06-02T00:00:01Z"}, size=1000, seed=3)
        self.assertEqual(set(self.ids(reply)), self.in_period | set(self.outside), "from inclusive, to exclusive")

    def test_stratified_by_category_and_domestic_abuse(self):
        reply = self.draw(size=4, seed=9, strata=["domestic_abuse", "category"])
        by = {}
        for it in reply["items"]:
            by.setdefault(it["stratum"], []).append(it["incident_id"])
        self.assertEqual(sorted(by), ["asb/not_domestic_abuse", "crime/domestic_abuse", "crime/not_domestic_abuse"],
                         "keys join in their documented order, whatever order the request gives")
        self.assertTrue(all(len(v) == 4 for v in by.values()), by)
        self.assertTrue(set(by["crime/domestic_abuse"]) <= self.domestic)
        self.assertTrue(set(by["crime/not_domestic_abuse"]) <= set(self.assaults) - self.domestic)
        self.assertTrue(set(by["asb/not_domestic_abuse"]) <= set(self.asb))
        # A stratum smaller than the size is taken whole.
        reply = self.draw(size=5, seed=9, strata=["vulnerable", "offence_category"])
        strata = {}
        for it in reply["items"]:
            strata.setdefault(it["stratum"], set()).add(it["incident_id"])
        self.assertEqual(strata["none/vulnerable"], self.vulnerable)
        self.assertEqual(len(strata["none/not_vulnerable"]), 5)
        self.assertEqual(len(strata["violence/not_vulnerable"]), 5)
        self.assertEqual(len(strata), 3, strata)

    def test_validation_names_the_field(self):
        ok = {"from": FROM, "to": TO, "size": 5, "seed": 1}
        cases = [
            ({k: v for k, v in ok.items() if k != "from"}, "from"),
            (dict(ok, **{"from": "yesterday"}), "from"),
            (dict(ok, to=FROM), "to"),
            (dict(ok, to="2025-05-01"), "to"),
            (dict(ok, to=20250602), "to"),
            ({k: v for k, v in ok.items() if k != "size"}, "size"),
            (dict(ok, size=0), "size"),
            (dict(ok, size=1001), "size"),
            (dict(ok, size="5"), "size"),
            (dict(ok, size=2.5), "size"),
            ({k: v for k, v in ok.items() if k != "seed"}, "seed"),
            (dict(ok, seed=""), "seed"),
            (dict(ok, seed=[1]), "seed"),
            (dict(ok, seed=True), "seed"),
            (dict(ok, seed="x" * 129), "seed"),
            (dict(ok, strata="category"), "strata"),
            (dict(ok, strata=["category", "bogus"]), "strata"),
            (dict(ok, strata=["category", "category"]), "strata"),
            (dict(ok, strata=[1]), "strata"),
            (dict(ok, sample=3), "sample"),
        ]
        before = self.h.sql_value("SELECT count(*) FROM audits")
        for body, field in cases:
            with self.subTest(body=body):
                self.refused(body, field)
        got, reply = self.api.request("POST", "/v1/audits", "[1, 2]", role="auditor")
        self.assertEqual((got, reply["error"]["code"]), (400, "bad_json"))
        got, reply = self.api.request("POST", "/v1/audits", '{"size": 1, "size": 2}', role="auditor")
        self.assertEqual((got, reply["error"]["code"]), (400, "bad_json"))
        got, reply = self.api.request("POST", "/v1/audits", json.dumps(dict(ok, x="y" * 70000)), role="auditor")
        self.assertEqual((got, reply["error"]["code"]), (413, "too_large"))
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM audits"), before, "a refused draw writes nothing")
        self.assertEqual(self.draw(strata=[])["items"][0]["stratum"], "all", "an empty list means unstratified")

    # -- verdicts and results ---------------------------------------------------------------
    def test_verdicts_and_results(self):
        audit = self.draw(size=1000, seed="results", strata=["category"])
        aid = audit["id"]
        crime = [i for i in self.ids(audit) if i in self.assaults]
        asb = [i for i in self.ids(audit) if i in self.asb]
        given = ([(i, "correct", {}) for i in crime[:8]]
                 + [(crime[8], "wrong_classification", {"offence": "8N"}),
                    (crime[9], "wrongly_cancelled", {"note": "C1 without the evidence it needs"})]
                 + [(i, "correct", {}) for i in asb[:3]]
                 + [(asb[3], "crime_missed", {"offence": "8N"}), (asb[4], "crime_missed", {"offence": "8N"}),
                    (asb[5], "not_a_crime", {})])
        # A first, different verdict on asb[3], replaced below.
        status, first = self.verdict(aid, asb[3], "correct")
        self.assertEqual((status, first["replaced"]), (200, False), first)
        for inc, v, extra in given:
            status, reply = self.verdict(aid, inc, v, **extra)
            self.assertEqual(status, 200, reply)
            self.assertEqual((reply["incident_id"], reply["verdict"], reply["by"], reply["role"]),
                             (inc, v, "it-auditor-user", "auditor"))
            self.assertEqual(reply["recorded"], inc in self.assaults, "what fcrd had recorded, kept with it")
            self.assertEqual(reply["replaced"], inc == asb[3])
        stored = self.h.sql("SELECT verdict, actor, role, at IS NOT NULL FROM audit_verdicts"
                            " WHERE audit_id = %s AND incident_id = %s ORDER BY id", (aid, asb[3]))
        self.assertEqual(stored, [("correct", "it-auditor-user", "auditor", True),
                                  ("crime_missed", "it-auditor-user", "auditor", True)], "both verdicts kept")

        status, got = self.api.get(f"/v1/audits/{aid}", role="auditor")
        self.assertEqual(status, 200, got)
        self.assertEqual((got["id"], got["seed"], got["strata"], got["size"], got["from"], got["to"]),
                         (aid, "results", ["category"], 1000, "2025-06-01T00:00:00Z", "2025-06-02T00:00:00Z"))
        items = {it["incident_id"]: it for it in got["items"]}
        self.assertEqual(set(items), self.in_period)
        self.assertEqual(items[asb[3]]["verdict"]["verdict"], "crime_missed", "the later verdict counts")
        self.assertEqual(items[asb[3]]["verdicts_given"], 2)
        self.assertEqual(items[crime[8]]["verdict"]["offence"], "8N")
        self.assertIsNone(items[crime[10]]["verdict"])

        def check(result, sampled, reviewed, should, recorded, agreed):
            self.assertEqual((result["sampled"], result["reviewed"], result["should_record"], result["recorded"]),
                             (sampled, reviewed, should, recorded), result)
            lo, hi = wilson(recorded, should)
            self.assertAlmostEqual(result["recording_rate"], recorded / should, places=9)
            self.assertAlmostEqual(result["recording_ci_low"], lo, places=9)
            self.assertAlmostEqual(result["recording_ci_high"], hi, places=9)
            lo, hi = wilson(agreed, reviewed)
            self.assertAlmostEqual(result["agreement"], agreed / reviewed, places=9)
            self.assertAlmostEqual(result["agreement_ci_low"], lo, places=9)
            self.assertAlmostEqual(result["agreement_ci_high"], hi, places=9)

        strata = {s["stratum"]: s for s in got["results"]["strata"]}
        self.assertEqual(sorted(strata), ["asb", "crime"])
        # crime: 10 should have been recorded (8 correct, the misclassified, the wrongly
        # cancelled); 9 were (the misclassified one counts as recorded).
        check(strata["crime"], 24, 10, 10, 9, 8)
        # asb: the 3 correct ones had no crime to record; 2 missed crimes; not_a_crime is outside.
        check(strata["asb"], 12, 6, 2, 0, 3)
        check(got["results"]["overall"], 36, 16, 12, 9, 11)
        self.assertEqual(strata["asb"]["verdicts"], {"correct": 3, "crime_missed": 2, "wrong_classification": 0,
                                                     "wrongly_cancelled": 0, "not_a_crime": 1})

        status, listing = self.api.get("/v1/audits?limit=1000", role="auditor")
        self.assertEqual(status, 200, listing)
        mine = [a for a in listing["items"] if a["id"] == aid]
        self.assertEqual((mine[0]["sampled"], mine[0]["reviewed"], mine[0]["created_by"]), (36, 16, "it-auditor-user"))
        ids = [a["id"] for a in listing["items"]]
        self.assertEqual(ids, sorted(ids, reverse=True), "newest first")

    def test_results_before_any_verdict(self):
        aid = self.draw(size=3, seed="empty")["id"]
        status, got = self.api.get(f"/v1/audits/{aid}", role="auditor")
        self.assertEqual(status, 200, got)
        overall = got["results"]["overall"]
        self.assertEqual((overall["sampled"], overall["reviewed"]), (3, 0))
        for key in ("recording_rate", "recording_ci_low", "recording_ci_high", "agreement"):
            self.assertIsNone(overall[key], key)

    def test_verdict_validation(self):
        audit = self.draw(size=2, seed="v")
        aid, inc = audit["id"], audit["items"][0]["incident_id"]
        cases = [
            ({"verdict": "correct"}, "incident_id"),
            ({"incident_id": inc}, "verdict"),
            ({"incident_id": inc, "verdict": "maybe"}, "verdict"),
            ({"incident_id": inc, "verdict": "crime_missed"}, "offence"),
            ({"incident_id": inc, "verdict": "wrong_classification"}, "offence"),
            ({"incident_id": inc, "verdict": "crime_missed", "offence": "NOPE"}, "offence"),
            ({"incident_id": inc, "verdict": "correct", "note": ""}, "note"),
            ({"incident_id": inc, "verdict": "correct", "note": "x" * 4001}, "note"),
            ({"incident_id": inc, "verdict": "correct", "by": "me"}, "by"),
            ({"incident_id": 7, "verdict": "correct"}, "incident_id"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                status, reply = self.api.request("POST", f"/v1/audits/{aid}/verdicts", body, role="auditor")
                self.assertEqual((status, reply["error"]["code"], reply["error"].get("field")),
                                 (400, "bad_field", field), reply)
        outsider = next(i for i in self.in_period if i not in self.ids(audit))
        status, reply = self.verdict(aid, outsider, "correct")
        self.assertEqual((status, reply["error"]["code"], reply["error"]["field"]), (422, "not_in_sample", "incident_id"))
        for bad in ("999999999", "abc", "1e3", "12345678901234567890"):
            status, reply = self.verdict(bad, inc, "correct")
            self.assertEqual((status, reply["error"]["message"]), (404, "no such audit"), bad)
            status, reply = self.api.get(f"/v1/audits/{bad}", role="auditor")
            self.assertEqual((status, reply["error"]["message"]), (404, "no such audit"), bad)
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM audit_verdicts WHERE audit_id = %s", (aid,)), 0)

    # -- who may ----------------------------------------------------------------------------
    def test_roles(self):
        audit = self.draw(size=1, seed="roles")
        aid, inc = audit["id"], audit["items"][0]["incident_id"]
        calls = [("GET", "/v1/audits", None), ("GET", f"/v1/audits/{aid}", None),
                 ("POST", "/v1/audits", {"from": FROM, "to": TO, "size": 1, "seed": 1}),
                 ("POST", f"/v1/audits/{aid}/verdicts", {"incident_id": inc, "verdict": "correct"})]
        audits = self.h.sql_value("SELECT count(*) FROM audits")
        for method, path, body in calls:
            with self.subTest(method=method, path=path):
                self.assertEqual(self.api.request(method, path, body)[0], 401)
                self.assertEqual(self.api.request(method, path, body, token="not-a-token-at-all")[0], 401)
                self.assertEqual(self.api.request(method, path, body, role="ops")[0], 403)
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM audits"), audits, "nothing drawn on 401/403")
        self.assertEqual(self.h.sql_value("SELECT count(*) FROM audit_verdicts WHERE audit_id = %s", (aid,)), 0)
        # Every role from auditor up may audit; each verdict names who gave it.
        for role in ("auditor", "supervisor", "ddm", "fcr"):
            status, reply = self.verdict(aid, inc, "correct", role=role)
            self.assertEqual((status, reply["by"], reply["role"]), (200, f"it-{role}-user", role), reply)
            self.assertEqual(self.api.get(f"/v1/audits/{aid}", role=role)[0], 200)

    def test_verdicts_are_append_only(self):
        rows = self.h.sql("SELECT has_table_privilege('fcrd', t, p) FROM unnest(%s::text[]) t, "
                          "unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) p",
                          (["audits", "audit_items", "audit_verdicts"],))
        self.assertEqual([r[0] for r in rows], [False] * 9, "the serving role only reads and adds")
        audit = self.draw(size=1, seed="append")
        self.assertEqual(self.verdict(audit["id"], audit["items"][0]["incident_id"], "correct")[0], 200)
        conn = self.h.connect(user="postgres", autocommit=True)
        try:
            with conn.cursor() as cur:
                with self.assertRaises(harness.psycopg2.Error):
                    cur.execute("UPDATE audit_verdicts SET verdict = 'not_a_crime' WHERE audit_id = %s",
                                (audit["id"],))
        finally:
            conn.close()


class AuditLimitsTest(DaemonTestCase):
    """The largest sample is the configuration's, not a number in the code."""
    harness_config = {"api.audit_sample_max": "3"}

    def test_sample_size_follows_the_configuration(self):
        body = {"from": FROM, "to": TO, "size": 4, "seed": 1}
        got, reply = self.h.api.request("POST", "/v1/audits", body, role="auditor")
        self.assertEqual((got, reply["error"]["code"], reply["error"].get("field")), (400, "bad_field", "size"), reply)
        self.assertIn("1 to 3", reply["error"]["message"])
        got, reply = self.h.api.request("POST", "/v1/audits", dict(body, size=3), role="auditor")
        self.assertEqual(got, 200, reply)


if __name__ == "__main__":
    harness.main()
