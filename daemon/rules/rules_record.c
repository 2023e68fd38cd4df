/* rules_record.c: reconciles the derived crimes, decisions and pending items with what the state
 * already holds: CRNs are kept, a changed code is a reclassification, nothing recorded is dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/rules_authority.h"
#include "rules/rules_int.h"
#include "util/jsonwrite.h"

static const char *rules_unit_code(const struct rules_ctx *c, const struct rules_unit *u)
{
    return c->al[u->principal].off->code;
}

/* Why a member other than the principal is counted in the crime. */
static const char *rules_member_rule(const struct rules_ctx *c, const struct rules_unit *u, const struct rules_alleg *m)
{
    const struct rules_alleg *p = &c->al[u->principal];
    const struct ruleset_exception *x = ruleset_exception_for(c->rs, p->off->code, m->off->code);
    if (x)
        return x->id;
    if (m->absorb_rule)
        return m->absorb_rule;
    return u->course ? RULE_COURSE_OF_CONDUCT : RULE_PRINCIPAL;
}

static int rules_finish_units(struct rules_ctx *c)
{
    for (size_t i = 0; i < c->nunits; i++) {
        struct rules_unit *u = &c->units[i];
        if (u->dead || u->n == 0)
            continue;
        struct rules_alleg *p = &c->al[u->principal];
        u->rules = jsonwrite_copy(p->rules);
        if (u->course)
            rules_add_rule(u->rules, RULE_COURSE_OF_CONDUCT);
        else
            rules_add_rule(u->rules, p->state_based ? RULE_PER_OFFENDER : RULE_ONE_PER_VICTIM);
        for (size_t m = 0; m < u->n; m++) {
            if (u->members[m] == u->principal)
                continue;
            if (!u->course)
                rules_add_rule(u->rules, RULE_FINISHED_INCIDENT);
            rules_add_rule(u->rules, rules_member_rule(c, u, &c->al[u->members[m]]));
        }
        /* Another crime for the same victim in this incident: separate occasions. */
        for (size_t j = 0; j < c->nunits && !u->course && p->victim_id; j++) {
            const struct rules_unit *o = &c->units[j];
            if (j != i && !o->dead && o->n && !o->course && c->al[o->principal].victim_id &&
                strcmp(c->al[o->principal].victim_id, p->victim_id) == 0)
                rules_add_rule(u->rules, RULE_SEPARATE_OCCASIONS);
        }
        const struct rules_alleg **als = calloc(u->n, sizeof *als);
        if (!als)
            return -1;
        for (size_t m = 0; m < u->n; m++)
            als[m] = &c->al[u->members[m]];
        u->flags = rules_assess_flags(c, p->victim, als, u->n, p->off, u->rules);
        free(als);
    }
    return 0;
}

static bool rules_json_str_eq(const json_t *v, const char *s)
{
    if (!s)
        return !v || json_is_null(v);
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

static bool rules_crime_live(const json_t *crime)
{
    const char *st = rules_str(crime, "status");
    return st && strcmp(st, "recorded") == 0;
}

static bool rules_unit_has(const struct rules_ctx *c, const struct rules_unit *u, const char *id)
{
    for (size_t m = 0; id && m < u->n; m++)
        if (strcmp(c->al[u->members[m]].id, id) == 0)
            return true;
    return false;
}

/* A crime for this unit that the state already holds: the one standing on the same principal,
 * else (same victim) on a member, else sharing any allegation. */
static void rules_match_crimes(struct rules_ctx *c, bool *claimed, const bool *frozen)
{
    json_t *crimes = json_object_get(c->state, "crimes");
    for (size_t i = 0; i < c->nunits; i++) {
        struct rules_unit *u = &c->units[i];
        if (u->dead || u->n == 0)
            continue;
        const struct rules_alleg *p = &c->al[u->principal];
        int best = -1, tier = 9;
        size_t k;
        json_t *crime;
        json_array_foreach(crimes, k, crime) {
            if (claimed[k] || frozen[k] || !rules_crime_live(crime))
                continue;
            const char *cp = rules_str(crime, "principal");
            bool same_victim = rules_json_str_eq(json_object_get(crime, "victim"), p->victim_id);
            int t = 9;
            if (cp && strcmp(cp, p->id) == 0)
                t = 0; /* the same allegation, even if its victim was corrected */
            else if (!same_victim)
                continue;
            else if (rules_unit_has(c, u, cp))
                t = 1;
            else {
                size_t j;
                json_t *aid;
                json_array_foreach(json_object_get(crime, "allegations"), j, aid) {
                    if (rules_unit_has(c, u, json_string_value(aid)))
                        t = 2;
                }
            }
            if (t < tier) {
                tier = t;
                best = (int)k;
            }
        }
        if (best >= 0) {
            u->crime = best;
            claimed[best] = true;
        }
    }
}

static json_t *rules_unit_allegations(const struct rules_ctx *c, const struct rules_unit *u)
{
    json_t *ids = json_array();
    for (size_t m = 0; m < u->n; m++)
        json_array_append_new(ids, json_string(c->al[u->members[m]].id));
    return ids;
}

static json_t *rules_crime_summary(const json_t *crime)
{
    json_t *victim = json_object_get(crime, "victim");
    json_t *summary = json_pack("{s:O, s:O, s:O, s:O}", "offence", json_object_get(crime, "offence"), "victim",
                                victim ? victim : json_null(), "flags", json_object_get(crime, "flags"), "rules",
                                json_object_get(crime, "rules"));
    /* A snapshot: the crime's own values change after this. */
    json_t *copy = jsonwrite_copy(summary);
    json_decref(summary);
    return copy;
}

static bool rules_same_report(const struct rules_ctx *c, const char *other_id, const json_t *other);

/* The most serious offence a same_report-linked report counted in this crime alleges, when it
 * ranks above `code`: the crime stays at it (a report's own later events do not take down what a
 * linked report's disclosure raised it to). NULL when none does. */
static const char *rules_linked_code(const struct rules_ctx *c, const char *crn, const char *code)
{
    const struct ruleset_offence *best = ruleset_offence(c->rs, code);
    const char *out = NULL, *id, *aid;
    json_t *other, *d;
    if (!c->linked || !crn || !best)
        return NULL;
    json_object_foreach((json_t *)c->linked, id, other) {
        if (!json_is_object(other) || !rules_same_report(c, id, other))
            continue;
        json_object_foreach(json_object_get(other, "decisions"), aid, d) {
            const struct ruleset_offence *o = ruleset_offence(c->rs, rules_str(d, "offence"));
            if (o && rules_json_str_eq(json_object_get(d, "outcome"), "counted_in") &&
                rules_json_str_eq(json_object_get(d, "crn"), crn) && o->rank_days > best->rank_days) {
                best = o;
                out = o->code;
            }
        }
    }
    return out;
}

static void rules_update_crime(struct rules_ctx *c, struct rules_unit *u)
{
    json_t *crime = json_array_get(json_object_get(c->state, "crimes"), (size_t)u->crime);
    const char *crn = rules_str(crime, "crn");
    const char *code = rules_unit_code(c, u);
    const char *raised = rules_linked_code(c, crn, code);
    if (raised)
        code = raised;
    const char *victim = c->al[u->principal].victim_id;
    bool recode = !rules_json_str_eq(json_object_get(crime, "offence"), code);
    /* The feed never downgrades: a person the authority table names decides (HOCR-B.downgrade_review). */
    if (recode && rules_authority_is_down(c->rs, ruleset_offence(c->rs, rules_str(crime, "offence")),
                                          c->al[u->principal].off)) {
        u->review_code = code;
        recode = false;
        code = rules_str(crime, "offence");
    }
    bool reflag = !json_equal(json_object_get(crime, "flags"), u->flags);
    bool revictim = !rules_json_str_eq(json_object_get(crime, "victim"), victim);

    json_object_set_new(crime, "allegations", rules_unit_allegations(c, u));
    json_object_set_new(crime, "principal", json_string(c->al[u->principal].id));
    if (!recode && !reflag && !revictim)
        return;
    json_t *before = rules_crime_summary(crime);
    json_object_set_new(crime, "victim", victim ? json_string(victim) : json_null());
    json_t *rules = jsonwrite_copy(u->rules);
    if (recode)
        rules_add_rule(rules, RULE_RECLASSIFICATION);
    json_object_set_new(crime, "offence", json_string(code));
    json_object_set(crime, "flags", u->flags);
    json_object_set_new(crime, "rules", rules);
    json_object_set_new(crime, "ruleset", json_string(ruleset_version(c->rs)));
    json_object_set_new(crime, "ruleset_sha256", json_string(ruleset_sha256(c->rs)));
    json_object_set_new(c->crime_actions, crn, json_string(recode ? "reclassified" : "unchanged"));
    rules_audit(c, recode ? "crime.reclassified" : "crime.updated", crn, NULL, c->al[u->principal].id, before,
                rules_crime_summary(crime), jsonwrite_copy(rules));
}

static bool rules_same_person(const json_t *x, const json_t *y)
{
    const char *rx = rules_str(x, "ref"), *ry = rules_str(y, "ref");
    if (rx && ry)
        return strcmp(rx, ry) == 0;
    const char *nx = rules_str(x, "name"), *ny = rules_str(y, "name");
    return nx && ny && strcasecmp(nx, ny) == 0;
}

/* Whether a linked incident is another call about the same matter: a same_report link either way,
 * this incident's to it or its to this one. A link is honoured whichever report arrived first. */
static bool rules_same_report(const struct rules_ctx *c, const char *other_id, const json_t *other)
{
    const char *me = rules_str(c->state, "incident_id");
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(c->state, "links"), i, l) {
        if (rules_json_str_eq(json_object_get(l, "relation"), "same_report") &&
            rules_json_str_eq(json_object_get(l, "incident_id"), other_id))
            return true;
    }
    json_array_foreach(json_object_get(other, "links"), i, l) {
        if (me && rules_json_str_eq(json_object_get(l, "relation"), "same_report") &&
            rules_json_str_eq(json_object_get(l, "incident_id"), me))
            return true;
    }
    return false;
}

/* Whether the person `person_id` of another incident's state is this victim (by ref where both
 * have one, else by name). */
static bool rules_other_victim(const json_t *other, const char *person_id, const json_t *victim)
{
    size_t j;
    json_t *person;
    if (!person_id || !victim)
        return false;
    json_array_foreach(json_object_get(other, "persons"), j, person) {
        if (rules_json_str_eq(json_object_get(person, "id"), person_id))
            return rules_same_person(person, victim);
    }
    return false;
}

/* A linked incident's state to change: a copy made once per event, handed on in the outcome (the
 * linked states themselves are the caller's, read only). NULL when memory ran out. */
static json_t *rules_linked_edit(struct rules_ctx *c, const char *id, const json_t *other)
{
    json_t *copy = json_object_get(c->linked_out, id);
    if (copy)
        return copy;
    copy = jsonwrite_copy(other);
    if (copy && json_object_set_new(c->linked_out, id, copy) != 0)
        return NULL;
    return copy;
}

/* The linked report's crime ranks below what this report alleges: under the principal-crime rule
 * the more serious offence wins, and a reclassification up is made at once. */
static void rules_linked_upgrade(struct rules_ctx *c, struct rules_unit *u, const char *id, const json_t *other,
                                 const char *crn)
{
    const struct rules_alleg *p = &c->al[u->principal];
    json_t *copy = rules_linked_edit(c, id, other), *crime;
    size_t k;
    json_array_foreach(json_object_get(copy, "crimes"), k, crime) {
        if (!rules_json_str_eq(json_object_get(crime, "crn"), crn))
            continue;
        json_t *before = rules_crime_summary(crime);
        json_object_set_new(crime, "offence", json_string(p->off->code));
        json_t *rules = json_object_get(crime, "rules");
        if (!json_is_array(rules)) {
            rules = json_array();
            json_object_set_new(crime, "rules", rules);
        }
        rules_add_rule(rules, RULE_RECLASSIFICATION);
        rules_add_rule(rules, RULE_PRINCIPAL);
        rules_add_rule(rules, RULE_SAME_REPORT);
        json_object_set_new(c->crime_actions, crn, json_string("reclassified"));
        rules_audit(c, "crime.reclassified", crn, NULL, p->id, before, rules_crime_summary(crime),
                    json_pack("[s, s, s]", RULE_RECLASSIFICATION, RULE_PRINCIPAL, RULE_SAME_REPORT));
        return;
    }
}

/* Another call about the same matter (a same_report link, either way) whose incident already
 * recorded the crime for this victim: this report is counted in it, never a second crime; when
 * this report alleges the more serious offence, that crime is reclassified up to it. Another
 * victim's crime is never folded. */
static void rules_match_linked(struct rules_ctx *c, struct rules_unit *u)
{
    const struct rules_alleg *p = &c->al[u->principal];
    size_t k;
    const char *id;
    json_t *other, *crime;
    if (!c->linked || !p->victim)
        return;
    json_object_foreach((json_t *)c->linked, id, other) {
        if (!json_is_object(other) || !rules_same_report(c, id, other))
            continue;
        json_array_foreach(json_object_get(other, "crimes"), k, crime) {
            const char *vid = rules_str(crime, "victim");
            const struct ruleset_offence *o = ruleset_offence(c->rs, rules_str(crime, "offence"));
            if (!rules_crime_live(crime) || !vid || !o)
                continue;
            if (strcmp(o->code, p->off->code) != 0 && strcmp(o->category, p->off->category) != 0)
                continue;
            if (!rules_other_victim(other, vid, p->victim))
                continue;
            u->linked_crn = rules_str(crime, "crn");
            if (strcmp(o->code, p->off->code) != 0 && rules_assess_rank(p) > o->rank_days)
                rules_linked_upgrade(c, u, id, other, u->linked_crn);
            return;
        }
    }
}

/* This report recorded the crime for a victim: the pending items of a same_report-linked report
 * about the same victim waited for this very crime, and are closed, saying so. */
static void rules_settle_linked(struct rules_ctx *c, struct rules_unit *u, const char *crn)
{
    const struct rules_alleg *p = &c->al[u->principal];
    const char *id;
    json_t *other;
    if (!c->linked || !p->victim)
        return;
    json_object_foreach((json_t *)c->linked, id, other) {
        if (!json_is_object(other) || !rules_same_report(c, id, other))
            continue;
        size_t k;
        json_t *pd;
        json_array_foreach(json_object_get(other, "pending"), k, pd) {
            if (!rules_json_str_eq(json_object_get(pd, "status"), "open"))
                continue;
            const char *vid = rules_str(pd, "victim");
            if (!vid) {
                json_t *al;
                size_t j;
                json_array_foreach(json_object_get(other, "allegations"), j, al) {
                    if (rules_json_str_eq(json_object_get(al, "id"), rules_str(pd, "allegation")))
                        vid = rules_str(al, "victim");
                }
            }
            if (!rules_other_victim(other, vid, p->victim))
                continue;
            json_t *copy = rules_linked_edit(c, id, other);
            json_t *mine = json_array_get(json_object_get(copy, "pending"), k);
            if (!mine)
                return;
            json_t *before = jsonwrite_copy(mine);
            json_object_set_new(mine, "status", json_string("closed"));
            json_object_set_new(mine, "closed_at", json_string(c->at));
            /* how: "same_report", not "rules": the question was answered by the other report, and
             * like a person's answer it is not asked again by the rules of this one (which cannot
             * see, from its own facts, that the crime is recorded) */
            json_object_set_new(mine, "resolution",
                                json_pack("{s:s, s:s, s:s?, s:s, s:s}", "how", "same_report", "incident_id",
                                          rules_str(c->state, "incident_id"), "event_id", c->ev->event_id, "outcome",
                                          "counted_in", "crn", crn));
            json_t *rules = json_object_get(mine, "rules");
            if (!json_is_array(rules)) {
                rules = json_array();
                json_object_set_new(mine, "rules", rules);
            }
            rules_add_rule(rules, RULE_SAME_REPORT_SETTLED);
            rules_audit(c, "pending.closed", NULL, rules_str(mine, "id"), rules_str(mine, "allegation"), before,
                        jsonwrite_copy(mine), json_pack("[s]", RULE_SAME_REPORT_SETTLED));
        }
    }
}

static int rules_new_crime(struct rules_ctx *c, struct rules_unit *u)
{
    const struct rules_alleg *p = &c->al[u->principal];
    char crn[96];
    int64_t serial = c->env->next_serial(c->env->serial_arg);
    snprintf(crn, sizeof crn, "%s/%d/%06lld", c->env->force, timefmt_year(c->at_ms), (long long)serial);
    json_t *crime = json_object();
    if (!crime)
        return -1;
    json_object_set_new(crime, "crn", json_string(crn));
    json_object_set_new(crime, "offence", json_string(p->off->code));
    json_object_set_new(crime, "victim", p->victim_id ? json_string(p->victim_id) : json_null());
    json_object_set_new(crime, "status", json_string("recorded"));
    json_object_set(crime, "flags", u->flags);
    json_object_set_new(crime, "recorded_at", json_string(c->at));
    json_object_set(crime, "rules", u->rules);
    json_object_set_new(crime, "ruleset", json_string(ruleset_version(c->rs)));
    json_object_set_new(crime, "ruleset_sha256", json_string(ruleset_sha256(c->rs)));
    json_object_set_new(crime, "allegations", rules_unit_allegations(c, u));
    json_object_set_new(crime, "principal", json_string(p->id));
    if (json_object_size(crime) != 11) { /* a member was missing or out of memory, as json_pack fails */
        json_decref(crime);
        return -1;
    }
    json_t *crimes = json_object_get(c->state, "crimes");
    json_array_append_new(crimes, crime);
    u->crime = (int)json_array_size(crimes) - 1;
    json_object_set_new(c->crime_actions, crn, json_string("recorded"));
    rules_audit(c, "crime.recorded", crn, NULL, p->id, NULL, jsonwrite_copy(crime), jsonwrite_copy(u->rules));
    return 0;
}

/* ---- decisions ---- */

static json_t *rules_decision(const char *allegation, const char *outcome)
{
    return json_pack("{s:s, s:s}", "allegation", allegation, "outcome", outcome);
}

static void rules_decision_set(json_t *d, const char *key, const char *value)
{
    if (value)
        json_object_set_new(d, key, json_string(value));
}

static json_t *rules_derive_decision(struct rules_ctx *c, struct rules_alleg *a)
{
    json_t *crimes = json_object_get(c->state, "crimes"), *d;
    if (a->frozen_crime >= 0) {
        json_t *crime = json_array_get(crimes, (size_t)a->frozen_crime);
        if (!rules_crime_live(crime))
            return NULL; /* what a person decided about a cancelled or transferred crime stands */
        bool principal = rules_json_str_eq(json_object_get(crime, "principal"), a->id);
        d = rules_decision(a->id, principal ? "recorded" : "counted_in");
        rules_decision_set(d, "offence", principal ? rules_str(crime, "offence") : a->code);
        rules_decision_set(d, "crn", rules_str(crime, "crn"));
        json_t *rules = json_array();
        if (principal && a->verdict != RULES_RECORDABLE)
            rules_add_rule(rules, RULE_FEED_NEVER_CANCELS);
        json_array_extend(rules, a->rules);
        if (!principal)
            rules_add_rule(rules, RULE_PRINCIPAL);
        json_object_set_new(d, "rules", rules);
        return d;
    }
    if (a->unit >= 0) {
        struct rules_unit *u = &c->units[a->unit];
        const char *crn = u->linked_crn ? u->linked_crn : rules_str(json_array_get(crimes, (size_t)u->crime), "crn");
        if (u->linked_crn) {
            d = rules_decision(a->id, "counted_in");
            rules_decision_set(d, "offence", a->code);
            rules_decision_set(d, "crn", crn);
            json_t *rules = jsonwrite_copy(a->rules);
            if (u->across) {
                rules_add_rule(rules, RULE_COURSE_OF_CONDUCT);
                rules_add_rule(rules, ruleset_persons(c->rs)->course_rule);
            } else {
                rules_add_rule(rules, RULE_SAME_REPORT);
            }
            json_object_set_new(d, "rules", rules);
        } else if (u->principal == (int)a->idx) {
            d = rules_decision(a->id, "recorded");
            rules_decision_set(d, "offence", u->review_code ? rules_str(json_array_get(crimes, (size_t)u->crime), "offence")
                                                            : rules_unit_code(c, u));
            rules_decision_set(d, "crn", crn);
            /* What decided it now (a withdrawal shows), and whether the crime was ever reclassified. */
            json_t *rules = jsonwrite_copy(u->rules);
            json_t *crule;
            size_t ri;
            json_array_foreach(json_object_get(json_array_get(crimes, (size_t)u->crime), "rules"), ri, crule) {
                if (strcmp(json_string_value(crule), RULE_RECLASSIFICATION) == 0)
                    rules_add_rule(rules, RULE_RECLASSIFICATION);
            }
            json_object_set_new(d, "rules", rules);
        } else {
            d = rules_decision(a->id, "counted_in");
            rules_decision_set(d, "offence", a->code);
            rules_decision_set(d, "crn", crn);
            json_t *rules = json_array();
            rules_add_rule(rules, a->class_rule);
            rules_add_rule(rules, rules_member_rule(c, u, a));
            json_object_set_new(d, "rules", rules);
        }
        if (u->incidents) /* the other incidents whose occasions the course counted */
            json_object_set(d, "incidents", u->incidents);
        return d;
    }
    if (a->verdict == RULES_RECORDABLE) {
        /* Counted in a crime that could not be placed (should not happen): leave it to a person. */
        a->verdict = RULES_OUTCOME;
        a->outcome = "pending";
        a->reason = a->pending_reason = "insufficient_detail";
    }
    d = rules_decision(a->id, a->outcome);
    rules_decision_set(d, "offence", a->code);
    rules_decision_set(d, "reason", a->reason);
    rules_decision_set(d, "code", a->hold_code);
    json_object_set(d, "rules", a->rules);
    return d;
}

static void rules_decide(struct rules_ctx *c)
{
    json_t *decisions = json_object_get(c->state, "decisions");
    for (size_t i = 0; i < c->nal; i++) {
        struct rules_alleg *a = &c->al[i];
        if (a->verdict == RULES_SETTLED)
            continue;
        json_t *d = rules_derive_decision(c, a);
        if (!d)
            continue;
        json_object_set_new(d, "ruleset", json_string(ruleset_version(c->rs)));
        json_object_set_new(d, "ruleset_sha256", json_string(ruleset_sha256(c->rs)));
        json_t *old = json_object_get(decisions, a->id);
        if (old && json_equal(old, d)) {
            json_decref(d);
            continue;
        }
        rules_audit(c, "decision", rules_str(d, "crn"), NULL, a->id, old ? jsonwrite_copy(old) : NULL,
                    jsonwrite_copy(d), jsonwrite_copy(json_object_get(d, "rules")));
        json_object_set(decisions, a->id, d);
        a->decision = d;
    }
}

/* ---- pending decisions ---- */

struct rules_want {
    const char *reason;
    const char *allegation;
    const char *victim;
    const char *candidate;
    const char *role; /* who the item is for, when the authority table says (else NULL) */
    const char *crn;  /* the crime it is about (else NULL) */
    const char *dup_incident, *dup_crn; /* possible_duplicate: the other incident and its crime */
    json_t *flags; /* owned */
    json_t *rules; /* owned */
    json_t *indicators; /* possible_crime: the phrases it is about, owned; else NULL */
};

static void rules_want(struct rules_want *w, size_t *n, const char *reason, const struct rules_alleg *a,
                       const char *candidate, json_t *flags, json_t *rules)
{
    struct rules_want *x = &w[(*n)++];
    x->reason = reason;
    x->allegation = a ? a->id : NULL;
    x->victim = a ? a->victim_id : NULL;
    x->candidate = candidate;
    x->role = NULL;
    x->crn = NULL;
    x->dup_incident = x->dup_crn = NULL;
    x->flags = flags ? flags : json_array();
    x->rules = rules;
    x->indicators = NULL;
}

static bool rules_has_crime_ref(const struct rules_ctx *c)
{
    size_t i;
    json_t *crime, *d;
    const char *id;
    json_array_foreach(json_object_get(c->state, "crimes"), i, crime) {
        if (rules_crime_live(crime))
            return true;
    }
    json_object_foreach(json_object_get(c->state, "decisions"), id, d) {
        if (rules_json_str_eq(json_object_get(d, "outcome"), "counted_in") && rules_str(d, "crn"))
            return true;
    }
    return false;
}

/* A non-crime incident whose narrative or allegations suggest crime that no decision yet covers. */
static bool rules_hidden_crime(const struct rules_ctx *c)
{
    const struct ruleset_simple *ind = ruleset_indicators(c->rs);
    if (!ind->rule || !rules_in_list(ind->items2, rules_str(c->state, "category")))
        return false;
    if (json_array_size(json_object_get(c->state, "indicators")) == 0 && c->nal == 0)
        return false;
    static const char *const covering[] = {"recorded", "counted_in", "pending", "held", "referred", "transfer", NULL};
    const char *id;
    json_t *d;
    json_object_foreach(json_object_get(c->state, "decisions"), id, d) {
        if (rules_in_list(covering, rules_str(d, "outcome")))
            return false;
    }
    return true;
}

/* Whether this incident links to the other one, by its own links or as one of its linked incidents. */
static bool rules_links_to(const struct rules_ctx *c, const char *other)
{
    size_t i;
    json_t *l;
    if (json_object_get(c->linked, other))
        return true;
    json_array_foreach(json_object_get(c->state, "links"), i, l) {
        if (rules_json_str_eq(json_object_get(l, "incident_id"), other))
            return true;
    }
    return false;
}

/* Sorted, distinct refs of an allegation's suspects as one string ("a\x1fb"); "" when it names
 * none; false when one has no ref. */
static bool rules_suspect_key(const struct rules_ctx *c, const struct rules_alleg *a, char *out, size_t len)
{
    json_t *refs = json_array();
    size_t i;
    json_t *s;
    bool ok = refs != NULL;
    json_array_foreach(a->suspects, i, s) {
        const char *r = rules_str(rules_person(c, json_string_value(s)), "ref");
        if (!r) {
            ok = false;
            break;
        }
        size_t k = 0;
        while (k < json_array_size(refs) && strcmp(json_string_value(json_array_get(refs, k)), r) < 0)
            k++;
        if (k == json_array_size(refs) || strcmp(json_string_value(json_array_get(refs, k)), r) != 0)
            json_array_insert_new(refs, k, json_string(r));
    }
    out[0] = '\0';
    json_array_foreach(refs, i, s) {
        size_t at = strlen(out);
        snprintf(out + at, len - at, "%s%s", i ? "\x1f" : "", json_string_value(s));
    }
    json_decref(refs);
    return ok;
}

static bool rules_row_suspect_key(const json_t *row, char *out, size_t len)
{
    size_t i;
    json_t *s;
    out[0] = '\0';
    json_array_foreach(json_object_get(row, "suspect_refs"), i, s) {
        size_t at = strlen(out);
        if (!json_is_string(s))
            return false;
        snprintf(out + at, len - at, "%s%s", i ? "\x1f" : "", json_string_value(s));
    }
    return true;
}

/* Possible duplicates: a crime of this incident and a crime of another incident not linked to it,
 * for the same victim ref, the same suspect refs (or none on both), the same offence group, at
 * times no further apart than the rule set's window, may be one matter reported twice. A decision
 * maker decides (cancelling one as C3); the feed never cancels. */
static void rules_want_duplicates(struct rules_ctx *c, struct rules_want *w, size_t *n)
{
    const struct ruleset_persons *pp = ruleset_persons(c->rs);
    json_t *crimes = json_object_get(c->state, "crimes");
    const char *own = rules_str(c->state, "incident_id");
    if (!pp->duplicate_rule || !c->persons)
        return;
    for (size_t i = 0; i < c->nunits; i++) {
        const struct rules_unit *u = &c->units[i];
        if (u->dead || u->n == 0 || u->crime < 0)
            continue;
        json_t *crime = json_array_get(crimes, (size_t)u->crime);
        const struct rules_alleg *p = &c->al[u->principal];
        const char *vref = rules_str(p->victim, "ref");
        const struct ruleset_offence *off = ruleset_offence(c->rs, rules_str(crime, "offence"));
        char skey[1024], rkey[1024];
        if (!rules_crime_live(crime) || !vref || !off || !p->has_when || !rules_suspect_key(c, p, skey, sizeof skey))
            continue;
        size_t k;
        json_t *row;
        const char *best = NULL, *best_inc = NULL;
        json_array_foreach(c->persons, k, row) {
            const char *inc = rules_str(row, "incident_id"), *crn = rules_str(row, "crn");
            const struct ruleset_offence *ro = ruleset_offence(c->rs, rules_str(row, "offence"));
            int64_t when, d;
            if (!inc || !crn || (own && strcmp(inc, own) == 0) || !rules_json_str_eq(json_object_get(row, "victim_ref"), vref) ||
                !ro || strcmp(ro->group, off->group) != 0 || !timefmt_parse(rules_str(row, "occurred_at"), &when) ||
                !rules_row_suspect_key(row, rkey, sizeof rkey) || strcmp(rkey, skey) != 0 || rules_links_to(c, inc))
                continue;
            d = when - p->when_ms;
            if ((d < 0 ? -d : d) > pp->duplicate_window_ms)
                continue;
            if (!best || strcmp(crn, best) < 0) {
                best = crn;
                best_inc = inc;
            }
        }
        if (!best)
            continue;
        rules_want(w, n, "possible_duplicate", p, rules_str(crime, "offence"),
                   jsonwrite_copy(json_object_get(crime, "flags")), json_pack("[s]", pp->duplicate_rule));
        w[*n - 1].crn = rules_str(crime, "crn");
        w[*n - 1].dup_incident = best_inc;
        w[*n - 1].dup_crn = best;
        w[*n - 1].role = rules_authority_role(c->rs, RULESET_ACT_CANCEL_C3, off);
    }
}

static size_t rules_collect_wants(struct rules_ctx *c, struct rules_want *w, const json_t *screen)
{
    size_t n = 0;
    json_t *crimes = json_object_get(c->state, "crimes");
    for (size_t i = 0; i < c->nal; i++) {
        struct rules_alleg *a = &c->al[i];
        if (a->verdict == RULES_SETTLED)
            continue;
        json_t *crime = a->frozen_crime >= 0 ? json_array_get(crimes, (size_t)a->frozen_crime) : NULL;
        if (crime && rules_crime_live(crime) && rules_json_str_eq(json_object_get(crime, "principal"), a->id) &&
            a->verdict != RULES_RECORDABLE) {
            const char *reason = a->review_reason ? a->review_reason
                                 : a->pending_reason ? a->pending_reason
                                 : a->reason       ? a->reason
                                                   : "insufficient_detail";
            json_t *rules = json_pack("[s]", RULE_FEED_NEVER_CANCELS);
            json_array_extend(rules, a->rules);
            rules_want(w, &n, reason, a, rules_str(crime, "offence"), jsonwrite_copy(json_object_get(crime, "flags")),
                       rules);
        } else if (!crime && a->verdict == RULES_OUTCOME && a->pending_reason) {
            const struct rules_alleg *one[1] = {a};
            json_t *flags = a->off ? rules_assess_flags(c, a->victim, one, 1, a->off, NULL) : NULL;
            rules_want(w, &n, a->pending_reason, a, a->code, flags, jsonwrite_copy(a->rules));
        }
    }
    /* A downgrade the feed's facts point to: the crime stands until that role decides. */
    for (size_t i = 0; i < c->nunits; i++) {
        const struct rules_unit *u = &c->units[i];
        if (u->dead || u->n == 0 || !u->review_code || u->crime < 0)
            continue;
        json_t *crime = json_array_get(crimes, (size_t)u->crime);
        const struct rules_alleg *p = &c->al[u->principal];
        rules_want(w, &n, "reclassification_review", p, u->review_code, jsonwrite_copy(json_object_get(crime, "flags")),
                   json_pack("[s, s]", RULE_DOWNGRADE_REVIEW, RULE_FEED_NEVER_CANCELS));
        w[n - 1].crn = rules_str(crime, "crn");
        w[n - 1].role = rules_authority_role(c->rs, RULESET_ACT_RECLASSIFY_DOWN,
                                             ruleset_offence(c->rs, rules_str(crime, "offence")));
    }
    rules_want_duplicates(c, w, &n);
    size_t oi;
    json_t *ok;
    json_array_foreach(c->orphans, oi, ok) {
        json_t *crime = json_array_get(crimes, (size_t)json_integer_value(ok));
        const char *principal = rules_str(crime, "principal");
        for (size_t i = 0; principal && i < c->nal; i++)
            if (strcmp(c->al[i].id, principal) == 0 && c->al[i].verdict != RULES_SETTLED)
                rules_want(w, &n, "insufficient_detail", &c->al[i], rules_str(crime, "offence"),
                           jsonwrite_copy(json_object_get(crime, "flags")),
                           json_pack("[s, s]", RULE_FEED_NEVER_CANCELS, RULE_PRINCIPAL));
    }
    const char *cat = rules_str(c->state, "category");
    if (cat && strcmp(cat, "crime") == 0 && c->nal == 0)
        rules_want(w, &n, "insufficient_detail", NULL, NULL, NULL, json_pack("[s]", RULE_CRIME_WITHOUT_ALLEGATION));
    if (rules_hidden_crime(c)) {
        rules_want(w, &n, "possible_crime", NULL, NULL, NULL, json_pack("[s]", ruleset_indicators(c->rs)->rule));
        w[n - 1].indicators = jsonwrite_copy(json_object_get(c->state, "indicators"));
    } else {
        /* Hidden crime behind what was keyed: the narrative points to an offence above every
         * allegation keyed for a victim (force behind a theft). */
        size_t si;
        json_t *x;
        json_array_foreach(screen, si, x) {
            rules_want(w, &n, "possible_crime", NULL, rules_str(x, "offence"), NULL,
                       jsonwrite_copy(json_object_get(x, "rules")));
            w[n - 1].victim = rules_str(x, "victim");
            w[n - 1].indicators = jsonwrite_copy(json_object_get(x, "indicators"));
        }
    }
    json_t *closing = json_object_get(c->state, "closing");
    const char *ccat = rules_str(closing, "category");
    bool closing_now = c->ev->type == FEED_EVENT_CLOSED;
    if (ccat && strcmp(ccat, "crime") == 0 && !rules_has_crime_ref(c)) {
        rules_want(w, &n, "closed_without_crime", NULL, NULL, NULL, json_pack("[s]", RULE_CLOSED_CRIME_WITHOUT_CRIME));
        if (closing_now)
            rules_warn(c, "closed_without_crime", "closing_category",
                       "closed in the crime category but no crime is recorded for this incident");
    } else if (ccat && strcmp(ccat, "crime_related") == 0 && !rules_str(closing, "reason")) {
        rules_want(w, &n, "closed_without_crime", NULL, NULL, NULL, json_pack("[s]", RULE_CLOSED_CRI_WITHOUT_REASON));
        if (closing_now)
            rules_warn(c, "closing_reason_missing", "closing_reason",
                       "closed as crime-related without a closing_reason: a person must record why there is no crime");
    }
    return n;
}

static bool rules_pending_key(const json_t *p, const char *reason, const char *allegation)
{
    return rules_json_str_eq(json_object_get(p, "reason"), reason) &&
           rules_json_str_eq(json_object_get(p, "allegation"), allegation);
}

/* possible_crime items are told apart by the victim and candidate offence too: a narrative can
 * point to more than one hidden crime. */
static bool rules_pending_same(const json_t *p, const struct rules_want *w)
{
    if (!rules_pending_key(p, w->reason, w->allegation))
        return false;
    if (strcmp(w->reason, "possible_crime") != 0)
        return true;
    const char *v = rules_str(p, "victim"), *cand = rules_str(p, "candidate_offence");
    return (!v == !w->victim && (!v || strcmp(v, w->victim) == 0)) &&
           (!cand == !w->candidate && (!cand || strcmp(cand, w->candidate) == 0));
}

/* Whether an item a person closed already decided what the wanted one is about: the same
 * question, and (possible_crime) every indicator it would be opened on was before that person
 * then. An item closed before items named their indicators covers them all. */
static bool rules_decided(const json_t *p, const struct rules_want *w)
{
    if (!rules_pending_same(p, w))
        return false;
    const json_t *had = json_object_get(p, "indicators");
    if (!w->indicators || !json_is_array(had))
        return true;
    size_t i, j;
    json_t *x, *y;
    json_array_foreach(w->indicators, i, x) {
        bool in = false;
        json_array_foreach(had, j, y) {
            in = in || json_equal(x, y);
        }
        if (!in)
            return false;
    }
    return true;
}

static const char *rules_resolution(const struct rules_ctx *c, const char *allegation)
{
    json_t *d = allegation ? json_object_get(json_object_get(c->state, "decisions"), allegation) : NULL;
    const char *o = rules_str(d, "outcome");
    return o ? o : "resolved";
}

static void rules_pending_fields(json_t *p, const struct rules_want *w)
{
    if (w->victim)
        json_object_set_new(p, "victim", json_string(w->victim));
    if (w->candidate)
        json_object_set_new(p, "candidate_offence", json_string(w->candidate));
    if (w->role)
        json_object_set_new(p, "role", json_string(w->role));
    if (w->crn)
        json_object_set_new(p, "crn", json_string(w->crn));
    if (w->dup_crn)
        json_object_set_new(p, "duplicate_of",
                            json_pack("{s:s, s:s}", "incident_id", w->dup_incident, "crn", w->dup_crn));
    json_object_set(p, "flags", w->flags);
    json_object_set(p, "rules", w->rules);
    if (w->indicators)
        json_object_set_new(p, "indicators", jsonwrite_copy(w->indicators));
}

static bool rules_kept(const struct rules_ctx *c, const char *allegation)
{
    for (size_t i = 0; allegation && i < c->nal; i++)
        if (c->al[i].kept && strcmp(c->al[i].id, allegation) == 0)
            return true;
    return false;
}

static void rules_reconcile_pending(struct rules_ctx *c, struct rules_want *w, size_t nw)
{
    json_t *pending = json_object_get(c->state, "pending");
    size_t i;
    json_t *p;
    bool *kept = calloc(nw + 1, sizeof *kept);
    if (!kept)
        return;
    json_array_foreach(pending, i, p) {
        if (!rules_json_str_eq(json_object_get(p, "status"), "open"))
            continue;
        const char *allegation = rules_str(p, "allegation");
        if (rules_kept(c, allegation))
            continue; /* decided under another rule set, untouched: its questions stay as they are */
        size_t k;
        for (k = 0; k < nw; k++)
            if (!kept[k] && rules_pending_same(p, &w[k]))
                break;
        if (k < nw) {
            kept[k] = true;
            json_t *before = jsonwrite_copy(p);
            rules_pending_fields(p, &w[k]);
            if (!json_equal(before, p))
                rules_audit(c, "pending.updated", NULL, rules_str(p, "id"), allegation, before, jsonwrite_copy(p),
                            jsonwrite_copy(w[k].rules));
            else
                json_decref(before);
            continue;
        }
        /* No longer needed: a later event resolved it. */
        json_t *before = jsonwrite_copy(p);
        json_object_set_new(p, "status", json_string("closed"));
        json_object_set_new(p, "closed_at", json_string(c->at));
        json_object_set_new(p, "resolution", json_pack("{s:s, s:s?, s:s}", "how", "rules", "event_id", c->ev->event_id,
                                                       "outcome", rules_resolution(c, allegation)));
        rules_audit(c, "pending.closed", NULL, rules_str(p, "id"), allegation, before, jsonwrite_copy(p),
                    jsonwrite_copy(json_object_get(p, "rules")));
    }
    for (size_t k = 0; k < nw; k++) {
        if (kept[k])
            continue;
        /* What a person closed stays closed: the rules do not reopen the same question. A later
         * disclosure (an indicator that person did not have) is a new question. */
        bool by_person = false;
        json_array_foreach(pending, i, p) {
            const char *how = rules_str(json_object_get(p, "resolution"), "how");
            if (how && strcmp(how, "rules") != 0 && rules_decided(p, &w[k]))
                by_person = true;
        }
        if (by_person)
            continue;
        char id[48], due[TIMEFMT_LEN];
        snprintf(id, sizeof id, "PD-%lld", (long long)c->env->next_serial(c->env->serial_arg));
        timefmt_format(c->opened_ms + ruleset_deadline_ms(c->rs), due);
        json_t *np = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "status", "open", "reason", w[k].reason,
                               "opened_at", c->at, "due", due);
        if (w[k].allegation)
            json_object_set_new(np, "allegation", json_string(w[k].allegation));
        rules_pending_fields(np, &w[k]);
        rules_add_rule(json_object_get(np, "rules"), RULE_DEADLINE);
        json_object_set_new(np, "ruleset", json_string(ruleset_version(c->rs)));
        json_object_set_new(np, "ruleset_sha256", json_string(ruleset_sha256(c->rs)));
        json_array_append_new(pending, np);
        rules_audit(c, "pending.opened", NULL, id, w[k].allegation, NULL, jsonwrite_copy(np),
                    jsonwrite_copy(json_object_get(np, "rules")));
        if (strcmp(w[k].reason, "possible_crime") == 0 && w[k].candidate) {
            const struct ruleset_offence *o = ruleset_offence(c->rs, w[k].candidate);
            rules_warn(c, "possible_crime", "narrative",
                       "the narrative points to %s (%s) for %s, above every allegation keyed for that victim: "
                       "pending %s asks a person to decide",
                       w[k].candidate, o ? o->name : "?", w[k].victim ? w[k].victim : "no victim", id);
        }
    }
    free(kept);
}

int rules_record(struct rules_ctx *c)
{
    json_t *crimes = json_object_get(c->state, "crimes");
    size_t ncrimes = json_array_size(crimes);
    bool *claimed = calloc(ncrimes + 1, sizeof *claimed), *frozen = calloc(ncrimes + 1, sizeof *frozen);
    if (!claimed || !frozen || rules_finish_units(c) < 0) {
        free(claimed);
        free(frozen);
        return -1;
    }
    for (size_t i = 0; i < c->nal; i++)
        if (c->al[i].frozen_crime >= 0)
            frozen[c->al[i].frozen_crime] = true;
    rules_match_crimes(c, claimed, frozen);
    /* A live crime nothing claims (its allegations now count in another crime): it stays, and a
     * person decides whether it is a duplicate to cancel. */
    for (size_t k = 0; k < ncrimes; k++)
        if (!claimed[k] && !frozen[k] && rules_crime_live(json_array_get(crimes, k)))
            json_array_append_new(c->orphans, json_integer((json_int_t)k));
    free(claimed);
    free(frozen);
    for (size_t i = 0; i < c->nunits; i++) {
        struct rules_unit *u = &c->units[i];
        if (u->dead || u->n == 0)
            continue;
        if (u->incidents) /* occasions of other incidents were counted (rules_count_across) */
            rules_add_rule(u->rules, ruleset_persons(c->rs)->course_rule);
        if (u->crime >= 0) {
            /* this incident's own crime for the course stands: it is the one the others count in */
            if (u->across)
                u->linked_crn = NULL;
            u->across = false;
            rules_update_crime(c, u);
            continue;
        }
        if (u->across)
            continue; /* counted in the course's crime in another incident */
        rules_match_linked(c, u);
        if (!u->linked_crn) {
            if (rules_new_crime(c, u) < 0)
                return -1;
            rules_settle_linked(c, u, rules_str(json_array_get(crimes, (size_t)u->crime), "crn"));
        }
    }
    rules_decide(c);

    /* At most one item per allegation, two per unit (a review, a possible duplicate), one per
     * orphaned crime, one per hidden crime screened, and the incident's own four. */
    json_t *screen = rules_assess_screen(c);
    struct rules_want *w =
        screen ? calloc(c->nal + 2 * c->nunits + json_array_size(c->orphans) + json_array_size(screen) + 5, sizeof *w)
               : NULL;
    if (!w) {
        json_decref(screen);
        return -1;
    }
    size_t nw = rules_collect_wants(c, w, screen);
    rules_reconcile_pending(c, w, nw);
    for (size_t k = 0; k < nw; k++) {
        json_decref(w[k].flags);
        json_decref(w[k].rules);
        json_decref(w[k].indicators);
    }
    free(w);
    json_decref(screen);
    return 0;
}
