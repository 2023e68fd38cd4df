/* acceptpause.c: accept errors pause the listener instead of spinning the loop. */
#include "util/acceptpause.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

struct acceptpause {
    struct evconnlistener *lev;
    struct event *resume;
    char *name;
    int pause_ms;
    acceptpause_fn fn;
    void *arg;
    unsigned long pauses;
    double logged;             /* when a line was last logged; < 0: never */
    unsigned long unlogged;    /* pauses since */
    struct acceptpause *next;
};

/* The listeners watched. libevent hands a listener's error callback the argument of its accept
 * callback, which for evhttp's listeners is evhttp's own: the watcher is found by its listener. */
static struct acceptpause *acceptpause_all;

static double acceptpause_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void acceptpause_resume(evutil_socket_t fd, short what, void *arg)
{
    struct acceptpause *p = arg;
    (void)fd;
    (void)what;
    evconnlistener_enable(p->lev);
}

/* Without it, libevent logs the error and returns with the listener still armed: the pending
 * connection keeps the socket readable, and the loop wakes at once, for ever. */
static void acceptpause_error(struct evconnlistener *lev, void *unused)
{
    (void)unused;
    int err = EVUTIL_SOCKET_ERROR();
    struct acceptpause *p = acceptpause_all;
    while (p && p->lev != lev)
        p = p->next;
    if (!p)
        return;
    evconnlistener_disable(lev);
    struct timeval tv = {p->pause_ms / 1000, (p->pause_ms % 1000) * 1000};
    evtimer_add(p->resume, &tv);
    p->pauses++;
    if (p->fn)
        p->fn(p->arg, err);
    double now = acceptpause_clock();
    if (p->logged >= 0 && now - p->logged < 1.0) {
        p->unlogged++;
        return;
    }
    char more[96] = "";
    if (p->unlogged)
        snprintf(more, sizeof(more), " (%lu more pauses since the last such line)", p->unlogged);
    log_warn("%s: cannot accept a connection: %s; not accepting for %d ms%s", p->name, strerror(err), p->pause_ms,
             more);
    p->logged = now;
    p->unlogged = 0;
}

struct acceptpause *acceptpause_new(struct evconnlistener *lev, const char *name, int pause_ms, acceptpause_fn fn,
                                    void *arg)
{
    struct acceptpause *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->lev = lev;
    p->name = strdup(name);
    p->resume = evtimer_new(evconnlistener_get_base(lev), acceptpause_resume, p);
    if (!p->name || !p->resume) {
        if (p->resume)
            event_free(p->resume);
        free(p->name);
        free(p);
        return NULL;
    }
    p->pause_ms = pause_ms > 0 ? pause_ms : 1;
    p->fn = fn;
    p->arg = arg;
    p->logged = -1;
    p->next = acceptpause_all;
    acceptpause_all = p;
    evconnlistener_set_error_cb(lev, acceptpause_error);
    return p;
}

struct acceptpause *acceptpause_free(struct acceptpause *p)
{
    if (!p)
        return NULL;
    struct acceptpause **at = &acceptpause_all;
    while (*at && *at != p)
        at = &(*at)->next;
    if (*at)
        *at = p->next;
    evconnlistener_set_error_cb(p->lev, NULL);
    event_free(p->resume);
    free(p->name);
    free(p);
    return NULL;
}

unsigned long acceptpause_count(const struct acceptpause *p)
{
    return p ? p->pauses : 0;
}
