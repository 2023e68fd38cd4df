/* test_notify.c: systemd notifications read back from a fake $NOTIFY_SOCKET: readiness, reload,
 * stopping, status, abstract sockets, the watchdog's interval and its progress check. */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "service/notify.h"
#include "check_run.h"

/* A listening datagram socket standing in for systemd. Each test runs in its own process. */
struct fake {
    int fd;
    char name[108]; /* as NOTIFY_SOCKET spells it */
};

static void fake_open(struct fake *f, bool abstract)
{
    f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(f->fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t len;
    if (abstract) {
        snprintf(f->name, sizeof(f->name), "@fcrd-test-notify-%d-%ld", (int)getpid(), (long)time(NULL));
        size_t n = strlen(f->name);
        memcpy(sa.sun_path, f->name, n);
        sa.sun_path[0] = '\0';
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        const char *dir = getenv("TMPDIR");
        snprintf(f->name, sizeof(f->name), "%s/fcrd-notify-%d.sock", dir && *dir ? dir : "/tmp", (int)getpid());
        unlink(f->name);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->name);
        len = sizeof(sa);
    }
    ck_assert_int_eq(bind(f->fd, (struct sockaddr *)&sa, len), 0);
    setenv("NOTIFY_SOCKET", f->name, 1);
}

static void fake_close(struct fake *f)
{
    close(f->fd);
    if (f->name[0] == '/')
        unlink(f->name);
}

/* fake_recv: the next datagram, or "" when none arrives within ms. */
static const char *fake_recv(struct fake *f, int ms, char *buf, size_t len)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = recv(f->fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

START_TEST(ready_status_stopping_on_a_path)
{
    struct fake f;
    fake_open(&f, false);
    struct notify *n = notify_new();
    ck_assert_ptr_nonnull(n);
    ck_assert(notify_enabled(n));
    char buf[1024];
    ck_assert_int_eq(notify_ready(n, "serving: 2 feed connection(s)"), 0);
    ck_assert_str_eq(fake_recv(&f, 1000, buf, sizeof(buf)), "READY=1\nSTATUS=serving: 2 feed connection(s)");
    ck_assert_int_eq(notify_ready(n, NULL), 0);
    ck_assert_str_eq(fake_recv(&f, 1000, buf, sizeof(buf)), "READY=1");
    /* A newline inside a status cannot start a new assignment. */
    ck_assert_int_eq(notify_status(n, "two\nlines\rhere"), 0);
    ck_assert_str_eq(fake_recv(&f, 1000, buf, sizeof(buf)), "STATUS=two lines here");
    ck_assert_int_eq(notify_stopping(n, "stopping"), 0);
    ck_assert_str_eq(fake_recv(&f, 1000, buf, sizeof(buf)), "STOPPING=1\nSTATUS=stopping");
    ck_assert_int_eq(notify_send(n, "EXTEND_TIMEOUT_USEC=1000000"), 0);
    ck_assert_str_eq(fake_recv(&f, 1000, buf, sizeof(buf)), "EXTEND_TIMEOUT_USEC=1000000");
    notify_free(n);
    fake_close(&f);
}
END_TEST

START_TEST(reloading_carries_the_monotonic_time)
{
    struct fake f;
    fake_open(&f, false);
    struct notify *n = notify_new();
    struct timespec before, after;
    clock_gettime(CLOCK_MONOTONIC, &before);
    ck_assert_int_eq(notify_reloading(n, "reloading"), 0);
    clock_gettime(CLOCK_MONOTONIC, &after);
    char buf[1024];
    fake_recv(&f, 1000, buf, sizeof(buf));
    unsigned long long usec = 0;
    char status[64] = "";
    ck_assert_msg(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%63[^\n]", &usec, status) == 2,
                  "unexpected datagram '%s'", buf);
    ck_assert_str_eq(status, "reloading");
    unsigned long long lo = (unsigned long long)before.tv_sec * 1000000ULL + (unsigned long long)before.tv_nsec / 1000;
    unsigned long long hi = (unsigned long long)after.tv_sec * 1000000ULL + (unsigned long long)after.tv_nsec / 1000;
    ck_assert(usec >= lo && usec <= hi);
    notify_free(n);
    fake_close(&f);
}
END_TEST

START_TEST(abstract_socket)
{
    struct fake f;
    fake_open(&f, true);
    ck_assert_int_eq(f.name[0], '@');
    struct notify *n = notify_new();
    ck_assert(notify_enabled(n));
    ck_assert_int_eq(notify_ready(n, "ok"), 0);
    char buf[256];
    ck_assert_str_eq(fake_recv(&f, 1000, buf, sizeof(buf)), "READY=1\nSTATUS=ok");
    notify_free(n);
    fake_close(&f);
}
END_TEST

START_TEST(off_without_a_usable_socket)
{
    unsetenv("NOTIFY_SOCKET");
    struct notify *n = notify_new();
    ck_assert(!notify_enabled(n));
    ck_assert_int_eq(notify_ready(n, "x"), 0); /* a quiet no-op */
    notify_free(n);

    static const char *const bad[] = {"", "@", "relative/path", "x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("NOTIFY_SOCKET", bad[i], 1);
        n = notify_new();
        ck_assert_msg(!notify_enabled(n), "'%s' taken", bad[i]);
        notify_free(n);
    }
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longpath, 1);
    n = notify_new();
    ck_assert(!notify_enabled(n));
    notify_free(n);

    /* A well-formed address where nobody listens: the send fails and says so. */
    setenv("NOTIFY_SOCKET", "/nonexistent-folder/notify.sock", 1);
    n = notify_new();
    ck_assert(notify_enabled(n));
    errno = 0;
    ck_assert_int_eq(notify_ready(n, NULL), -1);
    ck_assert_int_ne(errno, 0);
    notify_free(n);
    ck_assert_ptr_null(notify_free(NULL));
}
END_TEST

START_TEST(watchdog_interval_and_pid)
{
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    struct notify *n = notify_new();
    ck_assert_uint_eq(notify_watchdog_usec(n), 0);
    notify_free(n);

    setenv("WATCHDOG_USEC", "30000000", 1);
    n = notify_new();
    ck_assert_uint_eq(notify_watchdog_usec(n), 30000000);
    notify_free(n);

    setenv("WATCHDOG_PID", pid, 1);
    n = notify_new();
    ck_assert_uint_eq(notify_watchdog_usec(n), 30000000);
    notify_free(n);

    setenv("WATCHDOG_PID", "1", 1); /* meant for another process */
    n = notify_new();
    ck_assert_uint_eq(notify_watchdog_usec(n), 0);
    notify_free(n);

    unsetenv("WATCHDOG_PID");
    static const char *const bad[] = {"", "0", "-5", "12x", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("WATCHDOG_USEC", bad[i], 1);
        n = notify_new();
        ck_assert_msg(notify_watchdog_usec(n) == 0, "'%s' taken", bad[i]);
        notify_free(n);
    }
}
END_TEST

static bool progress_value;
static int progress_asked;

static bool progress(void *arg)
{
    (void)arg;
    progress_asked++;
    return progress_value;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(arg, NULL);
}

/* run_loop: the watchdog with progress() answering `ok`, for ms; returns the pings received. */
static int run_watchdog(bool ok, int ms)
{
    struct fake f;
    fake_open(&f, false);
    setenv("WATCHDOG_USEC", "100000", 1); /* pings every 50 ms */
    unsetenv("WATCHDOG_PID");
    progress_value = ok;
    progress_asked = 0;
    struct event_base *base = event_base_new();
    struct notify *n = notify_new();
    ck_assert_int_eq(notify_watchdog_start(n, base, progress, NULL), 0);
    struct event *stop = evtimer_new(base, stop_cb, base);
    struct timeval tv = {0, ms * 1000};
    evtimer_add(stop, &tv);
    event_base_dispatch(base);
    int pings = 0;
    char buf[256];
    while (*fake_recv(&f, 50, buf, sizeof(buf))) {
        ck_assert_str_eq(buf, "WATCHDOG=1");
        pings++;
    }
    ck_assert_uint_eq(notify_watchdog_pings(n), (unsigned long)pings);
    ck_assert_int_ge(progress_asked, 3);
    event_free(stop);
    notify_free(n);
    event_base_free(base);
    fake_close(&f);
    return pings;
}

START_TEST(watchdog_pings_only_with_progress)
{
    int pings = run_watchdog(true, 330);
    ck_assert_int_ge(pings, 4); /* one at once, then every 50 ms */
    ck_assert_int_le(pings, 8);
    ck_assert_int_eq(run_watchdog(false, 330), 0);
}
END_TEST

START_TEST(watchdog_off_starts_nothing)
{
    unsetenv("WATCHDOG_USEC");
    struct event_base *base = event_base_new();
    struct notify *n = notify_new();
    ck_assert_int_eq(notify_watchdog_start(n, base, progress, NULL), 0);
    ck_assert_uint_eq(notify_watchdog_pings(n), 0);
    /* Nothing is armed: the loop has no events and returns at once. */
    ck_assert_int_eq(event_base_dispatch(base), 1);
    notify_free(n);
    event_base_free(base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("notify");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, ready_status_stopping_on_a_path);
    tcase_add_test(tc, reloading_carries_the_monotonic_time);
    tcase_add_test(tc, abstract_socket);
    tcase_add_test(tc, off_without_a_usable_socket);
    tcase_add_test(tc, watchdog_interval_and_pid);
    tcase_add_test(tc, watchdog_pings_only_with_progress);
    tcase_add_test(tc, watchdog_off_starts_nothing);
    suite_add_tcase(s, tc);
    return check_run(s);
}
