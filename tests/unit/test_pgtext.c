/* test_pgtext.c: array elements quoted as PostgreSQL reads them back; fields judged plain only when
 * they cannot break a tab-separated line. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "util/pgtext.h"

static char *elem(const char *s, size_t n)
{
    struct jsonwrite_buf b = {0};
    pgtext_array_elem(&b, s, n);
    return jsonwrite_take(&b, NULL);
}

START_TEST(array_elem_quotes_and_escapes)
{
    struct {
        const char *in, *want;
    } cases[] = {
        {"I-1", "\"I-1\""},
        {"", "\"\""},
        {"a\"b", "\"a\\\"b\""},
        {"a\\b", "\"a\\\\b\""},
        {"\\\"", "\"\\\\\\\"\""},
        {"{a,b}", "\"{a,b}\""}, /* braces and commas are literal inside the quotes */
        {"NULL", "\"NULL\""},   /* quoted: the string, not SQL NULL */
        {"caf\xc3\xa9 x", "\"caf\xc3\xa9 x\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = elem(cases[i].in, strlen(cases[i].in));
        ck_assert_str_eq(got, cases[i].want);
        free(got);
    }
}
END_TEST

START_TEST(array_elem_takes_length_not_nul)
{
    char *got = elem("ab\"cd", 3);
    ck_assert_str_eq(got, "\"ab\\\"\"");
    free(got);
}
END_TEST

START_TEST(array_elem_appends)
{
    struct jsonwrite_buf b = {0};
    jsonwrite_char(&b, '{');
    pgtext_array_elem(&b, "x", 1);
    jsonwrite_char(&b, ',');
    pgtext_array_elem(&b, "y\"", 2);
    jsonwrite_char(&b, '}');
    char *got = jsonwrite_take(&b, NULL);
    ck_assert_str_eq(got, "{\"x\",\"y\\\"\"}");
    free(got);
}
END_TEST

START_TEST(plain_text)
{
    ck_assert(pgtext_plain("I-1", 3));
    ck_assert(pgtext_plain("a b\x7f\xc3\xa9", 6)); /* DEL and UTF-8 are not control characters here */
    ck_assert(!pgtext_plain("", 0));
    ck_assert(!pgtext_plain(NULL, 0));
    ck_assert(!pgtext_plain(NULL, 3));
    ck_assert(!pgtext_plain("a\tb", 3));
    ck_assert(!pgtext_plain("a\nb", 3));
    ck_assert(!pgtext_plain("a\rb", 3));
    ck_assert(!pgtext_plain("a\x1f", 2));
    ck_assert(!pgtext_plain("a\0b", 3));
    ck_assert(pgtext_plain("ab\n", 2)); /* only the first n bytes count */
}
END_TEST

START_TEST(plain_field)
{
    ck_assert(pgtext_field_plain(NULL));
    json_t *v = json_null();
    ck_assert(pgtext_field_plain(v));
    json_decref(v);
    v = json_string("I-1");
    ck_assert(pgtext_field_plain(v));
    json_decref(v);
    v = json_string("");
    ck_assert(!pgtext_field_plain(v));
    json_decref(v);
    v = json_string("a\tb");
    ck_assert(!pgtext_field_plain(v));
    json_decref(v);
    v = json_stringn("a\0b", 3); /* the length is the string's, not up to a NUL */
    ck_assert(!pgtext_field_plain(v));
    json_decref(v);
    v = json_integer(5);
    ck_assert(!pgtext_field_plain(v));
    json_decref(v);
    v = json_true();
    ck_assert(!pgtext_field_plain(v));
    json_decref(v);
    v = json_object();
    ck_assert(!pgtext_field_plain(v));
    json_decref(v);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pgtext");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, array_elem_quotes_and_escapes);
    tcase_add_test(tc, array_elem_takes_length_not_nul);
    tcase_add_test(tc, array_elem_appends);
    tcase_add_test(tc, plain_text);
    tcase_add_test(tc, plain_field);
    suite_add_tcase(s, tc);
    return check_run(s);
}
