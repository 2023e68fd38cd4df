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
#include "util/lograte.h"
#include "service/sources.h"
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
    size_t reply_bytes; /* ready replies held in slots behind one still awaited: charged like output */
    unsigned long id;
    enum feed_conn_state state; /* changed only through feed_conn_set_state */
    /* Inside an over-long line: drop bytes up to its newline. A field, not a state: the line
     * spans reads, so it may straddle a pause and the peer's EOF (see feed_conn.h). */
    bool discarding;
    struct event *first_line; /* closes the connection when no complete line came in time */
    bool got_line;            /* a complete line arrived: the first-line deadline is off */
    /* Who the peer is. `known`: identified as a [sources] source, so it counts against that
     * source's cap and may take a reserved place; until then (a TLS handshake under way, or no
     * [sources] at all) it counts in feed->nunknown. */
    bool tcp, loopback, has_uid, known;
    uid_t uid;
    char peer[540]; /* "tcp:192.0.2.7:40112", "unix uid 0 pid 123", then " subject ..." once known; for logs */
    char source[SOURCES_NAME_MAX + 1];  /* "" until identified */
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
    size_t nunknown; /* live connections not identified as a [sources] source */
    /* Refusals and closings a peer can cause at will are logged rate-limited, each kind alone. */
    struct lograte log_unknown, log_full, log_idle;
    unsigned long next_id;
    bool draining;
    bool mem_paused; /* a connection stopped reading because the store's charged bytes were tight */
    char describe[1024];
};

static void conn_process(struct conn *c);
static bool conn_identify(struct conn *c, const char *subject);

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
    if (c->first_line)
        evtimer_del(c->first_line);
    if (!c->known)
        f->nunknown--;
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
    if (c->first_line)
        event_free(c->first_line);
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

/* A connection reads on while it has room of its own (lines awaiting a reply, reply bytes not yet
 * taken by the peer, against max_output) and the store's charged bytes are not tight: parsed events
 * waiting for the database are what grows with input when the database stalls. */
static bool conn_may_read(const struct conn *c)
{
    struct feed *f = c->feed;
    if (c->inflight >= f->p.max_inflight || conn_output(c) + c->reply_bytes >= f->p.max_output)
        return false;
    if (store_memory_tight(f->st)) {
        f->mem_paused = true;
        return false;
    }
    return true;
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
        c->reply_bytes -= s->line ? s->len : 0;
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
    if (s->conn && s->line)
        s->conn->reply_bytes += s->len;
    metrics_feed_reply(s->metrics, reply);
}

/* The store answered and released what it charged: connections stopped for memory go on once it
 * is no longer tight (each checks its own room again when it resumes). */
static void feed_mem_wake(struct feed *f)
{
    if (!f->mem_paused || store_memory_tight(f->st))
        return;
    f->mem_paused = false;
    for (struct conn *c = f->conns; c; c = c->next)
        if (c->state == FEED_CONN_PAUSED || (c->state == FEED_CONN_CLOSING && conn_has_input(c)))
            event_active(c->resume, EV_TIMEOUT, 0);
}

static void slot_store_cb(void *arg, const json_t *reply)
{
    struct slot *s = arg;
    if (s->metrics)
        metrics_feed_ack(s->metrics, metrics_clock() - s->arrived);
    slot_set_reply(s, reply);
    if (!s->conn) {
        struct feed *f = s->feed;
        if (s->prev)
            s->prev->next = s->next;
        else
            f->orphans = s->next;
        if (s->next)
            s->next->prev = s->prev;
        slot_free(s);
        feed_mem_wake(f);
        return;
    }
    struct feed *f = s->conn->feed;
    conn_flush(s->conn);
    feed_mem_wake(f);
}

static struct slot *conn_new_slot(struct conn *c)
{
    struct slot *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->conn = c;
    if (!c->got_line) { /* every line that gets a reply counts, a refused one too */
        c->got_line = true;
        if (c->first_line)
            evtimer_del(c->first_line);
    }
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
    ev.source = strdup(c->source[0] ? c->source : SOURCES_DEFAULT);
    if (!ev.source) {
        json_t *r = feed_reply_error("retry", ev.event_id, ev.incident_id, "overloaded", "out of memory", NULL);
        slot_set_reply(s, r);
        json_decref(r);
        feed_event_clear(&ev);
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
        if (subject[0]) {
            char who[128];
            snprintf(who, sizeof(who), "%.100s", c->peer);
            snprintf(c->peer, sizeof(c->peer), "%s subject %.400s", who, subject);
        }
        /* No line has been read yet: one that no source owns, or over its source's cap, ends here. */
        if (!conn_identify(c, subject)) {
            conn_close(c, "refused after the TLS handshake");
            return;
        }
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

static void conn_first_line_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    struct feed *f = c->feed;
    (void)fd;
    (void)what;
    if (c->state == FEED_CONN_CLOSED || c->got_line)
        return;
    lograte_refused(&f->log_idle, metrics_clock(),
                    "feed: connection %lu from %s closed: no complete line within %d s of opening", c->id, c->peer,
                    f->p.first_line_timeout_s);
    conn_close(c, "no complete line in time");
}

/* Who is at the other end, before anything is read: address, loopback or not, a Unix socket
 * peer's user (SO_PEERCRED: the credentials it had when it connected, which it cannot fake). */
static void conn_peer(struct conn *c, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
        c->tcp = true;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
            c->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
        } else {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
            const uint8_t *b = in6->sin6_addr.s6_addr;
            c->loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                          (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127);
        }
        char host[64] = "?", serv[16] = "?";
        getnameinfo(sa, (socklen_t)salen, host, sizeof(host), serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV);
        snprintf(c->peer, sizeof(c->peer), sa->sa_family == AF_INET6 ? "tcp:[%s]:%s" : "tcp:%s:%s", host, serv);
        return;
    }
    struct ucred cr;
    socklen_t len = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && len == sizeof(cr)) {
        c->has_uid = true;
        c->uid = cr.uid;
        snprintf(c->peer, sizeof(c->peer), "unix uid %lu pid %ld", (unsigned long)cr.uid, (long)cr.pid);
    } else {
        snprintf(c->peer, sizeof(c->peer), "unix (peer credentials unknown)");
    }
}

static size_t source_conns(const struct feed *f, const char *name)
{
    size_t n = 0;
    for (const struct conn *c = f->conns; c; c = c->next)
        n += c->known && strcmp(c->source, name) == 0;
    return n;
}

/* conn_identify: names the connection's source from what is known of its peer (subject: its
 * client certificate's, or NULL). With [sources] configured, a peer no entry names, or one whose
 * source already holds max_connections_per_source connections, is refused: logged rate-limited,
 * and false is returned (the caller closes it). Without [sources] every peer is "default". The
 * connection must already be in f->conns and counted in f->nunknown. */
static bool conn_identify(struct conn *c, const char *subject)
{
    struct feed *f = c->feed;
    if (!f->p.sources) {
        snprintf(c->source, sizeof(c->source), "%s", SOURCES_DEFAULT);
        return true;
    }
    struct sources_peer peer = {subject && *subject ? subject : NULL, c->has_uid, c->uid, c->loopback};
    const char *name = sources_match(f->p.sources, &peer);
    if (!name) {
        lograte_refused(&f->log_unknown, metrics_clock(),
                        "feed: connection %lu from %s refused: no [sources] entry names it", c->id, c->peer);
        metrics_feed_connection(f->p.metrics, false);
        return false;
    }
    size_t held = source_conns(f, name);
    if (held >= f->p.max_per_source) {
        lograte_refused(&f->log_full, metrics_clock(),
                        "feed: connection %lu from %s refused: source %s holds %zu connections already "
                        "([feed] max_connections_per_source)",
                        c->id, c->peer, name, held);
        metrics_feed_connection(f->p.metrics, false);
        return false;
    }
    snprintf(c->source, sizeof(c->source), "%s", name);
    c->known = true;
    f->nunknown--;
    log_debug("feed: connection %lu from %s is source %s", c->id, c->peer, name);
    return true;
}

/* TCP keepalive, so that a peer that vanished (a cable cut, a crashed host) does not hold its
 * place until the next write: the kernel probes an idle connection and drops it unanswered. */
static void conn_keepalive(const struct feed *f, evutil_socket_t fd)
{
    if (f->p.keepalive_s <= 0)
        return;
    int one = 1, idle = f->p.keepalive_s, intvl = f->p.keepalive_interval_s, cnt = f->p.keepalive_count;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) != 0 ||
        (intvl > 0 && setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) != 0) ||
        (cnt > 0 && setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) != 0))
        log_debug("feed: cannot set TCP keepalive: %s", strerror(errno));
}

static void feed_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
                           void *arg)
{
    struct feed *f = arg;
    (void)lev;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->feed = f;
    c->id = ++f->next_id;
    conn_peer(c, fd, sa, salen);
    /* Unidentified connections (a TLS handshake under way) may not take the reserved places,
     * so that a flood of them leaves room for the sources' own. Without [sources] no
     * connection is ever identified, and nothing is reserved. */
    size_t reserved = f->p.sources ? f->p.reserved : 0;
    bool tls = c->tcp && f->p.tls;
    bool full = f->nconns >= f->p.max_connections;
    if (!full && tls && f->nunknown + reserved >= f->p.max_connections)
        full = true;
    if (full) {
        lograte_refused(&f->log_full, metrics_clock(),
                        "feed: connection %lu from %s refused: %zu connections open, %zu of them unidentified "
                        "([feed] max_connections %zu, reserved_connections %zu)",
                        c->id, c->peer, f->nconns, f->nunknown, f->p.max_connections, reserved);
        metrics_feed_connection(f->p.metrics, false);
        evutil_closesocket(fd);
        free(c);
        return;
    }
    if (c->tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn_keepalive(f, fd);
    }
    /* TLS guards the network; a unix socket is guarded by its file permissions. */
    c->state = tls ? FEED_CONN_HANDSHAKE : FEED_CONN_READING; /* where it starts, not a transition */
    if (tls)
        c->bev = tls_accept(f->p.tls, f->base, fd, 0); /* closes fd when it fails */
    else
        c->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->resume = event_new(f->base, -1, 0, conn_resume_cb, c);
    c->first_line = evtimer_new(f->base, conn_first_line_cb, c);
    if (!c->bev || !c->resume || !c->first_line) {
        if (!c->bev && !tls)
            evutil_closesocket(fd);
        conn_free(c);
        return;
    }
    c->next = f->conns;
    if (f->conns)
        f->conns->prev = c;
    f->conns = c;
    f->nconns++;
    f->nunknown++;
    /* A plain connection is identified at once, before anything is read from it. */
    if (!tls && !conn_identify(c, NULL)) {
        conn_close(c, "refused before reading");
        return;
    }
    metrics_feed_connection(f->p.metrics, true);
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    if (tls) {
        struct timeval handshake = {TLS_HANDSHAKE_TIMEOUT_S, 0};
        bufferevent_set_timeouts(c->bev, &handshake, NULL);
    }
    if (f->p.first_line_timeout_s > 0) {
        struct timeval deadline = {f->p.first_line_timeout_s, 0};
        evtimer_add(c->first_line, &deadline);
    }
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    log_debug("feed: connection %lu opened from %s%s%s", c->id, c->peer, c->source[0] ? ", source " : "", c->source);
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
    f->log_unknown.every = f->log_full.every = f->log_idle.every = p->refusal_interval_s;
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
    f->p.limits = p->limits;
    f->p.max_per_source = p->max_per_source;
    f->p.reserved = p->reserved;
    f->p.first_line_timeout_s = p->first_line_timeout_s;
    f->p.keepalive_s = p->keepalive_s;
    f->p.keepalive_interval_s = p->keepalive_interval_s;
    f->p.keepalive_count = p->keepalive_count;
    f->p.sources = p->sources;
    f->p.refusal_interval_s = p->refusal_interval_s;
    f->log_unknown.every = f->log_full.every = f->log_idle.every = p->refusal_interval_s;
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
