/* service.c: fcrd's start-up and wiring: the files the configuration names, the schema check, the
 * store, the feed listeners, the API, the metrics, systemd notification, the signal handlers
 * (SIGHUP reloads, SIGTERM/SIGINT drain) and the status timer, on one event loop. */
#include "service/service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_int.h"
#include "api/api_readsrc.h"
#include "feed/feed.h"
#include "rules/ruleset.h"
#include "service/checkpoint.h"
#include "service/checkpoint_sign.h"
#include "service/config.h"
#include "service/metrics.h"
#include "service/metrics_db.h"
#include "service/notify.h"
#include "service/service_int.h"
#include "service/service_reload.h"
#include "service/sources.h"
#include "service/sync_standby.h"
#include "service/tls.h"
#include "store/migrate.h"
#include "store/rulesets.h"
#include "store/store.h"
#include "util/log.h"

#define QUEUE_MAX ((size_t)4096) /* events awaiting the store, all connections together (~5 KiB each) */
#define STATUS_EVERY_S 5

/* loopback_only: every address host names is 127.0.0.0/8 or ::1 (an IPv4-mapped 127.x too).
 * A name that does not resolve, or an empty host (every address), is not. */
static bool loopback_only(const char *host)
{
    if (!host || !*host)
        return false;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return false;
    bool all = true;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)ai->ai_addr;
            all = all && (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
        } else if (ai->ai_family == AF_INET6) {
            const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
            all = all && (IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127));
        } else {
            all = false;
        }
    }
    freeaddrinfo(res);
    return all;
}

/* service_feed_exposed: the first TCP feed listener that anyone on the network could reach
 * without a client certificate (not loopback, [feed] tls not mutual), written "tcp:HOST:PORT"
 * into name; false when there is none. Anyone who reaches such a listener can inject events. */
static bool service_feed_exposed(const struct config *cfg, size_t *from, char *name, size_t namelen)
{
    if (strcmp(cfg->feed_tls, "mutual") == 0)
        return false;
    for (size_t i = *from; i < cfg->n_feed_listen; i++) {
        const struct listen_addr *l = &cfg->feed_listen[i];
        if (l->kind != LISTEN_TCP || loopback_only(l->host))
            continue;
        snprintf(name, namelen, strchr(l->host, ':') ? "tcp:[%s]:%d" : "tcp:%s:%d", l->host, l->port);
        *from = i + 1;
        return true;
    }
    return false;
}

/* service_checkpoint_files: with checkpoints on, the signing key loaded into svc, and the
 * checkpoint file (or, before the first checkpoint, its folder) writable; else err names the key
 * and the file. Nothing is created: `fcrd --check` runs this too. */
static int service_checkpoint_files(struct service *svc, char *err, size_t errlen)
{
    const struct config *cfg = svc->cur.cfg;
    if (cfg->audit_checkpoint_interval_s == 0)
        return 0;
    char msg[600];
    svc->ckpt_key = checkpoint_sign_load_private(cfg->audit_checkpoint_key, msg, sizeof(msg));
    if (!svc->ckpt_key) {
        snprintf(err, errlen, "[audit] checkpoint_key: %s", msg);
        return -1;
    }
    char *copy = strdup(cfg->audit_checkpoint_file);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    bool exists = access(cfg->audit_checkpoint_file, F_OK) == 0;
    const char *what = exists ? cfg->audit_checkpoint_file : dirname(copy);
    int rc = access(what, W_OK);
    if (rc != 0)
        snprintf(err, errlen, "[audit] checkpoint_file: %s%s: %s", exists ? "" : "the folder of the file, ", what,
                 strerror(errno));
    free(copy);
    return rc == 0 ? 0 : -1;
}

struct service *service_new(const char *config_path, char *err, size_t errlen)
{
    struct service *svc = calloc(1, sizeof(*svc));
    if (!svc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    svc->config_path = config_path;
    if (config_load(config_path, &svc->cur.cfg, err, errlen) != 0)
        return service_free(svc);
    log_set_journal(log_stderr_is_journal());
    service_state_apply_log(svc->cur.cfg);
    char exposed[300];
    size_t at = 0;
    if (strcmp(svc->cur.cfg->feed_allow_insecure, "yes") != 0 &&
        service_feed_exposed(svc->cur.cfg, &at, exposed, sizeof(exposed))) {
        snprintf(err, errlen,
                 "[feed] listen: %s is not a loopback address and [feed] tls is %s: anyone who can reach it "
                 "could send events; set [feed] tls = mutual, listen on 127.0.0.1 or a unix socket, or set "
                 "[feed] allow_insecure = yes to accept that",
                 exposed, svc->cur.cfg->feed_tls);
        return service_free(svc);
    }
    if (service_state_load_files(&svc->cur, strcmp(svc->cur.cfg->feed_tls, "off") != 0,
                                 strcmp(svc->cur.cfg->api_tls, "off") != 0, err, errlen) != 0)
        return service_free(svc);
    if (service_checkpoint_files(svc, err, errlen) != 0)
        return service_free(svc);
    svc->notify = notify_new();
    if (!svc->notify) {
        snprintf(err, errlen, "out of memory");
        return service_free(svc);
    }
    return svc;
}

const struct service_state *service_current(const struct service *svc)
{
    return &svc->cur;
}

/* ---- status --------------------------------------------------------------------------------- */

/* status_text: a one-line summary for `systemctl status`. */
static void status_text(const struct service *svc, const char *state, char *buf, size_t len)
{
    snprintf(buf, len, "%s: %zu feed connection(s), %zu event(s) in flight, database %s", state,
             feed_connections(svc->feed), store_backlog(svc->st), store_db_up(svc->st) ? "up" : "down");
}

/* status_send: send the summary when it has changed. */
static void status_send(struct service *svc, const char *state)
{
    char text[sizeof(svc->status)];
    status_text(svc, state, text, sizeof(text));
    if (strcmp(text, svc->status) == 0)
        return;
    snprintf(svc->status, sizeof(svc->status), "%s", text);
    notify_status(svc->notify, text);
}

static void status_cb(evutil_socket_t fd, short what, void *arg)
{
    struct service *svc = arg;
    (void)fd;
    (void)what;
    if (!svc->draining)
        status_send(svc, "serving");
}

/* The watchdog is fed only while this holds: the loop turned (or this would not run) and the
 * store is not wedged in a round trip far beyond its own deadline. */
static bool progress(void *arg)
{
    struct service *svc = arg;
    return store_batch_age(svc->st) < 3.0 * SERVICE_UNIT_TIMEOUT_MS / 1000.0;
}

static void sample(void *arg, struct metrics_sample *s)
{
    struct service *svc = arg;
    s->feed_connections = feed_connections(svc->feed);
    s->feed_inflight = feed_inflight(svc->feed);
    s->api_connections = api_connections(svc->api);
    s->store_backlog = store_backlog(svc->st);
    s->store_backlog_bytes = store_bytes(svc->st);
    s->db_up_store = store_db_up(svc->st);
    s->db_up_api = api_db_up(svc->api);
    s->reconnects_store = store_db_reconnects(svc->st);
    s->reconnects_api = api_db_reconnects(svc->api);
    s->draining = svc->draining;
    s->sync_standby_required = sync_standby_required(svc->sync);
    s->sync_standby_ok = sync_standby_ok(svc->sync);
    s->ruleset = ruleset_version(svc->cur.rs);
    s->tls_expiry = svc->cur.tls_feed  ? tls_not_after(svc->cur.tls_feed)
                    : svc->cur.tls_api ? tls_not_after(svc->cur.tls_api)
                                       : 0;
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    if (sig == SIGHUP)
        service_reload(arg);
    else
        service_drain(arg);
}

/* ---- start, run and free -------------------------------------------------------------------- */

size_t service_conn_budget(const struct config *cfg)
{
    size_t share = (cfg->memory_limit_mb << 18) / (cfg->feed_max_connections ? cfg->feed_max_connections : 1);
    return share < (64u << 10) ? 64u << 10 : share > (4u << 20) ? 4u << 20 : share;
}

void service_event_limits(const struct config *cfg, struct feed_event_limits *lim)
{
    feed_event_limits_default(lim);
    lim->max_tokens = cfg->feed_max_tokens;
    lim->max_unknown_bytes = cfg->feed_max_unknown_bytes;
}


/* The server for the API's reads changed (a standby caught up, or fell behind its bound). */
static void service_reads_moved(void *arg, bool to_standby)
{
    struct service *svc = arg;
    log_info("api: reads go to %s from now on", to_standby ? "[api] read_conninfo's server" : "the primary");
    api_set_read_conninfo(svc->api, api_readsrc_conninfo(svc->readsrc));
}

int service_start(struct service *svc, const char *allocator)
{
    const struct config *cfg = svc->cur.cfg;
    char err[1024];
    signal(SIGPIPE, SIG_IGN);
    /* The serving daemon never holds the schema owner's rights: migrations are `fcrd migrate`'s,
     * run before it (systemd's ExecStartPre=) from a file the serving account cannot read. */
    if (cfg->db_admin_conninfo)
        log_warn("[database] admin_conninfo is set in %s: the serving daemon does not use it and does not need it; "
                 "keep it only in the file `fcrd migrate --config` reads",
                 svc->config_path);
    int schema = migrate_latest(cfg->sql_dir, err, sizeof(err));
    if (schema < 0) {
        log_error("[database] migrations: %s", err);
        return -1;
    }
    /* A schema behind this build's migrations, or a database not reachable yet, is not a reason to
     * exit: fcrd serves `retry` and stays not ready, and its connections check again every time
     * they connect (pgconn_require_schema), as they do when the database goes down. */
    enum migrate_check check = migrate_check_serving(cfg->db_conninfo, cfg->sql_dir, err, sizeof(err));
    if (check == MIGRATE_CHECK_REFUSED) {
        log_error("database: %s", err);
        return -1;
    }
    if (check == MIGRATE_CHECK_BEHIND)
        log_error("database: %s", err);
    else if (check == MIGRATE_CHECK_NO_DB)
        log_warn("database: %s; not ready until it can be reached", err);
    /* Before the loop: the stored rule sets are read and the loaded one is stored, or fcrd refuses
     * to start when its version is stored with another content. When the database cannot tell yet,
     * the first batch stores the rule set in its own transaction (store_lane.c), and a version
     * stored with another content is refused there, logged, and recorded nothing. */
    svc->known = rulesets_new();
    if (!svc->known)
        return -1;
    int stored = check == MIGRATE_CHECK_OK ? rulesets_sync(svc->known, cfg->db_conninfo, svc->cur.rs, err, sizeof(err))
                                           : 3;
    if (stored < 0) {
        log_error("[rules] file %s: %s", cfg->rules_file, err);
        return -1;
    }
    if (stored == 3)
        log_info("rule set %s, sha256 %s: stored by the first batch once the database is ready",
                 ruleset_version(svc->cur.rs), ruleset_sha256(svc->cur.rs));
    else if (stored == 2)
        log_warn("rule set %s: %s", ruleset_version(svc->cur.rs), err);
    else
        log_info("rule set %s, sha256 %s: %s (%zu version(s) stored)", ruleset_version(svc->cur.rs),
                 ruleset_sha256(svc->cur.rs), stored ? "stored now" : "stored already", rulesets_count(svc->known));
    svc->base = event_base_new();
    svc->metrics = metrics_new();
    if (!svc->base || !svc->metrics)
        return -1;
    struct store_params ip = {
        .conninfo = cfg->db_conninfo,
        .force = cfg->force_code,
        .batch_max = cfg->batch_max,
        .lanes = cfg->store_lanes,
        .state_cache = cfg->store_state_cache,
        .state_cache_min = cfg->store_state_cache_min,
        /* Bounded memory: at most this many parsed events wait for the database, whatever the
         * number of connections; beyond it lines are answered retry/overloaded. */
        .queue_max = QUEUE_MAX < cfg->feed_max_inflight * cfg->feed_max_connections
                         ? QUEUE_MAX
                         : cfg->feed_max_inflight * cfg->feed_max_connections,
        /* and by bytes: half the memory bound for parsed events (docs/reliability.md, "Memory bound") */
        .queue_bytes_max = cfg->memory_limit_mb << 19,
        .caps = {cfg->feed_max_persons_per_incident, cfg->feed_max_allegations_per_incident,
                 cfg->feed_max_links_per_incident},
        .unit_timeout_ms = SERVICE_UNIT_TIMEOUT_MS,
        .connect_timeout_ms = cfg->db_connect_timeout_ms,
        .reconnect_max_ms = cfg->db_reconnect_max_ms,
        .max_seq_gap = (int64_t)cfg->feed_max_seq_gap,
        .schema = schema,
        .metrics = svc->metrics,
    };
    svc->st = store_new(svc->base, &ip, svc->cur.rs);
    if (!svc->st)
        return -1;
    struct sync_standby_params sp = {
        .conninfo = cfg->db_conninfo,
        .connect_timeout_ms = cfg->db_connect_timeout_ms,
        .reconnect_max_ms = cfg->db_reconnect_max_ms,
        .interval_ms = cfg->db_sync_standby_check_ms,
        .required = strcmp(cfg->db_require_sync_standby, "yes") == 0,
        .st = svc->st,
    };
    svc->sync = sync_standby_new(svc->base, &sp);
    if (!svc->sync)
        return -1;
    struct feed_params fp = {
        .max_line = cfg->feed_max_line,
        .max_inflight = cfg->feed_max_inflight,
        .max_connections = cfg->feed_max_connections,
        .max_output = service_conn_budget(cfg),
        .sources = cfg->sources,
        .max_per_source = cfg->feed_max_connections_per_source,
        .reserved = cfg->feed_reserved_connections,
        .first_line_timeout_s = cfg->feed_first_line_timeout_s,
        .keepalive_s = cfg->feed_keepalive_s,
        .keepalive_interval_s = cfg->feed_keepalive_interval_s,
        .keepalive_count = cfg->feed_keepalive_count,
        .refusal_interval_s = cfg->log_refusal_interval_s,
        .accept_pause_ms = cfg->accept_pause_ms,
        .metrics = svc->metrics,
        .tls = svc->cur.tls_feed,
    };
    service_event_limits(cfg, &fp.limits);
    char exposed[300];
    for (size_t at = 0; service_feed_exposed(cfg, &at, exposed, sizeof(exposed));)
        log_warn("feed: %s accepts events from anyone who can reach it: not a loopback address, [feed] tls "
                 "is %s and [feed] allow_insecure = yes",
                 exposed, cfg->feed_tls);
    svc->feed = feed_new(svc->base, &fp, cfg->feed_listen, cfg->n_feed_listen, svc->st, err, sizeof(err));
    if (!svc->feed) {
        log_error("%s", err);
        return -1;
    }
    struct api_params ap = {
        .host = cfg->api_listen.host,
        .port = cfg->api_listen.port,
        .limits = {cfg->api_max_body, cfg->api_whatif_max_body, cfg->api_audit_sample_max,
                   {cfg->api_auth_failures_max, cfg->api_auth_failure_window_s, cfg->api_auth_block_s},
                   strcmp(cfg->api_require_purpose, "yes") == 0, cfg->api_access_log_timeout_ms,
                   cfg->api_max_connections, cfg->api_header_timeout_ms, cfg->api_body_timeout_ms,
                   cfg->api_read_statement_timeout_ms, cfg->api_stream_heartbeat_s, cfg->api_max_streams,
                   cfg->retention_incident_s, cfg->retention_crime_s, ""},
        .conninfo = cfg->db_conninfo,
        .read_connections = cfg->api_read_connections,
        .accept_pause_ms = cfg->accept_pause_ms,
        .ready_backlog = ip.queue_max / 2,
        .connect_timeout_ms = cfg->db_connect_timeout_ms,
        .schema = schema,
        .reconnect_max_ms = cfg->db_reconnect_max_ms,
        .metrics = svc->metrics,
        .tls = svc->cur.tls_api,
    };
    snprintf(ap.limits.retention_crime_groups, sizeof(ap.limits.retention_crime_groups), "%s",
             cfg->retention_crime_groups ? cfg->retention_crime_groups : "");
    svc->api = api_new(svc->base, &ap, svc->cur.tokens, svc->cur.rs, svc->st, err, sizeof(err));
    if (!svc->api) {
        log_error("%s", err);
        return -1;
    }
    struct api_readsrc_params rp = {
        .on_change = service_reads_moved,
        .arg = svc,
        .primary_conninfo = cfg->db_conninfo,
        .read_conninfo = cfg->api_read_conninfo,
        .max_lag_ms = cfg->api_read_max_lag_ms,
        .connect_timeout_ms = cfg->db_connect_timeout_ms,
        .reconnect_max_ms = cfg->db_reconnect_max_ms,
    };
    svc->readsrc = api_readsrc_new(svc->base, &rp);
    if (!svc->readsrc)
        return -1;
    svc->mdb = metrics_db_new(svc->base, cfg->db_conninfo, cfg->db_connect_timeout_ms, cfg->api_metrics_refresh_ms,
                              schema, svc->metrics, svc->cur.rs);
    if (!svc->mdb)
        return -1;
    if (svc->ckpt_key) {
        struct checkpoint_params cp = {cfg->db_conninfo, cfg->db_connect_timeout_ms, cfg->audit_checkpoint_interval_s,
                                       cfg->audit_checkpoint_file, svc->metrics};
        svc->ckpt = checkpoint_new(svc->base, &cp, svc->ckpt_key);
        svc->ckpt_key = NULL; /* taken over, also on failure */
        if (!svc->ckpt)
            return -1;
        log_info("audit checkpoints every %d s to %s", cfg->audit_checkpoint_interval_s, cfg->audit_checkpoint_file);
    }
    metrics_set_sampler(svc->metrics, sample, svc);
    svc->sig_int = evsignal_new(svc->base, SIGINT, signal_cb, svc);
    svc->sig_term = evsignal_new(svc->base, SIGTERM, signal_cb, svc);
    svc->sig_hup = evsignal_new(svc->base, SIGHUP, signal_cb, svc);
    svc->status_timer = event_new(svc->base, -1, EV_PERSIST, status_cb, svc);
    if (!svc->sig_int || !svc->sig_term || !svc->sig_hup || !svc->status_timer)
        return -1;
    evsignal_add(svc->sig_int, NULL);
    evsignal_add(svc->sig_term, NULL);
    evsignal_add(svc->sig_hup, NULL);
    struct timeval every = {STATUS_EVERY_S, 0};
    evtimer_add(svc->status_timer, &every);
    svc->started = true;
    log_info("fcrd %s: rule set %s, force %s, allocator %s", FCRD_VERSION, ruleset_version(svc->cur.rs),
             cfg->force_code, allocator);
    log_info("feed listening on %s%s", feed_describe(svc->feed),
             svc->cur.tls_feed ? (strcmp(cfg->feed_tls, "mutual") == 0 ? " (TLS, client certificates required on tcp)"
                                                                       : " (TLS on tcp)")
                               : "");
    if (cfg->sources)
        log_info("feed: %zu source(s) configured in [sources]; connections no entry names are refused",
                 sources_count(cfg->sources));
    else
        log_info("feed: [sources] is not configured: every feed connection is source '%s' and its events are "
                 "stored as such",
                 SOURCES_DEFAULT);
    log_info("api listening on %s://%s", svc->cur.tls_api ? "https" : "http", api_describe(svc->api));
    if (svc->cur.tls_feed)
        log_info("feed TLS: %s", tls_describe(svc->cur.tls_feed));
    if (svc->cur.tls_api)
        log_info("api TLS: %s", tls_describe(svc->cur.tls_api));
    if (notify_enabled(svc->notify))
        log_debug("systemd notification on; watchdog %s",
                  notify_watchdog_usec(svc->notify) ? "on" : "off (WatchdogSec= not set)");
    status_text(svc, "serving", svc->status, sizeof(svc->status));
    notify_ready(svc->notify, svc->status);
    if (notify_watchdog_start(svc->notify, svc->base, progress, svc) != 0)
        return -1;
    return 0;
}

int service_run(struct service *svc)
{
    event_base_dispatch(svc->base);
    notify_stopping(svc->notify, "stopped");
    log_info("stopped");
    return 0;
}

struct service *service_free(struct service *svc)
{
    if (!svc)
        return NULL;
    /* The standby count holds the store: it goes before it. The store then drops the replies it
     * still owes, then the feed frees their lines. */
    svc->sync = sync_standby_free(svc->sync);
    svc->st = store_free(svc->st);
    svc->feed = feed_free(svc->feed);
    svc->mdb = metrics_db_free(svc->mdb);
    svc->ckpt = checkpoint_free(svc->ckpt);
    EVP_PKEY_free(svc->ckpt_key);
    svc->ckpt_key = NULL;
    svc->api = api_free(svc->api);
    svc->readsrc = api_readsrc_free(svc->readsrc);
    svc->known = rulesets_free(svc->known);
    struct event *evs[] = {svc->sig_int, svc->sig_term, svc->sig_hup, svc->drain_timer, svc->status_timer};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    svc->notify = notify_free(svc->notify); /* its watchdog timer lives on the base */
    if (svc->base)
        event_base_free(svc->base);
    svc->metrics = metrics_free(svc->metrics);
    service_state_clear(&svc->cur);
    free(svc);
    return NULL;
}
