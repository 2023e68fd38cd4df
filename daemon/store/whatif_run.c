/* whatif_run.c: a what-if run's database side and its pacing: its own connection, the what-if
 * lock, a read-only snapshot with a cursor over the period's incidents in first-report order,
 * slices fetched one ahead of the replay, and the replay itself cut into small loop steps. */
#include "store/whatif_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pgconn.h"
#include "store/store_int.h"
#include "store/whatif.h"
#include "store/whatif_diff.h"
#include "util/jsonparse.h"
#include "util/timefmt.h"

/* One run per database at a time: a session advisory lock of two keys ("fcrd", "whif"), a key
 * space apart from the single-key locks of the audit trail. It goes with the run's session. */
#define SQL_WHATIF_LOCK "SELECT pg_try_advisory_lock(1717793380, 2003331430)"

/* A read-only snapshot: every slice sees the same committed data, and nothing can be written. */
#define SQL_WHATIF_BEGIN "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
/* The cursor's per-incident lookups must follow the sorted ids (nested loops by key). A run
 * whose client has gone is stopped by closing its connection; the server notices that while a
 * statement runs (waiting on a lock, say) only if it looks at the socket now and then. */
#define SQL_WHATIF_PLAN                                                                                      \
    "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),"       \
    " set_config('client_connection_check_interval', '1000', true)"

#define SQL_WHATIF_PERIOD "state IS NOT NULL AND opened_at >= $1::timestamptz AND opened_at < $2::timestamptz"
#define SQL_WHATIF_COUNT "SELECT count(*) FROM incidents WHERE " SQL_WHATIF_PERIOD

/* An incident's events in seq order, each [seq, body, the lowest id of its audit entries]. */
#define SQL_WHATIF_EVENTS(inc)                                                                               \
    "(SELECT COALESCE(json_agg(json_build_array(e.seq, e.body, k.id) ORDER BY e.seq), '[]')"                \
    " FROM raw_events e LEFT JOIN (SELECT a.event_id, min(a.id) AS id FROM audit a"                          \
    "  WHERE a.incident_id = " inc " AND a.event_id IS NOT NULL GROUP BY a.event_id) k"                      \
    " ON k.event_id = e.event_id WHERE e.incident_id = " inc ")"

/* People's audit entries of an incident, in id order, with their personal values' plaintext in
 * place of the digests (sql/0020_audit_personal.sql; "[redacted]" after retention): a rationale
 * replays as the text it was. */
#define SQL_WHATIF_ACTS(inc)                                                                                 \
    "(SELECT COALESCE(json_agg(json_build_object('id', a.id, 'action', a.action, 'actor', a.actor,"          \
    " 'role', a.role, 'at', to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"          \
    " 'crn', a.crn, 'pending_id', a.pending_id,"                                                            \
    " 'after', audit_pd_merge(a.after, (SELECT p.vals FROM audit_personal p WHERE p.audit_id = a.id)),"     \
    " 'rules', to_json(a.rules)) ORDER BY a.id),"                                                           \
    " '[]') FROM audit a WHERE a.incident_id = " inc " AND a.role <> 'rules')"

/* The period's incidents in first-report order (only ids are sorted), each with its state, its
 * events, its people's decisions and the same of the incidents its state links to. */
#define SQL_WHATIF_CURSOR                                                                                    \
    "DECLARE fcrd_whatif NO SCROLL CURSOR FOR"                                                               \
    " SELECT s.incident_id, d.state, d.events, d.acts, d.context"                                            \
    " FROM (SELECT incident_id FROM incidents WHERE " SQL_WHATIF_PERIOD                                      \
    "  ORDER BY opened_at, incident_id) AS s,"                                                               \
    " LATERAL (SELECT incident_doc(i.incident_id, i.state) AS state, " SQL_WHATIF_EVENTS("i.incident_id") "::text AS events, "      \
    SQL_WHATIF_ACTS("i.incident_id") "::text AS acts,"                                                        \
    "  (SELECT json_agg(json_build_object('incident_id', c.incident_id, 'state',"                           \
    " incident_doc(c.incident_id, c.state)::json, 'events', "        \
    SQL_WHATIF_EVENTS("c.incident_id") ", 'acts', " SQL_WHATIF_ACTS("c.incident_id") "))"                   \
    "   FROM incidents c WHERE c.state IS NOT NULL AND c.incident_id <> i.incident_id AND c.incident_id IN"  \
    "   (SELECT l->>'incident_id' FROM json_array_elements(COALESCE(i.state->'links', '[]'::json)) AS l)"    \
    "  )::text AS context FROM incidents i WHERE i.incident_id = s.incident_id) AS d"

#define WHATIF_RUN_FETCH 200
#define SQL_WHATIF_FETCH "FETCH 200 FROM fcrd_whatif"
/* Incidents replayed per loop step: a few milliseconds of work. */
#define WHATIF_RUN_STEP 8

enum whatif_run_phase { WHATIF_CONNECTING, WHATIF_LOCKING, WHATIF_OPENING, WHATIF_RUNNING, WHATIF_ENDED };

/* One fetched slice: rows of 5 columns, copied out of the result. */
struct whatif_slice {
    size_t n;
    char **cells; /* n * 5 */
};

struct whatif_run {
    struct event_base *base;
    struct pgconn *db;
    struct event *step;    /* the next piece of work (zero timeout, or a pause while backed up) */
    struct event *timeout; /* connecting too long */
    struct event *beat;    /* progress every second once started, also while the database is busy */
    struct whatif_run_sink sink;
    void *arg;
    struct whatif_run_params p;
    char *force;
    char *current; /* the loaded rule set's version: a reload may free that rule set meanwhile */
    char from[TIMEFMT_LEN], to[TIMEFMT_LEN];
    enum whatif_run_phase phase;
    bool started;
    bool fetching, exhausted;
    struct whatif_slice *ready, *cur;
    size_t pos;
    int64_t total, done;
    int64_t serial;
    struct whatif_stats stats;
    struct whatif_diff_summary sum;
    /* how it ended, when it failed */
    int fail_status;
    const char *fail_code;
    char fail_msg[160];
};

static struct whatif_slice *whatif_slice_free(struct whatif_slice *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->n * 5; i++)
        free(s->cells[i]);
    free(s->cells);
    free(s);
    return NULL;
}

static void whatif_run_wake(struct whatif_run *r, int ms)
{
    struct timeval tv = {0, ms * 1000};
    event_add(r->step, &tv);
}

/* The run ends (from the next step): status and code say why when it failed. */
static void whatif_run_fail(struct whatif_run *r, int status, const char *code, const char *msg)
{
    if (r->phase == WHATIF_ENDED)
        return;
    r->phase = WHATIF_ENDED;
    r->fail_status = status;
    r->fail_code = code;
    snprintf(r->fail_msg, sizeof(r->fail_msg), "%s", msg);
    whatif_run_wake(r, 0);
}

static int64_t whatif_run_serial(void *arg)
{
    struct whatif_run *r = arg;
    return ++r->serial;
}

static void whatif_run_fetched(void *arg, PGresult **res, int n, const char *error, bool sent_all);

static void whatif_run_fetch(struct whatif_run *r)
{
    if (r->phase != WHATIF_RUNNING || r->fetching || r->exhausted || r->ready || !pgconn_ready(r->db))
        return;
    struct pg_query q = {SQL_WHATIF_FETCH, 0, NULL};
    if (pgconn_send(r->db, &q, 1, whatif_run_fetched, r) != 0) {
        whatif_run_fail(r, 503, "db_unavailable", "the database connection was lost");
        return;
    }
    r->fetching = true;
}

static void whatif_run_fetched(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct whatif_run *r = arg;
    (void)sent_all;
    r->fetching = false;
    if (error || n < 1 || !pgconn_result_ok(res[0]) || PQnfields(res[0]) != 5) {
        whatif_run_fail(r, 503, "db_unavailable", "the database could not read the incidents");
        return;
    }
    int rows = PQntuples(res[0]);
    if (rows < WHATIF_RUN_FETCH)
        r->exhausted = true;
    struct whatif_slice *s = calloc(1, sizeof(*s));
    if (s && rows > 0)
        s->cells = calloc((size_t)rows * 5, sizeof(char *));
    if (!s || (rows > 0 && !s->cells)) {
        free(s);
        whatif_run_fail(r, 503, "overloaded", "out of memory");
        return;
    }
    s->n = (size_t)rows;
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < 5; c++)
            s->cells[i * 5 + c] = PQgetisnull(res[0], i, c) ? NULL : strdup(PQgetvalue(res[0], i, c));
    if (rows > 0)
        r->ready = s;
    else
        whatif_slice_free(s);
    whatif_run_wake(r, 0);
}

static void whatif_run_opened(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct whatif_run *r = arg;
    (void)sent_all;
    if (error || n < 4 || !pgconn_result_ok(res[0]) || !pgconn_result_ok(res[1]) || !pgconn_result_ok(res[2]) ||
        !pgconn_result_ok(res[3]) || PQntuples(res[2]) != 1) {
        whatif_run_fail(r, 503, "db_unavailable", "the database could not open the period");
        return;
    }
    r->total = strtoll(PQgetvalue(res[2], 0, 0), NULL, 10);
    r->phase = WHATIF_RUNNING;
    whatif_run_fetch(r);
}

static void whatif_run_locked(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct whatif_run *r = arg;
    (void)sent_all;
    if (error || n < 1 || !pgconn_result_ok(res[0]) || PQntuples(res[0]) != 1) {
        whatif_run_fail(r, 503, "db_unavailable", "the database is unavailable");
        return;
    }
    if (strcmp(PQgetvalue(res[0], 0, 0), "t") != 0) {
        whatif_run_fail(r, 429, "whatif_busy", "another what-if run is going on; try again when it has ended");
        return;
    }
    r->phase = WHATIF_OPENING;
    /* From here on the reply is under way: a client that leaves is noticed when the next
     * progress line cannot be written, even while the database is still busy. */
    r->started = true;
    r->sink.start(r->arg);
    struct timeval second = {1, 0};
    event_add(r->beat, &second);
    const char *period[2] = {r->from, r->to};
    struct pg_query q[4] = {
        {SQL_WHATIF_BEGIN, 0, NULL},
        {SQL_WHATIF_PLAN, 0, NULL},
        {SQL_WHATIF_COUNT, 2, period},
        {SQL_WHATIF_CURSOR, 2, period},
    };
    if (pgconn_send(r->db, q, 4, whatif_run_opened, r) != 0)
        whatif_run_fail(r, 503, "db_unavailable", "the database is unavailable");
}

static void whatif_run_db_state(void *arg, bool up)
{
    struct whatif_run *r = arg;
    if (!up) {
        /* A snapshot does not survive its session: the run cannot go on. */
        if (r->phase != WHATIF_CONNECTING)
            whatif_run_fail(r, 503, "db_unavailable", "the database connection was lost");
        return;
    }
    if (r->phase != WHATIF_CONNECTING)
        return;
    event_del(r->timeout);
    r->phase = WHATIF_LOCKING;
    struct pg_query q = {SQL_WHATIF_LOCK, 0, NULL};
    if (pgconn_send(r->db, &q, 1, whatif_run_locked, r) != 0)
        whatif_run_fail(r, 503, "db_unavailable", "the database is unavailable");
}

static void whatif_run_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    whatif_run_fail(arg, 503, "db_unavailable", "the database is unavailable");
}

static json_t *whatif_run_parse(const char *text)
{
    return text ? jsonparse_fast(text, strlen(text), 0) : NULL;
}

/* Replay one incident of the slice and report what would change. */
static void whatif_run_incident(struct whatif_run *r, char **cells)
{
    json_t *rec = json_object();
    json_object_set_new(rec, "incident_id", json_string(cells[0] ? cells[0] : ""));
    json_t *state = whatif_run_parse(cells[1]);
    json_object_set_new(rec, "state", state ? state : json_null());
    json_t *events = whatif_run_parse(cells[2]), *acts = whatif_run_parse(cells[3]);
    json_object_set_new(rec, "events", events ? events : json_array());
    json_object_set_new(rec, "acts", acts ? acts : json_array());
    json_t *group = json_array();
    json_array_append_new(group, rec);
    json_t *context = whatif_run_parse(cells[4]);
    if (json_is_array(context))
        json_array_extend(group, context);
    json_decref(context);
    struct rules_env env = {r->p.candidate, r->force, whatif_run_serial, r};
    json_t *replayed = whatif_replay(&env, group, &r->stats);
    if (!replayed) {
        json_decref(group);
        whatif_run_fail(r, 503, "overloaded", "out of memory");
        return;
    }
    json_t *changes = json_array();
    r->sum.incidents++;
    r->sum.allegations += whatif_diff(cells[0], state, json_object_get(replayed, cells[0]), changes);
    size_t i;
    json_t *c;
    json_array_foreach(changes, i, c)
    {
        /* the candidate's categories throughout: the loaded rule set may be replaced meanwhile */
        whatif_diff_count(&r->sum, c, r->p.candidate, r->p.candidate);
        json_t *line = json_pack("{s:O}", "change", c);
        r->sink.line(r->arg, line);
        json_decref(line);
    }
    json_decref(changes);
    json_decref(replayed);
    json_decref(group);
}

static void whatif_run_progress(struct whatif_run *r)
{
    json_t *line = json_pack("{s:{s:I, s:I, s:I}}", "progress", "done", (json_int_t)r->done, "total",
                             (json_int_t)r->total, "changed", (json_int_t)r->sum.changed);
    r->sink.line(r->arg, line);
    json_decref(line);
    r->sink.flush(r->arg);
}

static void whatif_run_beat(evutil_socket_t fd, short what, void *arg)
{
    struct whatif_run *r = arg;
    (void)fd;
    (void)what;
    if (r->phase != WHATIF_ENDED)
        whatif_run_progress(r);
}

static void whatif_run_summary(struct whatif_run *r)
{
    json_t *s = whatif_diff_summary_json(&r->sum);
    json_object_set_new(s, "from", json_string(r->from));
    json_object_set_new(s, "to", json_string(r->to));
    json_object_set_new(s, "ruleset", json_string(ruleset_version(r->p.candidate)));
    if (r->current)
        json_object_set_new(s, "current_ruleset", json_string(r->current));
    json_object_set_new(s, "events", json_integer((json_int_t)r->stats.events));
    json_object_set_new(s, "events_refused", json_integer((json_int_t)r->stats.events_refused));
    json_object_set_new(s, "decisions", json_integer((json_int_t)r->stats.decisions));
    json_object_set_new(s, "decisions_refused", json_integer((json_int_t)r->stats.decisions_refused));
    json_object_set_new(s, "decisions_unmatched", json_integer((json_int_t)r->stats.decisions_unmatched));
    json_t *line = json_pack("{s:o}", "summary", s);
    r->sink.line(r->arg, line);
    json_decref(line);
    r->sink.flush(r->arg);
}

/* The end: the last line, then done (after which r may be gone). */
static void whatif_run_end(struct whatif_run *r)
{
    if (!r->started) {
        r->sink.done(r->arg, r->fail_status ? r->fail_status : 503, r->fail_code ? r->fail_code : "db_unavailable",
                     r->fail_msg);
        return;
    }
    if (r->fail_code) {
        json_t *line = json_pack("{s:{s:s, s:s}}", "error", "code", r->fail_code, "message", r->fail_msg);
        r->sink.line(r->arg, line);
        json_decref(line);
        r->sink.flush(r->arg);
    }
    r->sink.done(r->arg, 0, NULL, NULL);
}

static void whatif_run_step(evutil_socket_t fd, short what, void *arg)
{
    struct whatif_run *r = arg;
    (void)fd;
    (void)what;
    if (r->phase == WHATIF_ENDED) {
        event_del(r->beat);
        whatif_run_end(r);
        return;
    }
    if (r->phase != WHATIF_RUNNING)
        return;
    if (r->sink.backlog(r->arg) > WHATIF_RUN_BACKLOG_MAX) {
        whatif_run_wake(r, 10); /* the client reads slowly: wait for it */
        return;
    }
    if (!r->cur) {
        if (r->ready) {
            r->cur = r->ready;
            r->ready = NULL;
            r->pos = 0;
            whatif_run_fetch(r); /* the next slice is read while this one is replayed */
        } else if (r->exhausted && !r->fetching) {
            whatif_run_summary(r);
            r->phase = WHATIF_ENDED;
            whatif_run_wake(r, 0);
            return;
        } else {
            whatif_run_fetch(r);
            return; /* woken when the slice arrives */
        }
    }
    for (size_t k = 0; k < WHATIF_RUN_STEP && r->pos < r->cur->n && r->phase == WHATIF_RUNNING; k++, r->pos++) {
        whatif_run_incident(r, r->cur->cells + r->pos * 5);
        r->done++;
    }
    if (r->pos >= r->cur->n) {
        r->cur = whatif_slice_free(r->cur);
        whatif_run_progress(r);
    }
    if (r->phase == WHATIF_RUNNING)
        whatif_run_wake(r, 0);
}

struct whatif_run *whatif_run_start(struct store *st, const struct whatif_run_params *p,
                                    const struct whatif_run_sink *sink, void *arg)
{
    struct whatif_run *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->base = st->base;
    r->sink = *sink;
    r->arg = arg;
    r->p = *p;
    r->force = strdup(st->force ? st->force : "");
    r->current = p->current ? strdup(p->current) : NULL;
    r->p.current = NULL;
    timefmt_format(p->from_ms, r->from);
    timefmt_format(p->to_ms, r->to);
    r->step = evtimer_new(r->base, whatif_run_step, r);
    r->timeout = evtimer_new(r->base, whatif_run_connect_timeout, r);
    r->beat = event_new(r->base, -1, EV_PERSIST, whatif_run_beat, r);
    if (!r->force || !r->step || !r->timeout || !r->beat || whatif_diff_summary_init(&r->sum) != 0)
        return whatif_run_free(r);
    r->db = pgconn_new(r->base, st->conninfo, "whatif", whatif_run_db_state, r);
    if (!r->db)
        return whatif_run_free(r);
    int ms = st->p.connect_timeout_ms > 0 ? st->p.connect_timeout_ms : 5000;
    pgconn_set_connect_timeout(r->db, ms);
    pgconn_require_schema(r->db, st->p.schema);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(r->timeout, &tv);
    return r;
}

struct whatif_run *whatif_run_free(struct whatif_run *r)
{
    if (!r)
        return NULL;
    pgconn_free(r->db);
    if (r->step)
        event_free(r->step);
    if (r->timeout)
        event_free(r->timeout);
    if (r->beat)
        event_free(r->beat);
    whatif_slice_free(r->ready);
    whatif_slice_free(r->cur);
    whatif_diff_summary_clear(&r->sum);
    free(r->force);
    free(r->current);
    free(r);
    return NULL;
}
