/* whatif_diff.c: comparing an incident's stored decisions with those a replay made, and the
 * counts of a what-if run. */
#include "store/whatif_diff.h"

#include <string.h>

static const char *whatif_diff_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static bool whatif_diff_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static json_t *whatif_diff_side(const json_t *d, bool crn)
{
    json_t *o = json_object();
    const char *keys[] = {"outcome", "offence", crn ? "crn" : NULL};
    for (size_t i = 0; i < 3 && keys[i]; i++) {
        const char *v = whatif_diff_str(d, keys[i]);
        json_object_set_new(o, keys[i], v ? json_string(v) : json_null());
    }
    return o;
}

/* Note an allegation id once, in the order first met. */
static void whatif_diff_note(json_t *order, json_t *seen, const char *id)
{
    if (!id || json_object_get(seen, id))
        return;
    json_object_set_new(seen, id, json_true());
    json_array_append_new(order, json_string(id));
}

static void whatif_diff_collect(json_t *order, json_t *seen, const json_t *state)
{
    if (!json_is_object(state))
        return;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(state, "allegations"), i, a)
        whatif_diff_note(order, seen, whatif_diff_str(a, "id"));
    const char *id;
    json_t *d;
    json_object_foreach(json_object_get(state, "decisions"), id, d)
        whatif_diff_note(order, seen, id);
}

size_t whatif_diff(const char *incident_id, const json_t *stored, const json_t *replayed, json_t *changes)
{
    json_t *order = json_array(), *seen = json_object();
    whatif_diff_collect(order, seen, stored);
    whatif_diff_collect(order, seen, replayed);
    const json_t *before_all = json_object_get(stored, "decisions");
    const json_t *after_all = json_object_get(replayed, "decisions");
    size_t i;
    json_t *idv;
    json_array_foreach(order, i, idv)
    {
        const char *al = json_string_value(idv);
        const json_t *b = json_object_get(before_all, al), *a = json_object_get(after_all, al);
        if (whatif_diff_same(whatif_diff_str(b, "outcome"), whatif_diff_str(a, "outcome")) &&
            whatif_diff_same(whatif_diff_str(b, "offence"), whatif_diff_str(a, "offence")))
            continue;
        json_array_append_new(changes, json_pack("{s:s, s:s, s:o, s:o}", "incident_id", incident_id, "allegation", al,
                                                 "before", whatif_diff_side(b, true), "after",
                                                 whatif_diff_side(a, false)));
    }
    size_t n = json_array_size(order);
    json_decref(order);
    json_decref(seen);
    return n;
}

int whatif_diff_summary_init(struct whatif_diff_summary *s)
{
    memset(s, 0, sizeof(*s));
    s->by_category = json_object();
    return s->by_category ? 0 : -1;
}

void whatif_diff_summary_clear(struct whatif_diff_summary *s)
{
    if (!s)
        return;
    json_decref(s->by_category);
    memset(s, 0, sizeof(*s));
}

static const char *whatif_diff_category_of(const struct ruleset *rs, const char *code)
{
    const struct ruleset_offence *o = rs ? ruleset_offence(rs, code) : NULL;
    return o && o->category ? o->category : "unknown";
}

const char *whatif_diff_category(const json_t *change, const struct ruleset *candidate,
                                 const struct ruleset *current)
{
    const char *after = whatif_diff_str(json_object_get(change, "after"), "offence");
    if (after)
        return whatif_diff_category_of(candidate, after);
    const char *before = whatif_diff_str(json_object_get(change, "before"), "offence");
    if (before)
        return whatif_diff_category_of(current, before);
    return "none";
}

void whatif_diff_count(struct whatif_diff_summary *s, const json_t *change, const struct ruleset *candidate,
                       const struct ruleset *current)
{
    const char *cat = whatif_diff_category(change, candidate, current);
    json_t *n = json_object_get(s->by_category, cat);
    json_object_set_new(s->by_category, cat, json_integer((n ? json_integer_value(n) : 0) + 1));
    s->changed++;
}

json_t *whatif_diff_summary_json(const struct whatif_diff_summary *s)
{
    return json_pack("{s:I, s:I, s:I, s:O}", "incidents", (json_int_t)s->incidents, "allegations",
                     (json_int_t)s->allegations, "changed", (json_int_t)s->changed, "by_category",
                     s->by_category ? s->by_category : json_object());
}
