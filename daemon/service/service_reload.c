/* service_reload.c: the reload of the configuration (SIGHUP). Parse -> validate -> load every
 * named file -> swap, all or nothing: a broken file, rule set, tokens file or certificate
 * changes nothing and says why. */
#include "service/service_reload.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "feed/feed.h"
#include "rules/ruleset.h"
#include "service/config.h"
#include "service/metrics.h"
#include "service/metrics_db.h"
#include "service/notify.h"
#include "service/sources.h"
#include "service/service_int.h"
#include "service/tls.h"
#include "store/rulesets.h"
#include "store/store.h"
#include "util/errbuf.h"
#include "util/log.h"

/* diff: every setting that differs between running and next, as the file has it (before
 * config_keep_running puts the restart-only ones back). Returns 0 or -1 when out of memory. */
static int diff(const struct config *running, const struct config *next, struct service_reload *r)
{
    size_t n = config_keys_count();
    r->changes = calloc(n ? n : 1, sizeof(*r->changes));
    if (!r->changes)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (config_key_equal(running, next, i))
            continue;
        struct service_reload_change *c = &r->changes[r->n_changes++];
        bool reloadable;
        config_key_render(running, i, &c->name, &reloadable, c->before, sizeof(c->before));
        config_key_render(next, i, NULL, NULL, c->after, sizeof(c->after));
        if (strcmp(c->before, c->after) == 0) /* only a masked secret differs */
            snprintf(c->after, sizeof(c->after), "(a changed secret)");
        c->restart = !reloadable;
        r->n_restart += c->restart;
    }
    return 0;
}

int service_reload_prepare(const struct service_state *running, const char *config_path, struct service_reload *out,
                           char *err, size_t errlen)
{
    *out = (struct service_reload){0};
    if (config_load(config_path, &out->next.cfg, err, errlen) != 0)
        return -1;
    if (diff(running->cfg, out->next.cfg, out) != 0 || config_keep_running(out->next.cfg, running->cfg) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* TLS is read for what runs with TLS: feed.tls and api.tls take effect only at a start. The
     * files are loaded after the restart-only keys were set back to the running values, so that
     * a reload that changes "on" to "mutual" does not start asking for client certificates. */
    if (service_state_load_files(&out->next, running->tls_feed != NULL, running->tls_api != NULL, err, errlen) != 0)
        goto fail;
    return 0;
fail:
    service_reload_discard(out);
    return -1;
}

void service_reload_commit(struct service_state *running, struct service_reload *r)
{
    if (strcmp(ruleset_version(running->rs), ruleset_version(r->next.rs)) != 0)
        log_info("reload: rule set %s -> %s (sha256 %s)", ruleset_version(running->rs), ruleset_version(r->next.rs),
                 ruleset_sha256(r->next.rs));
    ruleset_free(running->rs);
    running->rs = r->next.rs;
    r->next.rs = NULL;
    tokens_free(running->tokens);
    running->tokens = r->next.tokens;
    r->next.tokens = NULL;
    /* The live contexts stay: the listeners hold them. They take the fresh files' contents for
     * the handshakes that start from now on. */
    if (r->next.tls_feed) {
        tls_adopt(running->tls_feed, r->next.tls_feed);
        r->next.tls_feed = NULL;
        log_info("reload: feed TLS: %s", tls_describe(running->tls_feed));
    }
    if (r->next.tls_api) {
        tls_adopt(running->tls_api, r->next.tls_api);
        r->next.tls_api = NULL;
        log_info("reload: api TLS: %s", tls_describe(running->tls_api));
    }
    service_state_apply_log(r->next.cfg);
    config_free(running->cfg);
    running->cfg = r->next.cfg;
    r->next.cfg = NULL;
    service_reload_discard(r);
}

void service_reload_discard(struct service_reload *r)
{
    if (!r)
        return;
    service_state_clear(&r->next);
    free(r->changes);
    *r = (struct service_reload){0};
}

/* log_changes: one line per changed setting, saying whether it applies now or at the next start. */
static void log_changes(const struct service_reload *r)
{
    for (size_t i = 0; i < r->n_changes; i++) {
        const struct service_reload_change *c = &r->changes[i];
        if (c->restart)
            log_warn("reload: %s: %s -> %s needs a restart; still using %s", c->name, c->before, c->after, c->before);
        else
            log_info("reload: %s: %s -> %s", c->name, c->before, c->after);
    }
}

/* hand_over: the started modules borrow the new rule set and tokens and take the new limits,
 * before the commit frees the old ones. Batches decide synchronously, so nothing holds the old
 * rule set after this callback. */
static void hand_over(struct service *svc, const struct service_state *next)
{
    if (!svc->started)
        return; /* the state alone holds its files */
    store_set_ruleset(svc->st, next->rs);
    api_set_ruleset(svc->api, next->rs);
    metrics_db_set_ruleset(svc->mdb, next->rs);
    api_set_tokens(svc->api, next->tokens);
    struct feed_params fp = {
        .max_line = next->cfg->feed_max_line,
        .max_inflight = next->cfg->feed_max_inflight,
        .max_connections = next->cfg->feed_max_connections,
        .sources = next->cfg->sources,
        .max_per_source = next->cfg->feed_max_connections_per_source,
        .reserved = next->cfg->feed_reserved_connections,
        .first_line_timeout_s = next->cfg->feed_first_line_timeout_s,
        .keepalive_s = next->cfg->feed_keepalive_s,
        .keepalive_interval_s = next->cfg->feed_keepalive_interval_s,
        .keepalive_count = next->cfg->feed_keepalive_count,
        .refusal_interval_s = next->cfg->log_refusal_interval_s,
    };
    service_event_limits(next->cfg, &fp.limits);
    if (!sources_equal(svc->cur.cfg->sources, next->cfg->sources))
        log_info("reload: [sources]: %zu source(s) -> %zu; new connections are identified by the new table, open "
                 "ones keep their source",
                 sources_count(svc->cur.cfg->sources), sources_count(next->cfg->sources));
    feed_set_limits(svc->feed, &fp);
    struct store_incident_caps caps = {next->cfg->feed_max_persons_per_incident,
                                       next->cfg->feed_max_allegations_per_incident,
                                       next->cfg->feed_max_links_per_incident};
    store_set_caps(svc->st, &caps);
    struct api_limits lim = {next->cfg->api_max_body, next->cfg->api_whatif_max_body,
                             next->cfg->api_audit_sample_max,
                             {next->cfg->api_auth_failures_max, next->cfg->api_auth_failure_window_s,
                              next->cfg->api_auth_block_s},
                             strcmp(next->cfg->api_require_purpose, "yes") == 0,
                             next->cfg->api_access_log_timeout_ms,
                             next->cfg->api_max_connections, next->cfg->api_header_timeout_ms,
                             next->cfg->api_body_timeout_ms, next->cfg->api_read_statement_timeout_ms,
                             next->cfg->api_stream_heartbeat_s, next->cfg->api_max_streams,
                             next->cfg->retention_incident_s, next->cfg->retention_crime_s, ""};
    snprintf(lim.retention_crime_groups, sizeof(lim.retention_crime_groups), "%s",
             next->cfg->retention_crime_groups ? next->cfg->retention_crime_groups : "");
    api_set_limits(svc->api, &lim);
    store_set_batch_max(svc->st, next->cfg->batch_max);
    store_set_max_seq_gap(svc->st, (int64_t)next->cfg->feed_max_seq_gap);
    metrics_db_set_interval(svc->mdb, next->cfg->api_metrics_refresh_ms);
}

/* ruleset_governed: a version names one content. The new rule set is refused when its version is
 * the running one's or a stored one's (as known since start-up, no round trip: the loop must not
 * wait) with another hash. A version another instance stored since start-up is caught when the
 * store stores the new rule set: the batch that tries is rolled back (store_lane.c). */
static int ruleset_governed(const struct service *svc, const struct ruleset *next, char *err, size_t errlen)
{
    const struct ruleset *cur = svc->cur.rs;
    if (strcmp(ruleset_version(cur), ruleset_version(next)) == 0 && strcmp(ruleset_sha256(cur), ruleset_sha256(next)) != 0)
        return errbuf_set(err, errlen,
                          "[rules] file: rule set version %s is loaded with sha256 %s, but this file's content has "
                          "sha256 %s: a changed rule set needs a new version",
                          ruleset_version(cur), ruleset_sha256(cur), ruleset_sha256(next));
    char msg[900];
    if (rulesets_check(svc->known, next, msg, sizeof(msg)) != 0)
        return errbuf_set(err, errlen, "[rules] file: %s", msg);
    return 0;
}

int service_reload(struct service *svc)
{
    if (svc->draining) {
        log_warn("reload: ignored while stopping");
        return -1;
    }
    notify_reloading(svc->notify, "reloading the configuration");
    char err[1400];
    struct service_reload r;
    int prepared = service_reload_prepare(&svc->cur, svc->config_path, &r, err, sizeof(err));
    if (prepared == 0 && ruleset_governed(svc, r.next.rs, err, sizeof(err)) != 0) {
        service_reload_discard(&r);
        prepared = -1;
    }
    if (prepared != 0) {
        log_error("reload: %s; nothing was changed", err);
        metrics_reload(svc->metrics, false);
        svc->status[0] = '\0';
        notify_ready(svc->notify, "serving; the last reload failed, see the log");
        return -1;
    }
    log_changes(&r);
    size_t changed = r.n_changes, restart = r.n_restart;
    hand_over(svc, &r.next);
    service_reload_commit(&svc->cur, &r);
    if (svc->known && rulesets_add(svc->known, svc->cur.rs) != 0)
        log_warn("reload: out of memory remembering rule set %s", ruleset_version(svc->cur.rs));
    if (changed == 0)
        log_info("reload: done; no setting changed (rule set, tokens%s re-read)",
                 svc->cur.tls_feed || svc->cur.tls_api ? ", certificates" : "");
    else
        log_info("reload: done; %zu setting(s) changed, %zu of them waiting for a restart", changed, restart);
    metrics_reload(svc->metrics, true);
    svc->status[0] = '\0';
    notify_ready(svc->notify, "serving; configuration reloaded");
    return changed > (size_t)INT_MAX ? INT_MAX : (int)changed;
}
