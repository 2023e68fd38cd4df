/* main.c: fcrd's entry point: arguments, start-up checks, wiring of the modules, signals
 * (SIGHUP reloads, SIGTERM/SIGINT drain), systemd notification. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "service/config.h"
#include "feed/feed.h"
#include "store/store.h"
#include "util/log.h"
#include "service/metrics.h"
#include "service/metrics_db.h"
#include "store/migrate.h"
#include "service/notify.h"
#include "rules/ruleset.h"
#include "service/tls.h"
#include "api/tokens.h"

/* Everything the running daemon owns. One instance, passed around; no globals. */
struct fcrd {
    const char *config_path;
    struct event_base *base;
    struct config *cfg; /* what runs: the file's values, but restart-only keys as at start */
    struct ruleset *rs;
    struct tokens *tokens;
    struct tls *tls_feed, *tls_api; /* NULL where TLS is off */
    struct metrics *metrics;
    struct metrics_db *mdb;
    struct notify *notify;
    struct store *st;
    struct feed *feed;
    struct api *api;
    struct event *sig_int, *sig_term, *sig_hup;
    struct event *drain_timer, *status_timer;
    bool draining;
    bool drain_failed_queued; /* the queued events were answered retry/shutting_down */
    double drain_started;     /* metrics_clock() */
    char status[256];         /* the last STATUS= sent */
};

#define QUEUE_MAX ((size_t)4096) /* events awaiting the store, all connections together (~5 KiB each) */
#define DRAIN_POLL_MS 50
#define STATUS_EVERY_S 5
#define UNIT_TIMEOUT_MS 10000

static void usage(FILE *out)
{
    fprintf(out, "usage: fcrd --config FILE [--check]\n"
                 "       fcrd --version\n"
                 "       fcrd --routes\n"
                 "  --config FILE  configuration file (INI)\n"
                 "  --check        validate the configuration, the rule set, the tokens file and the TLS\n"
                 "                 files, then exit\n"
                 "  --routes       list the API's routes (METHOD PATH ROLE), then exit\n");
}

/* ---- what a configuration loads ------------------------------------------------------------- */

/* The files a configuration names, loaded together so that a start or a reload takes all of
 * them or none. */
struct loaded {
    struct ruleset *rs;
    struct tokens *tokens;
    struct tls *tls_feed, *tls_api;
};

static void loaded_clear(struct loaded *l)
{
    l->rs = ruleset_free(l->rs);
    l->tokens = tokens_free(l->tokens);
    l->tls_feed = tls_free(l->tls_feed);
    l->tls_api = tls_free(l->tls_api);
}

/* load_files: the rule set, the tokens and, where want_feed / want_api, the TLS contexts.
 * Returns 0, or -1 with err naming the key and the file's problem. */
static int load_files(const struct config *cfg, bool want_feed_tls, bool want_api_tls, struct loaded *out,
                      char *err, size_t errlen)
{
    char msg[900];
    *out = (struct loaded){0};
    if (ruleset_load(cfg->rules_file, &out->rs, msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "[rules] file: %s", msg);
        return -1;
    }
    if (tokens_load(cfg->api_tokens, &out->tokens, msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "[api] tokens: %s", msg);
        loaded_clear(out);
        return -1;
    }
    struct tls_params tp = {cfg->tls_cert, cfg->tls_key, NULL, NULL};
    if (want_feed_tls) {
        bool mutual = strcmp(cfg->feed_tls, "mutual") == 0;
        tp.client_ca = mutual ? cfg->tls_client_ca : NULL;
        tp.client_subjects = mutual ? cfg->tls_client_subjects : NULL;
        if (tls_new(&out->tls_feed, &tp, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "[tls] for the feed: %s", msg);
            loaded_clear(out);
            return -1;
        }
    }
    if (want_api_tls) {
        tp.client_ca = tp.client_subjects = NULL;
        if (tls_new(&out->tls_api, &tp, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "[tls] for the api: %s", msg);
            loaded_clear(out);
            return -1;
        }
    }
    return 0;
}

static void apply_log_settings(const struct config *cfg)
{
    int lvl = log_level_parse(cfg->log_level);
    log_set_level(lvl < 0 ? LOG_LVL_INFO : (enum log_level)lvl);
    int fmt = log_format_parse(cfg->log_format);
    log_set_format(fmt < 0 ? LOG_FORMAT_PLAIN : (enum log_format)fmt);
}

/* ---- status --------------------------------------------------------------------------------- */

/* status_text: a one-line summary for `systemctl status`. */
static void status_text(const struct fcrd *d, const char *state, char *buf, size_t len)
{
    snprintf(buf, len, "%s: %zu feed connection(s), %zu event(s) in flight, database %s", state,
             feed_connections(d->feed), store_backlog(d->st), store_db_up(d->st) ? "up" : "down");
}

/* fcrd_status: send the summary when it has changed. */
static void fcrd_status(struct fcrd *d, const char *state)
{
    char text[sizeof(d->status)];
    status_text(d, state, text, sizeof(text));
    if (strcmp(text, d->status) == 0)
        return;
    snprintf(d->status, sizeof(d->status), "%s", text);
    notify_status(d->notify, text);
}

static void status_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fcrd *d = arg;
    (void)fd;
    (void)what;
    if (!d->draining)
        fcrd_status(d, "serving");
}

/* The watchdog is fed only while this holds: the loop turned (or this would not run) and the
 * store is not wedged in a round trip far beyond its own deadline. */
static bool fcrd_progress(void *arg)
{
    struct fcrd *d = arg;
    return store_batch_age(d->st) < 3.0 * UNIT_TIMEOUT_MS / 1000.0;
}

static void fcrd_sample(void *arg, struct metrics_sample *s)
{
    struct fcrd *d = arg;
    s->feed_connections = feed_connections(d->feed);
    s->feed_inflight = feed_inflight(d->feed);
    s->store_backlog = store_backlog(d->st);
    s->db_up_store = store_db_up(d->st);
    s->db_up_api = api_db_up(d->api);
    s->reconnects_store = store_db_reconnects(d->st);
    s->reconnects_api = api_db_reconnects(d->api);
    s->draining = d->draining;
    s->ruleset = ruleset_version(d->rs);
    s->tls_expiry = d->tls_feed ? tls_not_after(d->tls_feed) : d->tls_api ? tls_not_after(d->tls_api) : 0;
}

/* ---- reload --------------------------------------------------------------------------------- */

/* log_changes: one line per setting that differs between the running configuration and the new
 * file, saying whether it applies now or at the next start. Returns the number of changes. */
static size_t log_changes(const struct config *old, const struct config *next, size_t *restart)
{
    size_t changed = 0;
    *restart = 0;
    for (size_t i = 0; i < config_keys_count(); i++) {
        if (config_key_equal(old, next, i))
            continue;
        const char *name;
        bool reloadable;
        char before[512], after[512];
        config_key_render(old, i, &name, &reloadable, before, sizeof(before));
        config_key_render(next, i, NULL, NULL, after, sizeof(after));
        if (strcmp(before, after) == 0) /* only a masked secret differs */
            snprintf(after, sizeof(after), "(a changed secret)");
        changed++;
        if (reloadable) {
            log_info("reload: %s: %s -> %s", name, before, after);
        } else {
            (*restart)++;
            log_warn("reload: %s: %s -> %s needs a restart; still using %s", name, before, after, before);
        }
    }
    return changed;
}

/* fcrd_reload: SIGHUP. Parse -> validate -> load every named file -> swap, all or nothing: a
 * broken file, rule set, tokens file or certificate changes nothing and says why. */
static void fcrd_reload(struct fcrd *d)
{
    if (d->draining) {
        log_warn("reload: ignored while stopping");
        return;
    }
    notify_reloading(d->notify, "reloading the configuration");
    char err[1400];
    struct config *next = NULL;
    struct loaded l = {0};
    if (config_load(d->config_path, &next, err, sizeof(err)) != 0 ||
        load_files(next, d->tls_feed != NULL, d->tls_api != NULL, &l, err, sizeof(err)) != 0) {
        log_error("reload: %s; nothing was changed", err);
        metrics_reload(d->metrics, false);
        config_free(next);
        d->status[0] = '\0';
        notify_ready(d->notify, "serving; the last reload failed, see the log");
        return;
    }
    size_t restart = 0;
    size_t changed = log_changes(d->cfg, next, &restart);
    if (config_keep_running(next, d->cfg) < 0) {
        log_error("reload: out of memory; nothing was changed");
        metrics_reload(d->metrics, false);
        config_free(next);
        loaded_clear(&l);
        notify_ready(d->notify, "serving; the last reload failed, see the log");
        return;
    }

    /* Swap. Batches decide synchronously, so nothing holds the old rule set after this callback. */
    if (strcmp(ruleset_version(d->rs), ruleset_version(l.rs)) != 0)
        log_info("reload: rule set %s -> %s", ruleset_version(d->rs), ruleset_version(l.rs));
    store_set_ruleset(d->st, l.rs);
    api_set_ruleset(d->api, l.rs);
    metrics_db_set_ruleset(d->mdb, l.rs);
    ruleset_free(d->rs);
    d->rs = l.rs;
    api_set_tokens(d->api, l.tokens);
    tokens_free(d->tokens);
    d->tokens = l.tokens;
    if (l.tls_feed) {
        tls_adopt(d->tls_feed, l.tls_feed); /* new connections only */
        log_info("reload: feed TLS: %s", tls_describe(d->tls_feed));
    }
    if (l.tls_api) {
        tls_adopt(d->tls_api, l.tls_api);
        log_info("reload: api TLS: %s", tls_describe(d->tls_api));
    }
    struct feed_params fp = {
        .max_line = next->feed_max_line,
        .max_inflight = next->feed_max_inflight,
        .max_connections = next->feed_max_connections,
    };
    feed_set_limits(d->feed, &fp);
    api_set_max_body(d->api, next->api_max_body);
    store_set_batch_max(d->st, next->batch_max);
    metrics_db_set_interval(d->mdb, next->api_metrics_refresh_ms);
    apply_log_settings(next);
    config_free(d->cfg);
    d->cfg = next;

    if (changed == 0)
        log_info("reload: done; no setting changed (rule set, tokens%s re-read)",
                 d->tls_feed || d->tls_api ? ", certificates" : "");
    else
        log_info("reload: done; %zu setting(s) changed, %zu of them waiting for a restart", changed, restart);
    metrics_reload(d->metrics, true);
    d->status[0] = '\0';
    notify_ready(d->notify, "serving; configuration reloaded");
}

/* ---- drain ---------------------------------------------------------------------------------- */

static void drain_check_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fcrd *d = arg;
    (void)fd;
    (void)what;
    double limit = d->cfg->drain_timeout_ms / 1000.0;
    double waited = metrics_clock() - d->drain_started;
    if (store_idle(d->st) && feed_inflight(d->feed) == 0 && feed_unsent(d->feed) == 0) {
        log_info("drain: everything in flight was answered after %.0f ms", waited * 1000);
        event_base_loopexit(d->base, NULL);
        return;
    }
    /* Near the bound, queued events that will not make it are told to come back; the last
     * stretch is left for those replies to go out. A batch whose COMMIT is in flight is never
     * answered retry: it may commit, and its senders learn the outcome when they resend. */
    double margin = limit / 4 < 1.0 ? limit / 4 : 1.0;
    if (!d->drain_failed_queued && waited >= limit - margin) {
        d->drain_failed_queued = true;
        size_t queued = store_backlog(d->st);
        store_fail_queued(d->st, "shutting_down", "fcrd is stopping; reconnect and send the event again");
        log_warn("drain: %zu event(s) still waiting; the queued ones were answered retry/shutting_down", queued);
    }
    if (waited >= limit) {
        log_warn("drain: %zu event(s) still in flight after %d ms; stopping without their replies "
                 "(their senders resend them)",
                 store_backlog(d->st), d->cfg->drain_timeout_ms);
        event_base_loopexit(d->base, NULL);
        return;
    }
    struct timeval tv = {0, DRAIN_POLL_MS * 1000};
    evtimer_add(d->drain_timer, &tv);
}

/* fcrd_drain: SIGINT/SIGTERM. Stop accepting; lines that arrive on open connections are answered
 * retry/shutting_down; what is in flight commits and is answered; exit within the bound. */
static void fcrd_drain(struct fcrd *d)
{
    if (d->draining) {
        log_warn("second stop signal: exiting now");
        event_base_loopexit(d->base, NULL);
        return;
    }
    d->draining = true;
    d->drain_started = metrics_clock();
    char status[128];
    snprintf(status, sizeof(status), "stopping: finishing %zu event(s) in flight", store_backlog(d->st));
    notify_stopping(d->notify, status);
    log_info("stopping: no new connections; finishing %zu event(s) in flight within %d ms", store_backlog(d->st),
             d->cfg->drain_timeout_ms);
    feed_stop_listening(d->feed);
    feed_set_draining(d->feed);
    api_set_draining(d->api, true);
    d->drain_timer = evtimer_new(d->base, drain_check_cb, d);
    if (!d->drain_timer) {
        event_base_loopexit(d->base, NULL);
        return;
    }
    drain_check_cb(-1, 0, d);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    if (sig == SIGHUP)
        fcrd_reload(arg);
    else
        fcrd_drain(arg);
}

/* ---- start and stop ------------------------------------------------------------------------- */

static int fcrd_start(struct fcrd *d)
{
    char err[1024];
    notify_status(d->notify, "applying schema migrations");
    int applied = migrate_run(d->cfg->db_admin_conninfo, d->cfg->sql_dir, err, sizeof(err));
    if (applied < 0) {
        log_error("schema: %s", err);
        return -1;
    }
    if (migrate_check_serving(d->cfg->db_conninfo, d->cfg->sql_dir, err, sizeof(err)) != 0) {
        log_error("database: %s", err);
        return -1;
    }
    d->base = event_base_new();
    d->metrics = metrics_new();
    if (!d->base || !d->metrics)
        return -1;
    struct store_params ip = {
        .conninfo = d->cfg->db_conninfo,
        .force = d->cfg->force_code,
        .batch_max = d->cfg->batch_max,
        .lanes = d->cfg->store_lanes,
        /* Bounded memory: at most this many parsed events wait for the database, whatever the
         * number of connections; beyond it lines are answered retry/overloaded. */
        .queue_max = QUEUE_MAX < d->cfg->feed_max_inflight * d->cfg->feed_max_connections
                         ? QUEUE_MAX
                         : d->cfg->feed_max_inflight * d->cfg->feed_max_connections,
        .unit_timeout_ms = UNIT_TIMEOUT_MS,
        .connect_timeout_ms = d->cfg->db_connect_timeout_ms,
        .metrics = d->metrics,
    };
    d->st = store_new(d->base, &ip, d->rs);
    if (!d->st)
        return -1;
    struct feed_params fp = {
        .max_line = d->cfg->feed_max_line,
        .max_inflight = d->cfg->feed_max_inflight,
        .max_connections = d->cfg->feed_max_connections,
        .metrics = d->metrics,
        .tls = d->tls_feed,
    };
    feed_event_limits_default(&fp.limits);
    d->feed = feed_new(d->base, &fp, d->cfg->feed_listen, d->cfg->n_feed_listen, d->st, err, sizeof(err));
    if (!d->feed) {
        log_error("%s", err);
        return -1;
    }
    struct api_params ap = {
        .host = d->cfg->api_listen.host,
        .port = d->cfg->api_listen.port,
        .max_body = d->cfg->api_max_body,
        .conninfo = d->cfg->db_conninfo,
        .ready_backlog = ip.queue_max / 2,
        .connect_timeout_ms = d->cfg->db_connect_timeout_ms,
        .metrics = d->metrics,
        .tls = d->tls_api,
    };
    d->api = api_new(d->base, &ap, d->tokens, d->rs, d->st, err, sizeof(err));
    if (!d->api) {
        log_error("%s", err);
        return -1;
    }
    d->mdb = metrics_db_new(d->base, d->cfg->db_conninfo, d->cfg->db_connect_timeout_ms,
                            d->cfg->api_metrics_refresh_ms, d->metrics, d->rs);
    if (!d->mdb)
        return -1;
    metrics_set_sampler(d->metrics, fcrd_sample, d);
    d->sig_int = evsignal_new(d->base, SIGINT, signal_cb, d);
    d->sig_term = evsignal_new(d->base, SIGTERM, signal_cb, d);
    d->sig_hup = evsignal_new(d->base, SIGHUP, signal_cb, d);
    d->status_timer = event_new(d->base, -1, EV_PERSIST, status_cb, d);
    if (!d->sig_int || !d->sig_term || !d->sig_hup || !d->status_timer)
        return -1;
    evsignal_add(d->sig_int, NULL);
    evsignal_add(d->sig_term, NULL);
    evsignal_add(d->sig_hup, NULL);
    struct timeval every = {STATUS_EVERY_S, 0};
    evtimer_add(d->status_timer, &every);
    log_info("fcrd %s: rule set %s, force %s, allocator %s", FCRD_VERSION, ruleset_version(d->rs), d->cfg->force_code,
             FCRD_ALLOCATOR);
    log_info("feed listening on %s%s", feed_describe(d->feed),
             d->tls_feed ? (strcmp(d->cfg->feed_tls, "mutual") == 0 ? " (TLS, client certificates required on tcp)"
                                                                      : " (TLS on tcp)")
                         : "");
    log_info("api listening on %s://%s", d->tls_api ? "https" : "http", api_describe(d->api));
    if (d->tls_feed)
        log_info("feed TLS: %s", tls_describe(d->tls_feed));
    if (d->tls_api)
        log_info("api TLS: %s", tls_describe(d->tls_api));
    if (notify_enabled(d->notify))
        log_debug("systemd notification on; watchdog %s",
                  notify_watchdog_usec(d->notify) ? "on" : "off (WatchdogSec= not set)");
    status_text(d, "serving", d->status, sizeof(d->status));
    notify_ready(d->notify, d->status);
    if (notify_watchdog_start(d->notify, d->base, fcrd_progress, d) != 0)
        return -1;
    return 0;
}

static void fcrd_stop(struct fcrd *d)
{
    /* The store first: it drops the replies it still owes, then the feed frees their lines. */
    d->st = store_free(d->st);
    d->feed = feed_free(d->feed);
    d->mdb = metrics_db_free(d->mdb);
    d->api = api_free(d->api);
    struct event *evs[] = {d->sig_int, d->sig_term, d->sig_hup, d->drain_timer, d->status_timer};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    d->notify = notify_free(d->notify); /* its watchdog timer lives on the base */
    if (d->base)
        event_base_free(d->base);
    d->metrics = metrics_free(d->metrics);
    d->rs = ruleset_free(d->rs);
    d->tokens = tokens_free(d->tokens);
    d->tls_feed = tls_free(d->tls_feed);
    d->tls_api = tls_free(d->tls_api);
    d->cfg = config_free(d->cfg);
}

int main(int argc, char **argv)
{
    bool check = false;
    struct fcrd d = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            d.config_path = argv[++i];
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("fcrd %s (allocator %s)\n", FCRD_VERSION, FCRD_ALLOCATOR);
            return 0;
        } else if (strcmp(argv[i], "--routes") == 0) {
            api_routes_print(stdout);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "fcrd: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!d.config_path) {
        usage(stderr);
        return 2;
    }
    char err[1400];
    if (config_load(d.config_path, &d.cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "fcrd: %s\n", err);
        return 1;
    }
    log_set_journal(log_stderr_is_journal());
    apply_log_settings(d.cfg);
    struct loaded l;
    if (load_files(d.cfg, strcmp(d.cfg->feed_tls, "off") != 0, strcmp(d.cfg->api_tls, "off") != 0, &l, err,
                   sizeof(err)) != 0) {
        fprintf(stderr, "fcrd: %s\n", err);
        fcrd_stop(&d);
        return 1;
    }
    d.rs = l.rs;
    d.tokens = l.tokens;
    d.tls_feed = l.tls_feed;
    d.tls_api = l.tls_api;
    if (check) {
        printf("fcrd: %s is valid (rule set %s)\n", d.config_path, ruleset_version(d.rs));
        fcrd_stop(&d);
        return 0;
    }
    d.notify = notify_new();
    if (!d.notify) {
        fprintf(stderr, "fcrd: out of memory\n");
        fcrd_stop(&d);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (fcrd_start(&d) != 0) {
        fcrd_stop(&d);
        return 1;
    }
    event_base_dispatch(d.base);
    notify_stopping(d.notify, "stopped");
    log_info("stopped");
    fcrd_stop(&d);
    return 0;
}
