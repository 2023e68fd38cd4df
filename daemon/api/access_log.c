/* access_log.c: appends access records to the 'access' chain in batches with group commit. */
#include "api/access_log.h"

#include <stdlib.h>
#include <string.h>

#include "service/metrics.h"
#include "store/pgconn.h"
#include "util/jsonwrite.h"
#include "util/log.h"

/* One statement, its own implicit transaction: the batch commits at the unit's sync point. */
#define SQL_ACCESS_APPEND "SELECT access_log_append($1)"

struct access_log_wait {
    char *line;                  /* the record's canonical text, until sent */
    access_log_done_fn done;     /* NULL once cancelled */
    void *arg;
    struct access_log_wait *next;
};

struct access_log {
    struct pgconn *db;
    struct event *deadline; /* the batch in flight gives up */
    struct event *kick;     /* sends the queued records from the loop */
    int timeout_ms;
    struct metrics *metrics;
    /* records waiting for the next batch, in arrival order, and the batch in flight */
    struct access_log_wait *head, *tail, *inflight;
    bool busy;
};

static void access_log_pump(struct access_log *l);

/* Tell every waiter of a list how its batch ended and free the list. */
static void access_log_settle(struct access_log *l, struct access_log_wait *w, bool ok)
{
    size_t n = 0;
    for (struct access_log_wait *x = w; x; x = x->next)
        n++;
    if (n)
        metrics_access_log(l->metrics, ok, n);
    while (w) {
        struct access_log_wait *next = w->next;
        if (w->done)
            w->done(w->arg, ok);
        free(w->line);
        free(w);
        w = next;
    }
}

static void access_log_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct access_log *l = arg;
    (void)sent_all;
    event_del(l->deadline);
    bool ok = !error && n == 1 && pgconn_result_ok(res[0]);
    if (!ok && !error && n >= 1 && res[0]) {
        const char *state = PQresultErrorField(res[0], PG_DIAG_SQLSTATE);
        /* The SQLSTATE only: the server's message can quote the record. */
        log_error("access log: a batch could not be written (SQLSTATE %s)", state ? state : "?");
    } else if (!ok) {
        log_error("access log: a batch could not be written: %s", error ? error : "no result");
    }
    struct access_log_wait *batch = l->inflight;
    l->inflight = NULL;
    l->busy = false;
    access_log_settle(l, batch, ok);
    access_log_pump(l);
}

static void access_log_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct access_log *l = arg;
    (void)fd;
    (void)what;
    /* The unit's callback follows with an error: its waiters are answered 503. */
    pgconn_drop(l->db, "an access log batch took too long");
}

static void access_log_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    access_log_pump(arg);
}

/* Send everything queued as one batch, when nothing is in flight. */
static void access_log_pump(struct access_log *l)
{
    if (l->busy || !l->head || !pgconn_ready(l->db))
        return;
    size_t len = 0;
    for (struct access_log_wait *w = l->head; w; w = w->next)
        len += strlen(w->line) + 1;
    char *lines = malloc(len + 1);
    struct access_log_wait *batch = l->head;
    l->head = l->tail = NULL;
    if (!lines) {
        access_log_settle(l, batch, false);
        return;
    }
    size_t at = 0;
    for (struct access_log_wait *w = batch; w; w = w->next) {
        size_t n = strlen(w->line);
        memcpy(lines + at, w->line, n);
        lines[at + n] = '\n';
        at += n + 1;
        free(w->line);
        w->line = NULL;
    }
    lines[at] = '\0';
    const char *params[1] = {lines};
    struct pg_query q = {SQL_ACCESS_APPEND, 1, params};
    l->inflight = batch;
    l->busy = true;
    int rc = pgconn_send(l->db, &q, 1, access_log_done, l);
    free(lines); /* libpq copied it */
    if (rc != 0) {
        l->inflight = NULL;
        l->busy = false;
        access_log_settle(l, batch, false);
        return;
    }
    struct timeval tv = {l->timeout_ms / 1000, (l->timeout_ms % 1000) * 1000};
    event_add(l->deadline, &tv);
}

static void access_log_state(void *arg, bool up)
{
    struct access_log *l = arg;
    if (up) {
        access_log_pump(l);
        return;
    }
    /* Queued records cannot be written now: their replies are refused rather than held. */
    struct access_log_wait *queued = l->head;
    l->head = l->tail = NULL;
    access_log_settle(l, queued, false);
}

struct access_log *access_log_new(struct event_base *base, const char *conninfo, int connect_timeout_ms,
                                  int timeout_ms, int schema, struct metrics *metrics)
{
    struct access_log *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->timeout_ms = timeout_ms;
    l->metrics = metrics;
    l->deadline = evtimer_new(base, access_log_timeout, l);
    l->kick = evtimer_new(base, access_log_kick, l);
    l->db = l->deadline && l->kick ? pgconn_new(base, conninfo, "access log", access_log_state, l) : NULL;
    if (!l->db)
        return access_log_free(l);
    pgconn_set_connect_timeout(l->db, connect_timeout_ms);
    pgconn_require_schema(l->db, schema);
    return l;
}

struct access_log *access_log_free(struct access_log *l)
{
    if (!l)
        return NULL;
    pgconn_free(l->db);
    l->metrics = NULL; /* may be gone already when fcrd stops; nothing is written now anyway */
    if (l->deadline)
        event_free(l->deadline);
    if (l->kick)
        event_free(l->kick);
    for (struct access_log_wait *w = l->inflight; w; w = w->next)
        w->done = NULL;
    for (struct access_log_wait *w = l->head; w; w = w->next)
        w->done = NULL;
    access_log_settle(l, l->inflight, false);
    access_log_settle(l, l->head, false);
    free(l);
    return NULL;
}

void access_log_set_timeout(struct access_log *l, int timeout_ms)
{
    l->timeout_ms = timeout_ms;
}

bool access_log_up(const struct access_log *l)
{
    return pgconn_up(l->db);
}

/* A record is one line of the batch: its text must not hold a raw newline, which compact JSON
 * never does (every control character in a string is escaped). */
struct access_log_wait *access_log_write(struct access_log *l, const json_t *record, access_log_done_fn done,
                                         void *arg)
{
    struct access_log_wait *w = pgconn_up(l->db) ? calloc(1, sizeof(*w)) : NULL;
    if (w)
        w->line = jsonwrite_dumps(record, JSONWRITE_SORT);
    if (!w || !w->line) {
        free(w);
        metrics_access_log(l->metrics, false, 1);
        return NULL;
    }
    w->done = done;
    w->arg = arg;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    /* Sent from the loop, not from here: done must not run inside this call, and records that
     * arrive in the same loop turn join the same batch. */
    if (!l->busy)
        event_active(l->kick, EV_TIMEOUT, 0);
    return w;
}

void access_log_cancel(struct access_log_wait *w)
{
    if (w)
        w->done = NULL;
}
