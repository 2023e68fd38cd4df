/* notify.c: systemd notifications written straight to $NOTIFY_SOCKET.
 *
 * The protocol is one datagram of newline-separated assignments to an AF_UNIX socket whose path
 * is in the environment ('@' standing for the abstract namespace). That is some sixty lines of
 * code; linking libsystemd for it would add a dependency (and libsystemd-dev on every build
 * machine) for nothing else fcrd needs. */
#include "service/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct notify {
    int fd; /* the datagram socket, opened on first use; -1 before */
    struct sockaddr_un addr;
    socklen_t addrlen; /* 0: notification is off */
    uint64_t watchdog_usec;
    struct event *watchdog;
    notify_progress_fn progress;
    void *progress_arg;
    unsigned long pings;
};

/* parse_uint64: a decimal number filling the whole string. */
static bool parse_uint64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* set_address: "/path" or "@abstract" into n->addr; anything else leaves notification off. */
static void set_address(struct notify *n, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (len < 2 || (s[0] != '/' && s[0] != '@') || len > sizeof(n->addr.sun_path))
        return;
    if (s[0] == '/' && len == sizeof(n->addr.sun_path))
        return; /* a path needs its terminating NUL */
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, s, len);
    if (s[0] == '@')
        n->addr.sun_path[0] = '\0'; /* abstract: the name's length counts, no terminator */
    n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (s[0] == '/'));
}

struct notify *notify_new(void)
{
    struct notify *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->fd = -1;
    set_address(n, getenv("NOTIFY_SOCKET"));
    uint64_t usec = 0, pid = 0;
    if (parse_uint64(getenv("WATCHDOG_USEC"), &usec) && usec > 0) {
        /* WATCHDOG_PID, when present, says whom the watchdog is meant for. */
        const char *p = getenv("WATCHDOG_PID");
        if (!p || (parse_uint64(p, &pid) && pid == (uint64_t)getpid()))
            n->watchdog_usec = usec;
    }
    return n;
}

struct notify *notify_free(struct notify *n)
{
    if (!n)
        return NULL;
    if (n->watchdog)
        event_free(n->watchdog);
    if (n->fd >= 0)
        close(n->fd);
    free(n);
    return NULL;
}

bool notify_enabled(const struct notify *n)
{
    return n && n->addrlen > 0;
}

int notify_send(struct notify *n, const char *text)
{
    if (!notify_enabled(n))
        return 0;
    if (n->fd < 0) {
        n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (n->fd < 0)
            return -1;
    }
    size_t len = strlen(text);
    ssize_t sent = sendto(n->fd, text, len, MSG_NOSIGNAL, (const struct sockaddr *)&n->addr, n->addrlen);
    if (sent < 0)
        return -1;
    if ((size_t)sent != len) {
        errno = EMSGSIZE;
        return -1;
    }
    return 0;
}

/* send_with_status: head, then "STATUS=" and status on one line (newlines in it become spaces,
 * since each line is an assignment). */
static int send_with_status(struct notify *n, const char *head, const char *status)
{
    if (!notify_enabled(n))
        return 0;
    char msg[1024];
    int off = snprintf(msg, sizeof(msg), "%s", head);
    if (status && off >= 0 && (size_t)off < sizeof(msg)) {
        int m = snprintf(msg + off, sizeof(msg) - (size_t)off, "%sSTATUS=%s", off ? "\n" : "", status);
        if (m > 0) {
            for (char *p = msg + off + (off ? 1 : 0); *p; p++)
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
        }
    }
    return notify_send(n, msg);
}

int notify_ready(struct notify *n, const char *status)
{
    return send_with_status(n, "READY=1", status);
}

int notify_reloading(struct notify *n, const char *status)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char head[96];
    snprintf(head, sizeof(head), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
    return send_with_status(n, head, status);
}

int notify_stopping(struct notify *n, const char *status)
{
    return send_with_status(n, "STOPPING=1", status);
}

int notify_status(struct notify *n, const char *status)
{
    return send_with_status(n, "", status ? status : "");
}

uint64_t notify_watchdog_usec(const struct notify *n)
{
    return n ? n->watchdog_usec : 0;
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    struct notify *n = arg;
    (void)fd;
    (void)what;
    if (n->progress && !n->progress(n->progress_arg))
        return; /* no ping: if this lasts, systemd restarts fcrd */
    if (notify_send(n, "WATCHDOG=1") == 0)
        n->pings++;
}

int notify_watchdog_start(struct notify *n, struct event_base *base, notify_progress_fn progress, void *arg)
{
    if (!n || n->watchdog_usec == 0 || n->watchdog)
        return 0;
    n->progress = progress;
    n->progress_arg = arg;
    n->watchdog = event_new(base, -1, EV_PERSIST, watchdog_cb, n);
    if (!n->watchdog)
        return -1;
    uint64_t half = n->watchdog_usec / 2;
    if (half == 0)
        half = 1;
    struct timeval tv = {(time_t)(half / 1000000), (suseconds_t)(half % 1000000)};
    event_add(n->watchdog, &tv);
    watchdog_cb(-1, 0, n); /* the first ping at once: the interval starts counting at READY=1 */
    return 0;
}

unsigned long notify_watchdog_pings(const struct notify *n)
{
    return n ? n->pings : 0;
}
