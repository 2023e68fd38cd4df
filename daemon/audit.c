/* audit.c: the canonical text of audit entries, as the database hashes and stores it. */
#include "audit.h"

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
        jsonx_char(&b, '\n');
    }
    return jsonx_take(&b, NULL);
}
