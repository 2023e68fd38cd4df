/* store_lane.c: the lanes: each a dedicated store connection carrying one batch at a time through
 * its round trips, and what ends it (delivered, put back, answered retry, or in doubt).
 *
 * Lanes ([store] lanes, default 4) run their transactions at the same time, so that one batch is
 * decided in memory while others are written and committed. A batch takes three round trips:
 *   1. BEGIN; create the missing incidents the batch links to or updates (not those it opens:
 *      see SQL_INCIDENTS_CREATE); lock (one sorted statement) the batch's incidents and the
 *      incidents they link to, reading their state; lock the victims' refs and read their person
 *      index rows (SQL_PERSONS_LOCK, SQL_PERSONS_READ); read already-seen event ids; fetch serial
 *      numbers.
 *   2. (rules decided in memory, event by event, in arrival order: store_batch.c) one write
 *      statement, which also inserts the incidents that had no row, then the audit entries, which
 *      the database chains under the chain head's row lock.
 *   3. COMMIT.
 * A direct batch (batch_direct), made only of openings of new incidents, is decided before any
 * round trip and sends BEGIN with its writes: two round trips. If an incident or event id it
 * opens is already there, the write fails on that key and the batch is decided again as above.
 * A lane's batch never touches an incident another lane's batch touches (store_queue.c), so one
 * incident's events are decided in arrival order. A batch stalled before its COMMIT is answered
 * retry; a connection lost with the COMMIT in flight leaves the batch in doubt: its events go back
 * to the head of the queue and are looked up again once the database is back. */
#include "store/store_lane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "service/metrics.h"
#include "store/incident_members.h"
#include "store/pgconn.h"
#include "store/store_int.h"
#include "store/store_queue.h"
#include "store/store_sql.h"
#include "util/jsonparse.h"
#include "util/log.h"

#define MAX_ATTEMPTS 3

/* The write path's statements, prepared on every session of the store connection: pgconn knows
 * them by address, so each is one object used everywhere. */
static const char sql_incidents_create[] = SQL_INCIDENTS_CREATE;
static const char sql_incidents_lock[] = SQL_INCIDENTS_LOCK;
static const char sql_incidents_lock_back[] = SQL_INCIDENTS_LOCK_BACK;
static const char sql_members_read[] = SQL_MEMBERS_READ;
static const char sql_events_seen[] = SQL_EVENTS_SEEN;
static const char sql_persons_lock[] = SQL_PERSONS_LOCK;
static const char sql_persons_read[] = SQL_PERSONS_READ;
static const char sql_persons_write[] = SQL_PERSONS_WRITE;
static const char sql_links_write[] = SQL_LINKS_WRITE;
static const char sql_audit_append[] = SQL_AUDIT_APPEND;
static const char sql_serials[] = SQL_SERIALS;
static const char sql_write[] = SQL_WRITE;
static const char sql_ruleset_store[] = SQL_RULESET_STORE;
/* Prepared too: parsed once per session rather than once per batch. */
static const char sql_begin[] = "BEGIN";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";

/* ---- states --------------------------------------------------------------------------------- */

/* The transitions the write path makes. A batch ends (IDLE) from any state but IDLE: delivered,
 * put back in the queue, or answered retry when its connection is lost. */
static const bool lane_allowed[STORE_LANE_NSTATES][STORE_LANE_NSTATES] = {
    [STORE_LANE_IDLE] = {[STORE_LANE_READING] = true, [STORE_LANE_WRITING] = true /* a direct batch */},
    [STORE_LANE_READING] = {[STORE_LANE_IDLE] = true,
                            [STORE_LANE_WRITING] = true,
                            [STORE_LANE_ENDING] = true,
                            [STORE_LANE_ROLLING_BACK] = true,
                            [STORE_LANE_REDOING] = true},
    [STORE_LANE_WRITING] = {[STORE_LANE_IDLE] = true,
                            [STORE_LANE_COMMITTING] = true,
                            [STORE_LANE_ROLLING_BACK] = true,
                            [STORE_LANE_REDOING] = true},
    [STORE_LANE_ENDING] = {[STORE_LANE_IDLE] = true, [STORE_LANE_ROLLING_BACK] = true},
    [STORE_LANE_COMMITTING] = {[STORE_LANE_IDLE] = true,
                               [STORE_LANE_ROLLING_BACK] = true,
                               [STORE_LANE_REDOING] = true /* a direct batch's COMMIT refused */},
    [STORE_LANE_ROLLING_BACK] = {[STORE_LANE_IDLE] = true},
    [STORE_LANE_REDOING] = {[STORE_LANE_IDLE] = true},
};

const char *store_lane_state_name(enum store_lane_state s)
{
    static const char *const names[STORE_LANE_NSTATES] = {
        [STORE_LANE_IDLE] = "idle",           [STORE_LANE_READING] = "reading",
        [STORE_LANE_WRITING] = "writing",     [STORE_LANE_ENDING] = "ending",
        [STORE_LANE_COMMITTING] = "committing", [STORE_LANE_ROLLING_BACK] = "rolling back",
        [STORE_LANE_REDOING] = "redoing",
    };
    return (unsigned)s < STORE_LANE_NSTATES ? names[s] : "?";
}

int store_lane_state_set(enum store_lane_state *state, enum store_lane_state to)
{
    enum store_lane_state from = *state;
    if ((unsigned)from >= STORE_LANE_NSTATES || (unsigned)to >= STORE_LANE_NSTATES || !lane_allowed[from][to]) {
        log_error("store: a lane cannot go from %s to %s", store_lane_state_name(from), store_lane_state_name(to));
        return -1;
    }
    *state = to;
    return 0;
}

/* ---- serials -------------------------------------------------------------------------------- */

bool store_lane_serial(struct store_lane *ln, int64_t *serial)
{
    if (ln->serial_pos >= ln->nserials)
        return false;
    *serial = ln->serials[ln->serial_pos++];
    return true;
}

#define SERIAL_BOOST_MAX 256

/* Serials a lane keeps beyond what its batch needs, so that a direct batch has them at hand. */
#define SERIAL_SPARE 64

static size_t serials_left(const struct store_lane *ln)
{
    return ln->nserials - ln->serial_pos;
}

/* Adds the numbers of a serials result to the lane's unused ones. Returns -1 when out of memory. */
static int serials_add(struct store_lane *ln, const PGresult *r)
{
    size_t left = serials_left(ln), n = (size_t)PQntuples(r);
    if (left > 0 && ln->serial_pos > 0)
        memmove(ln->serials, ln->serials + ln->serial_pos, left * sizeof(*ln->serials));
    ln->serial_pos = 0;
    ln->nserials = left;
    if (left + n > ln->serial_cap) {
        int64_t *grown = realloc(ln->serials, (left + n) * sizeof(*grown));
        if (!grown)
            return -1;
        ln->serials = grown;
        ln->serial_cap = left + n;
    }
    for (size_t i = 0; i < n; i++)
        ln->serials[left + i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
    ln->nserials = left + n;
    return 0;
}

/* A session began or ended: its unused serials are forgotten. A number nextval handed out is safe
 * to use in a later transaction of the same session, because that transaction's commit makes the
 * sequence's advance durable with it (it was logged before); but if the server crashed in between,
 * the advance may be lost and the number handed out again, and a crash ends every session. */
static void serials_forget(struct store_lane *ln)
{
    ln->nserials = ln->serial_pos = 0;
}

/* ---- batch end ------------------------------------------------------------------------------ */

static void batch_timer_stop(struct store_lane *ln)
{
    evtimer_del(ln->timeout);
}

static void batch_timer_start(struct store_lane *ln)
{
    struct store *st = ln->st;
    struct timeval tv = {st->p.unit_timeout_ms / 1000, (st->p.unit_timeout_ms % 1000) * 1000};
    evtimer_add(ln->timeout, &tv);
}

static void batch_reset(struct store_lane *ln)
{
    free(ln->batch);
    ln->batch = NULL;
    ln->nbatch = 0;
    /* (a batch taken but failed before its first round trip was sent is still IDLE) */
    if (ln->state != STORE_LANE_IDLE)
        store_lane_state_set(&ln->state, STORE_LANE_IDLE);
    ln->direct = ln->refill = false;
    ln->commit_sent = 0;
    ln->rs_storing[0] = '\0';
    ln->rs_query = -1;
    ln->write_query = -1;
    json_object_clear(ln->written);
    json_object_clear(ln->versions);
    batch_timer_stop(ln);
}

/* Deliver every decided reply, in order. */
static void batch_deliver(struct store_lane *ln)
{
    struct store *st = ln->st;
    struct store_item **b = ln->batch;
    size_t n = ln->nbatch;
    if (ln->commit_sent > 0) {
        metrics_store_commit(st->p.metrics, n, metrics_clock() - ln->commit_sent);
        metrics_store_read_only(st->p.metrics, false); /* the server took a write again */
    }
    /* The rule set the batch stored is committed with it: later batches need not store it. */
    if (ln->rs_storing[0] && strcmp(ln->rs_storing, ruleset_sha256(st->rs)) == 0)
        memcpy(st->rs_stored, ln->rs_storing, sizeof(st->rs_stored));
    /* The states the batch committed, at the versions their rows now have. */
    const char *id;
    json_t *version;
    json_object_foreach(ln->versions, id, version) {
        json_t *state = json_object_get(ln->written, id);
        if (state && json_is_string(version))
            store_cache_put(&ln->cache, id, json_string_value(version), state);
    }
    ln->batch = NULL;
    batch_reset(ln);
    for (size_t i = 0; i < n; i++) {
        json_t *r = b[i]->reply;
        b[i]->reply = NULL;
        store_deliver(b[i], r);
    }
    free(b);
    store_schedule(st);
}

/* Put the batch back at the head of the queue, in order, to be decided again. */
static void batch_requeue(struct store_lane *ln, bool in_doubt)
{
    struct store *st = ln->st;
    for (size_t i = ln->nbatch; i-- > 0;) {
        struct store_item *it = ln->batch[i];
        if (in_doubt && it->act) {
            /* Deciding it again could apply it twice: say so instead. */
            store_deliver(it, store_action_reply(503, "outcome_unknown",
                                                 "the database connection was lost while committing; look at the "
                                                 "crime or pending decision before trying again",
                                                 NULL));
            continue;
        }
        json_decref(it->reply);
        it->reply = NULL;
        it->in_doubt = it->in_doubt || in_doubt;
        store_push_front(st, it);
    }
    batch_reset(ln);
}

/* Nothing of the batch was committed: answer retry, except events whose earlier batch is still in
 * doubt — they wait for the database to come back. */
static void batch_fail(struct store_lane *ln, const char *code, const char *message)
{
    struct store *st = ln->st;
    struct store_item **b = ln->batch;
    size_t n = ln->nbatch;
    ln->batch = NULL;
    batch_reset(ln);
    for (size_t i = n; i-- > 0;) {
        if (b[i]->in_doubt) {
            json_decref(b[i]->reply);
            b[i]->reply = NULL;
            store_push_front(st, b[i]);
            b[i] = NULL;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (b[i])
            store_answer_retry(b[i], code, message);
    free(b);
    store_schedule(st);
}

static void rollback_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct store_lane *ln = arg;
    struct store *st = ln->st;
    (void)res;
    (void)n;
    (void)sent_all;
    if (error) {
        batch_fail(ln, "db_unavailable", "the database connection was lost");
        return;
    }
    /* A direct batch the database refused goes back to be decided after reading, at no attempt's
     * cost: it met what reading would have found (an incident or event id already there). */
    if (ln->direct) {
        metrics_store_direct(st->p.metrics, true);
        for (size_t i = 0; i < ln->nbatch; i++)
            ln->batch[i]->read_first = true;
    }
    /* Try again, a bounded number of times: a conflict with another instance resolves itself. */
    bool give_up = false;
    for (size_t i = 0; ln->state == STORE_LANE_ROLLING_BACK && i < ln->nbatch; i++)
        if (++ln->batch[i]->attempts >= MAX_ATTEMPTS)
            give_up = true;
    if (give_up) {
        batch_fail(ln, "db_unavailable", "the database refused the transaction");
        return;
    }
    batch_requeue(ln, false);
    store_schedule(st);
}

/* why: NULL for a planned redo (the batch ran short of serials, or a direct batch met what it did
 * not read), which is not logged as a failure. A redo, and any rollback of a direct batch, costs
 * the items no attempt (REDOING); any other counts one (ROLLING_BACK). */
static void batch_rollback(struct store_lane *ln, const char *why, bool redo)
{
    struct store *st = ln->st;
    static const struct pg_query q = {sql_rollback, 0, NULL};
    if (why) {
        log_warn("store: transaction rolled back: %s", why);
        metrics_store_rollback(st->p.metrics);
    }
    store_lane_state_set(&ln->state, redo || ln->direct ? STORE_LANE_REDOING : STORE_LANE_ROLLING_BACK);
    if (pgconn_send(ln->db, &q, 1, rollback_done, ln) != 0)
        batch_fail(ln, "db_unavailable", "the database connection was lost");
}

/* A server that refuses writes as read-only (SQLSTATE 25006: a hot standby after a failover, or
 * default_transaction_read_only) fails every batch the same way until an operator acts, so it is
 * shown as a gauge for the alert rather than only as rollbacks and retries. */
static void note_read_only(struct store *st, PGresult **res, int n)
{
    for (int i = 0; i < n; i++) {
        const char *state = res[i] && PQresultStatus(res[i]) == PGRES_FATAL_ERROR
                                ? PQresultErrorField(res[i], PG_DIAG_SQLSTATE)
                                : NULL;
        if (state && strcmp(state, "25006") == 0) {
            metrics_store_read_only(st->p.metrics, true);
            return;
        }
    }
}

static const char *first_error(PGresult **res, int n)
{
    for (int i = 0; i < n; i++)
        if (res[i] && PQresultStatus(res[i]) == PGRES_FATAL_ERROR)
            return PQresultErrorMessage(res[i]);
    for (int i = 0; i < n; i++)
        if (!pgconn_result_ok(res[i]))
            return "query aborted";
    return NULL;
}

/* The common ending of a round trip before COMMIT: a lost connection fails the batch (nothing of
 * it can have committed), a failed statement rolls it back. Returns true when it did either. */
static bool unit_failed(struct store_lane *ln, PGresult **res, int n, const char *error)
{
    struct store *st = ln->st;
    batch_timer_stop(ln);
    if (error) {
        batch_fail(ln, st->fail_code ? st->fail_code : "db_unavailable",
                   st->fail_message ? st->fail_message : "the database connection was lost");
        return true;
    }
    const char *why = first_error(res, n);
    if (why)
        note_read_only(st, res, n);
    if (why && ln->direct)
        log_debug("store: a direct batch was refused, deciding it again after reading: %s", why);
    if (why)
        batch_rollback(ln, ln->direct ? NULL : why, false);
    return why != NULL;
}

/* COMMIT (or, when nothing was accepted, ROLLBACK) answered or lost. */
static void commit_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct store_lane *ln = arg;
    batch_timer_stop(ln);
    if (error) {
        if (sent_all) {
            /* COMMIT may or may not have happened: find out once the database is back. */
            log_warn("store: connection lost with a COMMIT in flight; %zu event(s) in doubt", ln->nbatch);
            batch_requeue(ln, true);
        } else {
            batch_fail(ln, "db_unavailable", "the database connection was lost");
        }
        return;
    }
    const char *why = first_error(res, n);
    if (why) {
        note_read_only(ln->st, res, n);
        batch_rollback(ln, why, false);
        return;
    }
    batch_deliver(ln);
}

/* The write statement's row versions ("id TAB version" lines) into ln->versions, for the incidents
 * whose states wait in ln->written. A version missing (memory ran out) only means that state is
 * not cached. */
static void versions_read(struct store_lane *ln, const PGresult *r)
{
    if (!r || PQntuples(r) != 1 || PQnfields(r) < 3 || PQgetisnull(r, 0, 2))
        return;
    for (const char *line = PQgetvalue(r, 0, 2); *line;) {
        const char *tab = strchr(line, '\t'), *end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        if (tab && tab < end) {
            char id[512];
            size_t n = (size_t)(tab - line);
            if (n < sizeof(id)) {
                memcpy(id, line, n);
                id[n] = '\0';
                json_object_set_new(ln->versions, id, json_stringn(tab + 1, (size_t)(end - tab - 1)));
            }
        }
        line = *end ? end + 1 : end;
    }
}

/* The writes and the audit entries are in: COMMIT, in a round trip of its own, so that a batch
 * stalled before it (a lock, a round trip timed out) is certainly not committed and is answered
 * retry; only a connection lost with the COMMIT itself in flight leaves a batch in doubt. */
static void write_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct store_lane *ln = arg;
    (void)sent_all;
    /* The rule set could not be stored: most likely another fcrd instance stored another content
     * under its version since this one loaded it. Nothing decided with it can commit. */
    if (!error && ln->rs_query >= 0 && ln->rs_query < n && res[ln->rs_query] &&
        PQresultStatus(res[ln->rs_query]) == PGRES_FATAL_ERROR) {
        const char *m = PQresultErrorField(res[ln->rs_query], PG_DIAG_MESSAGE_PRIMARY);
        log_error("store: rule set %s (sha256 %s) cannot be stored: %s; no event decided with it can be "
                  "recorded until a rule set with a version of its own is loaded (SIGHUP)",
                  ruleset_version(ln->st->rs), ln->rs_storing, m ? m : "refused");
    }
    if (unit_failed(ln, res, n, error))
        return;
    versions_read(ln, ln->write_query >= 0 && ln->write_query < n ? res[ln->write_query] : NULL);
    /* a direct batch: res[0] is BEGIN, res[1] the serials it fetched for later batches */
    if (ln->refill && serials_add(ln, res[1]) != 0) {
        batch_rollback(ln, "out of memory", false);
        return;
    }
    static const struct pg_query q = {sql_commit, 0, NULL};
    store_lane_state_set(&ln->state, STORE_LANE_COMMITTING);
    batch_timer_start(ln);
    if (pgconn_send(ln->db, &q, 1, commit_done, ln) != 0)
        batch_fail(ln, "db_unavailable", "the database connection was lost");
}

/* ---- sending a decided batch ---------------------------------------------------------------- */

/* Sends a decided batch's writes: the write statement and the audit entries, after BEGIN and, when
 * `refill` is not 0, a fetch of that many serials for later batches if the batch is direct.
 * write_done answers. Clears w; states and existing stay the caller's. */
static void batch_send_writes(struct store_lane *ln, struct store_write *w, json_t *states, const json_t *existing,
                              size_t refill)
{
    /* p[0..4]: the write statement's $1..$5, p[5]: the audit lines, p[6..7]: the person index's,
     * p[8..9]: the same_report links', p[10]: the write statement's $6 */
    char *p[STORE_WRITE_NPARAMS];
    int rc = -1;
    /* the states the batch writes, for the cache once it commits */
    const char *tid;
    json_t *unused;
    json_object_foreach(w->touched, tid, unused) {
        json_t *st = json_object_get(states, tid);
        if (json_is_object(st))
            json_object_set(ln->written, tid, st);
    }
    bool complete = store_write_params(w, states, existing, p);
    if (complete) {
        char nbuf[32];
        const char *p_n[1] = {nbuf};
        struct pg_query q[7];
        int nq = 0;
        if (ln->direct) {
            q[nq++] = (struct pg_query){sql_begin, 0, NULL};
            if (refill > 0) {
                snprintf(nbuf, sizeof(nbuf), "%zu", refill);
                q[nq++] = (struct pg_query){sql_serials, 1, p_n};
                ln->refill = true;
            }
        }
        /* The batch was decided with st->rs (synchronously, just now): a batch naming a rule set
         * not known to be stored stores it in the same transaction. */
        const struct ruleset *rs = ln->st->rs;
        const char *p_rs[4] = {ruleset_version(rs), ruleset_sha256(rs), ruleset_canonical(rs, NULL),
                               ln->st->host[0] ? ln->st->host : NULL};
        if (strcmp(ln->st->rs_stored, ruleset_sha256(rs)) != 0) {
            memcpy(ln->rs_storing, ruleset_sha256(rs), sizeof(ln->rs_storing));
            ln->rs_query = nq;
            q[nq++] = (struct pg_query){sql_ruleset_store, 4, p_rs};
        }
        const char *p_write[6] = {p[0], p[1], p[2], p[3], p[4], p[10]};
        ln->write_query = nq;
        q[nq++] = (struct pg_query){sql_write, 6, p_write};
        /* A direct batch's incidents are new: nothing to replace unless they name refs. */
        if (!ln->direct || strcmp(p[7], "[]") != 0)
            q[nq++] = (struct pg_query){sql_persons_write, 2, (const char *const *)p + 6};
        if (strcmp(p[8], "{}") != 0)
            q[nq++] = (struct pg_query){sql_links_write, 2, (const char *const *)p + 8};
        const char *p_audit[2] = {p[5], ln->chain};
        q[nq++] = (struct pg_query){sql_audit_append, 2, p_audit};
        store_lane_state_set(&ln->state, STORE_LANE_WRITING);
        ln->commit_sent = metrics_clock();
        batch_timer_start(ln);
        rc = pgconn_send(ln->db, q, nq, write_done, ln);
    }
    for (int i = 0; i < STORE_WRITE_NPARAMS; i++)
        free(p[i]);
    if (!complete) {
        /* nothing was sent: a direct batch has no transaction to roll back */
        if (ln->direct)
            batch_fail(ln, "overloaded", "out of memory writing the batch");
        else
            batch_rollback(ln, "out of memory writing the batch", false);
        return;
    }
    if (rc != 0)
        batch_fail(ln, "db_unavailable", "the database connection was lost");
}

/* The locked incidents' states by id (null for a row with no state); `existing` gets their ids,
 * `owners` the sources of those that belong to one. A row the lane's cache holds as it stands
 * (column 4) comes with no state: the cached one is taken. Any other row's cached state, now
 * outdated, is dropped. Added to `o`, but for ids it has already (the second lock statement locks
 * some rows again). Returns -1 when a state the database says is cached is not (the batch must not
 * be decided on a missing state). */
static int rows_to_object(struct store_lane *ln, const PGresult *r, json_t *o, json_t *existing, json_t *owners)
{
    uint64_t cached_n = 0, read_n = 0;
    for (int i = 0; r && i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0);
        if (json_object_get(o, id))
            continue;
        json_t *cached = store_cache_take(&ln->cache, id), *st;
        if (PQgetvalue(r, i, 4)[0] == 't') {
            if (!cached)
                return -1;
            st = cached;
            cached_n++;
        } else {
            json_decref(cached);
            read_n += !PQgetisnull(r, i, 1);
            st = PQgetisnull(r, i, 1) ? json_null()
                                      : jsonparse_loadb(PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1), 0, NULL);
        }
        json_object_set_new(o, id, st ? st : json_null());
        json_object_set_new(existing, PQgetvalue(r, i, 0), json_true());
        if (!PQgetisnull(r, i, 2))
            json_object_set_new(owners, PQgetvalue(r, i, 0), json_string(PQgetvalue(r, i, 2)));
    }
    metrics_store_states(ln->st->p.metrics, cached_n, read_n);
    return 0;
}

/* The members read (SQL_MEMBERS_READ), by incident id and kind: {id -> {kind -> array}}. NULL when
 * memory runs out or a row is not JSON (then the batch must not be decided). */
static json_t *rows_members(const PGresult *r)
{
    json_t *o = json_object();
    for (int i = 0; o && r && i < PQntuples(r); i++) {
        json_t *arr = jsonparse_loadb(PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2), 0, NULL);
        json_t *inc = json_object_get(o, PQgetvalue(r, i, 0));
        if (!inc && (!(inc = json_object()) || json_object_set_new(o, PQgetvalue(r, i, 0), inc) != 0))
            inc = NULL;
        if (!arr || !inc || json_object_set_new(inc, PQgetvalue(r, i, 1), arr) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* The person index rows read (SQL_PERSONS_READ), by incident id: arrays of row objects. */
static json_t *rows_persons(const PGresult *r)
{
    json_t *o = json_object();
    for (int i = 0; r && i < PQntuples(r); i++) {
        json_t *row = jsonparse_loadb(PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1), 0, NULL);
        json_t *arr = json_object_get(o, PQgetvalue(r, i, 0));
        if (!row)
            continue;
        if (!arr) {
            arr = json_array();
            json_object_set_new(o, PQgetvalue(r, i, 0), arr);
        }
        json_array_append_new(arr, row);
    }
    return o;
}

/* The stored events the batch resends, by id: {body, reply, source?} (no source: stored before
 * sources were recorded). */
static json_t *rows_seen(const PGresult *r)
{
    json_t *seen = json_object();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *reply = jsonparse_loadb(PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2), 0, NULL);
        json_t *e = json_pack("{s:s, s:o}", "body", PQgetvalue(r, i, 1), "reply", reply ? reply : json_object());
        if (e && !PQgetisnull(r, i, 3))
            json_object_set_new(e, "source", json_string(PQgetvalue(r, i, 3)));
        json_object_set_new(seen, PQgetvalue(r, i, 0), e);
    }
    return seen;
}

static void read_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct store_lane *ln = arg;
    (void)sent_all;
    if (unit_failed(ln, res, n, error))
        return;
    /* res: BEGIN, create (only when the batch has rows to create), then always the last seven:
     * lock (the batch's incidents and those they link to or that link to them), the same_report
     * links to them looked up again, their members, refs' locks, person index rows, seen, serials */
    const PGresult *locked = res[n - 7], *back = res[n - 6], *member_rows = res[n - 5], *person_rows = res[n - 3],
                   *seen_rows = res[n - 2], *serials = res[n - 1];
    if (serials_add(ln, serials) != 0) {
        batch_rollback(ln, "out of memory", false);
        return;
    }
    json_t *existing = json_object(), *owners = json_object();
    json_t *states = json_object();
    int got = rows_to_object(ln, locked, states, existing, owners) | rows_to_object(ln, back, states, existing, owners);
    json_t *members = rows_members(member_rows);
    int attached = got == 0 && members ? incident_members_attach(states, members) : -1;
    json_decref(members);
    if (attached != 0) {
        json_decref(states);
        json_decref(existing);
        json_decref(owners);
        /* a state the database took for cached was not: start the cache again */
        store_cache_clear(&ln->cache);
        store_cache_init(&ln->cache, ln->st->p.state_cache, ln->st->p.state_cache_min);
        batch_rollback(ln, "an incident's state could not be read", false);
        return;
    }
    json_t *seen = rows_seen(seen_rows);
    json_t *persons = rows_persons(person_rows);
    struct store_write w;
    store_write_init(&w, ruleset_sha256(ln->st->rs), ln->st->rs);
    struct store_decision d = store_batch_decide(ln, states, owners, seen, persons, &w);
    json_decref(seen);
    json_decref(persons);
    json_decref(owners);

    if (d.state_lost || d.serial_short || d.accepted == 0) {
        json_decref(states);
        json_decref(existing);
        store_write_clear(&w);
    }
    if (d.state_lost) {
        batch_rollback(ln, "out of memory while applying the rules", d.serial_short);
        return;
    }
    if (d.serial_short) {
        /* Some item needed more numbers than the batch fetched: decide it again with more. */
        bool grown = false;
        for (size_t i = 0; i < ln->nbatch; i++) {
            struct store_item *it = ln->batch[i];
            unsigned b = it->serial_boost ? it->serial_boost : 1;
            if (b < SERIAL_BOOST_MAX) {
                it->serial_boost = b * 4;
                grown = true;
            }
        }
        /* not grown: counts as an attempt, as it cannot succeed */
        batch_rollback(ln, grown ? NULL : "an event needs more serial numbers than a batch may fetch", grown);
        return;
    }
    if (d.accepted == 0) {
        static const struct pg_query q = {sql_rollback, 0, NULL};
        store_lane_state_set(&ln->state, STORE_LANE_ENDING);
        batch_timer_start(ln);
        if (pgconn_send(ln->db, &q, 1, commit_done, ln) != 0)
            batch_fail(ln, "db_unavailable", "the database connection was lost");
        return;
    }
    batch_send_writes(ln, &w, states, existing, 0);
    json_decref(states);
    json_decref(existing);
}

/* ---- starting a batch ----------------------------------------------------------------------- */

/* The incidents of every item of other lanes' batches, for store_queue_take (borrowed from the
 * items); *n gets their number. NULL with *n == 0 when there are none; NULL with *n != 0 when
 * memory ran out. */
static const char **busy_incidents(const struct store_lane *ln, size_t *n)
{
    const struct store *st = ln->st;
    *n = 0;
    for (size_t k = 0; k < st->p.lanes; k++)
        for (size_t i = 0; &st->lanes[k] != ln && i < st->lanes[k].nbatch; i++)
            *n += store_batch_incidents(st->lanes[k].batch[i], NULL, 0);
    if (*n == 0)
        return NULL;
    const char **ids = malloc(*n * sizeof(*ids));
    if (!ids)
        return NULL;
    size_t at = 0;
    for (size_t k = 0; k < st->p.lanes; k++)
        for (size_t i = 0; &st->lanes[k] != ln && i < st->lanes[k].nbatch; i++)
            at += store_batch_incidents(st->lanes[k].batch[i], ids + at, *n - at);
    return ids;
}

/* Takes the batch's items from the queue as store_queue_take chooses: in order, leaving in place
 * any that touches an incident another lane's batch touches, and what waits behind it. Returns
 * the serials the batch asks for. */
static size_t batch_take(struct store_lane *ln, size_t max)
{
    struct store *st = ln->st;
    size_t window = store_queue_window(max), n = 0, nids = 0, nbusy = 0, ntaken = 0;
    for (struct store_item *it = st->head; it && n < window; it = it->next, n++)
        nids += store_batch_incidents(it, NULL, 0);
    struct store_queue_item *items = calloc(n ? n : 1, sizeof(*items));
    const char **ids = malloc((nids ? nids : 1) * sizeof(*ids));
    size_t *taken = malloc(max * sizeof(*taken));
    const char **busy = busy_incidents(ln, &nbusy);
    int rc = -1;
    if (items && ids && taken && (busy || nbusy == 0)) {
        size_t at = 0, i = 0;
        for (struct store_item *it = st->head; it && i < n; it = it->next, i++) {
            items[i].incidents = ids + at;
            items[i].n = store_batch_incidents(it, ids + at, nids - at);
            at += items[i].n;
        }
        rc = store_queue_take(items, n, busy, nbusy, max, taken, &ntaken);
    }
    size_t need = 0;
    if (rc == 0) {
        /* unlink the taken items, walking the queue once */
        struct store_item **link = &st->head, *prev = NULL;
        size_t i = 0;
        for (size_t t = 0; t < ntaken; t++) {
            for (; i < taken[t]; i++) {
                prev = *link;
                link = &(*link)->next;
            }
            struct store_item *it = *link;
            *link = it->next;
            if (st->tail == it)
                st->tail = prev;
            it->next = NULL;
            st->queued--;
            i++;
            need += store_batch_serials_needed(it);
            ln->batch[ln->nbatch++] = it;
        }
    } else {
        log_warn("store: out of memory choosing a batch");
    }
    free(items);
    free(ids);
    free(taken);
    free(busy);
    return need;
}

/* A direct batch: one made of openings only (store_batch_all_openings), for which the lane holds
 * the serials, is decided at once on no incident state and no stored event, and its writes go with
 * BEGIN in the first round trip. Reading would have found nothing for them unless the incident or
 * the event id is already there, and then the write statement fails on that key (its insert of a
 * new incident has no ON CONFLICT, nor has the raw event's): the batch is rolled back and decided
 * again the usual way (rollback_done). A batch with an item refused or short of serials is
 * decided the usual way straight away, so that every answer is the one reading first would give.
 * Returns true when the batch was sent (or answered), false when it is to be read first. */
static bool batch_direct(struct store_lane *ln, size_t need)
{
    if (serials_left(ln) < need || !store_batch_all_openings(ln->batch, ln->nbatch))
        return false;
    json_t *states = json_object(), *existing = json_object(), *seen = json_object(), *persons = json_object();
    json_t *owners = json_object();
    struct store_write w;
    store_write_init(&w, ruleset_sha256(ln->st->rs), ln->st->rs);
    struct store_decision d = store_batch_decide(ln, states, owners, seen, persons, &w);
    json_decref(seen);
    json_decref(persons);
    json_decref(owners);
    if (d.accepted < ln->nbatch || d.serial_short || d.state_lost) {
        for (size_t i = 0; i < ln->nbatch; i++) {
            json_decref(ln->batch[i]->reply);
            ln->batch[i]->reply = NULL;
        }
        store_write_clear(&w);
        json_decref(states);
        json_decref(existing);
        return false;
    }
    ln->direct = true;
    ln->batch_started = metrics_clock();
    metrics_store_direct(ln->st->p.metrics, false);
    size_t left = serials_left(ln);
    batch_send_writes(ln, &w, states, existing, left < SERIAL_SPARE ? SERIAL_SPARE : 0);
    json_decref(states);
    json_decref(existing);
    return true;
}

/* The cache keys of every incident the batch's items touch or link to (store_cache_keys). */
static char *cache_keys(const struct store_lane *ln)
{
    size_t n = 0;
    for (size_t i = 0; i < ln->nbatch; i++)
        n += store_batch_incidents(ln->batch[i], NULL, 0);
    const char **ids = malloc((n ? n : 1) * sizeof(*ids));
    if (!ids)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < ln->nbatch; i++)
        at += store_batch_incidents(ln->batch[i], ids + at, n - at);
    char *keys = store_cache_keys(&ln->cache, ids, at);
    free(ids);
    return keys;
}

static void batch_start(struct store_lane *ln)
{
    struct store *st = ln->st;
    size_t max = st->p.batch_max;
    ln->batch = calloc(max, sizeof(*ln->batch));
    if (!ln->batch)
        return;
    size_t need = batch_take(ln, max);
    if (ln->nbatch == 0) { /* everything waiting belongs to incidents another lane holds */
        free(ln->batch);
        ln->batch = NULL;
        return;
    }
    if (batch_direct(ln, need))
        return;
    /* what the batch needs, and spare ones for direct batches to come, less those at hand */
    size_t left = serials_left(ln), fetch = need + SERIAL_SPARE > left ? need + SERIAL_SPARE - left : 0;
    char *incidents = store_write_ids(ln->batch, ln->nbatch, true);
    char *events = store_write_ids(ln->batch, ln->nbatch, false);
    char *links = store_write_link_ids(ln->batch, ln->nbatch, false);
    char *create = store_write_link_ids(ln->batch, ln->nbatch, true);
    char *refs = store_write_refs(ln->batch, ln->nbatch);
    char *keys = cache_keys(ln);
    char nbuf[32];
    snprintf(nbuf, sizeof(nbuf), "%zu", fetch);
    if (!incidents || !events || !links || !create || !refs || !keys) {
        free(incidents);
        free(events);
        free(links);
        free(create);
        free(refs);
        free(keys);
        batch_fail(ln, "overloaded", "out of memory");
        return;
    }
    const char *p_inc[3] = {incidents, links, keys};
    const char *p_back[2] = {incidents, keys};
    const char *p_ev[1] = {events};
    const char *p_n[1] = {nbuf};
    const char *p_create[1] = {create};
    const char *p_refs[2] = {refs, incidents};
    /* read_done finds the last seven results in the same places with or without the create */
    struct pg_query q[9];
    int nq = 0;
    q[nq++] = (struct pg_query){sql_begin, 0, NULL};
    if (strcmp(create, "{}") != 0)
        q[nq++] = (struct pg_query){sql_incidents_create, 1, p_create};
    q[nq++] = (struct pg_query){sql_incidents_lock, 3, p_inc};
    q[nq++] = (struct pg_query){sql_incidents_lock_back, 2, p_back};
    q[nq++] = (struct pg_query){sql_members_read, 3, p_inc};
    q[nq++] = (struct pg_query){sql_persons_lock, 2, p_refs};
    q[nq++] = (struct pg_query){sql_persons_read, 2, p_refs};
    q[nq++] = (struct pg_query){sql_events_seen, 1, p_ev};
    q[nq++] = (struct pg_query){sql_serials, 1, p_n};
    store_lane_state_set(&ln->state, STORE_LANE_READING);
    ln->batch_started = metrics_clock();
    batch_timer_start(ln);
    int rc = pgconn_send(ln->db, q, nq, read_done, ln);
    free(incidents);
    free(events);
    free(links);
    free(create);
    free(refs);
    free(keys);
    if (rc != 0)
        batch_fail(ln, "db_unavailable", "the database connection was lost");
}

void store_lane_start(struct store_lane *ln)
{
    if (ln->state == STORE_LANE_IDLE && pgconn_ready(ln->db))
        batch_start(ln);
}

void store_lane_abandon(struct store_lane *ln, const char *why)
{
    if (ln->state == STORE_LANE_READING || ln->state == STORE_LANE_WRITING || ln->state == STORE_LANE_ENDING)
        pgconn_drop(ln->db, why);
}

/* ---- loop callbacks and life ---------------------------------------------------------------- */

static void lane_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct store_lane *ln = arg;
    (void)fd;
    (void)what;
    pgconn_drop(ln->db, "a database round trip timed out");
}

static void lane_db_state(void *arg, bool up)
{
    struct store_lane *ln = arg;
    struct store *st = ln->st;
    serials_forget(ln);
    if (up || store_db_up(st)) {
        store_schedule(st); /* another lane may carry what this one cannot */
        return;
    }
    /* No lane is up: queued events cannot be written now. */
    store_answer_queued(st, "db_unavailable", "the database is unavailable");
}

int store_lane_init(struct store_lane *ln, struct store *st, size_t k)
{
    static const char *const prepared[] = {sql_begin,      sql_incidents_create, sql_incidents_lock,
                                           sql_events_seen, sql_serials,          sql_write,
                                           sql_audit_append, sql_commit,         sql_rollback,
                                           sql_ruleset_store, sql_persons_lock,  sql_persons_read,
                                           sql_persons_write, sql_incidents_lock_back, sql_links_write,
                                           sql_members_read};
    char name[16];
    snprintf(name, sizeof(name), k ? "store%zu" : "store", k + 1);
    ln->st = st;
    ln->state = STORE_LANE_IDLE;
    ln->rs_query = -1;
    ln->write_query = -1;
    store_cache_init(&ln->cache, st->p.state_cache, st->p.state_cache_min);
    ln->written = json_object();
    ln->versions = json_object();
    if (!ln->cache.map || !ln->written || !ln->versions)
        return -1;
    snprintf(ln->chain, sizeof(ln->chain), "%zu", k % AUDIT_CHAINS + 1);
    ln->timeout = evtimer_new(st->base, lane_timeout_cb, ln);
    ln->db = pgconn_new(st->base, st->conninfo, name, lane_db_state, ln);
    if (!ln->timeout || !ln->db)
        return -1;
    pgconn_set_connect_timeout(ln->db, st->p.connect_timeout_ms);
    pgconn_set_backoff_max(ln->db, st->p.reconnect_max_ms);
    pgconn_require_schema(ln->db, st->p.schema);
    /* The chain the database's own entries of this session's transactions go to (the triggers of
     * sql/0014_audit_guard.sql): the lane's, so that a batch holds one chain head's lock, never
     * two. Set once per session, so it costs no batch anything. */
    if (pgconn_session_set(ln->db, "fcrd.chain", ln->chain) != 0)
        return -1;
    /* A statement left out would silently be sent unprepared (planned per batch): refuse instead. */
    for (size_t i = 0; i < sizeof(prepared) / sizeof(prepared[0]); i++)
        if (pgconn_prepare(ln->db, prepared[i]) != 0) {
            log_error("store: lane %zu: more statements to prepare than PGCONN_MAX_PREPARED", k + 1);
            return -1;
        }
    return 0;
}

void store_lane_clear(struct store_lane *ln)
{
    ln->db = pgconn_free(ln->db);
    for (size_t i = 0; i < ln->nbatch; i++)
        store_item_free(ln->batch[i]);
    free(ln->batch);
    ln->batch = NULL;
    ln->nbatch = 0;
    free(ln->serials);
    ln->serials = NULL;
    store_cache_clear(&ln->cache);
    json_decref(ln->written);
    json_decref(ln->versions);
    ln->written = ln->versions = NULL;
    if (ln->timeout)
        event_free(ln->timeout);
    ln->timeout = NULL;
}
