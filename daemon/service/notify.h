/* notify.h: the systemd service notification protocol (sd_notify(3)): readiness, reload,
 * stopping, status lines and the watchdog, as datagrams to $NOTIFY_SOCKET. */
#ifndef FCRD_NOTIFY_H
#define FCRD_NOTIFY_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

struct notify;

/* notify_new: reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment. Without
 * a socket (not started by systemd, or Type= is not notify) every send is a quiet no-op. Returns
 * NULL only when out of memory. The caller owns the result. */
struct notify *notify_new(void);
struct notify *notify_free(struct notify *n); /* NULL-safe; returns NULL */

/* notify_enabled: whether $NOTIFY_SOCKET named a usable address. */
bool notify_enabled(const struct notify *n);

/* notify_send: one datagram holding `text` (newline-separated VAR=VALUE assignments).
 * Returns 0 when sent or when notification is off, -1 when sending failed (errno is set). */
int notify_send(struct notify *n, const char *text);

/* The messages fcrd sends. status may be NULL; it becomes a STATUS= line otherwise. */
int notify_ready(struct notify *n, const char *status);
int notify_reloading(struct notify *n, const char *status); /* RELOADING=1 + MONOTONIC_USEC */
int notify_stopping(struct notify *n, const char *status);
int notify_status(struct notify *n, const char *status);

/* notify_watchdog_usec: the watchdog interval systemd asked for, or 0 when there is none (no
 * WATCHDOG_USEC, or WATCHDOG_PID names another process). */
uint64_t notify_watchdog_usec(const struct notify *n);

/* A check of the daemon's own progress, asked before each watchdog ping. */
typedef bool (*notify_progress_fn)(void *arg);

/* notify_watchdog_start: while the watchdog is on, ping at half its interval on base, each time
 * only if progress(arg) says the daemon is making progress: a stuck loop or a stuck store then
 * misses its pings and systemd restarts the service. Returns 0 (also when the watchdog is off),
 * -1 when the timer cannot be created. */
int notify_watchdog_start(struct notify *n, struct event_base *base, notify_progress_fn progress, void *arg);

/* notify_watchdog_pings: pings sent so far (for the tests and the metrics). */
unsigned long notify_watchdog_pings(const struct notify *n);

#endif
