/* feed.c: feed listeners and connections: NDJSON framing, one reply per line in arrival order,
 * over-long lines discarded as they stream in, reading paused while too much awaits a reply. */
#include "feed/feed.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/acceptpause.h"
#include "util/errbuf.h"
#include "util/log.h"
#include "service/metrics.h"
#include "feed/feed_conn.h"
#include "feed/feed_reply.h"
#include "service/tls.h"

/* A TLS client that has not finished its handshake by then is dropped: an idle half-open
 * handshake would otherwise hold one of the max_connections places for good. */
#define TLS_HANDSHAKE_TIMEOUT_S 30

struct conn;

/* One line awaiting (or holding) its reply. */
struct slot {
    struct conn *conn; /* NULL once the connection is gone while the store still decides */
    char *line;        /* the reply line, once ready */
    size_t len;
    bool ready;
    bool submitted; /* handed to the store: the store will call back */
    struct metrics *metrics; /* borrowed from the feed, which may be gone when the reply comes */
    double arrived;          /* metrics_clock() when the line arrived */
    struct feed *feed;       /* while orphaned (conn NULL): the feed whose orphan list holds it */
    struct slot *next;
    struct slot *prev;       /* orphan list only */
};

struct conn {
    struct feed *feed;
    struct bufferevent *bev;
    struct event *resume; /* deferred: continue reading buffered input */
    struct slot *head, *tail;
    size_t inflight;
    unsigned long id;
    enum feed_conn_state state; /* changed only through feed_conn_set_state */
    /* Inside an over-long line: drop bytes up to its newline. A field, not a state: the line
     * spans reads, so it may straddle a pause and the peer's EOF (see feed_conn.h). */
    bool discarding;
    struct conn *prev, *next;
};

struct listener {
    struct evconnlistener *lev;
    struct acceptpause *pause; /* out of descriptors: stop accepting a moment, not spin */
    char *unix_path; /* to unlink at shutdown */
};

struct feed {
    struct event_base *base;
    struct feed_params p;
    struct store *st;
    struct listener *listeners;
    size_t nlisteners;
    struct conn *conns; /* live connections */
    struct conn *dead;  /* closed, awaiting the reaper */
    struct slot *orphans; /* slots of closed connections that the store still holds */
    struct event *reaper;
    size_t nconns;
    unsigned long next_id;
    bool draining;
    char describe[1024];
};

static void conn_process(struct conn *c);

/* ---- connection lifetime -------------------------------------------------------------------- */

static void slot_free(struct slot *s)
{
    free(s->line);
    free(s);
}

static void conn_close(struct conn *c, const char *why)
{
    if (c->state == FEED_CONN_CLOSED)
        return;
    struct feed *f = c->feed;
    log_debug("feed: connection %lu closed: %s", c->id, why);
    feed_conn_set_state(&c->state, FEED_CONN_CLOSED, c->id); /* allowed from every other state */
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    if (c->prev)
        c->prev->next = c->next;
    else
        f->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = f->dead;
    f->dead = c;
    f->nconns--;
    event_active(f->reaper, EV_TIMEOUT, 0);
}

static void conn_free(struct conn *c)
{
    struct slot *s = c->head;
    while (s) {
        struct slot *next = s->next;
        if (s->submitted && !s->ready) {
            /* The store still holds it: freed when its reply arrives, or by feed_free. */
            struct feed *f = c->feed;
            s->conn = NULL;
            s->feed = f;
            s->prev = NULL;
            s->next = f->orphans;
            if (f->orphans)
                f->orphans->prev = s;
            f->orphans = s;
        } else {
            slot_free(s);
        }
        s = next;
    }
    if (c->resume)
        event_free(c->resume);
    if (c->bev)
        bufferevent_free(c->bev);
    free(c);
}

/* Closed connections are freed here, never inside their own callbacks. */
static void feed_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct feed *f = arg;
    (void)fd;
    (void)what;
    while (f->dead) {
        struct conn *c = f->dead;
        f->dead = c->next;
        conn_free(c);
    }
}

/* ---- replies -------------------------------------------------------------------------------- */

static size_t conn_output(const struct conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static bool conn_may_read(const struct conn *c)
{
    return c->inflight < c->feed->p.max_inflight && conn_output(c) < c->feed->p.max_output;
}

/* Whether framing has work left: buffered bytes, or the too_long reply of an over-long line. */
static bool conn_has_input(const struct conn *c)
{
    return c->discarding || evbuffer_get_length(bufferevent_get_input(c->bev)) > 0;
}

/* Write every ready reply at the head, in order; resume reading or finish when possible. */
static void conn_flush(struct conn *c)
{
    while (c->head && c->head->ready) {
        struct slot *s = c->head;
        if (s->line)
            bufferevent_write(c->bev, s->line, s->len);
        c->head = s->next;
        if (!c->head)
            c->tail = NULL;
        c->inflight--;
        slot_free(s);
    }
    /* A closing connection reads no more, so it never pauses: it frames what it still holds
     * whenever there is room. */
    bool waiting = c->state == FEED_CONN_PAUSED || (c->state == FEED_CONN_CLOSING && conn_has_input(c));
    if (waiting && conn_may_read(c))
        event_active(c->resume, EV_TIMEOUT, 0);
    if (c->state == FEED_CONN_CLOSING && !c->head && conn_output(c) == 0)
        conn_close(c, "peer finished");
}

static void slot_set_reply(struct slot *s, const json_t *reply)
{
    s->line = feed_reply_line(reply, &s->len);
    s->ready = true;
    metrics_feed_reply(s->metrics, reply);
}

static void slot_store_cb(void *arg, const json_t *reply)
{
    struct slot *s = arg;
    if (s->metrics)
        metrics_feed_ack(s->metrics, metrics_clock() - s->arrived);
    slot_set_reply(s, reply);
    if (!s->conn) {
        if (s->prev)
            s->prev->next = s->next;
        else
            s->feed->orphans = s->next;
        if (s->next)
            s->next->prev = s->prev;
        slot_free(s);
        return;
    }
    conn_flush(s->conn);
}

static struct slot *conn_new_slot(struct conn *c)
{
    struct slot *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->conn = c;
    s->metrics = c->feed->p.metrics;
    if (s->metrics) {
        metrics_feed_line(s->metrics);
        s->arrived = metrics_clock();
    }
    if (c->tail)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
    c->inflight++;
    return s;
}

static void conn_reply_error(struct conn *c, const char *code, const char *message)
{
    struct slot *s = conn_new_slot(c);
    if (!s)
        return;
    json_t *r = feed_reply_error("rejected", NULL, NULL, code, message, NULL);
    slot_set_reply(s, r);
    json_decref(r);
    conn_flush(c);
}

/* ---- lines ---------------------------------------------------------------------------------- */

static bool blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            return false;
    return true;
}

static void conn_line(struct conn *c, char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    if (blank(line, len))
        return;
    if (len > c->feed->p.max_line) {
        char msg[128];
        snprintf(msg, sizeof(msg), "line longer than the limit of %zu bytes", c->feed->p.max_line);
        conn_reply_error(c, "too_long", msg);
        return;
    }
    struct slot *s = conn_new_slot(c);
    if (!s)
        return;
    struct feed_event ev;
    struct feed_event_error err = {0};
    if (feed_event_parse(line, len, &c->feed->p.limits, &ev, &err) != 0) {
        json_t *r = feed_reply_from_error(&err);
        slot_set_reply(s, r);
        json_decref(r);
        feed_event_error_clear(&err);
        conn_flush(c);
        return;
    }
    if (c->feed->draining) {
        json_t *r = feed_reply_error("retry", ev.event_id, ev.incident_id, "shutting_down",
                                "fcrd is stopping; reconnect and send the event again", NULL);
        slot_set_reply(s, r);
        json_decref(r);
        feed_event_clear(&ev);
        conn_flush(c);
        return;
    }
    s->submitted = true;
    store_submit(c->feed->st, &ev, slot_store_cb, s);
}

/* Frame as many complete lines as the input holds, within the in-flight bound. */
static void conn_process(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t max = c->feed->p.max_line + 1; /* room for a '\r' before the newline */
    while (c->state != FEED_CONN_CLOSED) {
        if (!conn_may_read(c)) {
            if (c->state != FEED_CONN_PAUSED && c->state != FEED_CONN_CLOSING &&
                feed_conn_set_state(&c->state, FEED_CONN_PAUSED, c->id) == 0)
                bufferevent_disable(c->bev, EV_READ);
            return; /* paused: conn_flush resumes; closing: conn_flush goes on when there is room */
        }
        size_t avail = evbuffer_get_length(in);
        if (avail == 0)
            break;
        struct evbuffer_ptr nl = evbuffer_search(in, "\n", 1, NULL);
        if (c->discarding) {
            if (nl.pos < 0) {
                evbuffer_drain(in, avail);
                break;
            }
            evbuffer_drain(in, (size_t)nl.pos + 1);
            c->discarding = false;
            char msg[128];
            snprintf(msg, sizeof(msg), "line longer than the limit of %zu bytes", c->feed->p.max_line);
            conn_reply_error(c, "too_long", msg);
            continue;
        }
        if (nl.pos < 0) {
            if (avail > max) { /* never buffer more than a line may hold */
                c->discarding = true;
                evbuffer_drain(in, avail);
                continue;
            }
            if (c->state != FEED_CONN_CLOSING)
                break;
            nl.pos = (ev_off_t)avail; /* the peer closed after an unterminated last line */
        }
        size_t len = (size_t)nl.pos;
        if (len > max) {
            evbuffer_drain(in, len + (len < avail ? 1 : 0));
            char msg[128];
            snprintf(msg, sizeof(msg), "line longer than the limit of %zu bytes", c->feed->p.max_line);
            conn_reply_error(c, "too_long", msg);
            continue;
        }
        char *line = malloc(len + 1);
        if (!line) {
            conn_close(c, "out of memory");
            return;
        }
        evbuffer_remove(in, line, len);
        if (len < avail)
            evbuffer_drain(in, 1);
        line[len] = '\0';
        conn_line(c, line, len);
        free(line);
    }
    if (c->state == FEED_CONN_CLOSING && c->discarding) {
        c->discarding = false; /* the peer closed inside an over-long line: it still gets its reply */
        conn_reply_error(c, "too_long", "line longer than the limit");
    }
    if (c->state == FEED_CONN_PAUSED && feed_conn_set_state(&c->state, FEED_CONN_READING, c->id) == 0)
        bufferevent_enable(c->bev, EV_READ);
    if (c->state == FEED_CONN_CLOSING)
        conn_flush(c);
}

static void conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_process(arg);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process(arg);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    (void)bev;
    conn_flush(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    if (c->state == FEED_CONN_CLOSED)
        return;
    if (what & BEV_EVENT_CONNECTED) { /* a TLS handshake completed */
        if (feed_conn_set_state(&c->state, FEED_CONN_READING, c->id) != 0)
            return;
        bufferevent_set_timeouts(bev, NULL, NULL);
        char subject[512];
        tls_peer_subject(bev, subject, sizeof(subject));
        log_debug("feed: connection %lu: TLS established%s%s", c->id, subject[0] ? ", client " : "", subject);
        return;
    }
    if (c->state == FEED_CONN_HANDSHAKE && (what & BEV_EVENT_EOF)) {
        /* a port probe, or a client that gave up: nothing was refused */
        conn_close(c, "closed before the TLS handshake completed");
        return;
    }
    if (c->state == FEED_CONN_HANDSHAKE && (what & BEV_EVENT_TIMEOUT)) {
        log_info("feed: connection %lu: TLS handshake not completed within %d s", c->id, TLS_HANDSHAKE_TIMEOUT_S);
        metrics_feed_tls_failure(c->feed->p.metrics);
        conn_close(c, "TLS handshake timed out");
        return;
    }
    if (c->state == FEED_CONN_HANDSHAKE && (what & BEV_EVENT_ERROR)) {
        char why[768];
        tls_failure(bev, why, sizeof(why));
        log_info("feed: connection %lu: TLS handshake failed: %s", c->id, why);
        metrics_feed_tls_failure(c->feed->p.metrics);
        conn_close(c, "TLS handshake failed");
        return;
    }
    if (what & BEV_EVENT_EOF) {
        if (feed_conn_set_state(&c->state, FEED_CONN_CLOSING, c->id) == 0)
            conn_process(c);
        return;
    }
    if (what & BEV_EVENT_ERROR)
        conn_close(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* ---- listeners ------------------------------------------------------------------------------ */

static void feed_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
                           void *arg)
{
    struct feed *f = arg;
    (void)lev;
    (void)salen;
    if (f->nconns >= f->p.max_connections) {
        log_warn("feed: connection refused: %zu connections already open", f->nconns);
        metrics_feed_connection(f->p.metrics, false);
        evutil_closesocket(fd);
        return;
    }
    bool tcp = sa->sa_family == AF_INET || sa->sa_family == AF_INET6;
    if (tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->feed = f;
    c->id = ++f->next_id;
    /* TLS guards the network; a unix socket is guarded by its file permissions. */
    bool tls = tcp && f->p.tls;
    c->state = tls ? FEED_CONN_HANDSHAKE : FEED_CONN_READING; /* where it starts, not a transition */
    if (tls)
        c->bev = tls_accept(f->p.tls, f->base, fd, 0); /* closes fd when it fails */
    else
        c->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->resume = event_new(f->base, -1, 0, conn_resume_cb, c);
    if (!c->bev || !c->resume) {
        if (!c->bev && !tls)
            evutil_closesocket(fd);
        conn_free(c);
        return;
    }
    metrics_feed_connection(f->p.metrics, true);
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    if (tls) {
        struct timeval handshake = {TLS_HANDSHAKE_TIMEOUT_S, 0};
        bufferevent_set_timeouts(c->bev, &handshake, NULL);
    }
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->next = f->conns;
    if (f->conns)
        f->conns->prev = c;
    f->conns = c;
    f->nconns++;
    log_debug("feed: connection %lu opened", c->id);
}

static void feed_accept_paused(void *arg, int err)
{
    struct feed *f = arg;
    (void)err;
    metrics_accept_pause(f->p.metrics, METRICS_LISTENER_FEED);
}

static void describe_append(struct feed *f, const char *text)
{
    size_t n = strlen(f->describe);
    snprintf(f->describe + n, sizeof(f->describe) - n, "%s%s", n ? ", " : "", text);
}

static int feed_bind_tcp(struct feed *f, const struct listen_addr *a, struct listener *l, char *err, size_t errlen)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", a->port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(a->host, port, &hints, &res);
    if (rc != 0) {
        errbuf_set(err, errlen, "feed: cannot resolve %s: %s", a->host, gai_strerror(rc));
        return -1;
    }
    l->lev = evconnlistener_new_bind(f->base, feed_accept_cb, f,
                                     LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
                                     res->ai_addr, (int)res->ai_addrlen);
    freeaddrinfo(res);
    if (!l->lev) {
        errbuf_set(err, errlen, "feed: cannot listen on tcp:%s:%d: %s", a->host, a->port, strerror(errno));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[128] = "?";
    int bound = a->port;
    if (getsockname(evconnlistener_get_fd(l->lev), (struct sockaddr *)&ss, &sl) == 0) {
        char serv[16];
        if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv, sizeof(serv),
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0)
            bound = atoi(serv);
    }
    char text[192];
    snprintf(text, sizeof(text), ss.ss_family == AF_INET6 ? "tcp:[%s]:%d" : "tcp:%s:%d", host, bound);
    describe_append(f, text);
    return 0;
}

static int feed_bind_unix(struct feed *f, const struct listen_addr *a, struct listener *l, char *err,
                          size_t errlen)
{
    struct sockaddr_un sun = {0};
    sun.sun_family = AF_UNIX;
    if (strlen(a->path) >= sizeof(sun.sun_path)) {
        errbuf_set(err, errlen, "feed: unix socket path too long: %s", a->path);
        return -1;
    }
    strcpy(sun.sun_path, a->path);
    struct stat st;
    if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(a->path); /* a stale socket from an earlier run */
    l->lev = evconnlistener_new_bind(f->base, feed_accept_cb, f, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                     -1, (struct sockaddr *)&sun, (int)sizeof(sun));
    if (!l->lev) {
        errbuf_set(err, errlen, "feed: cannot listen on unix:%s: %s", a->path, strerror(errno));
        return -1;
    }
    l->unix_path = strdup(a->path);
    char text[sizeof(sun.sun_path) + 8];
    snprintf(text, sizeof(text), "unix:%s", a->path);
    describe_append(f, text);
    return 0;
}

struct feed *feed_new(struct event_base *base, const struct feed_params *p, const struct listen_addr *addrs,
                      size_t naddrs, struct store *st, char *err, size_t errlen)
{
    struct feed *f = calloc(1, sizeof(*f));
    if (!f) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    f->base = base;
    f->p = *p;
    if (f->p.max_output == 0)
        f->p.max_output = 4u << 20;
    f->st = st;
    f->reaper = event_new(base, -1, 0, feed_reap_cb, f);
    f->listeners = calloc(naddrs ? naddrs : 1, sizeof(*f->listeners));
    if (!f->reaper || !f->listeners) {
        errbuf_set(err, errlen, "out of memory");
        return feed_free(f);
    }
    for (size_t i = 0; i < naddrs; i++) {
        int rc = addrs[i].kind == LISTEN_UNIX ? feed_bind_unix(f, &addrs[i], &f->listeners[i], err, errlen)
                                              : feed_bind_tcp(f, &addrs[i], &f->listeners[i], err, errlen);
        f->nlisteners = i + 1;
        if (rc == 0 && !(f->listeners[i].pause = acceptpause_new(f->listeners[i].lev, "feed", f->p.accept_pause_ms,
                                                                  feed_accept_paused, f))) {
            errbuf_set(err, errlen, "out of memory");
            rc = -1;
        }
        if (rc != 0)
            return feed_free(f);
    }
    return f;
}

void feed_stop_listening(struct feed *f)
{
    for (size_t i = 0; i < f->nlisteners; i++) {
        f->listeners[i].pause = acceptpause_free(f->listeners[i].pause);
        if (f->listeners[i].lev) {
            evconnlistener_free(f->listeners[i].lev);
            f->listeners[i].lev = NULL;
        }
        if (f->listeners[i].unix_path) {
            unlink(f->listeners[i].unix_path);
            free(f->listeners[i].unix_path);
            f->listeners[i].unix_path = NULL;
        }
    }
}

struct feed *feed_free(struct feed *f)
{
    if (!f)
        return NULL;
    if (f->listeners)
        feed_stop_listening(f);
    free(f->listeners);
    while (f->conns)
        conn_close(f->conns, "shutting down");
    feed_reap_cb(-1, 0, f);
    while (f->orphans) { /* the store was freed first and will not answer them */
        struct slot *s = f->orphans;
        f->orphans = s->next;
        slot_free(s);
    }
    if (f->reaper)
        event_free(f->reaper);
    free(f);
    return NULL;
}

void feed_set_draining(struct feed *f)
{
    f->draining = true;
}

void feed_set_limits(struct feed *f, const struct feed_params *p)
{
    f->p.max_line = p->max_line;
    f->p.max_inflight = p->max_inflight;
    f->p.max_connections = p->max_connections;
}

size_t feed_unsent(const struct feed *f)
{
    size_t n = 0;
    for (const struct conn *c = f->conns; c; c = c->next)
        n += conn_output(c);
    return n;
}

size_t feed_connections(const struct feed *f)
{
    return f->nconns;
}

size_t feed_inflight(const struct feed *f)
{
    size_t n = 0;
    for (const struct conn *c = f->conns; c; c = c->next)
        n += c->inflight;
    return n;
}

const char *feed_describe(const struct feed *f)
{
    return f->describe;
}
