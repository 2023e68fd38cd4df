/* test_metrics.c: the metrics registry: what each recording function counts, and that the
 * rendering is well-formed Prometheus text (format 0.0.4), parsed line by line. */
#include <check.h>
#include <ctype.h>
#include <event2/buffer.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/metrics.h"
#include "check_run.h"

/* render: the exposition text of m (malloc'd). */
static char *render(struct metrics *m)
{
    struct evbuffer *b = evbuffer_new();
    ck_assert_int_eq(metrics_render(m, b), 0);
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

/* ---- a strict reader of the text format ---- */

struct family {
    char name[128];
    char type[16];
    bool help, samples;
};

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
            return false;
    return true;
}

static struct family *family_find(struct family *f, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(f[i].name) == len && strncmp(f[i].name, name, len) == 0)
            return &f[i];
    return NULL;
}

/* check_exposition: every line is a HELP, a TYPE or a sample; a family's HELP and TYPE come once
 * and before its samples; label sets are well-formed; histogram buckets are cumulative and end
 * in +Inf equal to _count. Returns the number of samples. */
static size_t check_exposition(const char *text)
{
    struct family fam[128];
    size_t nfam = 0, samples = 0;
    ck_assert_msg(text[strlen(text) - 1] == '\n', "the text must end with a newline");
    char *copy = strdup(text);
    double last_bucket = -1;
    char bucket_of[128] = "";
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') {
            char kind[8], name[128];
            int off = 0;
            ck_assert_msg(sscanf(line, "# %7s %127s %n", kind, name, &off) == 2, "bad comment: %s", line);
            ck_assert(name_ok(name, strlen(name)));
            struct family *f = family_find(fam, nfam, name, strlen(name));
            if (!f) {
                ck_assert_uint_lt(nfam, 128);
                f = &fam[nfam++];
                memset(f, 0, sizeof(*f));
                snprintf(f->name, sizeof(f->name), "%s", name);
            }
            ck_assert_msg(!f->samples, "%s: HELP/TYPE after its samples", name);
            if (strcmp(kind, "HELP") == 0) {
                ck_assert_msg(!f->help, "%s: HELP twice", name);
                f->help = true;
                ck_assert_msg(line[off] != '\0', "%s: empty HELP", name);
            } else {
                ck_assert_str_eq(kind, "TYPE");
                ck_assert_msg(!f->type[0], "%s: TYPE twice", name);
                snprintf(f->type, sizeof(f->type), "%s", line + off);
                ck_assert_msg(strcmp(f->type, "counter") == 0 || strcmp(f->type, "gauge") == 0 ||
                                  strcmp(f->type, "histogram") == 0,
                              "%s: type %s", name, f->type);
            }
            continue;
        }
        /* name{labels} value */
        size_t n = strcspn(line, "{ ");
        ck_assert_msg(name_ok(line, n), "bad sample name: %s", line);
        char *p = line + n;
        char le[64] = "";
        if (*p == '{') {
            p++;
            while (*p != '}') {
                size_t k = strcspn(p, "=");
                ck_assert_msg(name_ok(p, k) && p[k] == '=' && p[k + 1] == '"', "bad label in %s", line);
                bool is_le = k == 2 && strncmp(p, "le", 2) == 0;
                p += k + 2;
                size_t j = 0;
                while (*p != '"') {
                    ck_assert_msg(*p != '\0', "unterminated label value in %s", line);
                    if (*p == '\\') {
                        ck_assert_msg(p[1] == '\\' || p[1] == '"' || p[1] == 'n', "bad escape in %s", line);
                        p++;
                    }
                    if (is_le && j + 1 < sizeof(le))
                        le[j++] = *p;
                    p++;
                }
                if (is_le)
                    le[j] = '\0';
                p++;
                if (*p == ',')
                    p++;
                else
                    ck_assert_msg(*p == '}', "bad label list in %s", line);
            }
            p++;
        }
        ck_assert_msg(*p == ' ', "no value in %s", line);
        char *end;
        double v = strtod(p + 1, &end);
        ck_assert_msg(*end == '\0' && end != p + 1, "bad value in %s", line);
        /* its family: the name, or the histogram it belongs to */
        struct family *f = family_find(fam, nfam, line, n);
        size_t base = n;
        static const char *const parts[] = {"_bucket", "_sum", "_count"};
        for (size_t i = 0; !f && i < 3; i++) {
            size_t pl = strlen(parts[i]);
            if (n > pl && strncmp(line + n - pl, parts[i], pl) == 0) {
                f = family_find(fam, nfam, line, n - pl);
                base = n - pl;
                if (f)
                    ck_assert_str_eq(f->type, "histogram");
            }
        }
        ck_assert_msg(f && f->type[0] && f->help, "sample without HELP and TYPE: %s", line);
        f->samples = true;
        if (strcmp(f->type, "histogram") == 0) {
            if (strncmp(line + base, "_bucket", 7) == 0) {
                ck_assert_msg(le[0], "bucket without le: %s", line);
                if (strcmp(bucket_of, f->name) != 0) {
                    snprintf(bucket_of, sizeof(bucket_of), "%s", f->name);
                    last_bucket = -1;
                }
                ck_assert_msg(v >= last_bucket, "buckets not cumulative at %s", line);
                last_bucket = v;
            } else if (strncmp(line + base, "_count", 6) == 0) {
                ck_assert_msg(v == last_bucket, "%s: _count differs from the +Inf bucket", f->name);
            }
        } else if (strcmp(f->type, "counter") == 0) {
            ck_assert_msg(v >= 0 && v == floor(v), "counter not a whole number: %s", line);
        }
        samples++;
    }
    free(copy);
    return samples;
}

/* value: the value of the sample written exactly as `key` ("name" or "name{labels}"), or NAN. */
static double value(const char *text, const char *key)
{
    size_t k = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, k) == 0 && p[k] == ' ')
            return strtod(p + k + 1, NULL);
    }
    return NAN;
}

static json_t *reply(const char *status, const char *code)
{
    if (!code)
        return json_pack("{s:s}", "status", status);
    return json_pack("{s:s, s:{s:s, s:s}}", "status", status, "error", "code", code, "message", "m");
}

static void feed_reply(struct metrics *m, const char *status, const char *code)
{
    json_t *r = reply(status, code);
    metrics_feed_reply(m, r);
    json_decref(r);
}

START_TEST(empty_registry_renders_well_formed)
{
    struct metrics *m = metrics_new();
    char *text = render(m);
    ck_assert_uint_gt(check_exposition(text), 20);
    ck_assert(value(text, "fcrd_events_received_total") == 0);
    ck_assert(value(text, "fcrd_event_ack_seconds_bucket{le=\"+Inf\"}") == 0);
    ck_assert(value(text, "fcrd_store_batch_size_count") == 0);
    ck_assert(value(text, "fcrd_start_time_seconds") > 1.7e9);
    /* The database figures are left out until they have been read once. */
    ck_assert_ptr_null(strstr(text, "fcrd_pending_open "));
    ck_assert(value(text, "fcrd_stats_timestamp_seconds") == 0);
    free(text);
    metrics_free(m);

    /* Without a registry at all the page still renders (zeros). */
    text = render(NULL);
    check_exposition(text);
    free(text);
}
END_TEST

START_TEST(feed_counts_by_status_and_code)
{
    struct metrics *m = metrics_new();
    for (int i = 0; i < 7; i++)
        metrics_feed_line(m);
    feed_reply(m, "accepted", NULL);
    feed_reply(m, "accepted", NULL);
    feed_reply(m, "duplicate", NULL);
    feed_reply(m, "rejected", "bad_field");
    feed_reply(m, "rejected", "bad_field");
    feed_reply(m, "rejected", "too_long");
    feed_reply(m, "retry", "shutting_down");
    feed_reply(m, "retry", "Not A Code\"");   /* never used as a label value */
    feed_reply(m, "mystery", NULL);           /* no status we know: not counted */
    metrics_feed_reply(m, NULL);
    metrics_feed_connection(m, true);
    metrics_feed_connection(m, true);
    metrics_feed_connection(m, false);
    metrics_feed_tls_failure(m);
    char *text = render(m);
    check_exposition(text);
    ck_assert(value(text, "fcrd_events_received_total") == 7);
    ck_assert(value(text, "fcrd_events_accepted_total") == 2);
    ck_assert(value(text, "fcrd_events_duplicate_total") == 1);
    ck_assert(value(text, "fcrd_events_rejected_total{code=\"bad_field\"}") == 2);
    ck_assert(value(text, "fcrd_events_rejected_total{code=\"too_long\"}") == 1);
    ck_assert(value(text, "fcrd_events_retry_total{code=\"shutting_down\"}") == 1);
    ck_assert(value(text, "fcrd_events_retry_total{code=\"other\"}") == 1);
    ck_assert(value(text, "fcrd_feed_connections_accepted_total") == 2);
    ck_assert(value(text, "fcrd_feed_connections_refused_total") == 1);
    ck_assert(value(text, "fcrd_feed_tls_failures_total") == 1);
    free(text);
    metrics_free(m);
}
END_TEST

START_TEST(codes_are_bounded)
{
    struct metrics *m = metrics_new();
    char code[32];
    for (int i = 0; i < 200; i++) {
        snprintf(code, sizeof(code), "code_%d", i);
        feed_reply(m, "rejected", code);
    }
    char *text = render(m);
    check_exposition(text);
    size_t series = 0;
    double total = 0;
    for (const char *p = strstr(text, "\nfcrd_events_rejected_total{"); p;
         p = strstr(p + 1, "\nfcrd_events_rejected_total{")) {
        series++;
        total += strtod(strchr(p, '}') + 2, NULL);
    }
    ck_assert_uint_le(series, 64);
    ck_assert(total == 200); /* nothing is lost, the rest folds into "other" */
    ck_assert(value(text, "fcrd_events_rejected_total{code=\"code_0\"}") == 1);
    ck_assert(value(text, "fcrd_events_rejected_total{code=\"other\"}") == 200 - 63);
    free(text);
    metrics_free(m);
}
END_TEST

START_TEST(histograms)
{
    struct metrics *m = metrics_new();
    metrics_feed_ack(m, 0.003);
    metrics_feed_ack(m, 0.2);
    metrics_feed_ack(m, 100);
    metrics_feed_ack(m, -1); /* a clock step: counted as 0 */
    metrics_store_commit(m, 1, 0.004);
    metrics_store_commit(m, 100, 0.02);
    metrics_store_commit(m, 5000, 2);
    metrics_store_rollback(m);
    char *text = render(m);
    check_exposition(text);
    ck_assert(value(text, "fcrd_event_ack_seconds_bucket{le=\"0.001\"}") == 1);
    ck_assert(value(text, "fcrd_event_ack_seconds_bucket{le=\"0.005\"}") == 2);
    ck_assert(value(text, "fcrd_event_ack_seconds_bucket{le=\"0.25\"}") == 3);
    ck_assert(value(text, "fcrd_event_ack_seconds_bucket{le=\"30\"}") == 3);
    ck_assert(value(text, "fcrd_event_ack_seconds_bucket{le=\"+Inf\"}") == 4);
    ck_assert(value(text, "fcrd_event_ack_seconds_count") == 4);
    ck_assert(fabs(value(text, "fcrd_event_ack_seconds_sum") - 100.203) < 1e-6);
    ck_assert(value(text, "fcrd_store_batch_size_bucket{le=\"1\"}") == 1);
    ck_assert(value(text, "fcrd_store_batch_size_bucket{le=\"128\"}") == 2);
    ck_assert(value(text, "fcrd_store_batch_size_bucket{le=\"4096\"}") == 2);
    ck_assert(value(text, "fcrd_store_batch_size_bucket{le=\"+Inf\"}") == 3);
    ck_assert(value(text, "fcrd_store_batch_size_sum") == 5101);
    ck_assert(value(text, "fcrd_store_commit_seconds_bucket{le=\"0.005\"}") == 1);
    ck_assert(value(text, "fcrd_store_commit_seconds_bucket{le=\"2.5\"}") == 3);
    ck_assert(value(text, "fcrd_store_rollbacks_total") == 1);
    free(text);
    metrics_free(m);
}
END_TEST

static void sample(void *arg, struct metrics_sample *s)
{
    (void)arg;
    s->feed_connections = 3;
    s->feed_inflight = 17;
    s->api_connections = 2;
    s->store_backlog = 9;
    s->store_backlog_bytes = 123456;
    s->db_up_store = true;
    s->db_up_api = false;
    s->reconnects_store = 2;
    s->reconnects_api = 5;
    s->draining = true;
    s->ruleset = "hocr-\"2025\"";
    s->tls_expiry = 1900000000;
}

START_TEST(gauges_from_the_sampler_and_the_database)
{
    struct metrics *m = metrics_new();
    metrics_set_sampler(m, sample, NULL);
    json_t *crimes = json_pack("{s:i, s:i, s:i}", "violence", 3, "theft", 1, "odd \"one\"\n", 2);
    metrics_set_stats(m, 12, 4, crimes, 1767225600.5);
    json_decref(crimes);
    metrics_stats_failed(m);
    metrics_reload(m, true);
    metrics_reload(m, false);
    metrics_reload(m, false);
    char *text = render(m);
    ck_assert(value(text, "fcrd_audit_checkpoint_failures_total") == 0);
    ck_assert(value(text, "fcrd_audit_checkpoint_last_success_timestamp_seconds") == 0);
    free(text);
    metrics_checkpoint(m, false, 0);
    metrics_checkpoint(m, true, 1767225601.25);
    metrics_checkpoint(m, false, 1767225699);
    text = render(m);
    check_exposition(text);
    ck_assert(value(text, "fcrd_audit_checkpoint_failures_total") == 2);
    ck_assert(fabs(value(text, "fcrd_audit_checkpoint_last_success_timestamp_seconds") - 1767225601.25) < 1e-3);
    ck_assert(value(text, "fcrd_feed_connections") == 3);
    ck_assert(value(text, "fcrd_feed_inflight") == 17);
    ck_assert(value(text, "fcrd_store_backlog") == 9);
    ck_assert(value(text, "fcrd_store_backlog_bytes") == 123456);
    ck_assert(value(text, "fcrd_db_up{connection=\"store\"}") == 1);
    ck_assert(value(text, "fcrd_db_up{connection=\"api\"}") == 0);
    ck_assert(value(text, "fcrd_db_reconnects_total{connection=\"api\"}") == 5);
    ck_assert(value(text, "fcrd_draining") == 1);
    ck_assert(value(text, "fcrd_tls_certificate_expiry_seconds") == 1900000000);
    ck_assert(value(text, "fcrd_build_info{version=\"" FCRD_VERSION "\",ruleset=\"hocr-\\\"2025\\\"\"}") == 1);
    ck_assert(value(text, "fcrd_pending_open") == 12);
    ck_assert(value(text, "fcrd_pending_overdue") == 4);
    ck_assert(value(text, "fcrd_crimes_recorded{category=\"violence\"}") == 3);
    ck_assert(value(text, "fcrd_crimes_recorded{category=\"theft\"}") == 1);
    ck_assert(value(text, "fcrd_crimes_recorded{category=\"odd \\\"one\\\"\\n\"}") == 2);
    ck_assert(fabs(value(text, "fcrd_stats_timestamp_seconds") - 1767225600.5) < 1e-3);
    ck_assert(value(text, "fcrd_stats_failures_total") == 1);
    ck_assert(value(text, "fcrd_reloads_total{result=\"ok\"}") == 1);
    ck_assert(value(text, "fcrd_reloads_total{result=\"failed\"}") == 2);
    ck_assert(value(text, "fcrd_reload_success_timestamp_seconds") > 1.7e9);
    free(text);

    /* A later refresh replaces the categories, it does not add to them. */
    crimes = json_pack("{s:i}", "theft", 6);
    metrics_set_stats(m, 0, 0, crimes, 1767225700);
    json_decref(crimes);
    text = render(m);
    ck_assert(isnan(value(text, "fcrd_crimes_recorded{category=\"violence\"}")));
    ck_assert(value(text, "fcrd_crimes_recorded{category=\"theft\"}") == 6);
    free(text);
    metrics_free(m);
}
END_TEST

START_TEST(read_only_database)
{
    struct metrics *m = metrics_new();
    char *text = render(m);
    ck_assert(value(text, "fcrd_db_read_only") == 0);
    free(text);
    /* Set by a write refused as read-only; it stays until a commit goes through. */
    metrics_store_read_only(m, true);
    metrics_store_rollback(m);
    text = render(m);
    check_exposition(text);
    ck_assert(value(text, "fcrd_db_read_only") == 1);
    free(text);
    metrics_store_read_only(m, false);
    text = render(m);
    ck_assert(value(text, "fcrd_db_read_only") == 0);
    free(text);
    metrics_free(m);
}
END_TEST

START_TEST(api_bounds_counted)
{
    struct metrics *m = metrics_new();
    metrics_set_sampler(m, sample, NULL);
    metrics_api_connection(m, true);
    metrics_api_connection(m, true);
    metrics_api_connection(m, false);
    metrics_api_request_cut(m, true);
    metrics_api_request_cut(m, false);
    metrics_api_request_cut(m, false);
    metrics_api_read_timeout(m);
    metrics_accept_pause(m, METRICS_LISTENER_API);
    metrics_accept_pause(m, METRICS_LISTENER_FEED);
    metrics_accept_pause(m, METRICS_LISTENER_FEED);
    metrics_accept_pause(m, METRICS_LISTENERS); /* no such listener: not counted */
    char *text = render(m);
    check_exposition(text);
    ck_assert(value(text, "fcrd_api_connections") == 2);
    ck_assert(value(text, "fcrd_api_connections_accepted_total") == 2);
    ck_assert(value(text, "fcrd_api_connections_refused_total") == 1);
    ck_assert(value(text, "fcrd_api_requests_cut_total{phase=\"headers\"}") == 1);
    ck_assert(value(text, "fcrd_api_requests_cut_total{phase=\"body\"}") == 2);
    ck_assert(value(text, "fcrd_api_read_timeouts_total") == 1);
    ck_assert(value(text, "fcrd_accept_pauses_total{listener=\"api\"}") == 1);
    ck_assert(value(text, "fcrd_accept_pauses_total{listener=\"feed\"}") == 2);
    free(text);
    metrics_free(m);
}
END_TEST

START_TEST(null_registry_records_nothing)
{
    metrics_feed_line(NULL);
    feed_reply(NULL, "accepted", NULL);
    metrics_feed_ack(NULL, 1);
    metrics_feed_connection(NULL, true);
    metrics_feed_tls_failure(NULL);
    metrics_api_connection(NULL, true);
    metrics_api_request_cut(NULL, true);
    metrics_api_read_timeout(NULL);
    metrics_accept_pause(NULL, METRICS_LISTENER_API);
    metrics_store_commit(NULL, 1, 1);
    metrics_store_rollback(NULL);
    metrics_store_read_only(NULL, true);
    metrics_reload(NULL, true);
    metrics_set_sampler(NULL, sample, NULL);
    metrics_set_stats(NULL, 1, 1, NULL, 1);
    metrics_stats_failed(NULL);
    ck_assert_ptr_null(metrics_free(NULL));
    double a = metrics_clock(), b = metrics_clock();
    ck_assert(b >= a && a > 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, empty_registry_renders_well_formed);
    tcase_add_test(tc, feed_counts_by_status_and_code);
    tcase_add_test(tc, codes_are_bounded);
    tcase_add_test(tc, histograms);
    tcase_add_test(tc, gauges_from_the_sampler_and_the_database);
    tcase_add_test(tc, read_only_database);
    tcase_add_test(tc, api_bounds_counted);
    tcase_add_test(tc, null_registry_records_nothing);
    suite_add_tcase(s, tc);
    return check_run(s);
}
