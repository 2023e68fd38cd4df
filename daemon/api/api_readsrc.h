/* api_readsrc.h: where the API's reads go. With [api] read_conninfo set, a connection of its own
 * measures how far that server (a standby) is behind; reads go there while it is within
 * [api] read_max_lag_ms, else to the primary. Writes and people's decisions never use it: they
 * go through the store or the API's own connection to the primary. */
#ifndef FCRD_API_READSRC_H
#define FCRD_API_READSRC_H

#include <event2/event.h>
#include <stdbool.h>

struct api_readsrc;

/* One measurement of the read server, as its lag query answered it. */
struct api_readsrc_sample {
    bool in_recovery;    /* pg_is_in_recovery(): false means the server is a primary (up to date) */
    bool streaming;      /* a WAL receiver runs (it is being fed by a primary) */
    bool caught_up;      /* it has replayed all the WAL it received */
    double replay_age_ms; /* now() - pg_last_xact_replay_timestamp(), < 0 when unknown */
};

/* api_readsrc_pick: whether reads may go to the server measured by `s` (s == NULL: no recent
 * measurement) under the bound max_lag_ms. A standby that streams and has replayed all it
 * received is current; otherwise its last replayed transaction must be within the bound (on an
 * idle primary that age grows with no lag at all, so a standby cut off from its primary and an
 * idle one are both sent to the primary: correct, if cautious). */
bool api_readsrc_pick(const struct api_readsrc_sample *s, double max_lag_ms);

/* Called when the choice changes (reads to the read server: to_standby), e.g. so that read
 * connections are reopened with api_readsrc_conninfo. */
typedef void (*api_readsrc_change_fn)(void *arg, bool to_standby);

struct api_readsrc_params {
    const char *primary_conninfo; /* the serving conninfo (copied) */
    const char *read_conninfo;    /* [api] read_conninfo (copied); NULL: reads on the primary */
    int max_lag_ms;               /* [api] read_max_lag_ms */
    int connect_timeout_ms;
    int reconnect_max_ms;
    api_readsrc_change_fn on_change; /* may be NULL */
    void *arg;
};

/* api_readsrc_new: without read_conninfo, nothing runs and reads stay on the primary. The lag is
 * measured every max_lag_ms / 2 (at least 100 ms); a measurement older than max_lag_ms counts as
 * none. NULL when out of memory. */
struct api_readsrc *api_readsrc_new(struct event_base *base, const struct api_readsrc_params *p);
struct api_readsrc *api_readsrc_free(struct api_readsrc *r); /* NULL-safe; returns NULL */

/* api_readsrc_conninfo: the conninfo reads should use now (borrowed; valid until the next
 * api_readsrc_free). */
const char *api_readsrc_conninfo(const struct api_readsrc *r);
bool api_readsrc_on_standby(const struct api_readsrc *r);

#endif
