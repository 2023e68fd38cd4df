/* service_reload.h: the reload of the configuration (SIGHUP), all or nothing: load everything
 * the new file names, validate, and only then swap; a broken file, rule set, tokens file or
 * certificate changes nothing. */
#ifndef FCRD_SERVICE_RELOAD_H
#define FCRD_SERVICE_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "service/service_state.h"

struct service;

/* One setting that differs between the running configuration and the file. */
struct service_reload_change {
    const char *name;  /* "section.key" (static) */
    bool restart;      /* not reloadable: the running value stays in force until a restart */
    char before[512];  /* the running value, secrets masked */
    char after[512];   /* the file's value; "(a changed secret)" when only a secret differs */
};

/* A reload loaded and validated, not yet applied. */
struct service_reload {
    struct service_state next; /* owned: the configuration as it will run (restart-only keys
                                  keep their running values) and the files it names */
    struct service_reload_change *changes; /* owned, n_changes of them, in the key table's order */
    size_t n_changes;
    size_t n_restart; /* how many of them need a restart */
};

/* service_reload_prepare: read config_path and every file it names, TLS contexts for what
 * running has TLS on, and compare the settings with running's (not changed). Returns 0 and *out
 * (release it with service_reload_commit or service_reload_discard), or -1 with err saying what
 * is wrong and *out empty. */
int service_reload_prepare(const struct service_state *running, const char *config_path, struct service_reload *out,
                           char *err, size_t errlen);

/* service_reload_commit: make r's state the running one. The old rule set and tokens are freed
 * (whoever borrowed them must have been given r's first), the fresh TLS contexts are adopted by
 * running's (new handshakes only), the configuration is replaced and its log settings applied.
 * r is left empty. */
void service_reload_commit(struct service_state *running, struct service_reload *r);

/* service_reload_discard: free what r holds; r is left empty. NULL-safe. */
void service_reload_discard(struct service_reload *r);

/* service_reload: what SIGHUP does. Reload the service's configuration file with the functions
 * above, hand the new rule set, tokens and limits to the modules when they are started, log
 * every change (a restart-only one as waiting for a restart), count the outcome in the metrics
 * and tell systemd. Works as well on a service not yet started. Returns the number of changed
 * settings, or -1 when nothing was changed (the reason is logged), also while draining. */
int service_reload(struct service *svc);

#endif
