/* feed.h: the control-room feed listeners and connections (feed contract v1 framing). */
#ifndef FCRD_FEED_H
#define FCRD_FEED_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "event.h"
#include "ingest.h"

struct feed;

struct feed_params {
    size_t max_line;        /* bytes per line, excluding the newline */
    size_t max_inflight;    /* lines awaiting their reply before reading pauses */
    size_t max_connections;
    size_t max_output;      /* reply bytes queued for a slow reader before reading pauses */
    struct event_limits limits;
};

/* feed_new: binds every address (unix socket paths are replaced if a stale socket is there).
 * ing is borrowed. Returns NULL with a message in err when an address cannot be bound. */
struct feed *feed_new(struct event_base *base, const struct feed_params *p, const struct listen_addr *addrs,
                      size_t naddrs, struct ingest *ing, char *err, size_t errlen);
struct feed *feed_free(struct feed *f); /* NULL-safe; closes every connection */

/* feed_stop_listening: accept no new connections (drain). */
void feed_stop_listening(struct feed *f);

/* feed_connections: open connections; feed_inflight: lines awaiting their reply. */
size_t feed_connections(const struct feed *f);
size_t feed_inflight(const struct feed *f);

/* feed_describe: the bound addresses as "tcp:127.0.0.1:7878, unix:/path" (actual ports). */
const char *feed_describe(const struct feed *f);

#endif
