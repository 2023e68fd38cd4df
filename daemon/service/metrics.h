/* metrics.h: the daemon's counters, gauges and histograms, rendered in the Prometheus text
 * exposition format 0.0.4 for GET /metrics. */
#ifndef FCRD_METRICS_H
#define FCRD_METRICS_H

#include <event2/buffer.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics;

/* metrics_new: all zero. The daemon owns one; the feed, the store and the API borrow it. Every
 * recording function below accepts m == NULL and then does nothing, so modules run without
 * metrics in the unit tests. */
struct metrics *metrics_new(void);
struct metrics *metrics_free(struct metrics *m); /* NULL-safe; returns NULL */

/* metrics_clock: a monotonic clock in seconds, for the latencies below. */
double metrics_clock(void);

/* ---- the feed ---- */

/* metrics_feed_line: one line received (a blank line is not a line). */
void metrics_feed_line(struct metrics *m);
/* metrics_feed_reply: one reply sent, counted by its status, and by its error code when it is
 * rejected or retry. */
void metrics_feed_reply(struct metrics *m, const json_t *reply);
/* metrics_feed_ack: seconds from a line's arrival to its reply, for lines the store decided. */
void metrics_feed_ack(struct metrics *m, double seconds);
/* metrics_feed_connection: a connection accepted, or refused before any line was read (a limit, or
 * no [sources] entry names it). */
void metrics_feed_connection(struct metrics *m, bool accepted);
/* metrics_feed_tls_failure: a TLS handshake on the feed that failed or was refused. */
void metrics_feed_tls_failure(struct metrics *m);

/* ---- the API ---- */

/* Why a request was refused before its handler ran: no valid token (401), a role without the
 * right (403), or an address blocked after too many failures (429). */
enum metrics_auth { METRICS_AUTH_UNAUTHORIZED, METRICS_AUTH_FORBIDDEN, METRICS_AUTH_TOO_MANY, METRICS_AUTH_KINDS };
/* metrics_api_auth_failure: one such refusal. */
void metrics_api_auth_failure(struct metrics *m, enum metrics_auth why);
/* metrics_access_log: n access records written (ok) or that could not be (their replies were
 * refused 503). */
void metrics_access_log(struct metrics *m, bool ok, size_t n);
/* metrics_api_connection: a client connection accepted, or closed at once past
 * [api] max_connections. */
void metrics_api_connection(struct metrics *m, bool accepted);
/* metrics_api_request_cut: a connection closed because its request's headers (true) or body
 * (false) did not arrive in time. */
void metrics_api_request_cut(struct metrics *m, bool headers);
/* metrics_api_read_timeout: a read cancelled at [api] read_statement_timeout_ms. */
void metrics_api_read_timeout(struct metrics *m);

/* Listeners that pause accepting when out of descriptors. */
enum metrics_listener { METRICS_LISTENER_FEED, METRICS_LISTENER_API, METRICS_LISTENERS };
/* metrics_accept_pause: the listener failed to accept and stopped accepting for a moment. */
void metrics_accept_pause(struct metrics *m, enum metrics_listener which);

/* ---- the store ---- */

/* metrics_store_commit: a batch of `events` committed, `seconds` after its writes and COMMIT
 * were sent. */
void metrics_store_commit(struct metrics *m, size_t events, double seconds);
/* metrics_store_states: a batch's locked incidents: states its lane's cache gave, and states read
 * from their rows (store_cache.h). */
void metrics_store_states(struct metrics *m, uint64_t cached, uint64_t read);
/* metrics_store_rollback: a transaction rolled back (it is retried or answered retry). */
void metrics_store_rollback(struct metrics *m);
/* metrics_store_direct: a batch was sent without a read round trip (missed: false), or such a
 * batch was refused by the database and goes back to be decided after reading (missed: true). */
void metrics_store_direct(struct metrics *m, bool missed);

/* metrics_store_read_only: the database refused a write as read-only (SQLSTATE 25006; true), or
 * a batch's COMMIT went through (false). Shown as fcrd_db_read_only until the other happens. */
void metrics_store_read_only(struct metrics *m, bool read_only);

/* ---- the daemon ---- */

void metrics_reload(struct metrics *m, bool ok);

/* Values read from the running modules when the metrics are rendered. */
struct metrics_sample {
    size_t feed_connections;  /* open now */
    size_t feed_inflight;     /* lines awaiting their reply */
    size_t api_connections;   /* API client connections open now */
    size_t store_backlog;     /* events queued or in the batch in flight */
    size_t store_backlog_bytes; /* what they are charged against the memory bound (store_bytes) */
    bool db_up_store, db_up_api;
    unsigned long reconnects_store, reconnects_api;
    bool draining;
    bool sync_standby_required; /* [database] require_sync_standby = yes */
    bool sync_standby_ok;     /* the last count saw a synchronous standby */
    const char *ruleset;      /* version of the rule set in force */
    double tls_expiry;        /* when the server certificate expires (epoch seconds), 0 without TLS */
};
typedef void (*metrics_sample_fn)(void *arg, struct metrics_sample *s);

/* metrics_set_sampler: fn fills the sample each time the metrics are rendered. */
void metrics_set_sampler(struct metrics *m, metrics_sample_fn fn, void *arg);

/* ---- figures from the database (refreshed periodically, see metrics_db.h) ---- */

/* metrics_set_stats: pending decisions open and overdue; `crimes` an object of category ->
 * number of crimes currently recorded (borrowed, copied); `when` the wall-clock time of the
 * query in seconds since the epoch. */
void metrics_set_stats(struct metrics *m, int64_t pending_open, int64_t pending_overdue, const json_t *crimes,
                       double when);
/* metrics_stats_failed: a refresh failed (the figures keep their last values). */
void metrics_stats_failed(struct metrics *m);

/* ---- signed checkpoints of the audit chains (see service/checkpoint.h) ---- */

/* metrics_checkpoint: a checkpoint written and synced (ok, at `when`, wall-clock seconds since
 * the epoch), or one that failed (database, file or key; `when` unused). */
void metrics_checkpoint(struct metrics *m, bool ok, double when);

/* metrics_render: append the exposition text. Returns 0, or -1 when out of memory. */
int metrics_render(struct metrics *m, struct evbuffer *out);

/* The content type GET /metrics answers with. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
