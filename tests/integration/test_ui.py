#!/usr/bin/env python3
"""test_ui.py: the supervisor's page. How fcrd serves it (types, caching, security headers, the
routes around it), the read endpoint it added (GET /v1/incidents/{id}/events) and the persons
and allegations in the incident view; then the page itself, end to end in headless Chromium
(tests/e2e/ui.test.mjs, driven by playwright-core), each browser test one method here.

The browser tests need Node.js, tests/e2e/node_modules (`npm ci` there; scripts/test does it)
and Chromium (FCRD_CHROMIUM, default /usr/bin/chromium). Without them they fail and say what is
missing. Screenshots go to FCRD_E2E_SHOTS when set (docs/screenshots to refresh the ones in the
documentation), otherwise to a temporary folder; a failing browser test leaves a screenshot in a
kept folder named in the output."""
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import harness
from harness import DaemonTestCase, assault_opened, event, uid

E2E_DIR = os.path.join(harness.SOURCE_ROOT, "tests", "e2e")
CHROMIUM = os.environ.get("FCRD_CHROMIUM", "/usr/bin/chromium")
E2E_BOUND_S = 150  # the browser run's own bound; the subprocess gets a little more

# The browser tests of ui.test.mjs, in its order. Each becomes a method; a name the run does not
# report fails, and so does a reported name missing here.
BROWSER_TESTS = (
    "page_is_self_contained_and_strict",
    "sign_in_refuses_a_wrong_token",
    "sign_in_by_keyboard_keeps_the_token_out_of_urls",
    "pending_item_from_the_feed_appears_by_itself",
    "queue_updates_live_from_the_stream",
    "cut_stream_falls_back_to_polling",
    "queue_filters_by_flag_and_reason",
    "keyboard_opens_and_closes_a_decision",
    "deciding_removes_the_item_and_its_crime_appears",
    "incident_shows_events_persons_allegations_decisions_and_audit",
    "forbidden_actions_show_the_refusal",
    "no_crime_reclassify_and_cancel_by_those_allowed",
    "injected_markup_in_a_narrative_is_shown_as_text",
    "self_audit_shows_rates_with_intervals_and_a_chart",
    "independent_audit_draws_a_sample_and_records_verdicts",
    "labelled_for_screen_readers_and_readable_in_contrast",
    "sign_out_forgets_the_token",
)

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def raw(port, method, path, headers=None):
    """(status, headers as a lower-cased dict, body bytes) of one plain request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=harness.REPLY_TIMEOUT)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def csp_directives(value):
    out = {}
    for part in (value or "").split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


class UiServedTest(DaemonTestCase):
    """The page as files over HTTP, and the routes it sits among."""

    def get(self, path, headers=None, method="GET"):
        return raw(self.h.api_port, method, path, headers)

    def test_root_serves_the_page_with_strict_headers(self):
        status, hdrs, body = self.get("/")
        self.assertEqual(status, 200, body[:200])
        self.assertEqual(hdrs.get("content-type"), "text/html; charset=utf-8")
        for name, value in SECURITY_HEADERS.items():
            self.assertEqual(hdrs.get(name), value, name)
        csp = csp_directives(hdrs.get("content-security-policy"))
        self.assertEqual(csp.get("default-src"), ["'self'"], csp)
        self.assertEqual(csp.get("script-src"), ["'self'"], "scripts from fcrd only, none inline")
        self.assertEqual(csp.get("frame-ancestors"), ["'none'"], csp)
        self.assertEqual(csp.get("object-src"), ["'none'"], csp)
        self.assertEqual(csp.get("base-uri"), ["'none'"], csp)
        self.assertIn("require-trusted-types-for", csp)
        self.assertNotIn("unsafe", hdrs.get("content-security-policy", ""))
        self.assertEqual(hdrs.get("cache-control"), "no-cache")
        self.assertRegex(hdrs.get("etag", ""), r'^"[0-9a-f]{32}"$')
        self.assertIn(b"<title>", body)

    def test_assets_have_their_types_and_the_same_headers(self):
        for path, ctype in (("/ui/app.js", "text/javascript; charset=utf-8"),
                            ("/ui/app.css", "text/css; charset=utf-8"),
                            ("/ui/icon.svg", "image/svg+xml"),
                            ("/ui/index.html", "text/html; charset=utf-8")):
            with self.subTest(path=path):
                status, hdrs, body = self.get(path)
                self.assertEqual(status, 200)
                self.assertEqual(hdrs.get("content-type"), ctype)
                self.assertEqual(int(hdrs.get("content-length", -1)), len(body))
                self.assertTrue(body)
                for name, value in SECURITY_HEADERS.items():
                    self.assertEqual(hdrs.get(name), value, name)
                self.assertIn("content-security-policy", hdrs)

    def test_the_page_is_the_file_in_the_tree(self):
        for name in ("index.html", "app.js", "app.css"):
            with self.subTest(name=name):
                with open(os.path.join(harness.SOURCE_ROOT, "daemon", "api", "ui", name), "rb") as f:
                    self.assertEqual(self.get(f"/ui/{name}")[2], f.read())

    def test_unchanged_file_is_not_sent_again(self):
        _, hdrs, _ = self.get("/ui/app.js")
        etag = hdrs["etag"]
        status, hdrs2, body = self.get("/ui/app.js", {"If-None-Match": etag})
        self.assertEqual((status, body), (304, b""))
        self.assertEqual(hdrs2.get("etag"), etag)
        self.assertEqual(hdrs2.get("x-content-type-options"), "nosniff")
        status, _, body = self.get("/ui/app.js", {"If-None-Match": 'W/"other", ' + etag})
        self.assertEqual(status, 304, "a list naming the tag matches")
        status, _, body = self.get("/ui/app.js", {"If-None-Match": '"0000"'})
        self.assertEqual(status, 200)
        self.assertTrue(body)
        self.assertNotEqual(self.get("/ui/app.css")[1]["etag"], etag, "each file has its own tag")

    def test_head_gives_headers_without_a_body(self):
        status, hdrs, body = self.get("/", method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(hdrs.get("content-type"), "text/html; charset=utf-8")
        self.assertIn("content-security-policy", hdrs)

    def test_unknown_files_are_404(self):
        for path in ("/ui/", "/ui/nope.js", "/ui/../app.js", "/ui/sub/app.js", "/index.html", "/ui/app.js/"):
            with self.subTest(path=path):
                status, hdrs, body = self.get(path)
                self.assertEqual(status, 404, body)
                self.assertEqual(json.loads(body)["error"]["code"], "not_found")

    def test_no_token_needed_for_the_page_only(self):
        self.assertEqual(self.get("/")[0], 200)
        self.assertEqual(self.get("/ui/app.js")[0], 200)
        self.assertEqual(self.get("/v1/pending")[0], 401, "the data still needs a token")

    def test_routes_around_the_page_answer_as_before(self):
        cases = [("POST", "/nope", 404), ("GET", "/v1/nope", 404), ("GET", "/v1", 404),
                 ("POST", "/", 405), ("POST", "/ui/app.js", 405), ("POST", "/v1/pending", 405),
                 ("HEAD", "/v1/pending", 405), ("POST", "/v1/audit", 405), ("POST", "/healthz", 405),
                 ("GET", "/healthz", 200)]
        for method, path, want in cases:
            with self.subTest(method=method, path=path):
                status, _, body = self.get(path, method=method)
                self.assertEqual(status, want, body)
                if want in (404, 405) and method != "HEAD":
                    code = json.loads(body)["error"]["code"]
                    self.assertEqual(code, "not_found" if want == 404 else "method_not_allowed")

    def test_markup_holds_no_inline_script_or_style_and_nothing_from_outside(self):
        body = self.get("/")[2].decode("utf-8")
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", body, re.S | re.I)
        self.assertEqual(len(scripts), 1)
        self.assertIn('src="/ui/app.js"', scripts[0][0])
        self.assertEqual(scripts[0][1].strip(), "", "no inline script")
        self.assertIsNone(re.search(r"\son[a-z]+\s*=", body, re.I), "no event handler attributes")
        self.assertIsNone(re.search(r"\sstyle\s*=|<style", body, re.I), "no inline style")
        self.assertIsNone(re.search(r"(src|href)\s*=\s*\"(https?:)?//", body, re.I), "nothing fetched from elsewhere")
        js = self.get("/ui/app.js")[2].decode("utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            self.assertNotIn(sink, js, f"the script never uses {sink}")
        self.assertIsNone(re.search(r"https?://(?!www\.w3\.org/2000/svg)", js), "the script names no other site")
        css = self.get("/ui/app.css")[2].decode("utf-8")
        self.assertIsNone(re.search(r"@import|url\(", css), "the style sheet loads nothing")


class EventsEndpointTest(DaemonTestCase):
    """GET /v1/incidents/{id}/events and the incident view's persons and allegations."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.incident = uid("EV")
        cls.events = [
            assault_opened(cls.incident, 1, "2026-03-02T10:00:00Z"),
            event(cls.incident, 2, "incident.updated", "2026-03-02T10:20:00+01:00",
                  narrative="Officer on scene. <b>not bold</b>", unknown_extra="kept"),
            event(cls.incident, 5, "incident.closed", "2026-03-02T12:00:00Z", closing_category="crime"),
        ]
        cls.replies = []
        with cls.h.feed() as feed:
            for ev in cls.events:
                cls.replies.append(feed.request(ev))

    def test_events_in_seq_order_with_their_replies(self):
        for r in self.replies:
            self.assertStatus(r, "accepted")
        status, body = self.h.api.get(f"/v1/incidents/{self.incident}/events", role="auditor")
        self.assertEqual(status, 200, body)
        items = body["items"]
        self.assertEqual([e["seq"] for e in items], [1, 2, 5])
        self.assertEqual([e["event_id"] for e in items], [ev["event_id"] for ev in self.events])
        self.assertEqual([e["type"] for e in items], ["incident.opened", "incident.updated", "incident.closed"])
        self.assertIsNone(body["next"])
        self.assertEqual(items[1]["at"], "2026-03-02T09:20:00.000Z", "times in UTC")
        self.assertRegex(items[0]["received_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(items[1]["event"]["narrative"], "Officer on scene. <b>not bold</b>")
        self.assertEqual(items[1]["event"]["unknown_extra"], "kept", "the event as stored, unknown fields too")
        self.assertEqual(items[0]["event"]["persons"], self.events[0]["persons"])
        for item, reply in zip(items, self.replies):
            for key in ("crimes", "decisions", "pending", "warnings", "rules"):
                self.assertEqual(item["reply"].get(key), reply.get(key), key)

    def test_paging(self):
        path = f"/v1/incidents/{self.incident}/events"
        status, body = self.h.api.get(f"{path}?limit=2", role="auditor")
        self.assertEqual(status, 200, body)
        self.assertEqual([e["seq"] for e in body["items"]], [1, 2])
        self.assertEqual(body["next"], "2")
        status, body = self.h.api.get(f"{path}?limit=2&after={body['next']}", role="auditor")
        self.assertEqual(([e["seq"] for e in body["items"]], body["next"]), ([5], None))
        status, body = self.h.api.get(f"{path}?after=5", role="auditor")
        self.assertEqual((status, body["items"], body["next"]), (200, [], None))

    def test_bad_queries(self):
        path = f"/v1/incidents/{self.incident}/events"
        for query, field in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"),
                             ("after=-1", "after"), ("after=1x", "after"), ("after=", "after"),
                             ("other=1", "other"), ("limit=1&limit=2", "limit")):
            with self.subTest(query=query):
                status, body = self.h.api.get(f"{path}?{query}", role="auditor")
                self.assertEqual(status, 400, body)
                self.assertEqual(body["error"]["code"], "bad_query")
                self.assertEqual(body["error"].get("field"), field)

    def test_unknown_incident_is_404(self):
        for path in (f"/v1/incidents/{uid('NONE')}/events", "/v1/incidents//events",
                     "/v1/incidents/" + "x" * 65 + "/events"):
            with self.subTest(path=path[:40]):
                status, body = self.h.api.get(path, role="auditor")
                self.assertEqual(status, 404, body)
                self.assertEqual(body["error"]["code"], "not_found")

    def test_roles(self):
        path = f"/v1/incidents/{self.incident}/events"
        self.assertEqual(self.h.api.get(path)[0], 401)
        self.assertEqual(self.h.api.get(path, token="x" * 20)[0], 401)
        self.assertEqual(self.h.api.get(path, role="ops")[0], 403)
        for role in ("auditor", "supervisor", "ddm", "fcr"):
            self.assertEqual(self.h.api.get(path, role=role)[0], 200, role)
        # Below POST /v1/incidents/{incident_id}/legal-hold: that row answers, "no such endpoint",
        # as a POST below a crime's actions does.
        self.assertEqual(self.h.api.request("POST", path, body={}, role="fcr")[0], 404)

    def test_id_with_a_slash_and_percent_encoding(self):
        incident = uid("EV") + "/events-x"
        with self.h.feed() as feed:
            self.assertStatus(feed.request(assault_opened(incident)), "accepted")
        status, body = self.h.api.get(f"/v1/incidents/{incident.replace('/', '%2F')}/events", role="auditor")
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body["items"]), 1)
        status, body = self.h.api.get(f"/v1/incidents/{incident.replace('/', '%2F')}", role="auditor")
        self.assertEqual((status, body.get("incident_id")), (200, incident), "the incident itself still reads")

    def test_incident_view_carries_persons_and_allegations(self):
        status, body = self.h.api.get(f"/v1/incidents/{self.incident}", role="auditor")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["persons"], self.events[0]["persons"])
        self.assertEqual(body["allegations"], self.events[0]["allegations"])
        self.assertEqual(len(body["crimes"]), 1, "the rest of the view is unchanged")


def _node():
    return os.environ.get("FCRD_NODE") or shutil.which("node") or shutil.which("nodejs")


class UiBrowserTest(DaemonTestCase):
    """tests/e2e/ui.test.mjs against this class's fcrd, run once; its results, one per method."""

    results = {}
    run_error = None
    output = ""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        missing = []
        node = _node()
        if not node:
            missing.append("Node.js (Debian: nodejs)")
        if not os.path.isfile(os.path.join(E2E_DIR, "node_modules", "playwright-core", "package.json")):
            missing.append(f"playwright-core (run `npm ci` in {E2E_DIR}; scripts/test does)")
        if not os.access(CHROMIUM, os.X_OK):
            missing.append(f"Chromium at {CHROMIUM} (Debian: chromium, or set FCRD_CHROMIUM)")
        if missing:
            cls.run_error = "cannot run the browser tests, missing: " + "; ".join(missing)
            return
        work = tempfile.mkdtemp(prefix="fcrd-e2e-")
        results_path = os.path.join(work, "results.json")
        artifacts = os.path.join(work, "failures")
        env = dict(os.environ,
                   FCRD_E2E_URL=f"http://127.0.0.1:{cls.h.api_port}",
                   FCRD_E2E_FEED=f"127.0.0.1:{cls.h.feed_port}",
                   FCRD_E2E_TOKENS=json.dumps(cls.h.tokens),
                   FCRD_E2E_SHOTS=os.environ.get("FCRD_E2E_SHOTS") or os.path.join(work, "screenshots"),
                   FCRD_E2E_ARTIFACTS=artifacts,
                   FCRD_E2E_RESULTS=results_path,
                   FCRD_E2E_TIMEOUT_S=str(E2E_BOUND_S),
                   CHROMIUM=CHROMIUM)
        try:
            proc = subprocess.run([node, "ui.test.mjs"], cwd=E2E_DIR, env=env, capture_output=True, text=True,
                                  timeout=E2E_BOUND_S + 30)
            cls.output = proc.stdout + proc.stderr
            print(cls.output, end="")
            if os.path.exists(results_path):
                with open(results_path, encoding="utf-8") as f:
                    cls.results = {r["name"]: r for r in json.load(f)}
            if proc.returncode not in (0, 1) or not cls.results:
                cls.run_error = f"the browser run failed (exit status {proc.returncode})"
        except subprocess.TimeoutExpired:
            cls.run_error = f"the browser run did not end within {E2E_BOUND_S + 30} s"
        finally:
            if os.path.isdir(artifacts):
                print(f"test_ui: screenshots of the failures kept in {artifacts}", file=sys.stderr)
            else:
                shutil.rmtree(work, ignore_errors=True)

    def check(self, name):
        if self.run_error:
            self.fail(f"{self.run_error}\n{self.output[-3000:]}")
        r = self.results.get(name)
        self.assertIsNotNone(r, f"the browser run did not report {name}")
        self.assertTrue(r["ok"], r.get("error"))

    def test_every_browser_test_is_listed(self):
        if self.run_error:
            self.fail(self.run_error)
        self.assertEqual(list(self.results), list(BROWSER_TESTS))


def _browser_method(name):
    def method(self):
        self.check(name)
    method.__doc__ = f"browser: {name.replace('_', ' ')}"
    return method


for _name in BROWSER_TESTS:
    setattr(UiBrowserTest, f"test_browser_{_name}", _browser_method(_name))


if __name__ == "__main__":
    harness.main()
