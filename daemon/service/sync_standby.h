/* sync_standby.h: whether the primary has a synchronous standby, counted periodically on a
 * connection of its own; with [database] require_sync_standby the store takes no new work
 * without one (retry/no_sync_standby) and /readyz says not ready. */
#ifndef FCRD_SYNC_STANDBY_H
#define FCRD_SYNC_STANDBY_H

#include <event2/event.h>
#include <stdbool.h>

struct store;
struct sync_standby;

struct sync_standby_params {
    const char *conninfo;  /* the serving role's (copied) */
    int connect_timeout_ms;
    int reconnect_max_ms;
    int interval_ms;       /* between counts; one also at every connect */
    bool required;         /* [database] require_sync_standby = yes: hold the store without one */
    struct store *st;      /* borrowed; held with store_set_hold while required and none is seen */
};

/* sync_standby_new: starts connecting at once. While required, the store is held from the start
 * until a count sees a synchronous standby. NULL when out of memory. */
struct sync_standby *sync_standby_new(struct event_base *base, const struct sync_standby_params *p);
/* sync_standby_free: NULL-safe; releases the store's hold. Returns NULL. */
struct sync_standby *sync_standby_free(struct sync_standby *s);

/* sync_standby_ok: the last count, on a connection still up, saw at least one synchronous
 * standby. */
bool sync_standby_ok(const struct sync_standby *s);
bool sync_standby_required(const struct sync_standby *s);

#endif
