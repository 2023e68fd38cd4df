/* service.h: fcrd as a running service: loading what the configuration names, wiring the store,
 * the feed, the API, the metrics and systemd notification on one event loop, SIGHUP reloads and
 * SIGTERM/SIGINT drains. main.c parses the arguments and calls these. */
#ifndef FCRD_SERVICE_H
#define FCRD_SERVICE_H

#include <stddef.h>

struct service;
struct service_state;

/* service_new: read the configuration at config_path (borrowed: it must outlive the service;
 * reloads read it again) and everything it names, the rule set, the tokens file and the TLS
 * files, and apply its log settings. Nothing listens and nothing connects yet: that is
 * service_start. Returns the service (caller frees with service_free), or NULL with err saying
 * what is wrong, e.g. "[rules] file: ...". */
struct service *service_new(const char *config_path, char *err, size_t errlen);

/* service_current: what the service runs with (borrowed; a reload replaces its members). */
const struct service_state *service_current(const struct service *svc);

/* service_start: apply the schema migrations, check the serving role, then open the store's
 * connections, the feed listeners, the API, the metrics, the signal handlers and the status
 * timer, and tell systemd fcrd is ready. allocator names the binary's allocator for the start
 * line. Returns 0, or -1 having logged why (then only service_free is left to call). */
int service_start(struct service *svc, const char *allocator);

/* service_run: serve until a drain (service_drain, SIGTERM, SIGINT) has finished. Returns 0. */
int service_run(struct service *svc);

/* service_drain: what SIGTERM and SIGINT do, in service_drain.c. Stop accepting, answer lines
 * that still arrive retry/shutting_down, let what is in flight commit and be answered, and end
 * service_run within [service] drain_timeout_ms. A second call ends it at once. Does nothing
 * before service_start. */
void service_drain(struct service *svc);

/* service_free: close everything and free it. NULL-safe; returns NULL. */
struct service *service_free(struct service *svc);

#endif
