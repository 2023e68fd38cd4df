/* api_db.c: the API's database queues: reads spread over a small pool of connections, each held
 * to a statement timeout, and writes in order on a connection of their own. */
#include "api/api_db.h"

#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_access.h"
#include "api/api_int.h"
#include "service/metrics.h"
#include "store/pgconn.h"
#include "util/jsonparse.h"
#include "util/log.h"

#define API_MAX_PARAMS 8
#define API_DB_MAX_READS 64

/* Set in the same unit as each read, so a reload's new value applies to the next read, and a
 * read that was cancelled (its implicit transaction rolled back) leaves nothing behind. Each
 * Execute of a pipeline starts its own timer with the value then in force. */
#define SQL_READ_TIMEOUT "SELECT set_config('statement_timeout', $1, false)"

/* The SQLSTATE of a statement cancelled by statement_timeout (query_canceled). */
#define SQLSTATE_QUERY_CANCELED "57014"

/* A request waiting for the database. */
struct api_query {
    struct api *api;
    struct evhttp_request *req; /* NULL once the client has gone */
    const struct api_route *route; /* names the query in a log line (static table row) */
    enum api_db_kind kind;
    const char *pre;            /* a statement run first, in the same pipeline (or NULL) */
    const char *sql;
    int nparams;
    char *params[API_MAX_PARAMS];
    api_finish_fn finish;
    api_build_fn build;   /* instead of finish: a reply held until its access record is written */
    json_t *access;       /* the call's access record (build only; a reference) */
    void *arg;
    void (*arg_free)(void *); /* when finish (or build) is not called */
    bool finished;
    struct api_query *next;
};

/* One connection and the query it carries. */
struct api_db_conn {
    struct api_db *d;
    struct pgconn *pg;
    enum api_db_kind kind;
    struct api_query *inflight;
    int timeout_ms; /* the statement timeout sent with the query in flight (0: none) */
    char name[32];  /* in log lines */
    bool reopen;    /* a read connection to be reopened on d->read_conninfo when idle */
    struct event *reopen_ev; /* does it from the loop, never from the connection's own callback */
};

struct api_db {
    struct event_base *base;
    char *conninfo;
    char *read_conninfo;  /* where the read pool connects (api_db_set_read_conninfo); starts as conninfo */
    int connect_timeout_ms, schema, reconnect_max_ms; /* every connection's, kept for reopening */
    int read_timeout_ms;
    struct metrics *metrics;
    struct api_db_conn *conns; /* the read pool, then the write connection */
    size_t nconns;
    struct api_query *head[API_DB_KINDS], *tail[API_DB_KINDS];
};

static void api_db_pump(struct api_db *d, enum api_db_kind kind);

static void api_db_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct api_query *q = arg;
    (void)evcon;
    q->req = api_request_abandoned(q->req);
}

static void api_query_free(struct api_query *q)
{
    if (!q->finished && q->arg_free)
        q->arg_free(q->arg);
    if (q->req)
        api_watch_close(q->api, q->req, NULL, NULL);
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    json_decref(q->access);
    free(q);
}

/* The SQLSTATE of a refused query: the first result that is not OK, when it is the server's
 * error on a connection that stays up. NULL when the failure is the connection's: no result, a
 * client-side error (libpq's own results carry no SQLSTATE), or a server error of the classes
 * that end or refuse the session (08 connection exception, 57P operator intervention). */
static const char *api_refused_sqlstate(PGresult **res, int n, int want)
{
    if (n < want)
        return NULL;
    for (int i = 0; i < want; i++) {
        if (pgconn_result_ok(res[i]))
            continue;
        if (!res[i] || PQresultStatus(res[i]) != PGRES_FATAL_ERROR)
            return NULL;
        const char *state = PQresultErrorField(res[i], PG_DIAG_SQLSTATE);
        if (!state || strlen(state) != 5 || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
            return NULL;
        return state;
    }
    return NULL;
}

/* A read cancelled at its statement timeout: 503 naming the setting, so that the caller knows to
 * narrow the request (or the operator to raise the limit), not that the database is down. */
static void api_db_timed_out(struct api_db_conn *c, struct api_query *q, struct evhttp_request *req)
{
    metrics_api_read_timeout(c->d->metrics);
    log_warn("api: %s %s: the read was cancelled after %d ms (api.read_statement_timeout_ms)",
             api_route_method_name(q->route->method), q->route->pattern, c->timeout_ms);
    if (!req)
        return;
    char msg[160];
    snprintf(msg, sizeof(msg),
             "the read took longer than %d ms (api.read_statement_timeout_ms) and was cancelled; narrow the "
             "request or try again later",
             c->timeout_ms);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
    api_error(req, 503, "read_timeout", msg, NULL);
}

static void api_db_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct api_db_conn *c = arg;
    struct api_query *q = c->inflight;
    (void)sent_all;
    c->inflight = NULL;
    int first = c->timeout_ms > 0; /* results of the statement timeout's setting come first */
    int want = first + (q->pre ? 2 : 1);
    bool ok = !error && n >= want;
    for (int i = 0; ok && i < want; i++)
        ok = pgconn_result_ok(res[i]);
    const char *refused = ok || error ? NULL : api_refused_sqlstate(res, n, want);
    bool timed_out = refused && c->timeout_ms > 0 && strcmp(refused, SQLSTATE_QUERY_CANCELED) == 0;
    struct evhttp_request *req = q->req;
    if (req) {
        /* The finish callback may hand the request on (and watch its connection itself). */
        api_watch_close(q->api, req, NULL, NULL);
        q->req = NULL;
    }
    if (timed_out) {
        api_db_timed_out(c, q, req);
    } else {
        /* Logged whether or not the client is still there: the query is wrong either way. Only
         * the route's pattern and the SQLSTATE: the server's message, DETAIL and CONTEXT can
         * quote rows. */
        if (refused)
            log_error("api: %s %s: the database refused the query (SQLSTATE %s)",
                      api_route_method_name(q->route->method), q->route->pattern, refused);
        if (req && refused)
            api_error(req, 500, "internal", "the request could not be answered", NULL);
        else if (req && !ok)
            api_error(req, 503, "db_unavailable", "the database is unavailable", NULL);
        else if (req && q->build) {
            q->finished = true;
            json_t *body = q->build(req, res[want - 1], q->arg);
            if (q->arg_free)
                q->arg_free(q->arg);
            if (body)
                api_access_send(q->api, q->access, req, body);
        } else if (req) {
            q->finished = true;
            q->finish(req, res[want - 1], q->arg);
        }
    }
    api_query_free(q);
    if (c->reopen) {
        /* Switched while this query ran: reopen from the loop, not from this connection's own
         * callback; it takes no more queries meanwhile (api_db_pump). */
        static const struct timeval now = {0, 0};
        evtimer_add(c->reopen_ev, &now);
        return;
    }
    api_db_pump(c->d, c->kind);
}

static bool api_db_kind_up(const struct api_db *d, enum api_db_kind kind)
{
    for (size_t i = 0; i < d->nconns; i++)
        if (d->conns[i].kind == kind && pgconn_up(d->conns[i].pg))
            return true;
    return false;
}

static struct api_query *api_db_pop(struct api_db *d, enum api_db_kind kind)
{
    struct api_query *q = d->head[kind];
    if (q) {
        d->head[kind] = q->next;
        if (!d->head[kind])
            d->tail[kind] = NULL;
        q->next = NULL;
    }
    return q;
}

static bool api_db_send(struct api_db_conn *c, struct api_query *q)
{
    char ms[24];
    const char *tp[1] = {ms};
    struct pg_query pq[3];
    int n = 0;
    c->timeout_ms = c->kind == API_DB_READ ? c->d->read_timeout_ms : 0;
    if (c->timeout_ms > 0) {
        snprintf(ms, sizeof(ms), "%d", c->timeout_ms);
        pq[n++] = (struct pg_query){SQL_READ_TIMEOUT, 1, tp};
    }
    if (q->pre)
        pq[n++] = (struct pg_query){q->pre, 0, NULL};
    pq[n++] = (struct pg_query){q->sql, q->nparams, (const char *const *)q->params};
    c->inflight = q;
    if (pgconn_send(c->pg, pq, n, api_db_done, c) != 0) {
        c->inflight = NULL;
        return false;
    }
    return true;
}

static void api_db_pump(struct api_db *d, enum api_db_kind kind)
{
    for (size_t i = 0; i < d->nconns && d->head[kind]; i++) {
        struct api_db_conn *c = &d->conns[i];
        while (c->kind == kind && !c->inflight && !c->reopen && pgconn_ready(c->pg) && d->head[kind]) {
            struct api_query *q = api_db_pop(d, kind);
            if (!q->req) {
                api_query_free(q);
                continue;
            }
            if (!api_db_send(c, q)) {
                struct evhttp_request *req = q->req;
                api_watch_close(q->api, req, NULL, NULL);
                q->req = NULL;
                api_error(req, 503, "db_unavailable", "the database is unavailable", NULL);
                api_query_free(q);
            }
        }
    }
}

static void api_db_state(void *arg, bool up)
{
    struct api_db_conn *c = arg;
    struct api_db *d = c->d;
    if (up) {
        api_db_pump(d, c->kind);
        return;
    }
    /* Queued queries wait while another connection of their kind may still take them. */
    if (api_db_kind_up(d, c->kind))
        return;
    struct api_query *q;
    while ((q = api_db_pop(d, c->kind)) != NULL) {
        if (q->req) {
            struct evhttp_request *req = q->req;
            api_watch_close(q->api, req, NULL, NULL);
            q->req = NULL;
            api_error(req, 503, "db_unavailable", "the database is unavailable", NULL);
        }
        api_query_free(q);
    }
}

static void api_db_enqueue(struct api *a, enum api_db_kind kind, const struct api_call *call, const char *pre,
                           const char *sql, int nparams, const char *const *params, api_finish_fn finish,
                           api_build_fn build, void *arg, void (*arg_free)(void *))
{
    struct api_db *d = api_database(a);
    struct evhttp_request *req = call->req;
    if (!api_db_kind_up(d, kind)) {
        api_error(req, 503, "db_unavailable", "the database is unavailable", NULL);
        if (arg_free)
            arg_free(arg);
        return;
    }
    struct api_query *q = calloc(1, sizeof(*q));
    if (!q || nparams > API_MAX_PARAMS) {
        free(q);
        api_error(req, 503, "overloaded", "out of memory", NULL);
        if (arg_free)
            arg_free(arg);
        return;
    }
    q->arg_free = arg_free;
    q->api = a;
    q->kind = kind;
    q->route = call->route;
    q->pre = pre;
    q->sql = sql;
    q->finish = finish;
    q->build = build;
    q->access = build ? json_incref((json_t *)call->access) : NULL;
    q->arg = arg;
    for (int i = 0; i < nparams; i++) {
        q->params[i] = params[i] ? strdup(params[i]) : NULL;
        q->nparams = i + 1;
        if (params[i] && !q->params[i]) {
            api_query_free(q);
            api_error(req, 503, "overloaded", "out of memory", NULL);
            return;
        }
    }
    q->req = req;
    api_watch_close(a, req, api_db_conn_closed, q);
    if (d->tail[kind])
        d->tail[kind]->next = q;
    else
        d->head[kind] = q;
    d->tail[kind] = q;
    api_db_pump(d, kind);
}

void api_read(struct api *a, const struct api_call *call, const char *sql, int nparams, const char *const *params,
              api_finish_fn finish, void *arg)
{
    api_db_enqueue(a, API_DB_READ, call, NULL, sql, nparams, params, finish, NULL, arg, NULL);
}

void api_read_owned(struct api *a, const struct api_call *call, const char *sql, int nparams,
                    const char *const *params, api_finish_fn finish, void *arg, void (*arg_free)(void *))
{
    api_db_enqueue(a, API_DB_READ, call, NULL, sql, nparams, params, finish, NULL, arg, arg_free);
}

void api_read_after(struct api *a, const struct api_call *call, const char *pre, const char *sql, int nparams,
                    const char *const *params, api_finish_fn finish, void *arg)
{
    api_db_enqueue(a, API_DB_READ, call, pre, sql, nparams, params, finish, NULL, arg, NULL);
}

void api_read_logged(struct api *a, const struct api_call *call, const char *pre, const char *sql, int nparams,
                     const char *const *params, api_build_fn build, void *arg, void (*arg_free)(void *))
{
    if (!call->access) {
        /* A route not marked API_ROUTE_PERSONAL: a mistake of the table, never an unlogged reply. */
        api_error(call->req, 500, "internal", "the request could not be answered", NULL);
        if (arg_free)
            arg_free(arg);
        return;
    }
    api_db_enqueue(a, API_DB_READ, call, pre, sql, nparams, params, NULL, build, arg, arg_free);
}

void api_write_owned(struct api *a, const struct api_call *call, const char *sql, int nparams,
                     const char *const *params, api_finish_fn finish, void *arg, void (*arg_free)(void *))
{
    api_db_enqueue(a, API_DB_WRITE, call, NULL, sql, nparams, params, finish, NULL, arg, arg_free);
}

/* api_db_open: (re)opens connection c on its conninfo: the read pool's current one, or the
 * primary's for the write connection. 0, or -1 when out of memory. */
static int api_db_open(struct api_db_conn *c)
{
    struct api_db *d = c->d;
    pgconn_free(c->pg);
    c->pg = pgconn_new(d->base, c->kind == API_DB_READ ? d->read_conninfo : d->conninfo, c->name, api_db_state, c);
    if (!c->pg)
        return -1;
    pgconn_set_connect_timeout(c->pg, d->connect_timeout_ms);
    pgconn_require_schema(c->pg, d->schema);
    if (d->reconnect_max_ms > 0)
        pgconn_set_backoff_max(c->pg, d->reconnect_max_ms);
    return 0;
}

static void api_db_reopen_cb(evutil_socket_t fd, short what, void *arg)
{
    struct api_db_conn *c = arg;
    (void)fd;
    (void)what;
    if (!c->reopen || c->inflight)
        return; /* api_db_done schedules it again once the query in flight is answered */
    c->reopen = false;
    if (api_db_open(c) != 0)
        log_error("api: %s: out of memory reopening the connection", c->name);
}

struct api_db *api_db_new(struct event_base *base, const struct api_db_params *p)
{
    struct api_db *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    size_t nreads = p->read_connections ? p->read_connections : 1;
    if (nreads > API_DB_MAX_READS)
        nreads = API_DB_MAX_READS;
    d->base = base;
    d->read_timeout_ms = p->read_timeout_ms;
    d->metrics = p->metrics;
    d->connect_timeout_ms = p->connect_timeout_ms;
    d->schema = p->schema;
    d->reconnect_max_ms = p->reconnect_max_ms;
    d->conninfo = strdup(p->conninfo);
    d->read_conninfo = strdup(p->conninfo);
    d->conns = calloc(nreads + 1, sizeof(*d->conns));
    if (!d->conninfo || !d->read_conninfo || !d->conns)
        return api_db_free(d);
    d->nconns = nreads + 1;
    for (size_t i = 0; i < d->nconns; i++) {
        struct api_db_conn *c = &d->conns[i];
        c->d = d;
        c->kind = i < nreads ? API_DB_READ : API_DB_WRITE;
        if (c->kind == API_DB_READ)
            snprintf(c->name, sizeof(c->name), "api-read-%zu", i + 1);
        else
            snprintf(c->name, sizeof(c->name), "api-write");
        c->reopen_ev = evtimer_new(base, api_db_reopen_cb, c);
        if (!c->reopen_ev || api_db_open(c) != 0)
            return api_db_free(d);
    }
    return d;
}

void api_db_set_read_conninfo(struct api_db *d, const char *conninfo)
{
    if (!conninfo || strcmp(conninfo, d->read_conninfo) == 0)
        return;
    char *copy = strdup(conninfo);
    if (!copy) {
        log_error("api: out of memory switching the read connections");
        return;
    }
    free(d->read_conninfo);
    d->read_conninfo = copy;
    static const struct timeval now = {0, 0};
    for (size_t i = 0; i < d->nconns; i++) {
        struct api_db_conn *c = &d->conns[i];
        if (c->kind != API_DB_READ)
            continue;
        c->reopen = true;
        if (!c->inflight)
            evtimer_add(c->reopen_ev, &now);
    }
}

struct api_db *api_db_free(struct api_db *d)
{
    if (!d)
        return NULL;
    for (int k = 0; k < API_DB_KINDS; k++) {
        struct api_query *q;
        while ((q = api_db_pop(d, (enum api_db_kind)k)) != NULL)
            api_query_free(q);
    }
    for (size_t i = 0; d->conns && i < d->nconns; i++) {
        if (d->conns[i].inflight)
            api_query_free(d->conns[i].inflight);
        pgconn_free(d->conns[i].pg);
        if (d->conns[i].reopen_ev)
            event_free(d->conns[i].reopen_ev);
    }
    free(d->conns);
    free(d->conninfo);
    free(d->read_conninfo);
    free(d);
    return NULL;
}

void api_db_set_read_timeout(struct api_db *d, int ms)
{
    d->read_timeout_ms = ms;
}

bool api_db_is_up(const struct api_db *d)
{
    return api_db_kind_up(d, API_DB_READ) && api_db_kind_up(d, API_DB_WRITE);
}

unsigned long api_db_reconnects_total(const struct api_db *d)
{
    unsigned long n = 0;
    for (size_t i = 0; i < d->nconns; i++)
        n += pgconn_reconnects(d->conns[i].pg);
    return n;
}

json_t *api_db_json(const PGresult *res, int row, int col)
{
    return jsonparse_loadb(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col), 0, NULL);
}
