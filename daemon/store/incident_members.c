/* incident_members.c: an incident's persons and allegations as rows of their own: which the batch
 * changed, their rows for the write statement, and the arrays read back into the states. */
#include "store/incident_members.h"
#include "util/jsonwrite.h"

#include <string.h>

static const char *const incident_members_kinds[] = {"persons", "allegations"};
#define INCIDENT_MEMBERS_NKINDS (sizeof(incident_members_kinds) / sizeof(incident_members_kinds[0]))

bool incident_members_kind(const char *key)
{
    for (size_t k = 0; k < INCIDENT_MEMBERS_NKINDS; k++)
        if (strcmp(key, incident_members_kinds[k]) == 0)
            return true;
    return false;
}

/* o[key], created as an empty object when missing; NULL when memory runs out. */
static json_t *incident_members_sub(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (v)
        return v;
    v = json_object();
    if (!v || json_object_set_new(o, key, v) != 0)
        return NULL;
    return v;
}

int incident_members_touch(json_t *touched, const char *incident_id, const json_t *doc)
{
    for (size_t k = 0; k < INCIDENT_MEMBERS_NKINDS; k++) {
        const json_t *list = json_object_get(doc, incident_members_kinds[k]);
        size_t i;
        json_t *e;
        if (json_array_size(list) == 0)
            continue;
        json_t *inc = incident_members_sub(touched, incident_id);
        json_t *ids = inc ? incident_members_sub(inc, incident_members_kinds[k]) : NULL;
        if (!ids)
            return -1;
        json_array_foreach(list, i, e) {
            const char *id = json_string_value(json_object_get(e, "id"));
            if (id && json_object_set_new(ids, id, json_true()) != 0)
                return -1;
        }
    }
    return 0;
}

void incident_members_rows(struct jsonwrite_buf *b, const char *incident_id, const json_t *state, const json_t *ids)
{
    const char *kind;
    json_t *wanted;
    json_object_foreach((json_t *)ids, kind, wanted) {
        const json_t *list = json_object_get(state, kind);
        size_t i;
        json_t *e;
        /* one pass over the array, however many of its members the batch changed */
        json_array_foreach(list, i, e) {
            const char *id = json_string_value(json_object_get(e, "id"));
            if (!id || !json_object_get(wanted, id))
                continue;
            /* ids hold no control characters (feed_event.c, EV_ID), a kind is one of two words,
             * and compact JSON escapes every control character: no field holds a tab or a
             * newline. A ref may be any text, so it goes as a JSON string. */
            jsonwrite_raw(b, incident_id, strlen(incident_id));
            jsonwrite_char(b, '\t');
            jsonwrite_raw(b, kind, strlen(kind));
            jsonwrite_char(b, '\t');
            jsonwrite_int(b, (int64_t)i);
            jsonwrite_char(b, '\t');
            jsonwrite_raw(b, id, strlen(id));
            jsonwrite_char(b, '\t');
            const json_t *ref = json_object_get(e, "ref");
            if (json_is_string(ref))
                jsonwrite_value(b, ref, 0);
            jsonwrite_char(b, '\t');
            jsonwrite_value(b, e, 0);
            jsonwrite_char(b, '\n');
        }
    }
}

int incident_members_attach(json_t *states, const json_t *read)
{
    const char *id;
    json_t *st;
    json_object_foreach(states, id, st) {
        if (!json_is_object(st))
            continue;
        const json_t *mine = read ? json_object_get(read, id) : NULL;
        for (size_t k = 0; k < INCIDENT_MEMBERS_NKINDS; k++) {
            json_t *arr = json_object_get(mine, incident_members_kinds[k]);
            if (json_is_array(arr)) {
                if (json_object_set(st, incident_members_kinds[k], arr) != 0)
                    return -1;
            } else if (!json_object_get(st, incident_members_kinds[k])) {
                if (json_object_set_new(st, incident_members_kinds[k], json_array()) != 0)
                    return -1;
            }
        }
    }
    return 0;
}
