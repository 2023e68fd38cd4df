/* api_routes.c: the supervisor API's route table and its read handlers. Every handler validates
 * its input before it touches the database and answers through the asynchronous queue. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/access_log.h"
#include "api/api_access_list.h"
#include "api/api_audits.h"
#include "api/api_events.h"
#include "api/api_int.h"
#include "api/api_metrics.h"
#include "api/api_report.h"
#include "api/api_rulesets.h"
#include "api/api_subjects.h"
#include "api/api_stream.h"
#include "api/api_ui.h"
#include "api/api_retention.h"
#include "api/api_whatif.h"
#include "api/api_write.h"
#include "store/incident.h"
#include "store/store.h"
#include "util/timefmt.h"

/* RFC 3339 in UTC, as the feed writes times. */
#define SQL_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
/* Audit times keep milliseconds: they are part of the hashed entry text. */
#define SQL_TS_MS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* An entry's before or after with its personal values' plaintext in place of their digests while
 * audit_personal holds it, "[redacted]" after (sql/0020_audit_personal.sql). */
#define SQL_AUDIT_SHOWN(col) \
    "audit_pd_merge(" col ", (SELECT p.vals FROM audit_personal p WHERE p.audit_id = a.id))"
/* The salt and digested texts, so that a reader (fcrctl audit verify) can recheck each digest. */
#define SQL_AUDIT_PERSONAL \
    "(SELECT json_build_object('salt', p.salt, 'values', p.vals) FROM audit_personal p WHERE p.audit_id = a.id)"

#define SQL_AUDIT_ITEM                                                                                       \
    "json_build_object('id', a.id, 'at', " SQL_TS_MS("a.at") ", 'actor', a.actor, 'role', a.role,"          \
    " 'action', a.action, 'incident_id', a.incident_id, 'crn', a.crn, 'pending_id', a.pending_id,"          \
    " 'allegation', a.allegation, 'event_id', a.event_id, 'before', " SQL_AUDIT_SHOWN("a.before") ","    \
    " 'after', " SQL_AUDIT_SHOWN("a.after") ","                                                             \
    " 'rules', to_json(a.rules), 'ruleset', a.ruleset, 'ruleset_sha256', a.ruleset_sha256,"                  \
    " 'chain', a.chain, 'prev_hash', a.prev_hash,"                                                          \
    " 'hash', a.hash, 'entry', a.entry, 'personal', " SQL_AUDIT_PERSONAL ")"

#define LIMIT_MAX 1000

/* ---- small helpers -------------------------------------------------------------------------- */

static const char *param(const json_t *params, const char *key)
{
    return json_string_value(json_object_get(params, key));
}

/* A positive integer parameter within [1, max], or def when absent; -1 (400 sent) when bad. */
static long int_param(struct evhttp_request *req, const json_t *params, const char *key, long def, long max)
{
    const char *v = param(params, key);
    if (!v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 1 || n > max) {
        char msg[96];
        snprintf(msg, sizeof(msg), "must be a whole number from 1 to %ld", max);
        api_error(req, 400, "bad_query", msg, key);
        return -1;
    }
    return n;
}

static bool text_ok(struct evhttp_request *req, const char *v, const char *key, size_t max)
{
    if (!v)
        return true;
    if (*v && strlen(v) <= max)
        return true;
    char msg[96];
    snprintf(msg, sizeof(msg), "must be 1 to %zu characters", max);
    api_error(req, 400, "bad_query", msg, key);
    return false;
}

/* Rows of one JSON text column -> {items: [...], next} (new reference). cursor_col (or -1) holds
 * each row's cursor; a row beyond `limit` means there is a next page. */
static json_t *page_build(const PGresult *res, long limit, int cursor_col)
{
    json_t *items = json_array();
    int n = PQntuples(res);
    int shown = n > limit ? (int)limit : n;
    for (int i = 0; i < shown; i++) {
        json_t *it = api_db_json(res, i, 0);
        if (it)
            json_array_append_new(items, it);
    }
    json_t *next = json_null();
    if (n > limit && shown > 0 && cursor_col >= 0)
        next = json_string(PQgetvalue(res, shown - 1, cursor_col));
    return json_pack("{s:o, s:o}", "items", items, "next", next);
}

/* ---- health --------------------------------------------------------------------------------- */

static void handle_healthz(struct api *a, const struct api_call *call)
{
    (void)a;
    api_send_json(call->req, 200, json_pack("{s:s}", "status", "ok"));
}

static void handle_readyz(struct api *a, const struct api_call *call)
{
    struct store *st = api_store(a);
    /* The access log's connection too: without it every read of personal data is refused. */
    bool ready = store_db_up(st) && !store_hold(st) && api_db_up(a) && access_log_up(api_access_log(a)) &&
                 store_backlog(st) <= api_ready_backlog(a) && !api_draining(a);
    api_send_json(call->req, ready ? 200 : 503, json_pack("{s:s}", "status", ready ? "ready" : "not_ready"));
}

/* ---- incidents ------------------------------------------------------------------------------ */

/* Whether incident INC (an SQL expression) names a repeat victim: a victim ref of its person index
 * rows (sql/0012_person_index.sql) that at least $N incidents name as victim, with allegations
 * (or, without a time, reports) no more than $W milliseconds before that ref's latest. $N NULL:
 * the rule set does not ask (persons.repeat_victim). OFFSET 0 keeps the EXISTS a per-row lookup
 * through the person index's two indexes: without it PostgreSQL may instead hash the whole set of
 * victim rows that qualify, counting every ref's incidents in the table to answer one page of
 * the queue (measured at 200 ms with 20,000 rows, and growing with the index). */
#define SQL_REPEAT_VICTIM(INC, N, W)                                                                             "(" N "::int IS NOT NULL AND EXISTS (SELECT 1 FROM person_index v WHERE v.incident_id = " INC                " AND v.role = 'victim' AND (SELECT count(DISTINCT o.incident_id) FROM person_index o"                       "  WHERE o.ref = v.ref AND o.role = 'victim' AND COALESCE(o.occurred_at, o.reported_at) >="                  "  (SELECT max(COALESCE(m.occurred_at, m.reported_at)) FROM person_index m"                                  "   WHERE m.ref = v.ref AND m.role = 'victim') - " W "::bigint * interval '1 millisecond') >= " N " OFFSET 0))"

/* The repeat-victim parameters of the rule set as text ($N, $W above; NULL when not asked). */
static void repeat_params(const struct api *a, char n[24], char w[24], const char **pn, const char **pw)
{
    const struct ruleset *rs = api_ruleset(a);
    const struct ruleset_persons *pp = rs ? ruleset_persons(rs) : NULL;
    *pn = *pw = NULL;
    if (!pp || !pp->repeat_rule)
        return;
    snprintf(n, 24, "%d", pp->repeat_incidents);
    snprintf(w, 24, "%lld", (long long)pp->repeat_window_ms);
    *pn = n;
    *pw = w;
}

static json_t *incident_build(struct evhttp_request *req, const PGresult *res, void *arg)
{
    (void)arg;
    if (PQntuples(res) != 1) {
        api_error(req, 404, "not_found", "no such incident", NULL);
        return NULL;
    }
    json_t *state = api_db_json(res, 0, 0);
    if (!state) {
        api_error(req, 500, "internal", "the stored incident state cannot be read", NULL);
        return NULL;
    }
    json_t *view = incident_view(state);
    json_decref(state);
    json_object_set_new(view, "repeat_victim", json_boolean(PQgetvalue(res, 0, 1)[0] == 't'));
    return view;
}

static void handle_incident(struct api *a, const struct api_call *call)
{
    char n[24], w[24];
    const char *p[3] = {api_call_param(call, "incident_id"), NULL, NULL};
    repeat_params(a, n, w, &p[1], &p[2]);
    api_read_logged(a, call, NULL,
                    "SELECT incident_doc(incident_id, state), " SQL_REPEAT_VICTIM("$1", "$2", "$3")
                    " FROM incidents WHERE incident_id = $1 AND state IS NOT NULL",
                    3, p, incident_build, NULL, NULL);
}

/* ---- pending decisions ---------------------------------------------------------------------- */

/* A page of open decisions as plain columns (0 id, 1 incident_id, 2 reason, 3 opened_at and 4 due
 * in microseconds since the epoch, 5 overdue, 6 flags as JSON, 7 victim, 8 candidate_offence,
 * 9 allegation, 10 repeat_victim): fcrd builds each item itself. Building the objects and
 * formatting their times in the query cost PostgreSQL twice what finding the page does. */
#define SQL_PENDING                                                                                          \
    "SELECT id, incident_id, reason, (extract(epoch FROM opened_at) * 1000000)::bigint,"                     \
    " (extract(epoch FROM due) * 1000000)::bigint, due < now(), to_json(flags)::text, victim,"               \
    " candidate_offence, allegation, "                                                                       \
    SQL_REPEAT_VICTIM("pending_decisions.incident_id", "$7", "$8")                                          \
    " FROM pending_decisions WHERE status = 'open'"                                                          \
    " AND ($1::text IS NULL OR reason = $1) AND ($2::text IS NULL OR $2 = ANY(flags))"                       \
    " AND (NOT $3::boolean OR due < now())"                                                                  \
    " AND ($4::timestamptz IS NULL OR (due, id) > ($4::timestamptz, $5::text))"                              \
    " ORDER BY due, id LIMIT $6::int + 1"

/* A time in microseconds since the epoch (a bigint column) as RFC 3339 UTC: to the second, or with
 * its six digits of microseconds (a page cursor, which must name a decision's due exactly). */
static void pending_time(const char *us_text, bool micro, char out[TIMEFMT_LEN + 8])
{
    long long us = strtoll(us_text, NULL, 10);
    long long sec = us / 1000000, frac = us % 1000000;
    if (frac < 0) { /* before 1970: floor, not truncate */
        sec--;
        frac += 1000000;
    }
    char buf[TIMEFMT_LEN];
    timefmt_format((int64_t)sec * 1000, buf); /* whole seconds: "...SSZ" */
    if (micro)
        snprintf(out, TIMEFMT_LEN + 8, "%.*s.%06lldZ", (int)strlen(buf) - 1, buf, frac);
    else
        snprintf(out, TIMEFMT_LEN + 8, "%s", buf);
}

/* A text column, or JSON null when the column is NULL. */
static json_t *pending_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

static json_t *pending_build(struct evhttp_request *req, const PGresult *res, void *arg)
{
    long limit = (long)(intptr_t)arg;
    int n = PQntuples(res);
    int shown = n > limit ? (int)limit : n;
    json_t *items = json_array();
    for (int i = 0; i < shown; i++) {
        char opened[TIMEFMT_LEN + 8], due[TIMEFMT_LEN + 8];
        pending_time(PQgetvalue(res, i, 3), false, opened);
        pending_time(PQgetvalue(res, i, 4), false, due);
        json_t *flags = api_db_json(res, i, 6);
        json_t *it = json_object();
        json_object_set_new(it, "id", pending_text(res, i, 0));
        json_object_set_new(it, "incident_id", pending_text(res, i, 1));
        json_object_set_new(it, "reason", pending_text(res, i, 2));
        json_object_set_new(it, "opened_at", json_string(opened));
        json_object_set_new(it, "due", json_string(due));
        json_object_set_new(it, "overdue", json_boolean(strcmp(PQgetvalue(res, i, 5), "t") == 0));
        json_object_set_new(it, "flags", flags ? flags : json_array());
        json_object_set_new(it, "victim", pending_text(res, i, 7));
        json_object_set_new(it, "candidate_offence", pending_text(res, i, 8));
        json_object_set_new(it, "allegation", pending_text(res, i, 9));
        json_object_set_new(it, "repeat_victim", json_boolean(strcmp(PQgetvalue(res, i, 10), "t") == 0));
        json_array_append_new(items, it);
    }
    json_t *next = json_null();
    if (n > limit && shown > 0) {
        /* the cursor: the last item's due, to the microsecond, and id */
        char due[TIMEFMT_LEN + 8];
        pending_time(PQgetvalue(res, shown - 1, 4), true, due);
        next = json_sprintf("%s|%s", due, PQgetvalue(res, shown - 1, 0));
        if (!next) { /* memory ran out: no page rather than one that claims to be the last */
            json_decref(items);
            api_error(req, 500, "internal", "the request could not be answered", NULL);
            return NULL;
        }
    }
    return json_pack("{s:o, s:o}", "items", items, "next", next);
}

static void handle_pending(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    static const char *const allowed[] = {"overdue", "flag", "reason", "limit", "after", NULL};
    json_t *params = api_query_params(req, allowed);
    if (!params)
        return;
    long limit = int_param(req, params, "limit", 100, LIMIT_MAX);
    const char *overdue = param(params, "overdue");
    const char *after = param(params, "after");
    char due[64] = "", id[128] = "";
    bool ok = limit > 0 && text_ok(req, param(params, "flag"), "flag", 64) &&
              text_ok(req, param(params, "reason"), "reason", 64);
    if (ok && overdue && strcmp(overdue, "true") != 0 && strcmp(overdue, "false") != 0) {
        api_error(req, 400, "bad_query", "must be true or false", "overdue");
        ok = false;
    }
    if (ok && after) {
        const char *bar = strchr(after, '|');
        if (!bar || bar == after || (size_t)(bar - after) >= sizeof(due) || strlen(bar + 1) >= sizeof(id) ||
            !bar[1]) {
            api_error(req, 400, "bad_query", "not a cursor returned by this endpoint", "after");
            ok = false;
        } else {
            memcpy(due, after, (size_t)(bar - after));
            snprintf(id, sizeof(id), "%s", bar + 1);
            int64_t ms;
            if (!timefmt_parse(due, &ms)) {
                api_error(req, 400, "bad_query", "not a cursor returned by this endpoint", "after");
                ok = false;
            }
        }
    }
    if (ok) {
        char lim[24];
        snprintf(lim, sizeof(lim), "%ld", limit);
        char n[24], w[24];
        const char *p[8] = {param(params, "reason"), param(params, "flag"),
                            overdue && strcmp(overdue, "true") == 0 ? "true" : "false",
                            after ? due : NULL, after ? id : NULL, lim, NULL, NULL};
        repeat_params(a, n, w, &p[6], &p[7]);
        api_read_logged(a, call, NULL, SQL_PENDING, 8, p, pending_build, (void *)(intptr_t)limit, NULL);
    }
    json_decref(params);
}

/* ---- crimes --------------------------------------------------------------------------------- */

#define SQL_CRIME                                                                                            \
    "SELECT json_build_object('crn', c.crn, 'incident_id', c.incident_id, 'offence', c.offence,"             \
    " 'victim', c.victim, 'status', c.status, 'flags', to_json(c.flags),"                                    \
    " 'recorded_at', " SQL_TS("c.recorded_at") ", 'rules', to_json(c.rules), 'ruleset', c.ruleset,"          \
    " 'history', (SELECT coalesce(json_agg(" SQL_AUDIT_ITEM " ORDER BY a.id), '[]'::json)"                   \
    "  FROM audit a WHERE a.crn = c.crn))::text FROM crimes c WHERE c.crn = $1"

static json_t *crime_build(struct evhttp_request *req, const PGresult *res, void *arg)
{
    (void)arg;
    if (PQntuples(res) != 1) {
        api_error(req, 404, "not_found", "no such crime", NULL);
        return NULL;
    }
    json_t *c = api_db_json(res, 0, 0);
    if (!c)
        api_error(req, 500, "internal", "bad row", NULL);
    return c;
}

static void handle_crime(struct api *a, const struct api_call *call)
{
    const char *p[1] = {api_call_param(call, "crn")};
    api_read_logged(a, call, NULL, SQL_CRIME, 1, p, crime_build, NULL, NULL);
}

/* ---- audit ---------------------------------------------------------------------------------- */

#define SQL_AUDIT_SELECT                                                                                     \
    "SELECT " SQL_AUDIT_ITEM "::text, a.id::text FROM audit a"                                               \
    " WHERE ($1::text IS NULL OR a.incident_id = $1) AND ($2::text IS NULL OR a.crn = $2)"                   \
    " AND a.id > $3::bigint"

/* One incident's entries (and so one crime's) are committed in id order: the batches that write
 * them hold the incident in turn, each until its COMMIT. */
#define SQL_AUDIT SQL_AUDIT_SELECT " ORDER BY a.id LIMIT $4::int + 1"

/* The whole trail is listed in id order too, but across chains ids are not drawn in commit order:
 * an append to one chain may commit after another chain's entries with higher ids. A page must
 * not show an entry while one with a lower id may still commit, or a reader paging with `after`
 * would skip that one for good. Every append holds, from before it draws its ids until its
 * transaction ends, a shared advisory lock keyed by the sequence's last value at that moment, a
 * bound below its ids (sql/0007_audit_chains.sql). So, first, the horizon: the lowest such key
 * held now, or failing that the highest id committed; then, in a later snapshot, the page lists
 * nothing above the horizon. An id not committed by then belongs to a transaction that either
 * held its lock when the horizon was read (so the horizon is below the id), or took it
 * afterwards (so the id is above every id committed when the horizon was read). */
#define SQL_AUDIT_HORIZON                                                                                    \
    "SELECT set_config('fcrd.audit_horizon', least((SELECT coalesce(max(id), 0) FROM audit),"                \
    " (SELECT min((l.classid::bigint << 32) | l.objid::bigint) FROM pg_locks l"                              \
    "  WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.mode = 'ShareLock'"                            \
    "  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())))::text, false)"

#define SQL_AUDIT_ALL                                                                                        \
    SQL_AUDIT_SELECT " AND a.id <= current_setting('fcrd.audit_horizon')::bigint ORDER BY a.id LIMIT $4::int + 1"

static json_t *audit_build(struct evhttp_request *req, const PGresult *res, void *arg)
{
    (void)req;
    return page_build(res, (long)(intptr_t)arg, 1);
}

static void handle_audit(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    static const char *const allowed[] = {"incident_id", "crn", "after", "limit", NULL};
    json_t *params = api_query_params(req, allowed);
    if (!params)
        return;
    long limit = int_param(req, params, "limit", 100, LIMIT_MAX);
    const char *after = param(params, "after");
    bool ok = limit > 0 && text_ok(req, param(params, "incident_id"), "incident_id", 64) &&
              text_ok(req, param(params, "crn"), "crn", 64);
    if (ok && after) {
        char *end;
        errno = 0;
        long long v = strtoll(after, &end, 10);
        if (!*after || *end || v < 0 || errno == ERANGE) {
            api_error(req, 400, "bad_query", "not a cursor returned by this endpoint", "after");
            ok = false;
        }
    }
    if (ok) {
        char lim[24];
        snprintf(lim, sizeof(lim), "%ld", limit);
        const char *p[4] = {param(params, "incident_id"), param(params, "crn"), after ? after : "0", lim};
        if (p[0] || p[1])
            api_read_logged(a, call, NULL, SQL_AUDIT, 4, p, audit_build, (void *)(intptr_t)limit, NULL);
        else
            api_read_logged(a, call, SQL_AUDIT_HORIZON, SQL_AUDIT_ALL, 4, p, audit_build, (void *)(intptr_t)limit,
                            NULL);
    }
    json_decref(params);
}

/* ---- the table ------------------------------------------------------------------------------ */

/* API_ROUTE_PERSONAL marks the rows whose replies carry personal data: each is written to the
 * access log before it is sent (api_access.h); their handlers read through api_read_logged.
 * Path parameters are ids of the feed (at most 64 characters; the incident's events were always
 * counted in characters, the others in bytes). Incident ids and CRNs may hold '/' unencoded;
 * pending ids and file names may not. A row listed earlier wins: an incident's events before the
 * incident. proto/openapi.yaml lists the same rows (tests/integration/test_api.py compares). */
const struct api_route api_routes[] = {
    {EVHTTP_REQ_GET, "/healthz", ROLE_NONE, handle_healthz, 0, 0, NULL},
    {EVHTTP_REQ_GET, "/readyz", ROLE_NONE, handle_readyz, 0, 0, NULL},
    {EVHTTP_REQ_GET, "/metrics", ROLE_OPS, api_get_metrics, 0, 0, NULL},
    {EVHTTP_REQ_GET, "/v1/incidents/{incident_id}/events", ROLE_AUDITOR, api_events_get, 64,
     API_ROUTE_CHARS | API_ROUTE_PERSONAL, "no such incident"},
    {EVHTTP_REQ_GET, "/v1/incidents/{incident_id}", ROLE_AUDITOR, handle_incident, 64, API_ROUTE_PERSONAL,
     "no such incident"},
    {EVHTTP_REQ_GET, "/v1/pending", ROLE_AUDITOR, handle_pending, 0, API_ROUTE_PERSONAL, NULL},
    {EVHTTP_REQ_GET, "/v1/crimes/{crn}", ROLE_AUDITOR, handle_crime, 64, API_ROUTE_PERSONAL, "no such crime"},
    {EVHTTP_REQ_GET, "/v1/audit", ROLE_AUDITOR, handle_audit, 0, API_ROUTE_PERSONAL, NULL},
    /* Server-sent events naming what changed (api_stream.c): whoever may read the queue. */
    {EVHTTP_REQ_GET, "/v1/stream", ROLE_AUDITOR, api_stream_get, 0, 0, NULL},
    {EVHTTP_REQ_GET, "/v1/reports/cdi", ROLE_AUDITOR, api_get_cdi, 0, 0, NULL},
    /* Data protection (api_access_list.c, api_subjects.c): who looked at what, and a subject
     * access export of everything held about one person. */
    {EVHTTP_REQ_GET, "/v1/access-log", ROLE_AUDITOR, api_access_list_get, 0, API_ROUTE_PERSONAL, NULL},
    {EVHTTP_REQ_GET, "/v1/subjects/{ref}", ROLE_FCR, api_subjects_get, 64, API_ROUTE_PERSONAL, "no such person"},
    /* Retention (api_retention.c): an FCR holds an incident's personal data, or runs retention. */
    {EVHTTP_REQ_POST, "/v1/incidents/{incident_id}/legal-hold", ROLE_FCR, api_retention_hold, 64, API_ROUTE_CHARS,
     "no such endpoint"},
    {EVHTTP_REQ_POST, "/v1/retention/run", ROLE_FCR, api_retention_run, 0, 0, NULL},
    /* Independent audits (api_audits.c): auditors draw samples and give verdicts. */
    {EVHTTP_REQ_GET, "/v1/audits", ROLE_AUDITOR, api_audits_list, 0, 0, NULL},
    {EVHTTP_REQ_POST, "/v1/audits", ROLE_AUDITOR, api_audits_post, 0, 0, NULL},
    {EVHTTP_REQ_GET, "/v1/audits/{id}", ROLE_AUDITOR, api_audits_get, 20, API_ROUTE_ONE_SEGMENT | API_ROUTE_PERSONAL,
     "no such audit"},
    {EVHTTP_REQ_POST, "/v1/audits/{id}/verdicts", ROLE_AUDITOR, api_audits_post_verdict, 20, API_ROUTE_ONE_SEGMENT,
     "no such audit"},
    /* The rule sets decisions name (api_rulesets.c). */
    {EVHTTP_REQ_GET, "/v1/rulesets", ROLE_AUDITOR, api_rulesets_list, 0, 0, NULL},
    {EVHTTP_REQ_GET, "/v1/rulesets/{sha256}", ROLE_AUDITOR, api_rulesets_get, 64, API_ROUTE_ONE_SEGMENT,
     "no such rule set"},
    {EVHTTP_REQ_POST, "/v1/pending/{id}/decision", ROLE_SUPERVISOR, api_post_decision, 64, API_ROUTE_ONE_SEGMENT,
     "no such endpoint"},
    {EVHTTP_REQ_POST, "/v1/crimes/{crn}/cancel", ROLE_DDM, api_post_cancel, 64, 0, "no such endpoint"},
    {EVHTTP_REQ_POST, "/v1/crimes/{crn}/reclassify", ROLE_DDM, api_post_reclassify, 64, 0, "no such endpoint"},
    {EVHTTP_REQ_POST, "/v1/whatif", ROLE_AUDITOR, api_post_whatif, 0, API_ROUTE_PERSONAL, NULL},
    /* The supervisor's page: "/" and its files under /ui/. */
    {EVHTTP_REQ_GET, "/", ROLE_NONE, api_ui_root, 0, 0, NULL},
    {EVHTTP_REQ_HEAD, "/", ROLE_NONE, api_ui_root, 0, 0, NULL},
    {EVHTTP_REQ_GET, "/ui/{file}", ROLE_NONE, api_ui_get, 123, API_ROUTE_ONE_SEGMENT, "no such file"},
    {EVHTTP_REQ_HEAD, "/ui/{file}", ROLE_NONE, api_ui_get, 123, API_ROUTE_ONE_SEGMENT, "no such file"},
};
const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

void api_routes_print(FILE *out)
{
    for (size_t i = 0; i < api_nroutes; i++)
        fprintf(out, "%s %s %s\n", api_route_method_name(api_routes[i].method), api_routes[i].pattern,
                role_name(api_routes[i].role));
}
