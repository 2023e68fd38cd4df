/* incident.c: read-only views of an incident state document for the supervisor API and the store,
 * and its row as the write statement takes it. */
#include "store/incident.h"
#include "store/incident_members.h"
#include "util/jsonwrite.h"
#include "util/pgtext.h"

#include <string.h>

static json_t *incident_copy_keys(const json_t *from, const char *const *keys)
{
    json_t *to = json_object();
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(from, keys[i]);
        if (v)
            json_object_set_new(to, keys[i], jsonwrite_copy(v));
    }
    return to;
}

json_t *incident_view(const json_t *state)
{
    static const char *const crime_keys[] = {"crn",   "offence",     "victim", "status",
                                             "flags", "recorded_at", "rules",  NULL};
    static const char *const pending_keys[] = {"id",   "reason", "opened_at", "due", "allegation", "victim",
                                               "candidate_offence", "crn",  "role",  "flags", "rules", NULL};
    json_t *view = json_object(), *crimes = json_array(), *decisions = json_array(), *pending = json_array();
    size_t i;
    json_t *v;

    if (!json_is_object(state)) {
        json_decref(crimes);
        json_decref(decisions);
        json_decref(pending);
        return view;
    }
    json_object_set_new(view, "incident_id", jsonwrite_copy(json_object_get(state, "incident_id")));
    v = json_object_get(state, "category");
    json_object_set_new(view, "category", v ? jsonwrite_copy(v) : json_null());
    json_object_set_new(view, "opened_at", jsonwrite_copy(json_object_get(state, "opened_at")));
    if ((v = json_object_get(state, "closed_at")) && json_is_string(v))
        json_object_set_new(view, "closed_at", jsonwrite_copy(v));

    json_array_foreach(json_object_get(state, "crimes"), i, v) {
        json_t *c = incident_copy_keys(v, crime_keys);
        if (!json_object_get(c, "victim"))
            json_object_set_new(c, "victim", json_null());
        json_array_append_new(crimes, c);
    }
    /* Decisions in the order the allegations arrived, the latest one for each. */
    json_t *all = json_object_get(state, "decisions");
    json_array_foreach(json_object_get(state, "allegations"), i, v) {
        json_t *d = json_object_get(all, json_string_value(json_object_get(v, "id")));
        if (!d)
            continue;
        json_t *copy = jsonwrite_copy(d);
        json_object_del(copy, "ruleset");
        json_object_del(copy, "ruleset_sha256");
        json_array_append_new(decisions, copy);
    }
    json_array_foreach(json_object_get(state, "pending"), i, v) {
        json_t *st = json_object_get(v, "status");
        if (json_is_string(st) && strcmp(json_string_value(st), "open") == 0)
            json_array_append_new(pending, incident_copy_keys(v, pending_keys));
    }
    json_object_set_new(view, "crimes", crimes);
    json_object_set_new(view, "decisions", decisions);
    json_object_set_new(view, "pending", pending);
    /* Persons and allegations as last received, for a reader who needs the facts beside the
     * decisions (the supervisor's page). */
    v = json_object_get(state, "persons");
    json_object_set_new(view, "persons", json_is_array(v) ? jsonwrite_copy(v) : json_array());
    v = json_object_get(state, "allegations");
    json_object_set_new(view, "allegations", json_is_array(v) ? jsonwrite_copy(v) : json_array());
    return view;
}

json_t *incident_linked(const json_t *states, const json_t *doc, const json_t *state, const char *self)
{
    json_t *out = json_object();
    const json_t *lists[2] = {json_object_get(state, "links"), json_object_get(doc, "links")};
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_t *l;
        json_array_foreach(lists[k], i, l)
        {
            const char *id = json_string_value(json_object_get(l, "incident_id"));
            json_t *st = id ? json_object_get(states, id) : NULL;
            if (st && !json_is_null(st) && strcmp(id, self) != 0)
                json_object_set(out, id, st);
        }
    }
    return out;
}

json_t *incident_others(const json_t *states, const char *self)
{
    json_t *out = json_object();
    const char *id;
    json_t *st;
    json_object_foreach((json_t *)states, id, st)
    {
        if (!json_is_null(st) && strcmp(id, self) != 0)
            json_object_set(out, id, st);
    }
    return out;
}

const char *incident_person_ref(const json_t *state, const char *person_id)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(state, "persons"), i, p)
    {
        const char *id = json_string_value(json_object_get(p, "id"));
        if (person_id && id && strcmp(id, person_id) == 0)
            return json_string_value(json_object_get(p, "ref"));
    }
    return NULL;
}

int64_t incident_last_seq(const json_t *state)
{
    json_t *v = json_object_get(state, "last_seq");
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* The state as its row holds it: every member but the persons and allegations, which have rows of
 * their own (incident_members.h). */
static void incident_row_state(struct jsonwrite_buf *b, const json_t *st)
{
    if (!json_is_object(st)) {
        jsonwrite_value(b, st, 0);
        return;
    }
    const char *k;
    json_t *v;
    jsonwrite_char(b, '{');
    json_object_foreach((json_t *)st, k, v) {
        if (incident_members_kind(k))
            continue;
        jsonwrite_key(b, k);
        jsonwrite_value(b, v, 0);
    }
    jsonwrite_char(b, '}');
}

/* The columns an incident's row copies from its state, after incident_id and last_seq. */
static const char *const incident_copied[] = {"category", "opened_at", "closed_at"};

void incident_row_line(struct jsonwrite_buf *b, const char *id, const json_t *st)
{
    bool plain = pgtext_plain(id, strlen(id));
    for (size_t k = 0; plain && k < sizeof(incident_copied) / sizeof(incident_copied[0]); k++)
        plain = pgtext_field_plain(json_object_get(st, incident_copied[k]));
    if (plain) {
        jsonwrite_raw(b, id, strlen(id));
        jsonwrite_char(b, '\t');
        jsonwrite_int(b, incident_last_seq(st));
        for (size_t k = 0; k < sizeof(incident_copied) / sizeof(incident_copied[0]); k++) {
            const json_t *v = json_object_get(st, incident_copied[k]);
            jsonwrite_char(b, '\t');
            if (json_is_string(v))
                jsonwrite_raw(b, json_string_value(v), json_string_length(v));
        }
        jsonwrite_char(b, '\t');
        incident_row_state(b, st);
    } else {
        jsonwrite_char(b, '{');
        jsonwrite_key(b, "incident_id");
        jsonwrite_cstr(b, id);
        jsonwrite_key(b, "last_seq");
        jsonwrite_int(b, incident_last_seq(st));
        for (size_t k = 0; k < sizeof(incident_copied) / sizeof(incident_copied[0]); k++) {
            jsonwrite_key(b, incident_copied[k]);
            jsonwrite_value(b, json_object_get(st, incident_copied[k]), 0);
        }
        jsonwrite_key(b, "state");
        incident_row_state(b, st);
        jsonwrite_char(b, '}');
    }
    jsonwrite_char(b, '\n');
}
