/* test_scenarios.c: runs every worked case of scenarios/cases.json through the pure rules engine
 * (supervisor actions through rules_act, after the role check the API makes) and checks each
 * expectation the cases' README defines; adding a case needs no code. */
#include <check.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check_run.h"
#include "feed/feed_event.h"
#include "store/incident.h"
#include "rules/rules.h"
#include "rules/rules_act.h"
#include "rules/ruleset.h"

#define SKIP_EXIT 77

/* Everything one case's run accumulates. */
struct run {
    json_t *states;    /* incident id -> state */
    json_t *replies;   /* outcome of each event, in order */
    json_t *crn_first; /* crn -> 1-based index of the first reply that named it */
    json_t *first_incident;
    int64_t serial;
    char why[4096];    /* failures, "; "-separated */
    int failures;
};

static int64_t next_serial(void *arg)
{
    return ++*(int64_t *)arg;
}

__attribute__((format(printf, 2, 3))) static void failf(struct run *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = strlen(r->why);
    if (len < sizeof r->why - 2)
        snprintf(r->why + len, sizeof r->why - len, "%s%s", r->failures ? "; " : "", msg);
    r->failures++;
}

static const char *str(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An expected value: a string, null, or a list meaning "any of these". */
static bool value_matches(const json_t *expected, const json_t *actual)
{
    if (json_is_array(expected)) {
        size_t i;
        json_t *e;
        json_array_foreach(expected, i, e) {
            if (value_matches(e, actual))
                return true;
        }
        return false;
    }
    if (json_is_null(expected))
        return !actual || json_is_null(actual);
    return actual && json_equal(expected, actual);
}

/* Each event goes through the feed's own validation, as the daemon would see it. */
static bool event_from_json(const json_t *doc, struct feed_event *ev, struct feed_event_error *err)
{
    char *line = json_dumps(doc, JSON_COMPACT);
    memset(ev, 0, sizeof *ev);
    memset(err, 0, sizeof *err);
    int rc = line ? feed_event_parse(line, strlen(line), NULL, ev, err) : -1;
    free(line);
    return rc == 0;
}


/* ---- expectations ---- */

struct live_crime {
    const char *incident, *victim, *offence, *crn;
    json_t *flags;
    bool used;
};

static size_t live_crimes(const struct run *r, struct live_crime *out, size_t max)
{
    size_t n = 0;
    const char *id;
    json_t *st;
    json_object_foreach(r->states, id, st) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(st, "crimes"), i, c) {
            const char *status = str(c, "status");
            if (!status || strcmp(status, "recorded") != 0 || n >= max)
                continue;
            out[n++] = (struct live_crime){id, str(c, "victim"), str(c, "offence"), str(c, "crn"),
                                           json_object_get(c, "flags"), false};
        }
    }
    return n;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_crimes(struct run *r, const json_t *expected, const char *where)
{
    struct live_crime have[256];
    size_t n = live_crimes(r, have, 256);
    if (json_array_size(expected) != n)
        failf(r, "%s: %zu live crimes, expected %zu", where, n, json_array_size(expected));
    /* Constrained expectations first, so a loose one does not take a crime a strict one needs. */
    for (int pass = 0; pass < 2; pass++) {
        size_t i;
        json_t *e;
        json_array_foreach(expected, i, e) {
            bool strict = json_object_get(e, "after_event") || json_object_get(e, "incident_id");
            if ((pass == 0) != strict)
                continue;
            const char *victim = str(e, "victim"), *offence = str(e, "offence"), *inc = str(e, "incident_id");
            json_t *after = json_object_get(e, "after_event");
            bool found = false, late = false;
            for (size_t k = 0; k < n && !found; k++) {
                if (have[k].used || !same_str(have[k].victim, victim) || !same_str(have[k].offence, offence) ||
                    (inc && strcmp(inc, have[k].incident) != 0))
                    continue;
                if (json_is_integer(after)) {
                    json_t *first = json_object_get(r->crn_first, have[k].crn);
                    if (!first || json_integer_value(first) > json_integer_value(after)) {
                        late = true;
                        continue;
                    }
                }
                have[k].used = found = true;
            }
            if (!found)
                failf(r, "%s: no live crime %s/%s%s", where, victim ? victim : "null", offence ? offence : "?",
                      late ? " recorded by the expected event" : "");
        }
    }
}

static size_t open_pending(const struct run *r, const char **reasons, size_t max)
{
    size_t n = 0;
    const char *id;
    json_t *st;
    json_object_foreach(r->states, id, st) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(st, "pending"), i, p) {
            if (same_str(str(p, "status"), "open") && n < max)
                reasons[n++] = str(p, "reason");
        }
    }
    return n;
}

static void check_pending_list(struct run *r, const json_t *expected, const char **reasons, size_t n,
                               const char *where)
{
    if (json_is_boolean(expected)) {
        if (json_is_true(expected) != (n > 0))
            failf(r, "%s: %zu pending open, expected %s", where, n, json_is_true(expected) ? "some" : "none");
        return;
    }
    if (n == 0)
        failf(r, "%s: no pending open, expected one of the listed reasons", where);
    for (size_t i = 0; i < n; i++) {
        json_t *reason = json_string(reasons[i] ? reasons[i] : "");
        if (!value_matches(expected, reason))
            failf(r, "%s: pending %s open, not among the expected reasons", where, reasons[i]);
        json_decref(reason);
    }
}

static void check_pending(struct run *r, const json_t *expected, const char *where)
{
    const char *reasons[256];
    size_t n = open_pending(r, reasons, 256);
    check_pending_list(r, expected, reasons, n, where);
}

static void check_flags(struct run *r, const json_t *expected, bool present, const char *where)
{
    struct live_crime have[256];
    size_t n = live_crimes(r, have, 256);
    const char *victim;
    json_t *flags;
    json_object_foreach((json_t *)expected, victim, flags) {
        size_t i;
        json_t *f;
        size_t crimes = 0;
        for (size_t k = 0; k < n; k++)
            crimes += same_str(have[k].victim, victim);
        if (present && crimes == 0)
            failf(r, "%s: victim %s has no live crime to carry flags", where, victim);
        json_array_foreach(flags, i, f) {
            bool on = false;
            for (size_t k = 0; k < n; k++) {
                size_t j;
                json_t *g;
                if (!same_str(have[k].victim, victim))
                    continue;
                json_array_foreach(have[k].flags, j, g) {
                    on |= json_equal(f, g);
                }
            }
            if (on != present)
                failf(r, "%s: flag %s %s on %s's crimes", where, json_string_value(f),
                      present ? "missing" : "present", victim);
        }
    }
}

static void check_decisions(struct run *r, const json_t *expected, const char *where)
{
    size_t i;
    json_t *e;
    json_array_foreach(expected, i, e) {
        const char *allegation = str(e, "allegation"), *inc = str(e, "incident_id");
        const json_t *state = NULL;
        if (inc)
            state = json_object_get(r->states, inc);
        if (!state) {
            state = json_object_get(r->states, json_string_value(r->first_incident));
            /* The first incident does not have it: whichever incident does. */
            json_t *d = json_object_get(json_object_get(state, "decisions"), allegation);
            if (!d && !inc) {
                const char *id;
                json_t *st;
                json_object_foreach(r->states, id, st) {
                    if (json_object_get(json_object_get(st, "decisions"), allegation)) {
                        state = st;
                        break;
                    }
                }
            }
        }
        json_t *view = incident_view(state);
        json_t *found = NULL, *d;
        size_t k;
        json_array_foreach(json_object_get(view, "decisions"), k, d) {
            if (same_str(str(d, "allegation"), allegation))
                found = d;
        }
        if (!found) {
            failf(r, "%s: no decision for %s", where, allegation);
        } else {
            const char *keys[] = {"outcome", "code", "reason", "offence"};
            for (size_t q = 0; q < 4; q++) {
                json_t *want = json_object_get(e, keys[q]);
                if (want && !value_matches(want, json_object_get(found, keys[q]))) {
                    char *got = json_dumps(found, JSON_COMPACT);
                    failf(r, "%s: %s %s is not as expected (got %s)", where, allegation, keys[q], got);
                    free(got);
                }
            }
        }
        json_decref(view);
    }
}

static void check_set(struct run *r, const json_t *exp, const char *where)
{
    json_t *v;
    if ((v = json_object_get(exp, "crimes")))
        check_crimes(r, v, where);
    if ((v = json_object_get(exp, "pending")))
        check_pending(r, v, where);
    if ((v = json_object_get(exp, "flags")))
        check_flags(r, v, true, where);
    if ((v = json_object_get(exp, "flags_absent")))
        check_flags(r, v, false, where);
    if ((v = json_object_get(exp, "decisions")))
        check_decisions(r, v, where);
}

/* An element of a reply matches when every key the expectation gives is equal ("any of" for lists). */
static bool reply_element_matches(const struct run *r, const json_t *want, const json_t *got)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        if (strcmp(k, "same_crn_as_event") == 0) {
            json_t *earlier = json_array_get(r->replies, (size_t)json_integer_value(v) - 1);
            size_t i;
            json_t *c;
            bool same = false;
            json_array_foreach(json_object_get(earlier, "crimes"), i, c) {
                same |= same_str(str(c, "crn"), str(got, "crn")) && json_equal(json_object_get(c, "victim"),
                                                                                 json_object_get(got, "victim"));
            }
            if (!same)
                return false;
            continue;
        }
        if (!value_matches(v, json_object_get(got, k)))
            return false;
    }
    return true;
}

static void check_replies(struct run *r, const json_t *expected, size_t upto)
{
    size_t i;
    json_t *e;
    json_array_foreach(expected, i, e) {
        json_int_t k = json_integer_value(json_object_get(e, "event"));
        if (k < 1 || (size_t)k > upto)
            continue;
        json_t *reply = json_array_get(r->replies, (size_t)k - 1);
        char where[48];
        snprintf(where, sizeof where, "reply %lld", (long long)k);
        const char *key;
        json_t *v;
        json_object_foreach(e, key, v) {
            if (strcmp(key, "event") == 0 || strcmp(key, "status") == 0)
                continue;
            if (strcmp(key, "pending") == 0) {
                const char *reasons[256];
                size_t n = 0, j;
                json_t *p;
                json_array_foreach(json_object_get(reply, "pending"), j, p) {
                    if (n < 256)
                        reasons[n++] = str(p, "reason");
                }
                check_pending_list(r, v, reasons, n, where);
                continue;
            }
            if (!json_is_array(v)) {
                if (!value_matches(v, json_object_get(reply, key)))
                    failf(r, "%s: %s is not as expected", where, key);
                continue;
            }
            size_t j;
            json_t *want;
            json_array_foreach(v, j, want) {
                size_t m;
                json_t *got;
                bool ok = false;
                json_array_foreach(json_object_get(reply, key), m, got) {
                    ok |= reply_element_matches(r, want, got);
                }
                if (!ok) {
                    char *w = json_dumps(want, JSON_COMPACT);
                    failf(r, "%s: %s lacks %s", where, key, w);
                    free(w);
                }
            }
        }
    }
}

/* ---- one case ---- */

/* ---- supervisor actions ---- */

/* The CRN of a victim's live crime (optionally of one offence), for {crn-of:P1} / {crn-of:P1:8N}. */
static const char *crn_of(const struct run *r, const char *victim, const char *offence, const char **incident)
{
    const char *id;
    json_t *st;
    json_object_foreach(r->states, id, st) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(st, "crimes"), i, c) {
            if (same_str(str(c, "status"), "recorded") && same_str(str(c, "victim"), victim) &&
                (!offence || same_str(str(c, "offence"), offence))) {
                *incident = id;
                return str(c, "crn");
            }
        }
    }
    return NULL;
}

/* The incident holding a pending decision. */
static const char *pending_incident(const struct run *r, const char *pid)
{
    const char *id;
    json_t *st;
    json_object_foreach(r->states, id, st) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(st, "pending"), i, p) {
            if (same_str(str(p, "id"), pid))
                return id;
        }
    }
    return NULL;
}

/* Run one action as the API would: the route's role first, then the rules. */
static void run_action(struct run *r, const struct rules_env *env, const json_t *a, size_t n)
{
    char path[512], target[256] = "";
    snprintf(path, sizeof path, "%s", str(a, "path") ? str(a, "path") : "");
    const char *incident = NULL;
    char *ph = strstr(path, "{crn-of:");
    if (ph) {
        char *end = strchr(ph, '}');
        char spec[128] = "";
        if (end)
            snprintf(spec, sizeof spec, "%.*s", (int)(end - ph - 8), ph + 8);
        char *colon = strchr(spec, ':');
        if (colon)
            *colon++ = '\0';
        const char *crn = crn_of(r, spec, colon, &incident);
        if (!crn) {
            failf(r, "action %zu: no live crime for {crn-of:%s%s%s}", n, spec, colon ? ":" : "", colon ? colon : "");
            return;
        }
        snprintf(target, sizeof target, "%s", crn);
    }
    const char *action = NULL;
    int need = 0; /* 3 supervisor, 4 ddm */
    if (strncmp(path, "/v1/crimes/", 11) == 0 && strstr(path, "/cancel")) {
        action = "cancel";
        need = 4;
    } else if (strncmp(path, "/v1/crimes/", 11) == 0 && strstr(path, "/reclassify")) {
        action = "reclassify";
        need = 4;
    } else if (strncmp(path, "/v1/pending/", 12) == 0 && strstr(path, "/decision")) {
        action = "decide";
        need = 3;
        snprintf(target, sizeof target, "%.*s", (int)(strstr(path, "/decision") - path - 12), path + 12);
        incident = pending_incident(r, target);
    }
    if (!action || !incident) {
        failf(r, "action %zu: cannot run %s %s", n, str(a, "method") ? str(a, "method") : "?", path);
        return;
    }
    static const char *const roles[] = {"none", "ops", "auditor", "supervisor", "ddm", "fcr", NULL};
    int level = 0;
    for (int i = 0; roles[i]; i++)
        if (same_str(roles[i], str(a, "role")))
            level = i;
    json_int_t want = json_integer_value(json_object_get(a, "expect_status"));
    int status;
    if (level < need) {
        status = 403; /* refused by the route, before the rules */
    } else {
        json_t *linked = incident_others(r->states, incident); /* as the store does */
        struct rules_act_request req = {action, target, json_object_get(a, "body"), "scenario.user", roles[level],
                                        (int64_t)1800000000000LL};
        json_t *ns = NULL, *out = NULL;
        struct feed_event_error err = {0};
        status = rules_act(env, json_object_get(r->states, incident), linked, &req, &ns, &out, &err);
        json_decref(linked);
        if (status == 0) {
            status = 200;
            json_object_set_new(r->states, incident, ns);
            json_decref(out);
        } else if (want != status) {
            failf(r, "action %zu: %s %s -> %d %s %s (%s)", n, action, target, status, err.code ? err.code : "",
                  err.field, err.message);
        }
        feed_event_error_clear(&err);
    }
    if (want && want != status)
        failf(r, "action %zu: %s %s answered %d, expected %lld", n, action, target, status, (long long)want);
}

static void run_case(const struct ruleset *rs, const json_t *kase, int *pass, int *fail)
{
    struct run r = {0};
    r.states = json_object();
    r.replies = json_array();
    r.crn_first = json_object();
    const char *id = str(kase, "id");
    json_t *events = json_object_get(kase, "events"), *expect = json_object_get(kase, "expect");
    json_t *actions = json_object_get(kase, "actions");
    size_t nev = json_array_size(events), limit = nev;
    size_t nactions = 0;
    struct rules_env env = {rs, "TST", next_serial, &r.serial};
    r.first_incident = json_object_get(json_array_get(events, 0), "incident_id");

    for (size_t k = 0; k < limit; k++) {
        json_t *doc = json_array_get(events, k);
        struct feed_event ev;
        struct feed_event_error perr;
        if (!event_from_json(doc, &ev, &perr)) {
            failf(&r, "event %zu rejected by validation: %s %s %s", k + 1, perr.code ? perr.code : "?", perr.field,
                  perr.message);
            feed_event_error_clear(&perr);
            break;
        }
        json_t *state = json_object_get(r.states, ev.incident_id);
        json_t *linked = incident_linked(r.states, doc, state, ev.incident_id); /* as the store does */
        json_t *ns = NULL, *out = NULL;
        struct feed_event_error err = {0};
        int rc = rules_apply(&env, state, linked, &ev, &ns, &out, &err);
        json_decref(linked);
        if (rc != 0) {
            failf(&r, "event %zu rejected: %s %s %s", k + 1, err.code ? err.code : "?", err.field, err.message);
            feed_event_clear(&ev);
            break;
        }
        json_object_set_new(r.states, ev.incident_id, ns);
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(out, "crimes"), i, c) {
            if (!json_object_get(r.crn_first, str(c, "crn")))
                json_object_set_new(r.crn_first, str(c, "crn"), json_integer((json_int_t)k + 1));
        }
        json_array_append_new(r.replies, out);
        feed_event_clear(&ev);

        json_t *cp;
        json_array_foreach(json_object_get(expect, "checkpoints"), i, cp) {
            if (json_integer_value(json_object_get(cp, "after_event")) == (json_int_t)k + 1) {
                char where[48];
                snprintf(where, sizeof where, "after event %zu", k + 1);
                check_set(&r, cp, where);
            }
        }
        /* Supervisor actions come after the checkpoint of the same event. */
        json_t *a;
        json_array_foreach(actions, i, a) {
            if (json_integer_value(json_object_get(a, "after_event")) == (json_int_t)k + 1)
                run_action(&r, &env, a, ++nactions);
        }
    }
    check_replies(&r, json_object_get(expect, "replies"), json_array_size(r.replies));
    check_set(&r, expect, "at the end");

    /* FCRD_SCENARIO_DUMP=<case id> prints that case's replies and final states, for debugging. */
    const char *dump = getenv("FCRD_SCENARIO_DUMP");
    if (dump && id && strcmp(dump, id) == 0) {
        char *replies = json_dumps(r.replies, JSON_INDENT(1) | JSON_SORT_KEYS);
        char *states = json_dumps(r.states, JSON_INDENT(1) | JSON_SORT_KEYS);
        printf("replies %s\nstates %s\n", replies, states);
        free(replies);
        free(states);
    }
    if (r.failures) {
        printf("FAIL %s: %s\n", id, r.why);
        (*fail)++;
    } else {
        printf("PASS %s\n", id);
        (*pass)++;
    }
    json_decref(r.states);
    json_decref(r.replies);
    json_decref(r.crn_first);
}

static char *cases_path(void)
{
    const char *shared = getenv("FCRD_SHARED_DIR"), *root = getenv("FCRD_SOURCE_ROOT");
    char buf[4096];
    if (shared)
        snprintf(buf, sizeof buf, "%s/scenarios/cases.json", shared);
    else
        snprintf(buf, sizeof buf, "%s/../shared/scenarios/cases.json", root ? root : ".");
    return strdup(buf);
}

START_TEST(scenarios_all)
{
    char *path = cases_path(), rspath[4096], err[512];
    const char *root = getenv("FCRD_SOURCE_ROOT");
    snprintf(rspath, sizeof rspath, "%s/conf/rules/hocr-2025.json", root ? root : ".");
    struct ruleset *rs = NULL;
    ck_assert_msg(ruleset_load(rspath, &rs, err, sizeof err) == 0, "rule set: %s", err);
    json_error_t je;
    json_t *cases = json_load_file(path, 0, &je);
    ck_assert_msg(json_is_array(cases), "%s: %s", path, je.text);
    int pass = 0, fail = 0;
    size_t i;
    json_t *kase;
    json_array_foreach(cases, i, kase) {
        run_case(rs, kase, &pass, &fail);
    }
    printf("scenarios: %d pass, %d fail, of %zu\n", pass, fail, json_array_size(cases));
    fflush(stdout);
    json_decref(cases);
    ruleset_free(rs);
    free(path);
    ck_assert_int_eq(fail, 0);
}
END_TEST

int main(void)
{
    char *path = cases_path();
    FILE *f = fopen(path, "r");
    if (!f) {
        /* A checkout without the shared folder beside it may skip; CI must not pass by skipping. */
        bool ci = check_in_ci();
        printf("scenarios: %s not found%s\n", path,
               ci ? ": CI=true needs the worked cases (FCRD_SHARED_DIR/scenarios/cases.json), failing"
                  : ", skipped");
        fflush(stdout);
        free(path);
        return ci ? EXIT_FAILURE : SKIP_EXIT;
    }
    fclose(f);
    free(path);
    Suite *s = suite_create("scenarios");
    TCase *tc = tcase_create("cases");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, scenarios_all);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
