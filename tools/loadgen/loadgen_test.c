/* loadgen_test.c: unit tests of fcr-loadgen's parts: the latency histogram's buckets and
 * quantiles, the traffic generator (every line a valid feed event, seq in order, the mix asked
 * for, repeatable) and the reading of reply statuses. */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "feed/feed_event.h"
#include "loadgen_gen.h"
#include "loadgen_hist.h"
#include "loadgen_run.h"

/* ---- histogram ------------------------------------------------------------------------------ */

START_TEST(hist_buckets_hold_their_values)
{
    unsigned prev = 0;
    for (uint64_t v = 0; v < 5000000; v += 1 + v / 97) {
        unsigned b = loadgen_hist_bucket(v);
        ck_assert_msg(b >= prev, "bucket of %llu goes backwards", (unsigned long long)v);
        ck_assert_uint_lt(b, LOADGEN_HIST_BUCKETS);
        uint64_t high = loadgen_hist_bucket_high(b);
        ck_assert_msg(high >= v, "bucket %u tops at %llu < %llu", b, (unsigned long long)high, (unsigned long long)v);
        /* the bounded error the header promises: within 1/64 above the value */
        ck_assert_msg((double)(high - v) <= (double)v / 64.0 + 1.0, "%llu -> %llu", (unsigned long long)v,
                      (unsigned long long)high);
        prev = b;
    }
    ck_assert_uint_eq(loadgen_hist_bucket(127), 127);
    ck_assert_uint_eq(loadgen_hist_bucket(128), 128);
    ck_assert_uint_eq(loadgen_hist_bucket(UINT64_MAX), loadgen_hist_bucket(LOADGEN_HIST_MAX));
}
END_TEST

START_TEST(hist_quantiles_of_uniform_values)
{
    struct loadgen_hist *h = calloc(1, sizeof(*h));
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(loadgen_hist_quantile(h, 0.5), 0);
    for (uint64_t v = 1; v <= 10000; v++)
        loadgen_hist_add(h, v);
    ck_assert_uint_eq(h->count, 10000);
    ck_assert_uint_eq(h->min, 1);
    ck_assert_uint_eq(h->max, 10000);
    ck_assert(loadgen_hist_mean(h) > 5000.49 && loadgen_hist_mean(h) < 5000.51);
    struct {
        double q;
        uint64_t want;
    } cases[] = {{0.5, 5000}, {0.9, 9000}, {0.99, 9900}, {0.999, 9990}, {1.0, 10000}, {0.0, 1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t got = loadgen_hist_quantile(h, cases[i].q);
        ck_assert_msg(got >= cases[i].want && (double)got <= (double)cases[i].want * (1 + 1.0 / 64) + 1,
                      "q %.3f: got %llu want about %llu", cases[i].q, (unsigned long long)got,
                      (unsigned long long)cases[i].want);
    }
    free(h);
}
END_TEST

START_TEST(hist_merge_adds_up)
{
    struct loadgen_hist *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    ck_assert(a && b);
    for (uint64_t v = 0; v < 100; v++)
        loadgen_hist_add(a, 1000);
    loadgen_hist_add(b, 7);
    loadgen_hist_add(b, 1000000);
    loadgen_hist_merge(a, b);
    ck_assert_uint_eq(a->count, 102);
    ck_assert_uint_eq(a->min, 7);
    ck_assert_uint_eq(a->max, 1000000);
    ck_assert_uint_eq(loadgen_hist_quantile(a, 1.0), 1000000);
    ck_assert_uint_eq(loadgen_hist_quantile(a, 0.5), loadgen_hist_bucket_high(loadgen_hist_bucket(1000)));
    free(a);
    free(b);
}
END_TEST

/* ---- generator ------------------------------------------------------------------------------ */

struct mix {
    double updates, closed, unconfirmed, links;
    unsigned narrative, pool;
    uint64_t refs; /* victim (and suspect) refs from a pool of this many, 0 for none */
};

static const struct mix mixes[] = {
    {0.3, 0.2, 0.1, 0.05, 240, 1024, 0}, /* the default */
    {0.0, 0.0, 0.0, 0.0, 0, 1, 0},       /* openings only, nothing kept */
    {2.5, 1.0, 1.0, 1.0, 16000, 3, 0},   /* long narratives, every incident followed up and linked */
    {8.0, 0.5, 0.5, 0.5, 10, 64, 0},
    {0.3, 0.2, 0.1, 0.05, 240, 1024, 1000000}, /* the default with refs, as bench/run's persons step */
    {2.0, 0.5, 0.5, 0.0, 40, 16, 3},           /* a few refs, every one named again and again */
};

/* With refs: the opening's victim carries BV-k (k in 1..refs, the same in every event of the
 * incident) and its suspect, if any, BS-(k mod LOADGEN_SUSPECT_REFS); without, no ref at all. */
static void check_refs(const struct mix *m, const char *line, size_t len, json_t *victim_refs)
{
    json_t *ev = json_loadb(line, len, 0, NULL);
    ck_assert_ptr_nonnull(ev);
    const char *inc = json_string_value(json_object_get(ev, "incident_id"));
    ck_assert_ptr_nonnull(inc);
    json_t *persons = json_object_get(ev, "persons");
    size_t i;
    json_t *pe;
    unsigned long long k = 0;
    json_array_foreach(persons, i, pe) {
        const char *role = json_string_value(json_object_get(pe, "role"));
        const char *ref = json_string_value(json_object_get(pe, "ref"));
        if (!m->refs || strcmp(role, "victim") != 0) {
            if (!m->refs || strcmp(role, "suspect") != 0)
                ck_assert_msg(ref == NULL, "unexpected ref: %.*s", (int)len, line);
            continue;
        }
        ck_assert_msg(ref && sscanf(ref, "BV-%llu", &k) == 1 && k >= 1 && k <= m->refs, "victim ref: %.*s",
                      (int)len, line);
        json_t *seen = json_object_get(victim_refs, inc);
        if (seen)
            ck_assert_str_eq(json_string_value(seen), ref);
        else
            json_object_set_new(victim_refs, inc, json_string(ref));
    }
    json_array_foreach(persons, i, pe) {
        if (!m->refs || strcmp(json_string_value(json_object_get(pe, "role")), "suspect") != 0)
            continue;
        ck_assert_msg(k > 0, "a suspect ref without a victim ref: %.*s", (int)len, line);
        char want[32];
        snprintf(want, sizeof(want), "BS-%llu", k % LOADGEN_SUSPECT_REFS);
        ck_assert_str_eq(json_string_value(json_object_get(pe, "ref")), want);
    }
    json_decref(ev);
}

START_TEST(gen_lines_are_valid_events_in_seq_order)
{
    const struct mix *m = &mixes[_i];
    struct loadgen_gen_params p = {.prefix = "ut", .stream = 3, .seed = 42, .updates = m->updates,
                                   .closed = m->closed, .unconfirmed = m->unconfirmed, .links = m->links,
                                   .narrative = m->narrative,
                                   .pool = m->pool, .refs = m->refs};
    struct loadgen_gen *g = NULL;
    ck_assert_int_eq(loadgen_gen_new(&g, &p), 0);
    size_t cap = loadgen_gen_line_max(g);
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(loadgen_gen_next(g, 1780000000, buf, cap - 1), 0); /* too small: refused */
    json_t *last_seq = json_object(), *victim_refs = json_object();
    unsigned n = 3000;
    for (unsigned i = 0; i < n; i++) {
        size_t len = loadgen_gen_next(g, 1780000000 + i, buf, cap);
        ck_assert_uint_gt(len, 0);
        ck_assert_int_eq(buf[len - 1], '\n');
        ck_assert_ptr_null(memchr(buf, '\n', len - 1));
        struct feed_event ev;
        struct feed_event_error err = {0};
        int rc = feed_event_parse(buf, len - 1, NULL, &ev, &err);
        ck_assert_msg(rc == 0, "line %u refused (%s at %s: %s): %.*s", i, err.code, err.field, err.message, (int)len,
                      buf);
        ck_assert_msg(json_array_size(ev.warnings) == 0, "line %u has warnings: %.*s", i, (int)len, buf);
        check_refs(m, buf, len - 1, victim_refs);
        json_t *prev = json_object_get(last_seq, ev.incident_id);
        if (ev.type == FEED_EVENT_OPENED) {
            ck_assert_ptr_null(prev);
            ck_assert_int_eq(ev.seq, 1);
        } else {
            ck_assert_ptr_nonnull(prev);
            ck_assert_int_eq(ev.seq, json_integer_value(prev) + 1);
        }
        json_object_set_new(last_seq, ev.incident_id, json_integer(ev.seq));
        feed_event_clear(&ev);
    }
    struct loadgen_gen_counts c;
    loadgen_gen_counts(g, &c);
    ck_assert_uint_eq(c.opened + c.updated + c.closed, n);
    ck_assert_uint_eq(c.opened, json_object_size(last_seq));
    /* the mix: follow-ups per incident close to updates + closed (the pool still holds some) */
    double per = (double)(c.updated + c.closed) / (double)c.opened;
    double want = m->updates + m->closed;
    ck_assert_msg(per <= want + 0.15 && per >= want * 0.8 - 0.15, "follow-ups per incident %.2f, want %.2f", per,
                  want);
    if (m->unconfirmed == 0)
        ck_assert_uint_eq(c.unconfirmed, 0);
    if (m->links == 0)
        ck_assert_uint_eq(c.linked, 0);
    if (m->links == 1)
        ck_assert_uint_eq(c.linked, c.opened - 1); /* all but the first, which has nothing to link to */
    if (m->refs) /* every opening named its victim by ref */
        ck_assert_uint_eq(json_object_size(victim_refs), c.opened);
    json_decref(victim_refs);
    json_decref(last_seq);
    free(buf);
    loadgen_gen_free(g);
}
END_TEST

static char *gen_text(const struct loadgen_gen_params *p, unsigned n, int64_t now)
{
    struct loadgen_gen *g = NULL;
    ck_assert_int_eq(loadgen_gen_new(&g, p), 0);
    size_t cap = loadgen_gen_line_max(g);
    char *out = calloc(n, cap);
    ck_assert_ptr_nonnull(out);
    size_t at = 0;
    for (unsigned i = 0; i < n; i++)
        at += loadgen_gen_next(g, now + i, out + at, cap);
    loadgen_gen_free(g);
    return out;
}

START_TEST(gen_repeats_with_a_fixed_epoch)
{
    struct loadgen_gen_params p = {.prefix = "rp", .seed = 7, .updates = 1, .closed = 0.5, .unconfirmed = 0.5,
                                   .narrative = 100, .pool = 16, .epoch = 1780000000};
    char *a = gen_text(&p, 200, 1);
    char *b = gen_text(&p, 200, 999999); /* the clock is ignored */
    ck_assert_str_eq(a, b);
    ck_assert_ptr_nonnull(strstr(a, "\"at\":\"2026-05-28T20:26:40Z\""));
    p.seed = 8;
    char *c = gen_text(&p, 200, 1);
    ck_assert_str_ne(a, c);
    p.seed = 7;
    p.stream = 1;
    char *d = gen_text(&p, 200, 1);
    ck_assert_ptr_null(strstr(d, "\"incident_id\":\"rp-0-")); /* another stream, other ids */
    free(a);
    free(b);
    free(c);
    free(d);
}
END_TEST

START_TEST(gen_refuses_bad_parameters)
{
    struct loadgen_gen_params ok = {.prefix = "x", .updates = 0.3, .closed = 0.2, .unconfirmed = 0.1,
                                    .narrative = 240, .pool = 8};
    struct loadgen_gen *g = NULL;
    struct loadgen_gen_params p = ok;
    ck_assert_int_eq(loadgen_gen_new(&g, &p), 0);
    g = loadgen_gen_free(g);
    ck_assert_ptr_null(g);
    p = ok, p.prefix = "";
    ck_assert_int_eq(loadgen_gen_new(&g, &p), -1);
    p = ok, p.prefix = "0123456789012345678901234567890123";
    ck_assert_int_eq(loadgen_gen_new(&g, &p), -1);
    p = ok, p.updates = 8.5;
    ck_assert_int_eq(loadgen_gen_new(&g, &p), -1);
    p = ok, p.closed = 1.5;
    ck_assert_int_eq(loadgen_gen_new(&g, &p), -1);
    p = ok, p.unconfirmed = -0.1;
    ck_assert_int_eq(loadgen_gen_new(&g, &p), -1);
    p = ok, p.narrative = 16001;
    ck_assert_int_eq(loadgen_gen_new(&g, &p), -1);
    p = ok, p.pool = 0;
    ck_assert_int_eq(loadgen_gen_new(&g, &p), -1);
    p = ok, p.refs = LOADGEN_REFS_MAX + 1;
    ck_assert_int_eq(loadgen_gen_new(&g, &p), -1);
    p = ok, p.links = 1.01;
    ck_assert_int_eq(loadgen_gen_new(&g, &p), -1);
    ck_assert_ptr_null(g);
}
END_TEST

/* ---- replies -------------------------------------------------------------------------------- */

START_TEST(reply_statuses)
{
    char code[40];
    const char *acc = "{\"v\":1,\"event_id\":\"e1\",\"status\":\"accepted\",\"incident_id\":\"i\",\"crimes\":[]}";
    ck_assert_int_eq(loadgen_reply_status(acc, strlen(acc), code, sizeof(code)), LOADGEN_ACCEPTED);
    ck_assert_str_eq(code, "");
    const char *dup = "{\"v\":1,\"event_id\":\"e1\",\"status\":\"duplicate\"}";
    ck_assert_int_eq(loadgen_reply_status(dup, strlen(dup), code, sizeof(code)), LOADGEN_DUPLICATE);
    const char *rej = "{\"v\":1,\"event_id\":null,\"status\":\"rejected\",\"error\":{\"code\":\"bad_json\","
                      "\"message\":\"x\"},\"incident_id\":null}";
    ck_assert_int_eq(loadgen_reply_status(rej, strlen(rej), code, sizeof(code)), LOADGEN_REJECTED);
    ck_assert_str_eq(code, "bad_json");
    const char *retry = "{\"v\":1,\"event_id\":\"e\",\"status\":\"retry\",\"error\":{\"code\":\"overloaded\"}}";
    ck_assert_int_eq(loadgen_reply_status(retry, strlen(retry), code, sizeof(code)), LOADGEN_RETRY);
    ck_assert_str_eq(code, "overloaded");
    /* a status cut off by the length given is not read past it */
    ck_assert_int_eq(loadgen_reply_status(acc, 30, code, sizeof(code)), LOADGEN_OTHER);
    const char *odd = "{\"status\":\"accepted-ish\"}";
    ck_assert_int_eq(loadgen_reply_status(odd, strlen(odd), code, sizeof(code)), LOADGEN_OTHER);
    ck_assert_int_eq(loadgen_reply_status("garbage", 7, code, sizeof(code)), LOADGEN_OTHER);
    ck_assert_str_eq(loadgen_status_name(LOADGEN_RETRY), "retry");
}
END_TEST

START_TEST(proc_readers)
{
    ck_assert(loadgen_rss_kb((int)getpid()) > 0);
    ck_assert(loadgen_cpu_s((int)getpid()) >= 0);
    ck_assert(loadgen_rss_kb(0x7ffffff0) == -1);
    ck_assert(loadgen_cpu_s(0x7ffffff0) < 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loadgen");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hist_buckets_hold_their_values);
    tcase_add_test(tc, hist_quantiles_of_uniform_values);
    tcase_add_test(tc, hist_merge_adds_up);
    tcase_add_loop_test(tc, gen_lines_are_valid_events_in_seq_order, 0, (int)(sizeof mixes / sizeof mixes[0]));
    tcase_add_test(tc, gen_repeats_with_a_fixed_epoch);
    tcase_add_test(tc, gen_refuses_bad_parameters);
    tcase_add_test(tc, reply_statuses);
    tcase_add_test(tc, proc_readers);
    suite_add_tcase(s, tc);
    return check_run(s);
}
