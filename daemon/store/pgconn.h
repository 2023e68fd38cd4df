/* pgconn.h: one asynchronous PostgreSQL connection on the libevent loop, in pipeline mode, with
 * automatic reconnection. Work is submitted as "units": a few queries sent together and ended by
 * one sync point; the unit's callback receives every query's result at once. */
#ifndef FCRD_PGCONN_H
#define FCRD_PGCONN_H

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdbool.h>

struct pgconn;

/* Where a connection stands. It changes only through pgconn_state_set, which knows the transitions
 * a connection makes and refuses any other. */
enum pgconn_state {
    PGCONN_DOWN,       /* no connection; the reconnect timer (backoff) is armed */
    PGCONN_CONNECTING, /* PQconnectPoll in progress */
    PGCONN_CHECKING,   /* connected; the session check (and the statements' preparing) is in flight */
    PGCONN_READY,      /* up and idle: accepts a unit */
    PGCONN_BUSY,       /* up, a unit in flight */
};
#define PGCONN_NSTATES (PGCONN_BUSY + 1)

/* pgconn_state_set: *state becomes `to` when a connection makes that transition (returns 0);
 * otherwise logs an error, leaves *state as it was and returns -1. */
int pgconn_state_set(enum pgconn_state *state, enum pgconn_state to);
/* pgconn_state_name: for log lines (static string; "?" when out of range). */
const char *pgconn_state_name(enum pgconn_state s);

struct pg_query {
    const char *sql;
    int nparams;
    const char *const *params; /* text parameters, NULL entries are SQL NULL; copied by libpq at send */
};

/* Called once per unit. On success error == NULL and results[i] is query i's result (owned by
 * pgconn, valid only during the call; may be PGRES_FATAL_ERROR / PGRES_PIPELINE_ABORTED when a
 * query failed: check with pgconn_result_ok). When the connection was lost before every result
 * arrived, error is set and results is NULL; `sent_all` tells whether every query had been handed
 * to the server (so a COMMIT among them may or may not have happened). */
typedef void (*pgconn_done_fn)(void *arg, PGresult **results, int n, const char *error, bool sent_all);

/* Called when the connection becomes ready (up == true: connected, checked, idle) or is lost. */
typedef void (*pgconn_state_fn)(void *arg, bool up);

/* pgconn_new: starts connecting at once (and again, with backoff, whenever the connection drops).
 * `name` is used in log lines. Returns NULL on allocation failure. */
struct pgconn *pgconn_new(struct event_base *base, const char *conninfo, const char *name,
                          pgconn_state_fn on_state, void *arg);
struct pgconn *pgconn_free(struct pgconn *c); /* NULL-safe; an in-flight unit's callback is not called */

/* pgconn_set_connect_timeout: a connection attempt (connect, authenticate, session check) that
 * takes longer is abandoned and retried with backoff (default 5000 ms; also re-arms an attempt in
 * progress). */
void pgconn_set_connect_timeout(struct pgconn *c, int ms);

/* pgconn_require_schema: every session this connection opens checks, with its session check, that
 * the schema is at migration `version` or later (fcrd_migrations); a session that finds it behind
 * is closed and retried with backoff like a database that is down, so the connection is not up
 * until `fcrd migrate` has run. Logged once as an error each time the connection finds it so. 0
 * (the default): no check. Call before the first connection is up. */
void pgconn_require_schema(struct pgconn *c, int version);

/* pgconn_session_set: every session this connection opens sets the configuration parameter `name`
 * to `value` (set_config, for the session) in its session check's round trip, before it is
 * reported up. Both strings are copied. Call before the first connection is up. Returns -1 when
 * full (PGCONN_MAX_SETTINGS) or out of memory. */
#define PGCONN_MAX_SETTINGS 2
int pgconn_session_set(struct pgconn *c, const char *name, const char *value);

/* pgconn_set_backoff_max: the longest wait between failed connection attempts (default 5000 ms;
 * at least 100). A session that was up for longer than this bound and is lost is retried at
 * once, then with waits doubling from 100 ms up to it; one lost sooner goes on backing off. */
void pgconn_set_backoff_max(struct pgconn *c, int ms);

/* A unit any of whose queries fails with SQLSTATE 25006 (read-only: the server was demoted in a
 * failover) is delivered as usual; the session is dropped as soon as it is idle again (after
 * the caller's ROLLBACK, say) and reconnects: at once when it had been up longer than the longest
 * backoff, else with backoff. */

/* pgconn_prepare: prepare `sql` on every session this connection opens, before it is reported
 * up; a query of a unit whose `sql` is this very pointer is then sent as the prepared statement
 * (parsed and planned once per session, not per unit: the session plans index lookups joined by
 * nested loops, whatever the tables' size when it started, so `sql` must look rows up by key). Call before the first connection is up,
 * with a string that outlives the connection. A statement the server refuses to prepare makes the
 * session unusable (logged as an error; retried with backoff). Returns -1 when full. */
#define PGCONN_MAX_PREPARED 20
int pgconn_prepare(struct pgconn *c, const char *sql);

/* pgconn_ready: connected and no unit in flight. */
bool pgconn_ready(const struct pgconn *c);
bool pgconn_up(const struct pgconn *c);

/* pgconn_send: send a unit (n <= PGCONN_MAX_QUERIES). Only when pgconn_ready(). Returns 0, or -1
 * if it could not be sent (the connection is then dropped and reconnects; done is not called). */
#define PGCONN_MAX_QUERIES 16
int pgconn_send(struct pgconn *c, const struct pg_query *q, int n, pgconn_done_fn done, void *arg);

/* pgconn_drop: close the connection now (e.g. a unit took too long) and reconnect (at once when
 * it was up, then with backoff).
 * An in-flight unit gets its callback with an error. */
void pgconn_drop(struct pgconn *c, const char *why);

/* pgconn_result_ok: TUPLES_OK or COMMAND_OK. */
bool pgconn_result_ok(const PGresult *r);

/* pgconn_on_notify: fn(arg, channel, payload) for each NOTIFY the session receives (after a
 * LISTEN it was sent); both strings are borrowed for the call. Notifications are read whenever
 * the socket is, busy or idle. */
typedef void (*pgconn_notify_fn)(void *arg, const char *channel, const char *payload);
void pgconn_on_notify(struct pgconn *c, pgconn_notify_fn fn, void *arg);

/* pgconn_reconnects: how many times the connection was re-established after a loss. */
unsigned long pgconn_reconnects(const struct pgconn *c);

#endif
