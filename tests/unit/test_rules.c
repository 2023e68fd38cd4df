/* test_rules.c: one exemplar per recording rule: a minimal valid incident, and the one change that
 * trips the rule, checking outcome, reason or code, offence and rule id. */
#include <check.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_event.h"
#include "store/incident.h"
#include "rules/rules.h"
#include "rules/ruleset.h"
#include "util/timefmt.h"
#include "check_run.h"

/* One test's world: the rule set, a serial counter, an incident's state and the last outcome. */
struct fx {
    struct ruleset *rs;
    int64_t serial;
    struct rules_env env;
    json_t *state;
    json_t *linked;
    json_t *persons; /* other incidents' occasions by person ref (rules_apply_persons), or NULL */
    json_t *out;
    struct feed_event_error err;
    int rc;
};

static int64_t next_serial(void *arg)
{
    return ++*(int64_t *)arg;
}

static void fx_init(struct fx *f)
{
    char path[4096], err[512];
    const char *root = getenv("FCRD_SOURCE_ROOT");
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s/conf/rules/hocr-2025.json", root ? root : ".");
    ck_assert_msg(ruleset_load(path, &f->rs, err, sizeof err) == 0, "%s", err);
    f->env = (struct rules_env){f->rs, "WM", next_serial, &f->serial};
}

static void fx_free(struct fx *f)
{
    json_decref(f->state);
    json_decref(f->linked);
    json_decref(f->persons);
    json_decref(f->out);
    ruleset_free(f->rs);
}

/* rules_update, on a copy of the same state with the same serial numbers, does what rules_apply
 * did: the same new state and outcome, or the same refusal with its state left as it was. */
static void fx_check_update(struct fx *f, const struct feed_event *ev, int64_t serial, const char *before,
                            const json_t *ns, const json_t *out)
{
    int64_t after_apply = f->serial;
    f->serial = serial;
    json_t *mine = f->state ? json_deep_copy(f->state) : NULL, *ns2 = NULL, *out2 = NULL;
    struct feed_event_error err = {0};
    int rc = rules_update_persons(&f->env, mine, f->linked, f->persons, ev, &ns2, &out2, &err);
    ck_assert_int_eq(rc, f->rc);
    ck_assert_int_eq(f->serial, after_apply);
    if (rc == 0) {
        if (mine)
            ck_assert_ptr_eq(ns2, mine); /* changed where it stood */
        char *a = json_dumps(ns, JSON_SORT_KEYS), *b = json_dumps(ns2, JSON_SORT_KEYS);
        ck_assert_str_eq(a, b);
        free(a);
        free(b);
        a = json_dumps(out, JSON_SORT_KEYS);
        b = json_dumps(out2, JSON_SORT_KEYS);
        ck_assert_str_eq(a, b);
        free(a);
        free(b);
        if (!mine)
            json_decref(ns2);
        json_decref(out2);
    } else {
        ck_assert_ptr_null(ns2);
        ck_assert_ptr_null(out2);
        ck_assert_str_eq(err.code, f->err.code);
        ck_assert_str_eq(err.field, f->err.field);
        ck_assert_str_eq(err.message, f->err.message);
        if (mine) {
            char *b = json_dumps(mine, JSON_SORT_KEYS);
            ck_assert_str_eq(before, b); /* a refused event leaves the state as it was */
            free(b);
        }
    }
    json_decref(mine);
}

/* Applies an event written as JSON with single quotes for double ones. Returns rules_apply's code. */
__attribute__((format(printf, 2, 3))) static int fx_apply(struct fx *f, const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    for (char *p = text; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    ck_assert_msg(doc != NULL, "test event is not JSON: %s: %s", je.text, text);
    struct feed_event ev = {0};
    const char *type = json_string_value(json_object_get(doc, "type"));
    ev.type = strcmp(type, "incident.opened") == 0 ? FEED_EVENT_OPENED
              : strcmp(type, "incident.closed") == 0 ? FEED_EVENT_CLOSED
                                                      : FEED_EVENT_UPDATED;
    ev.event_id = (char *)json_string_value(json_object_get(doc, "event_id"));
    ev.incident_id = (char *)json_string_value(json_object_get(doc, "incident_id"));
    ev.seq = json_integer_value(json_object_get(doc, "seq"));
    ck_assert(timefmt_parse(json_string_value(json_object_get(doc, "at")), &ev.at_ms));
    ev.doc = doc;
    ev.warnings = json_array();

    json_t *ns = NULL, *out = NULL;
    char *before = f->state ? json_dumps(f->state, JSON_SORT_KEYS) : NULL;
    int64_t serial = f->serial;
    memset(&f->err, 0, sizeof f->err);
    f->rc = rules_apply_persons(&f->env, f->state, f->linked, f->persons, &ev, &ns, &out, &f->err);
    if (before) {
        /* The engine never changes the state it is given. */
        char *after = json_dumps(f->state, JSON_SORT_KEYS);
        ck_assert_str_eq(before, after);
        free(after);
    }
    fx_check_update(f, &ev, serial, before, ns, out);
    free(before);
    if (f->rc == 0) {
        ck_assert_ptr_nonnull(ns);
        ck_assert_ptr_nonnull(out);
        json_decref(f->state);
        json_decref(f->out);
        f->state = ns;
        f->out = out;
    } else {
        ck_assert_ptr_null(ns);
        ck_assert_ptr_null(out);
    }
    json_decref(ev.warnings);
    json_decref(doc);
    return f->rc;
}

/* The usual incident: the victim reports a push by a stranger, no injury (105A). ALLEG lets a
 * test change the allegation, PERSONS the people. */
#define AT "2026-05-01T10:00:00Z"
#define WHEN "2026-05-01T09:30:00Z"
#define VICTIM "{'id':'v1','role':'victim','name':'Ann Lee','sex':'female','age':30,'confirms':true}"
#define SUSPECT "{'id':'s1','role':'suspect','sex':'male','age':31}"
#define LOC "'location':{'force_area':'own','premises':'public_place'}"
#define OPEN(persons, reporter, allegations)                                                                   \
    "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT                   \
    "','category':'crime','reported_by':'" reporter "','persons':[" persons "],'allegations':[" allegations "]}"
#define A1(extra) "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.no_injury','occurred_at':'" WHEN "'," LOC extra "}"

static json_t *decision(const struct fx *f, const char *allegation)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(f->out, "decisions"), i, d) {
        if (strcmp(json_string_value(json_object_get(d, "allegation")), allegation) == 0)
            return d;
    }
    ck_abort_msg("no decision for %s in the outcome", allegation);
    return NULL;
}

static const char *s(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool has_rule(const json_t *rules, const char *id)
{
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r) {
        if (strcmp(json_string_value(r), id) == 0)
            return true;
    }
    return false;
}

/* Asserts a decision's outcome, its reason or code (NULL: absent), offence (NULL: not checked)
 * and that its rules name `rule`. */
static void expect_decision(const struct fx *f, const char *allegation, const char *outcome, const char *reason,
                            const char *code, const char *offence, const char *rule)
{
    json_t *d = decision(f, allegation);
    char *dump = json_dumps(d, JSON_COMPACT);
    ck_assert_msg(strcmp(s(d, "outcome"), outcome) == 0, "%s: %s", allegation, dump);
    if (reason)
        ck_assert_msg(s(d, "reason") && strcmp(s(d, "reason"), reason) == 0, "reason: %s", dump);
    if (code)
        ck_assert_msg(s(d, "code") && strcmp(s(d, "code"), code) == 0, "code: %s", dump);
    if (offence)
        ck_assert_msg(s(d, "offence") && strcmp(s(d, "offence"), offence) == 0, "offence: %s", dump);
    if (rule)
        ck_assert_msg(has_rule(json_object_get(d, "rules"), rule), "rule %s missing: %s", rule, dump);
    free(dump);
}

static size_t count_crimes(const struct fx *f, const char *status)
{
    size_t i, n = 0;
    json_t *c;
    json_array_foreach(json_object_get(f->state, "crimes"), i, c) {
        n += !status || strcmp(s(c, "status"), status) == 0;
    }
    return n;
}

static json_t *crime_at(const struct fx *f, size_t i)
{
    return json_array_get(json_object_get(f->state, "crimes"), i);
}

static size_t open_pending(const struct fx *f, const char *reason)
{
    size_t i, n = 0;
    json_t *p;
    json_array_foreach(json_object_get(f->state, "pending"), i, p) {
        n += strcmp(s(p, "status"), "open") == 0 && (!reason || strcmp(s(p, "reason"), reason) == 0);
    }
    return n;
}

static bool has_warning(const struct fx *f, const char *code, const char *field)
{
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(f->out, "warnings"), i, w) {
        if (strcmp(s(w, "code"), code) == 0 && (!field || (s(w, "field") && strcmp(s(w, "field"), field) == 0)))
            return true;
    }
    return false;
}

static bool has_flag(const json_t *crime, const char *flag)
{
    return has_rule(json_object_get(crime, "flags"), flag);
}

static const json_t *audit_entry(const struct fx *f, const char *action)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(f->out, "audit"), i, a) {
        if (strcmp(s(a, "action"), action) == 0)
            return a;
    }
    return NULL;
}

/* ---- NCRS ---- */

START_TEST(ncrs_balance)
{
    struct fx f;
    fx_init(&f);
    ck_assert_int_eq(fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", A1(""))), 0);
    expect_decision(&f, "a1", "recorded", NULL, NULL, "105A", "NCRS.balance");
    ck_assert(has_rule(json_object_get(decision(&f, "a1"), "rules"), "HOCR-VAP.105A"));
    ck_assert_str_eq(s(decision(&f, "a1"), "crn"), "WM/2026/000001");
    json_t *c = json_array_get(json_object_get(f.out, "crimes"), 0);
    ck_assert_str_eq(s(c, "action"), "recorded");
    ck_assert_str_eq(s(c, "victim"), "v1");
    ck_assert_str_eq(s(crime_at(&f, 0), "recorded_at"), AT);
    ck_assert_str_eq(s(crime_at(&f, 0), "ruleset"), ruleset_version(f.rs));
    ck_assert_str_eq(s(crime_at(&f, 0), "ruleset_sha256"), ruleset_sha256(f.rs));
    ck_assert_str_eq(s(f.out, "rules"), ruleset_version(f.rs));
    ck_assert_uint_eq(json_array_size(json_object_get(f.out, "pending")), 0);
    ck_assert_ptr_nonnull(audit_entry(&f, "crime.recorded"));
    ck_assert_ptr_nonnull(audit_entry(&f, "decision"));
    ck_assert_ptr_nonnull(audit_entry(&f, "incident.opened"));
    ck_assert_int_eq(incident_last_seq(f.state), 1);
    fx_free(&f);
}
END_TEST

START_TEST(ncrs_evidence_against)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", A1(",'evidence_against':true")));
    expect_decision(&f, "a1", "not_recorded", "evidence_against", NULL, "105A", "NCRS.evidence_against");
    ck_assert_uint_eq(count_crimes(&f, NULL), 0);
    fx_free(&f);
}
END_TEST

START_TEST(ncrs_points_to_prove)
{
    struct fx f;
    fx_init(&f);
#define DRUGS(pp) "{'id':'a1','suspects':['s1'],'conduct':'drugs.possession_cannabis','occurred_at':'" WHEN "'," LOC pp "}"
    fx_apply(&f, OPEN("{'id':'o1','role':'officer'}," SUSPECT, "o1", DRUGS("")));
    expect_decision(&f, "a1", "pending", "points_not_proved", NULL, "92E", "NCRS.points_to_prove");
    ck_assert_uint_eq(open_pending(&f, "points_not_proved"), 1);
    fx_apply(&f, "{'v':1,'event_id':'e2','type':'incident.updated','incident_id':'INC1','seq':2,'at':'" AT
                 "','allegations':[" DRUGS(",'points_proved':false") "]}");
    expect_decision(&f, "a1", "not_recorded", "points_not_proved", NULL, "92E", "NCRS.points_to_prove");
    ck_assert_uint_eq(open_pending(&f, NULL), 0);
    fx_apply(&f, "{'v':1,'event_id':'e3','type':'incident.updated','incident_id':'INC1','seq':3,'at':'" AT
                 "','allegations':[" DRUGS(",'points_proved':true") "]}");
    expect_decision(&f, "a1", "recorded", NULL, NULL, "92E", "NCRS.points_to_prove");
    ck_assert(json_is_null(json_object_get(crime_at(&f, 0), "victim")));
    ck_assert(has_rule(json_object_get(crime_at(&f, 0), "rules"), "HOCR-D.per_offender"));
    fx_free(&f);
}
END_TEST

START_TEST(ncrs_deadline)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN("{'id':'w1','role':'witness'},{'id':'v1','role':'victim','confirms':null}," SUSPECT, "w1",
                      A1("")));
    json_t *p = json_array_get(json_object_get(f.out, "pending"), 0);
    ck_assert_str_eq(s(p, "due"), "2026-05-02T10:00:00Z");
    ck_assert(has_rule(json_object_get(json_array_get(json_object_get(f.state, "pending"), 0), "rules"),
                       "NCRS.deadline_24h"));
    /* Opened two days later, still due 24 hours after first contact. */
    fx_apply(&f, "{'v':1,'event_id':'e2','type':'incident.updated','incident_id':'INC1','seq':2,"
                 "'at':'2026-05-03T10:00:00Z','allegations':[{'id':'a2','victim':'v1','offence':'XX1'}]}");
    json_t *items = json_object_get(f.state, "pending");
    json_t *last = json_array_get(items, json_array_size(items) - 1);
    ck_assert_str_eq(s(last, "reason"), "insufficient_detail");
    ck_assert_str_eq(s(last, "due"), "2026-05-02T10:00:00Z");
    ck_assert_str_eq(s(last, "opened_at"), "2026-05-03T10:00:00Z");
    fx_free(&f);
}
END_TEST

/* ---- who reported (HOCR General Rules section A) ---- */

#define LAY_OPEN(victim_fields)                                                                                \
    OPEN("{'id':'w1','role':'witness'},{'id':'v1','role':'victim'" victim_fields "}," SUSPECT, "w1", A1(""))

START_TEST(gr_third_party)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, LAY_OPEN(",'confirms':null"));
    expect_decision(&f, "a1", "pending", "third_party_unconfirmed", NULL, "105A", "HOCR-GR.third_party");
    ck_assert_uint_eq(open_pending(&f, "third_party_unconfirmed"), 1);
    ck_assert_uint_eq(count_crimes(&f, NULL), 0);
    /* The victim confirms: recorded now, the pending item closed. */
    fx_apply(&f, "{'v':1,'event_id':'e2','type':'incident.updated','incident_id':'INC1','seq':2,'at':'" AT
                 "','persons':[{'id':'v1','role':'victim','confirms':true}]}");
    expect_decision(&f, "a1", "recorded", NULL, NULL, "105A", "HOCR-GR.victim_report");
    ck_assert_uint_eq(open_pending(&f, NULL), 0);
    json_t *p = json_array_get(json_object_get(f.state, "pending"), 0);
    ck_assert_str_eq(s(p, "status"), "closed");
    ck_assert_str_eq(s(json_object_get(p, "resolution"), "outcome"), "recorded");
    ck_assert_ptr_nonnull(audit_entry(&f, "pending.closed"));
    fx_free(&f);
}
END_TEST

START_TEST(gr_victim_does_not_confirm)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, LAY_OPEN(",'confirms':false"));
    expect_decision(&f, "a1", "not_recorded", "victim_does_not_confirm", NULL, "105A",
                    "HOCR-GR.victim_does_not_confirm");
    ck_assert_uint_eq(open_pending(&f, NULL), 0);
    fx_free(&f);
}
END_TEST

START_TEST(gr_victim_not_traced)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, LAY_OPEN(",'traceable':false"));
    expect_decision(&f, "a1", "not_recorded", "victim_not_traced", NULL, "105A", "HOCR-GR.victim_not_traced");
    fx_free(&f);
}
END_TEST

START_TEST(gr_professional_third_party)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN("{'id':'d1','role':'professional'},{'id':'v1','role':'victim','age':40}," SUSPECT, "d1", A1("")));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "105A", "HOCR-GR.professional_third_party");
    fx_free(&f);
}
END_TEST

START_TEST(gr_parent_for_child)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN("{'id':'p1','role':'parent'},{'id':'v1','role':'victim','age':10}," SUSPECT, "p1", A1("")));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "105A", "HOCR-GR.parent_for_child");
    fx_free(&f);
}
END_TEST

START_TEST(gr_child_or_vulnerable)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, LAY_OPEN(",'age':70,'vulnerable':true"));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "105A", "HOCR-GR.child_or_vulnerable");
    fx_free(&f);
}
END_TEST

START_TEST(gr_organisation_staff)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN("{'id':'shop','role':'victim','kind':'organisation','name':'Corner Shop'},"
                      "{'id':'c1','role':'caller','employer':'corner shop'}," SUSPECT,
                      "c1", "{'id':'a1','victim':'shop','suspects':['s1'],'conduct':'theft.shop','occurred_at':'" WHEN
                            "'," LOC "}"));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "46", "HOCR-GR.organisation_staff");
    fx_free(&f);
}
END_TEST

START_TEST(gr_n100)
{
    struct fx f;
    fx_init(&f);
#define RAPE(extra) "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'rape','occurred_at':'" WHEN "'" extra "}"
    fx_apply(&f, OPEN("{'id':'w1','role':'third_party'},{'id':'v1','role':'victim','sex':'female','age':25}," SUSPECT,
                      "w1", RAPE("")));
    expect_decision(&f, "a1", "held", "third_party_unconfirmed", "N100/1", "19C", "HOCR-GR.N100");
    ck_assert_uint_eq(open_pending(&f, "third_party_unconfirmed"), 1);
    fx_free(&f);

    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", RAPE(",'evidence_against':true")));
    expect_decision(&f, "a1", "held", "evidence_against", "N100/2", "19C", "NCRS.evidence_against");
    fx_free(&f);

    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", RAPE(",'location':{'force_area':'other','other_force':'NMP'}")));
    expect_decision(&f, "a1", "held", "other_force_area", "N100/3", "19C", "HOCR-GR.N100");
    ck_assert_uint_eq(count_crimes(&f, NULL), 0);
    fx_free(&f);
}
END_TEST

START_TEST(gr_schools_protocol)
{
    struct fx f;
    fx_init(&f);
#define SCHOOL(extra)                                                                                          \
    OPEN("{'id':'t1','role':'professional'},{'id':'v1','role':'victim','age':12},{'id':'s1','role':'suspect','age':12}", \
         "t1", "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.no_injury','occurred_at':'" WHEN   \
               "','location':{'force_area':'own','premises':'school'}" extra "}")
    fx_apply(&f, SCHOOL(""));
    expect_decision(&f, "a1", "not_recorded", "schools_protocol", NULL, "105A", "HOCR-GR.schools_protocol");
    fx_free(&f);
    fx_init(&f);
    fx_apply(&f, SCHOOL(",'police_action_requested':true"));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "105A", "NCRS.balance");
    fx_free(&f);
}
END_TEST

START_TEST(gr_same_report)
{
    struct fx f, g;
    fx_init(&f);
    fx_apply(&f, OPEN("{'id':'v1','role':'victim','name':'Ann Lee','ref':'P-1','confirms':true}", "v1",
                      "{'id':'a1','victim':'v1','conduct':'burglary.dwelling','occurred_at':'" WHEN "'}"));
    const char *crn = s(crime_at(&f, 0), "crn");
    fx_init(&g);
    g.serial = 100;
    g.linked = json_pack("{s:O}", "INC1", f.state);
    fx_apply(&g, "{'v':1,'event_id':'x1','type':'incident.opened','incident_id':'INC2','seq':1,'at':'" AT
                 "','category':'crime','reported_by':'w1','links':[{'incident_id':'INC1','relation':'same_report'}],"
                 "'persons':[{'id':'w1','role':'victim','name':'ANN LEE','ref':'P-1','confirms':true}],"
                 "'allegations':[{'id':'a1','victim':'w1','conduct':'burglary.dwelling','occurred_at':'" WHEN "'}]}");
    expect_decision(&g, "a1", "counted_in", NULL, NULL, "28E", "HOCR-GR.same_report");
    ck_assert_str_eq(s(decision(&g, "a1"), "crn"), crn);
    ck_assert_uint_eq(count_crimes(&g, NULL), 0);
    fx_free(&g);
    /* A related (not same_report) link records its own crime. */
    fx_init(&g);
    g.linked = json_pack("{s:O}", "INC1", f.state);
    fx_apply(&g, "{'v':1,'event_id':'x1','type':'incident.opened','incident_id':'INC2','seq':1,'at':'" AT
                 "','category':'crime','reported_by':'w1','links':[{'incident_id':'INC1','relation':'related'}],"
                 "'persons':[{'id':'w1','role':'victim','name':'Ann Lee','ref':'P-1','confirms':true}],"
                 "'allegations':[{'id':'a1','victim':'w1','conduct':'burglary.dwelling','occurred_at':'" WHEN "'}]}");
    expect_decision(&g, "a1", "recorded", NULL, NULL, "28E", NULL);
    fx_free(&g);
    fx_free(&f);
}
END_TEST

/* ---- a same_report link, whichever report arrives first ---- */

/* A report of INC1 or INC2 about Ann Lee (ref P-1 unless REF says otherwise), CONDUCT, linking to
 * LINKS. */
#define LINKED_OPEN(id, ev, links, vref, conduct)                                                              \
    "{'v':1,'event_id':'" ev "','type':'incident.opened','incident_id':'" id "','seq':1,'at':'" AT             \
    "','category':'crime','reported_by':'v1','links':[" links "],"                                            \
    "'persons':[{'id':'v1','role':'victim','name':'Ann Lee','ref':'" vref "','confirms':true}," SUSPECT "],"   \
    "'allegations':[{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'" conduct "','occurred_at':'" WHEN  \
    "'," LOC "}]}"
#define TO_INC1 "{'incident_id':'INC1','relation':'same_report'}"

/* The linked state the rules handed back for an incident, or NULL. */
static json_t *linked_state(const struct fx *f, const char *id)
{
    return json_object_get(json_object_get(f->out, "linked_states"), id);
}

START_TEST(gr_same_report_linking_first)
{
    struct fx b, a;
    /* B (INC2) links to A (INC1), but arrives first: it records the crime. */
    fx_init(&b);
    fx_apply(&b, LINKED_OPEN("INC2", "x1", TO_INC1, "P-1", "assault.injury"));
    expect_decision(&b, "a1", "recorded", NULL, NULL, "8N", NULL);
    const char *crn = s(crime_at(&b, 0), "crn");
    /* A arrives: it finds B's crime through B's link to it, and is counted in it. */
    fx_init(&a);
    a.serial = 100;
    a.linked = json_pack("{s:O}", "INC2", b.state);
    fx_apply(&a, LINKED_OPEN("INC1", "e1", "", "P-1", "assault.injury"));
    expect_decision(&a, "a1", "counted_in", NULL, NULL, "8N", "HOCR-GR.same_report");
    ck_assert_str_eq(s(decision(&a, "a1"), "crn"), crn);
    ck_assert_uint_eq(count_crimes(&a, NULL), 0);
    ck_assert_ptr_null(linked_state(&a, "INC2")); /* same offence: B's crime is left as it is */
    fx_free(&a);
    /* Without B's state, A records its own (what happened before links worked both ways). */
    fx_init(&a);
    fx_apply(&a, LINKED_OPEN("INC1", "e1", "", "P-1", "assault.injury"));
    expect_decision(&a, "a1", "recorded", NULL, NULL, "8N", NULL);
    fx_free(&a);
    fx_free(&b);
}
END_TEST

START_TEST(gr_same_report_named_first)
{
    struct fx a, b;
    fx_init(&a);
    fx_apply(&a, LINKED_OPEN("INC1", "e1", "", "P-1", "assault.injury"));
    const char *crn = s(crime_at(&a, 0), "crn");
    fx_init(&b);
    b.serial = 100;
    b.linked = json_pack("{s:O}", "INC1", a.state);
    fx_apply(&b, LINKED_OPEN("INC2", "x1", TO_INC1, "P-1", "assault.injury"));
    expect_decision(&b, "a1", "counted_in", NULL, NULL, "8N", "HOCR-GR.same_report");
    ck_assert_str_eq(s(decision(&b, "a1"), "crn"), crn);
    ck_assert_uint_eq(count_crimes(&b, NULL), 0);
    ck_assert_ptr_null(json_object_get(b.out, "linked_states"));
    fx_free(&b);
    fx_free(&a);
}
END_TEST

/* The more serious offence wins whichever report carries it, and whichever arrives first: the crime
 * already recorded is reclassified up at once; the lesser never takes it down. */
static void expect_upgrade(const char *first_id, const char *first_links, const char *then_id, const char *then_links,
                           bool serious_first)
{
    struct fx f, g;
    char ev1[2048], ev2[2048];
    snprintf(ev1, sizeof ev1,
             "{'v':1,'event_id':'x1','type':'incident.opened','incident_id':'%s','seq':1,'at':'" AT
             "','category':'crime','reported_by':'v1','links':[%s],"
             "'persons':[{'id':'v1','role':'victim','name':'Ann Lee','ref':'P-1','confirms':true}," SUSPECT "],"
             "'allegations':[{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'%s','occurred_at':'" WHEN
             "'," LOC "}]}",
             first_id, first_links, serious_first ? "assault.injury" : "assault.no_injury");
    snprintf(ev2, sizeof ev2,
             "{'v':1,'event_id':'y1','type':'incident.opened','incident_id':'%s','seq':1,'at':'" AT
             "','category':'crime','reported_by':'v1','links':[%s],"
             "'persons':[{'id':'v1','role':'victim','name':'Ann Lee','ref':'P-1','confirms':true}," SUSPECT "],"
             "'allegations':[{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'%s','occurred_at':'" WHEN
             "'," LOC "}]}",
             then_id, then_links, serious_first ? "assault.no_injury" : "assault.injury");
    fx_init(&f);
    fx_apply(&f, "%s", ev1);
    const char *crn = s(crime_at(&f, 0), "crn");
    ck_assert_str_eq(s(crime_at(&f, 0), "offence"), serious_first ? "8N" : "105A");
    fx_init(&g);
    g.serial = 100;
    g.linked = json_pack("{s:O}", first_id, f.state);
    fx_apply(&g, "%s", ev2);
    ck_assert_str_eq(s(decision(&g, "a1"), "outcome"), "counted_in");
    ck_assert_str_eq(s(decision(&g, "a1"), "crn"), crn);
    ck_assert_uint_eq(count_crimes(&g, NULL), 0);
    json_t *changed = linked_state(&g, first_id);
    if (serious_first) {
        ck_assert_ptr_null(changed);
    } else {
        ck_assert_ptr_nonnull(changed);
        json_t *crime = json_array_get(json_object_get(changed, "crimes"), 0);
        ck_assert_str_eq(s(crime, "crn"), crn);
        ck_assert_str_eq(s(crime, "offence"), "8N");
        ck_assert(has_rule(json_object_get(crime, "rules"), "HOCR-B.reclassification"));
        ck_assert(has_rule(json_object_get(crime, "rules"), "HOCR-GR.same_report"));
        /* the reply names the crime reclassified, and the audit says so */
        json_t *rc = json_array_get(json_object_get(g.out, "crimes"), 0);
        ck_assert_str_eq(s(rc, "crn"), crn);
        ck_assert_str_eq(s(rc, "action"), "reclassified");
        ck_assert_str_eq(s(rc, "offence"), "8N");
        ck_assert_ptr_nonnull(audit_entry(&g, "crime.reclassified"));
        /* the linked state given is left alone: the change is a copy */
        ck_assert_str_eq(s(json_array_get(json_object_get(f.state, "crimes"), 0), "offence"), "105A");
        /* the first report's next event keeps the crime where the linked report raised it: no
         * reclassification back down, no review */
        json_decref(f.state);
        f.state = json_incref(changed);
        json_decref(f.linked);
        f.linked = json_pack("{s:O}", then_id, g.state);
        fx_apply(&f, "{'v':1,'event_id':'x2','type':'incident.updated','incident_id':'%s','seq':2,'at':'" AT
                     "','narrative':'caller rang back'}", first_id);
        ck_assert_str_eq(s(crime_at(&f, 0), "offence"), "8N");
        ck_assert_uint_eq(open_pending(&f, "reclassification_review"), 0);
        ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    }
    fx_free(&g);
    fx_free(&f);
}

START_TEST(gr_same_report_more_serious_wins)
{
    expect_upgrade("INC1", "", "INC2", TO_INC1, false);  /* named report first, linking one serious */
    expect_upgrade("INC2", TO_INC1, "INC1", "", false);  /* linking report first, named one serious */
    expect_upgrade("INC1", "", "INC2", TO_INC1, true);   /* the lesser later never takes it down */
    expect_upgrade("INC2", TO_INC1, "INC1", "", true);
}
END_TEST

START_TEST(gr_same_report_settles_pending)
{
    struct fx a, b;
    /* A third party's report: pending until the victim confirms. */
    fx_init(&a);
    fx_apply(&a, OPEN("{'id':'w1','role':'witness'},{'id':'v1','role':'victim','name':'Ann Lee','ref':'P-1',"
                      "'confirms':null}," SUSPECT, "w1", A1("")));
    ck_assert_uint_eq(open_pending(&a, "third_party_unconfirmed"), 1);
    const char *pid = s(json_array_get(json_object_get(a.state, "pending"), 0), "id");
    /* The victim's own call, linked to it, records the crime: A's item is settled by it. */
    fx_init(&b);
    b.serial = 100;
    b.linked = json_pack("{s:O}", "INC1", a.state);
    fx_apply(&b, LINKED_OPEN("INC2", "x1", TO_INC1, "P-1", "assault.no_injury"));
    expect_decision(&b, "a1", "recorded", NULL, NULL, "105A", NULL);
    const char *crn = s(crime_at(&b, 0), "crn");
    json_t *changed = linked_state(&b, "INC1");
    ck_assert_ptr_nonnull(changed);
    json_t *p = json_array_get(json_object_get(changed, "pending"), 0);
    ck_assert_str_eq(s(p, "id"), pid);
    ck_assert_str_eq(s(p, "status"), "closed");
    ck_assert(has_rule(json_object_get(p, "rules"), "HOCR-GR.same_report_settled"));
    ck_assert_str_eq(s(json_object_get(p, "resolution"), "crn"), crn);
    const json_t *e = audit_entry(&b, "pending.closed");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(s(e, "pending_id"), pid);
    /* A's next event does not ask the settled question again */
    json_t *settled = json_incref(changed);
    json_decref(a.state);
    a.state = settled;
    a.linked = json_pack("{s:O}", "INC2", b.state);
    fx_apply(&a, "{'v':1,'event_id':'e2','type':'incident.updated','incident_id':'INC1','seq':2,'at':'" AT
                 "','narrative':'caller rang back'}");
    ck_assert_uint_eq(open_pending(&a, NULL), 0);
    fx_free(&b);
    fx_free(&a);
}
END_TEST

START_TEST(gr_same_report_other_victim)
{
    struct fx b, a;
    /* B's crime is for P-1; A reports P-2, another victim of the same matter: its own crime. */
    fx_init(&b);
    fx_apply(&b, LINKED_OPEN("INC2", "x1", TO_INC1, "P-1", "assault.injury"));
    fx_init(&a);
    a.serial = 100;
    a.linked = json_pack("{s:O}", "INC2", b.state);
    fx_apply(&a, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'crime','reported_by':'v2',"
                 "'persons':[{'id':'v2','role':'victim','name':'Ann Lee','ref':'P-2','confirms':true}," SUSPECT "],"
                 "'allegations':[{'id':'a1','victim':'v2','suspects':['s1'],'conduct':'assault.injury',"
                 "'occurred_at':'" WHEN "'," LOC "}]}");
    expect_decision(&a, "a1", "recorded", NULL, NULL, "8N", NULL);
    ck_assert_uint_eq(count_crimes(&a, NULL), 1);
    ck_assert_ptr_null(json_object_get(a.out, "linked_states"));
    fx_free(&a);
    /* nor is another victim's pending item settled */
    fx_init(&a);
    fx_apply(&a, OPEN("{'id':'w1','role':'witness'},{'id':'v1','role':'victim','name':'Bo Chan','ref':'P-9',"
                      "'confirms':null}," SUSPECT, "w1", A1("")));
    ck_assert_uint_eq(open_pending(&a, "third_party_unconfirmed"), 1);
    json_decref(b.state);
    b.state = NULL;
    b.linked = json_pack("{s:O}", "INC1", a.state);
    fx_apply(&b, LINKED_OPEN("INC2", "x1", TO_INC1, "P-1", "assault.injury"));
    expect_decision(&b, "a1", "recorded", NULL, NULL, "8N", NULL);
    ck_assert_ptr_null(json_object_get(b.out, "linked_states"));
    fx_free(&a);
    fx_free(&b);
}
END_TEST

/* ---- location, public order, fraud ---- */

START_TEST(g_other_force_and_abroad)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','conduct':'assault.injury','location':{'force_area':'other'}}"));
    expect_decision(&f, "a1", "transfer", "other_force_area", NULL, "8N", "HOCR-G.other_force");
    fx_free(&f);
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','conduct':'assault.injury','location':{'force_area':'abroad'}}"));
    expect_decision(&f, "a1", "not_recorded", "abroad", NULL, "8N", "HOCR-G.abroad");
    fx_free(&f);
}
END_TEST

START_TEST(po_police_only)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN("{'id':'o1','role':'officer'}," SUSPECT, "o1",
                      "{'id':'a1','victim':'o1','suspects':['s1'],'conduct':'public_order.alarm_distress'}"));
    expect_decision(&f, "a1", "not_recorded", "police_only_witness", NULL, "9A", "HOCR-PO.police_only");
    fx_free(&f);
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'public_order.alarm_distress'}"));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "9A", "HOCR-PO.9A");
    fx_free(&f);
}
END_TEST

START_TEST(fraud_action_fraud)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','conduct':'fraud.online_purchase','occurred_at':'" WHEN "'},"
                      "{'id':'a2','victim':'v1','conduct':'blackmail','occurred_at':'" WHEN "'}"));
    expect_decision(&f, "a1", "referred", NULL, "action_fraud", "NFIB3A", "HOCR-FRAUD.action_fraud");
    expect_decision(&f, "a2", "recorded", NULL, NULL, "35", "HOCR-FRAUD.blackmail");
    ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    fx_free(&f);
}
END_TEST

/* ---- counting ---- */

START_TEST(d_one_per_victim)
{
    struct fx f;
    fx_init(&f);
    /* Two offenders against one victim: one crime. */
    fx_apply(&f, OPEN(VICTIM "," SUSPECT ",{'id':'s2','role':'suspect'}", "v1",
                      "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.no_injury','occurred_at':'" WHEN "'},"
                      "{'id':'a2','victim':'v1','suspects':['s2'],'conduct':'assault.no_injury','occurred_at':'" WHEN "'}"));
    ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    expect_decision(&f, "a2", "counted_in", NULL, NULL, "105A", "HOCR-F.principal");
    fx_free(&f);
    /* One offender against two victims: one each. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM ",{'id':'v2','role':'victim','confirms':true}," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.no_injury','occurred_at':'" WHEN "'},"
                      "{'id':'a2','victim':'v2','suspects':['s1'],'conduct':'assault.no_injury','occurred_at':'" WHEN "'}"));
    ck_assert_uint_eq(count_crimes(&f, NULL), 2);
    expect_decision(&f, "a2", "recorded", NULL, NULL, "105A", "HOCR-D.one_per_victim");
    fx_free(&f);
}
END_TEST

START_TEST(d_per_offender)
{
    struct fx f;
    fx_init(&f);
#define DRUG2(id, sus) "{'id':'" id "','suspects':" sus ",'conduct':'drugs.possession_cannabis','occurred_at':'" WHEN "','points_proved':true}"
    fx_apply(&f, OPEN("{'id':'o1','role':'officer'}," SUSPECT ",{'id':'s2','role':'suspect'}", "o1",
                      DRUG2("a1", "['s1']") "," DRUG2("a2", "['s2']") "," DRUG2("a3", "['s2']")));
    ck_assert_uint_eq(count_crimes(&f, NULL), 2);
    expect_decision(&f, "a3", "counted_in", NULL, NULL, "92E", NULL);
    fx_free(&f);
}
END_TEST

START_TEST(e_separate_occasions)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.injury','occurred_at':'" WHEN "'},"
                      "{'id':'a2','victim':'v1','suspects':['s1'],'conduct':'assault.no_injury','occurred_at':'2026-04-20T09:00:00Z'}"));
    ck_assert_uint_eq(count_crimes(&f, NULL), 2);
    expect_decision(&f, "a2", "recorded", NULL, NULL, "105A", "HOCR-E.separate_occasions");
    fx_free(&f);
}
END_TEST

START_TEST(e_course_of_conduct)
{
    struct fx f;
    fx_init(&f);
#define HAR(id, occ, when) "{'id':'" id "','victim':'v1','suspects':['s1'],'conduct':'harassment','occasions':" occ ",'occurred_at':'" when "'}"
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", HAR("a1", "1", WHEN)));
    expect_decision(&f, "a1", "pending", "insufficient_detail", NULL, "8L", "HOCR-E.course_of_conduct");
    ck_assert_uint_eq(count_crimes(&f, NULL), 0);
    /* A second occasion against the same victim by the same suspect makes the course. */
    fx_apply(&f, "{'v':1,'event_id':'e2','type':'incident.updated','incident_id':'INC1','seq':2,'at':'" AT
                 "','allegations':[" HAR("a2", "1", "2026-04-20T09:00:00Z") "]}");
    ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    expect_decision(&f, "a1", "recorded", NULL, NULL, "8L", "HOCR-E.course_of_conduct");
    expect_decision(&f, "a2", "counted_in", NULL, NULL, "8L", "HOCR-E.course_of_conduct");
    ck_assert_uint_eq(open_pending(&f, NULL), 0);
    fx_free(&f);
    /* Controlling behaviour is recorded in addition to the most serious other crime. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'coercive_control','occasions':5,'occurred_at':'" WHEN "'},"
                      "{'id':'a2','victim':'v1','suspects':['s1'],'conduct':'assault.injury','occurred_at':'" WHEN "'}"));
    ck_assert_uint_eq(count_crimes(&f, NULL), 2);
    expect_decision(&f, "a1", "recorded", NULL, NULL, "8U", "HOCR-E.course_of_conduct");
    expect_decision(&f, "a2", "recorded", NULL, NULL, "8N", "NCRS.balance");
    fx_free(&f);
}
END_TEST

/* A person index row of another incident: one occasion of `offence` against victim ref VR by
 * suspect ref SR (suspects "" for none), held in crime `crn` (NULL: none). */
static json_t *other_row(const char *incident, const char *offence, const char *when, const char *suspects,
                         const char *crn)
{
    json_t *refs = json_array();
    if (*suspects)
        json_array_append_new(refs, json_string(suspects));
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:i, s:s, s:s?}", "incident_id", incident, "allegation", "a1",
                     "victim_ref", "VR", "suspect_refs", refs, "offence", offence, "group", "violence", "occasions", 1,
                     "occurred_at", when, "crn", crn);
}

#define VICTIM_REF "{'id':'v1','role':'victim','name':'Ann Lee','sex':'female','age':30,'confirms':true,'ref':'VR'}"
#define SUSPECT_REF "{'id':'s1','role':'suspect','sex':'male','age':31,'ref':'SR'}"
#define HAR1(when) "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'harassment','occurred_at':'" when "'}"

/* Occasions of one course reported in other calls add up with this one's; the call that reaches
 * the minimum records the crime and names the incidents it counted. */
START_TEST(e_course_across_incidents)
{
    struct fx f;
    fx_init(&f);
    f.persons = json_array();
    json_array_append_new(f.persons, other_row("INC0", "8L", "2026-04-01T09:30:00Z", "SR", NULL));
    fx_apply(&f, OPEN(VICTIM_REF "," SUSPECT_REF, "v1", HAR1(WHEN)));
    ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    expect_decision(&f, "a1", "recorded", NULL, NULL, "8L", "HOCR-E.course_across_incidents");
    json_t *d = decision(&f, "a1");
    ck_assert_uint_eq(json_array_size(json_object_get(d, "incidents")), 1);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(d, "incidents"), 0)), "INC0");
    ck_assert(has_rule(json_object_get(json_array_get(json_object_get(f.state, "crimes"), 0), "rules"),
                       "HOCR-E.course_across_incidents"));
    fx_free(&f);

    /* Without the other call: one occasion, no course. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM_REF "," SUSPECT_REF, "v1", HAR1(WHEN)));
    expect_decision(&f, "a1", "pending", "insufficient_detail", NULL, "8L", "HOCR-E.course_of_conduct");
    fx_free(&f);

    /* Another suspect, another offence, the incident's own row, no suspect ref: separate. */
    static const char *const rows[][3] = {{"INC0", "8L", "OTHER"}, {"INC0", "8Q", "SR"}, {"INC1", "8L", "SR"}};
    for (size_t i = 0; i < 3; i++) {
        fx_init(&f);
        f.persons = json_array();
        json_array_append_new(f.persons, other_row(rows[i][0], rows[i][1], WHEN, rows[i][2], NULL));
        fx_apply(&f, OPEN(VICTIM_REF "," SUSPECT_REF, "v1", HAR1(WHEN)));
        ck_assert_uint_eq(count_crimes(&f, NULL), 0);
        expect_decision(&f, "a1", "pending", "insufficient_detail", NULL, "8L", "HOCR-E.course_of_conduct");
        fx_free(&f);
    }
    fx_init(&f);
    f.persons = json_array();
    json_array_append_new(f.persons, other_row("INC0", "8L", WHEN, "SR", NULL));
    fx_apply(&f, OPEN(VICTIM_REF "," SUSPECT, "v1", HAR1(WHEN)));
    ck_assert_uint_eq(count_crimes(&f, NULL), 0);
    fx_free(&f);

    /* The course already made a crime in another call: counted in it, no second crime. */
    fx_init(&f);
    f.persons = json_array();
    json_array_append_new(f.persons, other_row("INC0", "8L", "2026-04-01T09:30:00Z", "SR", "WM/2026/000777"));
    json_array_append_new(f.persons, other_row("INC9", "8L", "2026-04-02T09:30:00Z", "SR", NULL));
    fx_apply(&f, OPEN(VICTIM_REF "," SUSPECT_REF, "v1", HAR1(WHEN)));
    ck_assert_uint_eq(count_crimes(&f, NULL), 0);
    expect_decision(&f, "a1", "counted_in", NULL, NULL, "8L", "HOCR-E.course_across_incidents");
    ck_assert_str_eq(s(decision(&f, "a1"), "crn"), "WM/2026/000777");
    ck_assert_uint_eq(open_pending(&f, NULL), 0);
    fx_free(&f);
}
END_TEST

/* The window's edge: exactly course_window_days (365) apart counts, one millisecond more does not. */
START_TEST(e_course_window_edges)
{
    static const struct {
        const char *when;
        size_t crimes;
    } cases[] = {{"2025-05-01T09:30:00Z", 1}, {"2025-05-01T09:29:59.999Z", 0},
                 {"2027-05-01T09:30:00Z", 1}, {"2027-05-01T09:30:00.001Z", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct fx f;
        fx_init(&f);
        f.persons = json_array();
        json_array_append_new(f.persons, other_row("INC0", "8L", cases[i].when, "SR", NULL));
        fx_apply(&f, OPEN(VICTIM_REF "," SUSPECT_REF, "v1", HAR1("2026-05-01T09:30:00Z")));
        ck_assert_msg(count_crimes(&f, NULL) == cases[i].crimes, "%s", cases[i].when);
        fx_free(&f);
    }
}
END_TEST

/* Two unlinked incidents with a crime each for the same victim and suspect refs, offence group and
 * time (within the window) open a possible_duplicate item; a link, or a time past the window, not. */
START_TEST(c_possible_duplicate)
{
    static const struct {
        const char *when;
        const char *crn;
        bool linked;
        size_t items;
    } cases[] = {{"2026-05-01T11:30:00Z", "WM/2026/000777", false, 1}, /* edge: 120 minutes */
                 {"2026-05-01T11:30:00.001Z", "WM/2026/000777", false, 0},
                 {"2026-05-01T09:30:00Z", NULL, false, 0}, /* no crime there */
                 {"2026-05-01T09:30:00Z", "WM/2026/000777", true, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct fx f;
        fx_init(&f);
        f.persons = json_array();
        json_t *row = other_row("INC0", "8N", cases[i].when, "SR", cases[i].crn);
        json_array_append_new(f.persons, row);
        if (cases[i].linked)
            f.linked = json_pack("{s:{}}", "INC0");
        fx_apply(&f, OPEN(VICTIM_REF "," SUSPECT_REF, "v1", A1("")));
        ck_assert_uint_eq(count_crimes(&f, NULL), 1);
        ck_assert_msg(open_pending(&f, "possible_duplicate") == cases[i].items, "case %zu", i);
        if (cases[i].items) {
            json_t *p = json_array_get(json_object_get(f.state, "pending"), 0);
            ck_assert_str_eq(s(json_object_get(p, "duplicate_of"), "crn"), "WM/2026/000777");
            ck_assert_str_eq(s(p, "role"), "ddm");
        }
        fx_free(&f);
    }
}
END_TEST

START_TEST(f_principal)
{
    struct fx f;
    fx_init(&f);
#define DAMAGE(note) "{'id':'a2','victim':'v1','suspects':['s1'],'conduct':'damage.other','occurred_at':'" WHEN "','note':'" note "'}"
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.injury','occurred_at':'" WHEN "'}," DAMAGE("phone")));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "8N", "HOCR-F.principal");
    expect_decision(&f, "a2", "counted_in", NULL, NULL, "58D", "HOCR-F.principal");
    fx_free(&f);
    /* Damage worth at least 5,000 pounds ranks at its full maximum (10 years), above 8N. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.injury','occurred_at':'" WHEN "'},"
                      DAMAGE("car wrecked, repair quoted at \\u00a36,500")));
    expect_decision(&f, "a2", "recorded", NULL, NULL, "58D", "HOCR-F.principal");
    expect_decision(&f, "a1", "counted_in", NULL, NULL, "8N", NULL);
    fx_free(&f);
}
END_TEST

START_TEST(f_in_course_of)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'burglary.dwelling','occurred_at':'" WHEN "'},"
                      "{'id':'a2','victim':'v1','suspects':['s1'],'conduct':'assault.no_injury','in_course_of':'a1'}"));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "28E", NULL);
    expect_decision(&f, "a2", "counted_in", NULL, NULL, "105A", "HOCR-F.in_course_of");
    fx_free(&f);
    /* Across victims: fire spreading from the intended target's flat adds no crime. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM ",{'id':'v2','role':'victim','confirms':true}," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'arson.endangering_life','occurred_at':'" WHEN "'},"
                      "{'id':'a2','victim':'v2','suspects':['s1'],'conduct':'arson.endangering_life','occurred_at':'" WHEN "','in_course_of':'a1'}"));
    ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    expect_decision(&f, "a2", "counted_in", NULL, NULL, "56A", "HOCR-F.in_course_of");
    fx_free(&f);
}
END_TEST

START_TEST(exceptions_as_data)
{
    struct fx f;
    fx_init(&f);
    /* Robbery absorbs violence at the time against another victim by one of its suspects. */
    fx_apply(&f, OPEN("{'id':'bank','role':'victim','kind':'organisation','name':'Bank','confirms':true},"
                      "{'id':'v2','role':'victim','confirms':true}," SUSPECT, "v2",
                      "{'id':'a1','victim':'bank','suspects':['s1'],'conduct':'robbery','occurred_at':'" WHEN "'},"
                      "{'id':'a2','victim':'v2','suspects':['s1'],'conduct':'assault.injury','occurred_at':'" WHEN "'}"));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "34A", "HOCR-ROB.34A");
    expect_decision(&f, "a2", "counted_in", NULL, NULL, "8N", "HOCR-ROB.absorbs_violence");
    fx_free(&f);
    /* The stolen car burnt hours later: 48 over the arson, across occasions. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM, "v1",
                      "{'id':'a1','victim':'v1','offence':'48','occurred_at':'2026-05-01T01:00:00Z'},"
                      "{'id':'a2','victim':'v1','offence':'56B','occurred_at':'2026-05-01T04:00:00Z'}"));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "48", NULL);
    expect_decision(&f, "a2", "counted_in", NULL, NULL, "56B", "HOCR-ARSON.vehicle_taking");
    fx_free(&f);
    /* Residential over business burglary of the same victim. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM, "v1",
                      "{'id':'a1','victim':'v1','conduct':'burglary.business','occurred_at':'" WHEN "'},"
                      "{'id':'a2','victim':'v1','conduct':'burglary.dwelling','occurred_at':'" WHEN "'}"));
    expect_decision(&f, "a2", "recorded", NULL, NULL, "28E", NULL);
    expect_decision(&f, "a1", "counted_in", NULL, NULL, "30C", "HOCR-BURG.residential_over_business");
    fx_free(&f);
    /* A burglary's theft and damage at the time, without any link. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM, "v1",
                      "{'id':'a1','victim':'v1','conduct':'burglary.business','occurred_at':'" WHEN "'},"
                      "{'id':'a2','victim':'v1','conduct':'theft.other','occurred_at':'" WHEN "'},"
                      "{'id':'a3','victim':'v1','conduct':'damage.other','occurred_at':'" WHEN "','note':'door worth 9000 pounds'}"));
    ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    expect_decision(&f, "a1", "recorded", NULL, NULL, "30C", "HOCR-E.finished_incident");
    expect_decision(&f, "a2", "counted_in", NULL, NULL, "49", "HOCR-BURG.absorbs_theft");
    expect_decision(&f, "a3", "counted_in", NULL, NULL, "58D", "HOCR-BURG.absorbs_damage");
    fx_free(&f);
    /* Stalking and harassment of one victim: stalking only. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'harassment','occasions':3,'occurred_at':'" WHEN "'},"
                      "{'id':'a2','victim':'v1','suspects':['s1'],'conduct':'stalking','occasions':2,'occurred_at':'" WHEN "'}"));
    ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    expect_decision(&f, "a2", "recorded", NULL, NULL, "8Q", "HOCR-VAP.8Q");
    expect_decision(&f, "a1", "counted_in", NULL, NULL, "8L", "HOCR-VAP.stalking_over_harassment");
    fx_free(&f);
}
END_TEST

/* ---- reclassification and the feed's limits ---- */

#define UPDATE(seq, body) "{'v':1,'event_id':'e" #seq "','type':'incident.updated','incident_id':'INC1','seq':" #seq ",'at':'" AT "'," body "}"

START_TEST(b_reclassification)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", A1("")));
    char crn[64];
    snprintf(crn, sizeof crn, "%s", s(crime_at(&f, 0), "crn"));
    fx_apply(&f, UPDATE(2, "'allegations':[{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.injury','occurred_at':'" WHEN "'}]"));
    ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    json_t *c = json_array_get(json_object_get(f.out, "crimes"), 0);
    ck_assert_str_eq(s(c, "action"), "reclassified");
    ck_assert_str_eq(s(c, "offence"), "8N");
    ck_assert_str_eq(s(c, "crn"), crn);
    expect_decision(&f, "a1", "recorded", NULL, NULL, "8N", "HOCR-B.reclassification");
    const json_t *a = audit_entry(&f, "crime.reclassified");
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(s(json_object_get(a, "before"), "offence"), "105A");
    /* Said again, nothing changes: reported unchanged because the event names it. */
    fx_apply(&f, UPDATE(3, "'allegations':[{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.injury','occurred_at':'" WHEN "'}]"));
    ck_assert_str_eq(s(json_array_get(json_object_get(f.out, "crimes"), 0), "action"), "unchanged");
    ck_assert_uint_eq(json_array_size(json_object_get(f.out, "audit")), 0);
    /* An event about something else does not list the crime. */
    fx_apply(&f, UPDATE(4, "'narrative':'Officer attending.'"));
    ck_assert_uint_eq(json_array_size(json_object_get(f.out, "crimes")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(f.out, "decisions")), 0);
    fx_free(&f);
}
END_TEST

START_TEST(feed_withdrawn)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", A1("")));
    fx_apply(&f, UPDATE(2, "'persons':[{'id':'v1','role':'victim','confirms':true,'wishes':'declines_police_action'}],"
                           "'allegations':[" A1(",'withdrawn':true") "]"));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "105A", "FEED.withdrawn");
    ck_assert_uint_eq(count_crimes(&f, "recorded"), 1);
    ck_assert_uint_eq(open_pending(&f, NULL), 0);
    fx_free(&f);
}
END_TEST

START_TEST(feed_retracted)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", A1("")));
    fx_apply(&f, UPDATE(2, "'allegations':[" A1(",'retracted':true") "]"));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "105A", "FEED.retracted");
    ck_assert(has_rule(json_object_get(decision(&f, "a1"), "rules"), "HOCR-C.feed_never_cancels"));
    ck_assert_uint_eq(count_crimes(&f, "recorded"), 1);
    ck_assert_uint_eq(open_pending(&f, "retraction_review"), 1);
    fx_free(&f);
    /* Retracted before anything was recorded: a person confirms the retraction. */
    fx_init(&f);
    fx_apply(&f, LAY_OPEN(",'confirms':null"));
    fx_apply(&f, UPDATE(2, "'allegations':[" A1(",'retracted':true") "]"));
    expect_decision(&f, "a1", "pending", "retraction_review", NULL, "105A", "FEED.retracted");
    ck_assert_uint_eq(open_pending(&f, "third_party_unconfirmed"), 0);
    ck_assert_uint_eq(open_pending(&f, "retraction_review"), 1);
    fx_free(&f);
}
END_TEST

START_TEST(c_feed_never_cancels)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", A1("")));
    fx_apply(&f, UPDATE(2, "'allegations':[{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.no_injury','occurred_at':'" WHEN
                           "','location':{'force_area':'other','other_force':'NMP'}}]"));
    ck_assert_uint_eq(count_crimes(&f, "recorded"), 1);
    expect_decision(&f, "a1", "recorded", NULL, NULL, "105A", "HOCR-C.feed_never_cancels");
    ck_assert_uint_eq(open_pending(&f, "other_force_area"), 1);
    /* A crime a person cancelled is never recorded again by the feed. */
    json_object_set_new(crime_at(&f, 0), "status", json_string("cancelled"));
    fx_apply(&f, UPDATE(3, "'allegations':[" A1("") "]"));
    ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    ck_assert_uint_eq(count_crimes(&f, "recorded"), 0);
    fx_free(&f);
}
END_TEST

START_TEST(c_merged_crimes_stay)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.injury','occurred_at':'" WHEN "'},"
                      "{'id':'a2','victim':'v1','suspects':['s1'],'conduct':'assault.no_injury','occurred_at':'2026-04-20T09:00:00Z'}"));
    ck_assert_uint_eq(count_crimes(&f, "recorded"), 2);
    /* Corrected: both on one occasion. The second crime is not dropped; a person decides. */
    fx_apply(&f, UPDATE(2, "'allegations':[{'id':'a2','victim':'v1','suspects':['s1'],'conduct':'assault.no_injury','occurred_at':'" WHEN "'}]"));
    ck_assert_uint_eq(count_crimes(&f, "recorded"), 2);
    expect_decision(&f, "a2", "counted_in", NULL, NULL, "105A", "HOCR-F.principal");
    ck_assert_str_eq(s(decision(&f, "a2"), "crn"), s(crime_at(&f, 0), "crn"));
    ck_assert_uint_eq(open_pending(&f, "insufficient_detail"), 1);
    fx_free(&f);
    /* The victim of the allegation corrected: the same crime, now for that victim. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM ",{'id':'v2','role':'victim','confirms':true}," SUSPECT, "v1", A1("")));
    fx_apply(&f, UPDATE(2, "'allegations':[{'id':'a1','victim':'v2','suspects':['s1'],'conduct':'assault.no_injury'}]"));
    ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    ck_assert_str_eq(s(crime_at(&f, 0), "victim"), "v2");
    ck_assert_ptr_nonnull(audit_entry(&f, "crime.updated"));
    fx_free(&f);
}
END_TEST

START_TEST(feed_person_decision_stands)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, LAY_OPEN(",'confirms':null"));
    /* A supervisor decided "no crime" (as the API would leave it in the state). */
    json_t *pend = json_array_get(json_object_get(f.state, "pending"), 0);
    json_object_set_new(pend, "status", json_string("closed"));
    json_object_set_new(pend, "resolution", json_pack("{s:s}", "how", "decision"));
    json_object_set_new(json_object_get(f.state, "decisions"), "a1",
                        json_pack("{s:s, s:s, s:s, s:[], s:s}", "allegation", "a1", "outcome", "not_recorded", "reason",
                                  "victim_does_not_confirm", "rules", "by", "sup1"));
    fx_apply(&f, UPDATE(2, "'narrative':'No change.'"));
    ck_assert_uint_eq(open_pending(&f, NULL), 0);
    ck_assert_str_eq(s(json_object_get(json_object_get(f.state, "decisions"), "a1"), "outcome"), "not_recorded");
    fx_free(&f);
}
END_TEST

START_TEST(feed_unknown_code)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM, "v1", "{'id':'a1','victim':'v1','offence':'ZZ9'},{'id':'a2','victim':'v1','conduct':'juggling'}"));
    ck_assert_int_eq(f.rc, 0);
    expect_decision(&f, "a1", "pending", "insufficient_detail", NULL, "ZZ9", "FEED.unknown_code");
    expect_decision(&f, "a2", "pending", "insufficient_detail", NULL, NULL, "FEED.unknown_code");
    ck_assert(has_warning(&f, "unknown_offence", "allegations[0].offence"));
    ck_assert(has_warning(&f, "unknown_conduct", "allegations[1].conduct"));
    ck_assert_uint_eq(open_pending(&f, "insufficient_detail"), 2);
    fx_free(&f);
}
END_TEST

START_TEST(feed_unknown_qualifier)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'public_safety','qualifiers':['domestic','moonlight']}");
    ck_assert(has_warning(&f, "unknown_qualifier", "qualifiers[1]"));
    ck_assert(!has_warning(&f, "unknown_qualifier", "qualifiers[0]"));
    fx_free(&f);
}
END_TEST

START_TEST(feed_no_victim)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(SUSPECT, "s1", "{'id':'a1','suspects':['s1'],'conduct':'assault.injury'}"));
    expect_decision(&f, "a1", "pending", "insufficient_detail", NULL, "8N", "FEED.no_victim");
    ck_assert(has_warning(&f, "no_victim", "allegations[0].victim"));
    fx_free(&f);
}
END_TEST

START_TEST(feed_not_opened)
{
    struct fx f;
    fx_init(&f);
    ck_assert_int_eq(fx_apply(&f, "{'v':1,'event_id':'e5','type':'incident.updated','incident_id':'INC1','seq':5,"
                                  "'at':'2026-05-01T12:00:00+01:00','persons':[" VICTIM "],'reported_by':'v1',"
                                  "'allegations':[{'id':'a1','victim':'v1','conduct':'theft.other'}]}"),
                     0);
    ck_assert(has_warning(&f, "not_opened", NULL));
    ck_assert_str_eq(s(f.state, "opened_at"), "2026-05-01T11:00:00Z");
    ck_assert_int_eq(incident_last_seq(f.state), 5);
    expect_decision(&f, "a1", "recorded", NULL, NULL, "49", NULL);
    const json_t *a = audit_entry(&f, "incident.opened");
    ck_assert(has_rule(json_object_get(a, "rules"), "FEED.not_opened"));
    fx_free(&f);
}
END_TEST

START_TEST(feed_references_checked)
{
    struct fx f;
    fx_init(&f);
    ck_assert_int_eq(fx_apply(&f, OPEN(VICTIM, "nobody", "")), 1);
    ck_assert_str_eq(f.err.code, "unknown_person");
    ck_assert_str_eq(f.err.field, "reported_by");
    ck_assert_int_eq(fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1",
                                       "{'id':'a1','victim':'v1','suspects':['s1','s9'],'conduct':'assault.injury'}")),
                     1);
    ck_assert_str_eq(f.err.field, "allegations[0].suspects[1]");
    ck_assert_int_eq(fx_apply(&f, OPEN("{'id':'v1','role':'victim','relationships':[{'to':'x','kind':'partner'}]}",
                                       "v1", "")),
                     1);
    ck_assert_str_eq(f.err.field, "persons[0].relationships[0].to");
    ck_assert_int_eq(fx_apply(&f, OPEN(VICTIM, "v1",
                                       "{'id':'a1','victim':'v1','conduct':'theft.other'},"
                                       "{'id':'a2','victim':'v2','conduct':'theft.other'}")),
                     1);
    ck_assert_str_eq(f.err.code, "unknown_person");
    ck_assert_str_eq(f.err.field, "allegations[1].victim");
    ck_assert_ptr_nonnull(strstr(f.err.message, "allegations[1].victim names person \"v2\""));
    ck_assert_int_eq(fx_apply(&f, OPEN(VICTIM, "v1", "{'id':'a1','victim':'v1','conduct':'theft.other','in_course_of':'a7'}")), 1);
    ck_assert_str_eq(f.err.code, "bad_field");
    ck_assert_str_eq(f.err.field, "allegations[0].in_course_of");
    ck_assert_int_eq(fx_apply(&f, OPEN(VICTIM, "v1",
                                       "{'id':'a1','victim':'v1','conduct':'theft.other','in_course_of':'a2'},"
                                       "{'id':'a2','victim':'v1','conduct':'theft.other','in_course_of':'a1'}")),
                     1);
    ck_assert_str_eq(f.err.code, "bad_field");
    ck_assert_ptr_null(f.state);
    /* A person of an earlier event may be named later. */
    ck_assert_int_eq(fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", "")), 0);
    ck_assert_int_eq(fx_apply(&f, UPDATE(2, "'allegations':[" A1("") "]")), 0);
    expect_decision(&f, "a1", "recorded", NULL, NULL, "105A", NULL);
    /* References are judged against the incident as the event leaves it: an allegation of an
     * earlier event may be followed, and one the event sends again is read as the event has it. */
    ck_assert_int_eq(fx_apply(&f, UPDATE(3, "'allegations':[{'id':'a2','victim':'v1','conduct':'theft.other',"
                                            "'in_course_of':'a1'}]")),
                     0);
    ck_assert_int_eq(fx_apply(&f, UPDATE(4, "'allegations':[{'id':'a1','victim':'v1','conduct':'theft.other',"
                                            "'in_course_of':'a2'}]")),
                     1);
    ck_assert_str_eq(f.err.field, "allegations[0].in_course_of");
    ck_assert_ptr_nonnull(strstr(f.err.message, "comes back to itself"));
    ck_assert_int_eq(fx_apply(&f, UPDATE(4, "'allegations':[{'id':'a2','victim':'v1','conduct':'theft.other'},"
                                            "{'id':'a1','victim':'v1','conduct':'theft.other','in_course_of':'a2'}]")),
                     0);
    ck_assert_int_eq(fx_apply(&f, UPDATE(5, "'persons':[{'id':'v9','role':'victim'}],'reported_by':'v9'")), 0);
    ck_assert_int_eq(fx_apply(&f, UPDATE(6, "'reported_by':'v8'")), 1);
    ck_assert_str_eq(f.err.field, "reported_by");
    fx_free(&f);
}
END_TEST

/* A state written by an older engine may lack containers: an update fills every one in. */
START_TEST(feed_old_state_completed)
{
    struct fx f;
    fx_init(&f);
    ck_assert_int_eq(fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", A1(""))), 0);
    static const char *const gone[] = {"qualifiers", "links", "indicators", "pending", "decisions"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        ck_assert_int_eq(json_object_del(f.state, gone[i]), 0);
    ck_assert_int_eq(fx_apply(&f, UPDATE(2, "'narrative':'He punched her.'")), 0);
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        ck_assert_msg(json_object_get(f.state, gone[i]) != NULL, "%s not filled in", gone[i]);
    ck_assert(json_is_object(json_object_get(f.state, "decisions")));
    ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    fx_free(&f);
}
END_TEST

START_TEST(feed_merge_by_id)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'crime','qualifiers':['hate'],'persons':[" VICTIM "," SUSPECT "]}");
    fx_apply(&f, UPDATE(2, "'persons':[{'id':'v1','role':'victim'}]"));
    json_t *persons = json_object_get(f.state, "persons");
    ck_assert_uint_eq(json_array_size(persons), 2);
    ck_assert_ptr_null(json_object_get(json_array_get(persons, 0), "name")); /* replaced whole */
    ck_assert_str_eq(s(json_array_get(persons, 1), "id"), "s1");              /* omitted stays */
    ck_assert_uint_eq(json_array_size(json_object_get(f.state, "qualifiers")), 1);
    fx_apply(&f, UPDATE(3, "'qualifiers':[]"));
    ck_assert_uint_eq(json_array_size(json_object_get(f.state, "qualifiers")), 0);
    fx_free(&f);
}
END_TEST

/* ---- incident rules ---- */

START_TEST(nsir_crime_without_allegation)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM, "v1", ""));
    ck_assert_uint_eq(open_pending(&f, "insufficient_detail"), 1);
    ck_assert(has_rule(json_object_get(json_array_get(json_object_get(f.state, "pending"), 0), "rules"),
                       "NSIR.crime_without_allegation"));
    fx_apply(&f, UPDATE(2, "'allegations':[{'id':'a1','victim':'v1','conduct':'theft.other'}]"));
    ck_assert_uint_eq(open_pending(&f, NULL), 0);
    fx_free(&f);
}
END_TEST

START_TEST(nsir_hidden_crime)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'asb','narrative':'Youths in the park; one punched a passer-by.'}");
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 1);
    ck_assert(has_rule(json_object_get(json_array_get(json_object_get(f.state, "pending"), 0), "rules"),
                       "NSIR.hidden_crime"));
    /* An allegation recorded settles it. */
    fx_apply(&f, UPDATE(2, "'reported_by':'v1','persons':[" VICTIM "," SUSPECT "],'allegations':[" A1("") "]"));
    ck_assert_uint_eq(open_pending(&f, NULL), 0);
    ck_assert_uint_eq(count_crimes(&f, NULL), 1);
    fx_free(&f);
    /* A denial does not count. */
    fx_init(&f);
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'public_safety','narrative':'Loud argument, no assault and nothing damaged.'}");
    ck_assert_uint_eq(open_pending(&f, NULL), 0);
    fx_free(&f);
}
END_TEST

/* Which phrases a narrative holds: each phrase where a word starts, not inside a word, not just
 * after a denial, found once however often it occurs, listed in the rule set's order. */
START_TEST(nsir_phrases_found)
{
    struct fx f;
    fx_init(&f);
    ck_assert_int_eq(fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,"
                                  "'at':'" AT "','category':'asb','narrative':'Nothing stolen. He ROBBED her; then "
                                  "threat to kill. Not raped, no injuries; later the man raped her. Unkicked, "
                                  "re-assaulted? Knife'}"),
                     0);
    const char *want[] = {"assault", "knife", "rape", "raped", "threat to kill", "robbed"};
    json_t *found = json_object_get(f.state, "indicators");
    char *text = json_dumps(found, 0);
    size_t k = 0;
    for (; k < sizeof want / sizeof want[0]; k++)
        ck_assert_msg(k < json_array_size(found) && strcmp(json_string_value(json_array_get(found, k)), want[k]) == 0,
                      "indicators %s: want %s at %zu", text, want[k], k);
    ck_assert_msg(k == json_array_size(found), "indicators %s: more than wanted", text);
    free(text);
    fx_free(&f);
}
END_TEST

START_TEST(nsir_closure)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM, "v1", ""));
    fx_apply(&f, "{'v':1,'event_id':'e2','type':'incident.closed','incident_id':'INC1','seq':2,'at':'" AT
                 "','closing_category':'crime'}");
    ck_assert_uint_eq(open_pending(&f, "closed_without_crime"), 1);
    ck_assert(has_warning(&f, "closed_without_crime", "closing_category"));
    ck_assert_str_eq(s(f.state, "closed_at"), AT);
    ck_assert_ptr_nonnull(audit_entry(&f, "incident.closed"));
    fx_free(&f);

    fx_init(&f);
    fx_apply(&f, LAY_OPEN(",'confirms':null"));
    fx_apply(&f, "{'v':1,'event_id':'e2','type':'incident.closed','incident_id':'INC1','seq':2,'at':'" AT
                 "','closing_category':'crime_related'}");
    ck_assert(has_warning(&f, "closing_reason_missing", "closing_reason"));
    ck_assert_uint_eq(open_pending(&f, "closed_without_crime"), 1);
    ck_assert(has_rule(json_object_get(json_array_get(json_object_get(f.state, "pending"), 1), "rules"),
                       "NSIR.closed_cri_without_reason"));
    /* The reason given: the allegation waiting on the victim is settled by it. */
    fx_apply(&f, "{'v':1,'event_id':'e3','type':'incident.closed','incident_id':'INC1','seq':3,'at':'" AT
                 "','closing_category':'crime_related','closing_reason':'victim_not_traced'}");
    expect_decision(&f, "a1", "not_recorded", "victim_not_traced", NULL, "105A", "NSIR.closing_reason");
    ck_assert_uint_eq(open_pending(&f, NULL), 0);
    fx_free(&f);
}
END_TEST

/* ---- flags ---- */

START_TEST(flag_domestic_abuse)
{
    struct fx f;
    fx_init(&f);
#define PARTNERS(vage, sage, kind)                                                                             \
    "{'id':'v1','role':'victim','confirms':true,'age':" vage ",'relationships':[{'to':'s1','kind':'" kind "'}]}," \
    "{'id':'s1','role':'suspect','age':" sage "}"
    fx_apply(&f, OPEN(PARTNERS("30", "32", "partner"), "v1", A1("")));
    ck_assert(has_flag(crime_at(&f, 0), "domestic_abuse"));
    ck_assert(has_rule(json_object_get(crime_at(&f, 0), "rules"), "FLAG.domestic_abuse"));
    fx_free(&f);
    fx_init(&f);
    fx_apply(&f, OPEN(PARTNERS("15", "32", "family"), "v1", A1("")));
    ck_assert(!has_flag(crime_at(&f, 0), "domestic_abuse"));
    fx_free(&f);
    fx_init(&f);
    fx_apply(&f, OPEN(PARTNERS("30", "32", "carer"), "v1", A1("")));
    ck_assert(!has_flag(crime_at(&f, 0), "domestic_abuse"));
    fx_free(&f);
    /* The relationship on the suspect's side counts too; a flag added later is audited. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", A1("")));
    ck_assert(!has_flag(crime_at(&f, 0), "domestic_abuse"));
    fx_apply(&f, UPDATE(2, "'persons':[{'id':'s1','role':'suspect','age':31,'relationships':[{'to':'v1','kind':'ex_partner'}]}]"));
    ck_assert(has_flag(crime_at(&f, 0), "domestic_abuse"));
    ck_assert_ptr_nonnull(audit_entry(&f, "crime.updated"));
    fx_free(&f);
}
END_TEST

START_TEST(flag_others)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'crime','qualifiers':['hate','knife'],'reported_by':'v1','persons':[" VICTIM "," SUSPECT
                 "],'allegations':[{'id':'a1','victim':'v1','conduct':'communications.malicious','location':{'force_area':'own','premises':'online'}}]}");
    json_t *c = crime_at(&f, 0);
    ck_assert(has_flag(c, "hate") && has_flag(c, "knife") && has_flag(c, "online"));
    ck_assert(has_rule(json_object_get(c, "rules"), "FLAG.hate"));
    fx_free(&f);
    fx_init(&f);
    fx_apply(&f, OPEN("{'id':'v1','role':'victim','sex':'female','age':14,'confirms':true}," SUSPECT, "v1",
                      "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'sexual_assault'}"));
    ck_assert_str_eq(s(crime_at(&f, 0), "offence"), "20A");
    ck_assert(has_flag(crime_at(&f, 0), "child_sexual_abuse"));
    fx_free(&f);
    fx_init(&f);
    fx_apply(&f, OPEN("{'id':'o1','role':'officer'}," SUSPECT, "o1",
                      "{'id':'a1','victim':'o1','suspects':['s1'],'conduct':'assault.injury'}"));
    ck_assert(has_flag(crime_at(&f, 0), "emergency_worker"));
    fx_free(&f);
}
END_TEST

/* ---- views and numbers ---- */

/* What the store hands the rules as linked incidents: those the event's or the stored state's
 * links name, opened (not null), never the incident itself, each once. */
START_TEST(linked_incidents)
{
    json_t *states = json_pack("{s:{s:s}, s:{s:s}, s:n, s:{s:s}, s:{s:s}}", "A", "id", "a", "B", "id", "b", "C",
                               "SELF", "id", "self", "D", "id", "d");
    json_t *doc = json_pack("{s:[{s:s}, {s:s}, {s:s}, {s:s}, {s:i}]}", "links", "incident_id", "B", "incident_id",
                            "C", "incident_id", "SELF", "incident_id", "GONE", "incident_id", 7);
    json_t *state = json_pack("{s:[{s:s}, {s:s}]}", "links", "incident_id", "A", "incident_id", "B");
    json_t *got = incident_linked(states, doc, state, "SELF");
    ck_assert_uint_eq(json_object_size(got), 2);
    ck_assert_ptr_eq(json_object_get(got, "A"), json_object_get(states, "A"));
    ck_assert_ptr_eq(json_object_get(got, "B"), json_object_get(states, "B"));
    json_decref(got);
    got = incident_linked(states, NULL, NULL, "SELF");
    ck_assert_uint_eq(json_object_size(got), 0);
    json_decref(got);
    /* A person's decision sees every other opened incident. */
    got = incident_others(states, "SELF");
    ck_assert_uint_eq(json_object_size(got), 3);
    ck_assert_ptr_null(json_object_get(got, "C"));
    ck_assert_ptr_null(json_object_get(got, "SELF"));
    json_decref(got);
    json_decref(state);
    json_decref(doc);
    json_decref(states);
}
END_TEST

START_TEST(person_ref)
{
    json_t *state = json_pack("{s:[{s:s}, {s:s, s:s}, {s:s, s:i}]}", "persons", "id", "v1", "id", "v2", "ref",
                              "CC-7", "id", "v3", "ref", 7);
    ck_assert_str_eq(incident_person_ref(state, "v2"), "CC-7");
    ck_assert_ptr_null(incident_person_ref(state, "v1")); /* no ref */
    ck_assert_ptr_null(incident_person_ref(state, "v3")); /* not a string */
    ck_assert_ptr_null(incident_person_ref(state, "v9")); /* no such person */
    ck_assert_ptr_null(incident_person_ref(state, NULL));
    ck_assert_ptr_null(incident_person_ref(NULL, "v2"));
    json_decref(state);
}
END_TEST

START_TEST(crn_and_view)
{
    struct fx f;
    fx_init(&f);
    f.serial = 41;
    /* 23:30 on 31 December at UTC-1 is already next year in UTC. */
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,"
                 "'at':'2025-12-31T23:30:00-01:00','category':'crime','reported_by':'v1','persons':[" VICTIM "],"
                 "'allegations':[{'id':'a1','victim':'v1','conduct':'theft.other'},{'id':'a2','victim':'v1','offence':'QQ'}]}");
    ck_assert_str_eq(s(crime_at(&f, 0), "crn"), "WM/2026/000042");
    json_t *view = incident_view(f.state);
    ck_assert_str_eq(s(view, "incident_id"), "INC1");
    ck_assert_str_eq(s(view, "category"), "crime");
    ck_assert_str_eq(s(view, "opened_at"), "2026-01-01T00:30:00Z");
    ck_assert_ptr_null(json_object_get(view, "closed_at"));
    json_t *vc = json_array_get(json_object_get(view, "crimes"), 0);
    ck_assert_str_eq(s(vc, "status"), "recorded");
    ck_assert_ptr_null(json_object_get(vc, "allegations"));
    ck_assert_uint_eq(json_array_size(json_object_get(view, "decisions")), 2);
    ck_assert_str_eq(s(json_array_get(json_object_get(view, "decisions"), 1), "outcome"), "pending");
    ck_assert_ptr_null(json_object_get(json_array_get(json_object_get(view, "decisions"), 0), "ruleset"));
    json_t *vp = json_array_get(json_object_get(view, "pending"), 0);
    ck_assert_str_eq(s(vp, "id"), "PD-43");
    ck_assert_str_eq(s(vp, "candidate_offence"), "QQ");
    json_decref(view);
    ck_assert_int_eq(incident_last_seq(NULL), 0);
    view = incident_view(NULL);
    ck_assert_uint_eq(json_object_size(view), 0);
    json_decref(view);
    fx_free(&f);
}
END_TEST

/* ---- no retroactive re-decision after a reload ---- */

/* The shipped rule set as a reload might bring it: another version, theft.other coded 39. */
static struct ruleset *fx_reloaded(void)
{
    char path[4096], err[512];
    const char *root = getenv("FCRD_SOURCE_ROOT");
    snprintf(path, sizeof path, "%s/conf/rules/hocr-2025.json", root ? root : ".");
    json_t *d = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(d);
    char version[128]; /* another version than the shipped one, whatever that is */
    snprintf(version, sizeof version, "%s-reloaded", json_string_value(json_object_get(d, "version")));
    json_object_set_new(d, "version", json_string(version));
    json_object_set_new(json_object_get(d, "lexicon"), "theft.other",
                        json_pack("[{s:s, s:s}]", "offence", "39", "rule", "HOCR-THEFT.39"));
    char *text = json_dumps(d, 0);
    struct ruleset *rs2 = NULL;
    ck_assert_msg(ruleset_load_text(text, strlen(text), "reloaded", &rs2, err, sizeof err) == 0, "%s", err);
    free(text);
    json_decref(d);
    return rs2;
}

static bool fx_audit_has(const struct fx *f, const char *action)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(f->out, "audit"), i, e) {
        if (strcmp(s(e, "action"), action) == 0)
            return true;
    }
    return false;
}

START_TEST(reload_does_not_redecide_what_the_event_leaves_alone)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, "{'v':1,'event_id':'t1','type':'incident.opened','incident_id':'T1','seq':1,'at':'" AT "',"
                 "'category':'crime','reported_by':'v1','persons':[{'id':'v1','role':'victim','confirms':true}],"
                 "'allegations':[{'id':'a1','victim':'v1','conduct':'theft.other'}]}");
    ck_assert_str_eq(s(crime_at(&f, 0), "offence"), "49");
    struct ruleset *rs2 = fx_reloaded();
    f.env.rs = rs2;
    /* A witness added: nothing about a1 changes, so nothing is decided again. */
    fx_apply(&f, "{'v':1,'event_id':'t2','type':'incident.updated','incident_id':'T1','seq':2,"
                 "'at':'2026-05-01T11:00:00Z','persons':[{'id':'w1','role':'witness'}]}");
    ck_assert_int_eq(f.rc, 0);
    ck_assert_str_eq(s(crime_at(&f, 0), "offence"), "49");
    ck_assert_str_eq(s(crime_at(&f, 0), "ruleset"), ruleset_version(f.rs));
    ck_assert_str_eq(s(json_object_get(json_object_get(f.state, "decisions"), "a1"), "ruleset"), ruleset_version(f.rs));
    ck_assert(!fx_audit_has(&f, "crime.reclassified"));
    ck_assert(!fx_audit_has(&f, "decision"));
    ck_assert(!fx_audit_has(&f, "crime.updated"));
    /* Another victim's new allegation is decided by the loaded rule set; a1 still stands. */
    fx_apply(&f, "{'v':1,'event_id':'t3','type':'incident.updated','incident_id':'T1','seq':3,"
                 "'at':'2026-05-01T11:30:00Z','persons':[{'id':'v2','role':'victim','confirms':true}],"
                 "'allegations':[{'id':'a2','victim':'v2','conduct':'theft.other'}]}");
    ck_assert_str_eq(s(crime_at(&f, 0), "offence"), "49");
    ck_assert_str_eq(s(crime_at(&f, 1), "offence"), "39");
    ck_assert_str_eq(s(crime_at(&f, 1), "ruleset"), ruleset_version(rs2));
    /* An event that changes a1 has it decided again, by the loaded rule set, which the record says. */
    fx_apply(&f, "{'v':1,'event_id':'t4','type':'incident.updated','incident_id':'T1','seq':4,"
                 "'at':'2026-05-01T12:00:00Z','allegations':[{'id':'a1','victim':'v1','conduct':'theft.other',"
                 "'note':'wallet left on a bench'}]}");
    ck_assert_str_eq(s(crime_at(&f, 0), "offence"), "39");
    ck_assert_str_eq(s(crime_at(&f, 0), "ruleset"), ruleset_version(rs2));
    ck_assert(fx_audit_has(&f, "crime.reclassified"));
    ck_assert_str_eq(s(json_object_get(json_object_get(f.state, "decisions"), "a1"), "ruleset"), ruleset_version(rs2));
    ck_assert_str_eq(s(f.out, "rules"), ruleset_version(rs2));
    f.env.rs = f.rs;
    ruleset_free(rs2);
    fx_free(&f);
}
END_TEST

/* A change to the victim reaches the allegation; an open question on an untouched one stays open. */
START_TEST(reload_victim_change_reaches_allegation_pending_kept)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, "{'v':1,'event_id':'t1','type':'incident.opened','incident_id':'T2','seq':1,'at':'" AT "',"
                 "'category':'crime','reported_by':'w1','persons':[{'id':'w1','role':'witness'},"
                 "{'id':'v1','role':'victim'},{'id':'v2','role':'victim','confirms':true}],"
                 "'allegations':[{'id':'a1','victim':'v1','conduct':'assault.injury'},"
                 "{'id':'a2','victim':'v2','conduct':'theft.other'}]}");
    ck_assert_uint_eq(json_array_size(json_object_get(f.out, "pending")), 1);
    struct ruleset *rs2 = fx_reloaded();
    f.env.rs = rs2;
    fx_apply(&f, "{'v':1,'event_id':'t2','type':'incident.updated','incident_id':'T2','seq':2,"
                 "'at':'2026-05-01T11:00:00Z','persons':[{'id':'w2','role':'witness'}]}");
    ck_assert_uint_eq(json_array_size(json_object_get(f.out, "pending")), 1);
    ck_assert_str_eq(s(crime_at(&f, 0), "offence"), "49");
    /* v2's entry changes: a2 is decided again under the loaded rule set. */
    fx_apply(&f, "{'v':1,'event_id':'t3','type':'incident.updated','incident_id':'T2','seq':3,"
                 "'at':'2026-05-01T11:30:00Z','persons':[{'id':'v2','role':'victim','confirms':true,'age':41}]}");
    ck_assert_str_eq(s(crime_at(&f, 0), "offence"), "39");
    ck_assert_uint_eq(json_array_size(json_object_get(f.out, "pending")), 1);
    f.env.rs = f.rs;
    ruleset_free(rs2);
    fx_free(&f);
}
END_TEST

/* ---- hidden crime behind what was keyed ---- */

/* A crime incident: the victim reports, with a narrative, the allegations given. */
#define OPEN_N(allegations, narrative)                                                                           \
    "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT                     \
    "','category':'crime','reported_by':'v1','persons':[" VICTIM "," SUSPECT "],'allegations':[" allegations     \
    "],'narrative':'" narrative "'}"
#define THEFT "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'theft.from_person','occurred_at':'" WHEN "'," LOC "}"

/* The open possible_crime item naming this candidate, or NULL. */
static const json_t *possible_crime(const struct fx *f, const char *candidate)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(f->state, "pending"), i, p) {
        if (strcmp(s(p, "status"), "open") == 0 && strcmp(s(p, "reason"), "possible_crime") == 0 &&
            ((!candidate && !s(p, "candidate_offence")) ||
             (candidate && s(p, "candidate_offence") && strcmp(s(p, "candidate_offence"), candidate) == 0)))
            return p;
    }
    return NULL;
}

/* What a supervisor's decision leaves on a pending item (rules_act.c closes it so). */
static void close_by_person(const json_t *item)
{
    json_t *p = (json_t *)item;
    json_object_set_new(p, "status", json_string("closed"));
    json_object_set_new(p, "resolution", json_pack("{s:s, s:s}", "how", "decision", "decision", "no_crime"));
}

START_TEST(screen_force_behind_theft)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN_N(THEFT, "He pushed her to the ground and ran off with her handbag."));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "39", NULL);
    const json_t *p = possible_crime(&f, "34B");
    ck_assert_msg(p != NULL, "no possible_crime 34B: %s", json_dumps(json_object_get(f.state, "pending"), 0));
    ck_assert_str_eq(s(p, "victim"), "v1");
    ck_assert(has_rule(json_object_get(p, "rules"), "NSIR.hidden_crime"));
    ck_assert(has_rule(json_object_get(p, "rules"), "HOCR-THEFT.force_used"));
    ck_assert(has_rule(json_object_get(p, "indicators"), "pushed her"));
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 1);
    ck_assert(has_warning(&f, "possible_crime", "narrative"));
    /* The view a supervisor reads carries the candidate and the victim. */
    json_t *view = incident_view(f.state);
    json_t *vp = json_array_get(json_object_get(view, "pending"), 0);
    ck_assert_str_eq(s(vp, "candidate_offence"), "34B");
    ck_assert_str_eq(s(vp, "victim"), "v1");
    json_decref(view);
    /* An organisation robbed is 34A: the candidate is classified with the victim's facts. */
    fx_free(&f);
    fx_init(&f);
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'crime','reported_by':'w1','persons':[{'id':'o1','role':'victim','kind':'organisation',"
                 "'name':'Shop Ltd'},{'id':'w1','role':'professional','employer':'Shop Ltd'}],'allegations':[{'id':'a1',"
                 "'victim':'o1','conduct':'theft.shop'}],'narrative':'The man threatened the cashier and took the till.'}");
    ck_assert_ptr_nonnull(possible_crime(&f, "34A"));
    fx_free(&f);
}
END_TEST

START_TEST(screen_nothing_more_serious)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN_N(THEFT, "Her purse was lifted from her coat pocket on the bus; she felt nothing."));
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 0);
    ck_assert(!has_warning(&f, "possible_crime", NULL));
    fx_free(&f);
    /* Keyed as robbery already: the force described points to nothing above it. */
    fx_init(&f);
    fx_apply(&f, OPEN_N("{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'robbery','occurred_at':'" WHEN "'}",
                        "He pushed her over and took her phone."));
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 0);
    fx_free(&f);
    /* Strangulation behind an assault keyed with injury: 8N ranks no higher than 8N. */
    fx_init(&f);
    fx_apply(&f, OPEN_N("{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.injury','occurred_at':'" WHEN "'}",
                        "He strangled her."));
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 0);
    fx_free(&f);
}
END_TEST

START_TEST(screen_strangulation_behind_assault)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN_N(A1(""), "He didn\\u2019t hit her, but he grabbed her by the throat."));
    const json_t *p = possible_crime(&f, "8N");
    ck_assert_msg(p != NULL, "negation reached past its clause: %s", json_dumps(json_object_get(f.state, "indicators"), 0));
    ck_assert(has_rule(json_object_get(p, "rules"), "HOCR-VAP.strangulation"));
    ck_assert(has_rule(json_object_get(p, "indicators"), "by the throat"));
    ck_assert(!has_rule(json_object_get(f.state, "indicators"), "hit her"));
    fx_free(&f);
}
END_TEST

/* A denial cancels an act of its own clause, wherever in the clause it stands. */
START_TEST(screen_negation_same_clause)
{
    static const char *const texts[] = {
        "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
        "','category':'asb','narrative':'She says he did not at any point punch or strangle her.'}",
        "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
        "','category':'asb','narrative':'He never laid a finger on her or hit her.'}",
        "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
        "','category':'asb','narrative':'Neighbour dispute: nobody was assaulted; he wasn\\u2019t threatened.'}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        struct fx f;
        fx_init(&f);
        fx_apply(&f, "%s", texts[i]);
        ck_assert_msg(json_array_size(json_object_get(f.state, "indicators")) == 0, "%zu: %s", i,
                      json_dumps(json_object_get(f.state, "indicators"), 0));
        ck_assert_uint_eq(open_pending(&f, "possible_crime"), 0);
        fx_free(&f);
    }
    /* The next clause is not denied: "but", "then" and commas end a clause. */
    struct fx f;
    fx_init(&f);
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'asb','narrative':'No damage was done and then he kicked the door, not the car.'}");
    ck_assert(has_rule(json_object_get(f.state, "indicators"), "kicked"));
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 1);
    fx_free(&f);
}
END_TEST

START_TEST(screen_typographic_text)
{
    struct fx f;
    fx_init(&f);
    /* Quoted in typographic marks, the phrase still starts a word. */
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'asb','narrative':'Caller said \\u2018he punched her\\u2019 and \\u201cSTABBED\\u201d the dog.'}");
    ck_assert(has_rule(json_object_get(f.state, "indicators"), "punched"));
    ck_assert(has_rule(json_object_get(f.state, "indicators"), "stabbed"));
    fx_free(&f);
    /* A typographic apostrophe in a denial denies as the ASCII one does. */
    fx_init(&f);
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'asb','narrative':'He didn\\u2019t hit her\\u00a0and she wasn\\u02bct assaulted.'}");
    ck_assert_uint_eq(json_array_size(json_object_get(f.state, "indicators")), 0);
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 0);
    fx_free(&f);
}
END_TEST

START_TEST(screen_misspellings)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN_N(A1(""), "She says he strangeled her until she nearly passed out."));
    ck_assert_ptr_nonnull(possible_crime(&f, "8N"));
    ck_assert(has_rule(json_object_get(f.state, "indicators"), "strangl"));
    fx_free(&f);
    fx_init(&f);
    fx_apply(&f, OPEN_N(A1(""), "Victim CHOCKED by suspect."));
    ck_assert_ptr_nonnull(possible_crime(&f, "8N"));
    ck_assert(has_rule(json_object_get(f.state, "indicators"), "choked"));
    fx_free(&f);
    /* Only whole words: a correct word holding a misspelling is left alone. */
    fx_init(&f);
    fx_apply(&f, OPEN_N(A1(""), "Unchocked wheels rolled."));
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 0);
    fx_free(&f);
}
END_TEST

/* Case folding beyond ASCII, through a rule set that lists a phrase with accented letters. */
START_TEST(screen_non_ascii_case)
{
    char path[4096], err[512];
    const char *root = getenv("FCRD_SOURCE_ROOT");
    snprintf(path, sizeof path, "%s/conf/rules/hocr-2025.json", root ? root : ".");
    json_t *doc = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    json_t *ind = json_object_get(doc, "indicators");
    json_array_append_new(json_object_get(ind, "phrases"), json_string("agress\xc3\xa9" "e"));
    json_array_append_new(json_object_get(ind, "phrases"), json_string("\xc5\x82ukasz"));
    json_object_set_new(doc, "version", json_string("reloaded-test"));
    char *text = json_dumps(doc, 0);
    json_decref(doc);
    struct fx f;
    fx_init(&f);
    ruleset_free(f.rs);
    ck_assert_msg(ruleset_load_text(text, strlen(text), "test", &f.rs, err, sizeof err) == 0, "%s", err);
    free(text);
    f.env.rs = f.rs;
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'asb','narrative':'ELLE A \\u00c9T\\u00c9 AGRESS\\u00c9E PAR \\u0141UKASZ.'}");
    ck_assert(has_rule(json_object_get(f.state, "indicators"), "agress\xc3\xa9" "e"));
    ck_assert(has_rule(json_object_get(f.state, "indicators"), "\xc5\x82ukasz"));
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 1);
    fx_free(&f);
}
END_TEST

/* A person's decision settles what was before that person; a later disclosure is a new question. */
START_TEST(screen_later_disclosure)
{
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN_N(THEFT, "He pushed her and took the bag."));
    const json_t *p = possible_crime(&f, "34B");
    ck_assert_ptr_nonnull(p);
    char first[48];
    snprintf(first, sizeof first, "%s", s(p, "id"));
    close_by_person(p);
    /* The same indicator told again: nothing reopens. */
    fx_apply(&f, UPDATE(2, "'narrative':'Victim repeats that he pushed her.'"));
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 0);
    /* A new disclosure pointing to the same offence: a new item. */
    fx_apply(&f, UPDATE(3, "'narrative':'Later account: he also grabbed her by the arm and punched her.'"));
    p = possible_crime(&f, "34B");
    ck_assert_ptr_nonnull(p);
    ck_assert_str_ne(s(p, "id"), first);
    ck_assert(has_rule(json_object_get(p, "indicators"), "punched"));
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 1);
    fx_free(&f);

    /* The same for a non-crime incident's item. */
    fx_init(&f);
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'asb','narrative':'Youths in the park; one punched a passer-by.'}");
    p = possible_crime(&f, NULL);
    ck_assert_ptr_nonnull(p);
    close_by_person(p);
    fx_apply(&f, UPDATE(2, "'narrative':'Witness confirms the punch: one punched him.'"));
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 0);
    fx_apply(&f, UPDATE(3, "'narrative':'Passer-by now says he was stabbed.'"));
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 1);
    ck_assert(has_rule(json_object_get(possible_crime(&f, NULL), "indicators"), "stabbed"));
    fx_free(&f);

    /* An item closed before items named their indicators covers them all. */
    fx_init(&f);
    fx_apply(&f, "{'v':1,'event_id':'e1','type':'incident.opened','incident_id':'INC1','seq':1,'at':'" AT
                 "','category':'asb','narrative':'Youths in the park; one punched a passer-by.'}");
    json_t *old = (json_t *)possible_crime(&f, NULL);
    json_object_del(old, "indicators");
    close_by_person(old);
    fx_apply(&f, UPDATE(2, "'narrative':'Passer-by now says he was stabbed.'"));
    ck_assert_uint_eq(open_pending(&f, "possible_crime"), 0);
    fx_free(&f);
}
END_TEST

/* value_gbp decides the high-value rank; a sum read from the note is only the fallback, and warns. */
START_TEST(value_thresholds)
{
#define DAMAGE_V(extra) "{'id':'a2','victim':'v1','suspects':['s1'],'conduct':'damage.other','occurred_at':'" WHEN "'" extra "}"
#define INJURY "{'id':'a1','victim':'v1','suspects':['s1'],'conduct':'assault.injury','occurred_at':'" WHEN "'},"
    struct fx f;
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", INJURY DAMAGE_V(",'value_gbp':6500")));
    expect_decision(&f, "a2", "recorded", NULL, NULL, "58D", "HOCR-F.principal");
    expect_decision(&f, "a1", "counted_in", NULL, NULL, "8N", NULL);
    ck_assert(!has_warning(&f, "value_from_narrative", NULL));
    fx_free(&f);
    /* The field wins over a sum in the note. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", INJURY DAMAGE_V(",'value_gbp':120.5,'note':'owner first said \\u00a36,500'")));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "8N", "HOCR-F.principal");
    expect_decision(&f, "a2", "counted_in", NULL, NULL, "58D", NULL);
    ck_assert(!has_warning(&f, "value_from_narrative", NULL));
    fx_free(&f);
    /* Just at the threshold counts; just below does not. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", INJURY DAMAGE_V(",'value_gbp':4999.99")));
    expect_decision(&f, "a1", "recorded", NULL, NULL, "8N", NULL);
    fx_free(&f);
    /* No field: the note's sum decides, and the reply says so. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", INJURY DAMAGE_V(",'note':'repair quoted at \\u00a36,500'")));
    expect_decision(&f, "a2", "recorded", NULL, NULL, "58D", "HOCR-F.principal");
    ck_assert(has_warning(&f, "value_from_narrative", "allegations[1].note"));
    fx_free(&f);
    /* An offence without thresholds never warns. */
    fx_init(&f);
    fx_apply(&f, OPEN(VICTIM "," SUSPECT, "v1", "{'id':'a1','victim':'v1','conduct':'theft.other','note':'bike worth \\u00a3700'}"));
    ck_assert(!has_warning(&f, "value_from_narrative", NULL));
    fx_free(&f);
#undef DAMAGE_V
#undef INJURY
}
END_TEST

int main(void)
{    Suite *s = suite_create("rules");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, ncrs_balance);
    tcase_add_test(tc, reload_does_not_redecide_what_the_event_leaves_alone);
    tcase_add_test(tc, reload_victim_change_reaches_allegation_pending_kept);
    tcase_add_test(tc, ncrs_evidence_against);
    tcase_add_test(tc, ncrs_points_to_prove);
    tcase_add_test(tc, ncrs_deadline);
    tcase_add_test(tc, gr_third_party);
    tcase_add_test(tc, gr_victim_does_not_confirm);
    tcase_add_test(tc, gr_victim_not_traced);
    tcase_add_test(tc, gr_professional_third_party);
    tcase_add_test(tc, gr_parent_for_child);
    tcase_add_test(tc, gr_child_or_vulnerable);
    tcase_add_test(tc, gr_organisation_staff);
    tcase_add_test(tc, gr_n100);
    tcase_add_test(tc, gr_schools_protocol);
    tcase_add_test(tc, gr_same_report);
    tcase_add_test(tc, gr_same_report_linking_first);
    tcase_add_test(tc, gr_same_report_named_first);
    tcase_add_test(tc, gr_same_report_more_serious_wins);
    tcase_add_test(tc, gr_same_report_settles_pending);
    tcase_add_test(tc, gr_same_report_other_victim);
    tcase_add_test(tc, g_other_force_and_abroad);
    tcase_add_test(tc, po_police_only);
    tcase_add_test(tc, fraud_action_fraud);
    tcase_add_test(tc, d_one_per_victim);
    tcase_add_test(tc, d_per_offender);
    tcase_add_test(tc, e_separate_occasions);
    tcase_add_test(tc, e_course_of_conduct);
    tcase_add_test(tc, e_course_across_incidents);
    tcase_add_test(tc, e_course_window_edges);
    tcase_add_test(tc, c_possible_duplicate);
    tcase_add_test(tc, f_principal);
    tcase_add_test(tc, f_in_course_of);
    tcase_add_test(tc, exceptions_as_data);
    tcase_add_test(tc, b_reclassification);
    tcase_add_test(tc, feed_withdrawn);
    tcase_add_test(tc, feed_retracted);
    tcase_add_test(tc, c_feed_never_cancels);
    tcase_add_test(tc, c_merged_crimes_stay);
    tcase_add_test(tc, feed_person_decision_stands);
    tcase_add_test(tc, feed_unknown_code);
    tcase_add_test(tc, feed_unknown_qualifier);
    tcase_add_test(tc, feed_no_victim);
    tcase_add_test(tc, feed_not_opened);
    tcase_add_test(tc, feed_references_checked);
    tcase_add_test(tc, feed_old_state_completed);
    tcase_add_test(tc, feed_merge_by_id);
    tcase_add_test(tc, nsir_crime_without_allegation);
    tcase_add_test(tc, nsir_hidden_crime);
    tcase_add_test(tc, nsir_phrases_found);
    tcase_add_test(tc, nsir_closure);
    tcase_add_test(tc, screen_force_behind_theft);
    tcase_add_test(tc, screen_nothing_more_serious);
    tcase_add_test(tc, screen_strangulation_behind_assault);
    tcase_add_test(tc, screen_negation_same_clause);
    tcase_add_test(tc, screen_typographic_text);
    tcase_add_test(tc, screen_misspellings);
    tcase_add_test(tc, screen_non_ascii_case);
    tcase_add_test(tc, screen_later_disclosure);
    tcase_add_test(tc, value_thresholds);
    tcase_add_test(tc, flag_domestic_abuse);
    tcase_add_test(tc, flag_others);
    tcase_add_test(tc, crn_and_view);
    tcase_add_test(tc, linked_incidents);
    tcase_add_test(tc, person_ref);
    suite_add_tcase(s, tc);
    return check_run(s);
}
