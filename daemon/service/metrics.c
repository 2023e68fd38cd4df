/* metrics.c: counters, gauges and histograms of the running daemon, and their Prometheus text
 * rendering (exposition format 0.0.4). Recording is a few additions on the loop; nothing here
 * does I/O except appending to the buffer handed to metrics_render. */
#include "service/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define HIST_MAX_BUCKETS 16
#define CODES_MAX 64      /* distinct error codes kept per status; more fold into "other" */
#define CODE_LEN_MAX 40
#define CATEGORIES_MAX 64 /* crime categories kept from the rule set; more fold into "other" */
#define LABEL_LEN_MAX 64

struct histogram {
    const double *bounds; /* upper bounds, increasing; +Inf is implied */
    size_t nbounds;
    uint64_t counts[HIST_MAX_BUCKETS]; /* per bucket, not cumulative; [nbounds] is +Inf */
    uint64_t count;
    double sum;
};

struct code_count {
    char code[CODE_LEN_MAX + 1];
    uint64_t n;
};

struct code_table {
    struct code_count items[CODES_MAX];
    size_t n;
};

struct category_count {
    char name[LABEL_LEN_MAX + 1];
    int64_t n;
};

struct metrics {
    double start_time; /* wall clock, seconds since the epoch */
    /* feed */
    uint64_t lines;
    uint64_t accepted, duplicate;
    struct code_table rejected, retry;
    uint64_t conns_accepted, conns_refused;
    uint64_t tls_failures;
    struct histogram ack;
    /* api */
    uint64_t auth_failures[METRICS_AUTH_KINDS];
    uint64_t access_written, access_failed;
    uint64_t api_conns_accepted, api_conns_refused;
    uint64_t api_cut_headers, api_cut_body;
    uint64_t api_read_timeouts;
    uint64_t accept_pauses[METRICS_LISTENERS];
    /* store */
    struct histogram batch, commit;
    uint64_t rollbacks;
    uint64_t states_cached, states_read; /* incident states a lane's cache gave, and read from rows */
    uint64_t direct, direct_misses;
    bool read_only; /* a write refused as read-only (SQLSTATE 25006) since the last commit */
    /* daemon */
    uint64_t reloads_ok, reloads_failed;
    double last_reload_ok;
    metrics_sample_fn sampler;
    void *sampler_arg;
    /* database figures */
    bool have_stats;
    int64_t pending_open, pending_overdue;
    struct category_count crimes[CATEGORIES_MAX];
    size_t ncrimes;
    double stats_time;
    uint64_t stats_failures;
    /* audit checkpoints */
    uint64_t checkpoint_failures;
    double checkpoint_ok_time;
};

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10,   30};
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};

static double wall_clock(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void histogram_init(struct histogram *h, const double *bounds, size_t n)
{
    h->bounds = bounds;
    h->nbounds = n < HIST_MAX_BUCKETS ? n : HIST_MAX_BUCKETS - 1;
}

static void histogram_observe(struct histogram *h, double v)
{
    if (!isfinite(v) || v < 0)
        v = 0;
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->start_time = wall_clock();
    histogram_init(&m->ack, latency_bounds, sizeof(latency_bounds) / sizeof(latency_bounds[0]));
    histogram_init(&m->commit, latency_bounds, sizeof(latency_bounds) / sizeof(latency_bounds[0]));
    histogram_init(&m->batch, batch_bounds, sizeof(batch_bounds) / sizeof(batch_bounds[0]));
    return m;
}

struct metrics *metrics_free(struct metrics *m)
{
    free(m);
    return NULL;
}

double metrics_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- recording ------------------------------------------------------------------------------ */

void metrics_feed_line(struct metrics *m)
{
    if (m)
        m->lines++;
}

/* code_ok: the feed contract's codes are short snake_case words; anything else is not used as
 * a label value, so a bug can never blow up the number of series. */
static bool code_ok(const char *code)
{
    size_t n = 0;
    for (; code[n]; n++) {
        char c = code[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return n > 0 && n <= CODE_LEN_MAX;
}

static void code_count(struct code_table *t, const char *code)
{
    if (!code || !code_ok(code))
        code = "other";
    for (;;) {
        for (size_t i = 0; i < t->n; i++) {
            if (strcmp(t->items[i].code, code) == 0) {
                t->items[i].n++;
                return;
            }
        }
        /* The last place is kept for "other". */
        if (t->n < CODES_MAX - 1 || strcmp(code, "other") == 0)
            break;
        code = "other";
    }
    snprintf(t->items[t->n].code, sizeof(t->items[t->n].code), "%s", code);
    t->items[t->n].n = 1;
    t->n++;
}

void metrics_feed_reply(struct metrics *m, const json_t *reply)
{
    if (!m || !reply)
        return;
    const char *status = json_string_value(json_object_get(reply, "status"));
    const char *code = json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
    if (!status)
        return;
    if (strcmp(status, "accepted") == 0)
        m->accepted++;
    else if (strcmp(status, "duplicate") == 0)
        m->duplicate++;
    else if (strcmp(status, "rejected") == 0)
        code_count(&m->rejected, code);
    else if (strcmp(status, "retry") == 0)
        code_count(&m->retry, code);
}

void metrics_feed_ack(struct metrics *m, double seconds)
{
    if (m)
        histogram_observe(&m->ack, seconds);
}

void metrics_feed_connection(struct metrics *m, bool accepted)
{
    if (!m)
        return;
    if (accepted)
        m->conns_accepted++;
    else
        m->conns_refused++;
}

void metrics_feed_tls_failure(struct metrics *m)
{
    if (m)
        m->tls_failures++;
}

void metrics_api_auth_failure(struct metrics *m, enum metrics_auth why)
{
    if (m && (size_t)why < METRICS_AUTH_KINDS)
        m->auth_failures[why]++;
}

void metrics_access_log(struct metrics *m, bool ok, size_t n)
{
    if (m && ok)
        m->access_written += n;
    else if (m)
        m->access_failed += n;
}

void metrics_api_connection(struct metrics *m, bool accepted)
{
    if (!m)
        return;
    if (accepted)
        m->api_conns_accepted++;
    else
        m->api_conns_refused++;
}

void metrics_api_request_cut(struct metrics *m, bool headers)
{
    if (!m)
        return;
    if (headers)
        m->api_cut_headers++;
    else
        m->api_cut_body++;
}

void metrics_api_read_timeout(struct metrics *m)
{
    if (m)
        m->api_read_timeouts++;
}

void metrics_accept_pause(struct metrics *m, enum metrics_listener which)
{
    if (m && (size_t)which < METRICS_LISTENERS)
        m->accept_pauses[which]++;
}

void metrics_store_commit(struct metrics *m, size_t events, double seconds)
{
    if (!m)
        return;
    histogram_observe(&m->batch, (double)events);
    histogram_observe(&m->commit, seconds);
}

void metrics_store_states(struct metrics *m, uint64_t cached, uint64_t read)
{
    if (m) {
        m->states_cached += cached;
        m->states_read += read;
    }
}

void metrics_store_rollback(struct metrics *m)
{
    if (m)
        m->rollbacks++;
}

void metrics_store_direct(struct metrics *m, bool missed)
{
    if (!m)
        return;
    if (missed)
        m->direct_misses++;
    else
        m->direct++;
}

void metrics_store_read_only(struct metrics *m, bool read_only)
{
    if (m)
        m->read_only = read_only;
}

void metrics_reload(struct metrics *m, bool ok)
{
    if (!m)
        return;
    if (ok) {
        m->reloads_ok++;
        m->last_reload_ok = wall_clock();
    } else {
        m->reloads_failed++;
    }
}

void metrics_set_sampler(struct metrics *m, metrics_sample_fn fn, void *arg)
{
    if (!m)
        return;
    m->sampler = fn;
    m->sampler_arg = arg;
}

void metrics_set_stats(struct metrics *m, int64_t pending_open, int64_t pending_overdue, const json_t *crimes,
                       double when)
{
    if (!m)
        return;
    m->have_stats = true;
    m->pending_open = pending_open;
    m->pending_overdue = pending_overdue;
    m->stats_time = when;
    m->ncrimes = 0;
    int64_t other = 0;
    bool have_other = false;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)crimes, name, v)
    {
        int64_t n = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
        if (strcmp(name, "other") == 0 || strlen(name) > LABEL_LEN_MAX || m->ncrimes == CATEGORIES_MAX - 1) {
            other += n;
            have_other = true;
            continue;
        }
        struct category_count *c = &m->crimes[m->ncrimes++];
        snprintf(c->name, sizeof(c->name), "%s", name);
        c->n = n;
    }
    if (have_other) {
        struct category_count *c = &m->crimes[m->ncrimes++];
        snprintf(c->name, sizeof(c->name), "other");
        c->n = other;
    }
}

void metrics_stats_failed(struct metrics *m)
{
    if (m)
        m->stats_failures++;
}

void metrics_checkpoint(struct metrics *m, bool ok, double when)
{
    if (!m)
        return;
    if (ok)
        m->checkpoint_ok_time = when;
    else
        m->checkpoint_failures++;
}

/* ---- rendering ------------------------------------------------------------------------------ */

/* Rendering appends to an evbuffer and remembers the first failure, so the code reads as a
 * list of lines. */
struct out {
    struct evbuffer *b;
    int rc;
};

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (evbuffer_add_vprintf(o->b, fmt, ap) < 0)
        o->rc = -1;
    va_end(ap);
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    emit(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* label_value: a label value with backslash, double quote and newline escaped, as the format
 * requires. */
static void label_value(const char *s, char *buf, size_t len)
{
    size_t j = 0;
    for (; *s && j + 3 < len; s++) {
        if (*s == '\\' || *s == '"') {
            buf[j++] = '\\';
            buf[j++] = *s;
        } else if (*s == '\n') {
            buf[j++] = '\\';
            buf[j++] = 'n';
        } else {
            buf[j++] = *s;
        }
    }
    buf[j] = '\0';
}

/* number: Prometheus floats; integers print without a fraction. */
static void number(double v, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "NaN");
    else if (isinf(v))
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%.15g", v);
}

static void counter(struct out *o, const char *name, const char *help, uint64_t v)
{
    family(o, name, "counter", help);
    emit(o, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(struct out *o, const char *name, const char *help, double v)
{
    char num[64];
    number(v, num, sizeof(num));
    family(o, name, "gauge", help);
    emit(o, "%s %s\n", name, num);
}

static void histogram(struct out *o, const char *name, const char *help, const struct histogram *h)
{
    family(o, name, "histogram", help);
    uint64_t cum = 0;
    char num[64];
    for (size_t i = 0; i < h->nbounds; i++) {
        cum += h->counts[i];
        number(h->bounds[i], num, sizeof(num));
        emit(o, "%s_bucket{le=\"%s\"} %llu\n", name, num, (unsigned long long)cum);
    }
    emit(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
    number(h->sum, num, sizeof(num));
    emit(o, "%s_sum %s\n%s_count %llu\n", name, num, name, (unsigned long long)h->count);
}

static void codes(struct out *o, const char *name, const char *help, const struct code_table *t)
{
    family(o, name, "counter", help);
    for (size_t i = 0; i < t->n; i++)
        emit(o, "%s{code=\"%s\"} %llu\n", name, t->items[i].code, (unsigned long long)t->items[i].n);
}

int metrics_render(struct metrics *m, struct evbuffer *out)
{
    struct out o = {out, 0};
    struct metrics_sample s = {0};
    if (m && m->sampler)
        m->sampler(m->sampler_arg, &s);
    struct metrics zero = {0};
    if (!m) {
        zero.ack.bounds = zero.commit.bounds = latency_bounds;
        zero.ack.nbounds = zero.commit.nbounds = sizeof(latency_bounds) / sizeof(latency_bounds[0]);
        zero.batch.bounds = batch_bounds;
        zero.batch.nbounds = sizeof(batch_bounds) / sizeof(batch_bounds[0]);
        m = &zero;
    }
    char lv[2 * LABEL_LEN_MAX + 8];

    family(&o, "fcrd_build_info", "gauge", "Version of fcrd and of the rule set in force (value 1).");
    label_value(s.ruleset ? s.ruleset : "", lv, sizeof(lv));
    emit(&o, "fcrd_build_info{version=\"%s\",ruleset=\"%s\"} 1\n", FCRD_VERSION, lv);
    gauge(&o, "fcrd_start_time_seconds", "When this fcrd process started, in seconds since the epoch.",
          m->start_time);
    gauge(&o, "fcrd_draining", "1 while fcrd is stopping and finishing what is in flight.", s.draining);

    /* the feed */
    counter(&o, "fcrd_events_received_total", "Feed lines received (blank lines are not counted).", m->lines);
    counter(&o, "fcrd_events_accepted_total", "Feed events answered accepted: committed with their consequences.",
            m->accepted);
    counter(&o, "fcrd_events_duplicate_total", "Feed events answered duplicate: already committed earlier.",
            m->duplicate);
    codes(&o, "fcrd_events_rejected_total", "Feed lines answered rejected, by error code.", &m->rejected);
    codes(&o, "fcrd_events_retry_total", "Feed lines answered retry (nothing written; send again), by error code.",
          &m->retry);
    histogram(&o, "fcrd_event_ack_seconds",
              "Seconds from a feed line's arrival to its reply, for lines the store decided.", &m->ack);
    gauge(&o, "fcrd_feed_connections", "Feed connections open now.", (double)s.feed_connections);
    counter(&o, "fcrd_feed_connections_accepted_total",
            "Feed connections accepted; its rate shows how often senders reconnect.", m->conns_accepted);
    counter(&o, "fcrd_feed_connections_refused_total", "Feed connections refused before any line was read: too many open (in all, unidentified, or of their source), or no [sources] entry names them.",
            m->conns_refused);
    gauge(&o, "fcrd_feed_inflight", "Feed lines awaiting their reply.", (double)s.feed_inflight);
    counter(&o, "fcrd_feed_tls_failures_total",
            "Feed TLS handshakes that failed, client certificates refused included.", m->tls_failures);
    if (s.tls_expiry > 0)
        gauge(&o, "fcrd_tls_certificate_expiry_seconds",
              "When the server certificate in use expires, in seconds since the epoch.", s.tls_expiry);

    /* the API */
    family(&o, "fcrd_api_auth_failures_total", "counter",
           "API requests refused before their handler: unauthorized (401, no valid token), forbidden (403, the "
           "role may not), too_many_failures (429, the address failed too often).");
    emit(&o,
         "fcrd_api_auth_failures_total{reason=\"unauthorized\"} %llu\n"
         "fcrd_api_auth_failures_total{reason=\"forbidden\"} %llu\n"
         "fcrd_api_auth_failures_total{reason=\"too_many_failures\"} %llu\n",
         (unsigned long long)m->auth_failures[METRICS_AUTH_UNAUTHORIZED],
         (unsigned long long)m->auth_failures[METRICS_AUTH_FORBIDDEN],
         (unsigned long long)m->auth_failures[METRICS_AUTH_TOO_MANY]);
    family(&o, "fcrd_access_log_records_total", "counter",
           "Access records of replies that carry personal data: written, or failed (the reply was refused 503).");
    emit(&o,
         "fcrd_access_log_records_total{result=\"written\"} %llu\n"
         "fcrd_access_log_records_total{result=\"failed\"} %llu\n",
         (unsigned long long)m->access_written, (unsigned long long)m->access_failed);

    gauge(&o, "fcrd_api_connections", "API client connections open now.", (double)s.api_connections);
    counter(&o, "fcrd_api_connections_accepted_total", "API client connections accepted and served.",
            m->api_conns_accepted);
    counter(&o, "fcrd_api_connections_refused_total",
            "API client connections closed at once because api.max_connections were open.", m->api_conns_refused);
    family(&o, "fcrd_api_requests_cut_total", "counter",
           "API connections closed because a request's headers (api.header_timeout_ms) or body "
           "(api.body_timeout_ms) did not arrive in time.");
    emit(&o,
         "fcrd_api_requests_cut_total{phase=\"headers\"} %llu\n"
         "fcrd_api_requests_cut_total{phase=\"body\"} %llu\n",
         (unsigned long long)m->api_cut_headers, (unsigned long long)m->api_cut_body);
    counter(&o, "fcrd_api_read_timeouts_total",
            "API reads cancelled at api.read_statement_timeout_ms and answered 503 read_timeout.",
            m->api_read_timeouts);
    family(&o, "fcrd_accept_pauses_total", "counter",
           "Times a listener failed to accept (out of file descriptors) and stopped accepting for "
           "service.accept_pause_ms.");
    emit(&o,
         "fcrd_accept_pauses_total{listener=\"feed\"} %llu\n"
         "fcrd_accept_pauses_total{listener=\"api\"} %llu\n",
         (unsigned long long)m->accept_pauses[METRICS_LISTENER_FEED],
         (unsigned long long)m->accept_pauses[METRICS_LISTENER_API]);

    /* the store */
    gauge(&o, "fcrd_store_backlog", "Events and decisions queued for the database or in the batch in flight.",
          (double)s.store_backlog);
    gauge(&o, "fcrd_store_backlog_bytes",
          "Bytes the events queued or in a batch in flight are charged against half of [service] memory_limit_mb.",
          (double)s.store_backlog_bytes);
    histogram(&o, "fcrd_store_batch_size", "Events and decisions per committed transaction.", &m->batch);
    histogram(&o, "fcrd_store_commit_seconds",
              "Seconds from sending a batch's writes and COMMIT to the database's answer.", &m->commit);
    counter(&o, "fcrd_store_rollbacks_total", "Transactions rolled back (then retried or answered retry).",
            m->rollbacks);
    counter(&o, "fcrd_store_states_cached_total",
            "Incident states a batch took from its lane's cache, their rows unchanged since its commit.",
            m->states_cached);
    counter(&o, "fcrd_store_states_read_total", "Incident states a batch read from their rows.", m->states_read);
    counter(&o, "fcrd_store_direct_batches_total",
            "Batches of new incidents' openings decided without reading the database first.", m->direct);
    counter(&o, "fcrd_store_direct_misses_total",
            "Direct batches the database refused (an incident or event id already there), then decided again "
            "after reading.",
            m->direct_misses);
    family(&o, "fcrd_db_up", "gauge", "1 while the database connection is up.");
    emit(&o, "fcrd_db_up{connection=\"store\"} %d\nfcrd_db_up{connection=\"api\"} %d\n", s.db_up_store ? 1 : 0,
         s.db_up_api ? 1 : 0);
    gauge(&o, "fcrd_db_read_only",
          "1 since the database refused the store's writes as read-only (SQLSTATE 25006, a standby); 0 again "
          "after a commit.",
          m->read_only ? 1 : 0);
    gauge(&o, "fcrd_db_sync_standby_required",
          "1 when [database] require_sync_standby = yes: no events are taken without a synchronous standby.",
          s.sync_standby_required ? 1 : 0);
    gauge(&o, "fcrd_db_sync_standby_ok",
          "1 while the last count (every [database] sync_standby_check_ms) saw a synchronous standby on the primary.",
          s.sync_standby_ok ? 1 : 0);
    family(&o, "fcrd_db_reconnects_total", "counter", "Database connections re-established after a loss.");
    emit(&o, "fcrd_db_reconnects_total{connection=\"store\"} %lu\nfcrd_db_reconnects_total{connection=\"api\"} %lu\n",
         s.reconnects_store, s.reconnects_api);

    /* figures from the database */
    if (m->have_stats) {
        gauge(&o, "fcrd_pending_open", "Pending decisions open.", (double)m->pending_open);
        gauge(&o, "fcrd_pending_overdue", "Open pending decisions past their deadline.", (double)m->pending_overdue);
        family(&o, "fcrd_crimes_recorded", "gauge", "Crimes currently recorded, by offence category.");
        for (size_t i = 0; i < m->ncrimes; i++) {
            label_value(m->crimes[i].name, lv, sizeof(lv));
            emit(&o, "fcrd_crimes_recorded{category=\"%s\"} %lld\n", lv, (long long)m->crimes[i].n);
        }
    }
    gauge(&o, "fcrd_stats_timestamp_seconds",
          "When the figures read from the database were last refreshed (0: not yet).", m->stats_time);
    counter(&o, "fcrd_stats_failures_total", "Refreshes of the database figures that failed.", m->stats_failures);

    /* audit checkpoints */
    counter(&o, "fcrd_audit_checkpoint_failures_total",
            "Signed checkpoints of the audit chains' heads that could not be made (database, file or key).",
            m->checkpoint_failures);
    gauge(&o, "fcrd_audit_checkpoint_last_success_timestamp_seconds",
          "When a signed checkpoint was last appended and synced to the checkpoint file (0: never).",
          m->checkpoint_ok_time);

    /* reloads */
    family(&o, "fcrd_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
    emit(&o, "fcrd_reloads_total{result=\"ok\"} %llu\nfcrd_reloads_total{result=\"failed\"} %llu\n",
         (unsigned long long)m->reloads_ok, (unsigned long long)m->reloads_failed);
    gauge(&o, "fcrd_reload_success_timestamp_seconds", "When a reload last succeeded (0: never).",
          m->last_reload_ok);
    return o.rc;
}
