/* test_lograte.c: rate-limited refusal logging: the first line at once, then at most one per
 * interval, each counting those left out since the previous one; kinds are independent. */
#include <check.h>

#include "util/lograte.h"
#include "check_run.h"

START_TEST(one_line_per_interval_with_the_count)
{
    struct lograte r = {.every = 5};
    unsigned long skipped = 99;
    ck_assert(lograte_due(&r, 100.0, &skipped));
    ck_assert_uint_eq(skipped, 0);
    for (int i = 0; i < 50; i++)
        ck_assert(!lograte_due(&r, 100.0 + i * 0.05, &skipped));
    ck_assert(!lograte_due(&r, 104.9, NULL));
    ck_assert(lograte_due(&r, 105.0, &skipped));
    ck_assert_uint_eq(skipped, 51);
    ck_assert(lograte_due(&r, 200.0, &skipped));
    ck_assert_uint_eq(skipped, 0);
}
END_TEST

START_TEST(kinds_are_independent_and_zero_logs_all)
{
    struct lograte a = {.every = 5}, b = {.every = 5}, all = {0};
    ck_assert(lograte_due(&a, 1.0, NULL));
    ck_assert(lograte_due(&b, 1.5, NULL));
    ck_assert(!lograte_due(&a, 2.0, NULL));
    for (int i = 0; i < 10; i++)
        ck_assert(lograte_due(&all, 1.0, NULL));
    /* the formatted form logs when due and only then */
    struct lograte c = {.every = 60};
    ck_assert(lograte_refused(&c, 10.0, "refused %d", 1));
    ck_assert(!lograte_refused(&c, 11.0, "refused %d", 2));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lograte");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, one_line_per_interval_with_the_count);
    tcase_add_test(tc, kinds_are_independent_and_zero_logs_all);
    suite_add_tcase(s, tc);
    return check_run(s);
}
