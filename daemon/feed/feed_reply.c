/* feed_reply.c: builds the one-line replies of feed contract v1. */
#include "feed/feed_reply.h"
#include "util/jsonwrite.h"

#include <stdlib.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *feed_reply_error(const char *status, const char *event_id, const char *incident_id, const char *code,
                    const char *message, const char *field)
{
    json_t *err = json_pack("{s:s, s:s}", "code", code, "message", message ? message : code);
    if (field && *field)
        json_object_set_new(err, "field", json_string(field));
    json_t *r = json_object();
    json_object_set_new(r, "v", json_integer(1));
    json_object_set_new(r, "event_id", str_or_null(event_id));
    json_object_set_new(r, "status", json_string(status));
    json_object_set_new(r, "error", err);
    json_object_set_new(r, "incident_id", str_or_null(incident_id));
    return r;
}

json_t *feed_reply_from_error(const struct feed_event_error *err)
{
    static const char *const retry_codes[] = {"db_unavailable", "overloaded", "shutting_down", "no_sync_standby"};
    const char *status = "rejected";
    for (size_t i = 0; i < sizeof(retry_codes) / sizeof(retry_codes[0]); i++)
        if (strcmp(err->code, retry_codes[i]) == 0)
            status = "retry";
    return feed_reply_error(status, err->event_id, err->incident_id, err->code, err->message, err->field);
}

json_t *feed_reply_outcome(const char *status, const char *event_id, const char *incident_id, const json_t *body)
{
    static const char *const keys[] = {"crimes", "decisions", "pending", "warnings"};
    json_t *r = json_object();
    json_object_set_new(r, "v", json_integer(1));
    json_object_set_new(r, "event_id", str_or_null(event_id));
    json_object_set_new(r, "status", json_string(status));
    json_object_set_new(r, "incident_id", str_or_null(incident_id));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(body, keys[i]);
        json_object_set_new(r, keys[i], json_is_array(v) ? json_incref(v) : json_array());
    }
    json_t *rules = json_object_get(body, "rules");
    json_object_set_new(r, "rules", rules ? json_incref(rules) : json_null());
    return r;
}

char *feed_reply_line(const json_t *reply, size_t *len)
{
    char *s = jsonwrite_dumps(reply, 0);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (!line) {
        free(s);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *len = n + 1;
    return line;
}
