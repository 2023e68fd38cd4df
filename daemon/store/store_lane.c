/* store.c: batches validated events into PostgreSQL transactions and answers each event only
 * after its transaction has committed (or has certainly not).
 *
 * Lanes ([store] lanes, default 4), each a dedicated connection carrying one batch at a time, so
 * that one batch is decided in memory while others are written and committed. A batch takes
 * three round trips:
 *   1. BEGIN; create the missing incidents the batch links to or updates (not those it opens:
 *      see SQL_INCIDENTS_CREATE); lock (one sorted statement) the batch's incidents and the
 *      incidents they link to, reading their state; read already-seen event ids; fetch serial
 *      numbers.
 *   2. (rules decided in memory, event by event, in arrival order) one write statement, which also
 *      inserts the incidents that had no row, then the audit entries, which the database chains
 *      under the chain head's row lock.
 *   3. COMMIT.
 * A direct batch (batch_direct), made only of openings of new incidents, is decided before any
 * round trip and sends BEGIN with its writes: two round trips. If an incident or event id it
 * opens is already there, the write fails on that key and the batch is decided again as above.
 * A lane's batch never touches an incident another lane's batch touches (batch_take), so one
 * incident's events are decided in arrival order. Events that arrive while every lane is busy
 * wait and form the next batches: group commit without a timer. A batch stalled before its COMMIT
 * is answered retry; a connection lost with the COMMIT in flight leaves the batch in doubt: its
 * events go back to the head of the queue and are looked up again once the database is back. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "store/audit.h"
#include "store/incident.h"
#include "store/store_sql.h"
#include "util/log.h"
#include "service/metrics.h"
#include "store/pgconn.h"
#include "feed/feed_reply.h"
#include "rules/rules.h"
#include "rules/rules_act.h"
#include "util/jsonparse.h"
#include "util/jsonwrite.h"
#include "util/pgtext.h"

#define MAX_ATTEMPTS 3

/* The write path's statements, prepared on every session of the store connection: pgconn knows
 * them by address, so each is one object used everywhere. */
static const char sql_incidents_create[] = SQL_INCIDENTS_CREATE;
static const char sql_incidents_lock[] = SQL_INCIDENTS_LOCK;
static const char sql_events_seen[] = SQL_EVENTS_SEEN;
static const char sql_audit_append[] = SQL_AUDIT_APPEND;
static const char sql_serials[] = SQL_SERIALS;
static const char sql_write[] = SQL_WRITE;
/* Prepared too: parsed once per session rather than once per batch. */
static const char sql_begin[] = "BEGIN";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";

struct item {
    struct feed_event ev; /* for a person's decision: only incident_id is set */
    json_t *act;     /* a person's decision (see store_submit_action), or NULL for a feed event */
    store_reply_fn fn;
    void *arg;
    bool in_doubt; /* its batch's COMMIT was sent but its outcome never arrived */
    int attempts;
    unsigned serial_boost; /* fetch this many times the usual serials (after its batch ran short) */
    bool read_first;       /* a direct batch that held it was refused: decide it after reading */
    json_t *reply;  /* decided in round trip 1, delivered after COMMIT */
    struct item *next;
};

enum batch_phase { BATCH_IDLE, BATCH_READ, BATCH_WRITE, BATCH_COMMIT, BATCH_ROLLBACK };

/* A lane: one store connection and the batch it carries. Lanes run their transactions at the same
 * time, so one batch is decided in memory while another is written and committed. */
struct lane {
    struct store *st;
    struct pgconn *db;
    struct event *timeout; /* a round trip that takes too long */
    enum batch_phase phase;
    struct item **batch;
    size_t nbatch;
    double batch_started; /* metrics_clock() when the batch in flight began */
    double commit_sent;   /* ... when its writes and COMMIT were sent; 0: no COMMIT in flight */
    /* Serials for CRNs and pending ids not yet used: serials[serial_pos .. nserials), fetched by
     * this connection's session (forgotten when it ends: see serials_forget). */
    int64_t *serials;
    size_t nserials, serial_pos, serial_cap;
    bool serial_short; /* the batch needed more than it had: decided again with more */
    bool state_lost;   /* memory ran out while an incident's state was being changed in place */
    bool direct;       /* the batch in flight was decided without a read round trip (batch_direct) */
    bool refill;       /* ... and its write round trip fetches serials for later batches */
    char chain[4];     /* the audit chain this lane appends to: its number, 1 to 16 (lanes <= 16) */
};

struct store {
    struct event_base *base;
    struct store_params p;
    char *force;
    char *conninfo;
    const struct ruleset *rs;
    struct event *kick; /* deferred: start a batch when possible */
    /* waiting events, FIFO */
    struct item *head, *tail;
    size_t queued;
    struct lane *lanes; /* p.lanes of them */
    /* set by store_fail_queued: how batches it abandons are answered (static strings) */
    const char *fail_code, *fail_message;
};

/* ---- queue ---------------------------------------------------------------------------------- */

static void item_free(struct item *it)
{
    feed_event_clear(&it->ev);
    json_decref(it->act);
    json_decref(it->reply);
    free(it);
}

static void store_deliver(struct item *it, json_t *reply)
{
    it->fn(it->arg, reply);
    json_decref(reply);
    item_free(it);
}

static json_t *action_reply(int status, const char *code, const char *message, const char *field)
{
    json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message);
    if (field && *field)
        json_object_set_new(e, "field", json_string(field));
    return json_pack("{s:i, s:{s:o}}", "status", status, "body", "error", e);
}

static void store_answer_retry(struct item *it, const char *code, const char *message)
{
    if (it->act)
        store_deliver(it, action_reply(503, code, message, NULL));
    else
        store_deliver(it, feed_reply_error("retry", it->ev.event_id, it->ev.incident_id, code, message, NULL));
}

static void queue_push_front(struct store *st, struct item *it)
{
    it->next = st->head;
    st->head = it;
    if (!st->tail)
        st->tail = it;
    st->queued++;
}

static void queue_push_back(struct store *st, struct item *it)
{
    it->next = NULL;
    if (st->tail)
        st->tail->next = it;
    else
        st->head = it;
    st->tail = it;
    st->queued++;
}

static struct item *queue_pop(struct store *st)
{
    struct item *it = st->head;
    if (!it)
        return NULL;
    st->head = it->next;
    if (!st->head)
        st->tail = NULL;
    it->next = NULL;
    st->queued--;
    return it;
}

/* Answer every queued item retry/`code`, except those in doubt: they may be committed, and wait to
 * be looked up again. */
static void queue_answer_retry(struct store *st, const char *code, const char *message)
{
    struct item *keep = NULL, **tail = &keep;
    struct item *it;
    while ((it = queue_pop(st)) != NULL) {
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
        queue_push_back(st, it);
    }
}

static void store_schedule(struct store *st)
{
    event_active(st->kick, EV_TIMEOUT, 0);
}

/* ---- serials -------------------------------------------------------------------------------- */

static int64_t store_next_serial(void *arg)
{
    struct lane *ln = arg;
    if (ln->serial_pos >= ln->nserials) {
        ln->serial_short = true; /* the batch is decided again with more */
        return 0;
    }
    return ln->serials[ln->serial_pos++];
}

/* What one item usually consumes: a crime or a pending decision per allegation and one more. An
 * item that needs more (several victims, say) makes its batch fetch more and decide again. */
static size_t serials_needed(const struct item *it)
{
    size_t n = it->act ? 4 : json_array_size(json_object_get(it->ev.doc, "allegations")) * 2 + 1;
    return n * (it->serial_boost ? it->serial_boost : 1);
}

#define SERIAL_BOOST_MAX 256

/* Serials a lane keeps beyond what its batch needs, so that a direct batch has them at hand. */
#define SERIAL_SPARE 64

static size_t serials_left(const struct lane *ln)
{
    return ln->nserials - ln->serial_pos;
}

/* Adds the numbers of a serials result to the lane's unused ones. Returns -1 when out of memory. */
static int serials_add(struct lane *ln, const PGresult *r)
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
static void serials_forget(struct lane *ln)
{
    ln->nserials = ln->serial_pos = 0;
}

/* ---- batch end ------------------------------------------------------------------------------ */

static void batch_timer_stop(struct lane *ln)
{
    evtimer_del(ln->timeout);
}

static void batch_timer_start(struct lane *ln)
{
    struct store *st = ln->st;
    struct timeval tv = {st->p.unit_timeout_ms / 1000, (st->p.unit_timeout_ms % 1000) * 1000};
    evtimer_add(ln->timeout, &tv);
}

static void batch_reset(struct lane *ln)
{
    free(ln->batch);
    ln->batch = NULL;
    ln->nbatch = 0;
    ln->phase = BATCH_IDLE;
    ln->serial_short = false;
    ln->state_lost = false;
    ln->direct = ln->refill = false;
    ln->commit_sent = 0;
    batch_timer_stop(ln);
}

/* Deliver every decided reply, in order. */
static void batch_deliver(struct lane *ln)
{
    struct store *st = ln->st;
    struct item **b = ln->batch;
    size_t n = ln->nbatch;
    if (ln->commit_sent > 0)
        metrics_store_commit(st->p.metrics, n, metrics_clock() - ln->commit_sent);
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
static void batch_requeue(struct lane *ln, bool in_doubt)
{
    struct store *st = ln->st;
    for (size_t i = ln->nbatch; i-- > 0;) {
        struct item *it = ln->batch[i];
        if (in_doubt && it->act) {
            /* Deciding it again could apply it twice: say so instead. */
            store_deliver(it, action_reply(503, "outcome_unknown",
                                            "the database connection was lost while committing; look at the "
                                            "crime or pending decision before trying again",
                                            NULL));
            continue;
        }
        json_decref(it->reply);
        it->reply = NULL;
        it->in_doubt = it->in_doubt || in_doubt;
        queue_push_front(st, it);
    }
    batch_reset(ln);
}

/* Nothing of the batch was committed: answer retry, except events whose earlier batch is still in
 * doubt — they wait for the database to come back. */
static void batch_fail(struct lane *ln, const char *code, const char *message)
{
    struct store *st = ln->st;
    struct item **b = ln->batch;
    size_t n = ln->nbatch;
    ln->batch = NULL;
    batch_reset(ln);
    for (size_t i = n; i-- > 0;) {
        if (b[i]->in_doubt) {
            json_decref(b[i]->reply);
            b[i]->reply = NULL;
            queue_push_front(st, b[i]);
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
    struct lane *ln = arg;
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
    for (size_t i = 0; !ln->serial_short && !ln->direct && i < ln->nbatch; i++)
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
 * not read), which is not logged as a failure. */
static void batch_rollback(struct lane *ln, const char *why)
{
    struct store *st = ln->st;
    static const struct pg_query q = {sql_rollback, 0, NULL};
    if (why) {
        log_warn("store: transaction rolled back: %s", why);
        metrics_store_rollback(st->p.metrics);
    }
    ln->phase = BATCH_ROLLBACK;
    if (pgconn_send(ln->db, &q, 1, rollback_done, ln) != 0)
        batch_fail(ln, "db_unavailable", "the database connection was lost");
}

static const char *first_error(PGresult **res, int n);

/* The common ending of a round trip before COMMIT: a lost connection fails the batch (nothing of
 * it can have committed), a failed statement rolls it back. Returns true when it did either. */
static bool unit_failed(struct lane *ln, PGresult **res, int n, const char *error)
{
    struct store *st = ln->st;
    batch_timer_stop(ln);
    if (error) {
        batch_fail(ln, st->fail_code ? st->fail_code : "db_unavailable",
                   st->fail_message ? st->fail_message : "the database connection was lost");
        return true;
    }
    const char *why = first_error(res, n);
    if (why && ln->direct)
        log_debug("store: a direct batch was refused, deciding it again after reading: %s", why);
    if (why)
        batch_rollback(ln, ln->direct ? NULL : why);
    return why != NULL;
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

/* COMMIT (or, when nothing was accepted, ROLLBACK) answered or lost. */
static void commit_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct lane *ln = arg;
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
        batch_rollback(ln, why);
        return;
    }
    batch_deliver(ln);
}

/* The writes and the audit entries are in: COMMIT, in a round trip of its own, so that a batch
 * stalled before it (a lock, a round trip timed out) is certainly not committed and is answered
 * retry; only a connection lost with the COMMIT itself in flight leaves a batch in doubt. */
static void write_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct lane *ln = arg;
    (void)sent_all;
    if (unit_failed(ln, res, n, error))
        return;
    /* a direct batch: res[0] is BEGIN, res[1] the serials it fetched for later batches */
    if (ln->refill && serials_add(ln, res[1]) != 0) {
        batch_rollback(ln, "out of memory");
        return;
    }
    static const struct pg_query q = {sql_commit, 0, NULL};
    ln->phase = BATCH_COMMIT;
    batch_timer_start(ln);
    if (pgconn_send(ln->db, &q, 1, commit_done, ln) != 0)
        batch_fail(ln, "db_unavailable", "the database connection was lost");
}

/* ---- deciding a batch ----------------------------------------------------------------------- */

/* The batch's rows, written straight into the write statement's parameters: events and
 * incidents as lines of tab-separated fields (no field holds a tab or a newline: ids hold no
 * control characters and compact JSON escapes them), crimes and pending decisions as JSON arrays.
 * Audit entries as lines too (audit_line), which the database hashes into the chain; those with no
 * time of their own get the batch's. */
struct writes {
    struct jsonwrite_buf events, incidents, new_incidents, crimes, pending, audit;
    char at[AUDIT_AT_SIZE];
    json_t *touched; /* incident id -> true */
};

static void writes_init(struct writes *w)
{
    memset(w, 0, sizeof(*w));
    jsonwrite_char(&w->crimes, '[');
    jsonwrite_char(&w->pending, '[');
    struct timeval now;
    gettimeofday(&now, NULL);
    audit_at((int64_t)now.tv_sec * 1000 + now.tv_usec / 1000, w->at);
    w->touched = json_object();
}

static void writes_clear(struct writes *w)
{
    jsonwrite_buf_free(&w->events);
    jsonwrite_buf_free(&w->incidents);
    jsonwrite_buf_free(&w->new_incidents);
    jsonwrite_buf_free(&w->crimes);
    jsonwrite_buf_free(&w->pending);
    jsonwrite_buf_free(&w->audit);
    json_decref(w->touched);
}

static json_t *array_or_empty(json_t *v)
{
    return json_is_array(v) ? json_incref(v) : json_array();
}

/* An array member, or [] when it is missing. */
static void write_array(struct jsonwrite_buf *b, const char *key, const json_t *v)
{
    jsonwrite_key(b, key);
    if (json_is_array(v))
        jsonwrite_value(b, v, 0);
    else
        jsonwrite_raw(b, "[]", 2);
}

/* A crime or pending decision as a row: its members, its incident, flags and rules as arrays. A
 * crime row (state given: its incident's) also carries its victim's `ref` as victim_ref. */
static void write_row(struct jsonwrite_buf *b, const json_t *obj, const char *incident_id, const json_t *state)
{
    jsonwrite_sep(b);
    jsonwrite_char(b, '{');
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (strcmp(k, "flags") == 0 || strcmp(k, "rules") == 0 || strcmp(k, "incident_id") == 0)
            continue;
        jsonwrite_key(b, k);
        jsonwrite_value(b, v, 0);
    }
    jsonwrite_key(b, "incident_id");
    jsonwrite_cstr(b, incident_id);
    write_array(b, "flags", json_object_get(obj, "flags"));
    write_array(b, "rules", json_object_get(obj, "rules"));
    if (state) {
        jsonwrite_key(b, "victim_ref");
        jsonwrite_cstr(b, incident_person_ref(state, json_string_value(json_object_get(obj, "victim"))));
    }
    jsonwrite_char(b, '}');
}

static void writes_event(struct writes *w, const struct item *it, const json_t *body, const json_t *outcome)
{
    const struct feed_event *ev = &it->ev;
    struct jsonwrite_buf *b = &w->events;
    const char *at = json_string_value(json_object_get(ev->doc, "at"));
    const char *fields[] = {ev->event_id, ev->incident_id, NULL, feed_event_type_name(ev->type), at ? at : "", ev->canon};
    for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
        if (fields[k])
            jsonwrite_raw(b, fields[k], strlen(fields[k]));
        else
            jsonwrite_int(b, ev->seq);
        jsonwrite_char(b, '\t');
    }
    jsonwrite_value(b, body, 0);
    jsonwrite_char(b, '\n');
    size_t i;
    json_t *v;
    /* the rules' entries, with their incident, event, actor and rule set */
    const struct audit_override o = {ev->incident_id, ev->event_id, "rules", "rules",
                                     json_string_value(json_object_get(outcome, "rules"))};
    json_array_foreach(json_object_get(outcome, "audit"), i, v)
        audit_line(&w->audit, v, &o, w->at);
    json_object_set_new(w->touched, ev->incident_id, json_true());
}

/* Rows for the final state of every incident the batch changed: updates of the rows the batch
 * locked (`existing`), inserts of the others. */
static void writes_incidents(struct writes *w, json_t *states, const json_t *existing)
{
    const char *id;
    json_t *unused;
    json_object_foreach(w->touched, id, unused)
    {
        json_t *st = json_object_get(states, id);
        incident_row_line(json_object_get(existing, id) ? &w->incidents : &w->new_incidents, id, st);
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(st, "crimes"), i, c)
            write_row(&w->crimes, c, id, st);
        json_array_foreach(json_object_get(st, "pending"), i, c)
            write_row(&w->pending, c, id, NULL);
    }
}

/* The body of a reply as stored with the event (and repeated to a resend). */
static json_t *reply_body(const struct item *it, const json_t *outcome)
{
    json_t *warnings = json_array();
    json_array_extend(warnings, it->ev.warnings);
    json_t *ow = json_object_get(outcome, "warnings");
    if (json_is_array(ow))
        json_array_extend(warnings, ow);
    json_t *body = json_object();
    json_object_set_new(body, "crimes", array_or_empty(json_object_get(outcome, "crimes")));
    json_object_set_new(body, "decisions", array_or_empty(json_object_get(outcome, "decisions")));
    json_object_set_new(body, "pending", array_or_empty(json_object_get(outcome, "pending")));
    json_object_set_new(body, "warnings", warnings);
    json_t *rules = json_object_get(outcome, "rules");
    json_object_set_new(body, "rules", rules ? json_incref(rules) : json_null());
    return body;
}

/* The locked incidents' states by id (null for a row with no state); `existing` gets their ids. */
static json_t *rows_to_object(const PGresult *r, json_t *existing)
{
    json_t *o = json_object();
    for (int i = 0; r && i < PQntuples(r); i++) {
        json_t *st = PQgetisnull(r, i, 1) ? json_null()
                                           : jsonparse_loadb(PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1), 0, NULL);
        json_object_set_new(o, PQgetvalue(r, i, 0), st ? st : json_null());
        json_object_set_new(existing, PQgetvalue(r, i, 0), json_true());
    }
    return o;
}

/* The incidents an item may consult besides its own, as they now stand (also ones opened by an
 * earlier event of this batch). A feed event: those its incident links to, by its stored links or
 * its own. A person's decision: every other incident the batch holds (a C3 cancellation looks for
 * the surviving crime among them). New reference. */
static json_t *linked_for(const struct item *it, json_t *states)
{
    const char *own = it->ev.incident_id;
    if (it->act)
        return incident_others(states, own);
    return incident_linked(states, it->ev.doc, json_object_get(states, own), own);
}

static json_t *rejected(const struct item *it, const char *code, const char *field, const char *msg)
{
    return feed_reply_error("rejected", it->ev.event_id, it->ev.incident_id, code, msg, field);
}

/* Decide one event against the batch's working state. Returns true when it is to be written. */
/* A person's decision. Returns true when it is to be written. */
static bool decide_action(struct lane *ln, struct item *it, json_t *states, json_t *linked, struct writes *w)
{
    struct store *st = ln->st;
    const char *incident_id = it->ev.incident_id;
    json_t *state = json_object_get(states, incident_id);
    if (!state || json_is_null(state)) {
        it->reply = action_reply(404, "not_found", "no such incident", NULL);
        return false;
    }
    struct timeval now;
    gettimeofday(&now, NULL);
    json_t *act = it->act;
    struct rules_act_request req = {
        .action = json_string_value(json_object_get(act, "action")),
        .target = json_string_value(json_object_get(act, "target")),
        .body = json_object_get(act, "body"),
        .user = json_string_value(json_object_get(act, "user")),
        .role = json_string_value(json_object_get(act, "role")),
        .at_ms = (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000,
    };
    struct rules_env env = {st->rs, st->force, store_next_serial, ln};
    json_t *new_state = NULL, *outcome = NULL;
    struct feed_event_error err = {0};
    int rc = rules_act(&env, state, linked, &req, &new_state, &outcome, &err);
    if (rc != 0) {
        it->reply = action_reply(rc, err.code ? err.code : "refused", err.message, err.field);
        feed_event_error_clear(&err);
        return false;
    }
    json_t *status = json_object_get(outcome, "status");
    json_t *body = json_object_get(outcome, "body");
    it->reply = json_pack("{s:I, s:O}", "status", json_is_integer(status) ? json_integer_value(status) : 200,
                          "body", body ? body : json_object());
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(outcome, "audit"), i, v)
    {
        json_t *e = json_object();
        json_object_update(e, v);
        json_object_set_new(e, "incident_id", json_string(incident_id));
        if (!json_object_get(e, "actor"))
            json_object_set_new(e, "actor", json_string(req.user));
        if (!json_object_get(e, "role"))
            json_object_set_new(e, "role", json_string(req.role));
        if (!json_object_get(e, "ruleset"))
            json_object_set_new(e, "ruleset", json_string(ruleset_version(st->rs)));
        audit_line(&w->audit, e, NULL, w->at);
        json_decref(e);
    }
    json_object_set_new(w->touched, incident_id, json_true());
    json_object_set_new(states, incident_id, new_state);
    json_decref(outcome);
    return true;
}

static bool decide_one(struct lane *ln, struct item *it, json_t *states, json_t *linked, json_t *seen,
                       json_t *batch_seen, struct writes *w)
{
    struct store *st = ln->st;
    if (it->act)
        return decide_action(ln, it, states, linked, w);
    struct feed_event *ev = &it->ev;
    json_t *prior = json_object_get(batch_seen, ev->event_id);
    if (!prior)
        prior = json_object_get(seen, ev->event_id);
    if (prior) {
        const char *canon = json_string_value(json_object_get(prior, "body"));
        if (canon && strcmp(canon, ev->canon) == 0)
            it->reply = feed_reply_outcome(it->in_doubt ? "accepted" : "duplicate", ev->event_id, ev->incident_id,
                                      json_object_get(prior, "reply"));
        else
            it->reply = rejected(it, "event_id_conflict", "event_id",
                                 "event_id was already used for an event with different content");
        return false;
    }
    json_t *state = json_object_get(states, ev->incident_id);
    if (json_is_null(state))
        state = NULL;
    int64_t last = incident_last_seq(state);
    if (ev->seq <= last) {
        char msg[160];
        snprintf(msg, sizeof(msg), "seq %lld is not greater than the incident's last applied seq %lld",
                 (long long)ev->seq, (long long)last);
        it->reply = rejected(it, "seq_conflict", "seq", msg);
        return false;
    }
    struct rules_env env = {st->rs, st->force, store_next_serial, ln};
    json_t *new_state = NULL, *outcome = NULL;
    struct feed_event_error err = {0};
    /* The state is updated where it stands unless something else holds it too: then the rules
     * work on a copy. (Nothing does today: the linked incidents' object leaves the incident's
     * own state out.) */
    bool in_place = state && state->refcount == 1;
    int rc = in_place ? rules_update(&env, state, linked, ev, &new_state, &outcome, &err)
                      : rules_apply(&env, state, linked, ev, &new_state, &outcome, &err);
    if (rc < 0) {
        /* (only rules_update says -1) Memory ran out half-way through changing the state in
         * place: the batch cannot be trusted. */
        ln->state_lost = true;
        feed_event_error_clear(&err);
        return false;
    }
    if (rc != 0) {
        it->reply = rejected(it, err.code ? err.code : "bad_field", err.field, err.message);
        feed_event_error_clear(&err);
        return false;
    }
    json_t *body = reply_body(it, outcome);
    it->reply = feed_reply_outcome("accepted", ev->event_id, ev->incident_id, body);
    writes_event(w, it, body, outcome);
    /* the canonical text is jansson's own output, so valid UTF-8: no need to check it again */
    json_t *seen_entry = json_object();
    json_object_set_new_nocheck(seen_entry, "body", json_stringn_nocheck(ev->canon, strlen(ev->canon)));
    json_object_set_new_nocheck(seen_entry, "reply", body);
    json_object_set_new(batch_seen, ev->event_id, seen_entry);
    if (!in_place)
        json_object_set_new(states, ev->incident_id, new_state);
    json_decref(outcome);
    return true;
}

/* Decides the batch's items in arrival order against `states` (incident id -> state, or null for
 * a row with none), which it updates, with the stored events `seen` (event id -> body, reply).
 * Fills w; returns how many items are to be written. */
static size_t batch_decide(struct lane *ln, json_t *states, json_t *seen, struct writes *w)
{
    json_t *batch_seen = json_object();
    size_t accepted = 0;
    for (size_t i = 0; i < ln->nbatch && !ln->state_lost; i++) {
        json_t *item_linked = linked_for(ln->batch[i], states);
        if (decide_one(ln, ln->batch[i], states, json_object_size(item_linked) ? item_linked : NULL, seen,
                       batch_seen, w))
            accepted++;
        json_decref(item_linked);
    }
    json_decref(batch_seen);
    return accepted;
}

/* Sends a decided batch's writes: the write statement and the audit entries, after BEGIN and, when
 * `refill` is not 0, a fetch of that many serials for later batches if the batch is direct.
 * write_done answers. Clears w; states and existing stay the caller's. */
static void batch_send_writes(struct lane *ln, struct writes *w, json_t *states, const json_t *existing,
                              size_t refill)
{
    writes_incidents(w, states, existing);
    /* p[0..4]: the write statement's $1..$5, p[5]: the audit lines */
    char *p[6];
    jsonwrite_char(&w->crimes, ']');
    jsonwrite_char(&w->pending, ']');
    p[0] = jsonwrite_take(&w->events, NULL);
    p[1] = jsonwrite_take(&w->incidents, NULL);
    p[2] = jsonwrite_take(&w->crimes, NULL);
    p[3] = jsonwrite_take(&w->pending, NULL);
    p[4] = jsonwrite_take(&w->new_incidents, NULL);
    p[5] = jsonwrite_take(&w->audit, NULL);
    writes_clear(w);
    int rc = -1;
    bool complete = true;
    for (int i = 0; i < 6; i++)
        complete = complete && p[i];
    if (complete) {
        char nbuf[32];
        const char *p_n[1] = {nbuf};
        struct pg_query q[4];
        int nq = 0;
        if (ln->direct) {
            q[nq++] = (struct pg_query){sql_begin, 0, NULL};
            if (refill > 0) {
                snprintf(nbuf, sizeof(nbuf), "%zu", refill);
                q[nq++] = (struct pg_query){sql_serials, 1, p_n};
                ln->refill = true;
            }
        }
        q[nq++] = (struct pg_query){sql_write, 5, (const char *const *)p};
        const char *p_audit[2] = {p[5], ln->chain};
        q[nq++] = (struct pg_query){sql_audit_append, 2, p_audit};
        ln->phase = BATCH_WRITE;
        ln->commit_sent = metrics_clock();
        batch_timer_start(ln);
        rc = pgconn_send(ln->db, q, nq, write_done, ln);
    }
    for (int i = 0; i < 6; i++)
        free(p[i]);
    if (!complete) {
        /* nothing was sent: a direct batch has no transaction to roll back */
        if (ln->direct)
            batch_fail(ln, "overloaded", "out of memory writing the batch");
        else
            batch_rollback(ln, "out of memory writing the batch");
        return;
    }
    if (rc != 0)
        batch_fail(ln, "db_unavailable", "the database connection was lost");
}

static void read_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct lane *ln = arg;
    (void)sent_all;
    if (unit_failed(ln, res, n, error))
        return;
    /* res: BEGIN, create (only when the batch has rows to create), then always the last three:
     * lock (the batch's incidents and those they link to), seen, serials */
    const PGresult *locked = res[n - 3], *seen_rows = res[n - 2], *serials = res[n - 1];
    if (serials_add(ln, serials) != 0) {
        batch_rollback(ln, "out of memory");
        return;
    }
    json_t *existing = json_object();
    json_t *states = rows_to_object(locked, existing);
    json_t *seen = json_object();
    for (int i = 0; i < PQntuples(seen_rows); i++) {
        json_t *reply = json_loads(PQgetvalue(seen_rows, i, 2), 0, NULL);
        json_object_set_new(seen, PQgetvalue(seen_rows, i, 0),
                            json_pack("{s:s, s:o}", "body", PQgetvalue(seen_rows, i, 1), "reply",
                                      reply ? reply : json_object()));
    }
    struct writes w;
    writes_init(&w);
    size_t accepted = batch_decide(ln, states, seen, &w);
    json_decref(seen);

    if (ln->state_lost) {
        json_decref(states);
        json_decref(existing);
        writes_clear(&w);
        ln->state_lost = false;
        batch_rollback(ln, "out of memory while applying the rules");
        return;
    }
    if (ln->serial_short) {
        /* Some item needed more numbers than the batch fetched: decide it again with more. */
        json_decref(states);
        json_decref(existing);
        writes_clear(&w);
        bool grown = false;
        for (size_t i = 0; i < ln->nbatch; i++) {
            struct item *it = ln->batch[i];
            unsigned b = it->serial_boost ? it->serial_boost : 1;
            if (b < SERIAL_BOOST_MAX) {
                it->serial_boost = b * 4;
                grown = true;
            }
        }
        if (!grown)
            ln->serial_short = false; /* counts as an attempt: it cannot succeed */
        batch_rollback(ln, grown ? NULL : "an event needs more serial numbers than a batch may fetch");
        return;
    }
    if (accepted == 0) {
        json_decref(states);
        json_decref(existing);
        writes_clear(&w);
        static const struct pg_query q = {sql_rollback, 0, NULL};
        ln->phase = BATCH_WRITE;
        batch_timer_start(ln);
        if (pgconn_send(ln->db, &q, 1, commit_done, ln) != 0)
            batch_fail(ln, "db_unavailable", "the database connection was lost");
        return;
    }
    batch_send_writes(ln, &w, states, existing, 0);
    json_decref(states);
    json_decref(existing);
}

/* One element of a PostgreSQL text[] literal (ids hold no control characters). */
static void text_array_add(struct jsonwrite_buf *b, const char *v)
{
    if (!v)
        return;
    jsonwrite_char(b, b->len == 0 ? '{' : ',');
    pgtext_array_elem(b, v, strlen(v));
}

static char *text_array_end(struct jsonwrite_buf *b)
{
    if (b->len == 0)
        jsonwrite_char(b, '{');
    jsonwrite_char(b, '}');
    return jsonwrite_take(b, NULL);
}

/* The batch's incident or event ids as a text[] literal (repeats are harmless in the queries). */
static char *ids_array(struct item **b, size_t n, bool incidents)
{
    struct jsonwrite_buf out = {0};
    for (size_t i = 0; i < n; i++)
        text_array_add(&out, incidents ? b[i]->ev.incident_id : b[i]->ev.event_id);
    return text_array_end(&out);
}

/* The incident ids the batch's events and decisions link to, as a text[] literal. With `own`,
 * also the incidents of its items other than openings: see SQL_INCIDENTS_CREATE. */
static char *link_ids_array(struct item **b, size_t n, bool own)
{
    struct jsonwrite_buf out = {0};
    for (size_t i = 0; i < n; i++) {
        if (own && (b[i]->act || b[i]->ev.type != FEED_EVENT_OPENED))
            text_array_add(&out, b[i]->ev.incident_id);
        size_t j;
        json_t *l;
        json_array_foreach(json_object_get(b[i]->ev.doc, "links"), j, l)
            text_array_add(&out, json_string_value(json_object_get(l, "incident_id")));
        json_array_foreach(json_object_get(b[i]->act, "links"), j, l)
            text_array_add(&out, json_string_value(l));
    }
    return text_array_end(&out);
}

/* The incidents an item touches: its own and those its event or decision links to. Calls fn for
 * each; stops and returns true as soon as fn does. */
static bool item_incidents(const struct item *it, bool (*fn)(json_t *set, const char *id), json_t *set)
{
    if (fn(set, it->ev.incident_id))
        return true;
    size_t j;
    json_t *l;
    json_array_foreach(json_object_get(it->ev.doc, "links"), j, l)
    {
        const char *id = json_string_value(json_object_get(l, "incident_id"));
        if (id && fn(set, id))
            return true;
    }
    json_array_foreach(json_object_get(it->act, "links"), j, l)
    {
        if (json_is_string(l) && fn(set, json_string_value(l)))
            return true;
    }
    return false;
}

static bool set_add(json_t *set, const char *id)
{
    json_object_set_new(set, id, json_true());
    return false;
}

static bool set_has(json_t *set, const char *id)
{
    return json_object_get(set, id) != NULL;
}

/* Takes the batch's items from the queue, in order, skipping (and leaving in place) any that
 * touches an incident another lane's batch touches: that transaction holds the incident, or is
 * about to create it. An item behind a skipped one of the same incident is skipped too, so one
 * incident's events, and a report and the report it links to, are decided in the order they
 * arrived whichever lane carries them. Returns the serials the batch asks for. */
static size_t batch_take(struct lane *ln, size_t max)
{
    struct store *st = ln->st;
    json_t *busy = NULL; /* incident ids other lanes' batches touch */
    for (size_t k = 0; k < st->p.lanes; k++) {
        struct lane *o = &st->lanes[k];
        for (size_t i = 0; o != ln && i < o->nbatch; i++) {
            if (!busy)
                busy = json_object();
            item_incidents(o->batch[i], set_add, busy);
        }
    }
    size_t need = 0, scanned = 0;
    struct item **link = &st->head, *prev = NULL;
    while (*link && ln->nbatch < max && scanned++ < max * 4) {
        struct item *it = *link;
        if (busy && item_incidents(it, set_has, busy)) {
            item_incidents(it, set_add, busy); /* what it touches waits behind it */
            prev = it;
            link = &it->next;
            continue;
        }
        *link = it->next;
        if (st->tail == it)
            st->tail = prev;
        it->next = NULL;
        st->queued--;
        need += serials_needed(it);
        ln->batch[ln->nbatch++] = it;
    }
    json_decref(busy);
    return need;
}

/* True when every item of the batch opens an incident on its own: a feed event opening an
 * incident, linking to none, not in doubt, and not in a direct batch the database refused. */
static bool batch_all_openings(const struct lane *ln)
{
    for (size_t i = 0; i < ln->nbatch; i++) {
        const struct item *it = ln->batch[i];
        if (it->act || it->read_first || it->in_doubt || it->ev.type != FEED_EVENT_OPENED ||
            json_array_size(json_object_get(it->ev.doc, "links")) > 0)
            return false;
    }
    return true;
}

/* A direct batch: one made of openings only (batch_all_openings), for which the lane holds the
 * serials, is decided at once on no incident state and no stored event, and its writes go with
 * BEGIN in the first round trip. Reading would have found nothing for them unless the incident or
 * the event id is already there, and then the write statement fails on that key (its insert of a
 * new incident has no ON CONFLICT, nor has the raw event's): the batch is rolled back and decided
 * again the usual way (rollback_done). A batch with an item refused or short of serials is
 * decided the usual way straight away, so that every answer is the one reading first would give.
 * Returns true when the batch was sent (or answered), false when it is to be read first. */
static bool batch_direct(struct lane *ln, size_t need)
{
    if (serials_left(ln) < need || !batch_all_openings(ln))
        return false;
    json_t *states = json_object(), *existing = json_object(), *seen = json_object();
    struct writes w;
    writes_init(&w);
    size_t accepted = batch_decide(ln, states, seen, &w);
    json_decref(seen);
    if (accepted < ln->nbatch || ln->serial_short) {
        for (size_t i = 0; i < ln->nbatch; i++) {
            json_decref(ln->batch[i]->reply);
            ln->batch[i]->reply = NULL;
        }
        ln->serial_short = false;
        writes_clear(&w);
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

static void batch_start(struct lane *ln)
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
    char *incidents = ids_array(ln->batch, ln->nbatch, true);
    char *events = ids_array(ln->batch, ln->nbatch, false);
    char *links = link_ids_array(ln->batch, ln->nbatch, false);
    char *create = link_ids_array(ln->batch, ln->nbatch, true);
    char nbuf[32];
    snprintf(nbuf, sizeof(nbuf), "%zu", fetch);
    if (!incidents || !events || !links || !create) {
        free(incidents);
        free(events);
        free(links);
        free(create);
        batch_fail(ln, "overloaded", "out of memory");
        return;
    }
    const char *p_inc[2] = {incidents, links};
    const char *p_ev[1] = {events};
    const char *p_n[1] = {nbuf};
    const char *p_create[1] = {create};
    /* read_done finds the last three results in the same places with or without the create */
    struct pg_query q[5];
    int nq = 0;
    q[nq++] = (struct pg_query){sql_begin, 0, NULL};
    if (strcmp(create, "{}") != 0)
        q[nq++] = (struct pg_query){sql_incidents_create, 1, p_create};
    q[nq++] = (struct pg_query){sql_incidents_lock, 2, p_inc};
    q[nq++] = (struct pg_query){sql_events_seen, 1, p_ev};
    q[nq++] = (struct pg_query){sql_serials, 1, p_n};
    ln->phase = BATCH_READ;
    ln->batch_started = metrics_clock();
    batch_timer_start(ln);
    int rc = pgconn_send(ln->db, q, nq, read_done, ln);
    free(incidents);
    free(events);
    free(links);
    free(create);
    if (rc != 0)
        batch_fail(ln, "db_unavailable", "the database connection was lost");
}

/* ---- loop callbacks ------------------------------------------------------------------------- */

static void store_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct store *st = arg;
    (void)fd;
    (void)what;
    for (size_t k = 0; k < st->p.lanes && st->head; k++) {
        struct lane *ln = &st->lanes[k];
        if (ln->phase == BATCH_IDLE && pgconn_ready(ln->db))
            batch_start(ln);
    }
}

static void store_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct lane *ln = arg;
    (void)fd;
    (void)what;
    pgconn_drop(ln->db, "a database round trip timed out");
}

static void store_db_state(void *arg, bool up)
{
    struct lane *ln = arg;
    struct store *st = ln->st;
    serials_forget(ln);
    if (up || store_db_up(st)) {
        store_schedule(st); /* another lane may carry what this one cannot */
        return;
    }
    /* No lane is up: queued events cannot be written now. */
    queue_answer_retry(st, "db_unavailable", "the database is unavailable");
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
    st->lanes = calloc(st->p.lanes, sizeof(*st->lanes));
    st->kick = event_new(base, -1, 0, store_kick_cb, st);
    if (!st->force || !st->conninfo || !st->lanes || !st->kick)
        return store_free(st);
    static const char *const prepared[] = {sql_begin,      sql_incidents_create, sql_incidents_lock,
                                           sql_events_seen, sql_serials,          sql_write,
                                           sql_audit_append, sql_commit,         sql_rollback};
    for (size_t k = 0; k < st->p.lanes; k++) {
        struct lane *ln = &st->lanes[k];
        char name[16];
        snprintf(name, sizeof(name), k ? "store%zu" : "store", k + 1);
        ln->st = st;
        snprintf(ln->chain, sizeof(ln->chain), "%zu", k % AUDIT_CHAINS + 1);
        ln->timeout = evtimer_new(base, store_timeout_cb, ln);
        ln->db = pgconn_new(base, st->conninfo, name, store_db_state, ln);
        if (!ln->timeout || !ln->db)
            return store_free(st);
        pgconn_set_connect_timeout(ln->db, p->connect_timeout_ms);
        for (size_t i = 0; i < sizeof(prepared) / sizeof(prepared[0]); i++)
            pgconn_prepare(ln->db, prepared[i]);
    }
    return st;
}

struct store *store_free(struct store *st)
{
    if (!st)
        return NULL;
    for (size_t k = 0; st->lanes && k < st->p.lanes; k++) {
        struct lane *ln = &st->lanes[k];
        pgconn_free(ln->db);
        for (size_t i = 0; i < ln->nbatch; i++)
            item_free(ln->batch[i]);
        free(ln->batch);
        free(ln->serials);
        if (ln->timeout)
            event_free(ln->timeout);
    }
    free(st->lanes);
    struct item *it;
    while ((it = queue_pop(st)) != NULL)
        item_free(it);
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
    struct item *it = calloc(1, sizeof(*it));
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
    if (st->queued >= st->p.queue_max) {
        store_answer_retry(it, "overloaded", "too many events are waiting for the database");
        return;
    }
    queue_push_back(st, it);
    store_schedule(st);
}

void store_submit_action(struct store *st, const char *incident_id, json_t *act, store_reply_fn fn, void *arg)
{
    struct item *it = calloc(1, sizeof(*it));
    if (!it || !(it->ev.incident_id = strdup(incident_id))) {
        free(it);
        json_t *r = action_reply(503, "overloaded", "out of memory", NULL);
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
    queue_push_back(st, it);
    store_schedule(st);
}

bool store_db_up(const struct store *st)
{
    for (size_t k = 0; k < st->p.lanes; k++)
        if (st->lanes[k].db && pgconn_up(st->lanes[k].db))
            return true;
    return false;
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
        if (st->lanes[k].phase != BATCH_IDLE)
            return false;
    return st->queued == 0;
}

void store_fail_queued(struct store *st, const char *code, const char *message)
{
    queue_answer_retry(st, code, message);
    /* Batches that have not sent their COMMIT are abandoned: their connection is closed, so their
     * transaction cannot commit, and they are answered like the queue. */
    st->fail_code = code;
    st->fail_message = message;
    for (size_t k = 0; k < st->p.lanes; k++) {
        struct lane *ln = &st->lanes[k];
        if (ln->phase == BATCH_READ || ln->phase == BATCH_WRITE)
            pgconn_drop(ln->db, message);
    }
    st->fail_code = st->fail_message = NULL;
}

void store_set_batch_max(struct store *st, size_t batch_max)
{
    st->p.batch_max = batch_max ? batch_max : 1;
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
        const struct lane *ln = &st->lanes[k];
        if (ln->phase != BATCH_IDLE && metrics_clock() - ln->batch_started > age)
            age = metrics_clock() - ln->batch_started;
    }
    return age;
}
