/* service_state.h: what a configuration loads: the configuration itself, the rule set, the
 * tokens and the TLS contexts it names. A start or a reload takes all of them or none. */
#ifndef FCRD_SERVICE_STATE_H
#define FCRD_SERVICE_STATE_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct ruleset;
struct tokens;
struct tls;

/* Every member is owned by the state and freed by service_state_clear. */
struct service_state {
    struct config *cfg;      /* what runs: the file's values, but restart-only keys as at start */
    struct ruleset *rs;
    struct tokens *tokens;
    struct tls *tls_feed;    /* NULL where TLS is off */
    struct tls *tls_api;
};

/* service_state_load_files: with st->cfg set and nothing else, read the rule set, the tokens
 * and, where feed_tls / api_tls, the TLS contexts that st->cfg names. Returns 0, or -1 with err
 * naming the key and the file's problem ("[rules] file: ..."); st->cfg is then kept and the
 * rest is left NULL. */
int service_state_load_files(struct service_state *st, bool feed_tls, bool api_tls, char *err, size_t errlen);

/* service_state_clear: frees every member and leaves st all NULL. NULL-safe. */
void service_state_clear(struct service_state *st);

/* service_state_apply_log: the log level and format of cfg take effect. */
void service_state_apply_log(const struct config *cfg);

#endif
