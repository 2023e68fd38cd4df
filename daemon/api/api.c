/* api.c: the supervisor API's server: its listener, authentication, role checks and dispatch to the route table. */
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

#include "api/access_log.h"
#include "api/api_access.h"
#include "api/api_conns.h"
#include "api/api_db.h"
#include "api/api_int.h"
#include "api/api_stream.h"
#include "util/jsonwrite.h"
#include "util/acceptpause.h"
#include "util/log.h"
#include "service/metrics.h"
#include "service/tls.h"


struct api {
    struct event_base *base;
    struct evhttp *http;
    struct api_params p;
    char *conninfo;
    const struct tokens *tokens;
    const struct ruleset *rs;
    struct store *st;
    struct api_db *db;       /* the read pool and the write connection */
    struct api_conns *conns; /* client connections: the cap and the deadlines */
    struct api_guard *guard; /* failed authentications per client address */
    struct access_log *log;  /* access records of replies that carry personal data */
    struct acceptpause *pause; /* the listener stops accepting a moment when out of descriptors */
    struct api_streams *streams; /* GET /v1/stream and its listening connection */
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

struct evhttp_request *api_request_abandoned(struct evhttp_request *req)
{
    if (req && !evhttp_request_get_connection(req))
        evhttp_request_free(req);
    return NULL;
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
    api_conns_request(a->conns, req);
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
    struct api_call call = {req, match, &m, {NULL, ROLE_NONE}, NULL};
    char *peer = NULL; /* owned by the connection */
    if (match->role != ROLE_NONE) {
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
    json_t *access = NULL;
    if ((match->flags & API_ROUTE_PERSONAL) && m.result == API_ROUTE_FOUND) {
        access = api_access_begin(a, &call, peer);
        if (!access) {
            api_route_match_clear(&m);
            return;
        }
        call.access = access;
    }
    /* Whether a parameter names nothing is said only to a caller who may ask. */
    if (m.result == API_ROUTE_BAD_PARAM)
        api_error(req, 404, "not_found", match->invalid ? match->invalid : "no such endpoint", NULL);
    else if (m.result == API_ROUTE_NO_ENDPOINT)
        api_error(req, 404, "not_found", "no such endpoint", NULL);
    else
        match->handler(a, &call);
    json_decref(access);
    api_route_match_clear(&m);
}

static void api_accept_paused(void *arg, int err)
{
    struct api *a = arg;
    (void)err;
    metrics_accept_pause(a->p.metrics, METRICS_LISTENER_API);
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
    a->log = !a->conninfo ? NULL
                          : access_log_new(base, a->conninfo, p->connect_timeout_ms, p->limits.access_log_timeout_ms,
                                           p->schema,
                                           p->metrics);
    struct api_conns_limits cl = {p->limits.max_connections, p->limits.header_timeout_ms, p->limits.body_timeout_ms};
    a->conns = api_conns_new(base, &cl, p->tls, p->metrics);
    a->streams = api_stream_new(a, base, a->conninfo, p->connect_timeout_ms);
    if (!a->conninfo || !a->http || !a->guard || !a->conns || !a->log || !a->streams) {
        snprintf(err, errlen, "out of memory");
        return api_free(a);
    }
    api_set_limits(a, &p->limits);
    evhttp_set_max_headers_size(a->http, 16384);
    evhttp_set_timeout(a->http, 30);
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(a->http, api_dispatch, a);
    evhttp_set_bevcb(a->http, api_conns_bevcb, a->conns); /* makes the TLS ones too */
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
    a->pause = acceptpause_new(evhttp_bound_socket_get_listener(bs), "api", p->accept_pause_ms,
                               api_accept_paused, a);
    struct api_db_params dp = {a->conninfo, p->read_connections, p->limits.read_timeout_ms, p->connect_timeout_ms,
                               p->metrics, p->schema, p->reconnect_max_ms};
    a->db = api_db_new(base, &dp);
    if (!a->db || !a->pause) {
        snprintf(err, errlen, "out of memory");
        return api_free(a);
    }
    return a;
}

struct api *api_free(struct api *a)
{
    if (!a)
        return NULL;
    /* The queries first (they stop watching their clients' connections), then the connections,
     * then what watched them. */
    a->db = api_db_free(a->db);
    a->pause = acceptpause_free(a->pause);
    api_stream_free(a->streams); /* before evhttp_free, which frees the streams' requests */
    if (a->http)
        evhttp_free(a->http);
    a->conns = api_conns_free(a->conns);
    api_guard_free(a->guard);
    access_log_free(a->log);
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
    return api_db_is_up(a->db);
}

size_t api_ready_backlog(const struct api *a)
{
    return a->p.ready_backlog;
}

void api_set_draining(struct api *a, bool draining)
{
    a->draining = draining;
    if (draining)
        api_stream_drain(a->streams);
}

struct api_streams *api_streams(const struct api *a)
{
    return a->streams;
}

bool api_draining(const struct api *a)
{
    return a->draining;
}

struct access_log *api_access_log(const struct api *a)
{
    return a->log;
}

struct metrics *api_metrics(const struct api *a)
{
    return a->p.metrics;
}

void api_set_read_conninfo(struct api *a, const char *conninfo)
{
    if (a->db)
        api_db_set_read_conninfo(a->db, conninfo);
}

void api_set_limits(struct api *a, const struct api_limits *lim)
{
    a->p.limits = *lim;
    api_guard_set_limits(a->guard, &lim->guard);
    if (a->log)
        access_log_set_timeout(a->log, lim->access_log_timeout_ms);
    struct api_conns_limits cl = {lim->max_connections, lim->header_timeout_ms, lim->body_timeout_ms};
    if (a->conns)
        api_conns_set_limits(a->conns, &cl);
    if (a->db)
        api_db_set_read_timeout(a->db, lim->read_timeout_ms);
    if (a->streams)
        api_stream_set_limits(a->streams, lim->stream_heartbeat_s, lim->max_streams);
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
    return api_db_reconnects_total(a->db);
}

size_t api_connections(const struct api *a)
{
    return api_conns_open(a->conns);
}

struct api_db *api_database(const struct api *a)
{
    return a->db;
}

void api_watch_close(struct api *a, struct evhttp_request *req, void (*fn)(struct evhttp_connection *, void *),
                     void *arg)
{
    api_conns_watch(a->conns, req, fn, arg);
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
        /* A read's purpose is every route's parameter, checked at dispatch (api_access_begin). */
        if (strcmp(e->key, "purpose") == 0)
            continue;
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
