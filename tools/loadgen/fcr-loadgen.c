/* fcr-loadgen.c: load generator for fcrd: drives the real feed (or the supervisor API) and prints
 * events per second, latency percentiles and the daemon's memory, as text or as one JSON object. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loadgen_run.h"

#define LOADGEN_SAMPLES_SHOWN 200

static void loadgen_usage(FILE *out)
{
    fprintf(out,
            "usage: fcr-loadgen [OPTION...] ADDRESS\n"
            "       fcr-loadgen --print N [MIX OPTION...]\n"
            "ADDRESS is fcrd's feed, tcp:HOST:PORT or unix:PATH (with --http: the API's HOST:PORT).\n"
            "\n"
            "Load (one of):\n"
            "  --closed W           keep W lines in flight per connection (the default, W 64): throughput\n"
            "  --open RATE          offer RATE events/s over all connections, whatever the replies do;\n"
            "                       latency is timed from each event's scheduled send time\n"
            "  --poisson            with --open: random (Poisson) arrivals instead of even gaps\n"
            "  --lone GAP_MS        one event at a time on connection 0, GAP_MS after each reply\n"
            "  --http PATH          GET PATH from the supervisor API, one request in flight per\n"
            "                       connection; the token comes from --token-file or FCR_LOADGEN_TOKEN\n"
            "  --http-close         with --http: a new connection for every request\n"
            "  -c, --connections N  connections (default 1)\n"
            "  -d, --duration S     measured seconds after the warm-up\n"
            "  -n, --events N       stop after sending N events (or requests)\n"
            "  -w, --warmup S       seconds sent and answered but neither timed nor counted (default 0)\n"
            "  --drain S            once sending stops, wait this long for replies (default 60)\n"
            "\n"
            "Traffic mix (feed):\n"
            "  --prefix TEXT        incident and event ids start with TEXT (default lg-TIME-PID)\n"
            "  --seed N             random seed (default 1)\n"
            "  --updates X          mean updates per incident, 0..8 (default 0.3)\n"
            "  --close X            share of incidents closed, 0..1 (default 0.2)\n"
            "  --unconfirmed X      share of openings by a third party, the victim not yet asked, which\n"
            "                       open a pending decision until an update confirms (default 0.1)\n"
            "  --links X            share of openings linked to a recent incident of the same connection,\n"
            "                       half as a second call about it, half as related, 0..1 (default 0.05)\n"
            "  --narrative BYTES    narrative length of an opening (default 240)\n"
            "  --refs N             every victim carries a command-and-control ref BV-k, k drawn from\n"
            "                       1..N per incident, and its suspect (when there is one) BS-(k mod\n"
            "                       50000): the refs bench/seed-persons.sql seeds, so the person index\n"
            "                       lookups hit its rows (default 0: no refs)\n"
            "  --pool N             incidents open at once awaiting follow-ups (default 1024)\n"
            "  --epoch SECONDS      event times from this Unix time on, a tenth of a second apart per\n"
            "                       connection, instead of the clock: the same options then generate\n"
            "                       the very same events (to measure resends, answered duplicate)\n"
            "\n"
            "Measurement:\n"
            "  --pid PID            sample this process's (fcrd's) resident memory and CPU time\n"
            "  --sample-ms MS       memory sampling interval (default 200)\n"
            "  --progress           a progress line per second on stderr\n"
            "  --json               print one JSON object instead of the text report\n"
            "  --token-file FILE    bearer token for --http (its first line)\n"
            "  --print N            print N generated events on stdout and exit\n"
            "\n"
            "Exit status: 0 when every line got its reply and every reply was accepted or duplicate\n"
            "(HTTP: 2xx); 1 otherwise; 2 on a usage error.\n");
}

enum {
    OPT_CLOSED = 256,
    OPT_OPEN,
    OPT_POISSON,
    OPT_LONE,
    OPT_HTTP,
    OPT_HTTP_CLOSE,
    OPT_DRAIN,
    OPT_PREFIX,
    OPT_SEED,
    OPT_UPDATES,
    OPT_CLOSE,
    OPT_UNCONFIRMED,
    OPT_LINKS,
    OPT_NARRATIVE,
    OPT_REFS,
    OPT_POOL,
    OPT_EPOCH,
    OPT_PID,
    OPT_SAMPLE_MS,
    OPT_PROGRESS,
    OPT_JSON,
    OPT_TOKEN_FILE,
    OPT_PRINT,
    OPT_HELP,
};

static const struct option loadgen_options[] = {
    {"closed", required_argument, NULL, OPT_CLOSED},
    {"open", required_argument, NULL, OPT_OPEN},
    {"poisson", no_argument, NULL, OPT_POISSON},
    {"lone", required_argument, NULL, OPT_LONE},
    {"http", required_argument, NULL, OPT_HTTP},
    {"http-close", no_argument, NULL, OPT_HTTP_CLOSE},
    {"connections", required_argument, NULL, 'c'},
    {"duration", required_argument, NULL, 'd'},
    {"events", required_argument, NULL, 'n'},
    {"warmup", required_argument, NULL, 'w'},
    {"drain", required_argument, NULL, OPT_DRAIN},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"seed", required_argument, NULL, OPT_SEED},
    {"updates", required_argument, NULL, OPT_UPDATES},
    {"close", required_argument, NULL, OPT_CLOSE},
    {"unconfirmed", required_argument, NULL, OPT_UNCONFIRMED},
    {"links", required_argument, NULL, OPT_LINKS},
    {"narrative", required_argument, NULL, OPT_NARRATIVE},
    {"refs", required_argument, NULL, OPT_REFS},
    {"pool", required_argument, NULL, OPT_POOL},
    {"epoch", required_argument, NULL, OPT_EPOCH},
    {"pid", required_argument, NULL, OPT_PID},
    {"sample-ms", required_argument, NULL, OPT_SAMPLE_MS},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"json", no_argument, NULL, OPT_JSON},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"print", required_argument, NULL, OPT_PRINT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* A number within [lo, hi], or exit 2 saying which option is wrong. */
static double loadgen_number(const char *opt, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !(d >= lo && d <= hi)) {
        fprintf(stderr, "fcr-loadgen: --%s wants a number from %g to %g, not '%s'\n", opt, lo, hi, v);
        exit(2);
    }
    return d;
}

static char *loadgen_read_token(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "fcr-loadgen: cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    char buf[4096];
    char *tok = NULL;
    if (fgets(buf, sizeof(buf), f)) {
        buf[strcspn(buf, "\r\n")] = '\0';
        tok = strdup(buf);
    }
    fclose(f);
    if (!tok || !*tok) {
        fprintf(stderr, "fcr-loadgen: no token in %s\n", path);
        exit(2);
    }
    return tok;
}

static const char *loadgen_mode_name(enum loadgen_mode m)
{
    switch (m) {
    case LOADGEN_CLOSED:
        return "closed";
    case LOADGEN_OPEN:
        return "open";
    case LOADGEN_LONE:
        return "lone";
    case LOADGEN_HTTP:
        return "http";
    }
    return "?";
}

static int loadgen_print(const struct loadgen_opts *o, unsigned long long n)
{
    struct loadgen_gen *g = NULL;
    if (loadgen_gen_new(&g, &o->gen) != 0) {
        fprintf(stderr, "fcr-loadgen: bad traffic mix parameters\n");
        return 2;
    }
    size_t cap = loadgen_gen_line_max(g);
    char *buf = malloc(cap);
    int rc = buf ? 0 : 1;
    for (unsigned long long i = 0; i < n && rc == 0; i++) {
        size_t len = loadgen_gen_next(g, (int64_t)time(NULL), buf, cap);
        if (len == 0 || fwrite(buf, 1, len, stdout) != len)
            rc = 1;
    }
    free(buf);
    loadgen_gen_free(g);
    return fflush(stdout) == 0 ? rc : 1;
}

/* ---- report --------------------------------------------------------------------------------- */

static json_t *loadgen_latency_json(const struct loadgen_hist *h)
{
    return json_pack("{s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "count", (json_int_t)h->count, "mean",
                     loadgen_hist_mean(h), "min", (json_int_t)(h->count ? h->min : 0), "p50",
                     (json_int_t)loadgen_hist_quantile(h, 0.50), "p90", (json_int_t)loadgen_hist_quantile(h, 0.90),
                     "p99", (json_int_t)loadgen_hist_quantile(h, 0.99), "p999",
                     (json_int_t)loadgen_hist_quantile(h, 0.999), "max", (json_int_t)h->max, "p9999",
                     (json_int_t)loadgen_hist_quantile(h, 0.9999));
}

static void loadgen_report_json(const struct loadgen_opts *o, const struct loadgen_result *r)
{
    json_t *status = json_object();
    for (unsigned i = 0; i < LOADGEN_NSTATUS; i++)
        json_object_set_new(status, loadgen_status_name(i), json_integer((json_int_t)r->status[i]));
    json_t *codes = json_object();
    for (unsigned i = 0; i < r->ncodes; i++)
        json_object_set_new(codes, r->codes[i].code, json_integer((json_int_t)r->codes[i].n));
    json_t *samples = json_array();
    size_t step = 1; /* at most about LOADGEN_SAMPLES_SHOWN of them, the last one always */
    if (r->nsamples > LOADGEN_SAMPLES_SHOWN)
        step = (r->nsamples + LOADGEN_SAMPLES_SHOWN - 1) / LOADGEN_SAMPLES_SHOWN;
    for (size_t i = 0; i < r->nsamples; i += step)
        json_array_append_new(samples, json_pack("[f, I, I]", r->samples[i].t_s, (json_int_t)r->samples[i].replies,
                                                 (json_int_t)r->samples[i].rss_kb));
    if (r->nsamples > 0 && (r->nsamples - 1) % step != 0) {
        const struct loadgen_sample *s = &r->samples[r->nsamples - 1];
        json_array_append_new(samples, json_pack("[f, I, I]", s->t_s, (json_int_t)s->replies, (json_int_t)s->rss_kb));
    }
    json_t *doc = json_pack(
        "{s:s, s:s, s:I, s:I, s:f, s:b, s:f, s:f, s:I, s:b, s:s?, s:s?}", "mode", loadgen_mode_name(o->mode), "address",
        o->address, "connections", (json_int_t)o->connections, "window", (json_int_t)o->window, "rate", o->rate,
        "poisson", o->poisson, "warmup_s", o->warmup_s, "duration_s", o->duration_s, "events",
        (json_int_t)o->events, "completed", r->completed, "failure", r->failure[0] ? r->failure : NULL,
        "first_bad_reply", r->first_bad[0] ? r->first_bad : NULL);
    json_object_set_new(doc, "sent", json_integer((json_int_t)r->sent));
    json_object_set_new(doc, "replies", json_integer((json_int_t)r->replies));
    json_object_set_new(doc, "status", status);
    json_object_set_new(doc, "error_codes", codes);
    json_object_set_new(doc, "mix", json_pack("{s:I, s:I, s:I, s:I, s:I}", "opened", (json_int_t)r->mix.opened,
                                              "updated", (json_int_t)r->mix.updated, "closed",
                                              (json_int_t)r->mix.closed, "unconfirmed",
                                              (json_int_t)r->mix.unconfirmed, "linked", (json_int_t)r->mix.linked));
    json_object_set_new(doc, "elapsed_s", json_real(r->elapsed_s));
    json_object_set_new(doc, "measured_s", json_real(r->measured_s));
    json_object_set_new(doc, "measured", json_integer((json_int_t)r->measured));
    json_object_set_new(doc, "throughput", json_real(r->throughput));
    json_object_set_new(doc, "latency_us", loadgen_latency_json(&r->latency));
    json_object_set_new(doc, "latency_from_send_us", loadgen_latency_json(&r->latency_sent));
    json_object_set_new(doc, "http_close", json_boolean(o->http_close));
    json_object_set_new(doc, "schedule", json_pack("{s:I, s:I}", "max_lag_us", (json_int_t)r->max_lag_us,
                                                   "late_sends", (json_int_t)r->late_sends));
    json_object_set_new(doc, "bytes", json_pack("{s:I, s:I}", "sent", (json_int_t)r->bytes_sent, "received",
                                                (json_int_t)r->bytes_received));
    json_object_set_new(doc, "cpu_s", json_pack("{s:f, s:f}", "loadgen", r->self_cpu_s, "target", r->target_cpu_s));
    if (o->pid > 0)
        json_object_set_new(doc, "rss_kb", json_pack("{s:i, s:I, s:I, s:I, s:o}", "pid", o->pid, "start",
                                                     (json_int_t)r->rss_start_kb, "max", (json_int_t)r->rss_max_kb,
                                                     "end", (json_int_t)r->rss_end_kb, "samples", samples));
    else
        json_decref(samples);
    json_dumpf(doc, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(doc);
}

/* One line's start: "  LABEL  p50 …, mean … ms" in milliseconds, no newline. */
static void loadgen_print_latency(const char *label, const struct loadgen_hist *h)
{
    printf("  %-11s p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms, mean %.2f ms", label,
           (double)loadgen_hist_quantile(h, 0.5) / 1000, (double)loadgen_hist_quantile(h, 0.9) / 1000,
           (double)loadgen_hist_quantile(h, 0.99) / 1000, (double)loadgen_hist_quantile(h, 0.999) / 1000,
           (double)h->max / 1000, loadgen_hist_mean(h) / 1000);
}

static void loadgen_report_text(const struct loadgen_opts *o, const struct loadgen_result *r)
{
    const struct loadgen_hist *h = &r->latency;
    printf("fcr-loadgen: %s", loadgen_mode_name(o->mode));
    switch (o->mode) {
    case LOADGEN_CLOSED:
        printf(", %u in flight per connection", o->window);
        break;
    case LOADGEN_OPEN:
        printf(", %.0f events/s offered (%s)", o->rate, o->poisson ? "Poisson" : "even gaps");
        break;
    case LOADGEN_LONE:
        printf(", %u ms between a reply and the next event", o->gap_ms);
        break;
    case LOADGEN_HTTP:
        printf(" GET %s%s", o->path, o->http_close ? " (a connection per request)" : "");
        break;
    }
    printf(", %u connection(s) to %s\n", o->connections, o->address);
    if (o->mode != LOADGEN_HTTP)
        printf("  sent        %llu (opened %llu, of which third-party %llu and linked %llu; updated %llu; closed %llu)\n",
               (unsigned long long)r->sent, (unsigned long long)r->mix.opened, (unsigned long long)r->mix.unconfirmed,
               (unsigned long long)r->mix.linked, (unsigned long long)r->mix.updated,
               (unsigned long long)r->mix.closed);
    else
        printf("  sent        %llu request(s)\n", (unsigned long long)r->sent);
    printf("  replies     %llu:", (unsigned long long)r->replies);
    for (unsigned i = 0; i < LOADGEN_NSTATUS; i++)
        printf(" %s %llu%s", o->mode == LOADGEN_HTTP && i == LOADGEN_ACCEPTED ? "2xx" : loadgen_status_name(i),
               (unsigned long long)r->status[i], i + 1 < LOADGEN_NSTATUS ? "," : "\n");
    for (unsigned i = 0; i < r->ncodes; i++)
        printf("              %s: %llu\n", r->codes[i].code, (unsigned long long)r->codes[i].n);
    if (r->first_bad[0])
        printf("  first bad   %s\n", r->first_bad);
    printf("  elapsed     %.2f s; measured %.2f s (after %.1f s warm-up), %llu replies\n", r->elapsed_s, r->measured_s,
           o->warmup_s, (unsigned long long)r->measured);
    printf("  throughput  %.0f /s\n", r->throughput);
    loadgen_print_latency("latency", h);
    printf(" (%llu timed)\n", (unsigned long long)h->count);
    if (o->mode == LOADGEN_OPEN) {
        printf("  schedule    sends late by over 1 ms: %llu; worst %.2f ms\n", (unsigned long long)r->late_sends,
               (double)r->max_lag_us / 1000);
        loadgen_print_latency("from send", &r->latency_sent);
        printf(" (from the actual send, not the schedule)\n");
    }
    double wall = r->elapsed_s > 0 ? r->elapsed_s : 1;
    printf("  cpu         fcr-loadgen %.1f %% of a core", 100 * r->self_cpu_s / wall);
    if (r->target_cpu_s >= 0)
        printf(", pid %d %.1f %% of a core", o->pid, 100 * r->target_cpu_s / wall);
    printf("\n");
    if (o->pid > 0 && r->nsamples > 0)
        printf("  memory      pid %d resident: start %.1f MiB, max %.1f MiB, end %.1f MiB (%zu samples)\n", o->pid,
               (double)r->rss_start_kb / 1024, (double)r->rss_max_kb / 1024, (double)r->rss_end_kb / 1024,
               r->nsamples);
    if (!r->completed)
        printf("  INCOMPLETE  %s\n", r->failure);
}

/* ---- main ----------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    char prefix[48];
    snprintf(prefix, sizeof(prefix), "lg-%lld-%d", (long long)time(NULL), (int)getpid());
    struct loadgen_opts o = {
        .mode = LOADGEN_CLOSED,
        .connections = 1,
        .window = 64,
        .drain_s = 60,
        .sample_ms = 200,
        .gen = {.prefix = prefix, .seed = 1, .updates = 0.3, .closed = 0.2, .unconfirmed = 0.1, .links = 0.05, .narrative = 240,
                .pool = 1024},
    };
    bool json = false;
    unsigned long long print = 0;
    bool printing = false;
    char *token = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:d:n:w:h", loadgen_options, NULL)) != -1) {
        switch (opt) {
        case OPT_CLOSED:
            o.mode = LOADGEN_CLOSED;
            o.window = (unsigned)loadgen_number("closed", optarg, 1, 1 << 20);
            break;
        case OPT_OPEN:
            o.mode = LOADGEN_OPEN;
            o.rate = loadgen_number("open", optarg, 0.001, 1e7);
            break;
        case OPT_POISSON:
            o.poisson = true;
            break;
        case OPT_LONE:
            o.mode = LOADGEN_LONE;
            o.gap_ms = (unsigned)loadgen_number("lone", optarg, 0, 3600000);
            break;
        case OPT_HTTP:
            o.mode = LOADGEN_HTTP;
            o.path = optarg;
            break;
        case OPT_HTTP_CLOSE:
            o.http_close = true;
            break;
        case 'c':
            o.connections = (unsigned)loadgen_number("connections", optarg, 1, 10000);
            break;
        case 'd':
            o.duration_s = loadgen_number("duration", optarg, 0.001, 86400 * 7);
            break;
        case 'n':
            o.events = (uint64_t)loadgen_number("events", optarg, 1, 1e12);
            break;
        case 'w':
            o.warmup_s = loadgen_number("warmup", optarg, 0, 86400);
            break;
        case OPT_DRAIN:
            o.drain_s = loadgen_number("drain", optarg, 0.001, 86400);
            break;
        case OPT_PREFIX:
            o.gen.prefix = optarg;
            break;
        case OPT_SEED:
            o.gen.seed = (uint64_t)loadgen_number("seed", optarg, 0, 1e15);
            break;
        case OPT_UPDATES:
            o.gen.updates = loadgen_number("updates", optarg, 0, 8);
            break;
        case OPT_CLOSE:
            o.gen.closed = loadgen_number("close", optarg, 0, 1);
            break;
        case OPT_UNCONFIRMED:
            o.gen.unconfirmed = loadgen_number("unconfirmed", optarg, 0, 1);
            break;
        case OPT_LINKS:
            o.gen.links = loadgen_number("links", optarg, 0, 1);
            break;
        case OPT_NARRATIVE:
            o.gen.narrative = (unsigned)loadgen_number("narrative", optarg, 0, 16000);
            break;
        case OPT_REFS:
            o.gen.refs = (uint64_t)loadgen_number("refs", optarg, 0, 1e12);
            break;
        case OPT_POOL:
            o.gen.pool = (unsigned)loadgen_number("pool", optarg, 1, 1 << 24);
            break;
        case OPT_EPOCH:
            o.gen.epoch = (int64_t)loadgen_number("epoch", optarg, 1, 253402300799.0);
            break;
        case OPT_PID:
            o.pid = (int)loadgen_number("pid", optarg, 1, 1 << 30);
            break;
        case OPT_SAMPLE_MS:
            o.sample_ms = (unsigned)loadgen_number("sample-ms", optarg, 1, 3600000);
            break;
        case OPT_PROGRESS:
            o.progress = true;
            break;
        case OPT_JSON:
            json = true;
            break;
        case OPT_TOKEN_FILE:
            free(token);
            token = loadgen_read_token(optarg);
            break;
        case OPT_PRINT:
            print = (unsigned long long)loadgen_number("print", optarg, 0, 1e12);
            printing = true;
            break;
        case 'h':
        case OPT_HELP:
            loadgen_usage(stdout);
            return 0;
        default:
            loadgen_usage(stderr);
            return 2;
        }
    }
    if (strlen(o.gen.prefix) < 1 || strlen(o.gen.prefix) > 32 || strpbrk(o.gen.prefix, "\"\\")) {
        fprintf(stderr, "fcr-loadgen: --prefix wants 1 to 32 characters, no quotes or backslashes\n");
        return 2;
    }
    if (printing) {
        free(token);
        return loadgen_print(&o, print);
    }
    if (optind + 1 != argc) {
        loadgen_usage(stderr);
        free(token);
        return 2;
    }
    o.address = argv[optind];
    if (o.duration_s <= 0 && o.events == 0) {
        fprintf(stderr, "fcr-loadgen: say how long to run: --duration S or --events N\n");
        free(token);
        return 2;
    }
    if (o.mode == LOADGEN_HTTP) {
        if (!token && getenv("FCR_LOADGEN_TOKEN") && *getenv("FCR_LOADGEN_TOKEN"))
            token = strdup(getenv("FCR_LOADGEN_TOKEN"));
        o.token = token;
        if (o.path[0] != '/') {
            fprintf(stderr, "fcr-loadgen: --http wants a path starting with /\n");
            free(token);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct loadgen_result r;
    int rc = loadgen_run(&o, &r);
    if (rc != 0 && !json) {
        fprintf(stderr, "fcr-loadgen: %s\n", r.failure);
        loadgen_result_clear(&r);
        free(token);
        return 1;
    }
    if (json)
        loadgen_report_json(&o, &r);
    else
        loadgen_report_text(&o, &r);
    fflush(stdout);
    bool good = r.completed && r.status[LOADGEN_REJECTED] == 0 && r.status[LOADGEN_RETRY] == 0 &&
                r.status[LOADGEN_OTHER] == 0;
    if (!r.completed)
        fprintf(stderr, "fcr-loadgen: %s\n", r.failure);
    loadgen_result_clear(&r);
    free(token);
    return good ? 0 : 1;
}
