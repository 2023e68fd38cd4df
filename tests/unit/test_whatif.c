/* test_whatif.c: the what-if replay's pure parts: comparing stored and replayed decisions, the
 * counts by category, rebuilding a person's decision from its audit entry (and what it is about
 * in the replay), and whole replays through the loaded rule set and a candidate. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "rules/rules.h"
#include "rules/rules_act.h"
#include "rules/ruleset.h"
#include "store/whatif.h"
#include "store/whatif_diff.h"
#include "util/jsonwrite.h"

static struct ruleset *rs_loaded;

static char *rules_text(void)
{
    const char *root = getenv("FCRD_SOURCE_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/conf/rules/hocr-2025.json", root ? root : ".");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

static struct ruleset *load_rules(bool candidate)
{
    char *text = rules_text();
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    ck_assert_ptr_nonnull(doc);
    if (candidate) {
        json_object_set_new(doc, "version", json_string("hocr-2026.0"));
        json_t *e = json_array_get(json_object_get(json_object_get(doc, "lexicon"), "assault.injury"), 0);
        json_object_set_new(e, "offence", json_string("105A"));
    }
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    struct ruleset *rs = NULL;
    char err[512];
    ck_assert_msg(ruleset_load_text(s, strlen(s), "ruleset", &rs, err, sizeof err) == 0, "%s", err);
    free(s);
    return rs;
}

static void setup(void)
{
    rs_loaded = load_rules(false);
}

static void teardown(void)
{
    rs_loaded = ruleset_free(rs_loaded);
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    ck_assert_msg(v != NULL, "%s: %s", text, e.text);
    return v;
}

/* ---- whatif_diff ---------------------------------------------------------------------------- */

START_TEST(diff_reports_only_what_differs)
{
    json_t *stored = parse("{\"allegations\": [{\"id\": \"a1\"}, {\"id\": \"a2\"}, {\"id\": \"a3\"}],"
                           " \"decisions\": {\"a1\": {\"outcome\": \"recorded\", \"offence\": \"8N\", \"crn\": \"XX/1\"},"
                           "  \"a2\": {\"outcome\": \"recorded\", \"offence\": \"39\", \"crn\": \"XX/2\"},"
                           "  \"a3\": {\"outcome\": \"pending\"}}}");
    json_t *replayed = parse("{\"allegations\": [{\"id\": \"a1\"}, {\"id\": \"a2\"}, {\"id\": \"a3\"}, {\"id\": \"a4\"}],"
                             " \"decisions\": {\"a1\": {\"outcome\": \"recorded\", \"offence\": \"105A\", \"crn\": \"XX/9\"},"
                             "  \"a2\": {\"outcome\": \"recorded\", \"offence\": \"39\", \"crn\": \"XX/8\"},"
                             "  \"a3\": {\"outcome\": \"not_recorded\"},"
                             "  \"a4\": {\"outcome\": \"held\"}}}");
    json_t *changes = json_array();
    ck_assert_uint_eq(whatif_diff("I1", stored, replayed, changes), 4);
    json_t *want = parse("[{\"incident_id\": \"I1\", \"allegation\": \"a1\","
                         "  \"before\": {\"outcome\": \"recorded\", \"offence\": \"8N\", \"crn\": \"XX/1\"},"
                         "  \"after\": {\"outcome\": \"recorded\", \"offence\": \"105A\"}},"
                         " {\"incident_id\": \"I1\", \"allegation\": \"a3\","
                         "  \"before\": {\"outcome\": \"pending\", \"offence\": null, \"crn\": null},"
                         "  \"after\": {\"outcome\": \"not_recorded\", \"offence\": null}},"
                         " {\"incident_id\": \"I1\", \"allegation\": \"a4\","
                         "  \"before\": {\"outcome\": null, \"offence\": null, \"crn\": null},"
                         "  \"after\": {\"outcome\": \"held\", \"offence\": null}}]");
    ck_assert_msg(json_equal(changes, want), "%s", json_dumps(changes, 0));
    /* the same state twice: nothing; no replayed state at all: every decision goes */
    json_array_clear(changes);
    ck_assert_uint_eq(whatif_diff("I1", stored, stored, changes), 3);
    ck_assert_uint_eq(json_array_size(changes), 0);
    ck_assert_uint_eq(whatif_diff("I1", stored, NULL, changes), 3);
    ck_assert_uint_eq(json_array_size(changes), 3);
    json_decref(want);
    json_decref(changes);
    json_decref(stored);
    json_decref(replayed);
}
END_TEST

START_TEST(diff_counts_by_category)
{
    struct ruleset *cand = load_rules(true);
    struct whatif_diff_summary s;
    ck_assert_int_eq(whatif_diff_summary_init(&s), 0);
    json_t *c1 = parse("{\"before\": {\"offence\": \"8N\"}, \"after\": {\"offence\": \"105A\"}}");
    json_t *c2 = parse("{\"before\": {\"offence\": \"39\"}, \"after\": {\"offence\": null}}");
    json_t *c3 = parse("{\"before\": {\"offence\": null}, \"after\": {\"offence\": null}}");
    json_t *c4 = parse("{\"before\": {\"offence\": null}, \"after\": {\"offence\": \"ZZ99\"}}");
    ck_assert_str_eq(whatif_diff_category(c1, cand, rs_loaded), "violence");
    ck_assert_str_eq(whatif_diff_category(c2, cand, rs_loaded), "theft");
    ck_assert_str_eq(whatif_diff_category(c3, cand, rs_loaded), "none");
    ck_assert_str_eq(whatif_diff_category(c4, cand, rs_loaded), "unknown");
    whatif_diff_count(&s, c1, cand, rs_loaded);
    whatif_diff_count(&s, c1, cand, rs_loaded);
    whatif_diff_count(&s, c2, cand, rs_loaded);
    s.incidents = 7;
    s.allegations = 9;
    json_t *got = whatif_diff_summary_json(&s);
    json_t *want = parse("{\"incidents\": 7, \"allegations\": 9, \"changed\": 3,"
                         " \"by_category\": {\"violence\": 2, \"theft\": 1}}");
    ck_assert_msg(json_equal(got, want), "%s", json_dumps(got, 0));
    json_decref(got);
    json_decref(want);
    json_decref(c1);
    json_decref(c2);
    json_decref(c3);
    json_decref(c4);
    whatif_diff_summary_clear(&s);
    whatif_diff_summary_clear(&s); /* twice is harmless */
    ruleset_free(cand);
}
END_TEST

/* ---- whatif_request ------------------------------------------------------------------------- */

START_TEST(request_rebuilds_a_decision_on_the_replayed_item)
{
    json_t *stored = parse("{\"pending\": [{\"id\": \"P-1\", \"reason\": \"unknown_offence\", \"allegation\": \"a2\","
                           " \"candidate_offence\": \"ZZ99\", \"status\": \"closed\"}]}");
    json_t *replayed = parse("{\"pending\": [{\"id\": \"P-7\", \"reason\": \"other\", \"allegation\": \"a2\", \"status\": \"open\"},"
                             " {\"id\": \"P-8\", \"reason\": \"unknown_offence\", \"allegation\": \"a2\", \"status\": \"open\"}]}");
    json_t *act = parse("{\"id\": 12, \"action\": \"pending.closed\", \"actor\": \"u1\", \"role\": \"supervisor\","
                        " \"at\": \"2026-03-04T23:00:00.000Z\", \"pending_id\": \"P-1\", \"rules\": [],"
                        " \"after\": {\"id\": \"P-1\", \"closed_at\": \"2026-03-04T22:59:00Z\","
                        "  \"resolution\": {\"how\": \"person\", \"decision\": \"record\", \"by\": \"u1\","
                        "   \"rationale\": \"seen\", \"offence\": \"105A\", \"crn\": \"XX/1\"}}}");
    struct whatif_request r;
    ck_assert_int_eq(whatif_request(act, stored, replayed, NULL, NULL, &r), 1);
    ck_assert_str_eq(r.req.action, "decide");
    ck_assert_str_eq(r.req.target, "P-8");
    ck_assert_str_eq(r.req.user, "u1");
    ck_assert_str_eq(r.req.role, "supervisor");
    ck_assert_int_eq(r.req.at_ms, 1772665140000LL);
    json_t *want = parse("{\"decision\": \"record\", \"rationale\": \"seen\", \"offence\": \"105A\"}");
    ck_assert_msg(json_equal(r.body, want), "%s", json_dumps(r.body, 0));
    json_decref(want);
    whatif_request_clear(&r);
    /* no open item of that reason and allegation in the replay */
    json_array_remove(json_object_get(replayed, "pending"), 1);
    ck_assert_int_eq(whatif_request(act, stored, replayed, NULL, NULL, &r), -1);
    whatif_request_clear(&r);
    /* an item a cancellation closed, a crime recorded by a decision: consequences */
    json_object_set_new(json_object_get(json_object_get(act, "after"), "resolution"), "decision", json_string("cancel"));
    ck_assert_int_eq(whatif_request(act, stored, replayed, NULL, NULL, &r), 0);
    json_t *rec = parse("{\"id\": 11, \"action\": \"crime.recorded\", \"crn\": \"XX/1\", \"after\": {}}");
    ck_assert_int_eq(whatif_request(rec, stored, replayed, NULL, NULL, &r), 0);
    json_decref(rec);
    json_decref(act);
    json_decref(stored);
    json_decref(replayed);
}
END_TEST

START_TEST(request_maps_crimes_by_allegation)
{
    json_t *stored = parse("{\"crimes\": [{\"crn\": \"XX/2026/000001\", \"offence\": \"8N\", \"principal\": \"a1\","
                           " \"allegations\": [\"a1\"], \"status\": \"cancelled\"}]}");
    json_t *replayed = parse("{\"crimes\": [{\"crn\": \"XX/2026/000004\", \"offence\": \"39\", \"allegations\": [\"a2\"],"
                             " \"status\": \"recorded\"}, {\"crn\": \"XX/2026/000005\", \"offence\": \"105A\","
                             " \"allegations\": [\"a1\"], \"status\": \"recorded\"}]}");
    json_t *others = parse("{\"I2\": {\"crimes\": [{\"crn\": \"XX/2026/000003\", \"principal\": \"b1\","
                           " \"allegations\": [\"b1\"], \"status\": \"recorded\"}]}}");
    json_t *replayed_all = parse("{\"I2\": {\"crimes\": [{\"crn\": \"XX/2026/000009\", \"allegations\": [\"b1\"],"
                                 " \"status\": \"recorded\"}]}}");
    json_t *act = parse("{\"id\": 20, \"action\": \"crime.cancelled\", \"actor\": \"u2\", \"role\": \"ddm\","
                        " \"crn\": \"XX/2026/000001\", \"rules\": [], \"after\": {\"cancellation\": {\"reason\": \"C3\","
                        " \"rationale\": \"twice\", \"duplicate_of\": \"XX/2026/000003\", \"at\": \"2026-03-05T10:00:00Z\","
                        " \"by\": \"u2\"}}}");
    struct whatif_request r;
    ck_assert_int_eq(whatif_request(act, stored, replayed, others, replayed_all, &r), 1);
    ck_assert_str_eq(r.req.action, "cancel");
    ck_assert_str_eq(r.req.target, "XX/2026/000005");
    json_t *want = parse("{\"reason\": \"C3\", \"rationale\": \"twice\", \"duplicate_of\": \"XX/2026/000009\"}");
    ck_assert_msg(json_equal(r.body, want), "%s", json_dumps(r.body, 0));
    json_decref(want);
    whatif_request_clear(&r);
    /* a reclassification of its own, and one that follows a review */
    json_t *re = parse("{\"id\": 21, \"action\": \"crime.reclassified\", \"actor\": \"u3\", \"role\": \"fcr\","
                       " \"crn\": \"XX/2026/000001\", \"rules\": [\"HOCR-B.reclassification\", \"NCRS.person_decision\"],"
                       " \"after\": {\"offence\": \"5D\", \"reclassified_by\": {\"rationale\": \"worse\","
                       " \"at\": \"2026-03-05T11:00:00Z\"}}}");
    ck_assert_int_eq(whatif_request(re, stored, replayed, NULL, NULL, &r), 1);
    ck_assert_str_eq(r.req.action, "reclassify");
    ck_assert_str_eq(r.req.target, "XX/2026/000005");
    ck_assert_str_eq(json_string_value(json_object_get(r.body, "offence")), "5D");
    whatif_request_clear(&r);
    json_array_append_new(json_object_get(re, "rules"), json_string(RULE_DOWNGRADE_REVIEW));
    ck_assert_int_eq(whatif_request(re, stored, replayed, NULL, NULL, &r), 0);
    /* the allegation's crime is not in the replay */
    json_array_remove(json_object_get(replayed, "crimes"), 1);
    json_array_remove(json_object_get(re, "rules"), 2);
    ck_assert_int_eq(whatif_request(re, stored, replayed, NULL, NULL, &r), -1);
    json_decref(re);
    json_decref(act);
    json_decref(stored);
    json_decref(replayed);
    json_decref(others);
    json_decref(replayed_all);
}
END_TEST

/* ---- whole replays -------------------------------------------------------------------------- */

static int64_t serial(void *arg)
{
    return ++*(int64_t *)arg;
}

/* An opening with an injury assault (a1) and an allegation coded ZZ99 (a2): a crime at once
 * and a pending decision. */
static const char *const OPENED =
    "{\"v\":1,\"event_id\":\"E1\",\"type\":\"incident.opened\",\"incident_id\":\"I1\",\"seq\":1,"
    "\"at\":\"2026-03-04T22:40:00Z\",\"category\":\"crime\",\"channel\":\"emergency_call\","
    "\"narrative\":\"Fight outside a takeaway.\",\"reported_by\":\"v1\","
    "\"persons\":[{\"id\":\"v1\",\"role\":\"victim\",\"sex\":\"male\",\"age\":27,\"confirms\":true,"
    "\"relationships\":[{\"to\":\"s1\",\"kind\":\"stranger\"}]},"
    "{\"id\":\"v2\",\"role\":\"victim\",\"sex\":\"male\",\"age\":28,\"confirms\":true},"
    "{\"id\":\"s1\",\"role\":\"suspect\",\"sex\":\"male\"}],"
    "\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\",\"suspects\":[\"s1\"],\"conduct\":\"assault.injury\","
    "\"occurred_at\":\"2026-03-04T22:40:00Z\",\"location\":{\"force_area\":\"own\",\"premises\":\"public_place\"}},"
    "{\"id\":\"a2\",\"victim\":\"v2\",\"offence\":\"ZZ99\",\"occurred_at\":\"2026-03-04T22:40:00Z\","
    "\"location\":{\"force_area\":\"own\",\"premises\":\"public_place\"}}]}";

static json_t *group_of(const json_t *acts)
{
    json_t *rec = json_pack("{s:s, s:n, s:[[i, s, i]], s:O}", "incident_id", "I1", "state", "events", 1, OPENED, 5,
                            "acts", acts);
    return json_pack("[o]", rec);
}

START_TEST(replay_with_people_decisions)
{
    int64_t n = 0;
    struct rules_env env = {rs_loaded, "XX", serial, &n};
    struct whatif_stats st = {0};
    json_t *none = json_array();
    json_t *group = group_of(none);
    json_t *states = whatif_replay(&env, group, &st);
    ck_assert_ptr_nonnull(states);
    json_t *first = json_incref(json_object_get(states, "I1"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(first, "decisions"), "a1"),
                                                       "offence")), "8N");
    json_t *pending = json_array_get(json_object_get(first, "pending"), 0);
    ck_assert_ptr_nonnull(pending);
    /* the supervisor's decision as the API would take it, and its audit entries */
    json_t *body = parse("{\"decision\": \"record\", \"offence\": \"105A\", \"rationale\": \"seen on CCTV\"}");
    struct rules_act_request req = {"decide", json_string_value(json_object_get(pending, "id")), body, "u1",
                                    "supervisor", 1772665200000LL};
    json_t *decided = NULL, *outcome = NULL;
    struct feed_event_error err = {0};
    ck_assert_int_eq(rules_act(&env, first, NULL, &req, &decided, &outcome, &err), 0);
    json_t *acts = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(outcome, "audit"), i, e)
    {
        json_t *a = jsonwrite_copy(e);
        json_object_set_new(a, "id", json_integer(100 + (json_int_t)i));
        json_object_set_new(a, "at", json_string("2026-03-04T23:00:00.000Z"));
        json_array_append_new(acts, a);
    }
    json_decref(outcome);
    /* replayed with the decision: the same decisions as deciding directly */
    json_t *g2 = group_of(acts);
    json_decref(acts);
    struct whatif_stats st2 = {0};
    json_t *states2 = whatif_replay(&env, g2, &st2);
    ck_assert_uint_eq(st2.decisions, 1);
    ck_assert_uint_eq(st2.decisions_refused + st2.decisions_unmatched + st2.events_refused, 0);
    json_t *changes = json_array();
    whatif_diff("I1", decided, json_object_get(states2, "I1"), changes);
    ck_assert_msg(json_array_size(changes) == 0, "%s", json_dumps(changes, 0));
    /* and through the candidate: a1 moves to 105A; a2 stays as the person recorded it */
    struct ruleset *cand = load_rules(true);
    struct rules_env env2 = {cand, "XX", serial, &n};
    json_t *states3 = whatif_replay(&env2, g2, &st2);
    whatif_diff("I1", decided, json_object_get(states3, "I1"), changes);
    ck_assert_uint_eq(json_array_size(changes), 1);
    json_t *c = json_array_get(changes, 0);
    ck_assert_str_eq(json_string_value(json_object_get(c, "allegation")), "a1");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "after"), "offence")), "105A");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "before"), "offence")), "8N");
    /* the candidate's replay is of its own rule set */
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(states3, "I1"), "ruleset")), "hocr-2026.0");
    json_decref(changes);
    json_decref(states3);
    ruleset_free(cand);
    json_decref(states2);
    json_decref(g2);
    json_decref(body);
    json_decref(decided);
    json_decref(first);
    json_decref(states);
    json_decref(group);
    json_decref(none);
}
END_TEST

START_TEST(replay_keeps_going_past_bad_items)
{
    int64_t n = 0;
    struct rules_env env = {rs_loaded, "XX", serial, &n};
    struct whatif_stats st = {0};
    /* a body that is not an event, an update of an unknown person, then the opening */
    json_t *group = json_pack(
        "[{s:s, s:n, s:[[i, s, n], [i, s, n]], s:[{s:i, s:s}]}]", "incident_id", "I1", "state", "events", 1, "{not json",
        2, OPENED, "acts", "id", 3, "action", "pending.closed");
    json_t *states = whatif_replay(&env, group, &st);
    ck_assert_ptr_nonnull(states);
    ck_assert_uint_eq(st.events, 2);
    ck_assert_uint_eq(st.events_refused, 1);
    ck_assert_uint_eq(st.decisions, 0); /* an entry with no resolution is no decision */
    ck_assert(json_is_object(json_object_get(states, "I1")));
    json_decref(states);
    json_decref(group);
    /* an empty group */
    json_t *empty = json_array();
    states = whatif_replay(&env, empty, &st);
    ck_assert_uint_eq(json_object_size(states), 0);
    json_decref(states);
    json_decref(empty);
}
END_TEST

static Suite *whatif_suite(void)
{
    Suite *s = suite_create("whatif");
    TCase *tc = tcase_create("whatif");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, diff_reports_only_what_differs);
    tcase_add_test(tc, diff_counts_by_category);
    tcase_add_test(tc, request_rebuilds_a_decision_on_the_replayed_item);
    tcase_add_test(tc, request_maps_crimes_by_allegation);
    tcase_add_test(tc, replay_with_people_decisions);
    tcase_add_test(tc, replay_keeps_going_past_bad_items);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(whatif_suite());
}
