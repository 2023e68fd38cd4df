/* loadgen_run.h: fcr-loadgen's engine: connections to fcrd's feed (or its HTTP API), the offered
 * load, reply matching and timing, and sampling of the daemon's memory and CPU. */
#ifndef LOADGEN_RUN_H
#define LOADGEN_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "loadgen_gen.h"
#include "loadgen_hist.h"

enum loadgen_mode {
    LOADGEN_CLOSED, /* each connection keeps `window` lines in flight: throughput */
    LOADGEN_OPEN,   /* `rate` events/s offered whatever the replies do: latency under load */
    LOADGEN_LONE,   /* one event at a time, `gap_ms` apart, on an otherwise idle daemon */
    LOADGEN_HTTP,   /* GET `path` with one request in flight per connection */
};

/* Reply statuses of the feed contract, and everything else. For LOADGEN_HTTP: 2xx is
 * "accepted", any other HTTP status or no reply at all is "other". */
enum loadgen_status { LOADGEN_ACCEPTED, LOADGEN_DUPLICATE, LOADGEN_REJECTED, LOADGEN_RETRY, LOADGEN_OTHER };
#define LOADGEN_NSTATUS 5
#define LOADGEN_NCODES 16

struct loadgen_opts {
    enum loadgen_mode mode;
    const char *address;  /* feed: tcp:HOST:PORT or unix:PATH; HTTP: [http://]HOST:PORT */
    unsigned connections; /* >= 1 */
    unsigned window;      /* LOADGEN_CLOSED: lines in flight per connection */
    double rate;          /* LOADGEN_OPEN: events/s over all connections */
    bool poisson;         /* LOADGEN_OPEN: random (exponential) gaps instead of even ones */
    double warmup_s;      /* sent, answered, but neither timed nor counted */
    double duration_s;    /* measured time after the warm-up; 0: until `events` are sent */
    uint64_t events;      /* stop after sending this many (0: no limit; then duration_s > 0) */
    unsigned gap_ms;      /* LOADGEN_LONE: pause between a reply and the next event */
    double drain_s;       /* once sending stops, how long replies may take to arrive */
    int pid;              /* fcrd's pid: its RSS and CPU are sampled; 0: not sampled */
    unsigned sample_ms;   /* RSS sampling interval */
    bool progress;        /* a line per second on stderr */
    struct loadgen_gen_params gen; /* `stream` is set per connection */
    const char *path;     /* LOADGEN_HTTP: request target, e.g. "/v1/pending?limit=100" */
    const char *token;    /* LOADGEN_HTTP: bearer token, or NULL */
    bool http_close;      /* LOADGEN_HTTP: a new connection per request ("Connection: close") */
};

/* One RSS sample: seconds since the start, replies received by then, resident set in KiB. */
struct loadgen_sample {
    double t_s;
    uint64_t replies;
    uint64_t rss_kb;
};

struct loadgen_result {
    bool completed;       /* every line sent got its reply and no connection failed */
    char failure[256];    /* why not, when !completed */
    uint64_t sent, replies;
    uint64_t status[LOADGEN_NSTATUS];
    struct {
        char code[40];
        uint64_t n;
    } codes[LOADGEN_NCODES];  /* error codes of rejected/retry replies (HTTP: "http_NNN") */
    unsigned ncodes;
    char first_bad[512];      /* the first reply that was neither accepted nor duplicate */
    struct loadgen_gen_counts mix;
    double elapsed_s;         /* first send to last reply */
    double measured_s;        /* the measured window */
    uint64_t measured;        /* replies that arrived inside it */
    double throughput;        /* measured / measured_s */
    struct loadgen_hist latency; /* microseconds, send (for LOADGEN_OPEN: the scheduled send) to reply */
    struct loadgen_hist latency_sent; /* microseconds, from when the line was actually sent: differs from
                                         `latency` only when an open-loop sender fell behind */
    uint64_t max_lag_us, late_sends; /* LOADGEN_OPEN: how far sending fell behind schedule */
    uint64_t bytes_sent, bytes_received;
    double self_cpu_s;        /* the load generator's own CPU time */
    double target_cpu_s;      /* the sampled process's CPU time during the run, -1 when unknown */
    uint64_t rss_start_kb, rss_max_kb, rss_end_kb;
    struct loadgen_sample *samples; /* owned; released by loadgen_result_clear */
    size_t nsamples;
};

/* loadgen_run: run one measurement. Returns 0 when it ran (see r->completed for whether it went
 * well), -1 when it could not start (message in r->failure). r is overwritten; clear it after. */
int loadgen_run(const struct loadgen_opts *o, struct loadgen_result *r);
void loadgen_result_clear(struct loadgen_result *r);

const char *loadgen_status_name(enum loadgen_status s);

/* loadgen_reply_status: the status of one feed reply line, and its error code (copied into code,
 * "" when none). Looks for the fields by text: fcrd's replies are compact JSON. */
enum loadgen_status loadgen_reply_status(const char *line, size_t len, char *code, size_t codelen);

/* loadgen_rss_kb / loadgen_cpu_s: a process's resident set (KiB) and CPU time (user + system,
 * seconds) from /proc; -1 when it cannot be read. */
long long loadgen_rss_kb(int pid);
double loadgen_cpu_s(int pid);

#endif
