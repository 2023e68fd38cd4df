/* test_audits_stats.c: the figures of an independent audit: the Wilson 95% score interval against
 * published values, how each verdict counts towards the recording rate, and the result document. */
#include <check.h>
#include <math.h>

#include "api/api_audits_stats.h"
#include "util/wilson.h"
#include "check_run.h"

/* Published values are rounded to four places. */
#define NEAR(a, b) ck_assert_msg(fabs((a) - (b)) <= 5e-5 + 1e-9, "%.6f is not %.6f", (a), (b))

START_TEST(wilson_published_values)
{
    double lo, hi;
    /* Newcombe (1998), Two-sided confidence intervals for the single proportion, Statistics in
     * Medicine 17:857-872, table I, method 3 (Wilson score, no continuity correction). */
    ck_assert(wilson_95(81, 263, &lo, &hi));
    NEAR(lo, 0.2553);
    NEAR(hi, 0.3662);
    ck_assert(wilson_95(15, 148, &lo, &hi));
    NEAR(lo, 0.0624);
    NEAR(hi, 0.1605);
    ck_assert(wilson_95(0, 20, &lo, &hi));
    ck_assert(lo == 0.0);
    NEAR(hi, 0.1611);
    ck_assert(wilson_95(1, 29, &lo, &hi));
    NEAR(lo, 0.0061);
    NEAR(hi, 0.1718);
    /* The edges are exact: no recorded crime bounds the rate at 0, all of them at 1. */
    ck_assert(wilson_95(0, 10, &lo, &hi));
    ck_assert(lo == 0.0);
    NEAR(hi, 0.2775);
    ck_assert(wilson_95(10, 10, &lo, &hi));
    NEAR(lo, 0.7225);
    ck_assert(hi == 1.0);
    ck_assert(wilson_95(81, 100, &lo, &hi));
    NEAR(lo, 0.7222);
    NEAR(hi, 0.8749);
}
END_TEST

START_TEST(wilson_refuses_impossible_counts)
{
    double lo = -1, hi = -1;
    ck_assert(!wilson_95(0, 0, &lo, &hi));
    ck_assert(!wilson_95(3, 2, &lo, &hi));
    ck_assert(!wilson_95(-1, 2, &lo, &hi));
    ck_assert(!wilson_95(0, -5, &lo, &hi));
    ck_assert(lo == -1 && hi == -1);
}
END_TEST

START_TEST(verdicts_count_as_defined)
{
    struct api_audits_counts c = {0};
    ck_assert(api_audits_stats_add(&c, NULL, false));                   /* not reviewed yet */
    ck_assert(api_audits_stats_add(&c, "correct", true));               /* recorded, rightly */
    ck_assert(api_audits_stats_add(&c, "correct", false));              /* rightly nothing */
    ck_assert(api_audits_stats_add(&c, "wrong_classification", true));  /* recorded, wrong code */
    ck_assert(api_audits_stats_add(&c, "crime_missed", false));
    ck_assert(api_audits_stats_add(&c, "wrongly_cancelled", false));
    ck_assert(api_audits_stats_add(&c, "not_a_crime", true));
    ck_assert(!api_audits_stats_add(&c, "maybe", true));
    ck_assert_int_eq(c.sampled, 7);
    ck_assert_int_eq(c.reviewed, 6);
    ck_assert_int_eq(c.should_record, 4);
    ck_assert_int_eq(c.recorded, 2);
    ck_assert_int_eq(c.agreed, 2);
    ck_assert_int_eq(c.by_verdict[0], 2);
    ck_assert_int_eq(c.by_verdict[4], 1);
}
END_TEST

START_TEST(result_document)
{
    struct api_audits_counts c = {0};
    for (int i = 0; i < 81; i++)
        api_audits_stats_add(&c, "correct", true);
    for (int i = 0; i < 19; i++)
        api_audits_stats_add(&c, "crime_missed", false);
    api_audits_stats_add(&c, NULL, false);
    json_t *r = api_audits_stats_result(&c);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "sampled")), 101);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "reviewed")), 100);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "should_record")), 100);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "recorded")), 81);
    NEAR(json_real_value(json_object_get(r, "recording_rate")), 0.81);
    NEAR(json_real_value(json_object_get(r, "recording_ci_low")), 0.7222);
    NEAR(json_real_value(json_object_get(r, "recording_ci_high")), 0.8749);
    NEAR(json_real_value(json_object_get(r, "agreement")), 0.81);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "verdicts"), "crime_missed")), 19);
    json_decref(r);

    struct api_audits_counts none = {0};
    api_audits_stats_add(&none, NULL, false);
    api_audits_stats_add(&none, "not_a_crime", false);
    r = api_audits_stats_result(&none);
    ck_assert(json_is_null(json_object_get(r, "recording_rate")));
    ck_assert(json_is_null(json_object_get(r, "recording_ci_low")));
    ck_assert(json_is_null(json_object_get(r, "recording_ci_high")));
    NEAR(json_real_value(json_object_get(r, "agreement")), 0.0);
    json_decref(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("audits_stats");
    TCase *tc = tcase_create("audits_stats");
    tcase_add_test(tc, wilson_published_values);
    tcase_add_test(tc, wilson_refuses_impossible_counts);
    tcase_add_test(tc, verdicts_count_as_defined);
    tcase_add_test(tc, result_document);
    suite_add_tcase(s, tc);
    return check_run(s);
}
