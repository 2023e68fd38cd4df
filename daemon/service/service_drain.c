/* service_drain.c: the bounded stop (SIGTERM, SIGINT): stop accepting, let what is in flight
 * commit and be answered, and end the loop within [service] drain_timeout_ms. */
#include <stdio.h>

#include "api/api.h"
#include "feed/feed.h"
#include "service/config.h"
#include "service/metrics.h"
#include "service/notify.h"
#include "service/service_int.h"
#include "store/store.h"
#include "util/log.h"

#define DRAIN_POLL_MS 50

static void service_drain_check_cb(evutil_socket_t fd, short what, void *arg)
{
    struct service *svc = arg;
    (void)fd;
    (void)what;
    double limit = svc->cur.cfg->drain_timeout_ms / 1000.0;
    double waited = metrics_clock() - svc->drain_started;
    if (store_idle(svc->st) && feed_inflight(svc->feed) == 0 && feed_unsent(svc->feed) == 0) {
        log_info("drain: everything in flight was answered after %.0f ms", waited * 1000);
        event_base_loopexit(svc->base, NULL);
        return;
    }
    /* Near the bound, queued events that will not make it are told to come back; the last
     * stretch is left for those replies to go out. A batch whose COMMIT is in flight is never
     * answered retry: it may commit, and its senders learn the outcome when they resend. */
    double margin = limit / 4 < 1.0 ? limit / 4 : 1.0;
    if (!svc->drain_failed_queued && waited >= limit - margin) {
        svc->drain_failed_queued = true;
        size_t queued = store_backlog(svc->st);
        store_fail_queued(svc->st, "shutting_down", "fcrd is stopping; reconnect and send the event again");
        log_warn("drain: %zu event(s) still waiting; the queued ones were answered retry/shutting_down", queued);
    }
    if (waited >= limit) {
        log_warn("drain: %zu event(s) still in flight after %d ms; stopping without their replies "
                 "(their senders resend them)",
                 store_backlog(svc->st), svc->cur.cfg->drain_timeout_ms);
        event_base_loopexit(svc->base, NULL);
        return;
    }
    struct timeval tv = {0, DRAIN_POLL_MS * 1000};
    evtimer_add(svc->drain_timer, &tv);
}

/* service_drain: lines that arrive on open connections are answered retry/shutting_down; what
 * is in flight commits and is answered; the loop ends within the bound. */
void service_drain(struct service *svc)
{
    if (!svc->started)
        return; /* nothing to drain */
    if (svc->draining) {
        log_warn("second stop signal: exiting now");
        event_base_loopexit(svc->base, NULL);
        return;
    }
    svc->draining = true;
    svc->drain_started = metrics_clock();
    char status[128];
    snprintf(status, sizeof(status), "stopping: finishing %zu event(s) in flight", store_backlog(svc->st));
    notify_stopping(svc->notify, status);
    log_info("stopping: no new connections; finishing %zu event(s) in flight within %d ms", store_backlog(svc->st),
             svc->cur.cfg->drain_timeout_ms);
    feed_stop_listening(svc->feed);
    feed_set_draining(svc->feed);
    api_set_draining(svc->api, true);
    svc->drain_timer = evtimer_new(svc->base, service_drain_check_cb, svc);
    if (!svc->drain_timer) {
        event_base_loopexit(svc->base, NULL);
        return;
    }
    service_drain_check_cb(-1, 0, svc);
}
