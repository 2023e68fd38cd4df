/* ingest.c: batches validated events into PostgreSQL transactions and answers each event only
 * after its transaction has committed (or has certainly not).
 *
 * One batch at a time on one dedicated connection, in two round trips:
 *   1. BEGIN; create and lock (one sorted statement) the batch's incidents and the incidents they
 *      link to, reading their state; read already-seen event ids; lock the audit chain's head;
 *      top up the serial pool.
 *   2. (rules decided in memory, event by event, in arrival order) one write statement; COMMIT.
 * Events that arrive while a batch is in flight wait and form the next batch: group commit without
 * a timer. A connection lost after COMMIT was sent leaves the batch in doubt: its events go back to
 * the head of the queue and are looked up again once the database is back. */
#include "ingest.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "audit.h"
#include "incident.h"
#include "ingest_sql.h"
#include "log.h"
#include "metrics.h"
#include "pgconn.h"
#include "reply.h"
#include "rules.h"
#include "rules_act.h"
#include "jsonx.h"

#define MAX_ATTEMPTS 3

/* The write path's statements, prepared on every session of the store connection: pgconn knows
 * them by address, so each is one object used everywhere. */
static const char sql_incidents_create[] = SQL_INCIDENTS_CREATE;
static const char sql_incidents_lock[] = SQL_INCIDENTS_LOCK;
static const char sql_events_seen[] = SQL_EVENTS_SEEN;
static const char sql_audit_head[] = SQL_AUDIT_HEAD;
static const char sql_serials[] = SQL_SERIALS;
static const char sql_write[] = SQL_WRITE;

struct item {
    struct event ev; /* for a person's decision: only incident_id is set */
    json_t *act;     /* a person's decision (see ingest_submit_action), or NULL for a feed event */
    ingest_reply_fn fn;
    void *arg;
    bool in_doubt; /* its batch's COMMIT was sent but its outcome never arrived */
    int attempts;
    json_t *reply;  /* decided in round trip 1, delivered after COMMIT */
    struct item *next;
};

enum batch_phase { BATCH_IDLE, BATCH_READ, BATCH_WRITE, BATCH_ROLLBACK };

struct ingest {
    struct event_base *base;
    struct pgconn *db;
    struct ingest_params p;
    char *force;
    char *conninfo;
    const struct ruleset *rs;
    struct event *kick;    /* deferred: start a batch when possible */
    struct event *timeout; /* a round trip that takes too long */
    /* waiting events, FIFO */
    struct item *head, *tail;
    size_t queued;
    /* the batch in flight */
    enum batch_phase phase;
    struct item **batch;
    size_t nbatch;
    double batch_started; /* metrics_clock() when the batch in flight began */
    double commit_sent;   /* ... when its writes and COMMIT were sent; 0: no COMMIT in flight */
    /* serials for CRNs and pending ids: [serial_next, serial_end) reserved by the batch in flight */
    int64_t serial_next, serial_end;
    size_t serial_want; /* how many the batch in flight asked for */
};

/* ---- queue ---------------------------------------------------------------------------------- */

static void item_free(struct item *it)
{
    event_clear(&it->ev);
    json_decref(it->act);
    json_decref(it->reply);
    free(it);
}

static void ingest_deliver(struct item *it, json_t *reply)
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

static void ingest_answer_retry(struct item *it, const char *code, const char *message)
{
    if (it->act)
        ingest_deliver(it, action_reply(503, code, message, NULL));
    else
        ingest_deliver(it, reply_error("retry", it->ev.event_id, it->ev.incident_id, code, message, NULL));
}

static void queue_push_front(struct ingest *ing, struct item *it)
{
    it->next = ing->head;
    ing->head = it;
    if (!ing->tail)
        ing->tail = it;
    ing->queued++;
}

static void queue_push_back(struct ingest *ing, struct item *it)
{
    it->next = NULL;
    if (ing->tail)
        ing->tail->next = it;
    else
        ing->head = it;
    ing->tail = it;
    ing->queued++;
}

static struct item *queue_pop(struct ingest *ing)
{
    struct item *it = ing->head;
    if (!it)
        return NULL;
    ing->head = it->next;
    if (!ing->head)
        ing->tail = NULL;
    it->next = NULL;
    ing->queued--;
    return it;
}

static void ingest_schedule(struct ingest *ing)
{
    event_active(ing->kick, EV_TIMEOUT, 0);
}

/* ---- serials -------------------------------------------------------------------------------- */

static int64_t ingest_next_serial(void *arg)
{
    struct ingest *ing = arg;
    if (ing->serial_next >= ing->serial_end)
        return 0; /* cannot happen: the batch reserves its worst case */
    return ing->serial_next++;
}

/* An upper bound of the serials one event can consume: a crime and a pending decision per
 * allegation, and a few incident-level pending decisions. */
static size_t serials_needed(const struct item *it)
{
    if (it->act)
        return 16;
    return json_array_size(json_object_get(it->ev.doc, "allegations")) * 3 + 8;
}

/* ---- batch end ------------------------------------------------------------------------------ */

static void batch_timer_stop(struct ingest *ing)
{
    evtimer_del(ing->timeout);
}

static void batch_timer_start(struct ingest *ing)
{
    struct timeval tv = {ing->p.unit_timeout_ms / 1000, (ing->p.unit_timeout_ms % 1000) * 1000};
    evtimer_add(ing->timeout, &tv);
}

static void batch_reset(struct ingest *ing)
{
    free(ing->batch);
    ing->batch = NULL;
    ing->nbatch = 0;
    ing->phase = BATCH_IDLE;
    ing->serial_next = ing->serial_end = 0;
    ing->commit_sent = 0;
    batch_timer_stop(ing);
}

/* Deliver every decided reply, in order. */
static void batch_deliver(struct ingest *ing)
{
    struct item **b = ing->batch;
    size_t n = ing->nbatch;
    if (ing->commit_sent > 0)
        metrics_store_commit(ing->p.metrics, n, metrics_clock() - ing->commit_sent);
    ing->batch = NULL;
    batch_reset(ing);
    for (size_t i = 0; i < n; i++) {
        json_t *r = b[i]->reply;
        b[i]->reply = NULL;
        ingest_deliver(b[i], r);
    }
    free(b);
    ingest_schedule(ing);
}

/* Put the batch back at the head of the queue, in order, to be decided again. */
static void batch_requeue(struct ingest *ing, bool in_doubt)
{
    for (size_t i = ing->nbatch; i-- > 0;) {
        struct item *it = ing->batch[i];
        if (in_doubt && it->act) {
            /* Deciding it again could apply it twice: say so instead. */
            ingest_deliver(it, action_reply(503, "outcome_unknown",
                                            "the database connection was lost while committing; look at the "
                                            "crime or pending decision before trying again",
                                            NULL));
            continue;
        }
        json_decref(it->reply);
        it->reply = NULL;
        it->in_doubt = it->in_doubt || in_doubt;
        queue_push_front(ing, it);
    }
    batch_reset(ing);
}

/* Nothing of the batch was committed: answer retry, except events whose earlier batch is still in
 * doubt — they wait for the database to come back. */
static void batch_fail(struct ingest *ing, const char *code, const char *message)
{
    struct item **b = ing->batch;
    size_t n = ing->nbatch;
    ing->batch = NULL;
    batch_reset(ing);
    for (size_t i = n; i-- > 0;) {
        if (b[i]->in_doubt) {
            json_decref(b[i]->reply);
            b[i]->reply = NULL;
            queue_push_front(ing, b[i]);
            b[i] = NULL;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (b[i])
            ingest_answer_retry(b[i], code, message);
    free(b);
    ingest_schedule(ing);
}

static void rollback_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct ingest *ing = arg;
    (void)res;
    (void)n;
    (void)sent_all;
    if (error) {
        batch_fail(ing, "db_unavailable", "the database connection was lost");
        return;
    }
    /* Try again, a bounded number of times: a conflict with another instance resolves itself. */
    bool give_up = false;
    for (size_t i = 0; i < ing->nbatch; i++)
        if (++ing->batch[i]->attempts >= MAX_ATTEMPTS)
            give_up = true;
    if (give_up) {
        batch_fail(ing, "db_unavailable", "the database refused the transaction");
        return;
    }
    batch_requeue(ing, false);
    ingest_schedule(ing);
}

static void batch_rollback(struct ingest *ing, const char *why)
{
    static const struct pg_query q = {"ROLLBACK", 0, NULL};
    log_warn("store: transaction rolled back: %s", why);
    metrics_store_rollback(ing->p.metrics);
    ing->phase = BATCH_ROLLBACK;
    if (pgconn_send(ing->db, &q, 1, rollback_done, ing) != 0)
        batch_fail(ing, "db_unavailable", "the database connection was lost");
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

static void write_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct ingest *ing = arg;
    batch_timer_stop(ing);
    if (error) {
        if (sent_all) {
            /* COMMIT may or may not have happened: find out once the database is back. */
            log_warn("store: connection lost with a COMMIT in flight; %zu event(s) in doubt", ing->nbatch);
            batch_requeue(ing, true);
        } else {
            batch_fail(ing, "db_unavailable", "the database connection was lost");
        }
        return;
    }
    const char *why = first_error(res, n);
    if (why) {
        batch_rollback(ing, why);
        return;
    }
    batch_deliver(ing);
}

/* ---- deciding a batch ----------------------------------------------------------------------- */

/* The batch's rows, written straight into the write statement's parameters: events as lines of
 * tab-separated fields (no field holds a tab or a newline: ids hold no control characters and
 * compact JSON escapes them), incidents, crimes and pending decisions as JSON arrays. Persons and
 * allegations stay values until the end because a later event of the batch replaces an earlier
 * one's row; audit entries wait for the hash chain. */
struct writes {
    struct jsonx_buf events, incidents, crimes, pending;
    json_t *persons, *allegations, *audit;
    json_t *person_keys, *allegation_keys; /* "incident\x1fid" -> index, last entry wins */
    json_t *touched;                       /* incident id -> true */
};

static void writes_init(struct writes *w)
{
    memset(w, 0, sizeof(*w));
    jsonx_char(&w->incidents, '[');
    jsonx_char(&w->crimes, '[');
    jsonx_char(&w->pending, '[');
    w->persons = json_array();
    w->allegations = json_array();
    w->audit = json_array();
    w->person_keys = json_object();
    w->allegation_keys = json_object();
    w->touched = json_object();
}

static void writes_clear(struct writes *w)
{
    jsonx_buf_free(&w->events);
    jsonx_buf_free(&w->incidents);
    jsonx_buf_free(&w->crimes);
    jsonx_buf_free(&w->pending);
    json_decref(w->persons);
    json_decref(w->allegations);
    json_decref(w->audit);
    json_decref(w->person_keys);
    json_decref(w->allegation_keys);
    json_decref(w->touched);
}

/* Keep the last entry per (incident, id): one statement may not upsert a row twice. */
static void writes_entry(json_t *arr, json_t *keys, const char *incident_id, const char *id_field, json_t *entry)
{
    const char *id = json_string_value(json_object_get(entry, "id"));
    if (!id) {
        json_decref(entry);
        return;
    }
    char key[512];
    snprintf(key, sizeof(key), "%s\x1f%s", incident_id, id);
    json_object_set_new(entry, id_field, json_string(id));
    json_t *at = json_object_get(keys, key);
    if (at)
        json_array_set_new(arr, (size_t)json_integer_value(at), entry);
    else {
        json_object_set_new(keys, key, json_integer((json_int_t)json_array_size(arr)));
        json_array_append_new(arr, entry);
    }
}

static json_t *array_or_empty(json_t *v)
{
    return json_is_array(v) ? json_incref(v) : json_array();
}

/* An array member, or [] when it is missing. */
static void write_array(struct jsonx_buf *b, const char *key, const json_t *v)
{
    jsonx_key(b, key);
    if (json_is_array(v))
        jsonx_value(b, v, 0);
    else
        jsonx_raw(b, "[]", 2);
}

/* A crime or pending decision as a row: its members, its incident, flags and rules as arrays. */
static void write_row(struct jsonx_buf *b, const json_t *obj, const char *incident_id)
{
    jsonx_sep(b);
    jsonx_char(b, '{');
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (strcmp(k, "flags") == 0 || strcmp(k, "rules") == 0 || strcmp(k, "incident_id") == 0)
            continue;
        jsonx_key(b, k);
        jsonx_value(b, v, 0);
    }
    jsonx_key(b, "incident_id");
    jsonx_cstr(b, incident_id);
    write_array(b, "flags", json_object_get(obj, "flags"));
    write_array(b, "rules", json_object_get(obj, "rules"));
    jsonx_char(b, '}');
}

static void writes_event(struct writes *w, const struct item *it, const json_t *body, const json_t *outcome)
{
    const struct event *ev = &it->ev;
    struct jsonx_buf *b = &w->events;
    const char *at = json_string_value(json_object_get(ev->doc, "at"));
    const char *fields[] = {ev->event_id, ev->incident_id, NULL, event_type_name(ev->type), at ? at : "", ev->canon};
    for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
        if (fields[k])
            jsonx_raw(b, fields[k], strlen(fields[k]));
        else
            jsonx_int(b, ev->seq);
        jsonx_char(b, '\t');
    }
    jsonx_value(b, body, 0);
    jsonx_char(b, '\n');
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(ev->doc, "persons"), i, v)
    {
        json_t *e = json_pack("{s:s, s:O, s:s, s:O}", "incident_id", ev->incident_id, "doc", v, "event_id",
                              ev->event_id, "id", json_object_get(v, "id"));
        writes_entry(w->persons, w->person_keys, ev->incident_id, "person_id", e);
    }
    json_array_foreach(json_object_get(ev->doc, "allegations"), i, v)
    {
        json_t *e = json_pack("{s:s, s:O, s:s, s:O}", "incident_id", ev->incident_id, "doc", v, "event_id",
                              ev->event_id, "id", json_object_get(v, "id"));
        writes_entry(w->allegations, w->allegation_keys, ev->incident_id, "allegation_id", e);
    }
    const char *ruleset = json_string_value(json_object_get(outcome, "rules"));
    json_array_foreach(json_object_get(outcome, "audit"), i, v)
    {
        json_t *e = json_object(); /* shares the entry's values: the chain only adds members */
        json_object_update(e, v);
        json_object_set_new(e, "incident_id", json_string(ev->incident_id));
        json_object_set_new(e, "event_id", json_string(ev->event_id));
        json_object_set_new(e, "actor", json_string("rules"));
        json_object_set_new(e, "role", json_string("rules"));
        if (ruleset)
            json_object_set_new(e, "ruleset", json_string(ruleset));
        json_array_append_new(w->audit, e);
    }
    json_object_set_new(w->touched, ev->incident_id, json_true());
}

/* Rows for the final state of every incident the batch changed. */
static void writes_incidents(struct writes *w, json_t *states)
{
    const char *id;
    json_t *unused;
    json_object_foreach(w->touched, id, unused)
    {
        json_t *st = json_object_get(states, id);
        struct jsonx_buf *b = &w->incidents;
        jsonx_sep(b);
        jsonx_char(b, '{');
        jsonx_key(b, "incident_id");
        jsonx_cstr(b, id);
        jsonx_key(b, "last_seq");
        jsonx_int(b, incident_last_seq(st));
        static const char *const copied[] = {"category", "opened_at", "closed_at"};
        for (size_t k = 0; k < sizeof(copied) / sizeof(copied[0]); k++) {
            jsonx_key(b, copied[k]);
            jsonx_value(b, json_object_get(st, copied[k]), 0);
        }
        jsonx_key(b, "state");
        jsonx_value(b, st, 0);
        jsonx_char(b, '}');
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(st, "crimes"), i, c)
            write_row(&w->crimes, c, id);
        json_array_foreach(json_object_get(st, "pending"), i, c)
            write_row(&w->pending, c, id);
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

static json_t *rows_to_object(const PGresult *r)
{
    json_t *o = json_object();
    for (int i = 0; r && i < PQntuples(r); i++) {
        json_t *st = PQgetisnull(r, i, 1) ? json_null() : json_loads(PQgetvalue(r, i, 1), 0, NULL);
        json_object_set_new(o, PQgetvalue(r, i, 0), st ? st : json_null());
    }
    return o;
}

/* The incidents an item may consult besides its own, as they now stand (also ones opened by an
 * earlier event of this batch). A feed event: those its incident links to, by its stored links or
 * its own. A person's decision: every other incident the batch holds (a C3 cancellation looks for
 * the surviving crime among them). New reference. */
static json_t *linked_for(const struct item *it, json_t *states)
{
    json_t *out = json_object();
    const char *own = it->ev.incident_id;
    if (it->act) {
        const char *id;
        json_t *st;
        json_object_foreach(states, id, st)
        {
            if (!json_is_null(st) && strcmp(id, own) != 0)
                json_object_set(out, id, st);
        }
        return out;
    }
    const json_t *lists[2] = {json_object_get(json_object_get(states, own), "links"),
                              json_object_get(it->ev.doc, "links")};
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_t *l;
        json_array_foreach(lists[k], i, l)
        {
            const char *id = json_string_value(json_object_get(l, "incident_id"));
            json_t *st = id ? json_object_get(states, id) : NULL;
            if (st && !json_is_null(st) && strcmp(id, own) != 0)
                json_object_set(out, id, st);
        }
    }
    return out;
}

static json_t *rejected(const struct item *it, const char *code, const char *field, const char *msg)
{
    return reply_error("rejected", it->ev.event_id, it->ev.incident_id, code, msg, field);
}

/* Decide one event against the batch's working state. Returns true when it is to be written. */
/* A person's decision. Returns true when it is to be written. */
static bool decide_action(struct ingest *ing, struct item *it, json_t *states, json_t *linked, struct writes *w)
{
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
    struct rules_env env = {ing->rs, ing->force, ingest_next_serial, ing};
    json_t *new_state = NULL, *outcome = NULL;
    struct event_error err = {0};
    int rc = rules_act(&env, state, linked, &req, &new_state, &outcome, &err);
    if (rc != 0) {
        it->reply = action_reply(rc, err.code ? err.code : "refused", err.message, err.field);
        event_error_clear(&err);
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
            json_object_set_new(e, "ruleset", json_string(ruleset_version(ing->rs)));
        json_array_append_new(w->audit, e);
    }
    json_object_set_new(w->touched, incident_id, json_true());
    json_object_set_new(states, incident_id, new_state);
    json_decref(outcome);
    return true;
}

static bool decide_one(struct ingest *ing, struct item *it, json_t *states, json_t *linked, json_t *seen,
                       json_t *batch_seen, struct writes *w)
{
    if (it->act)
        return decide_action(ing, it, states, linked, w);
    struct event *ev = &it->ev;
    json_t *prior = json_object_get(batch_seen, ev->event_id);
    if (!prior)
        prior = json_object_get(seen, ev->event_id);
    if (prior) {
        const char *canon = json_string_value(json_object_get(prior, "body"));
        if (canon && strcmp(canon, ev->canon) == 0)
            it->reply = reply_outcome(it->in_doubt ? "accepted" : "duplicate", ev->event_id, ev->incident_id,
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
    struct rules_env env = {ing->rs, ing->force, ingest_next_serial, ing};
    json_t *new_state = NULL, *outcome = NULL;
    struct event_error err = {0};
    int rc = rules_apply(&env, state, linked, ev, &new_state, &outcome, &err);
    if (rc != 0) {
        it->reply = rejected(it, err.code ? err.code : "bad_field", err.field, err.message);
        event_error_clear(&err);
        return false;
    }
    json_t *body = reply_body(it, outcome);
    it->reply = reply_outcome("accepted", ev->event_id, ev->incident_id, body);
    writes_event(w, it, body, outcome);
    json_object_set_new(batch_seen, ev->event_id, json_pack("{s:s, s:o}", "body", ev->canon, "reply", body));
    json_object_set_new(states, ev->incident_id, new_state);
    json_decref(outcome);
    return true;
}

static void read_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct ingest *ing = arg;
    (void)sent_all;
    batch_timer_stop(ing);
    if (error) {
        batch_fail(ing, "db_unavailable", "the database is unavailable");
        return;
    }
    const char *why = first_error(res, n);
    if (why) {
        batch_rollback(ing, why);
        return;
    }
    /* res: 0 BEGIN, 1 create, 2 lock (the batch's incidents and those they link to), 3 seen,
     * 4 audit head, 5 serials reserved (the last one handed out before them) */
    if (PQntuples(res[5]) != 1) {
        batch_rollback(ing, "the serial counter has no row");
        return;
    }
    int64_t before = strtoll(PQgetvalue(res[5], 0, 0), NULL, 10);
    ing->serial_next = before + 1;
    ing->serial_end = before + 1 + (int64_t)ing->serial_want;
    char head[AUDIT_HASH_HEX] = "";
    if (PQntuples(res[4]) == 1)
        snprintf(head, sizeof(head), "%s", PQgetvalue(res[4], 0, 0));
    json_t *states = rows_to_object(res[2]);
    json_t *seen = json_object();
    for (int i = 0; i < PQntuples(res[3]); i++) {
        json_t *reply = json_loads(PQgetvalue(res[3], i, 2), 0, NULL);
        json_object_set_new(seen, PQgetvalue(res[3], i, 0),
                            json_pack("{s:s, s:o}", "body", PQgetvalue(res[3], i, 1), "reply",
                                      reply ? reply : json_object()));
    }
    json_t *batch_seen = json_object();
    struct writes w;
    writes_init(&w);
    size_t accepted = 0;
    for (size_t i = 0; i < ing->nbatch; i++) {
        json_t *item_linked = linked_for(ing->batch[i], states);
        if (decide_one(ing, ing->batch[i], states, json_object_size(item_linked) ? item_linked : NULL, seen,
                       batch_seen, &w))
            accepted++;
        json_decref(item_linked);
    }
    json_decref(seen);
    json_decref(batch_seen);

    if (accepted == 0) {
        json_decref(states);
        writes_clear(&w);
        static const struct pg_query q = {"ROLLBACK", 0, NULL};
        ing->phase = BATCH_WRITE;
        batch_timer_start(ing);
        if (pgconn_send(ing->db, &q, 1, write_done, ing) != 0)
            batch_fail(ing, "db_unavailable", "the database connection was lost");
        return;
    }
    writes_incidents(&w, states);
    json_decref(states);
    struct timeval now;
    gettimeofday(&now, NULL);
    if (audit_chain(w.audit, (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000, head) != 0) {
        writes_clear(&w);
        batch_rollback(ing, "cannot compute the audit hash chain");
        return;
    }
    char *p[9];
    struct jsonx_buf audit = {0}; /* lines: prev_hash TAB hash TAB entry */
    size_t k;
    json_t *e;
    json_array_foreach(w.audit, k, e)
    {
        static const char *const parts[] = {"prev_hash", "hash", "entry"};
        for (size_t j = 0; j < 3; j++) {
            json_t *v = json_object_get(e, parts[j]);
            jsonx_raw(&audit, json_string_value(v), json_string_length(v));
            jsonx_char(&audit, j < 2 ? '\t' : '\n');
        }
    }
    jsonx_char(&w.incidents, ']');
    jsonx_char(&w.crimes, ']');
    jsonx_char(&w.pending, ']');
    p[0] = jsonx_take(&w.events, NULL);
    p[1] = jsonx_take(&w.incidents, NULL);
    p[2] = jsonx_dumps(w.persons, 0);
    p[3] = jsonx_dumps(w.allegations, 0);
    p[4] = jsonx_take(&w.crimes, NULL);
    p[5] = jsonx_take(&w.pending, NULL);
    p[6] = jsonx_take(&audit, NULL);
    p[7] = strdup(head);
    /* Numbers reserved but not used go back: the counter ends at the last one handed out. */
    char last[32];
    snprintf(last, sizeof(last), "%lld", (long long)(ing->serial_next - 1));
    p[8] = last;
    writes_clear(&w);
    int rc = -1;
    bool complete = true;
    for (int i = 0; i < 8; i++)
        complete = complete && p[i];
    if (complete) {
        const struct pg_query q[2] = {{sql_write, 9, (const char *const *)p}, {"COMMIT", 0, NULL}};
        ing->phase = BATCH_WRITE;
        ing->commit_sent = metrics_clock();
        batch_timer_start(ing);
        rc = pgconn_send(ing->db, q, 2, write_done, ing);
    }
    for (int i = 0; i < 8; i++)
        free(p[i]);
    if (!complete) {
        batch_rollback(ing, "out of memory writing the batch");
        return;
    }
    if (rc != 0)
        batch_fail(ing, "db_unavailable", "the database connection was lost");
}

/* One element of a PostgreSQL text[] literal: quoted, with " and \ escaped (ids hold no control
 * characters, and any other character is literal inside the quotes). */
static void text_array_add(struct jsonx_buf *b, const char *v)
{
    if (!v)
        return;
    jsonx_char(b, b->len == 0 ? '{' : ',');
    jsonx_char(b, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            jsonx_char(b, '\\');
        jsonx_char(b, *p);
    }
    jsonx_char(b, '"');
}

static char *text_array_end(struct jsonx_buf *b)
{
    if (b->len == 0)
        jsonx_char(b, '{');
    jsonx_char(b, '}');
    return jsonx_take(b, NULL);
}

/* The batch's incident or event ids as a text[] literal (repeats are harmless in the queries). */
static char *ids_array(struct item **b, size_t n, bool incidents)
{
    struct jsonx_buf out = {0};
    for (size_t i = 0; i < n; i++)
        text_array_add(&out, incidents ? b[i]->ev.incident_id : b[i]->ev.event_id);
    return text_array_end(&out);
}

/* The incident ids the batch's events and decisions link to, as a text[] literal. */
static char *link_ids_array(struct item **b, size_t n)
{
    struct jsonx_buf out = {0};
    for (size_t i = 0; i < n; i++) {
        size_t j;
        json_t *l;
        json_array_foreach(json_object_get(b[i]->ev.doc, "links"), j, l)
            text_array_add(&out, json_string_value(json_object_get(l, "incident_id")));
        json_array_foreach(json_object_get(b[i]->act, "links"), j, l)
            text_array_add(&out, json_string_value(l));
    }
    return text_array_end(&out);
}

static void batch_start(struct ingest *ing)
{
    size_t max = ing->p.batch_max;
    ing->batch = calloc(max, sizeof(*ing->batch));
    if (!ing->batch)
        return;
    size_t need = 0;
    while (ing->nbatch < max && ing->head) {
        struct item *it = queue_pop(ing);
        need += serials_needed(it);
        ing->batch[ing->nbatch++] = it;
    }
    char *incidents = ids_array(ing->batch, ing->nbatch, true);
    char *events = ids_array(ing->batch, ing->nbatch, false);
    char *links = link_ids_array(ing->batch, ing->nbatch);
    char nbuf[32];
    snprintf(nbuf, sizeof(nbuf), "%zu", need);
    ing->serial_want = need;
    if (!incidents || !events || !links) {
        free(incidents);
        free(events);
        free(links);
        batch_fail(ing, "overloaded", "out of memory");
        return;
    }
    const char *p_inc[2] = {incidents, links};
    const char *p_ev[1] = {events};
    const char *p_n[1] = {nbuf};
    const struct pg_query q[6] = {
        {"BEGIN", 0, NULL},
        {sql_incidents_create, 2, p_inc},
        {sql_incidents_lock, 2, p_inc},
        {sql_events_seen, 1, p_ev},
        {sql_audit_head, 0, NULL},
        {sql_serials, 1, p_n},
    };
    ing->phase = BATCH_READ;
    ing->batch_started = metrics_clock();
    batch_timer_start(ing);
    int rc = pgconn_send(ing->db, q, 6, read_done, ing);
    free(incidents);
    free(events);
    free(links);
    if (rc != 0)
        batch_fail(ing, "db_unavailable", "the database connection was lost");
}

/* ---- loop callbacks ------------------------------------------------------------------------- */

static void ingest_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ingest *ing = arg;
    (void)fd;
    (void)what;
    if (ing->phase == BATCH_IDLE && ing->head && pgconn_ready(ing->db))
        batch_start(ing);
}

static void ingest_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ingest *ing = arg;
    (void)fd;
    (void)what;
    pgconn_drop(ing->db, "a database round trip timed out");
}

static void ingest_db_state(void *arg, bool up)
{
    struct ingest *ing = arg;
    if (up) {
        ingest_schedule(ing);
        return;
    }
    /* Queued events cannot be written now; those in doubt wait to be looked up again. */
    struct item *keep = NULL, **tail = &keep;
    struct item *it;
    while ((it = queue_pop(ing)) != NULL) {
        if (it->in_doubt) {
            *tail = it;
            tail = &it->next;
        } else {
            ingest_answer_retry(it, "db_unavailable", "the database is unavailable");
        }
    }
    while (keep) {
        it = keep;
        keep = keep->next;
        queue_push_back(ing, it);
    }
}

/* ---- public --------------------------------------------------------------------------------- */

struct ingest *ingest_new(struct event_base *base, const struct ingest_params *p, const struct ruleset *rs)
{
    struct ingest *ing = calloc(1, sizeof(*ing));
    if (!ing)
        return NULL;
    ing->base = base;
    ing->p = *p;
    ing->force = strdup(p->force);
    ing->conninfo = strdup(p->conninfo);
    ing->p.force = ing->force;
    ing->p.conninfo = ing->conninfo;
    if (ing->p.batch_max == 0)
        ing->p.batch_max = 1;
    if (ing->p.unit_timeout_ms <= 0)
        ing->p.unit_timeout_ms = 10000;
    ing->rs = rs;
    ing->kick = event_new(base, -1, 0, ingest_kick_cb, ing);
    ing->timeout = evtimer_new(base, ingest_timeout_cb, ing);
    if (!ing->force || !ing->conninfo || !ing->kick || !ing->timeout)
        return ingest_free(ing);
    ing->db = pgconn_new(base, ing->conninfo, "store", ingest_db_state, ing);
    if (!ing->db)
        return ingest_free(ing);
    pgconn_set_connect_timeout(ing->db, p->connect_timeout_ms);
    static const char *const prepared[] = {sql_incidents_create, sql_incidents_lock, sql_events_seen,
                                           sql_audit_head,       sql_serials,        sql_write};
    for (size_t i = 0; i < sizeof(prepared) / sizeof(prepared[0]); i++)
        pgconn_prepare(ing->db, prepared[i]);
    return ing;
}

struct ingest *ingest_free(struct ingest *ing)
{
    if (!ing)
        return NULL;
    pgconn_free(ing->db);
    struct item *it;
    while ((it = queue_pop(ing)) != NULL)
        item_free(it);
    for (size_t i = 0; i < ing->nbatch; i++)
        item_free(ing->batch[i]);
    free(ing->batch);
    if (ing->kick)
        event_free(ing->kick);
    if (ing->timeout)
        event_free(ing->timeout);
    free(ing->force);
    free(ing->conninfo);
    free(ing);
    return NULL;
}

void ingest_set_ruleset(struct ingest *ing, const struct ruleset *rs)
{
    ing->rs = rs;
}

void ingest_submit(struct ingest *ing, struct event *ev, ingest_reply_fn fn, void *arg)
{
    struct item *it = calloc(1, sizeof(*it));
    if (!it) {
        json_t *r = reply_error("retry", ev->event_id, ev->incident_id, "overloaded", "out of memory", NULL);
        fn(arg, r);
        json_decref(r);
        event_clear(ev);
        return;
    }
    it->ev = *ev;
    memset(ev, 0, sizeof(*ev));
    it->fn = fn;
    it->arg = arg;
    if (!pgconn_up(ing->db)) {
        ingest_answer_retry(it, "db_unavailable", "the database is unavailable");
        return;
    }
    if (ing->queued >= ing->p.queue_max) {
        ingest_answer_retry(it, "overloaded", "too many events are waiting for the database");
        return;
    }
    queue_push_back(ing, it);
    ingest_schedule(ing);
}

void ingest_submit_action(struct ingest *ing, const char *incident_id, json_t *act, ingest_reply_fn fn, void *arg)
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
    if (!pgconn_up(ing->db)) {
        ingest_answer_retry(it, "db_unavailable", "the database is unavailable");
        return;
    }
    queue_push_back(ing, it);
    ingest_schedule(ing);
}

bool ingest_db_up(const struct ingest *ing)
{
    return pgconn_up(ing->db);
}

size_t ingest_backlog(const struct ingest *ing)
{
    return ing->queued + ing->nbatch;
}

bool ingest_idle(const struct ingest *ing)
{
    return ing->phase == BATCH_IDLE && ing->queued == 0;
}

void ingest_fail_queued(struct ingest *ing, const char *code, const char *message)
{
    struct item *keep = NULL, **tail = &keep;
    struct item *it;
    while ((it = queue_pop(ing)) != NULL) {
        if (it->in_doubt) {
            *tail = it;
            tail = &it->next;
        } else {
            ingest_answer_retry(it, code, message);
        }
    }
    while (keep) {
        it = keep;
        keep = keep->next;
        queue_push_back(ing, it);
    }
}

void ingest_set_batch_max(struct ingest *ing, size_t batch_max)
{
    ing->p.batch_max = batch_max ? batch_max : 1;
}

unsigned long ingest_db_reconnects(const struct ingest *ing)
{
    return pgconn_reconnects(ing->db);
}

double ingest_batch_age(const struct ingest *ing)
{
    return ing->phase == BATCH_IDLE ? 0 : metrics_clock() - ing->batch_started;
}
