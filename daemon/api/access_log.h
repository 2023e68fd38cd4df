/* access_log.h: the access log's writer: records of every look at personal data, appended to the
 * 'access' hash chain (sql/0016_access_log.sql) in batches with group commit, on a database
 * connection of its own so that it never waits behind the API's reads, the feed or decisions. */
#ifndef FCRD_ACCESS_LOG_H
#define FCRD_ACCESS_LOG_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>

struct access_log;
struct access_log_wait;

/* Called once per record written with access_log_write: ok when the batch holding the record
 * committed, false when it could not be written (the reply must then not be sent). */
typedef void (*access_log_done_fn)(void *arg, bool ok);

/* access_log_new: starts connecting at once (and reconnects with backoff). A batch not committed
 * within timeout_ms fails (its connection is dropped and re-opened): a locked table or a stalled
 * server must not hold replies for ever. NULL when out of memory. */
struct metrics;
/* metrics (borrowed, may be NULL) counts the records written and failed. schema: the migration
 * the connection needs before it writes (pgconn_require_schema; 0: any). */
struct access_log *access_log_new(struct event_base *base, const char *conninfo, int connect_timeout_ms,
                                  int timeout_ms, int schema, struct metrics *metrics);
/* access_log_set_timeout: the batch deadline from now on (a reload). */
void access_log_set_timeout(struct access_log *l, int timeout_ms);
/* access_log_free: waiters still queued or in flight are told nothing. NULL-safe; returns NULL. */
struct access_log *access_log_free(struct access_log *l);

/* access_log_write: queue one record (a JSON object, serialised here with sorted keys: its text
 * is what the chain hashes; borrowed). While a batch is in flight, new records wait for the next
 * one, which is sent the moment the first commits: a reply waits only for the batch that holds
 * its record. done is called later, never from within this call, except that NULL is returned
 * (and done not called) when the record cannot even be queued: the connection is down or memory
 * ran out. The handle is the caller's until done runs or access_log_cancel. */
struct access_log_wait *access_log_write(struct access_log *l, const json_t *record, access_log_done_fn done,
                                         void *arg);

/* access_log_cancel: the waiter has gone (its client closed the connection): done is not called.
 * The record is written all the same. */
void access_log_cancel(struct access_log_wait *w);

/* access_log_up: the writer's connection is up. */
bool access_log_up(const struct access_log *l);

#endif
