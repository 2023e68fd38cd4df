/* test_textfold.c: the folding the narrative matcher reads text through: case beyond ASCII,
 * typographic marks as ASCII, never longer than the input, malformed bytes kept. */
#include <check.h>
#include <string.h>

#include "util/textfold.h"
#include "check_run.h"

static void expect_fold(const char *in, const char *want)
{
    char out[256];
    size_t n = textfold_text(in, strlen(in), out);
    ck_assert_uint_eq(n, strlen(out));
    ck_assert_msg(strcmp(out, want) == 0, "fold of \"%s\": \"%s\", want \"%s\"", in, out, want);
}

START_TEST(ascii)
{
    expect_fold("He PUNCHED Her, 3 Times!", "he punched her, 3 times!");
    expect_fold("", "");
}
END_TEST

START_TEST(latin1)
{
    /* ÀÉÎÕÜÇÑØÞ -> àéîõüçñøþ; the multiplication sign and ß stay. */
    expect_fold("\xc3\x80\xc3\x89\xc3\x8e\xc3\x95\xc3\x9c\xc3\x87\xc3\x91\xc3\x98\xc3\x9e",
                "\xc3\xa0\xc3\xa9\xc3\xae\xc3\xb5\xc3\xbc\xc3\xa7\xc3\xb1\xc3\xb8\xc3\xbe");
    expect_fold("\xc3\x97\xc3\x9f", "\xc3\x97\xc3\x9f");
    expect_fold("CAF\xc3\x89 d\xc3\xa9j\xc3\xa0", "caf\xc3\xa9 d\xc3\xa9j\xc3\xa0");
}
END_TEST

START_TEST(latin_extended_a)
{
    /* Ł Ś Ź Ż Ą Ę Č Ř Š Ž Ő Ű -> ł ś ź ż ą ę č ř š ž ő ű */
    expect_fold("\xc5\x81\xc5\x9a\xc5\xb9\xc5\xbb\xc4\x84\xc4\x98\xc4\x8c\xc5\x98\xc5\xa0\xc5\xbd\xc5\x90\xc5\xb0",
                "\xc5\x82\xc5\x9b\xc5\xba\xc5\xbc\xc4\x85\xc4\x99\xc4\x8d\xc5\x99\xc5\xa1\xc5\xbe\xc5\x91\xc5\xb1");
    /* Small letters stay; Ÿ -> ÿ; İ -> i; long s -> s; ĸ has no capital. */
    expect_fold("\xc5\x82\xc5\xbe", "\xc5\x82\xc5\xbe");
    expect_fold("\xc5\xb8", "\xc3\xbf");
    expect_fold("\xc4\xb0stanbul", "istanbul");
    expect_fold("\xc5\xbf", "s");
    expect_fold("\xc4\xb8", "\xc4\xb8");
    /* Capital sharp s (three bytes) -> ß (two). */
    expect_fold("STRA\xe1\xba\x9e" "E", "stra\xc3\x9f" "e");
}
END_TEST

START_TEST(greek_cyrillic)
{
    expect_fold("\xce\x91\xce\xa9", "\xce\xb1\xcf\x89");             /* ΑΩ -> αω */
    expect_fold("\xd0\x90\xd0\xaf\xd0\x81", "\xd0\xb0\xd1\x8f\xd1\x91"); /* АЯЁ -> аяё */
}
END_TEST

START_TEST(typographic_marks)
{
    expect_fold("didn\xe2\x80\x99t \xe2\x80\x98hit\xe2\x80\x99", "didn't 'hit'");
    expect_fold("wasn\xca\xbct", "wasn't");
    expect_fold("\xe2\x80\x9cSTOP\xe2\x80\x9d \xc2\xabnon\xc2\xbb", "\"stop\" \"non\"");
    expect_fold("a\xe2\x80\x94" "b\xe2\x80\x93" "c\xe2\x88\x92" "d", "a-b-c-d");
    expect_fold("hit\xc2\xa0her\xe2\x80\xafnow\xe2\x80\x89then", "hit her now then");
    expect_fold("and\xe2\x80\xa6", "and...");
}
END_TEST

START_TEST(malformed_kept)
{
    /* A stray continuation byte, a truncated sequence and an overlong form are copied as they are. */
    expect_fold("A\x80" "B", "a\x80" "b");
    expect_fold("X\xc3", "x\xc3");
    expect_fold("\xc0\xaf" "Z", "\xc0\xaf" "z");
}
END_TEST

/* No code point folds to a longer encoding: the caller's buffer of len + 1 always suffices. */
START_TEST(never_longer)
{
    for (unsigned cp = 0x80; cp < 0x10000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        unsigned f = textfold_char(cp);
        size_t in = cp < 0x800 ? 2 : 3, out = f < 0x80 ? 1 : f < 0x800 ? 2 : 3;
        ck_assert_msg(out <= in, "U+%04X folds to U+%04X, longer", cp, f);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("textfold");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, ascii);
    tcase_add_test(tc, latin1);
    tcase_add_test(tc, latin_extended_a);
    tcase_add_test(tc, greek_cyrillic);
    tcase_add_test(tc, typographic_marks);
    tcase_add_test(tc, malformed_kept);
    tcase_add_test(tc, never_longer);
    suite_add_tcase(s, tc);
    return check_run(s);
}
