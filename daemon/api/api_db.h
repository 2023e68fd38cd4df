/* api_db.h: the API's database connections and their queues: a small pool of read connections,
 * each read held to a statement timeout, and one connection for the queries of people's writes,
 * so that a long report never holds up a decision. */
#ifndef FCRD_API_DB_H
#define FCRD_API_DB_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

struct api_db;
struct metrics;

/* Which connections a query runs on. Reads (every GET) share the read pool and are cancelled by
 * PostgreSQL past the read statement timeout; writes (the lookups before a decision, a
 * cancellation or a reclassification is handed to the store, and the independent audits' draws
 * and verdicts) run in order on the write connection, with no statement timeout. */
enum api_db_kind { API_DB_READ, API_DB_WRITE, API_DB_KINDS };

struct api_db_params {
    const char *conninfo;   /* copied */
    size_t read_connections; /* [api] read_connections (0 means 1) */
    int read_timeout_ms;    /* [api] read_statement_timeout_ms */
    int connect_timeout_ms; /* of every connection attempt */
    struct metrics *metrics; /* read timeouts are counted (borrowed; may be NULL) */
    int schema;             /* the migration every connection needs (pgconn_require_schema; 0: any) */
    int reconnect_max_ms;   /* longest wait between connection attempts (pgconn_set_backoff_max; 0: its default) */
};

/* api_db_new: starts connecting at once. NULL when out of memory. */
struct api_db *api_db_new(struct event_base *base, const struct api_db_params *p);
/* api_db_free: NULL-safe; queued and in-flight queries are dropped unanswered. */
struct api_db *api_db_free(struct api_db *d);

/* api_db_set_read_conninfo: the read pool connects to conninfo (copied) from now on: each read
 * connection is reopened there as soon as it is idle (a query in flight is answered first). The
 * write connection stays on the primary. */
void api_db_set_read_conninfo(struct api_db *d, const char *conninfo);

/* api_db_set_read_timeout: the statement timeout of reads sent from now on (a reload). */
void api_db_set_read_timeout(struct api_db *d, int ms);

/* api_db_is_up: the write connection and at least one read connection are up. */
bool api_db_is_up(const struct api_db *d);
/* api_db_reconnects: how often any of the connections was re-established after a loss. */
unsigned long api_db_reconnects_total(const struct api_db *d);

#endif
