/* api.h: the supervisor HTTP API (proto/supervisor-api-v1.md) on libevent's evhttp. */
#ifndef FCRD_API_H
#define FCRD_API_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "store/store.h"
#include "rules/ruleset.h"
#include "api/api_guard.h"
#include "api/tokens.h"

struct api;
struct metrics;
struct tls;

/* What the API accepts: every endpoint's body up to max_body, but POST /v1/whatif's (a candidate
 * rule set) up to whatif_max_body; an audit sample of up to audit_sample_max per stratum. */
struct api_limits {
    size_t max_body;
    size_t whatif_max_body;
    size_t audit_sample_max;
    struct api_guard_limits guard; /* failed authentications per address before a 429 */
    bool require_purpose;          /* reads of personal data must say why (X-Purpose or purpose=) */
    int access_log_timeout_ms;     /* an access log batch not committed by then fails its replies */
    size_t max_connections;  /* client connections served at once; further ones are closed */
    int header_timeout_ms;   /* a request's headers must arrive within this */
    int body_timeout_ms;     /* and its body within this after them */
    int read_timeout_ms;     /* the statement timeout of reads */
    int stream_heartbeat_s; /* GET /v1/stream: seconds between heartbeat comments */
    size_t max_streams;     /* GET /v1/stream: connections open at once */
    size_t retention_incident_s; /* [retention]: the periods POST /v1/retention/run applies */
    size_t retention_crime_s;
    char retention_crime_groups[1024]; /* GROUP=SECONDS,... (config checks the form) */
};

struct api_params {
    const char *host;
    int port;             /* 0 = any free port */
    struct api_limits limits; /* request bodies and audit samples; a reload may change them */
    const char *conninfo; /* the API's own database connections (reads never queue behind writes) */
    size_t read_connections; /* the read pool's size */
    int accept_pause_ms;  /* accepting stops this long after an accept fails (out of descriptors) */
    size_t ready_backlog; /* /readyz fails while more events than this await the database */
    int connect_timeout_ms; /* of the API's database connection attempts */
    int schema;             /* the migration its connection needs (pgconn_require_schema; 0: any) */
    int reconnect_max_ms;   /* longest wait between them ([database] reconnect_max_ms; 0: 5000) */
    struct metrics *metrics; /* served at GET /metrics (borrowed; may be NULL) */
    struct tls *tls;         /* HTTPS when set (borrowed; a reload swaps its contents) */
};

/* api_new: tokens and st are borrowed (see api_set_tokens). NULL with err on bind failure. */
struct api *api_new(struct event_base *base, const struct api_params *p, const struct tokens *tokens,
                    const struct ruleset *rs, struct store *st, char *err, size_t errlen);
struct api *api_free(struct api *a); /* NULL-safe */

/* api_set_tokens: requests authenticated from now on use t (borrowed). */
void api_set_tokens(struct api *a, const struct tokens *t);

/* api_set_ruleset: the rule set reports use from now on (borrowed). */
void api_set_ruleset(struct api *a, const struct ruleset *rs);

/* api_set_draining: while set, /readyz answers 503 (fcrd is stopping). */
void api_set_draining(struct api *a, bool draining);

/* api_set_limits: the limits from now on (a reload). */
void api_set_limits(struct api *a, const struct api_limits *lim);
/* api_set_read_conninfo: the API's reads go to conninfo (copied) from now on (a standby within its
 * staleness bound, or the primary: api_readsrc.h); writes and people's decisions stay on the
 * primary. */
void api_set_read_conninfo(struct api *a, const char *conninfo);

/* api_get_limits: the limits in force (borrowed). */
const struct api_limits *api_get_limits(const struct api *a);

/* api_db_reconnects: how often the API's database connection was re-established. */
unsigned long api_db_reconnects(const struct api *a);

/* api_routes_print: the route table, one line per route: "METHOD PATTERN ROLE" (ROLE "none" when
 * no token is needed), e.g. "POST /v1/pending/{id}/decision supervisor"; for `fcrd --routes`. */
void api_routes_print(FILE *out);

/* api_connections: client connections served now. */
size_t api_connections(const struct api *a);

/* api_describe: "HOST:PORT" actually bound. */
const char *api_describe(const struct api *a);

#endif
