/* api_stream.c: GET /v1/stream: server-sent events naming the queue items and incidents that
 * changed, heard from the database's NOTIFYs on a listening connection of its own. */
#include "api/api_stream.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "store/pgconn.h"
#include "util/jsonwrite.h"
#include "util/log.h"

/* The channel sql/0018_change_notify.sql's triggers notify. */
#define STREAM_CHANNEL "fcrd_changes"

/* A client that does not read what it is sent is dropped past this much unsent output, so a
 * stalled page costs a bounded amount of memory (an event is a few hundred bytes). */
#define STREAM_MAX_UNSENT (256 * 1024)

struct api_stream_client {
    struct api_streams *s;
    struct evhttp_request *req;
    char *incident_id; /* ?incident_id=: only that incident's events (owned), or NULL: all */
    struct api_stream_client *prev, *next;
};

struct api_streams {
    struct api *api;         /* whose connection watches the streams use (borrowed) */
    struct event_base *base;
    char *conninfo;
    struct pgconn *db;       /* LISTENs; carries no other query */
    bool listening;          /* the LISTEN of the current session succeeded */
    bool draining;
    struct event *heartbeat; /* one timer for every stream */
    int heartbeat_s;
    size_t max;
    size_t n;
    struct api_stream_client *head;
};

/* ---- the clients ---------------------------------------------------------------------------- */

static void stream_unlink(struct api_stream_client *c)
{
    struct api_streams *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n--;
    free(c->incident_id);
    free(c);
}

/* The client went away (or its connection failed): evhttp frees the request with it. */
static void stream_closed(struct evhttp_connection *evcon, void *arg)
{
    struct api_stream_client *c = arg;
    (void)evcon;
    api_request_abandoned(c->req);
    stream_unlink(c);
}

/* stream_end: the reply's last chunk; the connection then serves another request or closes. */
static void stream_end(struct api_stream_client *c)
{
    api_watch_close(c->s->api, c->req, NULL, NULL);
    evhttp_send_reply_end(c->req);
    stream_unlink(c);
}

/* stream_send: text (an event or a comment, its blank line included) to one client; false when
 * the client was dropped for not reading. */
static bool stream_send(struct api_stream_client *c, const char *text, size_t len)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    if (bev && evbuffer_get_length(bufferevent_get_output(bev)) > STREAM_MAX_UNSENT) {
        log_warn("api: GET /v1/stream: a client reads nothing of what it is sent; dropped");
        api_watch_close(c->s->api, c->req, NULL, NULL);
        stream_unlink(c);
        evhttp_connection_free(evcon); /* frees the request */
        return false;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return true;
    evbuffer_add(b, text, len);
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
    return true;
}

/* stream_event: "event: NAME\ndata: JSON\n\n" to every client that wants it (incident_id NULL:
 * every client without a filter; otherwise those without one or with this one). Takes data. */
static void stream_event(struct api_streams *s, const char *name, json_t *data, const char *incident_id)
{
    char *js = jsonwrite_dumps(data, 0); /* compact: escapes newlines, so one data line */
    json_decref(data);
    if (!js)
        return;
    size_t len = strlen(name) + strlen(js) + 32;
    char *text = malloc(len);
    if (text) {
        int n = snprintf(text, len, "event: %s\ndata: %s\n\n", name, js);
        struct api_stream_client *next;
        for (struct api_stream_client *c = s->head; c; c = next) {
            next = c->next;
            bool wants = !c->incident_id || (incident_id && strcmp(c->incident_id, incident_id) == 0);
            if (wants)
                stream_send(c, text, (size_t)n);
        }
    }
    free(text);
    free(js);
}

static void stream_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    struct api_streams *s = arg;
    (void)fd;
    (void)what;
    static const char beat[] = ": heartbeat\n\n";
    struct api_stream_client *next;
    for (struct api_stream_client *c = s->head; c; c = next) {
        next = c->next;
        stream_send(c, beat, sizeof(beat) - 1);
    }
}

static void stream_arm_heartbeat(struct api_streams *s)
{
    struct timeval tv = {s->heartbeat_s > 0 ? s->heartbeat_s : 15, 0};
    evtimer_add(s->heartbeat, &tv);
}

/* Every stream ends: its page falls back to polling and tries again. */
static void stream_end_all(struct api_streams *s)
{
    while (s->head)
        stream_end(s->head);
}

/* ---- the database ----------------------------------------------------------------------------- */

/* One notification: {"kind": "incident" | "pending", "ids": [...]} from the triggers. */
static void stream_notify(void *arg, const char *channel, const char *payload)
{
    struct api_streams *s = arg;
    if (strcmp(channel, STREAM_CHANNEL) != 0 || !s->head)
        return;
    json_t *p = json_loads(payload, 0, NULL);
    const char *kind = json_string_value(json_object_get(p, "kind"));
    json_t *ids = json_object_get(p, "ids");
    if (!kind || !json_is_array(ids)) {
        log_warn("api: a notification on %s that is not the triggers' shape: ignored", STREAM_CHANNEL);
        json_decref(p);
        return;
    }
    if (strcmp(kind, "pending") == 0) {
        stream_event(s, "pending", json_pack("{s:O}", "ids", ids), NULL);
    } else if (strcmp(kind, "incident") == 0) {
        size_t i;
        json_t *id;
        json_array_foreach(ids, i, id)
        {
            if (json_is_string(id))
                stream_event(s, "incident", json_pack("{s:O}", "incident_id", id), json_string_value(id));
        }
    }
    json_decref(p);
}

static void stream_listen_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct api_streams *s = arg;
    (void)sent_all;
    if (error || n < 1 || !pgconn_result_ok(res[0])) {
        log_error("api: LISTEN %s failed: pages fall back to polling", STREAM_CHANNEL);
        pgconn_drop(s->db, "LISTEN failed");
        return;
    }
    s->listening = true;
}

/* A new session listens afresh. What committed while none listened is not heard: streams open
 * then were ended (below), and their pages fetch everything when they come back. */
static void stream_db_state(void *arg, bool up)
{
    struct api_streams *s = arg;
    if (!up) {
        if (s->listening && s->head)
            log_warn("api: the stream's database connection was lost: %zu stream(s) ended", s->n);
        s->listening = false;
        stream_end_all(s);
        return;
    }
    if (s->listening || !pgconn_ready(s->db))
        return;
    struct pg_query q = {"LISTEN " STREAM_CHANNEL, 0, NULL};
    if (pgconn_send(s->db, &q, 1, stream_listen_done, s) != 0)
        log_error("api: cannot send LISTEN %s", STREAM_CHANNEL);
}

struct api_streams *api_stream_new(struct api *a, struct event_base *base, const char *conninfo,
                                   int connect_timeout_ms)
{
    struct api_streams *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->api = a;
    s->base = base;
    s->heartbeat_s = 15;
    s->max = 64;
    s->conninfo = strdup(conninfo);
    s->heartbeat = event_new(base, -1, EV_PERSIST, stream_heartbeat_cb, s);
    if (!s->conninfo || !s->heartbeat)
        return api_stream_free(s);
    s->db = pgconn_new(base, s->conninfo, "api-stream", stream_db_state, s);
    if (!s->db)
        return api_stream_free(s);
    stream_arm_heartbeat(s);
    pgconn_set_connect_timeout(s->db, connect_timeout_ms);
    pgconn_on_notify(s->db, stream_notify, s);
    return s;
}

struct api_streams *api_stream_free(struct api_streams *s)
{
    if (!s)
        return NULL;
    while (s->head) {
        api_watch_close(s->api, s->head->req, NULL, NULL);
        stream_unlink(s->head);
    }
    pgconn_free(s->db);
    if (s->heartbeat)
        event_free(s->heartbeat);
    free(s->conninfo);
    free(s);
    return NULL;
}

void api_stream_set_limits(struct api_streams *s, int heartbeat_s, size_t max_streams)
{
    bool changed = heartbeat_s != s->heartbeat_s;
    s->heartbeat_s = heartbeat_s;
    s->max = max_streams;
    if (changed)
        stream_arm_heartbeat(s);
}

void api_stream_drain(struct api_streams *s)
{
    s->draining = true;
    stream_end_all(s);
}

size_t api_stream_count(const struct api_streams *s)
{
    return s->n;
}

/* ---- the route -------------------------------------------------------------------------------- */

void api_stream_get(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    struct api_streams *s = api_streams(a);
    static const char *const allowed[] = {"incident_id", NULL};
    json_t *params = api_query_params(req, allowed);
    if (!params)
        return;
    const char *inc = json_string_value(json_object_get(params, "incident_id"));
    if (inc && (!*inc || strlen(inc) > 64)) {
        api_error(req, 400, "bad_query", "must be 1 to 64 characters", "incident_id");
        json_decref(params);
        return;
    }
    const char *refuse = NULL, *msg = NULL;
    if (s->draining)
        refuse = "draining", msg = "fcrd is stopping; poll instead";
    else if (!s->listening)
        refuse = "stream_unavailable", msg = "changes cannot be heard from the database just now; poll instead";
    else if (s->n >= s->max)
        refuse = "too_many_streams", msg = "too many streams are open; poll instead";
    struct api_stream_client *c = refuse ? NULL : calloc(1, sizeof(*c));
    if (!refuse && (!c || (inc && !(c->incident_id = strdup(inc))))) {
        free(c);
        c = NULL;
        refuse = "overloaded", msg = "out of memory";
    }
    if (refuse) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "10");
        api_error(req, 503, refuse, msg, NULL);
        json_decref(params);
        return;
    }
    json_decref(params);
    c->s = s;
    c->req = req;
    c->next = s->head;
    if (s->head)
        s->head->prev = c;
    s->head = c;
    s->n++;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Accel-Buffering", "no"); /* a proxy in front must not hold events back */
    evhttp_send_reply_start(req, 200, "OK");
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    api_watch_close(a, req, stream_closed, c);
    /* evhttp ends a connection quiet for its timeout (30 s), heartbeats count as activity: the
     * stream's connection waits a heartbeat and the usual margin. */
    evhttp_connection_set_timeout(evcon, s->heartbeat_s + 30);
    char hello[96];
    int n = snprintf(hello, sizeof(hello), "event: hello\ndata: {\"heartbeat_s\":%d}\n\n", s->heartbeat_s);
    stream_send(c, hello, (size_t)n);
}
