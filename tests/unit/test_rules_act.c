/* test_rules_act.c: people's decisions (rules_act): one test per rule, each on an incident built
 * by the real engine from feed events, with one change that trips exactly that rule. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_event.h"
#include "rules/rules.h"
#include "rules/rules_act.h"
#include "rules/ruleset.h"
#include "check_run.h"

static struct ruleset *rs;
static int64_t serial;

static int64_t next_serial(void *arg)
{
    (void)arg;
    return ++serial;
}

static const struct rules_env env = {NULL, "TST", next_serial, NULL};

static struct rules_env the_env(void)
{
    struct rules_env e = env;
    e.rs = rs;
    return e;
}

static void setup(void)
{
    char path[4096], err[512];
    const char *root = getenv("FCRD_SOURCE_ROOT");
    snprintf(path, sizeof path, "%s/conf/rules/hocr-2025.json", root ? root : ".");
    ck_assert_msg(ruleset_load(path, &rs, err, sizeof err) == 0, "%s", err);
    serial = 0;
}

static void teardown(void)
{
    rs = ruleset_free(rs);
}

/* Apply one feed event (JSON text) to state; returns the new state (state is released). */
static json_t *feed(json_t *state, const json_t *linked, const char *line)
{
    struct feed_event ev;
    struct feed_event_error err = {0};
    struct feed_event_limits lim;
    feed_event_limits_default(&lim);
    ck_assert_msg(feed_event_parse(line, strlen(line), &lim, &ev, &err) == 0, "%s %s", err.field, err.message);
    struct rules_env e = the_env();
    json_t *ns = NULL, *out = NULL;
    ck_assert_int_eq(rules_apply(&e, state, linked, &ev, &ns, &out, &err), 0);
    json_decref(out);
    json_decref(state);
    feed_event_clear(&ev);
    return ns;
}

/* An incident with one crime: the victim reports an assault with injury (8N). */
#define ASSAULT                                                                                              \
    "{\"v\":1,\"event_id\":\"e1\",\"type\":\"incident.opened\",\"incident_id\":\"I1\",\"seq\":1,"           \
    "\"at\":\"2026-05-01T10:00:00Z\",\"category\":\"crime\",\"reported_by\":\"v1\","                         \
    "\"persons\":[{\"id\":\"v1\",\"role\":\"victim\",\"age\":30,\"confirms\":true,\"ref\":\"P-77\"},"        \
    "{\"id\":\"s1\",\"role\":\"suspect\"}],"                                                                 \
    "\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\",\"suspects\":[\"s1\"],\"conduct\":\"assault.injury\"%s}]}"

static json_t *assault(const char *alleg_extra)
{
    char line[2048];
    snprintf(line, sizeof line, ASSAULT, alleg_extra);
    return feed(NULL, NULL, line);
}

/* A witness reports the same kind of assault: pending until the victim confirms. */
static json_t *third_party(void)
{
    return feed(NULL, NULL,
                "{\"v\":1,\"event_id\":\"t1\",\"type\":\"incident.opened\",\"incident_id\":\"I2\",\"seq\":1,"
                "\"at\":\"2026-05-01T10:00:00Z\",\"category\":\"crime\",\"reported_by\":\"w1\","
                "\"persons\":[{\"id\":\"w1\",\"role\":\"witness\"},{\"id\":\"v1\",\"role\":\"victim\",\"age\":40}],"
                "\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\",\"conduct\":\"assault.injury\"}]}");
}

static const char *first_crn(const json_t *state)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(state, "crimes"), 0), "crn"));
}

static const char *first_pending(const json_t *state)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(state, "pending"), 0), "id"));
}

struct result {
    int rc;
    json_t *state, *out;
    struct feed_event_error err;
};

static struct result act(const json_t *state, const json_t *linked, const char *action, const char *target,
                         const char *role, const char *body)
{
    struct result r = {0};
    json_t *b = json_loads(body, 0, NULL);
    ck_assert_ptr_nonnull(b);
    struct rules_act_request req = {action, target, b, "u1", role, 1780000000000LL};
    struct rules_env e = the_env();
    r.rc = rules_act(&e, state, linked, &req, &r.state, &r.out, &r.err);
    json_decref(b);
    return r;
}

static void result_clear(struct result *r)
{
    json_decref(r->state);
    json_decref(r->out);
    feed_event_error_clear(&r->err);
}

static void assert_refused(struct result *r, int status, const char *code)
{
    ck_assert_msg(r->rc == status, "rc %d (%s: %s), expected %d", r->rc, r->err.code ? r->err.code : "",
                  r->err.message, status);
    if (code)
        ck_assert_str_eq(r->err.code, code);
    ck_assert_ptr_null(r->state);
    ck_assert_ptr_null(r->out);
}

static json_t *crime_in(const json_t *state, const char *crn)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(state, "crimes"), i, c) {
        if (strcmp(json_string_value(json_object_get(c, "crn")), crn) == 0)
            return c;
    }
    return NULL;
}

static bool has_rule(const json_t *audit, const char *rule)
{
    size_t i, j;
    json_t *e, *r;
    json_array_foreach(audit, i, e) {
        json_array_foreach(json_object_get(e, "rules"), j, r) {
            if (strcmp(json_string_value(r), rule) == 0)
                return true;
        }
    }
    return false;
}

/* ---- deciding pending items (NCRS.person_decision) ---- */

START_TEST(decide_record_creates_crime_and_closes_item)
{
    json_t *st = third_party();
    const char *pid = first_pending(st);
    ck_assert_ptr_nonnull(pid);
    struct result r = act(st, NULL, "decide", pid, "supervisor", "{\"decision\":\"record\",\"rationale\":\"seen on CCTV\"}");
    ck_assert_int_eq(r.rc, 0);
    json_t *body = json_object_get(r.out, "body");
    ck_assert_int_eq(json_array_size(json_object_get(body, "crimes")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(body, "crimes"), 0), "offence")),
                     "8N");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(body, "pending"), "status")), "closed");
    json_t *d = json_object_get(json_object_get(r.state, "decisions"), "a1");
    ck_assert_str_eq(json_string_value(json_object_get(d, "outcome")), "recorded");
    ck_assert_ptr_nonnull(json_object_get(d, "by"));
    ck_assert(has_rule(json_object_get(r.out, "audit"), "NCRS.person_decision"));
    result_clear(&r);
    json_decref(st);
}
END_TEST

START_TEST(decide_no_crime_keeps_reason_and_survives_next_event)
{
    json_t *st = third_party();
    const char *pid = first_pending(st);
    struct result r = act(st, NULL, "decide", pid, "supervisor",
                          "{\"decision\":\"no_crime\",\"reason_code\":\"victim_not_traced\",\"rationale\":\"no trace\"}");
    ck_assert_int_eq(r.rc, 0);
    json_t *d = json_object_get(json_object_get(r.state, "decisions"), "a1");
    ck_assert_str_eq(json_string_value(json_object_get(d, "outcome")), "not_recorded");
    ck_assert_str_eq(json_string_value(json_object_get(d, "reason")), "victim_not_traced");
    /* A later event that does not mention the allegation leaves the person's decision standing. */
    json_t *after = feed(json_incref(r.state), NULL,
                         "{\"v\":1,\"event_id\":\"t2\",\"type\":\"incident.updated\",\"incident_id\":\"I2\",\"seq\":2,"
                         "\"at\":\"2026-05-01T12:00:00Z\",\"narrative\":\"patrol finished\"}");
    d = json_object_get(json_object_get(after, "decisions"), "a1");
    ck_assert_str_eq(json_string_value(json_object_get(d, "outcome")), "not_recorded");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(after, "pending"), i, p) {
        ck_assert_str_ne(json_string_value(json_object_get(p, "status")), "open");
    }
    json_decref(after);
    result_clear(&r);
    json_decref(st);
}
END_TEST

START_TEST(decide_twice_is_a_conflict)
{
    json_t *st = third_party();
    const char *pid = first_pending(st);
    struct result r = act(st, NULL, "decide", pid, "supervisor", "{\"decision\":\"transfer\",\"rationale\":\"x\"}");
    ck_assert_int_eq(r.rc, 0);
    struct result again = act(r.state, NULL, "decide", pid, "supervisor", "{\"decision\":\"record\",\"rationale\":\"x\"}");
    assert_refused(&again, 409, "already_closed");
    result_clear(&r);
    json_decref(st);
}
END_TEST

START_TEST(decide_record_needs_known_offence_and_person)
{
    json_t *st = third_party();
    const char *pid = first_pending(st);
    struct result r = act(st, NULL, "decide", pid, "supervisor",
                          "{\"decision\":\"record\",\"offence\":\"ZZ9\",\"rationale\":\"x\"}");
    assert_refused(&r, 422, "unknown_offence");
    r = act(st, NULL, "decide", pid, "supervisor", "{\"decision\":\"record\",\"victim\":\"nobody\",\"rationale\":\"x\"}");
    assert_refused(&r, 422, "unknown_person");
    r = act(st, NULL, "decide", "PD-404", "supervisor", "{\"decision\":\"record\",\"rationale\":\"x\"}");
    assert_refused(&r, 404, "not_found");
    json_decref(st);
}
END_TEST

/* ---- cancellation (HOCR-C.*) ---- */

START_TEST(cancel_c4_recorded_in_error)
{
    json_t *st = assault("");
    const char *crn = first_crn(st);
    struct result r = act(st, NULL, "cancel", crn, "ddm", "{\"reason\":\"C4\",\"rationale\":\"keyed in error\"}");
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(json_string_value(json_object_get(crime_in(r.state, crn), "status")), "cancelled");
    ck_assert(has_rule(json_object_get(r.out, "audit"), "HOCR-C.C4"));
    /* The cancelled crime stays in the state, never deleted; a second cancellation conflicts. */
    struct result again = act(r.state, NULL, "cancel", crn, "ddm", "{\"reason\":\"C4\",\"rationale\":\"x\"}");
    assert_refused(&again, 409, "not_recorded");
    result_clear(&r);
    json_decref(st);
}
END_TEST

START_TEST(cancel_c2_needs_avi)
{
    json_t *st = assault("");
    const char *crn = first_crn(st);
    struct result r = act(st, NULL, "cancel", crn, "ddm", "{\"reason\":\"C2\",\"rationale\":\"x\"}");
    assert_refused(&r, 422, "avi_required");
    r = act(st, NULL, "cancel", crn, "ddm",
            "{\"reason\":\"C2\",\"rationale\":\"x\",\"avi\":\"CCTV shows he fell\",\"victim_informed_at\":\"2026-05-02T09:00:00Z\"}");
    ck_assert_int_eq(r.rc, 0);
    json_t *c = json_object_get(crime_in(r.state, crn), "cancellation");
    ck_assert_str_eq(json_string_value(json_object_get(c, "avi")), "CCTV shows he fell");
    ck_assert(json_is_true(json_object_get(c, "victim_informed")));
    result_clear(&r);
    json_decref(st);
}
END_TEST

START_TEST(cancel_c1_takes_force_from_location)
{
    json_t *st = assault("");
    struct result r = act(st, NULL, "cancel", first_crn(st), "ddm", "{\"reason\":\"C1\",\"rationale\":\"x\"}");
    assert_refused(&r, 422, "to_force_required");
    json_decref(st);
    st = assault(",\"location\":{\"force_area\":\"own\",\"other_force\":\"NEIGHBOUR\"}");
    r = act(st, NULL, "cancel", first_crn(st), "ddm", "{\"reason\":\"C1\",\"rationale\":\"x\"}");
    ck_assert_int_eq(r.rc, 0);
    json_t *c = crime_in(r.state, first_crn(st));
    ck_assert_str_eq(json_string_value(json_object_get(c, "status")), "transferred");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "cancellation"), "to_force")), "NEIGHBOUR");
    result_clear(&r);
    json_decref(st);
}
END_TEST

START_TEST(cancel_c3_finds_the_same_person_elsewhere)
{
    json_t *first = assault("");
    /* The same person (same ref) reports it again under another incident, unlinked. */
    char line[2048];
    snprintf(line, sizeof line, ASSAULT, "");
    char *p = strstr(line, "\"I1\"");
    memcpy(p, "\"I3\"", 4);
    p = strstr(line, "\"e1\"");
    memcpy(p, "\"e9\"", 4);
    json_t *second = feed(NULL, NULL, line);
    json_t *linked = json_pack("{s:O}", "I1", first);
    struct result r = act(second, linked, "cancel", first_crn(second), "ddm", "{\"reason\":\"C3\",\"rationale\":\"x\"}");
    ck_assert_int_eq(r.rc, 0);
    json_t *c = json_object_get(crime_in(r.state, first_crn(second)), "cancellation");
    ck_assert_str_eq(json_string_value(json_object_get(c, "duplicate_of")), first_crn(first));
    json_t *d = json_object_get(json_object_get(r.state, "decisions"), "a1");
    ck_assert_str_eq(json_string_value(json_object_get(d, "outcome")), "counted_in");
    result_clear(&r);
    /* Naming itself, or nothing to find, is refused. */
    r = act(second, linked, "cancel", first_crn(second), "ddm",
            "{\"reason\":\"C3\",\"rationale\":\"x\",\"duplicate_of\":\"TST/2026/999999\"}");
    assert_refused(&r, 422, "duplicate_not_live");
    r = act(second, NULL, "cancel", first_crn(second), "ddm", "{\"reason\":\"C3\",\"rationale\":\"x\"}");
    assert_refused(&r, 422, "duplicate_of_required");
    json_decref(linked);
    json_decref(first);
    json_decref(second);
}
END_TEST

START_TEST(cancel_rape_is_for_the_registrar)
{
    json_t *st = feed(NULL, NULL,
                      "{\"v\":1,\"event_id\":\"r1\",\"type\":\"incident.opened\",\"incident_id\":\"I4\",\"seq\":1,"
                      "\"at\":\"2026-05-01T10:00:00Z\",\"category\":\"crime\",\"reported_by\":\"v1\","
                      "\"persons\":[{\"id\":\"v1\",\"role\":\"victim\",\"sex\":\"female\",\"age\":25,\"confirms\":true}],"
                      "\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\",\"conduct\":\"rape\"}]}");
    const char *crn = first_crn(st);
    ck_assert_ptr_nonnull(crn);
    struct result r = act(st, NULL, "cancel", crn, "ddm", "{\"reason\":\"C4\",\"rationale\":\"x\"}");
    assert_refused(&r, 403, "forbidden");
    r = act(st, NULL, "cancel", crn, "fcr", "{\"reason\":\"C4\",\"rationale\":\"x\"}");
    ck_assert_int_eq(r.rc, 0);
    ck_assert(has_rule(json_object_get(r.out, "audit"), "HOCR-C.authority"));
    result_clear(&r);
    json_decref(st);
}
END_TEST


/* ---- the authority table (NCRS.authority) ---- */

#define RAPE_LINE(inc, reporter, extra)                                                                      \
    "{\"v\":1,\"event_id\":\"" inc "-1\",\"type\":\"incident.opened\",\"incident_id\":\"" inc "\",\"seq\":1,"   \
    "\"at\":\"2026-05-01T10:00:00Z\",\"category\":\"crime\",\"reported_by\":\"" reporter "\","                \
    "\"persons\":[{\"id\":\"w1\",\"role\":\"witness\"},"                                                       \
    "{\"id\":\"v1\",\"role\":\"victim\",\"sex\":\"female\",\"age\":25" extra "}],"                              \
    "\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\",\"conduct\":\"rape\"}]}"

static json_t *rape(const char *incident)
{
    if (strcmp(incident, "R1") == 0)
        return feed(NULL, NULL, RAPE_LINE("R1", "v1", ",\"confirms\":true"));
    return feed(NULL, NULL, RAPE_LINE("R2", "v1", ",\"confirms\":true"));
}

static const char *const roles[] = {"ops", "auditor", "supervisor", "ddm", "fcr", "nobody", NULL};

/* Whether `role` reaches `least` in supervisor < ddm < fcr. */
static bool reaches(const char *role, const char *least)
{
    static const char *const order[] = {"supervisor", "ddm", "fcr"};
    int have = -1, need = -1;
    for (int i = 0; i < 3; i++) {
        if (strcmp(order[i], role) == 0)
            have = i;
        if (strcmp(order[i], least) == 0)
            need = i;
    }
    return have >= 0 && have >= need;
}

/* One action by every role: allowed exactly from `least` up; refused ones write nothing. */
static void every_role(const json_t *state, const json_t *linked, const char *action, const char *target,
                       const char *body, const char *least, const char *what)
{
    for (size_t i = 0; roles[i]; i++) {
        struct result r = act(state, linked, action, target, roles[i], body);
        if (reaches(roles[i], least)) {
            ck_assert_msg(r.rc == 0, "%s by %s: %d %s %s", what, roles[i], r.rc, r.err.code ? r.err.code : "",
                          r.err.message);
            result_clear(&r);
        } else {
            ck_assert_msg(r.rc == 403, "%s by %s: %d, expected 403", what, roles[i], r.rc);
            ck_assert_str_eq(r.err.code, "forbidden");
            ck_assert_msg(strstr(r.err.message, least) != NULL, "%s: message names no role: %s", what, r.err.message);
            assert_refused(&r, 403, "forbidden");
        }
    }
}

static const char *pending_with(const json_t *state, const char *reason)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(state, "pending"), i, p) {
        if (strcmp(json_string_value(json_object_get(p, "reason")), reason) == 0 &&
            strcmp(json_string_value(json_object_get(p, "status")), "open") == 0)
            return json_string_value(json_object_get(p, "id"));
    }
    return NULL;
}

/* Rape (19C, reserved group serious_sexual): every role against every action. */
START_TEST(authority_matrix_rape)
{
    json_t *st = rape("R1"), *other = rape("R2");
    const char *crn = first_crn(st);
    json_t *linked = json_pack("{s:O}", "R2", other);
    char body[256];
    every_role(st, NULL, "cancel", crn, "{\"reason\":\"C1\",\"rationale\":\"x\",\"to_force\":\"Kent\"}", "fcr", "C1");
    every_role(st, NULL, "cancel", crn,
               "{\"reason\":\"C2\",\"rationale\":\"x\",\"avi\":\"y\",\"victim_informed_at\":\"2026-05-02T09:00:00Z\"}",
               "fcr", "C2");
    snprintf(body, sizeof body, "{\"reason\":\"C3\",\"rationale\":\"x\",\"duplicate_of\":\"%s\"}", first_crn(other));
    every_role(st, linked, "cancel", crn, body, "fcr", "C3");
    every_role(st, NULL, "cancel", crn, "{\"reason\":\"C4\",\"rationale\":\"x\"}", "fcr", "C4");
    every_role(st, NULL, "reclassify", crn, "{\"offence\":\"20A\",\"rationale\":\"x\"}", "fcr", "down 19C->20A");
    every_role(st, NULL, "reclassify", crn, "{\"offence\":\"8N\",\"rationale\":\"x\"}", "fcr", "out of reserved group");
    every_role(st, NULL, "reclassify", crn, "{\"offence\":\"19D\",\"rationale\":\"x\"}", "ddm", "up 19C->19D");

    /* A retraction review of the recorded rape: pending decisions on a 19C candidate. */
    json_t *retracted = feed(json_deep_copy(st), NULL,
                             "{\"v\":1,\"event_id\":\"R1-2\",\"type\":\"incident.updated\",\"incident_id\":\"R1\",\"seq\":2,"
                             "\"at\":\"2026-05-01T11:00:00Z\",\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\","
                             "\"conduct\":\"rape\",\"retracted\":true}]}");
    const char *pid = pending_with(retracted, "retraction_review");
    ck_assert_ptr_nonnull(pid);
    every_role(retracted, NULL, "decide", pid, "{\"decision\":\"record\",\"rationale\":\"x\"}", "supervisor", "record");
    every_role(retracted, NULL, "decide", pid, "{\"decision\":\"no_crime\",\"rationale\":\"x\"}", "fcr", "no_crime");
    every_role(retracted, NULL, "decide", pid, "{\"decision\":\"transfer\",\"rationale\":\"x\",\"to_force\":\"Kent\"}",
               "fcr", "transfer");

    /* A third party's report of a rape, held as N100/1: disposing of it is for the registrar. */
    json_t *held = feed(NULL, NULL, RAPE_LINE("R3", "w1", ""));
    pid = pending_with(held, "third_party_unconfirmed");
    ck_assert_ptr_nonnull(pid);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(held, "decisions"), "a1"),
                                                       "outcome")),
                     "held");
    every_role(held, NULL, "decide", pid, "{\"decision\":\"no_crime\",\"rationale\":\"x\"}", "fcr", "n100 no_crime");
    every_role(held, NULL, "decide", pid, "{\"decision\":\"transfer\",\"rationale\":\"x\"}", "fcr", "n100 transfer");
    every_role(held, NULL, "decide", pid, "{\"decision\":\"record\",\"rationale\":\"x\"}", "supervisor", "n100 record");
    json_decref(held);
    json_decref(retracted);
    json_decref(linked);
    json_decref(other);
    json_decref(st);
}
END_TEST

/* Assault with injury (8N, group violence, not reserved): every role against every action. */
START_TEST(authority_matrix_assault)
{
    json_t *st = assault(""), *other = feed(NULL, NULL,
                                            "{\"v\":1,\"event_id\":\"x1\",\"type\":\"incident.opened\",\"incident_id\":\"I9\","
                                            "\"seq\":1,\"at\":\"2026-05-01T10:00:00Z\",\"category\":\"crime\",\"reported_by\":\"v1\","
                                            "\"persons\":[{\"id\":\"v1\",\"role\":\"victim\",\"confirms\":true}],"
                                            "\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\",\"conduct\":\"assault.injury\"}]}");
    const char *crn = first_crn(st);
    json_t *linked = json_pack("{s:O}", "I9", other);
    char body[256];
    every_role(st, NULL, "cancel", crn, "{\"reason\":\"C1\",\"rationale\":\"x\",\"to_force\":\"Kent\"}", "ddm", "C1");
    every_role(st, NULL, "cancel", crn, "{\"reason\":\"C2\",\"rationale\":\"x\",\"avi\":\"y\"}", "ddm", "C2");
    snprintf(body, sizeof body, "{\"reason\":\"C3\",\"rationale\":\"x\",\"duplicate_of\":\"%s\"}", first_crn(other));
    every_role(st, linked, "cancel", crn, body, "ddm", "C3");
    every_role(st, NULL, "cancel", crn, "{\"reason\":\"C4\",\"rationale\":\"x\"}", "ddm", "C4");
    every_role(st, NULL, "reclassify", crn, "{\"offence\":\"105A\",\"rationale\":\"x\"}", "ddm", "down 8N->105A");
    every_role(st, NULL, "reclassify", crn, "{\"offence\":\"5D\",\"rationale\":\"x\"}", "ddm", "up 8N->5D");
    json_t *tp = third_party();
    const char *pid = first_pending(tp);
    every_role(tp, NULL, "decide", pid, "{\"decision\":\"record\",\"rationale\":\"x\"}", "supervisor", "record");
    every_role(tp, NULL, "decide", pid, "{\"decision\":\"no_crime\",\"rationale\":\"x\"}", "supervisor", "no_crime");
    every_role(tp, NULL, "decide", pid, "{\"decision\":\"transfer\",\"rationale\":\"x\"}", "supervisor", "transfer");
    json_decref(tp);
    json_decref(linked);
    json_decref(other);
    json_decref(st);
}
END_TEST

/* A DDM's downgrade of a rape is refused (the reported hole: then the DDM could cancel it). */
START_TEST(ddm_cannot_downgrade_rape_then_cancel)
{
    json_t *st = rape("R1");
    struct result r = act(st, NULL, "reclassify", first_crn(st), "ddm", "{\"offence\":\"20A\",\"rationale\":\"x\"}");
    assert_refused(&r, 403, "forbidden");
    ck_assert_ptr_nonnull(strstr(r.err.message, "reclassify_down"));
    ck_assert_ptr_nonnull(strstr(r.err.message, "19C"));
    feed_event_error_clear(&r.err);
    r = act(st, NULL, "reclassify", first_crn(st), "fcr", "{\"offence\":\"20A\",\"rationale\":\"x\"}");
    ck_assert_int_eq(r.rc, 0);
    ck_assert(has_rule(json_object_get(r.out, "audit"), "HOCR-B.reclassification"));
    /* Still in the reserved group: a DDM still may not cancel the sexual assault. */
    struct result r2 = act(r.state, NULL, "cancel", first_crn(st), "ddm", "{\"reason\":\"C4\",\"rationale\":\"x\"}");
    assert_refused(&r2, 403, "forbidden");
    feed_event_error_clear(&r2.err);
    result_clear(&r);
    json_decref(st);
}
END_TEST

/* victim_informed_required: C2 of a rape needs victim_informed_at, named as the field. */
START_TEST(cancel_needs_victim_informed_where_the_table_says)
{
    json_t *st = rape("R1");
    struct result r = act(st, NULL, "cancel", first_crn(st), "fcr", "{\"reason\":\"C2\",\"rationale\":\"x\",\"avi\":\"y\"}");
    assert_refused(&r, 422, "victim_not_informed");
    ck_assert_str_eq(r.err.field, "victim_informed_at");
    feed_event_error_clear(&r.err);
    r = act(st, NULL, "cancel", first_crn(st), "fcr", "{\"reason\":\"C4\",\"rationale\":\"x\"}");
    ck_assert_int_eq(r.rc, 0);
    result_clear(&r);
    json_decref(st);
    /* Not for an assault in the shipped table. */
    st = assault("");
    r = act(st, NULL, "cancel", first_crn(st), "ddm", "{\"reason\":\"C2\",\"rationale\":\"x\",\"avi\":\"y\"}");
    ck_assert_int_eq(r.rc, 0);
    result_clear(&r);
    json_decref(st);
}
END_TEST

/* A crime whose code the loaded rule set does not know: nobody acts on it by default. */
START_TEST(unknown_offence_is_refused)
{
    json_t *st = assault("");
    json_t *crime = json_array_get(json_object_get(st, "crimes"), 0);
    json_object_set_new(crime, "offence", json_string("99Z"));
    for (size_t i = 0; roles[i]; i++) {
        struct result r = act(st, NULL, "cancel", first_crn(st), roles[i], "{\"reason\":\"C4\",\"rationale\":\"x\"}");
        assert_refused(&r, 409, "offence_not_in_ruleset");
        feed_event_error_clear(&r.err);
        r = act(st, NULL, "reclassify", first_crn(st), roles[i], "{\"offence\":\"8N\",\"rationale\":\"x\"}");
        assert_refused(&r, 409, "offence_not_in_ruleset");
        feed_event_error_clear(&r.err);
    }
    json_decref(st);
}
END_TEST

/* ---- the feed never downgrades (HOCR-B.downgrade_review) ---- */

START_TEST(feed_rekey_of_rape_opens_review)
{
    json_t *st = rape("R1");
    const char *crn = first_crn(st);
    char crnbuf[64];
    snprintf(crnbuf, sizeof crnbuf, "%s", crn);
    st = feed(st, NULL,
              "{\"v\":1,\"event_id\":\"R1-2\",\"type\":\"incident.updated\",\"incident_id\":\"R1\",\"seq\":2,"
              "\"at\":\"2026-05-01T11:00:00Z\",\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\","
              "\"conduct\":\"sexual_assault\"}]}");
    json_t *crime = crime_in(st, crnbuf);
    ck_assert_str_eq(json_string_value(json_object_get(crime, "offence")), "19C");
    ck_assert_str_eq(json_string_value(json_object_get(crime, "status")), "recorded");
    json_t *d = json_object_get(json_object_get(st, "decisions"), "a1");
    ck_assert_str_eq(json_string_value(json_object_get(d, "offence")), "19C");
    const char *pid = pending_with(st, "reclassification_review");
    ck_assert_ptr_nonnull(pid);
    json_t *p = NULL;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(st, "pending"), i, x) {
        if (strcmp(json_string_value(json_object_get(x, "id")), pid) == 0)
            p = x;
    }
    ck_assert_str_eq(json_string_value(json_object_get(p, "candidate_offence")), "20A");
    ck_assert_str_eq(json_string_value(json_object_get(p, "role")), "fcr");
    ck_assert_str_eq(json_string_value(json_object_get(p, "crn")), crnbuf);
    json_t *holder = json_pack("[O]", p);
    ck_assert(has_rule(holder, "HOCR-B.downgrade_review"));
    json_decref(holder);

    /* The same event again changes nothing more: one review, still open. */
    st = feed(st, NULL,
              "{\"v\":1,\"event_id\":\"R1-3\",\"type\":\"incident.updated\",\"incident_id\":\"R1\",\"seq\":3,"
              "\"at\":\"2026-05-01T11:30:00Z\",\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\","
              "\"conduct\":\"sexual_assault\"}]}");
    pid = pending_with(st, "reclassification_review");
    ck_assert_str_eq(json_string_value(json_object_get(crime_in(st, crnbuf), "offence")), "19C");

    /* A DDM may not close it; the registrar applies the candidate. */
    struct result r = act(st, NULL, "decide", pid, "ddm", "{\"decision\":\"record\",\"rationale\":\"x\"}");
    assert_refused(&r, 403, "forbidden");
    feed_event_error_clear(&r.err);
    r = act(st, NULL, "decide", pid, "fcr", "{\"decision\":\"no_crime\",\"rationale\":\"x\"}");
    assert_refused(&r, 422, "record_required");
    feed_event_error_clear(&r.err);
    r = act(st, NULL, "decide", pid, "fcr", "{\"decision\":\"record\",\"rationale\":\"victim's account\"}");
    ck_assert_msg(r.rc == 0, "%s", r.err.message);
    ck_assert_str_eq(json_string_value(json_object_get(crime_in(r.state, crnbuf), "offence")), "20A");
    ck_assert(has_rule(json_object_get(r.out, "audit"), "HOCR-B.downgrade_review"));
    ck_assert_ptr_null(pending_with(r.state, "reclassification_review"));
    /* The next event about it does not reopen the question. */
    json_t *after = feed(json_incref(r.state), NULL,
                         "{\"v\":1,\"event_id\":\"R1-4\",\"type\":\"incident.updated\",\"incident_id\":\"R1\",\"seq\":4,"
                         "\"at\":\"2026-05-01T12:00:00Z\",\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\","
                         "\"conduct\":\"sexual_assault\"}]}");
    ck_assert_str_eq(json_string_value(json_object_get(crime_in(after, crnbuf), "offence")), "20A");
    ck_assert_ptr_null(pending_with(after, "reclassification_review"));
    json_decref(after);
    result_clear(&r);
    json_decref(st);
}
END_TEST

/* An upgrade from the feed applies at once; a downgrade outside the reserved group is for a DDM. */
START_TEST(feed_upgrade_applies_downgrade_reviewed)
{
    json_t *st = feed(NULL, NULL,
                      "{\"v\":1,\"event_id\":\"S1-1\",\"type\":\"incident.opened\",\"incident_id\":\"S1\",\"seq\":1,"
                      "\"at\":\"2026-05-01T10:00:00Z\",\"category\":\"crime\",\"reported_by\":\"v1\","
                      "\"persons\":[{\"id\":\"v1\",\"role\":\"victim\",\"sex\":\"female\",\"age\":25,\"confirms\":true}],"
                      "\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\",\"conduct\":\"sexual_assault\"}]}");
    st = feed(st, NULL,
              "{\"v\":1,\"event_id\":\"S1-2\",\"type\":\"incident.updated\",\"incident_id\":\"S1\",\"seq\":2,"
              "\"at\":\"2026-05-01T11:00:00Z\",\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\",\"conduct\":\"rape\"}]}");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(st, "crimes"), 0), "offence")),
                     "19C");
    ck_assert_ptr_null(pending_with(st, "reclassification_review"));
    json_decref(st);

    st = assault("");
    st = feed(st, NULL,
              "{\"v\":1,\"event_id\":\"e2\",\"type\":\"incident.updated\",\"incident_id\":\"I1\",\"seq\":2,"
              "\"at\":\"2026-05-01T11:00:00Z\",\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\",\"suspects\":[\"s1\"],"
              "\"conduct\":\"assault.no_injury\"}]}");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(st, "crimes"), 0), "offence")),
                     "8N");
    const char *pid = pending_with(st, "reclassification_review");
    ck_assert_ptr_nonnull(pid);
    struct result r = act(st, NULL, "decide", pid, "supervisor", "{\"decision\":\"record\",\"rationale\":\"x\"}");
    assert_refused(&r, 403, "forbidden");
    feed_event_error_clear(&r.err);
    /* Keeping the crime's own code closes the review and changes nothing else. */
    r = act(st, NULL, "decide", pid, "ddm", "{\"decision\":\"record\",\"offence\":\"8N\",\"rationale\":\"injury seen\"}");
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r.state, "crimes"), 0), "offence")),
                     "8N");
    result_clear(&r);
    json_decref(st);
}
END_TEST

/* ---- reclassification (HOCR-B.reclassification) ---- */

START_TEST(reclassify_changes_code_keeps_crn)
{
    json_t *st = assault("");
    const char *crn = first_crn(st);
    struct result r = act(st, NULL, "reclassify", crn, "ddm", "{\"offence\":\"8N\",\"rationale\":\"x\"}");
    assert_refused(&r, 422, "offence_unchanged");
    r = act(st, NULL, "reclassify", crn, "ddm", "{\"offence\":\"NOPE\",\"rationale\":\"x\"}");
    assert_refused(&r, 422, "unknown_offence");
    r = act(st, NULL, "reclassify", crn, "ddm", "{\"offence\":\"105A\",\"rationale\":\"no injury after all\"}");
    ck_assert_int_eq(r.rc, 0);
    ck_assert_int_eq(json_array_size(json_object_get(r.state, "crimes")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(crime_in(r.state, crn), "offence")), "105A");
    json_t *e = json_array_get(json_object_get(r.out, "audit"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "before"), "offence")), "8N");
    ck_assert_str_eq(json_string_value(json_object_get(e, "actor")), "u1");
    result_clear(&r);
    json_decref(st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rules_act");
    TCase *tc = tcase_create("act");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, decide_record_creates_crime_and_closes_item);
    tcase_add_test(tc, authority_matrix_rape);
    tcase_add_test(tc, authority_matrix_assault);
    tcase_add_test(tc, ddm_cannot_downgrade_rape_then_cancel);
    tcase_add_test(tc, cancel_needs_victim_informed_where_the_table_says);
    tcase_add_test(tc, unknown_offence_is_refused);
    tcase_add_test(tc, feed_rekey_of_rape_opens_review);
    tcase_add_test(tc, feed_upgrade_applies_downgrade_reviewed);
    tcase_add_test(tc, decide_no_crime_keeps_reason_and_survives_next_event);
    tcase_add_test(tc, decide_twice_is_a_conflict);
    tcase_add_test(tc, decide_record_needs_known_offence_and_person);
    tcase_add_test(tc, cancel_c4_recorded_in_error);
    tcase_add_test(tc, cancel_c2_needs_avi);
    tcase_add_test(tc, cancel_c1_takes_force_from_location);
    tcase_add_test(tc, cancel_c3_finds_the_same_person_elsewhere);
    tcase_add_test(tc, cancel_rape_is_for_the_registrar);
    tcase_add_test(tc, reclassify_changes_code_keeps_crn);
    suite_add_tcase(s, tc);
    return check_run(s);
}
