/* ingest.h: the store's write path. Validated events are queued, grouped into batches and applied
 * in one PostgreSQL transaction per batch (lock incidents -> check duplicates -> rules -> write ->
 * COMMIT); each event's reply is handed back only after the COMMIT has succeeded. */
#ifndef FCRD_INGEST_H
#define FCRD_INGEST_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "event.h"
#include "ruleset.h"

struct ingest;
struct metrics;

/* Receives the reply for one submitted event (borrowed: copy what you keep). Called exactly once
 * per submitted event, possibly from inside ingest_submit itself (db down, overloaded). */
typedef void (*ingest_reply_fn)(void *arg, const json_t *reply);

struct ingest_params {
    const char *conninfo; /* serving role */
    const char *force;    /* force code for crime reference numbers */
    size_t batch_max;     /* events per transaction */
    size_t lanes;         /* store connections, each carrying one batch at a time (0 means 1) */
    size_t queue_max;     /* events waiting for a transaction; beyond it: retry/overloaded */
    int unit_timeout_ms;  /* a database round trip taking longer drops the connection */
    int connect_timeout_ms; /* a connection attempt taking longer is abandoned and retried */
    struct metrics *metrics; /* batch sizes, commit latency, rollbacks (borrowed; may be NULL) */
};

/* ingest_new: copies params; rs is borrowed (see ingest_set_ruleset). NULL on failure. */
struct ingest *ingest_new(struct event_base *base, const struct ingest_params *p, const struct ruleset *rs);
struct ingest *ingest_free(struct ingest *ing); /* NULL-safe; pending replies are not delivered */

/* ingest_set_ruleset: use rs for events decided from now on (borrowed; the caller keeps the old
 * one alive until ingest_idle() or for the lifetime of batches already decided: batches decide
 * synchronously, so swapping between loop callbacks is safe). */
void ingest_set_ruleset(struct ingest *ing, const struct ruleset *rs);

/* ingest_submit: takes ownership of ev's contents (ev is cleared). */
void ingest_submit(struct ingest *ing, struct event *ev, ingest_reply_fn fn, void *arg);

/* ingest_submit_action: a person's decision on `incident_id` (see rules_act.h), decided in the
 * same transactions as feed events. act (taken): {action, target, body, user, role, links: [incident
 * ids the decision names]}. The reply handed to fn is {status: HTTP status, body: response body}. */
void ingest_submit_action(struct ingest *ing, const char *incident_id, json_t *act, ingest_reply_fn fn, void *arg);

bool ingest_db_up(const struct ingest *ing);
size_t ingest_backlog(const struct ingest *ing); /* queued + in the current batch */
bool ingest_idle(const struct ingest *ing);

/* ingest_fail_queued: answer every queued event, and every event of a batch that has not sent
 * its COMMIT (its connection is closed, so it cannot commit), with retry/`code`; except events
 * whose earlier COMMIT is in doubt, and batches whose COMMIT is in flight: those may be committed,
 * so they get no answer (their sender resends them and learns the outcome as duplicate or
 * accepted). code and message must be static strings. */
void ingest_fail_queued(struct ingest *ing, const char *code, const char *message);

/* ingest_set_batch_max: events per transaction from the next batch on (a reload). */
void ingest_set_batch_max(struct ingest *ing, size_t batch_max);

/* ingest_db_reconnects: how often the store's connection was re-established. */
unsigned long ingest_db_reconnects(const struct ingest *ing);

/* ingest_batch_age: seconds since the batch in flight was started, 0 when there is none. */
double ingest_batch_age(const struct ingest *ing);

#endif
