/* store.h: the store's write path. Validated events are queued, grouped into batches and applied
 * in one PostgreSQL transaction per batch (lock incidents -> check duplicates -> rules -> write ->
 * COMMIT); each event's reply is handed back only after the COMMIT has succeeded. */
#ifndef FCRD_STORE_H
#define FCRD_STORE_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "feed/feed_event.h"
#include "rules/ruleset.h"

struct store;
struct metrics;

/* Receives the reply for one submitted event (borrowed: copy what you keep). Called exactly once
 * per submitted event, possibly from inside store_submit itself (db down, overloaded). */
typedef void (*store_reply_fn)(void *arg, const json_t *reply);

/* How much one incident may hold ([feed] max_*_per_incident): an event that would take its
 * incident over is rejected incident_too_large and changes nothing (store_caps.h). */
struct store_incident_caps {
    size_t persons, allegations, links;
};

struct store_params {
    const char *conninfo; /* serving role */
    const char *force;    /* force code for crime reference numbers */
    size_t batch_max;     /* events per transaction */
    size_t lanes;         /* store connections, each carrying one batch at a time (0 means 1) */
    size_t queue_max;     /* events waiting for a transaction; beyond it: retry/overloaded */
    size_t queue_bytes_max; /* bytes (feed_event.bytes) the events waiting for or in a transaction may be
                               charged; beyond it: retry/overloaded (0: no limit) */
    struct store_incident_caps caps; /* 0 in a field: no limit on it */
    size_t state_cache;   /* weight of each lane's state cache (store_cache.h; 0: no cache) */
    size_t state_cache_min; /* fewest members an incident has for its state to be cached */
    int unit_timeout_ms;  /* a database round trip taking longer drops the connection */
    int connect_timeout_ms; /* a connection attempt taking longer is abandoned and retried */
    int reconnect_max_ms;   /* longest wait between failed connection attempts (0: 5000) */
    struct metrics *metrics; /* batch sizes, commit latency, rollbacks (borrowed; may be NULL) */
    int64_t max_seq_gap;  /* an event of a known incident more than this above its last seq is
                             rejected seq_gap (0: no limit) */
    int schema;           /* the migration the connections need (pgconn_require_schema; 0: any) */
};

/* store_new: copies params; rs is borrowed (see store_set_ruleset). NULL on failure. */
struct store *store_new(struct event_base *base, const struct store_params *p, const struct ruleset *rs);
struct store *store_free(struct store *st); /* NULL-safe; pending replies are not delivered */

/* store_set_ruleset: use rs for events decided from now on (borrowed; the caller keeps the old
 * one alive until store_idle() or for the lifetime of batches already decided: batches decide
 * synchronously, so swapping between loop callbacks is safe). */
void store_set_ruleset(struct store *st, const struct ruleset *rs);

/* store_submit: takes ownership of ev's contents (ev is cleared). */
void store_submit(struct store *st, struct feed_event *ev, store_reply_fn fn, void *arg);

/* store_submit_action: a person's decision on `incident_id` (see rules_act.h), decided in the
 * same transactions as feed events. act (taken): {action, target, body, user, role, links: [incident
 * ids the decision names]}. The reply handed to fn is {status: HTTP status, body: response body}. */
void store_submit_action(struct store *st, const char *incident_id, json_t *act, store_reply_fn fn, void *arg);

bool store_db_up(const struct store *st);

/* store_bytes: what the events queued and in the batches in flight are charged (feed_event.bytes),
 * released as each is answered, before its reply is handed over. */
size_t store_bytes(const struct store *st);

/* store_memory_tight: the charged bytes are past three quarters of queue_bytes_max: the feed stops
 * reading until an answer brings them back below (so that lines already read still fit). */
bool store_memory_tight(const struct store *st);

/* store_set_caps: the per-incident caps from the next decision on (a reload). */
void store_set_caps(struct store *st, const struct store_incident_caps *caps);
size_t store_backlog(const struct store *st); /* queued + in the current batch */
bool store_idle(const struct store *st);

/* store_fail_queued: answer every queued event, and every event of a batch that has not sent
 * its COMMIT (its connection is closed, so it cannot commit), with retry/`code`; except events
 * whose earlier COMMIT is in doubt, and batches whose COMMIT is in flight: those may be committed,
 * so they get no answer (their sender resends them and learns the outcome as duplicate or
 * accepted). code and message must be static strings. */
void store_fail_queued(struct store *st, const char *code, const char *message);

/* store_set_hold: while code is not NULL, events and decisions submitted are answered retry with
 * `code` (decisions 503) and nothing is queued; what is queued or in flight goes on. Used while
 * the database lacks a synchronous standby that [database] require_sync_standby asks for.
 * code and message must be static strings. */
void store_set_hold(struct store *st, const char *code, const char *message);
/* store_hold: the code submissions are held with, or NULL. */
const char *store_hold(const struct store *st);

/* store_set_batch_max: events per transaction from the next batch on (a reload). */
void store_set_batch_max(struct store *st, size_t batch_max);

/* store_set_max_seq_gap: the largest seq step allowed from the next decision on (a reload). */
void store_set_max_seq_gap(struct store *st, int64_t max_seq_gap);

/* store_db_reconnects: how often the store's connection was re-established. */
unsigned long store_db_reconnects(const struct store *st);

/* store_batch_age: seconds since the batch in flight was started, 0 when there is none. */
double store_batch_age(const struct store *st);

#endif
