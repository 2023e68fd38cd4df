/* test_acceptpause.c: a listener that runs out of file descriptors pauses, and accepts again once
 * descriptors are free, on a real loopback socket with the process's open-files limit lowered. */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "check_run.h"
#include "util/acceptpause.h"

static int accepted, paused, last_err;

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
    (void)lev;
    (void)sa;
    (void)len;
    (void)arg;
    accepted++;
    close(fd);
}

static void on_pause(void *arg, int err)
{
    (void)arg;
    paused++;
    last_err = err;
}

static void run_for(struct event_base *base, long usec)
{
    struct timeval tv = {usec / 1000000, usec % 1000000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static double wall_seconds(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

START_TEST(out_of_descriptors_pauses_then_accepts_again)
{
    struct event_base *base = event_base_new();
    ck_assert_ptr_nonnull(base);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct evconnlistener *lev = evconnlistener_new_bind(base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE, 16,
                                                         (struct sockaddr *)&sin, sizeof(sin));
    ck_assert_ptr_nonnull(lev);
    socklen_t sl = sizeof(sin);
    ck_assert_int_eq(getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&sin, &sl), 0);
    struct acceptpause *p = acceptpause_new(lev, "test", 100, on_pause, NULL);
    ck_assert_ptr_nonnull(p);

    int client = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(client, 0);
    ck_assert_int_eq(connect(client, (struct sockaddr *)&sin, sizeof(sin)), 0); /* waits in the backlog */

    /* The lowest free descriptor becomes the limit: accept cannot get one. */
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int probe = dup(0);
    ck_assert_int_ge(probe, 0);
    close(probe);
    low.rlim_cur = (rlim_t)probe;
    low.rlim_max = old.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);

    /* Until three pauses have been seen, however loaded the machine: they must have been spaced
     * by the pause length, never one wake-up after another. */
    int want = 3;
    double cpu = cpu_seconds(), start = wall_seconds(), elapsed = 0;
    while (paused < want && elapsed < 3) {
        run_for(base, 50000);
        elapsed = wall_seconds() - start;
    }
    cpu = cpu_seconds() - cpu;
    ck_assert_int_eq(accepted, 0);
    ck_assert_int_eq(last_err, EMFILE);
    ck_assert_int_ge(paused, want);
    ck_assert_msg(paused <= (int)(elapsed / 0.1) + 2, "%d pauses in %.3f s: not one per 100 ms", paused, elapsed);
    ck_assert_uint_eq(acceptpause_count(p), (unsigned long)paused);
    /* Spinning on accept would keep a core busy; pausing leaves it idle. */
    ck_assert_msg(cpu < elapsed * 0.5, "%.3f s of CPU in %.3f s while out of descriptors", cpu, elapsed);

    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 0; i < 60 && accepted == 0; i++)
        run_for(base, 50000);
    ck_assert_int_eq(accepted, 1);

    close(client);
    ck_assert_ptr_null(acceptpause_free(p));
    ck_assert_ptr_null(acceptpause_free(NULL));
    evconnlistener_free(lev);
    event_base_free(base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("acceptpause");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, out_of_descriptors_pauses_then_accepts_again);
    suite_add_tcase(s, tc);
    return check_run(s);
}
