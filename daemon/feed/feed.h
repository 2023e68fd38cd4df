/* feed.h: the control-room feed listeners and connections (feed contract v1 framing). */
#ifndef FCRD_FEED_H
#define FCRD_FEED_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "service/config.h"
#include "feed/feed_event.h"
#include "store/store.h"

struct feed;
struct metrics;
struct sources;
struct tls;

struct feed_params {
    size_t max_line;        /* bytes per line, excluding the newline */
    size_t max_inflight;    /* lines awaiting their reply before reading pauses */
    size_t max_connections;
    size_t max_output;      /* reply bytes held for one connection (unsent, and ready behind one awaited)
                               before reading pauses; the store's charged bytes pause every connection
                               (store_memory_tight) */
    int accept_pause_ms;    /* a listener stops accepting this long after an accept fails */
    struct feed_event_limits limits;
    struct metrics *metrics; /* borrowed; may be NULL */
    struct tls *tls;         /* TLS on the TCP listeners when set (borrowed; a reload swaps its contents) */
    /* [sources]: who may connect, and as which source (borrowed; the configuration holding it
     * outlives the feed or is replaced through feed_set_limits). NULL: not configured, every
     * connection is source "default". */
    const struct sources *sources;
    size_t max_per_source;   /* connections one source may hold (with sources only) */
    size_t reserved;         /* of max_connections, places only identified sources take (with sources only) */
    int first_line_timeout_s; /* a connection with no complete line this long after opening is closed; 0: off */
    int keepalive_s;         /* TCP keepalive idle time; 0: no keepalive */
    int keepalive_interval_s;
    int keepalive_count;
    int refusal_interval_s;  /* least seconds between two log lines of one kind of refusal */
};

/* feed_new: binds every address (unix socket paths are replaced if a stale socket is there).
 * st is borrowed. Returns NULL with a message in err when an address cannot be bound. */
struct feed *feed_new(struct event_base *base, const struct feed_params *p, const struct listen_addr *addrs,
                      size_t naddrs, struct store *st, char *err, size_t errlen);
/* feed_free: NULL-safe; closes every connection and frees the lines still waiting for the store,
 * so free the store first (store_free drops its pending callbacks). */
struct feed *feed_free(struct feed *f);

/* feed_stop_listening: accept no new connections (drain). */
void feed_stop_listening(struct feed *f);

/* feed_set_draining: from now on a line that parses is answered retry/shutting_down instead of
 * being handed to the store; lines already handed over are answered as usual. */
void feed_set_draining(struct feed *f);

/* feed_set_limits: max_line, max_inflight, max_connections, the memory limits, timeouts, keepalive
 * settings and sources of p apply from now on (a reload), to new connections and new lines;
 * connections over a lowered limit are not closed, and connections keep the source they were
 * identified as. */
void feed_set_limits(struct feed *f, const struct feed_params *p);

/* feed_unsent: reply bytes written to connections but not yet taken by the kernel. */
size_t feed_unsent(const struct feed *f);

/* feed_connections: open connections; feed_inflight: lines awaiting their reply. */
size_t feed_connections(const struct feed *f);
size_t feed_inflight(const struct feed *f);

/* feed_describe: the bound addresses as "tcp:127.0.0.1:7878, unix:/path" (actual ports). */
const char *feed_describe(const struct feed *f);

#endif
