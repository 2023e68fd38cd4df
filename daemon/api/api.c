/* api.c: HTTP routes of the supervisor API: authentication, role checks, and asynchronous reads. */
#include "api/api.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api/api_int.h"
#include "util/jsonwrite.h"
#include "util/log.h"
#include "store/pgconn.h"
#include "service/metrics.h"
#include "service/tls.h"

#define API_MAX_PARAMS 8

/* A request waiting for the database. */
struct api_query {
    struct api *api;
    struct evhttp_request *req; /* NULL once the client has gone */
    const struct api_route *route; /* names the query in a log line (static table row) */
    const char *pre;            /* a statement run first, in the same pipeline (or NULL) */
    const char *sql;
    int nparams;
    char *params[API_MAX_PARAMS];
    api_finish_fn finish;
    void *arg;
    void (*arg_free)(void *); /* when finish is not called */
    bool finished;
    struct api_query *next;
};

struct api {
    struct event_base *base;
    struct evhttp *http;
    struct api_params p;
    char *conninfo;
    const struct tokens *tokens;
    const struct ruleset *rs;
    struct store *st;
    struct pgconn *db;
    struct api_query *head, *tail, *inflight;
    struct api_guard *guard; /* failed authentications per client address */
    bool draining;
    char describe[160];
};

/* ---- replies -------------------------------------------------------------------------------- */

void api_send_json(struct evhttp_request *req, int status, json_t *body)
{
    char *s = jsonwrite_dumps(body, 0);
    json_decref(body);
    struct evbuffer *out = evbuffer_new();
    if (s) {
        evbuffer_add(out, s, strlen(s));
        evbuffer_add(out, "\n", 1);
        free(s);
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    const char *reason = status == 200   ? "OK"
                         : status == 400 ? "Bad Request"
                         : status == 401 ? "Unauthorized"
                         : status == 403 ? "Forbidden"
                         : status == 404 ? "Not Found"
                         : status == 405 ? "Method Not Allowed"
                         : status == 409 ? "Conflict"
                         : status == 413 ? "Payload Too Large"
                         : status == 422 ? "Unprocessable Entity"
                         : status == 429 ? "Too Many Requests"
                         : status == 500 ? "Internal Server Error"
                         : status == 503 ? "Service Unavailable"
                                         : "Error";
    if (status == 401)
        evhttp_add_header(h, "WWW-Authenticate", "Bearer");
    evhttp_send_reply(req, status, reason, out);
    evbuffer_free(out);
}

void api_error(struct evhttp_request *req, int status, const char *code, const char *message,
                      const char *field)
{
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (field)
        json_object_set_new(e, "field", json_string(field));
    api_send_json(req, status, json_pack("{s:o}", "error", e));
}

json_t *api_body_object(struct evhttp_request *req, size_t max, const char *const *known)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (max && len > max) {
        char msg[80];
        snprintf(msg, sizeof(msg), "the body exceeds %zu bytes", max);
        api_error(req, 413, "too_large", msg, NULL);
        return NULL;
    }
    const char *data = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
    json_error_t jerr;
    json_t *body = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!body || !json_is_object(body)) {
        char msg[300];
        snprintf(msg, sizeof(msg), body ? "the body must be a JSON object" : "the body is not JSON: %s", jerr.text);
        api_error(req, 400, "bad_json", msg, NULL);
        json_decref(body);
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        size_t i = 0;
        while (known && known[i] && strcmp(known[i], key) != 0)
            i++;
        if (known && !known[i]) {
            api_error(req, 400, "bad_field", "unknown field", key);
            json_decref(body);
            return NULL;
        }
    }
    return body;
}

/* ---- the database queue --------------------------------------------------------------------- */

static void api_pump(struct api *a);

struct evhttp_request *api_request_abandoned(struct evhttp_request *req)
{
    if (req && !evhttp_request_get_connection(req))
        evhttp_request_free(req);
    return NULL;
}

static void api_conn_closed(struct evhttp_connection *evcon, void *arg)
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
        evhttp_connection_set_closecb(evhttp_request_get_connection(q->req), NULL, NULL);
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
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

static void api_query_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct api *a = arg;
    struct api_query *q = a->inflight;
    (void)sent_all;
    a->inflight = NULL;
    int want = q->pre ? 2 : 1;
    bool ok = !error && n >= want && pgconn_result_ok(res[0]) && pgconn_result_ok(res[want - 1]);
    const char *refused = ok || error ? NULL : api_refused_sqlstate(res, n, want);
    /* Logged whether or not the client is still there: the query is wrong either way. Only the
     * route's pattern and the SQLSTATE: the server's message, DETAIL and CONTEXT can quote rows. */
    if (refused)
        log_error("api: %s %s: the database refused the query (SQLSTATE %s)", api_route_method_name(q->route->method),
                  q->route->pattern, refused);
    if (q->req) {
        /* The finish callback may hand the request on (and watch its connection itself). */
        evhttp_connection_set_closecb(evhttp_request_get_connection(q->req), NULL, NULL);
        struct evhttp_request *req = q->req;
        q->req = NULL;
        if (refused)
            api_error(req, 500, "internal", "the request could not be answered", NULL);
        else if (!ok)
            api_error(req, 503, "db_unavailable", "the database is unavailable", NULL);
        else {
            q->finished = true;
            q->finish(req, res[want - 1], q->arg);
        }
    }
    api_query_free(q);
    api_pump(a);
}

static void api_pump(struct api *a)
{
    while (!a->inflight && a->head && pgconn_ready(a->db)) {
        struct api_query *q = a->head;
        a->head = q->next;
        if (!a->head)
            a->tail = NULL;
        if (!q->req) {
            api_query_free(q);
            continue;
        }
        struct pg_query pq[2] = {{q->pre, 0, NULL}, {q->sql, q->nparams, (const char *const *)q->params}};
        a->inflight = q;
        if (pgconn_send(a->db, q->pre ? pq : pq + 1, q->pre ? 2 : 1, api_query_done, a) != 0) {
            a->inflight = NULL;
            api_error(q->req, 503, "db_unavailable", "the database is unavailable", NULL);
            api_query_free(q);
        }
    }
}

static void api_db_state(void *arg, bool up)
{
    struct api *a = arg;
    if (up) {
        api_pump(a);
        return;
    }
    while (a->head) {
        struct api_query *q = a->head;
        a->head = q->next;
        if (q->req)
            api_error(q->req, 503, "db_unavailable", "the database is unavailable", NULL);
        api_query_free(q);
    }
    a->tail = NULL;
}

void api_read(struct api *a, const struct api_call *call, const char *sql, int nparams,
              const char *const *params, api_finish_fn finish, void *arg)
{
    api_read_owned(a, call, sql, nparams, params, finish, arg, NULL);
}

static void api_enqueue(struct api *a, const struct api_call *call, const char *pre, const char *sql, int nparams,
                        const char *const *params, api_finish_fn finish, void *arg, void (*arg_free)(void *))
{
    struct evhttp_request *req = call->req;
    if (!pgconn_up(a->db)) {
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
    q->req = req;
    q->route = call->route;
    q->pre = pre;
    q->sql = sql;
    q->finish = finish;
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
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), api_conn_closed, q);
    if (a->tail)
        a->tail->next = q;
    else
        a->head = q;
    a->tail = q;
    api_pump(a);
}

void api_read_owned(struct api *a, const struct api_call *call, const char *sql, int nparams,
                    const char *const *params, api_finish_fn finish, void *arg, void (*arg_free)(void *))
{
    api_enqueue(a, call, NULL, sql, nparams, params, finish, arg, arg_free);
}

void api_read_after(struct api *a, const struct api_call *call, const char *pre, const char *sql, int nparams,
                    const char *const *params, api_finish_fn finish, void *arg)
{
    api_enqueue(a, call, pre, sql, nparams, params, finish, arg, NULL);
}

/* ---- dispatch ------------------------------------------------------------------------------- */

/* The bearer token's role, or ROLE_NONE; *presented says whether the request offered any
 * credentials at all (only those are guesses worth counting against the address). */
static enum role api_authenticate(const struct api *a, struct evhttp_request *req, const char **user,
                                  bool *presented)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    *presented = h && *h;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !a->tokens)
        return ROLE_NONE;
    h += 7;
    while (*h == ' ')
        h++;
    return tokens_lookup(a->tokens, h, user);
}

/* api_auth_log: a refusal, at most one line a second per kind, never with the token. */
static void api_auth_log(struct api *a, enum api_guard_kind kind, const struct api_route *route, const char *peer,
                         double now, const char *what)
{
    unsigned long skipped = 0;
    if (!api_guard_log_due(a->guard, kind, now, &skipped))
        return;
    char more[80] = "";
    if (skipped)
        snprintf(more, sizeof(more), " (%lu more since the last such line, not logged)", skipped);
    log_warn("api: %s %s from %s: %s%s", api_route_method_name(route->method), route->pattern, peer ? peer : "?",
             what, more);
}

/* api_auth_refuse: 401 or 403 for the request, logged and counted; a 401 for credentials that
 * were offered counts against the address, and may block it. */
static void api_auth_refuse(struct api *a, struct evhttp_request *req, const struct api_route *route,
                            const char *peer, double now, bool unauthorized, bool presented)
{
    if (!unauthorized) {
        metrics_api_auth_failure(a->p.metrics, METRICS_AUTH_FORBIDDEN);
        api_auth_log(a, API_GUARD_FORBIDDEN, route, peer, now, "403 forbidden (the token's role may not)");
        api_error(req, 403, "forbidden", "this role may not do this", NULL);
        return;
    }
    metrics_api_auth_failure(a->p.metrics, METRICS_AUTH_UNAUTHORIZED);
    api_auth_log(a, API_GUARD_UNAUTHORIZED, route, peer, now,
                 presented ? "401 unauthorized (a token that is not in the tokens file)" : "401 unauthorized (no token)");
    if (presented && peer && api_guard_failure(a->guard, peer, now))
        api_auth_log(a, API_GUARD_BLOCKED, route, peer, now, "too many failed authentications: address blocked");
    api_error(req, 401, "unauthorized", "a valid bearer token is required", NULL);
}

/* api_auth_blocked: 429 to an address that failed too often, whatever token it offers now. */
static void api_auth_blocked(struct api *a, struct evhttp_request *req, const struct api_route *route,
                             const char *peer, double now, int wait)
{
    metrics_api_auth_failure(a->p.metrics, METRICS_AUTH_TOO_MANY);
    api_auth_log(a, API_GUARD_BLOCKED, route, peer, now, "429 (address blocked after too many failed authentications)");
    char secs[16];
    snprintf(secs, sizeof(secs), "%d", wait);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", secs);
    api_error(req, 429, "too_many_failures",
              "too many failed authentications from this address; try again after Retry-After seconds", NULL);
}

const char *api_call_param(const struct api_call *call, const char *name)
{
    return api_route_param(call->match, name);
}

static void api_dispatch(struct evhttp_request *req, void *arg)
{
    struct api *a = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    struct api_route_match m;
    switch (api_route_match(api_routes, api_nroutes, uri ? evhttp_uri_get_path(uri) : NULL,
                            evhttp_request_get_command(req), &m)) {
    case API_ROUTE_BAD_PATH:
        api_error(req, 400, "bad_path", "the request path cannot be decoded", NULL);
        api_route_match_clear(&m);
        return;
    case API_ROUTE_BAD_METHOD:
        api_error(req, 405, "method_not_allowed", "this method is not allowed on this path", NULL);
        api_route_match_clear(&m);
        return;
    case API_ROUTE_UNKNOWN:
        api_error(req, 404, "not_found", "no such endpoint", NULL);
        api_route_match_clear(&m);
        return;
    case API_ROUTE_NO_MEMORY:
        api_error(req, 503, "overloaded", "out of memory", NULL);
        api_route_match_clear(&m);
        return;
    case API_ROUTE_FOUND:
    case API_ROUTE_BAD_PARAM:
    case API_ROUTE_NO_ENDPOINT:
        break;
    }
    const struct api_route *match = m.route;
    struct api_call call = {req, match, &m, {NULL, ROLE_NONE}};
    if (match->role != ROLE_NONE) {
        char *peer = NULL; /* owned by the connection */
        ev_uint16_t peer_port = 0;
        struct evhttp_connection *conn = evhttp_request_get_connection(req);
        if (conn)
            evhttp_connection_get_peer(conn, &peer, &peer_port);
        double now = metrics_clock();
        /* Checked before the token, so a blocked address learns nothing, not even from a guess
         * that happens to be right. */
        int wait = api_guard_blocked(a->guard, peer, now);
        if (wait > 0) {
            api_auth_blocked(a, req, match, peer, now, wait);
            api_route_match_clear(&m);
            return;
        }
        const char *user = NULL;
        bool presented = false;
        enum role role = api_authenticate(a, req, &user, &presented);
        call.who.user = user;
        call.who.role = role;
        if (role == ROLE_NONE) {
            api_auth_refuse(a, req, match, peer, now, true, presented);
            api_route_match_clear(&m);
            return;
        }
        /* ops may read metrics only; every other role has the rights of those below it. */
        if (role < match->role || (role == ROLE_OPS && match->role != ROLE_OPS)) {
            api_auth_refuse(a, req, match, peer, now, false, true);
            api_route_match_clear(&m);
            return;
        }
    }
    /* Whether a parameter names nothing is said only to a caller who may ask. */
    if (m.result == API_ROUTE_BAD_PARAM)
        api_error(req, 404, "not_found", match->invalid ? match->invalid : "no such endpoint", NULL);
    else if (m.result == API_ROUTE_NO_ENDPOINT)
        api_error(req, 404, "not_found", "no such endpoint", NULL);
    else
        match->handler(a, &call);
    api_route_match_clear(&m);
}

struct api *api_new(struct event_base *base, const struct api_params *p, const struct tokens *tokens,
                    const struct ruleset *rs, struct store *st, char *err, size_t errlen)
{
    struct api *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->base = base;
    a->p = *p;
    a->conninfo = strdup(p->conninfo);
    a->p.conninfo = a->conninfo;
    a->tokens = tokens;
    a->rs = rs;
    a->st = st;
    a->http = evhttp_new(base);
    a->guard = api_guard_new(&p->limits.guard);
    if (!a->conninfo || !a->http || !a->guard) {
        snprintf(err, errlen, "out of memory");
        return api_free(a);
    }
    api_set_limits(a, &p->limits);
    evhttp_set_max_headers_size(a->http, 16384);
    evhttp_set_timeout(a->http, 30);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(a->http, api_dispatch, a);
    if (p->tls)
        evhttp_set_bevcb(a->http, tls_http_bevcb, p->tls);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(a->http, p->host, (ev_uint16_t)p->port);
    if (!bs) {
        snprintf(err, errlen, "api: cannot listen on %s:%d", p->host, p->port);
        return api_free(a);
    }
    /* Accepted sockets inherit it: without it a reply written in two parts waits for the
     * client's delayed acknowledgement (about 40 ms). */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[128] = "?", serv[16] = "?";
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0)
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(a->describe, sizeof(a->describe), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
    a->db = pgconn_new(base, a->conninfo, "api", api_db_state, a);
    if (a->db) {
        pgconn_set_connect_timeout(a->db, p->connect_timeout_ms);
        pgconn_set_backoff_max(a->db, p->reconnect_max_ms);
    }
    if (!a->db) {
        snprintf(err, errlen, "out of memory");
        return api_free(a);
    }
    return a;
}

struct api *api_free(struct api *a)
{
    if (!a)
        return NULL;
    while (a->head) {
        struct api_query *q = a->head;
        a->head = q->next;
        api_query_free(q);
    }
    if (a->inflight)
        api_query_free(a->inflight);
    pgconn_free(a->db);
    if (a->http)
        evhttp_free(a->http);
    api_guard_free(a->guard);
    free(a->conninfo);
    free(a);
    return NULL;
}

void api_set_ruleset(struct api *a, const struct ruleset *rs)
{
    a->rs = rs;
}

const struct ruleset *api_ruleset(const struct api *a)
{
    return a->rs;
}

struct store *api_store(const struct api *a)
{
    return a->st;
}

bool api_db_up(const struct api *a)
{
    return pgconn_up(a->db);
}

size_t api_ready_backlog(const struct api *a)
{
    return a->p.ready_backlog;
}

void api_set_draining(struct api *a, bool draining)
{
    a->draining = draining;
}

bool api_draining(const struct api *a)
{
    return a->draining;
}

struct metrics *api_metrics(const struct api *a)
{
    return a->p.metrics;
}

void api_set_limits(struct api *a, const struct api_limits *lim)
{
    a->p.limits = *lim;
    api_guard_set_limits(a->guard, &lim->guard);
    /* evhttp has one limit for every request: the larger of the two, and each handler holds its
     * body to its own (api_body_object), answering 413 in the API's error shape. */
    size_t most = lim->max_body > lim->whatif_max_body ? lim->max_body : lim->whatif_max_body;
    evhttp_set_max_body_size(a->http, (ev_ssize_t)most);
}

const struct api_limits *api_get_limits(const struct api *a)
{
    return &a->p.limits;
}

unsigned long api_db_reconnects(const struct api *a)
{
    return pgconn_reconnects(a->db);
}

json_t *api_query_params(struct evhttp_request *req, const char *const *allowed)
{
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    json_t *out = json_object();
    if (!qs)
        return out;
    struct evkeyvalq kv;
    if (evhttp_parse_query_str(qs, &kv) != 0) {
        json_decref(out);
        api_error(req, 400, "bad_query", "the query string cannot be parsed", NULL);
        return NULL;
    }
    for (struct evkeyval *e = kv.tqh_first; e; e = e->next.tqe_next) {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(allowed[i], e->key) == 0)
                ok = true;
        bool repeated = ok && json_object_get(out, e->key) != NULL;
        bool stored = ok && !repeated && json_object_set_new(out, e->key, json_string(e->value)) == 0;
        if (!stored) {
            api_error(req, 400, "bad_query",
                      !ok ? "unknown parameter" : repeated ? "parameter given twice" : "parameter is not valid UTF-8",
                      e->key);
            evhttp_clear_headers(&kv);
            json_decref(out);
            return NULL;
        }
    }
    evhttp_clear_headers(&kv);
    return out;
}

void api_set_tokens(struct api *a, const struct tokens *t)
{
    a->tokens = t;
}

const char *api_describe(const struct api *a)
{
    return a->describe;
}
