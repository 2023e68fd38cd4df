/* api_access_list.c: GET /v1/access-log: who looked at what, when and why, filtered by user,
 * incident, person ref and period, oldest first. */
#include "api/api_access_list.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timefmt.h"

#define ACCESS_LIST_LIMIT_MAX 1000

/* The log is one chain appended under its head's row lock, and each append draws its ids while
 * holding it: ids commit in id order, so a page after id N never misses one committed later. */
#define SQL_ACCESS_LIST                                                                                      \
    "SELECT json_build_object('id', l.id,"                                                                   \
    " 'at', to_char(l.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"                          \
    " 'user', l.user_id, 'role', l.role, 'client', l.client, 'method', l.method, 'route', l.route,"          \
    " 'path', l.path, 'incident_ids', to_json(l.incident_ids), 'crns', to_json(l.crns),"                     \
    " 'person_refs', to_json(l.person_refs), 'purpose', l.purpose, 'chain', 'access',"                       \
    " 'prev_hash', l.prev_hash, 'hash', l.hash, 'entry', l.entry)::text, l.id::text FROM access_log l"       \
    " WHERE ($1::text IS NULL OR l.user_id = $1) AND ($2::text IS NULL OR l.incident_ids @> ARRAY[$2::text])" \
    " AND ($3::text IS NULL OR l.person_refs @> ARRAY[$3::text])"                                           \
    " AND ($4::timestamptz IS NULL OR l.at >= $4::timestamptz)"                                              \
    " AND ($5::timestamptz IS NULL OR l.at < $5::timestamptz)"                                               \
    " AND l.id > $6::bigint ORDER BY l.id LIMIT $7::int + 1"

static json_t *api_access_list_build(struct evhttp_request *req, const PGresult *res, void *arg)
{
    (void)req;
    long limit = (long)(intptr_t)arg;
    json_t *items = json_array();
    int n = PQntuples(res);
    int shown = n > limit ? (int)limit : n;
    for (int i = 0; i < shown; i++) {
        json_t *it = api_db_json(res, i, 0);
        if (it)
            json_array_append_new(items, it);
    }
    json_t *next = n > limit && shown > 0 ? json_string(PQgetvalue(res, shown - 1, 1)) : json_null();
    return json_pack("{s:o, s:o}", "items", items, "next", next);
}

/* A date (YYYY-MM-DD: from its start; `end`: to its end) or an RFC 3339 time, as text for SQL. */
static bool api_access_list_time(const char *text, bool end, char out[TIMEFMT_LEN])
{
    int64_t ms;
    int y, m, d;
    char extra;
    if (strlen(text) == 10 && sscanf(text, "%4d-%2d-%2d%c", &y, &m, &d, &extra) == 3) {
        char full[32];
        snprintf(full, sizeof(full), "%sT00:00:00Z", text);
        if (!timefmt_parse(full, &ms))
            return false;
        if (end)
            ms += 24 * TIMEFMT_HOUR_MS;
    } else if (!timefmt_parse(text, &ms)) {
        return false;
    }
    timefmt_format(ms, out);
    return true;
}

void api_access_list_get(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    static const char *const allowed[] = {"user", "incident_id", "ref", "from", "to", "after", "limit", NULL};
    json_t *params = api_query_params(req, allowed);
    if (!params)
        return;
    const char *v[7];
    static const char *const names[] = {"user", "incident_id", "ref"};
    for (int i = 0; i < 3; i++) {
        v[i] = json_string_value(json_object_get(params, names[i]));
        if (v[i] && (!*v[i] || strlen(v[i]) > 128)) {
            api_error(req, 400, "bad_query", "must be 1 to 128 characters", names[i]);
            json_decref(params);
            return;
        }
    }
    char from[TIMEFMT_LEN], to[TIMEFMT_LEN];
    const char *f = json_string_value(json_object_get(params, "from"));
    const char *t = json_string_value(json_object_get(params, "to"));
    const char *bad = f && !api_access_list_time(f, false, from) ? "from"
                      : t && !api_access_list_time(t, true, to)  ? "to"
                                                                  : NULL;
    if (bad) {
        api_error(req, 400, "bad_query", "a date (YYYY-MM-DD) or an RFC 3339 time is required", bad);
        json_decref(params);
        return;
    }
    v[3] = f ? from : NULL;
    v[4] = t ? to : NULL;
    const char *after = json_string_value(json_object_get(params, "after"));
    char cursor[24] = "0";
    if (after) {
        char *end;
        errno = 0;
        long long id = strtoll(after, &end, 10);
        if (!*after || *end || errno || id < 0) {
            api_error(req, 400, "bad_query", "not a cursor returned by this endpoint", "after");
            json_decref(params);
            return;
        }
        snprintf(cursor, sizeof(cursor), "%lld", id);
    }
    const char *lim = json_string_value(json_object_get(params, "limit"));
    long limit = 100;
    if (lim) {
        char *end;
        errno = 0;
        limit = strtol(lim, &end, 10);
        if (!*lim || *end || errno || limit < 1 || limit > ACCESS_LIST_LIMIT_MAX) {
            api_error(req, 400, "bad_query", "must be a whole number from 1 to 1000", "limit");
            json_decref(params);
            return;
        }
    }
    char limtext[24];
    snprintf(limtext, sizeof(limtext), "%ld", limit);
    v[5] = cursor;
    v[6] = limtext;
    api_read_logged(a, call, NULL, SQL_ACCESS_LIST, 7, v, api_access_list_build, (void *)(intptr_t)limit, NULL);
    json_decref(params); /* the parameters were copied */
}
