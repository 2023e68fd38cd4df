/* loadgen_run.c: fcr-loadgen's engine: drives fcrd's feed (or its HTTP API) over libevent,
 * matches each reply to its line (replies come back in order per connection), times them and
 * samples the daemon's memory and CPU. One thread: the daemon, not this, must be what is slow. */
#include "loadgen_run.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S UINT64_C(1000000000)
#define LATE_NS UINT64_C(1000000) /* a scheduled send this late counts as late */
#define RING_MAX (UINT64_C(1) << 24)

struct run;

/* When a line was due (LOADGEN_OPEN: its place in the schedule; otherwise when it was sent) and
 * when it was actually handed to the socket, ns. */
struct stamp {
    uint64_t due, sent;
};

/* One connection. Feed lines awaiting their reply are a FIFO of send times: fcrd answers the
 * lines of a connection in the order they arrived. */
struct conn {
    struct run *run;
    unsigned index;
    struct bufferevent *bev;          /* feed */
    struct evhttp_connection *http;   /* HTTP */
    struct loadgen_gen *gen;
    struct stamp *stamps; /* ring of the lines awaiting replies */
    size_t cap, first, n;
    struct event *lone; /* LOADGEN_LONE: the pause before the next event */
    evutil_socket_t nodelay_fd; /* HTTP: the socket TCP_NODELAY was set on */
    bool connected;
};

struct run {
    const struct loadgen_opts *o;
    struct loadgen_result *r;
    struct event_base *base;
    struct conn *conns;
    unsigned nconnected;
    char *line;
    size_t line_cap;
    char host[256];
    char port[16];
    char host_header[300];
    char *authorization;
    bool started, sending, finished;
    uint64_t t_start, t_warm, t_stop, t_last_reply; /* monotonic ns */
    uint64_t next_due, scheduled;                    /* LOADGEN_OPEN */
    uint64_t due_end; /* LOADGEN_OPEN with a duration: nothing due at or after this is sent */
    uint64_t rng;
    struct event *tick, *stop, *drain, *sample, *progress;
    uint64_t progress_replies;
    struct rusage ru_start;
    double target_cpu_start;
    size_t samples_cap;
};

static void run_send_more(struct run *run, struct conn *c);
static void run_http_request(struct conn *c);

/* ---- small helpers -------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static struct timeval tv_of_ns(uint64_t ns)
{
    struct timeval tv = {(time_t)(ns / NS_PER_S), (suseconds_t)(ns % NS_PER_S / 1000)};
    return tv;
}

static double seconds(uint64_t ns)
{
    return (double)ns / (double)NS_PER_S;
}

const char *loadgen_status_name(enum loadgen_status s)
{
    static const char *const names[LOADGEN_NSTATUS] = {"accepted", "duplicate", "rejected", "retry", "other"};
    return (unsigned)s < LOADGEN_NSTATUS ? names[s] : "other";
}

/* The string value after `key` (e.g. "\"status\":\"") in line, copied into out. */
static bool field_text(const char *line, size_t len, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    const char *p = memmem(line, len, key, kl);
    if (!p)
        return false;
    p += kl;
    const char *end = memchr(p, '"', len - (size_t)(p - line));
    if (!end)
        return false;
    size_t n = (size_t)(end - p);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

enum loadgen_status loadgen_reply_status(const char *line, size_t len, char *code, size_t codelen)
{
    char status[16];
    if (codelen)
        code[0] = '\0';
    if (!field_text(line, len, "\"status\":\"", status, sizeof(status)))
        return LOADGEN_OTHER;
    enum loadgen_status s = LOADGEN_OTHER;
    for (unsigned i = 0; i < LOADGEN_OTHER; i++)
        if (strcmp(status, loadgen_status_name(i)) == 0)
            s = i;
    if ((s == LOADGEN_REJECTED || s == LOADGEN_RETRY) && codelen)
        field_text(line, len, "\"code\":\"", code, codelen);
    return s;
}

long long loadgen_rss_kb(int pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long long kb = -1;
    while (fgets(buf, sizeof(buf), f))
        if (strncmp(buf, "VmRSS:", 6) == 0) {
            kb = strtoll(buf + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

double loadgen_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* utime and stime are fields 14 and 15; the command name (field 2) may hold blanks, so count
     * from the closing parenthesis */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

static double rusage_s(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 + (double)ru->ru_stime.tv_sec +
           (double)ru->ru_stime.tv_usec / 1e6;
}

/* Remember the first reason the run went wrong. */
__attribute__((format(printf, 2, 3))) static void run_fail(struct run *run, const char *fmt, ...)
{
    if (run->r->failure[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->r->failure, sizeof(run->r->failure), fmt, ap);
    va_end(ap);
}

static void run_count_code(struct run *run, const char *code)
{
    struct loadgen_result *r = run->r;
    if (!*code)
        code = "(none)";
    for (unsigned i = 0; i < r->ncodes; i++)
        if (strcmp(r->codes[i].code, code) == 0) {
            r->codes[i].n++;
            return;
        }
    if (r->ncodes < LOADGEN_NCODES) {
        snprintf(r->codes[r->ncodes].code, sizeof(r->codes[r->ncodes].code), "%s", code);
        r->codes[r->ncodes++].n = 1;
    }
}

/* ---- sampling ------------------------------------------------------------------------------- */

static void run_take_sample(struct run *run)
{
    struct loadgen_result *r = run->r;
    if (run->o->pid <= 0)
        return;
    long long kb = loadgen_rss_kb(run->o->pid);
    if (kb < 0)
        return;
    uint64_t v = (uint64_t)kb;
    if (r->nsamples == 0)
        r->rss_start_kb = v;
    if (v > r->rss_max_kb)
        r->rss_max_kb = v;
    r->rss_end_kb = v;
    if (r->nsamples == run->samples_cap) {
        size_t cap = run->samples_cap ? run->samples_cap * 2 : 256;
        struct loadgen_sample *s = realloc(r->samples, cap * sizeof(*s));
        if (!s)
            return;
        r->samples = s;
        run->samples_cap = cap;
    }
    r->samples[r->nsamples++] =
        (struct loadgen_sample){seconds(now_ns() - run->t_start), r->replies, v};
}

static void run_sample_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_take_sample(arg);
}

static void run_progress_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *run = arg;
    (void)fd;
    (void)what;
    struct loadgen_result *r = run->r;
    long long kb = run->o->pid > 0 ? loadgen_rss_kb(run->o->pid) : -1;
    fprintf(stderr, "fcr-loadgen: %7.1f s  sent %llu  replies %llu  (%llu/s)", seconds(now_ns() - run->t_start),
            (unsigned long long)r->sent, (unsigned long long)r->replies,
            (unsigned long long)(r->replies - run->progress_replies));
    if (kb >= 0)
        fprintf(stderr, "  rss %.1f MiB", (double)kb / 1024.0);
    fputc('\n', stderr);
    run->progress_replies = r->replies;
}

/* ---- the end of a run ----------------------------------------------------------------------- */

static bool run_all_answered(const struct run *run)
{
    for (unsigned i = 0; i < run->o->connections; i++)
        if (run->conns[i].n > 0)
            return false;
    return true;
}

static void run_finish(struct run *run)
{
    if (run->finished)
        return;
    run->finished = true;
    run->sending = false;
    if (!run->t_stop)
        run->t_stop = now_ns();
    event_base_loopexit(run->base, NULL);
}

static void run_maybe_done(struct run *run)
{
    if (!run->sending && run->started && run_all_answered(run))
        run_finish(run);
}

static void run_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *run = arg;
    (void)fd;
    (void)what;
    uint64_t left = 0;
    for (unsigned i = 0; i < run->o->connections; i++)
        left += run->conns[i].n;
    run_fail(run, "%llu line(s) still unanswered when the drain time ran out", (unsigned long long)left);
    run_finish(run);
}

/* Stop offering load; what is in flight may still arrive within drain_s. */
static void run_stop_sending(struct run *run)
{
    if (!run->sending)
        return;
    run->sending = false;
    run->t_stop = now_ns();
    if (run->tick)
        evtimer_del(run->tick);
    struct timeval tv = tv_of_ns((uint64_t)(run->o->drain_s * (double)NS_PER_S));
    evtimer_add(run->drain, &tv);
    run_maybe_done(run);
}

static void run_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_stop_sending(arg);
}

/* Throughput counts replies by when they arrive: after the warm-up and, in a timed run, before
 * sending stopped (latencies are kept by when their line was sent). */
static bool run_in_window(const struct run *run, uint64_t now)
{
    if (now < run->t_warm)
        return false;
    return run->o->duration_s <= 0 || run->sending || now <= run->t_stop;
}

/* ---- feed lines ----------------------------------------------------------------------------- */

static bool conn_push(struct conn *c, uint64_t due)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        if (cap > RING_MAX)
            return false;
        struct stamp *s = malloc(cap * sizeof(*s));
        if (!s)
            return false;
        for (size_t i = 0; i < c->n; i++)
            s[i] = c->stamps[(c->first + i) % c->cap];
        free(c->stamps);
        c->stamps = s;
        c->cap = cap;
        c->first = 0;
    }
    c->stamps[(c->first + c->n) % c->cap] = (struct stamp){due, now_ns()};
    c->n++;
    return true;
}

static struct stamp conn_pop(struct conn *c)
{
    struct stamp s = c->stamps[c->first];
    c->first = (c->first + 1) % c->cap;
    c->n--;
    return s;
}

/* Send the next generated event on c, timed from `stamp`. */
static void conn_send(struct conn *c, uint64_t stamp)
{
    struct run *run = c->run;
    size_t len = loadgen_gen_next(c->gen, (int64_t)time(NULL), run->line, run->line_cap);
    if (len == 0 || !conn_push(c, stamp)) {
        run_fail(run, "cannot generate or track another event");
        run_finish(run);
        return;
    }
    if (bufferevent_write(c->bev, run->line, len) != 0) {
        run_fail(run, "cannot queue a line for sending");
        run_finish(run);
        return;
    }
    run->r->sent++;
    run->r->bytes_sent += len;
    if (run->o->events && run->r->sent >= run->o->events)
        run_stop_sending(run);
}

static void conn_reply(struct conn *c, const char *line, size_t len)
{
    struct run *run = c->run;
    struct loadgen_result *r = run->r;
    uint64_t now = now_ns();
    if (c->n == 0) {
        run_fail(run, "fcrd sent a reply for no line: %.*s", (int)(len < 200 ? len : 200), line);
        run_finish(run);
        return;
    }
    struct stamp st = conn_pop(c);
    r->replies++;
    r->bytes_received += len + 1;
    run->t_last_reply = now;
    if (st.due >= run->t_warm) {
        loadgen_hist_add(&r->latency, now > st.due ? (now - st.due) / 1000 : 0);
        loadgen_hist_add(&r->latency_sent, now > st.sent ? (now - st.sent) / 1000 : 0);
    }
    if (run_in_window(run, now))
        r->measured++;
    char code[40];
    enum loadgen_status s = loadgen_reply_status(line, len, code, sizeof(code));
    r->status[s]++;
    if (s != LOADGEN_ACCEPTED && s != LOADGEN_DUPLICATE) {
        run_count_code(run, code);
        if (!r->first_bad[0])
            snprintf(r->first_bad, sizeof(r->first_bad), "%.*s", (int)(len < 500 ? len : 500), line);
    }
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct run *run = c->run;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t answered = 0;
    while (!run->finished) {
        struct evbuffer_ptr nl = evbuffer_search(in, "\n", 1, NULL);
        if (nl.pos < 0)
            break;
        size_t len = (size_t)nl.pos;
        const char *line = (const char *)evbuffer_pullup(in, (ev_ssize_t)len + 1);
        if (!line)
            break;
        conn_reply(c, line, len);
        evbuffer_drain(in, len + 1);
        answered++;
    }
    if (run->finished)
        return;
    if (run->sending && answered > 0) {
        if (run->o->mode == LOADGEN_CLOSED) {
            for (size_t i = 0; i < answered && run->sending; i++)
                conn_send(c, now_ns());
        } else if (run->o->mode == LOADGEN_LONE && c->n == 0) {
            struct timeval tv = {run->o->gap_ms / 1000, (suseconds_t)(run->o->gap_ms % 1000) * 1000};
            evtimer_add(c->lone, &tv);
        }
    }
    run_maybe_done(run);
}

static void conn_lone_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)fd;
    (void)what;
    if (c->run->sending)
        conn_send(c, now_ns());
}

/* ---- the offered load ----------------------------------------------------------------------- */

static uint64_t run_gap_ns(struct run *run)
{
    double mean = (double)NS_PER_S / run->o->rate;
    if (!run->o->poisson)
        return (uint64_t)mean;
    /* exponential gaps: arrivals of a Poisson process */
    run->rng ^= run->rng << 13;
    run->rng ^= run->rng >> 7;
    run->rng ^= run->rng << 17;
    double u = ((double)(run->rng >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    return (uint64_t)(-log(u) * mean);
}

/* LOADGEN_OPEN: send whatever is due, each timed from when it was due (not from when it went
 * out), so a slow daemon cannot hide its delays by slowing the sender down. */
static void run_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *run = arg;
    (void)fd;
    (void)what;
    uint64_t now = now_ns();
    unsigned burst = 0;
    while (run->sending && run->next_due <= now + 20000 && (!run->due_end || run->next_due < run->due_end) &&
           burst++ < 10000) {
        if (now > run->next_due) {
            uint64_t lag = now - run->next_due;
            if (lag / 1000 > run->r->max_lag_us)
                run->r->max_lag_us = lag / 1000;
            if (lag > LATE_NS)
                run->r->late_sends++;
        }
        struct conn *c = &run->conns[run->scheduled++ % run->o->connections];
        conn_send(c, run->next_due);
        run->next_due += run_gap_ns(run);
        now = now_ns();
    }
    if (run->sending && (!run->due_end || run->next_due < run->due_end)) {
        struct timeval tv = tv_of_ns(run->next_due > now ? run->next_due - now : 0);
        evtimer_add(run->tick, &tv);
    }
}

static void run_send_more(struct run *run, struct conn *c)
{
    switch (run->o->mode) {
    case LOADGEN_CLOSED:
        for (unsigned i = 0; i < run->o->window && run->sending; i++)
            conn_send(c, now_ns());
        break;
    case LOADGEN_LONE:
        if (c->index == 0)
            conn_send(c, now_ns());
        break;
    case LOADGEN_HTTP:
        run_http_request(c);
        break;
    case LOADGEN_OPEN:
        break;
    }
}

/* Every connection is up: start the clock and the load. */
static void run_begin(struct run *run)
{
    const struct loadgen_opts *o = run->o;
    run->started = run->sending = true;
    run->t_start = now_ns();
    run->t_warm = run->t_start + (uint64_t)(o->warmup_s * (double)NS_PER_S);
    getrusage(RUSAGE_SELF, &run->ru_start);
    run->target_cpu_start = o->pid > 0 ? loadgen_cpu_s(o->pid) : -1;
    run_take_sample(run);
    if (o->pid > 0 && o->sample_ms > 0) {
        struct timeval tv = {o->sample_ms / 1000, (suseconds_t)(o->sample_ms % 1000) * 1000};
        event_add(run->sample, &tv);
    }
    if (o->progress) {
        struct timeval tv = {1, 0};
        event_add(run->progress, &tv);
    }
    if (o->duration_s > 0) {
        struct timeval tv = tv_of_ns((uint64_t)((o->warmup_s + o->duration_s) * (double)NS_PER_S));
        evtimer_add(run->stop, &tv);
    }
    if (o->mode == LOADGEN_OPEN) {
        run->next_due = run->t_start;
        /* The schedule ends with the run: a stop timer that fires late (a loaded machine) must
         * not let the events due after it go out. */
        if (o->duration_s > 0)
            run->due_end = run->t_start + (uint64_t)((o->warmup_s + o->duration_s) * (double)NS_PER_S);
        run_tick_cb(-1, 0, run);
        return;
    }
    for (unsigned i = 0; i < o->connections && run->sending; i++)
        run_send_more(run, &run->conns[i]);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    struct run *run = c->run;
    if (what & BEV_EVENT_CONNECTED) {
        int fd = (int)bufferevent_getfd(bev);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails harmlessly on unix sockets */
        c->connected = true;
        if (++run->nconnected == run->o->connections)
            run_begin(run);
        return;
    }
    if (what & BEV_EVENT_EOF)
        run_fail(run, "connection %u: closed by fcrd", c->index);
    else
        run_fail(run, "connection %u: %s", c->index, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    run_finish(run);
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

static void conn_http_done(struct evhttp_request *req, void *arg)
{
    struct conn *c = arg;
    struct run *run = c->run;
    struct loadgen_result *r = run->r;
    uint64_t now = now_ns();
    if (c->n == 0 || run->finished)
        return;
    struct stamp st = conn_pop(c);
    int code = req ? evhttp_request_get_response_code(req) : 0;
    r->replies++;
    run->t_last_reply = now;
    if (req)
        r->bytes_received += evbuffer_get_length(evhttp_request_get_input_buffer(req));
    if (st.due >= run->t_warm) {
        loadgen_hist_add(&r->latency, (now - st.due) / 1000);
        loadgen_hist_add(&r->latency_sent, (now - st.sent) / 1000);
    }
    if (run_in_window(run, now))
        r->measured++;
    if (code >= 200 && code < 300) {
        r->status[LOADGEN_ACCEPTED]++;
    } else {
        char name[40];
        snprintf(name, sizeof(name), code ? "http_%d" : "no_reply", code);
        r->status[LOADGEN_OTHER]++;
        run_count_code(run, name);
        if (!r->first_bad[0]) {
            snprintf(r->first_bad, sizeof(r->first_bad), "HTTP %d", code);
            if (req) {
                struct evbuffer *b = evhttp_request_get_input_buffer(req);
                size_t n = evbuffer_get_length(b);
                size_t at = strlen(r->first_bad);
                if (n > sizeof(r->first_bad) - at - 2)
                    n = sizeof(r->first_bad) - at - 2;
                r->first_bad[at++] = ' ';
                evbuffer_copyout(b, r->first_bad + at, n);
                r->first_bad[at + n] = '\0';
            }
        }
    }
    if (run->sending)
        run_http_request(c);
    run_maybe_done(run);
}

static void run_http_request(struct conn *c)
{
    struct run *run = c->run;
    struct evhttp_request *req = evhttp_request_new(conn_http_done, c);
    if (!req || !conn_push(c, now_ns())) {
        if (req)
            evhttp_request_free(req);
        run_fail(run, "cannot make an HTTP request");
        run_finish(run);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", run->host_header);
    evhttp_add_header(h, "Connection", run->o->http_close ? "close" : "keep-alive");
    if (run->authorization)
        evhttp_add_header(h, "Authorization", run->authorization);
    if (evhttp_make_request(c->http, req, EVHTTP_REQ_GET, run->o->path) != 0) {
        c->n--; /* evhttp_make_request has freed the request */
        run_fail(run, "cannot send an HTTP request");
        run_finish(run);
        return;
    }
    /* The connection's socket exists once a request is under way (the connection is made
     * lazily, and again after the server closed it). Without TCP_NODELAY a request can wait for
     * a delayed ACK: tens of milliseconds that would be charged to fcrd. */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->http);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd >= 0 && fd != c->nodelay_fd) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->nodelay_fd = fd;
    }
    run->r->sent++;
    if (run->o->events && run->r->sent >= run->o->events)
        run_stop_sending(run);
}

/* ---- set-up --------------------------------------------------------------------------------- */

/* Split "tcp:HOST:PORT", "HOST:PORT" or "http://HOST:PORT[/]" (IPv6 in brackets). */
static int run_split_hostport(struct run *run, const char *addr)
{
    if (strncmp(addr, "tcp:", 4) == 0)
        addr += 4;
    else if (strncmp(addr, "http://", 7) == 0)
        addr += 7;
    const char *colon = NULL;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return -1;
        snprintf(run->host, sizeof(run->host), "%.*s", (int)(close - addr - 1), addr + 1);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(run->host))
            return -1;
        snprintf(run->host, sizeof(run->host), "%.*s", (int)(colon - addr), addr);
    }
    snprintf(run->port, sizeof(run->port), "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
    char *end;
    long p = strtol(run->port, &end, 10);
    if (!run->port[0] || *end || p < 1 || p > 65535)
        return -1;
    snprintf(run->host_header, sizeof(run->host_header), strchr(run->host, ':') ? "[%s]:%s" : "%s:%s", run->host,
             run->port);
    return 0;
}

static int conn_open_feed(struct run *run, struct conn *c)
{
    const char *addr = run->o->address;
    c->bev = bufferevent_socket_new(run->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev)
        return -1;
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (strncmp(addr, "unix:", 5) == 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(addr + 5) >= sizeof(sun.sun_path))
            return -1;
        strcpy(sun.sun_path, addr + 5);
        return bufferevent_socket_connect(c->bev, (struct sockaddr *)&sun, (int)sizeof(sun));
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(run->host, run->port, &hints, &res) != 0 || !res)
        return -1;
    int rc = bufferevent_socket_connect(c->bev, res->ai_addr, (int)res->ai_addrlen);
    freeaddrinfo(res);
    return rc;
}

static void run_clear(struct run *run)
{
    if (run->conns) {
        for (unsigned i = 0; i < run->o->connections; i++) {
            struct conn *c = &run->conns[i];
            if (c->bev)
                bufferevent_free(c->bev);
            if (c->http)
                evhttp_connection_free(c->http);
            if (c->lone)
                event_free(c->lone);
            loadgen_gen_free(c->gen);
            free(c->stamps);
        }
        free(run->conns);
    }
    struct event *evs[] = {run->tick, run->stop, run->drain, run->sample, run->progress};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    free(run->authorization);
    free(run->line);
    if (run->base)
        event_base_free(run->base);
}

static int run_setup(struct run *run)
{
    const struct loadgen_opts *o = run->o;
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return -1;
    /* microsecond timers (timerfd with epoll): an open-loop schedule of 1 ms gaps needs them */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    run->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!run->base)
        return -1;
    run->tick = evtimer_new(run->base, run_tick_cb, run);
    run->stop = evtimer_new(run->base, run_stop_cb, run);
    run->drain = evtimer_new(run->base, run_drain_cb, run);
    run->sample = event_new(run->base, -1, EV_PERSIST, run_sample_cb, run);
    run->progress = event_new(run->base, -1, EV_PERSIST, run_progress_cb, run);
    run->conns = calloc(o->connections, sizeof(*run->conns));
    if (!run->tick || !run->stop || !run->drain || !run->sample || !run->progress || !run->conns)
        return -1;
    if (o->mode == LOADGEN_HTTP || strncmp(o->address, "unix:", 5) != 0) {
        if (run_split_hostport(run, o->address) != 0) {
            run_fail(run, "bad address '%s' (want tcp:HOST:PORT or unix:PATH; HTTP: HOST:PORT)", o->address);
            return -1;
        }
    }
    if (o->token && asprintf(&run->authorization, "Bearer %s", o->token) < 0) {
        run->authorization = NULL;
        return -1;
    }
    for (unsigned i = 0; i < o->connections; i++) {
        struct conn *c = &run->conns[i];
        c->run = run;
        c->index = i;
        if (o->mode == LOADGEN_HTTP) {
            c->http = evhttp_connection_base_new(run->base, NULL, run->host, (unsigned short)atoi(run->port));
            if (!c->http)
                return -1;
            evhttp_connection_set_timeout(c->http, (int)(o->drain_s > 1 ? o->drain_s : 1));
            evhttp_connection_set_retries(c->http, 0);
            c->connected = true;
            c->nodelay_fd = -1;
            continue;
        }
        struct loadgen_gen_params gp = o->gen;
        gp.stream = i;
        if (loadgen_gen_new(&c->gen, &gp) != 0) {
            run_fail(run, "bad traffic mix parameters");
            return -1;
        }
        size_t need = loadgen_gen_line_max(c->gen);
        if (need > run->line_cap) {
            free(run->line);
            run->line = malloc(need);
            run->line_cap = run->line ? need : 0;
            if (!run->line)
                return -1;
        }
        c->lone = evtimer_new(run->base, conn_lone_cb, c);
        if (!c->lone)
            return -1;
        if (conn_open_feed(run, c) != 0) {
            run_fail(run, "cannot connect to %s", o->address);
            return -1;
        }
    }
    run->rng = (uint64_t)o->gen.seed * 2 + 1;
    if (o->mode == LOADGEN_HTTP) {
        run->nconnected = o->connections;
        run_begin(run);
    }
    return 0;
}

/* ---- public --------------------------------------------------------------------------------- */

int loadgen_run(const struct loadgen_opts *o, struct loadgen_result *r)
{
    memset(r, 0, sizeof(*r));
    r->target_cpu_s = -1;
    if (o->connections < 1 || (o->mode == LOADGEN_CLOSED && o->window < 1) ||
        (o->mode == LOADGEN_OPEN && !(o->rate > 0)) || (o->duration_s <= 0 && o->events == 0) ||
        (o->mode == LOADGEN_HTTP && (!o->path || o->path[0] != '/'))) {
        snprintf(r->failure, sizeof(r->failure), "inconsistent options");
        return -1;
    }
    struct run run = {.o = o, .r = r};
    if (run_setup(&run) != 0) {
        if (!r->failure[0])
            snprintf(r->failure, sizeof(r->failure), "cannot set up: %s", strerror(errno ? errno : ENOMEM));
        run_clear(&run);
        return -1;
    }
    event_base_dispatch(run.base);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r->self_cpu_s = rusage_s(&ru) - rusage_s(&run.ru_start);
    if (o->pid > 0 && run.target_cpu_start >= 0) {
        double end = loadgen_cpu_s(o->pid);
        r->target_cpu_s = end >= 0 ? end - run.target_cpu_start : -1;
    }
    run_take_sample(&run);
    uint64_t last = run.t_last_reply ? run.t_last_reply : now_ns();
    r->elapsed_s = run.started ? seconds(last - run.t_start) : 0;
    /* The window: from the end of the warm-up to the end of sending (a timed run) or to the last
     * reply (a run of so many events). */
    uint64_t wend = o->duration_s > 0 ? run.t_stop : last;
    r->measured_s = wend > run.t_warm ? seconds(wend - run.t_warm) : 0;
    r->throughput = r->measured_s > 0 ? (double)r->measured / r->measured_s : 0;
    for (unsigned i = 0; i < o->connections && o->mode != LOADGEN_HTTP; i++) {
        struct loadgen_gen_counts gc;
        loadgen_gen_counts(run.conns[i].gen, &gc);
        r->mix.opened += gc.opened;
        r->mix.updated += gc.updated;
        r->mix.closed += gc.closed;
        r->mix.unconfirmed += gc.unconfirmed;
        r->mix.linked += gc.linked;
    }
    r->completed = !r->failure[0] && run.started && run_all_answered(&run);
    if (!r->completed && !r->failure[0])
        snprintf(r->failure, sizeof(r->failure), "the run did not complete");
    run_clear(&run);
    return 0;
}

void loadgen_result_clear(struct loadgen_result *r)
{
    free(r->samples);
    r->samples = NULL;
    r->nsamples = 0;
}
