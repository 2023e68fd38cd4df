/* rules_touch.c: what an event changes, so that a rule-set reload does not re-decide the past. An
 * allegation decided under another rule set is decided again only when the event changes it (its
 * own fields, its victim or suspects, a link to it, or something every allegation depends on);
 * otherwise its decision, its crime and its pending items stay exactly as they were. */
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

static json_t *rules_touch_find(const json_t *arr, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *eid = rules_str(e, "id");
        if (eid && id && strcmp(eid, id) == 0)
            return e;
    }
    return NULL;
}

/* Whether the event's `key` (a scalar or array) differs from the state's, when the event has it. */
static bool rules_touch_differs(const json_t *doc, const json_t *base, const char *key)
{
    json_t *v = json_object_get(doc, key);
    return v && !json_is_null(v) && !json_equal(v, json_object_get(base, key));
}

/* A link the state does not hold yet. */
static bool rules_touch_new_link(const json_t *doc, const json_t *base)
{
    size_t i, j;
    json_t *l, *have;
    json_array_foreach(json_object_get(doc, "links"), i, l) {
        bool known = false;
        json_array_foreach(json_object_get(base, "links"), j, have) {
            known |= json_equal(json_object_get(l, "incident_id"), json_object_get(have, "incident_id")) &&
                     json_equal(json_object_get(l, "relation"), json_object_get(have, "relation"));
        }
        if (!known)
            return true;
    }
    return false;
}

/* Runs before the event is merged (c->base is the state as it was): notes what the event changes. */
int rules_touch_scan(struct rules_ctx *c)
{
    const json_t *d = c->ev->doc, *base = c->base;
    size_t i;
    json_t *e;
    c->touched = json_object();
    c->touched_persons = json_object();
    if (!c->touched || !c->touched_persons)
        return -1;
    if (!base || c->ev->type == FEED_EVENT_CLOSED || rules_touch_differs(d, base, "reported_by") ||
        rules_touch_differs(d, base, "category") || rules_touch_differs(d, base, "qualifiers") ||
        rules_touch_new_link(d, base))
        c->touch_all = true;
    const char *reporter = rules_str(d, "reported_by") ? rules_str(d, "reported_by") : rules_str(base, "reported_by");
    json_array_foreach(json_object_get(d, "persons"), i, e) {
        const char *id = rules_str(e, "id");
        if (!id || json_equal(e, rules_touch_find(json_object_get(base, "persons"), id)))
            continue;
        json_object_set_new(c->touched_persons, id, json_true());
        if (reporter && strcmp(reporter, id) == 0)
            c->touch_all = true; /* who reported decides whether the victim's word is needed */
    }
    json_array_foreach(json_object_get(d, "allegations"), i, e) {
        const char *id = rules_str(e, "id");
        if (id && !json_equal(e, rules_touch_find(json_object_get(base, "allegations"), id)))
            json_object_set_new(c->touched, id, json_true());
    }
    return 0;
}

static bool rules_touch_person(const struct rules_ctx *c, const char *id)
{
    return id && json_object_get(c->touched_persons, id);
}

/* Whether the event changes the allegation itself, its victim or its suspects. */
static bool rules_touch_direct(const struct rules_ctx *c, const struct rules_alleg *a)
{
    if (json_object_get(c->touched, a->id) || rules_touch_person(c, a->victim_id))
        return true;
    /* With no victim named, who else is there decides (police-only witnesses). */
    if (!a->victim_id && json_object_size(c->touched_persons) > 0)
        return true;
    size_t i;
    json_t *s;
    json_array_foreach(a->suspects, i, s) {
        if (rules_touch_person(c, json_string_value(s)))
            return true;
    }
    return false;
}

/* Whether two allegations are counted together: the same victim, one in the course of the other,
 * or one crime holding both. A change to one reopens the other's counting too. */
static bool rules_touch_linked(const struct rules_ctx *c, const struct rules_alleg *a, const struct rules_alleg *b)
{
    if (a->victim_id && b->victim_id && strcmp(a->victim_id, b->victim_id) == 0)
        return true;
    if (a->ico == (int)b->idx || b->ico == (int)a->idx)
        return true;
    size_t i, j;
    json_t *crime, *aid;
    json_array_foreach(json_object_get(c->state, "crimes"), i, crime) {
        bool has_a = false, has_b = false;
        json_array_foreach(json_object_get(crime, "allegations"), j, aid) {
            const char *id = json_string_value(aid);
            has_a |= id && strcmp(id, a->id) == 0;
            has_b |= id && strcmp(id, b->id) == 0;
        }
        if (has_a && has_b)
            return true;
    }
    return false;
}

/* Runs once the allegations are built: marks `kept` those decided by the rules under another rule
 * set that nothing in the event reaches. With the same rule set every allegation is decided again
 * as always: the same facts give the same decision. */
void rules_touch_mark(struct rules_ctx *c)
{
    if (c->touch_all || c->nal == 0)
        return;
    bool *reached = calloc(c->nal, sizeof *reached);
    if (!reached)
        return; /* everything decided again: what an engine without this memory would do */
    for (size_t i = 0; i < c->nal; i++)
        reached[i] = rules_touch_direct(c, &c->al[i]);
    /* What the event reaches spreads to everything counted with it. */
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < c->nal; i++) {
            for (size_t j = 0; reached[i] && j < c->nal; j++) {
                if (!reached[j] && rules_touch_linked(c, &c->al[i], &c->al[j])) {
                    reached[j] = true;
                    changed = true;
                }
            }
        }
    }
    const char *version = ruleset_version(c->rs);
    json_t *decisions = json_object_get(c->state, "decisions");
    for (size_t i = 0; i < c->nal; i++) {
        json_t *d = json_object_get(decisions, c->al[i].id);
        const char *by_rules = rules_str(d, "ruleset");
        c->al[i].kept = !reached[i] && d && !json_object_get(d, "by") && by_rules && strcmp(by_rules, version) != 0;
    }
    free(reached);
}
