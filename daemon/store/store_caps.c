/* store_caps.c: the per-incident caps: an incident's state is read and rewritten by every event of
 * the incident, so how much it may hold is bounded, counted as the rules will merge the event. */
#include "store/store_caps.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *caps_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static bool caps_same_link(const json_t *a, const json_t *b)
{
    const char *ai = caps_str(a, "incident_id"), *ar = caps_str(a, "relation");
    const char *bi = caps_str(b, "incident_id"), *br = caps_str(b, "relation");
    return ai && ar && bi && br && strcmp(ai, bi) == 0 && strcmp(ar, br) == 0;
}

static bool caps_same_id(const json_t *a, const json_t *b)
{
    const char *ai = caps_str(a, "id"), *bi = caps_str(b, "id");
    return ai && bi && strcmp(ai, bi) == 0;
}

/* The entries of state[key] plus those of doc[key] not among them (nor earlier in doc). Quadratic,
 * like the merge itself; the caps keep both sides small, and a stored incident over a cap (made
 * before the cap was lowered) only costs its own events. */
static size_t caps_merged(const json_t *state, const json_t *doc, const char *key,
                          bool (*same)(const json_t *, const json_t *))
{
    const json_t *have = json_object_get(state, key), *add = json_object_get(doc, key);
    size_t n = json_array_size(have);
    for (size_t i = 0; i < json_array_size(add); i++) {
        const json_t *e = json_array_get(add, i);
        bool known = false;
        for (size_t j = 0; j < json_array_size(have) && !known; j++)
            known = same(json_array_get(have, j), e);
        for (size_t j = 0; j < i && !known; j++)
            known = same(json_array_get(add, j), e);
        if (!known)
            n++;
    }
    return n;
}

int store_caps_check(const struct store_incident_caps *caps, const json_t *state, const json_t *doc, char *field,
                     size_t fieldlen, char *msg, size_t msglen)
{
    static const struct {
        const char *key, *what, *setting;
        size_t offset;
        bool (*same)(const json_t *, const json_t *);
    } rows[] = {
        {"persons", "persons", "max_persons_per_incident", offsetof(struct store_incident_caps, persons), caps_same_id},
        {"allegations", "allegations", "max_allegations_per_incident",
         offsetof(struct store_incident_caps, allegations), caps_same_id},
        {"links", "links", "max_links_per_incident", offsetof(struct store_incident_caps, links), caps_same_link},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        size_t cap = *(const size_t *)(const void *)((const char *)caps + rows[r].offset);
        if (cap == 0 || !json_array_size(json_object_get(doc, rows[r].key)))
            continue;
        size_t before = json_array_size(json_object_get(state, rows[r].key));
        size_t after = caps_merged(state, doc, rows[r].key, rows[r].same);
        if (after <= cap || after <= before) /* an event that adds nothing is never refused for size */
            continue;
        snprintf(field, fieldlen, "%s", rows[r].key);
        snprintf(msg, msglen, "the incident would hold %zu %s, more than the limit of %zu ([feed] %s)", after,
                 rows[r].what, cap, rows[r].setting);
        return 1;
    }
    return 0;
}
