/* test_errbuf.c: failure messages into a caller's buffer: the return value, a missing or empty
 * buffer, and cutting a message too long (never inside a UTF-8 sequence). */
#include <check.h>
#include <stdarg.h>
#include <string.h>

#include "util/errbuf.h"
#include "check_run.h"

START_TEST(formats_and_returns_minus_one)
{
    char err[64] = "old";
    ck_assert_int_eq(errbuf_set(err, sizeof err, "cannot open %s: %d", "feed.sock", 13), -1);
    ck_assert_str_eq(err, "cannot open feed.sock: 13");
}
END_TEST

START_TEST(null_buffer_or_no_room)
{
    ck_assert_int_eq(errbuf_set(NULL, 64, "x %d", 1), -1);
    ck_assert_int_eq(errbuf_set(NULL, 0, "x %d", 1), -1);
    char err[8] = "keep";
    ck_assert_int_eq(errbuf_set(err, 0, "overwrite"), -1);
    ck_assert_str_eq(err, "keep");
}
END_TEST

START_TEST(cut_to_fit)
{
    char err[8];
    memset(err, 'x', sizeof err);
    ck_assert_int_eq(errbuf_set(err, sizeof err, "%s", "0123456789"), -1);
    ck_assert_str_eq(err, "0123456");
    char one[1] = {'x'};
    errbuf_set(one, sizeof one, "anything");
    ck_assert_int_eq(one[0], '\0');
    char exact[6];
    errbuf_set(exact, sizeof exact, "abcde");
    ck_assert_str_eq(exact, "abcde");
}
END_TEST

START_TEST(cut_between_characters)
{
    /* "é" is 2 bytes, "€" 3, "😀" 4: a cut falling inside one drops the whole character */
    char err[5];
    errbuf_set(err, sizeof err, "abc\xc3\xa9");
    ck_assert_str_eq(err, "abc");
    errbuf_set(err, sizeof err, "ab\xe2\x82\xac");
    ck_assert_str_eq(err, "ab");
    errbuf_set(err, sizeof err, "a\xe2\x82\xac");
    ck_assert_str_eq(err, "a\xe2\x82\xac");
    errbuf_set(err, sizeof err, "a\xf0\x9f\x98\x80");
    ck_assert_str_eq(err, "a");
    errbuf_set(err, sizeof err, "\xf0\x9f\x98\x80");
    ck_assert_str_eq(err, "\xf0\x9f\x98\x80");
    char two[3];
    errbuf_set(two, sizeof two, "\xe2\x82\xac");
    ck_assert_str_eq(two, "");
}
END_TEST

/* A helper adding context of its own, the way callers wrap errbuf_vset. */
static int with_context(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int with_context(char *err, size_t errlen, const char *fmt, ...)
{
    char what[16];
    va_list ap;
    va_start(ap, fmt);
    errbuf_vset(what, sizeof what, fmt, ap);
    va_end(ap);
    return errbuf_set(err, errlen, "ctx: %s", what);
}

START_TEST(va_list_variant)
{
    char err[64];
    ck_assert_int_eq(with_context(err, sizeof err, "%d of %d", 3, 4), -1);
    ck_assert_str_eq(err, "ctx: 3 of 4");
    ck_assert_int_eq(with_context(err, sizeof err, "%s", "a long message that is cut"), -1);
    ck_assert_str_eq(err, "ctx: a long message ");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("errbuf");
    TCase *tc = tcase_create("errbuf");
    tcase_add_test(tc, formats_and_returns_minus_one);
    tcase_add_test(tc, null_buffer_or_no_room);
    tcase_add_test(tc, cut_to_fit);
    tcase_add_test(tc, cut_between_characters);
    tcase_add_test(tc, va_list_variant);
    suite_add_tcase(s, tc);
    return check_run(s);
}
