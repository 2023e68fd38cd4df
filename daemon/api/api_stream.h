/* api_stream.h: GET /v1/stream, server-sent events that tell the supervisor's page which queue
 * items and incidents changed, from the database's NOTIFYs (sql/0018_change_notify.sql), so that
 * a change committed by any fcrd instance on the database reaches every instance's pages. */
#ifndef FCRD_API_STREAM_H
#define FCRD_API_STREAM_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

struct api;
struct api_call;
struct api_streams;

/* api_stream_new: the streams of one API, with their own database connection that LISTENs
 * (opened at once; reconnects with backoff). conninfo is copied; a is borrowed (its connection
 * watches). NULL when out of memory. */
struct api_streams *api_stream_new(struct api *a, struct event_base *base, const char *conninfo,
                                   int connect_timeout_ms);
/* api_stream_free: NULL-safe. Call before the evhttp the streams' requests belong to is freed;
 * their connections are left to it. */
struct api_streams *api_stream_free(struct api_streams *s);

/* api_stream_set_limits: seconds between heartbeats, and the most streams open at once (a reload
 * may change both; streams open beyond a lowered cap are left to end by themselves). */
void api_stream_set_limits(struct api_streams *s, int heartbeat_s, size_t max_streams);

/* api_stream_drain: end every stream cleanly (the reply's last chunk) and refuse new ones with
 * 503 draining: fcrd is stopping. */
void api_stream_drain(struct api_streams *s);

/* api_stream_count: streams open now. */
size_t api_stream_count(const struct api_streams *s);

/* api_stream_get: the route's handler (api_routes.c). */
void api_stream_get(struct api *a, const struct api_call *call);

#endif
