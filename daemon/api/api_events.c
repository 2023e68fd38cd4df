/* api_events.c: GET /v1/incidents/{id}/events, an incident's events as received with their replies. */
#include "api/api_events.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_LIMIT_MAX 1000

/* One row for a known incident even when it has no events yet (then item is NULL), none for an
 * unknown one: that is what tells 404 from an empty list. `event` is the stored canonical body,
 * `reply` what the sender was answered when the event was first accepted. */
#define SQL_EVENTS                                                                                           \
    "SELECT e.item, e.seq::text FROM incidents i LEFT JOIN LATERAL ("                                        \
    " SELECT json_build_object('event_id', r.event_id, 'seq', r.seq, 'type', r.type,"                        \
    "  'at', to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"                         \
    "  'received_at', to_char(r.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"       \
    "  'event', r.body::json, 'reply', r.reply)::text AS item, r.seq"                                        \
    " FROM raw_events r WHERE r.incident_id = i.incident_id AND r.seq > $2::bigint"                          \
    " ORDER BY r.seq, r.event_id LIMIT $3::int + 1) e ON true"                                               \
    " WHERE i.incident_id = $1 AND i.state IS NOT NULL ORDER BY e.seq"

static json_t *api_events_build(struct evhttp_request *req, const PGresult *res, void *arg)
{
    long limit = (long)(intptr_t)arg;
    int n = PQntuples(res);
    if (n == 0) {
        api_error(req, 404, "not_found", "no such incident", NULL);
        return NULL;
    }
    json_t *items = json_array();
    int shown = 0;
    for (int i = 0; i < n && shown < limit; i++) {
        if (PQgetisnull(res, i, 0))
            continue;
        json_t *it = api_db_json(res, i, 0);
        if (!it) {
            json_decref(items);
            api_error(req, 500, "internal", "a stored event cannot be read", NULL);
            return NULL;
        }
        json_array_append_new(items, it);
        shown++;
    }
    /* A row beyond the limit means there is more: the last shown seq is the cursor. */
    json_t *next = json_null();
    if (n > limit && shown > 0)
        next = json_string(PQgetvalue(res, shown - 1, 1));
    return json_pack("{s:o, s:o}", "items", items, "next", next);
}

void api_events_get(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    const char *id = api_call_param(call, "incident_id");
    static const char *const allowed[] = {"after", "limit", NULL};
    json_t *params = api_query_params(req, allowed);
    if (!params)
        return;
    const char *after = json_string_value(json_object_get(params, "after"));
    const char *lim = json_string_value(json_object_get(params, "limit"));
    long limit = 100;
    char *end;
    if (lim) {
        errno = 0;
        limit = strtol(lim, &end, 10);
        if (!*lim || *end || errno || limit < 1 || limit > EVENTS_LIMIT_MAX) {
            json_decref(params);
            api_error(req, 400, "bad_query", "must be a whole number from 1 to 1000", "limit");
            return;
        }
    }
    char cursor[24] = "0";
    if (after) {
        errno = 0;
        long long seq = strtoll(after, &end, 10);
        if (!*after || *end || errno || seq < 0 || strlen(after) >= sizeof(cursor)) {
            json_decref(params);
            api_error(req, 400, "bad_query", "not a cursor returned by this endpoint", "after");
            return;
        }
        snprintf(cursor, sizeof(cursor), "%lld", seq);
    }
    json_decref(params);
    char limtext[24];
    snprintf(limtext, sizeof(limtext), "%ld", limit);
    const char *p[3] = {id, cursor, limtext};
    api_read_logged(a, call, NULL, SQL_EVENTS, 3, p, api_events_build, (void *)(intptr_t)limit, NULL);
}
