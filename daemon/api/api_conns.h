/* api_conns.h: the API's client connections: how many are served at once, and deadlines for a
 * request's headers and for its body, so that slow or idle clients cannot hold the API. */
#ifndef FCRD_API_CONNS_H
#define FCRD_API_CONNS_H

#include <event2/event.h>
#include <event2/http.h>
#include <stddef.h>

struct api_conns;
struct metrics;
struct tls;

/* [api] max_connections, header_timeout_ms, body_timeout_ms. */
struct api_conns_limits {
    size_t max_connections;
    int header_timeout_ms; /* from a connection's accept, or a request's first byte, to its headers' end */
    int body_timeout_ms;   /* from the headers' end to the request's last byte */
};

/* api_conns_new: tls (HTTPS when set) and metrics are borrowed; NULL when out of memory. */
struct api_conns *api_conns_new(struct event_base *base, const struct api_conns_limits *lim, struct tls *tls,
                                struct metrics *metrics);
/* api_conns_free: NULL-safe; after evhttp_free (which closes every connection). */
struct api_conns *api_conns_free(struct api_conns *cs);

/* api_conns_set_limits: from now on (a reload): connections already open stay; deadlines already
 * running keep theirs. */
void api_conns_set_limits(struct api_conns *cs, const struct api_conns_limits *lim);

/* api_conns_bevcb: for evhttp_set_bevcb with cs: every accepted connection's bufferevent is made
 * here, so that it is counted, refused past max_connections, and watched for its deadlines. */
struct bufferevent *api_conns_bevcb(struct event_base *base, void *cs);

/* api_conns_request: the request has been read whole (called first thing by the request
 * callback): its connection's deadlines stop until the reply has been sent. */
void api_conns_request(struct api_conns *cs, struct evhttp_request *req);

/* api_conns_watch: fn(evcon, arg) is called if the request's connection closes before the
 * watch is cleared (fn NULL). It replaces evhttp_connection_set_closecb, which this module uses
 * to know when a connection ends. */
void api_conns_watch(struct api_conns *cs, struct evhttp_request *req,
                     void (*fn)(struct evhttp_connection *, void *), void *arg);

/* api_conns_open: connections served now (refused ones excluded). */
size_t api_conns_open(const struct api_conns *cs);

#endif
