/* service_int.h: what the service's start-up and wiring (service.c), its reload
 * (service_reload.c) and its drain (service_drain.c) share. */
#ifndef FCRD_SERVICE_INT_H
#define FCRD_SERVICE_INT_H

#include <event2/event.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

#include "service/service.h"
#include "service/service_state.h"

/* Everything the running daemon owns. One instance, passed around; no globals. The modules
 * (st, feed, api, mdb, metrics, base) exist only once service_start has run (started). */
struct service {
    const char *config_path; /* borrowed */
    struct service_state cur;
    struct event_base *base;
    struct metrics *metrics;
    struct metrics_db *mdb;
    struct checkpoint *ckpt;  /* NULL when [audit] checkpoint_interval_s is 0 */
    EVP_PKEY *ckpt_key;       /* the checkpoint signing key, loaded by service_new, until
                                 service_start hands it to ckpt */
    struct notify *notify;
    struct store *st;
    struct sync_standby *sync; /* counts synchronous standbys; may hold st */
    struct feed *feed;
    struct api *api;
    struct api_readsrc *readsrc; /* where the API's reads should go ([api] read_conninfo) */
    struct rulesets *known;   /* the stored rule sets' versions and hashes, read at start-up and
                                 extended with every rule set loaded since (store/rulesets.h) */
    struct event *sig_int, *sig_term, *sig_hup;
    struct event *drain_timer, *status_timer;
    bool started;             /* service_start succeeded: every module above exists */
    bool draining;
    bool drain_failed_queued; /* the queued events were answered retry/shutting_down */
    double drain_started;     /* metrics_clock() */
    char status[256];         /* the last STATUS= sent */
};

struct config;
struct feed_event_limits;

/* service_conn_budget: the reply bytes one feed connection may hold before fcrd stops reading it:
 * a quarter of [service] memory_limit_mb shared by [feed] max_connections, from 64 KiB to 4 MiB. */
size_t service_conn_budget(const struct config *cfg);

/* service_event_limits: the contract's limits with the configured token and unknown-field bounds. */
void service_event_limits(const struct config *cfg, struct feed_event_limits *lim);

/* How long one store round trip may take; the watchdog allows three of them. */
#define SERVICE_UNIT_TIMEOUT_MS 10000

#endif
