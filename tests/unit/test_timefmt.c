/* test_timefmt.c: RFC 3339 parsing (good and bad forms), formatting and round trips. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/timefmt.h"
#include "check_run.h"

struct good_case {
    const char *text;
    int64_t ms;
};

/* Expected values were computed independently of this code. */
static const struct good_case good[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"1970-01-01T00:00:00.001Z", 1},
    {"2026-03-10T02:15:00Z", 1773108900000},
    {"2026-03-10t02:15:00z", 1773108900000},
    {"2026-03-10T03:15:00+01:00", 1773108900000},
    {"2026-03-09T21:15:00-05:00", 1773108900000},
    {"2026-03-10T02:15:00-00:00", 1773108900000},
    {"2026-03-10T02:15:00.5Z", 1773108900500},
    {"2026-03-10T02:15:00.12Z", 1773108900120},
    {"2026-03-10T02:15:00.123Z", 1773108900123},
    {"2026-03-10T02:15:00.123999999Z", 1773108900123}, /* truncated, not rounded */
    {"2026-03-10T02:15:00.000000000000000000001Z", 1773108900000},
    {"2024-02-29T12:00:00Z", 1709208000000},  /* leap year */
    {"2000-02-29T00:00:00Z", 951782400000},   /* divisible by 400: leap */
    {"1969-12-31T23:59:59Z", -1000},
    {"1969-12-31T23:59:59.999Z", -1},
    {"1900-01-01T00:00:00Z", -2208988800000},
    {"9999-12-31T23:59:59.999Z", 253402300799999},
    {"2026-03-29T01:30:00+00:00", 1774747800000},
};

START_TEST(parse_good)
{
    int64_t ms = 42;
    ck_assert_msg(timefmt_parse(good[_i].text, &ms), "refused %s", good[_i].text);
    ck_assert_msg(ms == good[_i].ms, "%s: got %lld want %lld", good[_i].text, (long long)ms,
                  (long long)good[_i].ms);
}
END_TEST

static const char *const bad[] = {
    "0000-01-01T00:00:00Z",      /* no year 0 (PostgreSQL has none either) */
    "0001-01-01T00:00:00+01:00", /* before year 1 once in UTC */
    "2026-12-31T23:59:59+23:59", /* offset beyond +15:59 */
    "2026-03-02T10:00:00-16:00", /* offset beyond -15:59 */
    "",
    "2026-03-10",                   /* date only */
    "2026-03-10T02:15:00",          /* no offset */
    "2026-03-10T02:15Z",            /* no seconds */
    "2026-03-10 02:15:00Z",         /* space separator */
    "2026-03-10T02:15:00 Z",        /* space before offset */
    "2026-03-10T02:15:00Z ",        /* trailing space */
    " 2026-03-10T02:15:00Z",        /* leading space */
    "2026-03-10T02:15:00ZZ",        /* trailing junk */
    "2026-3-10T02:15:00Z",          /* short month */
    "2026-03-1T02:15:00Z",          /* short day */
    "26-03-10T02:15:00Z",           /* two-digit year */
    "+2026-03-10T02:15:00Z",        /* signed year */
    "20260310T021500Z",             /* basic ISO 8601, not RFC 3339 */
    "2026-03-10T2:15:00Z",          /* short hour */
    "2026-03-10T02:15:00.Z",        /* dot without digits */
    "2026-03-10T02:15:00,5Z",       /* comma fraction */
    "2026-03-10T02:15:00+0100",     /* offset without colon */
    "2026-03-10T02:15:00+01",       /* short offset */
    "2026-03-10T02:15:00+24:00",    /* offset hour out of range */
    "2026-03-10T02:15:00+01:60",    /* offset minute out of range */
    "2026-03-10T02:15:00UTC",       /* named zone */
    "2026-00-10T02:15:00Z",         /* month 0 */
    "2026-13-10T02:15:00Z",         /* month 13 */
    "2026-03-00T02:15:00Z",         /* day 0 */
    "2026-03-32T02:15:00Z",         /* day 32 */
    "2026-04-31T02:15:00Z",         /* April has 30 days */
    "2026-02-29T02:15:00Z",         /* not a leap year */
    "1900-02-29T02:15:00Z",         /* divisible by 100, not 400: no leap day */
    "2026-02-30T02:15:00Z",         /* no Feb 30 */
    "2026-03-10T24:00:00Z",         /* hour 24 */
    "2026-03-10T02:60:00Z",         /* minute 60 */
    "2026-03-10T23:59:60Z",         /* leap second refused */
    "2026-03-10T02:15:0aZ",         /* letter in seconds */
    "2026-03-10X02:15:00Z",         /* wrong separator */
    "2026/03/10T02:15:00Z",         /* wrong date separator */
    "2026-03-10T02-15-00Z",         /* wrong time separator */
    "２０２６-03-10T02:15:00Z",     /* full-width digits */
    "now",
};

START_TEST(parse_bad)
{
    int64_t ms = 42;
    ck_assert_msg(!timefmt_parse(bad[_i], &ms), "accepted \"%s\"", bad[_i]);
    ck_assert_int_eq(ms, 42); /* untouched on failure */
}
END_TEST

START_TEST(parse_null)
{
    int64_t ms = 0;
    ck_assert(!timefmt_parse(NULL, &ms));
}
END_TEST

START_TEST(parse_embedded_nul)
{
    /* A C string ends at the NUL, so the trailing junk after it cannot be seen: the prefix is
     * a complete, valid time. This documents that callers must pass validated C strings. */
    const char text[] = "2026-03-10T02:15:00Z\0junk";
    int64_t ms = 0;
    ck_assert(timefmt_parse(text, &ms));
    ck_assert(ms == 1773108900000);
}
END_TEST

START_TEST(format_whole_and_fraction)
{
    char buf[TIMEFMT_LEN];
    ck_assert_str_eq(timefmt_format(0, buf), "1970-01-01T00:00:00Z");
    ck_assert_str_eq(timefmt_format(1773108900000, buf), "2026-03-10T02:15:00Z");
    ck_assert_str_eq(timefmt_format(1773108900120, buf), "2026-03-10T02:15:00.120Z");
    ck_assert_str_eq(timefmt_format(1773108900001, buf), "2026-03-10T02:15:00.001Z");
    ck_assert_str_eq(timefmt_format(-1, buf), "1969-12-31T23:59:59.999Z");
    ck_assert_str_eq(timefmt_format(-1000, buf), "1969-12-31T23:59:59Z");
    ck_assert_str_eq(timefmt_format(1709208000000, buf), "2024-02-29T12:00:00Z");
    ck_assert_str_eq(timefmt_format(253402300799999, buf), "9999-12-31T23:59:59.999Z");
    ck_assert_ptr_eq(timefmt_format(5, buf), buf);
}
END_TEST

START_TEST(format_extremes_fit)
{
    /* The whole int64 range must format without overflow and within TIMEFMT_LEN. */
    char buf[TIMEFMT_LEN];
    timefmt_format(INT64_MAX, buf);
    ck_assert_uint_lt(strlen(buf), TIMEFMT_LEN);
    timefmt_format(INT64_MIN, buf);
    ck_assert_uint_lt(strlen(buf), TIMEFMT_LEN);
}
END_TEST

/* The digits fcrd writes itself agree with the C library's calendar and printf, from year 0 to
 * past 9999 (where formatting goes back to printf), at every millisecond remainder's width. */
START_TEST(format_matches_the_c_library)
{
    char buf[TIMEFMT_LEN], want[64];
    const int64_t first = -62167219200000LL;  /* 0000-01-01T00:00:00Z */
    const int64_t last = 253433923200000LL;   /* 10001-01-01T00:00:00Z */
    const int64_t step = 2962962963LL; /* 34 days and an odd time: lands all over every field */
    int checked = 0;
    for (int64_t ms = first; ms <= last; ms += step, checked++) {
        for (int64_t extra = 0; extra < 1000; extra += 333) {
            int64_t t = ms + extra;
            time_t secs = (time_t)(t >= 0 ? t / 1000 : (t - 999) / 1000);
            int frac = (int)(t - (int64_t)secs * 1000);
            struct tm tm;
            ck_assert_ptr_nonnull(gmtime_r(&secs, &tm));
            int n = snprintf(want, sizeof want, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)tm.tm_year + 1900,
                             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
            snprintf(want + n, sizeof want - (size_t)n, frac ? ".%03dZ" : "Z", frac);
            timefmt_format(t, buf);
            if (strcmp(buf, want) != 0)
                ck_abort_msg("%lld: %s, want %s", (long long)t, buf, want);
        }
    }
    ck_assert_int_gt(checked, 100000);
}
END_TEST

START_TEST(round_trip)
{
    /* Every day across several leap cycles, at an odd time of day, survives format -> parse. */
    char buf[TIMEFMT_LEN];
    const int64_t step = (int64_t)86400 * 1000 + 3723004; /* one day, 1 h 2 min 3.004 s */
    for (int64_t ms = -5000LL * 86400 * 1000; ms < 20000LL * 86400 * 1000; ms += step) {
        int64_t back = 0;
        timefmt_format(ms, buf);
        ck_assert_msg(timefmt_parse(buf, &back), "refused own output %s", buf);
        ck_assert_msg(back == ms, "%s: %lld != %lld", buf, (long long)back, (long long)ms);
    }
}
END_TEST

START_TEST(year_of)
{
    ck_assert_int_eq(timefmt_year(0), 1970);
    ck_assert_int_eq(timefmt_year(-1), 1969);
    ck_assert_int_eq(timefmt_year(1773108900000), 2026);
    int64_t ms = 0;
    ck_assert(timefmt_parse("2025-12-31T23:59:59.999Z", &ms));
    ck_assert_int_eq(timefmt_year(ms), 2025);
    ck_assert_int_eq(timefmt_year(ms + 1), 2026);
    /* The year is the UTC year, not the local one of the offset given. */
    ck_assert(timefmt_parse("2026-01-01T00:30:00+01:00", &ms));
    ck_assert_int_eq(timefmt_year(ms), 2025);
}
END_TEST

START_TEST(hour_constant)
{
    int64_t a = 0, b = 0;
    ck_assert(timefmt_parse("2026-03-10T02:15:00Z", &a));
    ck_assert(timefmt_parse("2026-03-10T03:15:00Z", &b));
    ck_assert(b - a == TIMEFMT_HOUR_MS);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timefmt");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, parse_good, 0, (int)(sizeof good / sizeof good[0]));
    tcase_add_loop_test(tc, parse_bad, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, parse_null);
    tcase_add_test(tc, parse_embedded_nul);
    tcase_add_test(tc, format_whole_and_fraction);
    tcase_add_test(tc, format_extremes_fit);
    tcase_add_test(tc, format_matches_the_c_library);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, year_of);
    tcase_add_test(tc, hour_constant);
    suite_add_tcase(s, tc);
    return check_run(s);
}
