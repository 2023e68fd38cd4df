/* service_state.c: loading the files a configuration names, together, so that a start or a
 * reload takes all of them or none. */
#include "service/service_state.h"

#include <stdio.h>
#include <string.h>

#include "api/tokens.h"
#include "rules/ruleset.h"
#include "service/config.h"
#include "service/tls.h"
#include "util/log.h"

static void files_clear(struct service_state *st)
{
    st->rs = ruleset_free(st->rs);
    st->tokens = tokens_free(st->tokens);
    st->tls_feed = tls_free(st->tls_feed);
    st->tls_api = tls_free(st->tls_api);
}

int service_state_load_files(struct service_state *st, bool feed_tls, bool api_tls, char *err, size_t errlen)
{
    const struct config *cfg = st->cfg;
    char msg[900];
    if (ruleset_load(cfg->rules_file, &st->rs, msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "[rules] file: %s", msg);
        files_clear(st);
        return -1;
    }
    if (tokens_load(cfg->api_tokens, &st->tokens, msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "[api] tokens: %s", msg);
        files_clear(st);
        return -1;
    }
    struct tls_params tp = {cfg->tls_cert, cfg->tls_key, NULL, NULL};
    if (feed_tls) {
        bool mutual = strcmp(cfg->feed_tls, "mutual") == 0;
        tp.client_ca = mutual ? cfg->tls_client_ca : NULL;
        tp.client_subjects = mutual ? cfg->tls_client_subjects : NULL;
        if (tls_new(&st->tls_feed, &tp, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "[tls] for the feed: %s", msg);
            files_clear(st);
            return -1;
        }
    }
    if (api_tls) {
        /* The API's clients are people at desks, not control rooms: their certificates come from
         * a CA of their own and are listed apart from the feed's. */
        bool mutual = strcmp(cfg->api_tls, "mutual") == 0;
        tp.client_ca = mutual ? cfg->tls_api_client_ca : NULL;
        tp.client_subjects = mutual ? cfg->tls_api_client_subjects : NULL;
        if (tls_new(&st->tls_api, &tp, msg, sizeof(msg)) != 0) {
            snprintf(err, errlen, "[tls] for the api: %s", msg);
            files_clear(st);
            return -1;
        }
    }
    return 0;
}

void service_state_clear(struct service_state *st)
{
    if (!st)
        return;
    files_clear(st);
    st->cfg = config_free(st->cfg);
}

void service_state_apply_log(const struct config *cfg)
{
    int lvl = log_level_parse(cfg->log_level);
    log_set_level(lvl < 0 ? LOG_LVL_INFO : (enum log_level)lvl);
    int fmt = log_format_parse(cfg->log_format);
    log_set_format(fmt < 0 ? LOG_FORMAT_PLAIN : (enum log_format)fmt);
}
