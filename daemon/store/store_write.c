/* store_write.c: the write path's statement parameters: the decided batch's rows (events,
 * incidents, crimes, pending decisions, audit lines) and the id arrays round trip 1 reads by. */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "service/sources.h"
#include "store/incident.h"
#include "store/incident_members.h"
#include "store/store_persons.h"
#include "store/store_int.h"
#include "util/pgtext.h"

void store_write_init(struct store_write *w, const char *ruleset_sha256, const struct ruleset *rs)
{
    memset(w, 0, sizeof(*w));
    w->ruleset_sha256 = ruleset_sha256;
    w->rs = rs;
    jsonwrite_char(&w->crimes, '[');
    jsonwrite_char(&w->pending, '[');
    jsonwrite_char(&w->persons, '[');
    struct timeval now;
    gettimeofday(&now, NULL);
    audit_at((int64_t)now.tv_sec * 1000 + now.tv_usec / 1000, w->at);
    w->touched = json_object();
    w->touched_members = json_object();
}

void store_write_clear(struct store_write *w)
{
    jsonwrite_buf_free(&w->events);
    jsonwrite_buf_free(&w->incidents);
    jsonwrite_buf_free(&w->new_incidents);
    jsonwrite_buf_free(&w->crimes);
    jsonwrite_buf_free(&w->pending);
    jsonwrite_buf_free(&w->audit);
    jsonwrite_buf_free(&w->persons);
    jsonwrite_buf_free(&w->changed);
    jsonwrite_buf_free(&w->link_from);
    jsonwrite_buf_free(&w->link_to);
    jsonwrite_buf_free(&w->members);
    json_decref(w->touched);
    w->touched = NULL;
    json_decref(w->touched_members);
    w->touched_members = NULL;
}

static void text_array_add(struct jsonwrite_buf *b, const char *v);
static char *text_array_end(struct jsonwrite_buf *b);

/* An array member, or [] when it is missing. */
static void write_array(struct jsonwrite_buf *b, const char *key, const json_t *v)
{
    jsonwrite_key(b, key);
    if (json_is_array(v))
        jsonwrite_value(b, v, 0);
    else
        jsonwrite_raw(b, "[]", 2);
}

/* A crime or pending decision as a row: its members, its incident, flags and rules as arrays. A
 * crime row (state given: its incident's) also carries its victim's `ref` as victim_ref. */
static void write_row(struct jsonwrite_buf *b, const json_t *obj, const char *incident_id, const json_t *state)
{
    jsonwrite_sep(b);
    jsonwrite_char(b, '{');
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (strcmp(k, "flags") == 0 || strcmp(k, "rules") == 0 || strcmp(k, "incident_id") == 0)
            continue;
        jsonwrite_key(b, k);
        jsonwrite_value(b, v, 0);
    }
    jsonwrite_key(b, "incident_id");
    jsonwrite_cstr(b, incident_id);
    write_array(b, "flags", json_object_get(obj, "flags"));
    write_array(b, "rules", json_object_get(obj, "rules"));
    if (state) {
        jsonwrite_key(b, "victim_ref");
        jsonwrite_cstr(b, incident_person_ref(state, json_string_value(json_object_get(obj, "victim"))));
    }
    jsonwrite_char(b, '}');
}

void store_write_audit(struct store_write *w, const json_t *entry, const struct audit_override *o)
{
    audit_line(&w->audit, entry, o, w->at);
}

void store_write_touch(struct store_write *w, const char *incident_id)
{
    json_object_set_new(w->touched, incident_id, json_true());
}

void store_write_event(struct store_write *w, const struct store_item *it, const json_t *body, const json_t *outcome)
{
    const struct feed_event *ev = &it->ev;
    struct jsonwrite_buf *b = &w->events;
    const char *at = json_string_value(json_object_get(ev->doc, "at"));
    const char *fields[] = {ev->event_id, ev->incident_id, NULL, feed_event_type_name(ev->type), at ? at : "", ev->canon};
    for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
        if (fields[k])
            jsonwrite_raw(b, fields[k], strlen(fields[k]));
        else
            jsonwrite_int(b, ev->seq);
        jsonwrite_char(b, '\t');
    }
    jsonwrite_value(b, body, 0);
    jsonwrite_char(b, '\t');
    /* a source name is [A-Za-z0-9_.-] (service/sources.h): a plain field */
    const char *source = ev->source ? ev->source : SOURCES_DEFAULT;
    jsonwrite_raw(b, source, strlen(source));
    jsonwrite_char(b, '\n');
    size_t i;
    json_t *v;
    /* the rules' entries, with their incident, event, actor and rule set (version and hash) */
    const struct audit_override o = {ev->incident_id, ev->event_id, "rules", "rules",
                                     json_string_value(json_object_get(outcome, "rules")), w->ruleset_sha256};
    json_array_foreach(json_object_get(outcome, "audit"), i, v)
        store_write_audit(w, v, &o);
    store_write_touch(w, ev->incident_id);
    /* the persons and allegations it names: the only members of its incident it can change */
    if (!w->touched_members || incident_members_touch(w->touched_members, ev->incident_id, ev->doc) != 0)
        w->lost = true;
    /* its same_report links, so that the report a link names finds the linking one */
    json_array_foreach(json_object_get(ev->doc, "links"), i, v)
    {
        const char *to = json_string_value(json_object_get(v, "incident_id"));
        const char *rel = json_string_value(json_object_get(v, "relation"));
        if (to && rel && strcmp(rel, "same_report") == 0) {
            text_array_add(&w->link_from, ev->incident_id);
            text_array_add(&w->link_to, to);
        }
    }
}

/* Rows for the final state of every incident the batch changed: updates of the rows the batch
 * locked (`existing`), inserts of the others. */
static void write_incidents(struct store_write *w, json_t *states, const json_t *existing)
{
    const char *id;
    json_t *unused;
    json_object_foreach(w->touched, id, unused)
    {
        json_t *st = json_object_get(states, id);
        incident_row_line(json_object_get(existing, id) ? &w->incidents : &w->new_incidents, id, st);
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(st, "crimes"), i, c)
            write_row(&w->crimes, c, id, st);
        json_array_foreach(json_object_get(st, "pending"), i, c)
            write_row(&w->pending, c, id, NULL);
        /* the incident's person index rows, replacing those it had (SQL_PERSONS_WRITE) */
        text_array_add(&w->changed, id);
        json_t *rows = store_persons_rows(id, st, w->rs, false);
        json_array_foreach(rows, i, c) {
            jsonwrite_sep(&w->persons);
            jsonwrite_value(&w->persons, c, 0);
        }
        json_decref(rows);
        /* the rows of the members the batch changed (SQL_WRITE's `mb`) */
        incident_members_rows(&w->members, id, st, json_object_get(w->touched_members, id));
    }
}

bool store_write_params(struct store_write *w, json_t *states, const json_t *existing, char *p[STORE_WRITE_NPARAMS])
{
    write_incidents(w, states, existing);
    jsonwrite_char(&w->crimes, ']');
    jsonwrite_char(&w->pending, ']');
    jsonwrite_char(&w->persons, ']');
    bool lost = w->lost;
    p[0] = jsonwrite_take(&w->events, NULL);
    p[1] = jsonwrite_take(&w->incidents, NULL);
    p[2] = jsonwrite_take(&w->crimes, NULL);
    p[3] = jsonwrite_take(&w->pending, NULL);
    p[4] = jsonwrite_take(&w->new_incidents, NULL);
    p[5] = jsonwrite_take(&w->audit, NULL);
    p[6] = text_array_end(&w->changed);
    p[7] = jsonwrite_take(&w->persons, NULL);
    p[8] = text_array_end(&w->link_from);
    p[9] = text_array_end(&w->link_to);
    p[10] = jsonwrite_take(&w->members, NULL);
    store_write_clear(w);
    bool complete = !lost;
    for (int i = 0; i < STORE_WRITE_NPARAMS; i++)
        complete = complete && p[i];
    return complete;
}

/* One element of a PostgreSQL text[] literal (ids hold no control characters). */
static void text_array_add(struct jsonwrite_buf *b, const char *v)
{
    if (!v)
        return;
    jsonwrite_char(b, b->len == 0 ? '{' : ',');
    pgtext_array_elem(b, v, strlen(v));
}

static char *text_array_end(struct jsonwrite_buf *b)
{
    if (b->len == 0)
        jsonwrite_char(b, '{');
    jsonwrite_char(b, '}');
    return jsonwrite_take(b, NULL);
}

char *store_write_ids(struct store_item *const *b, size_t n, bool incidents)
{
    struct jsonwrite_buf out = {0};
    for (size_t i = 0; i < n; i++)
        text_array_add(&out, incidents ? b[i]->ev.incident_id : b[i]->ev.event_id);
    return text_array_end(&out);
}

char *store_write_link_ids(struct store_item *const *b, size_t n, bool own)
{
    struct jsonwrite_buf out = {0};
    for (size_t i = 0; i < n; i++) {
        /* openings too: a batch that reads first creates every row it writes before it takes any
         * ref lock (see SQL_INCIDENTS_CREATE) */
        if (own)
            text_array_add(&out, b[i]->ev.incident_id);
        size_t j;
        json_t *l;
        json_array_foreach(json_object_get(b[i]->ev.doc, "links"), j, l)
            text_array_add(&out, json_string_value(json_object_get(l, "incident_id")));
        json_array_foreach(json_object_get(b[i]->act, "links"), j, l)
            text_array_add(&out, json_string_value(l));
    }
    return text_array_end(&out);
}

char *store_write_refs(struct store_item *const *b, size_t n)
{
    struct jsonwrite_buf out = {0};
    for (size_t i = 0; i < n; i++)
        if (!b[i]->act)
            store_persons_victim_refs(&out, b[i]->ev.doc, NULL);
    return text_array_end(&out);
}
