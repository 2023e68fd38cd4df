/* store.c: the write path's entry points: events and people's decisions are queued here, answered
 * at once when the database is down or the queue is full, and handed to the lanes (store_lane.c).
 *
 * How a batch goes (see store_lane.c): lanes each carry one batch at a time in one transaction;
 * the queue's choice (store_queue.c) keeps one incident's events in arrival order across lanes; a
 * batch is decided in memory (store_batch.c) and written as a few statement parameters
 * (store_write.c). Events that arrive while every lane is busy wait and form the next batches:
 * group commit without a timer. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "feed/feed_reply.h"
#include "service/metrics.h"
#include "store/pgconn.h"
#include "store/rulesets.h"
#include "store/store_int.h"

/* ---- items and the queue -------------------------------------------------------------------- */

/* The item's memory is no longer the queue's: released before its reply is handed over, so that
 * the feed, woken by that reply, sees the room it made. */
static void store_item_release(struct store_item *it)
{
    if (it->charged_to) {
        it->charged_to->bytes -= it->charge;
        it->charged_to = NULL;
    }
}

struct store_item *store_item_free(struct store_item *it)
{
    if (!it)
        return NULL;
    store_item_release(it);
    feed_event_clear(&it->ev);
    json_decref(it->act);
    json_decref(it->reply);
    free(it);
    return NULL;
}

void store_deliver(struct store_item *it, json_t *reply)
{
    store_item_release(it);
    it->fn(it->arg, reply);
    json_decref(reply);
    store_item_free(it);
}

json_t *store_action_reply(int status, const char *code, const char *message, const char *field)
{
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (field && *field)
        json_object_set_new(e, "field", json_string(field));
    return json_pack("{s:i, s:{s:o}}", "status", status, "body", "error", e);
}

void store_answer_retry(struct store_item *it, const char *code, const char *message)
{
    if (it->act)
        store_deliver(it, store_action_reply(503, code, message, NULL));
    else
        store_deliver(it, feed_reply_error("retry", it->ev.event_id, it->ev.incident_id, code, message, NULL));
}

void store_push_front(struct store *st, struct store_item *it)
{
    it->next = st->head;
    st->head = it;
    if (!st->tail)
        st->tail = it;
    st->queued++;
}

static void store_push_back(struct store *st, struct store_item *it)
{
    it->next = NULL;
    if (st->tail)
        st->tail->next = it;
    else
        st->head = it;
    st->tail = it;
    st->queued++;
}

static struct store_item *store_pop(struct store *st)
{
    struct store_item *it = st->head;
    if (!it)
        return NULL;
    st->head = it->next;
    if (!st->head)
        st->tail = NULL;
    it->next = NULL;
    st->queued--;
    return it;
}

/* Items in doubt may be committed: they wait to be looked up again. */
void store_answer_queued(struct store *st, const char *code, const char *message)
{
    struct store_item *keep = NULL, **tail = &keep;
    struct store_item *it;
    while ((it = store_pop(st)) != NULL) {
        if (it->in_doubt) {
            *tail = it;
            tail = &it->next;
        } else {
            store_answer_retry(it, code, message);
        }
    }
    while (keep) {
        it = keep;
        keep = keep->next;
        store_push_back(st, it);
    }
}

void store_schedule(struct store *st)
{
    event_active(st->kick, EV_TIMEOUT, 0);
}

static void store_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct store *st = arg;
    (void)fd;
    (void)what;
    for (size_t k = 0; k < st->p.lanes && st->head; k++)
        store_lane_start(&st->lanes[k]);
}

/* ---- public --------------------------------------------------------------------------------- */

struct store *store_new(struct event_base *base, const struct store_params *p, const struct ruleset *rs)
{
    struct store *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->base = base;
    st->p = *p;
    st->force = strdup(p->force);
    st->conninfo = strdup(p->conninfo);
    st->p.force = st->force;
    st->p.conninfo = st->conninfo;
    if (st->p.batch_max == 0)
        st->p.batch_max = 1;
    if (st->p.unit_timeout_ms <= 0)
        st->p.unit_timeout_ms = 10000;
    if (st->p.lanes == 0)
        st->p.lanes = 1;
    st->rs = rs;
    rulesets_host(st->host, sizeof(st->host));
    st->lanes = calloc(st->p.lanes, sizeof(*st->lanes));
    st->kick = event_new(base, -1, 0, store_kick_cb, st);
    if (!st->force || !st->conninfo || !st->lanes || !st->kick)
        return store_free(st);
    for (size_t k = 0; k < st->p.lanes; k++)
        if (store_lane_init(&st->lanes[k], st, k) != 0)
            return store_free(st);
    return st;
}

struct store *store_free(struct store *st)
{
    if (!st)
        return NULL;
    for (size_t k = 0; st->lanes && k < st->p.lanes; k++)
        store_lane_clear(&st->lanes[k]);
    free(st->lanes);
    struct store_item *it;
    while ((it = store_pop(st)) != NULL)
        store_item_free(it);
    if (st->kick)
        event_free(st->kick);
    free(st->force);
    free(st->conninfo);
    free(st);
    return NULL;
}

void store_set_ruleset(struct store *st, const struct ruleset *rs)
{
    st->rs = rs;
}

void store_submit(struct store *st, struct feed_event *ev, store_reply_fn fn, void *arg)
{
    struct store_item *it = calloc(1, sizeof(*it));
    if (!it) {
        json_t *r = feed_reply_error("retry", ev->event_id, ev->incident_id, "overloaded", "out of memory", NULL);
        fn(arg, r);
        json_decref(r);
        feed_event_clear(ev);
        return;
    }
    it->ev = *ev;
    memset(ev, 0, sizeof(*ev));
    it->fn = fn;
    it->arg = arg;
    if (!store_db_up(st)) {
        store_answer_retry(it, "db_unavailable", "the database is unavailable");
        return;
    }
    if (st->hold_code) {
        store_answer_retry(it, st->hold_code, st->hold_message);
        return;
    }
    if (st->queued >= st->p.queue_max) {
        store_answer_retry(it, "overloaded", "too many events are waiting for the database");
        return;
    }
    /* By bytes too: a few large events can hold more than many small ones. One event is always
     * taken into an empty queue, or an event larger than the bound could never be written. */
    size_t charge = it->ev.bytes;
    if (st->p.queue_bytes_max > 0 && st->bytes > 0 && st->bytes + charge > st->p.queue_bytes_max) {
        store_answer_retry(it, "overloaded", "the events waiting for the database hold too much memory");
        return;
    }
    it->charged_to = st;
    it->charge = charge;
    st->bytes += charge;
    store_push_back(st, it);
    store_schedule(st);
}

void store_submit_action(struct store *st, const char *incident_id, json_t *act, store_reply_fn fn, void *arg)
{
    struct store_item *it = calloc(1, sizeof(*it));
    if (!it || !(it->ev.incident_id = strdup(incident_id))) {
        free(it);
        json_t *r = store_action_reply(503, "overloaded", "out of memory", NULL);
        fn(arg, r);
        json_decref(r);
        json_decref(act);
        return;
    }
    it->act = act;
    it->fn = fn;
    it->arg = arg;
    if (!store_db_up(st)) {
        store_answer_retry(it, "db_unavailable", "the database is unavailable");
        return;
    }
    if (st->hold_code) {
        store_answer_retry(it, st->hold_code, st->hold_message);
        return;
    }
    store_push_back(st, it);
    store_schedule(st);
}

bool store_db_up(const struct store *st)
{
    for (size_t k = 0; k < st->p.lanes; k++)
        if (st->lanes[k].db && pgconn_up(st->lanes[k].db))
            return true;
    return false;
}

size_t store_bytes(const struct store *st)
{
    return st->bytes;
}

bool store_memory_tight(const struct store *st)
{
    return st->p.queue_bytes_max > 0 && st->bytes >= st->p.queue_bytes_max / 4 * 3;
}

void store_set_caps(struct store *st, const struct store_incident_caps *caps)
{
    st->p.caps = *caps;
}

size_t store_backlog(const struct store *st)
{
    size_t n = st->queued;
    for (size_t k = 0; k < st->p.lanes; k++)
        n += st->lanes[k].nbatch;
    return n;
}

bool store_idle(const struct store *st)
{
    for (size_t k = 0; k < st->p.lanes; k++)
        if (st->lanes[k].state != STORE_LANE_IDLE)
            return false;
    return st->queued == 0;
}

void store_fail_queued(struct store *st, const char *code, const char *message)
{
    store_answer_queued(st, code, message);
    /* Batches that have not sent their COMMIT are abandoned: their connection is closed, so their
     * transaction cannot commit, and they are answered like the queue. */
    st->fail_code = code;
    st->fail_message = message;
    for (size_t k = 0; k < st->p.lanes; k++)
        store_lane_abandon(&st->lanes[k], message);
    st->fail_code = st->fail_message = NULL;
}

void store_set_hold(struct store *st, const char *code, const char *message)
{
    st->hold_code = code;
    st->hold_message = code ? message : NULL;
}

const char *store_hold(const struct store *st)
{
    return st->hold_code;
}

void store_set_batch_max(struct store *st, size_t batch_max)
{
    st->p.batch_max = batch_max ? batch_max : 1;
}

void store_set_max_seq_gap(struct store *st, int64_t max_seq_gap)
{
    st->p.max_seq_gap = max_seq_gap;
}

unsigned long store_db_reconnects(const struct store *st)
{
    unsigned long n = 0;
    for (size_t k = 0; k < st->p.lanes; k++)
        n += pgconn_reconnects(st->lanes[k].db);
    return n;
}

double store_batch_age(const struct store *st)
{
    double age = 0;
    for (size_t k = 0; k < st->p.lanes; k++) {
        const struct store_lane *ln = &st->lanes[k];
        if (ln->state != STORE_LANE_IDLE && metrics_clock() - ln->batch_started > age)
            age = metrics_clock() - ln->batch_started;
    }
    return age;
}
