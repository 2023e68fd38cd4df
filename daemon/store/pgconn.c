/* pgconn.c: asynchronous libpq connection driven by libevent: connect, check, pipeline units,
 * reconnect with backoff. The loop never waits on the database. */
#include "store/pgconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

/* Results a unit may have: a unit's queries, or the session check's (the check, the settings, the
 * planner settings and the prepared statements). */
#define PGCONN_CHECK_RESULTS (2 + PGCONN_MAX_SETTINGS + PGCONN_MAX_PREPARED)
#define PGCONN_RESULTS (PGCONN_CHECK_RESULTS > PGCONN_MAX_QUERIES ? PGCONN_CHECK_RESULTS : PGCONN_MAX_QUERIES)

struct pgconn {
    struct event_base *base;
    char *conninfo;
    char *name;
    PGconn *pg;
    enum pgconn_state state; /* changed by pgconn_state_set only */
    struct event *io;      /* socket readiness, re-created for every connection */
    short io_what;         /* what io waits for */
    struct event *retry;   /* reconnect timer */
    struct event *deadline; /* the connection attempt in progress gives up at this time */
    int connect_timeout_ms;
    int backoff_ms;
    int backoff_max_ms;     /* the longest wait between attempts (pgconn_set_backoff_max) */
    bool demoted;           /* a result of the unit in flight said the server is read-only */
    struct timespec up_since; /* when the session in use was reported up */
    bool drop_pending;      /* a write was refused as read-only: drop the session once it is idle */
    unsigned long reconnects;
    pgconn_state_fn on_state;
    void *state_arg;
    /* the unit in flight */
    pgconn_done_fn done;
    void *done_arg;
    int nq;                /* queries in the unit */
    int got;               /* index of the query whose results are being read */
    bool got_any;          /* a result for query `got` has arrived */
    bool flushed;          /* everything handed to the kernel */
    PGresult *results[PGCONN_RESULTS];
    /* statements prepared on every new session (pgconn_prepare); sent by name once prepared */
    const char *prepared[PGCONN_MAX_PREPARED];
    int nprepared;
    /* session settings (pgconn_session_set), owned */
    char *set_name[PGCONN_MAX_SETTINGS];
    char *set_value[PGCONN_MAX_SETTINGS];
    int nsettings;
    int schema;           /* the least migration a session must find (0: not checked) */
    bool schema_logged;   /* the schema was found behind, and said so, since the last session up */
    pgconn_notify_fn on_notify; /* NOTIFY received (pgconn_on_notify), or NULL */
    void *notify_arg;
};

#define BACKOFF_MIN_MS 100
#define PGCONN_SESSION_PLANS                                                                                 \
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', false),"                                   \
    " set_config('enable_seqscan', 'off', false), set_config('enable_hashjoin', 'off', false),"            \
    " set_config('enable_mergejoin', 'off', false)"
#define BACKOFF_MAX_MS 5000
#define SQLSTATE_READ_ONLY "25006" /* read_only_sql_transaction */

/* The session check: the first query of every session. With a schema to check, the latest
 * migration too: fcrd_migrations is missing only from a database no migration ever ran on, which
 * fails the query with undefined_table (42P01), read as migration 0. */
#define PGCONN_CHECK "SELECT current_setting('synchronous_commit')"
#define PGCONN_CHECK_SCHEMA                                                                                  \
    "SELECT current_setting('synchronous_commit'), (SELECT coalesce(max(version), 0) FROM fcrd_migrations)"

static void pgconn_io_cb(evutil_socket_t fd, short what, void *arg);

/* How long the session in use has been up, in milliseconds. */
static long pgconn_up_ms(const struct pgconn *c)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - c->up_since.tv_sec) * 1000 + (now.tv_nsec - c->up_since.tv_nsec) / 1000000;
}
static void pgconn_start(struct pgconn *c);

bool pgconn_result_ok(const PGresult *r)
{
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK;
}

static void pgconn_clear_results(struct pgconn *c)
{
    for (int i = 0; i < PGCONN_RESULTS; i++) {
        PQclear(c->results[i]);
        c->results[i] = NULL;
    }
}

static void pgconn_watch(struct pgconn *c, short what)
{
    c->io_what = what;
    if (c->io) {
        event_free(c->io);
        c->io = NULL;
    }
    if (!c->pg || PQsocket(c->pg) < 0)
        return;
    c->io = event_new(c->base, PQsocket(c->pg), what, pgconn_io_cb, c);
    event_add(c->io, NULL);
}

/* The transitions a connection makes: up through connecting and the session check, between idle
 * and busy while up, and down from anywhere but down. */
static const bool pgconn_allowed[PGCONN_NSTATES][PGCONN_NSTATES] = {
    [PGCONN_DOWN] = {[PGCONN_CONNECTING] = true},
    [PGCONN_CONNECTING] = {[PGCONN_DOWN] = true, [PGCONN_CHECKING] = true},
    [PGCONN_CHECKING] = {[PGCONN_DOWN] = true, [PGCONN_READY] = true},
    [PGCONN_READY] = {[PGCONN_DOWN] = true, [PGCONN_BUSY] = true},
    [PGCONN_BUSY] = {[PGCONN_DOWN] = true, [PGCONN_READY] = true},
};

const char *pgconn_state_name(enum pgconn_state s)
{
    static const char *const names[PGCONN_NSTATES] = {
        [PGCONN_DOWN] = "down",   [PGCONN_CONNECTING] = "connecting", [PGCONN_CHECKING] = "checking",
        [PGCONN_READY] = "ready", [PGCONN_BUSY] = "busy",
    };
    return (unsigned)s < PGCONN_NSTATES ? names[s] : "?";
}

int pgconn_state_set(enum pgconn_state *state, enum pgconn_state to)
{
    enum pgconn_state from = *state;
    if ((unsigned)from >= PGCONN_NSTATES || (unsigned)to >= PGCONN_NSTATES || !pgconn_allowed[from][to]) {
        log_error("database: a connection cannot go from %s to %s", pgconn_state_name(from), pgconn_state_name(to));
        return -1;
    }
    *state = to;
    return 0;
}

/* Tear the connection down, fail the unit in flight, schedule a reconnect. */
static void pgconn_lost(struct pgconn *c, const char *why)
{
    bool was_up = pgconn_up(c); /* reported up: it is reported down once the unit is failed */
    pgconn_done_fn done = c->state == PGCONN_BUSY ? c->done : NULL;
    void *done_arg = c->done_arg;
    bool sent_all = c->flushed;

    if (was_up)
        log_warn("database %s: connection lost: %s", c->name, why);
    else
        log_debug("database %s: not connected: %s", c->name, why);
    if (c->io) {
        event_free(c->io);
        c->io = NULL;
    }
    evtimer_del(c->deadline);
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    pgconn_clear_results(c);
    pgconn_state_set(&c->state, PGCONN_DOWN);
    c->done = NULL;
    c->demoted = false;
    c->drop_pending = false;
    /* Only a session that lasted longer than the longest backoff is retried at once: one that
     * fails again right after each connect (a standby the conninfo points at, a server that is
     * read-only for every session) keeps backing off instead of spinning. */
    bool at_once = was_up && pgconn_up_ms(c) >= c->backoff_max_ms;
    /* An established connection that is lost most likely means a failover (or a restart): the
     * first attempt goes out at once, so that fcrd is back as soon as a primary accepts; only
     * attempts that fail back off. */
    if (at_once)
        c->backoff_ms = BACKOFF_MIN_MS;
    int wait_ms = at_once ? 0 : c->backoff_ms;
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    evtimer_add(c->retry, &tv);
    if (!at_once)
        c->backoff_ms = c->backoff_ms * 2 > c->backoff_max_ms ? c->backoff_max_ms : c->backoff_ms * 2;
    if (done)
        done(done_arg, NULL, 0, why, sent_all);
    if (was_up && c->on_state)
        c->on_state(c->state_arg, false);
}

void pgconn_drop(struct pgconn *c, const char *why)
{
    if (c->state != PGCONN_DOWN)
        pgconn_lost(c, why);
}

static void pgconn_arm_deadline(struct pgconn *c)
{
    struct timeval tv = {c->connect_timeout_ms / 1000, (c->connect_timeout_ms % 1000) * 1000};
    evtimer_add(c->deadline, &tv);
}

static void pgconn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pgconn *c = arg;
    (void)fd;
    (void)what;
    if (c->state == PGCONN_CONNECTING || c->state == PGCONN_CHECKING)
        pgconn_lost(c, "the connection attempt timed out");
}

void pgconn_set_backoff_max(struct pgconn *c, int ms)
{
    c->backoff_max_ms = ms >= BACKOFF_MIN_MS ? ms : BACKOFF_MAX_MS;
    if (c->backoff_ms > c->backoff_max_ms)
        c->backoff_ms = c->backoff_max_ms;
}

void pgconn_set_connect_timeout(struct pgconn *c, int ms)
{
    c->connect_timeout_ms = ms > 0 ? ms : 5000;
    if (c->state == PGCONN_CONNECTING || c->state == PGCONN_CHECKING)
        pgconn_arm_deadline(c);
}

static void pgconn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pgconn_start(arg);
}

static void pgconn_flush(struct pgconn *c)
{
    int r = PQflush(c->pg);
    if (r < 0) {
        pgconn_lost(c, PQerrorMessage(c->pg));
        return;
    }
    c->flushed = r == 0;
    /* An established connection keeps its socket: when the wait is unchanged (the usual case, a
     * unit that went out whole), leave the registration alone rather than pay two epoll_ctl
     * calls for every round trip. While connecting, libpq may replace the socket: pgconn_poll
     * always registers afresh. */
    short what = (short)(EV_READ | EV_PERSIST | (r == 1 ? EV_WRITE : 0));
    if (c->io && c->io_what == what)
        return;
    pgconn_watch(c, what);
}

/* The name a registered statement is prepared under ("s0", "s1", ...), or NULL. */
static bool pgconn_stmt_name(const struct pgconn *c, const char *sql, char name[16])
{
    for (int i = 0; i < c->nprepared; i++) {
        if (c->prepared[i] == sql) {
            snprintf(name, 16, "s%d", i);
            return true;
        }
    }
    return false;
}

static int pgconn_send_internal(struct pgconn *c, const struct pg_query *q, int n)
{
    for (int i = 0; i < n; i++) {
        char name[16];
        /* units go out only once the session check, which prepares them, has passed */
        int ok = pgconn_stmt_name(c, q[i].sql, name)
                     ? PQsendQueryPrepared(c->pg, name, q[i].nparams, q[i].params, NULL, NULL, 0)
                     : PQsendQueryParams(c->pg, q[i].sql, q[i].nparams, NULL, q[i].params, NULL, NULL, 0);
        if (!ok)
            return -1;
    }
    if (!PQpipelineSync(c->pg))
        return -1;
    c->nq = n;
    c->got = 0;
    c->got_any = false;
    c->flushed = false;
    c->demoted = false;
    return 0;
}

/* The schema the session found is behind: said once (as an error: nothing can be done until someone
 * runs fcrd migrate) until a session is up again. */
static void pgconn_schema_behind(struct pgconn *c, int at)
{
    if (!c->schema_logged)
        log_error("database %s: the schema is at migration %d but this fcrd needs migration %d: run `fcrd migrate "
                  "--config FILE` with the schema owner's [database] admin_conninfo; not ready until then "
                  "(checked again on every connection attempt)",
                  c->name, at, c->schema);
    c->schema_logged = true;
    pgconn_lost(c, "the schema is behind this fcrd's migrations");
}

static void pgconn_check_done(struct pgconn *c)
{
    /* The recording standard's durability promise needs every commit flushed before the ack. */
    const PGresult *r = c->results[0];
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (c->schema > 0 && state && strcmp(state, "42P01") == 0) {
        pgconn_schema_behind(c, 0);
        return;
    }
    if (!pgconn_result_ok(r) || PQntuples(r) != 1) {
        pgconn_lost(c, "session check failed");
        return;
    }
    const char *sc = PQgetvalue(r, 0, 0);
    if (strcmp(sc, "on") != 0) {
        log_error("database %s: synchronous_commit is '%s' for this session; fcrd needs 'on' and will not use "
                  "this connection",
                  c->name, sc);
        pgconn_lost(c, "synchronous_commit is not on");
        return;
    }
    if (c->schema > 0 && atoi(PQgetvalue(r, 0, 1)) < c->schema) {
        pgconn_schema_behind(c, atoi(PQgetvalue(r, 0, 1)));
        return;
    }
    for (int i = 0; i < c->nsettings + c->nprepared + (c->nprepared > 0); i++) {
        if (!pgconn_result_ok(c->results[1 + i])) {
            const PGresult *pr = c->results[1 + i];
            const char *state = pr ? PQresultErrorField(pr, PG_DIAG_SQLSTATE) : NULL;
            const char *primary = pr ? PQresultErrorField(pr, PG_DIAG_MESSAGE_PRIMARY) : NULL;
            log_error("database %s: cannot prepare a statement: SQLSTATE %s: %s", c->name, state ? state : "-",
                      primary ? primary : pr ? PQresStatus(PQresultStatus(pr)) : "no result");
            pgconn_lost(c, "a statement could not be prepared");
            return;
        }
    }
    pgconn_clear_results(c);
    evtimer_del(c->deadline);
    pgconn_state_set(&c->state, PGCONN_READY);
    c->backoff_ms = BACKOFF_MIN_MS;
    c->schema_logged = false;
    clock_gettime(CLOCK_MONOTONIC, &c->up_since);
    if (c->reconnects++ > 0)
        log_info("database %s: connected again", c->name);
    else
        log_info("database %s: connected", c->name);
    if (c->on_state)
        c->on_state(c->state_arg, true);
}

static void pgconn_unit_done(struct pgconn *c)
{
    if (c->state == PGCONN_CHECKING) {
        pgconn_check_done(c);
        return;
    }
    /* Read before the callback: it may send the next unit, which clears c->demoted. Only when
     * either is set is c touched after the callback: the usual path leaves it alone, as before. */
    bool demoted = c->demoted, drop = c->demoted || c->drop_pending;
    pgconn_done_fn done = c->done;
    void *arg = c->done_arg;
    int n = c->nq;
    PGresult *res[PGCONN_MAX_QUERIES];
    memcpy(res, c->results, sizeof(res));
    memset(c->results, 0, sizeof(c->results));
    c->done = NULL;
    pgconn_state_set(&c->state, PGCONN_READY);
    /* The callback may send the next unit at once; our state is already idle. */
    done(arg, res, n, NULL, true);
    for (int i = 0; i < PGCONN_MAX_QUERIES; i++)
        PQclear(res[i]);
    /* The server refused a write as read-only: most likely it was demoted to a standby under us
     * (a failover), and this session will refuse every write from now on. The caller has seen
     * the refusal and may still end its transaction (a ROLLBACK): once the session is idle it is
     * dropped and reconnected, at once if it had lasted: with a multi-host conninfo and
     * target_session_attrs=read-write libpq then finds the new primary. */
    if (!drop)
        return;
    if (demoted)
        c->drop_pending = true;
    if (c->state == PGCONN_READY) {
        log_warn("database %s: the server refused a write as read-only (SQLSTATE %s): reconnecting", c->name,
                 SQLSTATE_READ_ONLY);
        pgconn_lost(c, "the server is read-only");
    }
}

/* Notifications libpq has parsed so far (reading input, and reading results, parse them). */
static void pgconn_notifies(struct pgconn *c)
{
    PGnotify *n;
    while ((n = PQnotifies(c->pg)) != NULL) {
        if (c->on_notify)
            c->on_notify(c->notify_arg, n->relname, n->extra);
        PQfreemem(n);
    }
}

static void pgconn_read(struct pgconn *c)
{
    if (!PQconsumeInput(c->pg)) {
        pgconn_lost(c, PQerrorMessage(c->pg));
        return;
    }
    pgconn_notifies(c);
    while (c->state == PGCONN_BUSY || c->state == PGCONN_CHECKING) {
        if (PQisBusy(c->pg))
            return;
        PGresult *r = PQgetResult(c->pg);
        if (r == NULL) {
            /* A query's results are complete; ignore stray separators before its first result. */
            if (c->got_any) {
                c->got++;
                c->got_any = false;
            }
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            pgconn_unit_done(c);
            return;
        }
        if (st == PGRES_FATAL_ERROR) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            if (state && strcmp(state, SQLSTATE_READ_ONLY) == 0)
                c->demoted = true;
        }
        if (c->got < PGCONN_RESULTS && !c->got_any)
            c->results[c->got] = r;
        else
            PQclear(r);
        c->got_any = true;
    }
    /* Idle: notice a server that closed the connection (e.g. terminated backend). */
    if (PQstatus(c->pg) == CONNECTION_BAD)
        pgconn_lost(c, PQerrorMessage(c->pg));
    else {
        PGresult *stray;
        while (!PQisBusy(c->pg) && (stray = PQgetResult(c->pg)) != NULL)
            PQclear(stray);
        if (PQstatus(c->pg) == CONNECTION_BAD)
            pgconn_lost(c, PQerrorMessage(c->pg));
        else
            pgconn_notifies(c);
    }
}

static void pgconn_connected(struct pgconn *c)
{
    if (PQsetnonblocking(c->pg, 1) != 0 || !PQenterPipelineMode(c->pg)) {
        pgconn_lost(c, PQerrorMessage(c->pg));
        return;
    }
    /* One unit: the session check, the session settings, then every registered statement prepared
     * (results 1..n). */
    pgconn_state_set(&c->state, PGCONN_CHECKING);
    bool ok = PQsendQueryParams(c->pg, c->schema > 0 ? PGCONN_CHECK_SCHEMA : PGCONN_CHECK, 0, NULL, NULL, NULL, NULL,
                                0);
    for (int i = 0; ok && i < c->nsettings; i++) {
        const char *p[2] = {c->set_name[i], c->set_value[i]};
        ok = PQsendQueryParams(c->pg, "SELECT set_config($1, $2, false)", 2, NULL, p, NULL, NULL, 0);
    }
    /* Prepared statements are planned once per session (planning the write statement costs more
     * than executing it for a few events). Every statement they hold looks rows up by key, so the
     * session plans only index lookups joined by nested loops: a plan made while the tables were
     * small (a hash join over a sequential scan) would otherwise stay for the session's life. */
    if (ok && c->nprepared > 0)
        ok = PQsendQueryParams(c->pg, PGCONN_SESSION_PLANS, 0, NULL, NULL, NULL, NULL, 0);
    for (int i = 0; ok && i < c->nprepared; i++) {
        char name[16];
        snprintf(name, sizeof(name), "s%d", i);
        ok = PQsendPrepare(c->pg, name, c->prepared[i], 0, NULL);
    }
    if (!ok || !PQpipelineSync(c->pg)) {
        pgconn_lost(c, PQerrorMessage(c->pg));
        return;
    }
    c->nq = 1 + c->nsettings + (c->nprepared > 0) + c->nprepared;
    c->got = 0;
    c->got_any = false;
    c->flushed = false;
    pgconn_flush(c);
}

static void pgconn_poll(struct pgconn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        pgconn_watch(c, EV_READ);
        break;
    case PGRES_POLLING_WRITING:
        pgconn_watch(c, EV_WRITE);
        break;
    case PGRES_POLLING_OK:
        pgconn_connected(c);
        break;
    default: {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->pg));
        for (char *p = msg; *p; p++)
            if (*p == '\n')
                *p = ' ';
        pgconn_lost(c, msg);
    }
    }
}

static void pgconn_io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pgconn *c = arg;
    (void)fd;
    if (c->state == PGCONN_CONNECTING) {
        pgconn_poll(c);
        return;
    }
    if (what & EV_WRITE) {
        pgconn_flush(c);
        if (c->state == PGCONN_DOWN)
            return;
    }
    if (what & EV_READ)
        pgconn_read(c);
}

/* Server notices (and errors sent outside a query) go to the log, not straight to stderr. */
static void pgconn_notice(void *arg, const char *message)
{
    log_debug("database %s: %s", ((struct pgconn *)arg)->name, message);
}

static void pgconn_start(struct pgconn *c)
{
    c->pg = PQconnectStart(c->conninfo);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        pgconn_state_set(&c->state, PGCONN_CONNECTING); /* so that pgconn_lost has a connection to end */
        pgconn_lost(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    PQsetNoticeProcessor(c->pg, pgconn_notice, c);
    /* Every error and notice text libpq builds on this connection, whoever logs it, holds the
     * severity and the primary message only: DETAIL ("Key (id)=(...) already exists", "Failing
     * row contains (...)"), HINT and CONTEXT can quote the rows of victims' records. */
    PQsetErrorVerbosity(c->pg, PQERRORS_TERSE);
    PQsetErrorContextVisibility(c->pg, PQSHOW_CONTEXT_NEVER);
    pgconn_state_set(&c->state, PGCONN_CONNECTING);
    pgconn_arm_deadline(c);
    pgconn_poll(c);
}

struct pgconn *pgconn_new(struct event_base *base, const char *conninfo, const char *name,
                          pgconn_state_fn on_state, void *arg)
{
    struct pgconn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->base = base;
    c->conninfo = strdup(conninfo);
    c->name = strdup(name);
    c->on_state = on_state;
    c->state_arg = arg;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->backoff_max_ms = BACKOFF_MAX_MS;
    c->retry = evtimer_new(base, pgconn_retry_cb, c);
    c->deadline = evtimer_new(base, pgconn_deadline_cb, c);
    c->connect_timeout_ms = 5000;
    if (!c->conninfo || !c->name || !c->retry || !c->deadline)
        return pgconn_free(c);
    pgconn_start(c);
    return c;
}

struct pgconn *pgconn_free(struct pgconn *c)
{
    if (!c)
        return NULL;
    if (c->io)
        event_free(c->io);
    if (c->retry)
        event_free(c->retry);
    if (c->deadline)
        event_free(c->deadline);
    if (c->pg)
        PQfinish(c->pg);
    pgconn_clear_results(c);
    for (int i = 0; i < c->nsettings; i++) {
        free(c->set_name[i]);
        free(c->set_value[i]);
    }
    free(c->conninfo);
    free(c->name);
    free(c);
    return NULL;
}

void pgconn_require_schema(struct pgconn *c, int version)
{
    c->schema = version > 0 ? version : 0;
}

int pgconn_session_set(struct pgconn *c, const char *name, const char *value)
{
    if (c->nsettings >= PGCONN_MAX_SETTINGS)
        return -1;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    c->set_name[c->nsettings] = n;
    c->set_value[c->nsettings] = v;
    c->nsettings++;
    return 0;
}

int pgconn_prepare(struct pgconn *c, const char *sql)
{
    if (c->nprepared >= PGCONN_MAX_PREPARED)
        return -1;
    c->prepared[c->nprepared++] = sql;
    return 0;
}

bool pgconn_ready(const struct pgconn *c)
{
    return c->state == PGCONN_READY;
}

bool pgconn_up(const struct pgconn *c)
{
    return c->state == PGCONN_READY || c->state == PGCONN_BUSY;
}

void pgconn_on_notify(struct pgconn *c, pgconn_notify_fn fn, void *arg)
{
    c->on_notify = fn;
    c->notify_arg = arg;
}

unsigned long pgconn_reconnects(const struct pgconn *c)
{
    return c->reconnects > 0 ? c->reconnects - 1 : 0;
}

int pgconn_send(struct pgconn *c, const struct pg_query *q, int n, pgconn_done_fn done, void *arg)
{
    if (c->state != PGCONN_READY || n < 1 || n > PGCONN_MAX_QUERIES)
        return -1;
    pgconn_state_set(&c->state, PGCONN_BUSY);
    c->done = done;
    c->done_arg = arg;
    if (pgconn_send_internal(c, q, n) != 0) {
        c->done = NULL; /* contract: done is not called when sending fails */
        pgconn_lost(c, PQerrorMessage(c->pg));
        return -1;
    }
    pgconn_flush(c);
    return 0;
}
