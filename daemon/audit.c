/* audit.c: the canonical text of audit entries, as the database hashes and stores it. */
#include "audit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonx.h"

const char *const audit_fields[] = {"action", "actor", "after", "allegation", "at", "before", "crn", "event_id",
                                    "incident_id", "pending_id", "role", "rules", "ruleset", NULL};

/* audit_fields is in byte order, so writing the fields in turn gives the sorted-keys text. */
static void audit_write(struct jsonx_buf *b, const json_t *entry)
{
    jsonx_char(b, '{');
    for (size_t k = 0; audit_fields[k]; k++) {
        jsonx_key(b, audit_fields[k]);
        jsonx_value(b, json_object_get(entry, audit_fields[k]), JSONX_SORT);
    }
    jsonx_char(b, '}');
}

/* The columns a line carries after its text, in audit_append's order: text columns as they are
 * (empty for null), the JSON ones (before, after, rules) as compact JSON. */
static const char *const audit_columns[] = {"at",       "incident_id", "crn",  "pending_id", "allegation",
                                            "event_id", "actor",       "role", "action",     "before",
                                            "after",    "rules",       "ruleset", NULL};

static bool audit_is_json_column(const char *name)
{
    return strcmp(name, "before") == 0 || strcmp(name, "after") == 0 || strcmp(name, "rules") == 0;
}

/* The rules as a PostgreSQL array literal, {"a","b"}, which the database reads without parsing
 * JSON (sql/0008_audit_append_lean.sql). Only when every rule is a string free of control
 * characters (so of tabs and newlines, which end a field or a line): otherwise false, and the
 * caller writes the JSON array, which the database also reads. */
static bool audit_write_rules_literal(struct jsonx_buf *b, const json_t *rules)
{
    size_t i;
    const json_t *r;
    json_array_foreach((json_t *)rules, i, r)
    {
        if (!json_is_string(r))
            return false;
        const char *s = json_string_value(r);
        for (size_t k = 0, n = json_string_length(r); k < n; k++)
            if ((unsigned char)s[k] < 0x20)
                return false;
    }
    jsonx_char(b, '{');
    json_array_foreach((json_t *)rules, i, r)
    {
        if (i > 0)
            jsonx_char(b, ',');
        jsonx_char(b, '"');
        const char *s = json_string_value(r);
        for (size_t k = 0, n = json_string_length(r); k < n; k++) {
            if (s[k] == '"' || s[k] == '\\')
                jsonx_char(b, '\\');
            jsonx_char(b, s[k]);
        }
        jsonx_char(b, '"');
    }
    jsonx_char(b, '}');
    return true;
}

/* The columns after the text, or nothing when a text column is not plain: the database then
 * reads every column from the text itself. */
static void audit_write_columns(struct jsonx_buf *b, const json_t *entry)
{
    for (size_t k = 0; audit_columns[k]; k++)
        if (!audit_is_json_column(audit_columns[k]) && !jsonx_field_plain(json_object_get(entry, audit_columns[k])))
            return;
    for (size_t k = 0; audit_columns[k]; k++) {
        const json_t *v = json_object_get(entry, audit_columns[k]);
        jsonx_char(b, '\t');
        if (strcmp(audit_columns[k], "rules") == 0 && json_is_array(v) && audit_write_rules_literal(b, v))
            continue;
        if (audit_is_json_column(audit_columns[k]))
            jsonx_value(b, v, 0);
        else if (json_is_string(v))
            jsonx_raw(b, json_string_value(v), json_string_length(v));
    }
}

char *audit_lines(json_t *entries, int64_t at_ms)
{
    /* Always with milliseconds, as the API prints audit times, so that the texts compare equal. */
    char at[96];
    time_t secs = (time_t)(at_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(at, sizeof(at), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(at_ms % 1000));
    struct jsonx_buf b = {0};
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        if (!json_object_get(e, "at"))
            json_object_set_new(e, "at", json_string(at));
        if (!json_is_array(json_object_get(e, "rules")))
            json_object_set_new(e, "rules", json_array());
        audit_write(&b, e);
        audit_write_columns(&b, e);
        jsonx_char(&b, '\n');
    }
    return jsonx_take(&b, NULL);
}
