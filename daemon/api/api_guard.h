/* api_guard.h: slows down token guessing: failed authentications counted per client address, an
 * address that fails too often refused for a while, and rate-limited logging of refusals. */
#ifndef FCRD_API_GUARD_H
#define FCRD_API_GUARD_H

#include <stdbool.h>
#include <stddef.h>

/* How many failures from one address within window_s seconds start a block of block_s seconds
 * ([api] auth_failures_max, auth_failure_window_s, auth_block_s). */
struct api_guard_limits {
    size_t max_failures;
    int window_s;
    int block_s;
};

/* The most addresses remembered at once: memory stays bounded whatever the number of clients;
 * when full, the entry least recently seen (preferring one not blocked) makes room. */
#define API_GUARD_ENTRIES 1024
#define API_GUARD_ADDR_MAX 64

/* What a log line is about; each kind is rate-limited on its own. */
enum api_guard_kind { API_GUARD_UNAUTHORIZED, API_GUARD_FORBIDDEN, API_GUARD_BLOCKED, API_GUARD_KINDS };

struct api_guard;

/* api_guard_new: an empty table with the given limits (copied). NULL when out of memory. */
struct api_guard *api_guard_new(const struct api_guard_limits *lim);
struct api_guard *api_guard_free(struct api_guard *g); /* NULL-safe; returns NULL */

/* api_guard_set_limits: the limits from now on (a reload); blocks already started run out. */
void api_guard_set_limits(struct api_guard *g, const struct api_guard_limits *lim);

/* api_guard_blocked: whole seconds (at least 1) until addr may try again, or 0 when it is not
 * blocked. now is a monotonic clock in seconds. */
int api_guard_blocked(struct api_guard *g, const char *addr, double now);

/* api_guard_failure: one failed authentication from addr. Returns true when it starts a block. */
bool api_guard_failure(struct api_guard *g, const char *addr, double now);

/* api_guard_log_due: whether a line of this kind may be logged now (at most one a second); when
 * it may, *suppressed is how many were not logged since the last line. */
bool api_guard_log_due(struct api_guard *g, enum api_guard_kind kind, double now, unsigned long *suppressed);

/* api_guard_size: addresses remembered now (for tests). */
size_t api_guard_size(const struct api_guard *g);

#endif
