/* audit.c: the canonical text of audit entries, as the database hashes and stores it. */
#include "store/audit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/jsonwrite.h"
#include "util/pgtext.h"

const char *const audit_fields[] = {"action", "actor", "after", "allegation", "at", "before", "crn", "event_id",
                                    "incident_id", "pending_id", "role", "rules", "ruleset", "ruleset_sha256",
                                    NULL};

enum audit_field {
    AF_ACTION, AF_ACTOR, AF_AFTER, AF_ALLEGATION, AF_AT, AF_BEFORE, AF_CRN, AF_EVENT_ID,
    AF_INCIDENT_ID, AF_PENDING_ID, AF_ROLE, AF_RULES, AF_RULESET, AF_RULESET_SHA256, AF_COUNT
};

/* The columns a line carries after its text, in audit_append's order: text columns as they are
 * (empty for null), before and after as JSON, rules as an array literal (or JSON). */
static const enum audit_field audit_columns[] = {AF_AT,       AF_INCIDENT_ID, AF_CRN,   AF_PENDING_ID, AF_ALLEGATION,
                                                 AF_EVENT_ID, AF_ACTOR,       AF_ROLE,  AF_ACTION,     AF_BEFORE,
                                                 AF_AFTER,    AF_RULES,       AF_RULESET,   AF_RULESET_SHA256};

static bool audit_is_json_column(enum audit_field f)
{
    return f == AF_BEFORE || f == AF_AFTER || f == AF_RULES;
}

/* The rules as a PostgreSQL array literal, {"a","b"}, which the database reads without parsing
 * JSON (sql/0008_audit_append_lean.sql). Only when every rule is a string free of control
 * characters (so of tabs and newlines, which end a field or a line): otherwise false, and the
 * caller writes the JSON array, which the database also reads. */
static bool audit_write_rules_literal(struct jsonwrite_buf *b, const json_t *rules)
{
    size_t i;
    const json_t *r;
    json_array_foreach((json_t *)rules, i, r)
    {
        size_t n = json_string_length(r);
        if (!json_is_string(r) || (n > 0 && !pgtext_plain(json_string_value(r), n)))
            return false; /* an empty rule is fine inside quotes */
    }
    jsonwrite_char(b, '{');
    json_array_foreach((json_t *)rules, i, r)
    {
        if (i > 0)
            jsonwrite_char(b, ',');
        pgtext_array_elem(b, json_string_value(r), json_string_length(r));
    }
    jsonwrite_char(b, '}');
    return true;
}

/* One field's value: an override (a C string) or the entry's member. */
struct audit_value {
    const char *str;  /* the override, when not NULL */
    const json_t *v;  /* else this (NULL: absent, written as null) */
};

static bool audit_value_plain(const struct audit_value *x)
{
    return x->str ? pgtext_plain(x->str, strlen(x->str)) : pgtext_field_plain(x->v);
}

/* The field a member's key names, or AF_COUNT for a key that is not part of the text. */
static enum audit_field audit_field_of(const char *key)
{
    for (size_t k = 0; k < AF_COUNT; k++)
        if (audit_fields[k][0] == key[0] && strcmp(audit_fields[k], key) == 0)
            return (enum audit_field)k;
    return AF_COUNT;
}

void audit_line(struct jsonwrite_buf *b, const json_t *entry, const struct audit_override *o, const char *at)
{
    /* One pass over the entry's members: an entry holds about half the fields, and looking up
     * all fourteen by hash costs more. */
    struct audit_value x[AF_COUNT] = {{NULL, NULL}};
    for (void *it = json_object_iter((json_t *)entry); it; it = json_object_iter_next((json_t *)entry, it)) {
        enum audit_field f = audit_field_of(json_object_iter_key(it));
        if (f < AF_COUNT)
            x[f].v = json_object_iter_value(it);
    }
    if (o) {
        x[AF_INCIDENT_ID].str = o->incident_id;
        x[AF_EVENT_ID].str = o->event_id;
        x[AF_ACTOR].str = o->actor;
        x[AF_ROLE].str = o->role;
        x[AF_RULESET].str = o->ruleset;
        x[AF_RULESET_SHA256].str = o->ruleset_sha256;
    }
    if (!x[AF_AT].v)
        x[AF_AT].str = at;
    if (!json_is_array(x[AF_RULES].v))
        x[AF_RULES].v = NULL; /* written as [] (and {} as a column) */

    /* The canonical text: audit_fields is in byte order, so writing them in turn gives sorted
     * keys. Where the JSON values start and end, so that their columns copy the same text. */
    size_t from[AF_COUNT] = {0}, to[AF_COUNT] = {0};
    jsonwrite_char(b, '{');
    for (size_t k = 0; k < AF_COUNT; k++) {
        /* the field names need no escaping: written as they are */
        jsonwrite_raw(b, k ? ",\"" : "\"", k ? 2 : 1);
        jsonwrite_raw(b, audit_fields[k], strlen(audit_fields[k]));
        jsonwrite_raw(b, "\":", 2);
        from[k] = b->len;
        if (x[k].str)
            jsonwrite_cstr(b, x[k].str);
        else if (k == AF_RULES && !x[k].v)
            jsonwrite_raw(b, "[]", 2);
        else
            jsonwrite_value(b, x[k].v, JSONWRITE_SORT);
        to[k] = b->len;
    }
    jsonwrite_char(b, '}');

    /* The columns, or nothing when a text column is not plain: the database then reads every
     * column from the text itself. before and after go as the text's JSON (sorted keys, which
     * jsonb does not keep anyway). */
    bool plain = !b->oom;
    for (size_t k = 0; plain && k < sizeof(audit_columns) / sizeof(audit_columns[0]); k++)
        plain = audit_is_json_column(audit_columns[k]) || audit_value_plain(&x[audit_columns[k]]);
    for (size_t k = 0; plain && k < sizeof(audit_columns) / sizeof(audit_columns[0]); k++) {
        enum audit_field f = audit_columns[k];
        jsonwrite_char(b, '\t');
        if (f == AF_RULES && audit_write_rules_literal(b, x[f].v))
            continue;
        if (audit_is_json_column(f))
            jsonwrite_again(b, from[f], to[f] - from[f]);
        else if (x[f].str)
            jsonwrite_raw(b, x[f].str, strlen(x[f].str));
        else if (json_is_string(x[f].v))
            jsonwrite_raw(b, json_string_value(x[f].v), json_string_length(x[f].v));
    }
    jsonwrite_char(b, '\n');
}

void audit_at(int64_t at_ms, char at[AUDIT_AT_SIZE])
{
    /* Always with milliseconds, as the API prints audit times, so that the texts compare equal. */
    time_t secs = (time_t)(at_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(at, AUDIT_AT_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(at_ms % 1000));
}

char *audit_lines(json_t *entries, int64_t at_ms)
{
    char at[AUDIT_AT_SIZE];
    audit_at(at_ms, at);
    struct jsonwrite_buf b = {0};
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
        audit_line(&b, e, NULL, at);
    return jsonwrite_take(&b, NULL);
}
