/* rules.c: the recording-rules engine's entry point: merges an event into the incident state,
 * checks its references, re-derives every decision and assembles the outcome. */
#include "rules/rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"
#include "util/jsonwrite.h"

/* ---- small helpers shared by the rules_* files ---- */

const char *rules_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int rules_person_age(const json_t *person)
{
    json_t *v = json_object_get(person, "age");
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 200)
        return (int)json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 200)
        return (int)json_real_value(v);
    return -1;
}

bool rules_in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; s && list && list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

json_t *rules_person(const struct rules_ctx *c, const char *id)
{
    return id ? json_object_get(c->persons_by_id, id) : NULL;
}

void rules_add_rule(json_t *rules, const char *id)
{
    size_t i;
    json_t *v;
    if (!id)
        return;
    json_array_foreach(rules, i, v) {
        if (strcmp(json_string_value(v), id) == 0)
            return;
    }
    json_array_append_new(rules, json_string(id));
}

void rules_warn(struct rules_ctx *c, const char *code, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *w = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (field && *field)
        json_object_set_new(w, "field", json_string(field));
    json_array_append_new(c->warnings, w);
}

/* Takes ownership of before, after and rules (any may be NULL). */
void rules_audit(struct rules_ctx *c, const char *action, const char *crn, const char *pending_id,
                 const char *allegation, json_t *before, json_t *after, json_t *rules)
{
    json_t *e = json_object();
    json_object_set_new(e, "action", json_string(action));
    if (crn)
        json_object_set_new(e, "crn", json_string(crn));
    if (pending_id)
        json_object_set_new(e, "pending_id", json_string(pending_id));
    if (allegation)
        json_object_set_new(e, "allegation", json_string(allegation));
    json_object_set_new(e, "before", before ? before : json_null());
    json_object_set_new(e, "after", after ? after : json_null());
    json_object_set_new(e, "rules", rules ? rules : json_array());
    json_array_append_new(c->audit, e);
}

/* ---- merging the event into the state ---- */

static json_t *rules_new_state(const struct rules_ctx *c)
{
    json_t *s = json_object();
    json_object_set_new(s, "incident_id", json_string(c->ev->incident_id));
    json_object_set_new(s, "last_seq", json_integer(0));
    json_object_set_new(s, "category", json_null());
    json_object_set_new(s, "opened_at", json_string(c->at));
    static const char *const arrays[] = {"qualifiers", "links", "persons", "allegations", "crimes", "pending"};
    for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++)
        json_object_set_new(s, arrays[i], json_array());
    json_object_set_new(s, "decisions", json_object());
    json_object_set_new(s, "indicators", json_array());
    return s;
}

/* Entries keyed by id: a known id is replaced whole where it stands, a new one is appended. */
static void rules_merge_by_id(json_t *into, const json_t *from)
{
    size_t i, j;
    json_t *e, *have;
    json_array_foreach(from, i, e) {
        const char *id = rules_str(e, "id");
        if (!id)
            continue;
        bool replaced = false;
        json_array_foreach(into, j, have) {
            const char *hid = rules_str(have, "id");
            if (hid && strcmp(hid, id) == 0) {
                json_array_set_new(into, j, jsonwrite_copy(e));
                replaced = true;
                break;
            }
        }
        if (!replaced)
            json_array_append_new(into, jsonwrite_copy(e));
    }
}

static void rules_merge_links(json_t *into, const json_t *from)
{
    size_t i, j;
    json_t *l, *have;
    json_array_foreach(from, i, l) {
        const char *id = rules_str(l, "incident_id"), *rel = rules_str(l, "relation");
        if (!id || !rel)
            continue;
        bool known = false;
        json_array_foreach(into, j, have) {
            known |= strcmp(rules_str(have, "incident_id"), id) == 0 && strcmp(rules_str(have, "relation"), rel) == 0;
        }
        if (!known)
            json_array_append_new(into, json_pack("{s:s, s:s}", "incident_id", id, "relation", rel));
    }
}

static void rules_merge(struct rules_ctx *c)
{
    const json_t *d = c->ev->doc;
    json_t *s = c->state, *v;

    /* The state takes copies: the event document stays the caller's, untouched. */
    static const char *const scalars[] = {"category", "reported_by", "channel", "opening_code"};
    for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++)
        if (json_is_string(v = json_object_get(d, scalars[i])))
            json_object_set_new(s, scalars[i], jsonwrite_copy(v));
    if (json_is_array(v = json_object_get(d, "qualifiers"))) {
        size_t i;
        json_t *q;
        json_object_set_new(s, "qualifiers", jsonwrite_copy(v));
        json_array_foreach(v, i, q) {
            if (json_is_string(q) && !ruleset_qualifier_known(c->rs, json_string_value(q))) {
                char field[64];
                snprintf(field, sizeof field, "qualifiers[%zu]", i);
                rules_warn(c, "unknown_qualifier", field, "qualifier \"%s\" is not in rule set %s",
                           json_string_value(q), ruleset_version(c->rs));
            }
        }
    }
    if (json_is_string(v = json_object_get(d, "narrative")))
        rules_assess_narrative(c, json_string_value(v));
    if (json_is_array(v = json_object_get(d, "links")))
        rules_merge_links(json_object_get(s, "links"), v);
    if (json_is_array(v = json_object_get(d, "persons")))
        rules_merge_by_id(json_object_get(s, "persons"), v);
    if (json_is_array(v = json_object_get(d, "allegations")))
        rules_merge_by_id(json_object_get(s, "allegations"), v);
    if (c->ev->type == FEED_EVENT_CLOSED) {
        json_t *closing = json_object();
        const char *keys[] = {"closing_category", "closing_code", "closing_reason"};
        for (size_t i = 0; i < 3; i++)
            if (json_is_string(v = json_object_get(d, keys[i])))
                json_object_set_new(closing, keys[i] + 8, jsonwrite_copy(v));
        json_object_set_new(s, "closing", closing);
        json_object_set_new(s, "closed_at", json_string(c->at));
    }
    json_object_set_new(s, "last_seq", json_integer((json_int_t)c->ev->seq));
    json_object_set_new(s, "ruleset", json_string(ruleset_version(c->rs)));
    json_object_set_new(s, "ruleset_sha256", json_string(ruleset_sha256(c->rs)));
}

/* ---- reference checks: a reference the state cannot resolve makes the event untrustworthy ---- */

/* Fills err the way event.h describes (code static, field and message copied). */
__attribute__((format(printf, 4, 5))) static void rules_error(struct feed_event_error *err, const char *code,
                                                              const char *field, const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return;
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

/* The entry of the array whose "id" is id, or NULL. */
static json_t *rules_find_by_id(const json_t *arr, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *eid = rules_str(e, "id");
        if (eid && strcmp(eid, id) == 0)
            return e;
    }
    return NULL;
}

/* The entry with this id in `key` ("persons", "allegations") as it will be once the event is
 * merged: the event's own when it sends one (it replaces the state's), else the state's. */
static json_t *rules_merged_entry(const struct rules_ctx *c, const char *key, const char *id)
{
    json_t *e = rules_find_by_id(json_object_get(c->ev->doc, key), id);
    return e ? e : rules_find_by_id(json_object_get(c->base, key), id);
}

/* The field's name is printf'd from fmt only when the reference does not resolve. */
__attribute__((format(printf, 3, 4))) static int rules_ref(struct rules_ctx *c, const json_t *v, const char *fmt,
                                                           ...)
{
    if (!json_is_string(v) || rules_merged_entry(c, "persons", json_string_value(v)))
        return 0;
    char field[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(field, sizeof field, fmt, ap);
    va_end(ap);
    rules_error(c->err, "unknown_person", field, "%s names person \"%s\", who is not in this incident", field,
                json_string_value(v));
    return 1;
}

/* Runs before anything changes (c->base is the state as given, or NULL): every reference of the
 * event must resolve in the state as the event will leave it. */
static int rules_check_refs(struct rules_ctx *c)
{
    const json_t *d = c->ev->doc;
    char field[160];
    size_t i, j;
    json_t *p, *a, *r;

    if (rules_ref(c, json_object_get(d, "reported_by"), "reported_by"))
        return 1;
    json_array_foreach(json_object_get(d, "persons"), i, p) {
        json_array_foreach(json_object_get(p, "relationships"), j, r) {
            if (rules_ref(c, json_object_get(r, "to"), "persons[%zu].relationships[%zu].to", i, j))
                return 1;
        }
    }
    /* a chain longer than all the allegations there can be has come back on itself */
    size_t most = json_array_size(json_object_get(c->base, "allegations")) +
                  json_array_size(json_object_get(d, "allegations"));
    json_array_foreach(json_object_get(d, "allegations"), i, a) {
        if (rules_ref(c, json_object_get(a, "victim"), "allegations[%zu].victim", i))
            return 1;
        json_array_foreach(json_object_get(a, "suspects"), j, r) {
            if (rules_ref(c, r, "allegations[%zu].suspects[%zu]", i, j))
                return 1;
        }
        const char *ico = rules_str(a, "in_course_of");
        if (!ico)
            continue;
        snprintf(field, sizeof field, "allegations[%zu].in_course_of", i);
        /* Follow the chain: it must reach an allegation of the incident, and never come back. */
        const char *cur = rules_str(a, "id");
        const char *next = ico;
        size_t steps = 0;
        while (next) {
            json_t *found = rules_merged_entry(c, "allegations", next);
            if (!found) {
                rules_error(c->err, "bad_field", field, "in_course_of names \"%s\", no allegation of this incident",
                            next);
                return 1;
            }
            if (strcmp(next, cur) == 0 || ++steps > most) {
                rules_error(c->err, "bad_field", field, "in_course_of of \"%s\" comes back to itself", cur);
                return 1;
            }
            next = rules_str(found, "in_course_of");
        }
    }
    return 0;
}

/* ---- working data ---- */

static int rules_index_persons(struct rules_ctx *c)
{
    size_t i;
    json_t *p;
    c->persons_by_id = json_object();
    c->mentioned_persons = json_object();
    json_array_foreach(json_object_get(c->state, "persons"), i, p) {
        const char *id = rules_str(p, "id");
        if (id)
            json_object_set(c->persons_by_id, id, p);
    }
    json_array_foreach(json_object_get(c->ev->doc, "persons"), i, p) {
        const char *id = rules_str(p, "id");
        if (id)
            json_object_set_new(c->mentioned_persons, id, json_true());
    }
    c->reporter = rules_person(c, rules_str(c->state, "reported_by"));
    return 0;
}

static long rules_event_index(const struct rules_ctx *c, const char *id)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(c->ev->doc, "allegations"), i, a) {
        const char *aid = rules_str(a, "id");
        if (aid && strcmp(aid, id) == 0)
            return (long)i;
    }
    return -1;
}

static int rules_build_allegations(struct rules_ctx *c)
{
    json_t *all = json_object_get(c->state, "allegations");
    c->nal = json_array_size(all);
    c->al = calloc(c->nal ? c->nal : 1, sizeof *c->al);
    if (!c->al)
        return -1;
    for (size_t i = 0; i < c->nal; i++) {
        struct rules_alleg *a = &c->al[i];
        json_t *doc = json_array_get(all, i), *v;
        a->idx = i;
        a->doc = doc;
        a->id = rules_str(doc, "id");
        a->ev_index = rules_event_index(c, a->id);
        a->victim_id = rules_str(doc, "victim");
        a->victim = rules_person(c, a->victim_id);
        a->ico = -1;
        a->absorbed_by = -1;
        a->unit = -1;
        a->frozen_crime = -1;
        a->parent = (int)i;
        a->occasions = 1;
        a->rules = json_array();
        if (json_is_integer(v = json_object_get(doc, "occasions")) && json_integer_value(v) > 1)
            a->occasions = (int)(json_integer_value(v) > 1000 ? 1000 : json_integer_value(v));
        a->has_when = timefmt_parse(rules_str(doc, "occurred_at"), &a->when_ms);
        if (json_is_array(v = json_object_get(doc, "suspects")))
            a->suspects = v;
        a->premises = rules_str(json_object_get(doc, "location"), "premises");
    }
    for (size_t i = 0; i < c->nal; i++) {
        const char *ico = rules_str(c->al[i].doc, "in_course_of");
        for (size_t j = 0; ico && j < c->nal; j++)
            if (j != i && strcmp(c->al[j].id, ico) == 0)
                c->al[i].ico = (int)j;
    }
    return 0;
}

static void rules_ctx_free(struct rules_ctx *c)
{
    for (size_t i = 0; c->al && i < c->nal; i++) {
        json_decref(c->al[i].rules);
        json_decref(c->al[i].decision);
    }
    free(c->al);
    rules_count_free(c);
    json_decref(c->persons_by_id);
    json_decref(c->mentioned_persons);
    json_decref(c->warnings);
    json_decref(c->audit);
    json_decref(c->crime_actions);
    json_decref(c->orphans);
    json_decref(c->touched);
    json_decref(c->touched_persons);
    json_decref(c->linked_out);
    if (c->new_incident)
        json_decref(c->state);
}

/* ---- the outcome ---- */

static json_t *rules_reply_crime(const json_t *crime, const char *action)
{
    json_t *victim = json_object_get(crime, "victim");
    return json_pack("{s:o, s:o, s:o, s:o, s:s}", "crn", jsonwrite_copy(json_object_get(crime, "crn")), "offence",
                     jsonwrite_copy(json_object_get(crime, "offence")), "victim",
                     victim ? jsonwrite_copy(victim) : json_null(), "flags",
                     jsonwrite_copy(json_object_get(crime, "flags")), "action", action);
}

/* The decision as the reply shows it: the state keeps a little more (the rule set's version and
 * hash). */
static json_t *rules_reply_decision(const json_t *d)
{
    json_t *r = jsonwrite_copy(d);
    json_object_del(r, "ruleset");
    json_object_del(r, "ruleset_sha256");
    return r;
}

static json_t *rules_outcome(struct rules_ctx *c)
{
    json_t *out = json_object(), *crimes = json_array(), *decisions = json_array(), *pending = json_array();
    size_t i;
    json_t *crime, *p;

    json_array_foreach(json_object_get(c->state, "crimes"), i, crime) {
        const char *crn = rules_str(crime, "crn");
        const char *action = rules_str(c->crime_actions, crn);
        if (!action) {
            /* An unchanged crime is reported only when the event spoke of it. */
            size_t j;
            json_t *aid;
            json_array_foreach(json_object_get(crime, "allegations"), j, aid) {
                for (size_t k = 0; k < c->nal && !action; k++)
                    if (c->al[k].ev_index >= 0 && strcmp(c->al[k].id, json_string_value(aid)) == 0)
                        action = "unchanged";
            }
        }
        if (action)
            json_array_append_new(crimes, rules_reply_crime(crime, action));
    }
    /* a linked report's crime this report reclassified up */
    const char *lid;
    json_t *lst;
    json_object_foreach(c->linked_out, lid, lst) {
        json_array_foreach(json_object_get(lst, "crimes"), i, crime) {
            const char *action = rules_str(c->crime_actions, rules_str(crime, "crn"));
            if (action)
                json_array_append_new(crimes, rules_reply_crime(crime, action));
        }
    }
    json_t *state_decisions = json_object_get(c->state, "decisions");
    for (size_t k = 0; k < c->nal; k++) {
        struct rules_alleg *a = &c->al[k];
        json_t *d = json_object_get(state_decisions, a->id);
        if (d && (a->ev_index >= 0 || a->decision))
            json_array_append_new(decisions, rules_reply_decision(d));
    }
    json_array_foreach(json_object_get(c->state, "pending"), i, p) {
        const char *st = rules_str(p, "status");
        if (st && strcmp(st, "open") == 0) {
            json_t *item = json_pack("{s:s, s:s, s:s}", "id", rules_str(p, "id"), "reason", rules_str(p, "reason"),
                                     "due", rules_str(p, "due"));
            /* the offence a possible crime or a review points to, so the sender sees it at once */
            const char *cand = rules_str(p, "candidate_offence");
            if (item && cand)
                json_object_set_new(item, "candidate_offence", json_string(cand));
            json_array_append_new(pending, item);
        }
    }
    json_object_set_new(out, "crimes", crimes);
    json_object_set_new(out, "decisions", decisions);
    json_object_set_new(out, "pending", pending);
    json_object_set(out, "warnings", c->warnings);
    json_object_set_new(out, "rules", json_string(ruleset_version(c->rs)));
    json_object_set(out, "audit", c->audit);
    if (json_object_size(c->linked_out))
        json_object_set(out, "linked_states", c->linked_out);
    return out;
}

int rules_update(const struct rules_env *env, json_t *state, const json_t *linked, const struct feed_event *ev,
                 json_t **new_state, json_t **outcome, struct feed_event_error *err)
{
    return rules_update_persons(env, state, linked, NULL, ev, new_state, outcome, err);
}

int rules_update_persons(const struct rules_env *env, json_t *state, const json_t *linked, const json_t *persons,
                         const struct feed_event *ev, json_t **new_state, json_t **outcome,
                         struct feed_event_error *err)
{
    struct rules_ctx c = {0};
    *new_state = NULL;
    *outcome = NULL;
    c.env = env;
    c.rs = env->rs;
    c.ev = ev;
    c.linked = json_is_object(linked) ? linked : NULL;
    c.persons = json_is_array(persons) ? persons : NULL;
    c.err = err;
    c.at_ms = ev->at_ms;
    timefmt_format(ev->at_ms, c.at);
    c.base = state;
    if (rules_check_refs(&c))
        return 1;

    c.warnings = json_array();
    c.audit = json_array();
    c.crime_actions = json_object();
    c.orphans = json_array();
    c.linked_out = json_object();
    c.new_incident = state == NULL;
    c.state = state ? state : rules_new_state(&c);
    if (!c.state || !c.warnings || !c.audit || !c.crime_actions || !c.orphans || !c.linked_out ||
        rules_touch_scan(&c) < 0) {
        rules_error(err, "bad_field", "", "out of memory while applying the rules");
        rules_ctx_free(&c);
        return -1;
    }
    /* A state written by an older engine may lack a container: every one is there from here on.
     * (A new state is made with all of them.) */
    static const char *const arrays[] = {"qualifiers", "links", "persons", "allegations", "crimes", "pending",
                                         "indicators"};
    for (size_t i = 0; !c.new_incident && i < sizeof arrays / sizeof *arrays; i++)
        if (!json_is_array(json_object_get(c.state, arrays[i])))
            json_object_set_new(c.state, arrays[i], json_array());
    if (!c.new_incident && !json_is_object(json_object_get(c.state, "decisions")))
        json_object_set_new(c.state, "decisions", json_object());
    if (!timefmt_parse(rules_str(c.state, "opened_at"), &c.opened_ms))
        c.opened_ms = ev->at_ms;
    if (c.new_incident && ev->type != FEED_EVENT_OPENED)
        rules_warn(&c, "not_opened", "", "%s for an incident never opened: opened from this event, first contact %s",
                   ev->type == FEED_EVENT_CLOSED ? "incident.closed" : "incident.updated", c.at);

    rules_merge(&c);
    rules_index_persons(&c);
    if (c.new_incident)
        rules_audit(&c, "incident.opened", NULL, NULL, NULL, NULL,
                    json_pack("{s:O, s:O, s:s}", "incident_id", json_object_get(c.state, "incident_id"), "category",
                              json_object_get(c.state, "category"), "opened_at", c.at),
                    ev->type != FEED_EVENT_OPENED ? json_pack("[s]", RULE_NOT_OPENED) : NULL);
    if (ev->type == FEED_EVENT_CLOSED)
        rules_audit(&c, "incident.closed", NULL, NULL, NULL, NULL,
                    json_pack("{s:o, s:s}", "closing", jsonwrite_copy(json_object_get(c.state, "closing")),
                              "closed_at", c.at),
                    NULL);

    if (rules_build_allegations(&c) < 0) {
        rules_error(err, "bad_field", "", "out of memory while applying the rules");
        rules_ctx_free(&c);
        return -1;
    }
    rules_touch_mark(&c);
    if (rules_count(&c) < 0 || rules_record(&c) < 0) {
        rules_error(err, "bad_field", "", "out of memory while applying the rules");
        rules_ctx_free(&c);
        return -1;
    }
    *outcome = rules_outcome(&c);
    *new_state = c.state;
    c.new_incident = false; /* the state is the caller's now */
    rules_ctx_free(&c);
    return 0;
}

int rules_apply(const struct rules_env *env, const json_t *state, const json_t *linked,
                const struct feed_event *ev, json_t **new_state, json_t **outcome, struct feed_event_error *err)
{
    return rules_apply_persons(env, state, linked, NULL, ev, new_state, outcome, err);
}

int rules_apply_persons(const struct rules_env *env, const json_t *state, const json_t *linked,
                        const json_t *persons, const struct feed_event *ev, json_t **new_state, json_t **outcome,
                        struct feed_event_error *err)
{
    json_t *copy = NULL;
    *new_state = NULL;
    *outcome = NULL;
    if (state && !(copy = jsonwrite_copy(state))) {
        rules_error(err, "bad_field", "", "incident state could not be built");
        return 1;
    }
    int rc = rules_update_persons(env, copy, linked, persons, ev, new_state, outcome, err);
    if (rc != 0) {
        json_decref(copy);
        return 1;
    }
    return 0;
}
