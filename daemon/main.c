/* main.c: fcrd's entry point: arguments, start-up checks, wiring of the modules, signals. */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "feed.h"
#include "ingest.h"
#include "log.h"
#include "migrate.h"
#include "ruleset.h"
#include "tokens.h"

/* Everything the running daemon owns. One instance, passed around; no globals. */
struct fcrd {
    struct event_base *base;
    struct config *cfg;
    struct ruleset *rs;
    struct tokens *tokens;
    struct ingest *ing;
    struct feed *feed;
    struct api *api;
    struct event *sig_int, *sig_term, *sig_hup;
    struct event *drain_timer;
    bool draining;
};

#define DRAIN_POLL_MS 50
#define DRAIN_LIMIT_MS 10000

static void usage(FILE *out)
{
    fprintf(out, "usage: fcrd --config FILE [--check]\n"
                 "       fcrd --version\n"
                 "  --config FILE  configuration file (INI)\n"
                 "  --check        validate the configuration, the rule set and the tokens file, then exit\n");
}

/* Load the files the configuration names. Returns 0 or -1 with err. */
static int load_rules_and_tokens(const struct config *cfg, struct ruleset **rs, struct tokens **tokens, char *err,
                                 size_t errlen)
{
    char msg[900];
    if (ruleset_load(cfg->rules_file, rs, msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "[rules] file: %s", msg);
        return -1;
    }
    if (tokens_load(cfg->api_tokens, tokens, msg, sizeof(msg)) != 0) {
        *rs = ruleset_free(*rs);
        snprintf(err, errlen, "[api] tokens: %s", msg);
        return -1;
    }
    return 0;
}

/* SIGHUP: re-read the rule set and the tokens; a file that does not load keeps the old one. */
static void fcrd_reload(struct fcrd *d)
{
    char msg[1024];
    struct ruleset *rs = NULL;
    if (ruleset_load(d->cfg->rules_file, &rs, msg, sizeof(msg)) != 0) {
        log_error("reload: rule set %s not loaded, keeping %s: %s", d->cfg->rules_file, ruleset_version(d->rs), msg);
    } else {
        log_info("reload: rule set %s -> %s", ruleset_version(d->rs), ruleset_version(rs));
        ingest_set_ruleset(d->ing, rs); /* batches decide synchronously: nothing holds the old one now */
        api_set_ruleset(d->api, rs);
        ruleset_free(d->rs);
        d->rs = rs;
    }
    struct tokens *t = NULL;
    if (tokens_load(d->cfg->api_tokens, &t, msg, sizeof(msg)) != 0) {
        log_error("reload: tokens file not loaded, keeping the old tokens: %s", msg);
    } else {
        api_set_tokens(d->api, t);
        tokens_free(d->tokens);
        d->tokens = t;
        log_info("reload: tokens file re-read");
    }
}

static void drain_check_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fcrd *d = arg;
    (void)fd;
    (void)what;
    static int waited_ms; /* only this callback measures the drain */
    waited_ms += DRAIN_POLL_MS;
    if ((ingest_idle(d->ing) && feed_inflight(d->feed) == 0) || waited_ms >= DRAIN_LIMIT_MS) {
        if (waited_ms >= DRAIN_LIMIT_MS)
            log_warn("drain: %zu event(s) still in flight after %d ms; stopping", ingest_backlog(d->ing),
                     DRAIN_LIMIT_MS);
        event_base_loopexit(d->base, NULL);
        return;
    }
    struct timeval tv = {0, DRAIN_POLL_MS * 1000};
    evtimer_add(d->drain_timer, &tv);
}

/* SIGINT/SIGTERM: stop accepting, let what is in flight commit and be answered, then exit. */
static void fcrd_drain(struct fcrd *d)
{
    if (d->draining) {
        log_warn("second stop signal: exiting now");
        event_base_loopexit(d->base, NULL);
        return;
    }
    d->draining = true;
    log_info("stopping: no new connections; finishing %zu event(s) in flight", ingest_backlog(d->ing));
    feed_stop_listening(d->feed);
    d->drain_timer = evtimer_new(d->base, drain_check_cb, d);
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

static int fcrd_start(struct fcrd *d)
{
    char err[1024];
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
    if (!d->base)
        return -1;
    struct ingest_params ip = {
        .conninfo = d->cfg->db_conninfo,
        .force = d->cfg->force_code,
        .batch_max = d->cfg->batch_max,
        .queue_max = d->cfg->feed_max_inflight * d->cfg->feed_max_connections,
        .unit_timeout_ms = 10000,
    };
    d->ing = ingest_new(d->base, &ip, d->rs);
    if (!d->ing)
        return -1;
    struct feed_params fp = {
        .max_line = d->cfg->feed_max_line,
        .max_inflight = d->cfg->feed_max_inflight,
        .max_connections = d->cfg->feed_max_connections,
    };
    event_limits_default(&fp.limits);
    d->feed = feed_new(d->base, &fp, d->cfg->feed_listen, d->cfg->n_feed_listen, d->ing, err, sizeof(err));
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
    };
    d->api = api_new(d->base, &ap, d->tokens, d->rs, d->ing, err, sizeof(err));
    if (!d->api) {
        log_error("%s", err);
        return -1;
    }
    d->sig_int = evsignal_new(d->base, SIGINT, signal_cb, d);
    d->sig_term = evsignal_new(d->base, SIGTERM, signal_cb, d);
    d->sig_hup = evsignal_new(d->base, SIGHUP, signal_cb, d);
    evsignal_add(d->sig_int, NULL);
    evsignal_add(d->sig_term, NULL);
    evsignal_add(d->sig_hup, NULL);
    log_info("fcrd %s: rule set %s, force %s", FCRD_VERSION, ruleset_version(d->rs), d->cfg->force_code);
    log_info("feed listening on %s", feed_describe(d->feed));
    log_info("api listening on http://%s", api_describe(d->api));
    return 0;
}

static void fcrd_stop(struct fcrd *d)
{
    d->feed = feed_free(d->feed);
    d->api = api_free(d->api);
    d->ing = ingest_free(d->ing);
    struct event *evs[] = {d->sig_int, d->sig_term, d->sig_hup, d->drain_timer};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    if (d->base)
        event_base_free(d->base);
    d->rs = ruleset_free(d->rs);
    d->tokens = tokens_free(d->tokens);
    d->cfg = config_free(d->cfg);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("fcrd %s\n", FCRD_VERSION);
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
    if (!config_path) {
        usage(stderr);
        return 2;
    }
    struct fcrd d = {0};
    char err[1200];
    if (config_load(config_path, &d.cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "fcrd: %s\n", err);
        return 1;
    }
    int lvl = log_level_parse(d.cfg->log_level);
    log_set_level(lvl < 0 ? LOG_LVL_INFO : (enum log_level)lvl);
    if (load_rules_and_tokens(d.cfg, &d.rs, &d.tokens, err, sizeof(err)) != 0) {
        fprintf(stderr, "fcrd: %s\n", err);
        fcrd_stop(&d);
        return 1;
    }
    if (check) {
        printf("fcrd: %s is valid (rule set %s)\n", config_path, ruleset_version(d.rs));
        fcrd_stop(&d);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    if (fcrd_start(&d) != 0) {
        fcrd_stop(&d);
        return 1;
    }
    event_base_dispatch(d.base);
    log_info("stopped");
    fcrd_stop(&d);
    return 0;
}
