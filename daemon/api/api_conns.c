/* api_conns.c: the API's client connections: counted and capped as they are accepted, and cut
 * at the deadline of a request's headers or body.
 *
 * libevent 2.1's evhttp has one timeout per connection, restarted by every byte read, so a
 * client that sends a byte now and then is never cut, and it offers no limit on connections.
 * What it does offer: every accepted connection's bufferevent is made by the bevcb, before
 * evhttp gives it its socket and callbacks; that bufferevent's input buffer shows each byte read,
 * before evhttp parses it; the request callback says when a request has been read whole, and
 * the request's completion callback when its reply has gone. So each connection is tracked from
 * its bufferevent: on the loop's next turn after the accept, the connection evhttp built around
 * it is found from the bufferevent's callback argument (evhttp's own connection object), and
 * its close callback tells when it ends. A connection past the cap is closed there and then; one
 * past a deadline is closed by evhttp_connection_free, as evhttp itself does on a timeout. */
#include "api/api_conns.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "service/metrics.h"
#include "service/tls.h"
#include "util/log.h"

enum api_conn_phase {
    API_CONN_ADOPTING, /* accepted; evhttp's connection is found on the loop's next turn */
    API_CONN_REFUSED,  /* accepted past the cap: closed on the loop's next turn */
    API_CONN_HEADERS,  /* a request's headers are arriving (header deadline) */
    API_CONN_BODY,     /* its body is arriving (body deadline) */
    API_CONN_WAIT,     /* read whole: a handler has it until its reply is sent (no deadline) */
    API_CONN_IDLE,     /* between requests: evhttp's idle timeout applies */
};

/* What is logged at most once a second each. */
enum api_conns_log { API_CONNS_LOG_REFUSED, API_CONNS_LOG_HEADERS, API_CONNS_LOG_BODY, API_CONNS_LOGS };

struct api_conn {
    struct api_conns *cs;
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* once adopted */
    struct evbuffer_cb_entry *input_cb;
    struct event *timer; /* adoption, then the deadline of the phase */
    enum api_conn_phase phase;
    int eol; /* the header scanner: 0 in a line, 1 just after LF, 2 after LF CR */
    void (*watch)(struct evhttp_connection *, void *);
    void *watch_arg;
    struct api_conn *prev, *next;
};

struct api_conns {
    struct event_base *base;
    struct api_conns_limits lim;
    struct tls *tls;
    struct metrics *metrics;
    struct api_conn *head;
    size_t open; /* counted: every connection but the refused ones */
    struct {
        double last; /* metrics_clock() of the last line; < 0: never */
        unsigned long suppressed;
    } log[API_CONNS_LOGS];
};

static void api_conns_log(struct api_conns *cs, enum api_conns_log kind, const char *what)
{
    double now = metrics_clock();
    if (cs->log[kind].last >= 0 && now - cs->log[kind].last < 1.0) {
        cs->log[kind].suppressed++;
        return;
    }
    char more[80] = "";
    if (cs->log[kind].suppressed)
        snprintf(more, sizeof(more), " (%lu more since the last such line, not logged)", cs->log[kind].suppressed);
    cs->log[kind].last = now;
    cs->log[kind].suppressed = 0;
    log_warn("api: %s%s", what, more);
}

static void api_conn_unlink_free(struct api_conn *c)
{
    struct api_conns *cs = c->cs;
    if (c->prev)
        c->prev->next = c->next;
    else
        cs->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->phase != API_CONN_REFUSED)
        cs->open--;
    if (c->input_cb)
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->input_cb);
    if (c->timer)
        event_free(c->timer);
    free(c);
}

static void api_conn_arm(struct api_conn *c, enum api_conn_phase phase, int ms)
{
    c->phase = phase;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

/* Whether the bytes from `from` on end the request's headers (an empty line, CRLF or LF, as
 * evhttp reads lines); the scanner's place is kept across reads. Bytes after the end are the
 * body's and are not looked at. */
static bool api_conn_scan(struct api_conn *c, struct evbuffer *buf, size_t from)
{
    struct evbuffer_ptr p;
    if (evbuffer_ptr_set(buf, &p, from, EVBUFFER_PTR_SET) != 0)
        return false;
    size_t left = evbuffer_get_length(buf) - from;
    while (left > 0) {
        struct evbuffer_iovec v[8];
        int n = evbuffer_peek(buf, (ev_ssize_t)left, &p, v, 8);
        if (n <= 0)
            return false;
        if (n > 8)
            n = 8;
        size_t seen = 0;
        for (int i = 0; i < n; i++) {
            const unsigned char *s = v[i].iov_base;
            size_t len = v[i].iov_len < left - seen ? v[i].iov_len : left - seen;
            for (size_t j = 0; j < len; j++) {
                if (s[j] == '\n') {
                    if (c->eol)
                        return true;
                    c->eol = 1;
                } else {
                    c->eol = s[j] == '\r' && c->eol == 1 ? 2 : 0;
                }
            }
            seen += len;
        }
        left -= seen;
        if (left > 0 && evbuffer_ptr_set(buf, &p, seen, EVBUFFER_PTR_ADD) != 0)
            return false;
    }
    return false;
}

/* Scans from `from`: a request's first bytes start its header deadline, its headers' end the
 * body deadline. */
static void api_conn_bytes(struct api_conn *c, struct evbuffer *buf, size_t from)
{
    if (c->phase == API_CONN_IDLE) {
        c->eol = 0;
        api_conn_arm(c, API_CONN_HEADERS, c->cs->lim.header_timeout_ms);
    }
    if (c->phase == API_CONN_HEADERS && api_conn_scan(c, buf, from))
        api_conn_arm(c, API_CONN_BODY, c->cs->lim.body_timeout_ms);
}

static void api_conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct api_conn *c = arg;
    if (info->n_added == 0 || c->phase == API_CONN_WAIT || c->phase == API_CONN_BODY)
        return;
    size_t len = evbuffer_get_length(buf);
    api_conn_bytes(c, buf, info->n_added < len ? len - info->n_added : 0);
}

static void api_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct api_conn *c = arg;
    if (c->watch)
        c->watch(evcon, c->watch_arg);
    api_conn_unlink_free(c);
}

static void api_conn_timer(evutil_socket_t fd, short events, void *arg)
{
    struct api_conn *c = arg;
    struct api_conns *cs = c->cs;
    (void)fd;
    (void)events;
    if (c->phase == API_CONN_ADOPTING || c->phase == API_CONN_REFUSED) {
        void *evcon = NULL;
        struct bufferevent *bev = c->bev;
        bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);
        if (!evcon) { /* evhttp gave up on the connection already */
            api_conn_unlink_free(c);
            bufferevent_decref(bev);
            return;
        }
        bufferevent_decref(bev); /* evhttp holds it too, until it frees the connection */
        c->evcon = evcon;
        evhttp_connection_set_closecb(c->evcon, api_conn_closed, c);
        if (c->phase == API_CONN_REFUSED) {
            evhttp_connection_free(c->evcon); /* calls api_conn_closed */
            return;
        }
        /* The header deadline counts from the accept: a TLS handshake is part of it. */
        api_conn_arm(c, API_CONN_HEADERS, cs->lim.header_timeout_ms);
        struct evbuffer *in = bufferevent_get_input(c->bev);
        if (evbuffer_get_length(in) > 0)
            api_conn_bytes(c, in, 0);
        return;
    }
    if (c->phase != API_CONN_HEADERS && c->phase != API_CONN_BODY)
        return;
    bool headers = c->phase == API_CONN_HEADERS;
    metrics_api_request_cut(cs->metrics, headers);
    char *peer = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(c->evcon, &peer, &port);
    char what[200];
    snprintf(what, sizeof(what), "connection from %s closed: its request's %s did not arrive within %d ms (api.%s)",
             peer ? peer : "?", headers ? "headers" : "body",
             headers ? cs->lim.header_timeout_ms : cs->lim.body_timeout_ms,
             headers ? "header_timeout_ms" : "body_timeout_ms");
    api_conns_log(cs, headers ? API_CONNS_LOG_HEADERS : API_CONNS_LOG_BODY, what);
    evhttp_connection_free(c->evcon); /* calls api_conn_closed */
}

struct bufferevent *api_conns_bevcb(struct event_base *base, void *arg)
{
    struct api_conns *cs = arg;
    struct bufferevent *bev =
        cs->tls ? tls_http_bevcb(base, cs->tls) : bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    struct api_conn *c = calloc(1, sizeof(*c));
    if (c)
        c->timer = evtimer_new(base, api_conn_timer, c);
    if (c && c->timer)
        c->input_cb = evbuffer_add_cb(bufferevent_get_input(bev), api_conn_input, c);
    if (!c || !c->timer || !c->input_cb) {
        /* Out of memory: served, but neither counted nor watched. */
        if (c && c->timer)
            event_free(c->timer);
        free(c);
        return bev;
    }
    c->cs = cs;
    c->bev = bev;
    bool refuse = cs->open >= cs->lim.max_connections;
    c->phase = refuse ? API_CONN_REFUSED : API_CONN_ADOPTING;
    if (refuse) {
        metrics_api_connection(cs->metrics, false);
        char what[160];
        snprintf(what, sizeof(what), "connection refused: %zu connections already open (api.max_connections)",
                 cs->open);
        api_conns_log(cs, API_CONNS_LOG_REFUSED, what);
    } else {
        metrics_api_connection(cs->metrics, true);
        cs->open++;
    }
    /* Kept alive until the timer has looked at it, whatever evhttp does meanwhile. */
    bufferevent_incref(bev);
    c->next = cs->head;
    if (cs->head)
        cs->head->prev = c;
    cs->head = c;
    event_active(c->timer, EV_TIMEOUT, 0);
    return bev;
}

static struct api_conn *api_conns_find(struct api_conns *cs, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = req ? evhttp_request_get_connection(req) : NULL;
    if (!evcon)
        return NULL;
    for (struct api_conn *c = cs->head; c; c = c->next)
        if (c->evcon == evcon)
            return c;
    return NULL;
}

static void api_conn_replied(struct evhttp_request *req, void *arg)
{
    struct api_conn *c = arg;
    (void)req;
    c->phase = API_CONN_IDLE;
    evtimer_del(c->timer);
    /* evhttp has not yet read what a pipelining client sent meanwhile: it is the next request. */
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (evbuffer_get_length(in) > 0)
        api_conn_bytes(c, in, 0);
}

void api_conns_request(struct api_conns *cs, struct evhttp_request *req)
{
    struct api_conn *c = api_conns_find(cs, req);
    if (!c)
        return;
    c->phase = API_CONN_WAIT;
    evtimer_del(c->timer);
    evhttp_request_set_on_complete_cb(req, api_conn_replied, c);
}

void api_conns_watch(struct api_conns *cs, struct evhttp_request *req,
                     void (*fn)(struct evhttp_connection *, void *), void *arg)
{
    struct api_conn *c = api_conns_find(cs, req);
    if (c) {
        c->watch = fn;
        c->watch_arg = arg;
    } else if (req && evhttp_request_get_connection(req)) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), fn, arg);
    }
}

struct api_conns *api_conns_new(struct event_base *base, const struct api_conns_limits *lim, struct tls *tls,
                                struct metrics *metrics)
{
    struct api_conns *cs = calloc(1, sizeof(*cs));
    if (!cs)
        return NULL;
    cs->base = base;
    cs->lim = *lim;
    cs->tls = tls;
    cs->metrics = metrics;
    for (size_t k = 0; k < API_CONNS_LOGS; k++)
        cs->log[k].last = -1;
    return cs;
}

struct api_conns *api_conns_free(struct api_conns *cs)
{
    if (!cs)
        return NULL;
    /* evhttp_free has closed every adopted connection; what is left was accepted on this very
     * turn of the loop and holds a reference of ours. */
    while (cs->head) {
        struct api_conn *c = cs->head;
        struct bufferevent *ours = c->evcon ? NULL : c->bev;
        api_conn_unlink_free(c);
        if (ours)
            bufferevent_decref(ours);
    }
    free(cs);
    return NULL;
}

void api_conns_set_limits(struct api_conns *cs, const struct api_conns_limits *lim)
{
    cs->lim = *lim;
}

size_t api_conns_open(const struct api_conns *cs)
{
    return cs->open;
}
