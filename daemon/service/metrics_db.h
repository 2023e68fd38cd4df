/* metrics_db.h: the figures /metrics reads from the database (pending decisions open and
 * overdue, crimes recorded by category), refreshed by a periodic asynchronous query. */
#ifndef FCRD_METRICS_DB_H
#define FCRD_METRICS_DB_H

#include <event2/event.h>

#include "service/metrics.h"
#include "rules/ruleset.h"

struct metrics_db;

/* metrics_db_new: its own connection with `conninfo` (copied), so that a slow count never
 * holds up a supervisor's read on the API's connection; a refresh every interval_ms, and one
 * as soon as the connection is up; the connection needs migration `schema` (0: any). m and rs
 * are borrowed (see metrics_db_set_ruleset). NULL when out of memory. */
struct metrics_db *metrics_db_new(struct event_base *base, const char *conninfo, int connect_timeout_ms, int interval_ms,
                                  int schema, struct metrics *m, const struct ruleset *rs);
struct metrics_db *metrics_db_free(struct metrics_db *s); /* NULL-safe; returns NULL */

/* metrics_db_set_ruleset: offence categories come from rs from the next refresh on (borrowed). */
void metrics_db_set_ruleset(struct metrics_db *s, const struct ruleset *rs);

/* metrics_db_set_interval: refresh every interval_ms from now on. */
void metrics_db_set_interval(struct metrics_db *s, int interval_ms);

/* metrics_db_up: whether its connection is up. */
bool metrics_db_up(const struct metrics_db *s);

#endif
