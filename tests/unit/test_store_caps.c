/* test_store_caps.c: the per-incident caps count what the incident would hold once the event is
 * merged (persons and allegations by id, links by incident and relation), refuse only an event
 * that adds past a cap, name what is over, and treat a 0 cap as none. */
#include <check.h>
#include <string.h>

#include "check_run.h"
#include "store/store_caps.h"

static json_t *doc(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    ck_assert_msg(v != NULL, "%s", e.text);
    return v;
}

static int check(const struct store_incident_caps *caps, const char *state, const char *ev, char *field)
{
    json_t *s = state ? doc(state) : NULL, *d = doc(ev);
    char msg[200];
    field[0] = '\0';
    int rc = store_caps_check(caps, s, d, field, 32, msg, sizeof msg);
    if (rc)
        ck_assert_ptr_nonnull(strstr(msg, "per_incident"));
    json_decref(s);
    json_decref(d);
    return rc;
}

START_TEST(persons_merged_by_id)
{
    struct store_incident_caps caps = {3, 0, 0};
    const char *state = "{\"persons\":[{\"id\":\"a\"},{\"id\":\"b\"}]}";
    char field[32];
    ck_assert_int_eq(check(&caps, state, "{\"persons\":[{\"id\":\"c\"}]}", field), 0);
    ck_assert_int_eq(check(&caps, state, "{\"persons\":[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"}]}", field), 0);
    ck_assert_int_eq(check(&caps, state, "{\"persons\":[{\"id\":\"c\"},{\"id\":\"d\"}]}", field), 1);
    ck_assert_str_eq(field, "persons");
    /* the same new id twice in one event is one person */
    ck_assert_int_eq(check(&caps, state, "{\"persons\":[{\"id\":\"c\"},{\"id\":\"c\"}]}", field), 0);
    /* a new incident counts the event alone */
    ck_assert_int_eq(check(&caps, NULL, "{\"persons\":[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"}]}", field), 0);
    ck_assert_int_eq(check(&caps, NULL, "{\"persons\":[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"},{\"id\":\"d\"}]}",
                           field), 1);
}
END_TEST

START_TEST(allegations_and_links)
{
    struct store_incident_caps caps = {0, 1, 2};
    char field[32];
    const char *state = "{\"allegations\":[{\"id\":\"a1\"}],"
                        "\"links\":[{\"incident_id\":\"I1\",\"relation\":\"related\"}]}";
    ck_assert_int_eq(check(&caps, state, "{\"allegations\":[{\"id\":\"a1\",\"note\":\"changed\"}]}", field), 0);
    ck_assert_int_eq(check(&caps, state, "{\"allegations\":[{\"id\":\"a2\"}]}", field), 1);
    ck_assert_str_eq(field, "allegations");
    /* the same incident under another relation is another link */
    ck_assert_int_eq(check(&caps, state, "{\"links\":[{\"incident_id\":\"I1\",\"relation\":\"same_report\"}]}",
                           field), 0);
    ck_assert_int_eq(check(&caps, state,
                           "{\"links\":[{\"incident_id\":\"I1\",\"relation\":\"related\"},"
                           "{\"incident_id\":\"I2\",\"relation\":\"related\"},"
                           "{\"incident_id\":\"I3\",\"relation\":\"related\"}]}",
                           field),
                     1);
    ck_assert_str_eq(field, "links");
}
END_TEST

START_TEST(over_already_and_no_limit)
{
    char field[32];
    /* stored over a cap (it was lowered since): events that add nothing still apply */
    struct store_incident_caps caps = {1, 1, 1};
    const char *state = "{\"persons\":[{\"id\":\"a\"},{\"id\":\"b\"}]}";
    ck_assert_int_eq(check(&caps, state, "{\"persons\":[{\"id\":\"b\"}]}", field), 0);
    ck_assert_int_eq(check(&caps, state, "{\"persons\":[{\"id\":\"c\"}]}", field), 1);
    /* 0: no limit */
    struct store_incident_caps none = {0, 0, 0};
    ck_assert_int_eq(check(&none, state, "{\"persons\":[{\"id\":\"c\"},{\"id\":\"d\"}]}", field), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_caps");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, persons_merged_by_id);
    tcase_add_test(tc, allegations_and_links);
    tcase_add_test(tc, over_already_and_no_limit);
    suite_add_tcase(s, tc);
    return check_run(s);
}
