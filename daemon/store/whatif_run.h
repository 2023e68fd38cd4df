/* whatif_run.h: a what-if run: the incidents first reported in a period, read slice by slice
 * from a snapshot on a database connection of the run's own, each replayed through a candidate
 * rule set (whatif.h) and compared with what is stored (whatif_diff.h). Writes nothing. The work
 * is cut into small steps on the event loop, so that other callbacks run in between, and it
 * waits while the caller's output is backed up, so that memory stays bounded. */
#ifndef FCRD_WHATIF_RUN_H
#define FCRD_WHATIF_RUN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/ruleset.h"
#include "store/store.h"

struct whatif_run;

/* Where a run's output goes. Every call comes from the run's own loop callbacks. */
struct whatif_run_sink {
    /* the run holds the what-if lock: lines follow (the first progress line gives the total) */
    void (*start)(void *arg);
    /* one output line (borrowed): {"progress": ...} (after each slice and every second),
     * {"change": ...}, {"summary": ...} or {"error": ...} */
    void (*line)(void *arg, const json_t *line);
    /* the lines so far may go out now */
    void (*flush)(void *arg);
    /* bytes still waiting to reach the client: the run waits while this is high */
    size_t (*backlog)(void *arg);
    /* the run is over: status 0 after start (the last line was the summary or an error), or the
     * HTTP status that refuses it before start (429 whatif_busy, 503 db_unavailable) with code
     * and message. Called once; the owner may free the run from here. */
    void (*done)(void *arg, int status, const char *code, const char *message);
};

struct whatif_run_params {
    int64_t from_ms, to_ms;             /* first reported in [from, to) */
    const struct ruleset *candidate;    /* borrowed: kept alive until done or whatif_run_free */
    const char *current;                /* the loaded rule set's version, for the summary (copied) */
};

/* WHATIF_RUN_BACKLOG_MAX: output bytes waiting for the client beyond which the run pauses. */
#define WHATIF_RUN_BACKLOG_MAX ((size_t)1 << 20)

/* whatif_run_start: open the run's own connection (the store's conninfo and force code), take
 * the database's what-if lock (one run at a time per database, whichever fcrd holds it) and go.
 * sink is copied; arg is passed back. NULL when memory ran out. */
struct whatif_run *whatif_run_start(struct store *st, const struct whatif_run_params *p,
                                    const struct whatif_run_sink *sink, void *arg);

/* whatif_run_free: stop the run (its connection closes, which ends its snapshot and frees the
 * lock); the sink hears nothing more. NULL-safe; returns NULL. */
struct whatif_run *whatif_run_free(struct whatif_run *r);

#endif
