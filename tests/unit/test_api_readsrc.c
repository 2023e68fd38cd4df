/* test_api_readsrc.c: when the API's reads may go to the read server: a promoted server always,
 * a streaming standby that has replayed all it received always, otherwise only while its last
 * replayed transaction is within the bound; never without a measurement. */
#include <check.h>

#include "api/api_readsrc.h"
#include "check_run.h"

START_TEST(pick)
{
    const struct api_readsrc_sample current = {true, true, true, 50000};
    const struct api_readsrc_sample promoted = {false, false, false, -1};
    const struct api_readsrc_sample replaying = {true, true, false, 400};
    const struct api_readsrc_sample behind = {true, true, false, 1500};
    const struct api_readsrc_sample cut_off = {true, false, true, 1500};
    const struct api_readsrc_sample never = {true, false, false, -1};
    ck_assert(!api_readsrc_pick(NULL, 1000));
    ck_assert(api_readsrc_pick(&current, 1000));
    ck_assert(api_readsrc_pick(&promoted, 1000));
    ck_assert(api_readsrc_pick(&replaying, 1000));
    ck_assert(!api_readsrc_pick(&behind, 1000));
    ck_assert(api_readsrc_pick(&behind, 2000));
    ck_assert(!api_readsrc_pick(&cut_off, 1000)); /* caught up with what it got, but it gets nothing */
    ck_assert(!api_readsrc_pick(&never, 1000));
}
END_TEST

START_TEST(without_read_server)
{
    struct event_base *base = event_base_new();
    const struct api_readsrc_params p = {.primary_conninfo = "host=db1 dbname=fcrd", .max_lag_ms = 1000};
    struct api_readsrc *r = api_readsrc_new(base, &p);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(api_readsrc_conninfo(r), "host=db1 dbname=fcrd");
    ck_assert(!api_readsrc_on_standby(r));
    ck_assert_ptr_null(api_readsrc_free(r));
    event_base_free(base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_readsrc");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, pick);
    tcase_add_test(tc, without_read_server);
    suite_add_tcase(s, tc);
    return check_run(s);
}
