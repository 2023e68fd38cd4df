/* test_api_guard.c: failed authentications per address, blocks, the bounded table and the
 * one-line-a-second log limit, on a clock the test moves. */
#include <check.h>
#include <stdio.h>

#include "api/api_guard.h"
#include "check_run.h"

static const struct api_guard_limits lim = {.max_failures = 20, .window_s = 60, .block_s = 60};

START_TEST(twenty_failures_block_for_the_block_time)
{
    struct api_guard *g = api_guard_new(&lim);
    ck_assert_ptr_nonnull(g);
    for (int i = 0; i < 19; i++)
        ck_assert(!api_guard_failure(g, "192.0.2.1", 100.0 + i));
    ck_assert_int_eq(api_guard_blocked(g, "192.0.2.1", 119.0), 0);
    ck_assert(api_guard_failure(g, "192.0.2.1", 119.5));
    ck_assert_int_eq(api_guard_blocked(g, "192.0.2.1", 119.5), 60);
    ck_assert_int_eq(api_guard_blocked(g, "192.0.2.1", 179.0), 1);
    ck_assert_int_eq(api_guard_blocked(g, "192.0.2.2", 120.0), 0); /* another address is not */
    /* Failures while blocked neither extend the block nor count. */
    ck_assert(!api_guard_failure(g, "192.0.2.1", 150.0));
    ck_assert_int_eq(api_guard_blocked(g, "192.0.2.1", 179.6), 0);
    ck_assert(!api_guard_failure(g, "192.0.2.1", 180.0));
    ck_assert_int_eq(api_guard_blocked(g, "192.0.2.1", 180.0), 0);
    ck_assert_ptr_null(api_guard_free(g));
    ck_assert_ptr_null(api_guard_free(NULL));
}
END_TEST

START_TEST(failures_outside_the_window_start_again)
{
    struct api_guard *g = api_guard_new(&lim);
    for (int i = 0; i < 19; i++)
        ck_assert(!api_guard_failure(g, "::1", (double)i));
    /* The window began at 0: at 60 a new one begins, so nineteen more block nothing. */
    for (int i = 0; i < 19; i++)
        ck_assert(!api_guard_failure(g, "::1", 60.0 + i));
    ck_assert(api_guard_failure(g, "::1", 79.0));
    /* A reload's limits apply from then on. */
    struct api_guard_limits two = {.max_failures = 2, .window_s = 10, .block_s = 5};
    api_guard_set_limits(g, &two);
    ck_assert(!api_guard_failure(g, "198.51.100.9", 200.0));
    ck_assert(api_guard_failure(g, "198.51.100.9", 201.0));
    ck_assert_int_eq(api_guard_blocked(g, "198.51.100.9", 201.0), 5);
    ck_assert_int_eq(api_guard_blocked(NULL, "x", 0), 0);
    ck_assert_int_eq(api_guard_blocked(g, NULL, 0), 0);
    ck_assert(!api_guard_failure(g, NULL, 0));
    api_guard_free(g);
}
END_TEST

START_TEST(the_table_is_bounded_and_keeps_blocks)
{
    struct api_guard_limits one = {.max_failures = 1, .window_s = 60, .block_s = 1000};
    struct api_guard *g = api_guard_new(&one);
    ck_assert(api_guard_failure(g, "203.0.113.1", 0.0)); /* blocked, and the oldest */
    char addr[64];
    /* Far more addresses than the table holds, each failing once (not enough to block under the
     * new limits): the size never passes the bound. */
    struct api_guard_limits many = {.max_failures = 100, .window_s = 60, .block_s = 1000};
    api_guard_set_limits(g, &many);
    for (int i = 0; i < 3 * API_GUARD_ENTRIES; i++) {
        snprintf(addr, sizeof(addr), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        api_guard_failure(g, addr, 1.0 + i * 0.001);
        ck_assert_uint_le(api_guard_size(g), API_GUARD_ENTRIES);
    }
    ck_assert_uint_eq(api_guard_size(g), API_GUARD_ENTRIES);
    /* The blocked address was the least recently seen, yet unblocked ones gave way first. */
    ck_assert_int_gt(api_guard_blocked(g, "203.0.113.1", 10.0), 0);
    /* A very long address is cut to size, not overflowed. */
    char huge[300];
    for (size_t i = 0; i < sizeof(huge) - 1; i++)
        huge[i] = 'a';
    huge[sizeof(huge) - 1] = '\0';
    api_guard_failure(g, huge, 20.0);
    ck_assert_uint_eq(api_guard_size(g), API_GUARD_ENTRIES);
    api_guard_free(g);
}
END_TEST

START_TEST(log_lines_at_most_one_a_second_per_kind)
{
    struct api_guard *g = api_guard_new(&lim);
    unsigned long skipped = 99;
    ck_assert(api_guard_log_due(g, API_GUARD_UNAUTHORIZED, 10.0, &skipped));
    ck_assert_uint_eq(skipped, 0);
    for (int i = 0; i < 5; i++)
        ck_assert(!api_guard_log_due(g, API_GUARD_UNAUTHORIZED, 10.1 + i * 0.1, &skipped));
    /* Another kind has its own allowance. */
    ck_assert(api_guard_log_due(g, API_GUARD_FORBIDDEN, 10.2, &skipped));
    ck_assert_uint_eq(skipped, 0);
    ck_assert(api_guard_log_due(g, API_GUARD_UNAUTHORIZED, 11.0, &skipped));
    ck_assert_uint_eq(skipped, 5);
    ck_assert(!api_guard_log_due(g, API_GUARD_KINDS, 20.0, &skipped));
    ck_assert(!api_guard_log_due(NULL, API_GUARD_BLOCKED, 20.0, &skipped));
    api_guard_free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_guard");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, twenty_failures_block_for_the_block_time);
    tcase_add_test(tc, failures_outside_the_window_start_again);
    tcase_add_test(tc, the_table_is_bounded_and_keeps_blocks);
    tcase_add_test(tc, log_lines_at_most_one_a_second_per_kind);
    suite_add_tcase(s, tc);
    return check_run(s);
}
