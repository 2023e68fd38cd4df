/* store_persons.c: the person index's rows, made from an incident's state: who (by command-and-
 * control `ref`) is victim or suspect of which allegation, with what the cross-incident rules
 * match on (offence and its group, occasions, time, the crime holding it). */
#include "store/store_persons.h"

#include <string.h>

#include "util/pgtext.h"

static const char *str(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const json_t *person(const json_t *state, const char *id)
{
    size_t i;
    json_t *p;
    if (!id)
        return NULL;
    json_array_foreach(json_object_get(state, "persons"), i, p) {
        const char *pid = str(p, "id");
        if (pid && strcmp(pid, id) == 0)
            return p;
    }
    return NULL;
}

/* Sorted, distinct suspect refs; [] for no suspect; NULL when a suspect has no ref. */
static json_t *suspect_refs(const json_t *state, const json_t *alleg)
{
    json_t *out = json_array(), *s;
    size_t i;
    json_array_foreach(json_object_get(alleg, "suspects"), i, s) {
        const char *r = str(person(state, json_string_value(s)), "ref");
        if (!r) {
            json_decref(out);
            return json_null();
        }
        size_t k = 0, n = json_array_size(out);
        while (k < n && strcmp(json_string_value(json_array_get(out, k)), r) < 0)
            k++;
        if (k == n || strcmp(json_string_value(json_array_get(out, k)), r) != 0)
            json_array_insert_new(out, k, json_string(r));
    }
    return out;
}

/* The live crime of the incident whose allegations hold this one, or NULL. */
static const char *holding_crime(const json_t *state, const char *aid)
{
    size_t i, j;
    json_t *c, *a;
    json_array_foreach(json_object_get(state, "crimes"), i, c) {
        const char *st = str(c, "status");
        if (!st || strcmp(st, "recorded") != 0)
            continue;
        json_array_foreach(json_object_get(c, "allegations"), j, a) {
            if (json_is_string(a) && strcmp(json_string_value(a), aid) == 0)
                return str(c, "crn");
        }
    }
    return NULL;
}

static void add_row(json_t *rows, const char *ref, const char *role, const json_t *base)
{
    json_t *r = json_deep_copy(base);
    json_object_set_new(r, "ref", json_string(ref));
    json_object_set_new(r, "role", json_string(role));
    json_array_append_new(rows, r);
}

json_t *store_persons_rows(const char *incident_id, const json_t *state, const struct ruleset *rs, bool victims_only)
{
    json_t *rows = json_array(), *a, *s;
    size_t i, j;
    if (!rows || !json_is_object(state))
        return rows;
    json_t *decisions = json_object_get(state, "decisions");
    json_array_foreach(json_object_get(state, "allegations"), i, a) {
        const char *aid = str(a, "id");
        const char *vref = str(person(state, str(a, "victim")), "ref");
        if (!aid)
            continue;
        const char *offence = str(json_object_get(decisions, aid), "offence");
        if (!offence)
            offence = str(a, "offence");
        const struct ruleset_offence *off = offence && rs ? ruleset_offence(rs, offence) : NULL;
        json_t *occ = json_object_get(a, "occasions");
        const char *crn = holding_crime(state, aid);
        json_t *base = json_pack("{s:s, s:s, s:s?, s:o, s:s?, s:s?, s:b, s:I, s:s?, s:s?, s:s?}", "incident_id",
                                 incident_id, "allegation", aid, "victim_ref", vref, "suspect_refs",
                                 suspect_refs(state, a), "offence", offence, "offence_group",
                                 off ? off->group : NULL, "course", off && off->count == RULESET_COUNT_COURSE,
                                 "occasions", (json_int_t)(json_is_integer(occ) ? json_integer_value(occ) : 1),
                                 "occurred_at", str(a, "occurred_at"), "reported_at", str(state, "opened_at"), "crn",
                                 crn);
        if (!base)
            continue;
        if (vref)
            add_row(rows, vref, "victim", base);
        json_array_foreach(victims_only ? NULL : json_object_get(a, "suspects"), j, s) {
            const char *sref = str(person(state, json_string_value(s)), "ref");
            if (sref)
                add_row(rows, sref, "suspect", base);
        }
        json_decref(base);
    }
    return rows;
}

static void ref_add(struct jsonwrite_buf *b, const char *v)
{
    jsonwrite_char(b, b->len == 0 ? '{' : ',');
    pgtext_array_elem(b, v, strlen(v));
}

void store_persons_victim_refs(struct jsonwrite_buf *b, const json_t *event_doc, const json_t *state)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(event_doc, "allegations"), i, a) {
        const char *vid = str(a, "victim");
        const char *ref = str(person(event_doc, vid), "ref");
        if (!ref)
            ref = str(person(state, vid), "ref");
        if (ref)
            ref_add(b, ref);
    }
}

json_t *store_persons_flatten(const json_t *by_incident)
{
    json_t *out = json_array(), *rows;
    const char *k;
    json_object_foreach((json_t *)by_incident, k, rows) {
        if (json_array_extend(out, rows) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}
