/* test_jsonparse.c: jsonparse must accept only what jansson accepts, build what jansson builds (keys in the
 * same order, integers and reals as such), and take the fast path on the text fcrd reads most. */
#include <check.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "util/jsonparse.h"
#include "util/utf8.h"

static const size_t flag_sets[2] = {0, JSON_REJECT_DUPLICATES};

/* The one property: when the fast path gives a value, jansson gives the same one, printed the same
 * way in insertion order. Returns whether the fast path took the text (for either flag set). Plain
 * checks and ck_abort_msg: check records every passing ck_assert, and this runs a million times. */
static bool agrees(const char *text, size_t len, const char *what)
{
    bool took = false;
    for (int f = 0; f < 2; f++) {
        json_t *fast = jsonparse_fast(text, len, flag_sets[f]);
        if (!fast)
            continue;
        took = true;
        json_error_t je;
        json_t *want = json_loadb(text, len, flag_sets[f], &je);
        if (!want)
            ck_abort_msg("%s: jsonparse accepted what jansson rejects (%s): %.*s", what, je.text, (int)len, text);
        if (!json_equal(fast, want))
            ck_abort_msg("%s: values differ: %.*s", what, (int)len, text);
        char *a = json_dumps(fast, JSON_COMPACT | JSON_ENCODE_ANY);
        char *b = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!a || !b || strcmp(a, b) != 0)
            ck_abort_msg("%s: printed differently:\n jsonparse   %s\n jansson %s", what, a, b);
        free(a);
        free(b);
        json_decref(fast);
        json_decref(want);
    }
    return took;
}

static bool agrees_str(const char *text, const char *what) { return agrees(text, strlen(text), what); }

/* Valid text the fast path must take itself, and agree on. */
START_TEST(takes_valid_text)
{
    static const char *texts[] = {
        "{}",
        "[]",
        " \t\r\n{ \"a\" : 1 , \"b\" : [ ] , \"c\" : { } } \n",
        "{\"v\":1,\"seq\":-42,\"zero\":0,\"neg0\":-0,\"big\":999999999999999999,\"small\":-999999999999999999}",
        "[1.5, -0.0, 2e10, 2E-3, 1e+2, 0.1, 123.456e-7, 1e-400]",
        "[true, false, null, \"\", [[]], [{}]]",
        "{\"esc\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t end\"}",
        "{\"u\":\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\\uFFFF\"}",
        "{\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd \x7f\"}",
        "{\"k\\u00e9y\":1,\"k\xc3\xa9y2\":2,\"\":3}",
        "{\"dup\":1,\"other\":2,\"dup\":3}", /* taken without JSON_REJECT_DUPLICATES only */
        "{\"long\":\"" "0123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789012345678901234567890123456789\\n"
        "0123456789012345678901234567890123456789012345678901234567890123456789\"}",
        "{\"nested\":{\"key\\n\":{\"k\":\"\\u00e9\"}}}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        ck_assert_msg(agrees_str(texts[i], "valid"), "the fast path left valid text to jansson: %s", texts[i]);
    /* A duplicate key: without the flag the last one wins, in the first one's place, as jansson
     * does; with it, jansson reports the duplicate. */
    json_t *v = jsonparse_fast("{\"dup\":1,\"other\":2,\"dup\":3}", 27, 0);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "dup")), 3);
    ck_assert_ptr_null(jsonparse_fast("{\"dup\":1,\"other\":2,\"dup\":3}", 27, JSON_REJECT_DUPLICATES));
    json_decref(v);
    /* Integers stay integers, reals reals. */
    v = jsonparse_fast("[7, 7.0, -0]", 12, 0);
    ck_assert(json_is_integer(json_array_get(v, 0)) && json_is_real(json_array_get(v, 1)));
    ck_assert(json_is_integer(json_array_get(v, 2)) && json_integer_value(json_array_get(v, 2)) == 0);
    json_decref(v);
}
END_TEST

/* Text jansson rejects: the fast path must leave every one to jansson, and jsonparse_loadb must then
 * report jansson's own error. Also text jansson accepts that the fast path leaves to it. */
START_TEST(leaves_the_rest_to_jansson)
{
    static const char *bad[] = {
        "", " ", "\"top\"", "1", "true", "null", "{", "[", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "[,1]",
        "{\"a\":1}x", "{\"a\":1}{}", "{a:1}", "{'a':1}", "[01]", "[-]", "[-a]", "[1.]", "[.5]", "[1e]", "[1e+]",
        "[+1]", "[0x10]", "[1.5.5]", "[tru]", "[truex]", "[nul]", "[NaN]", "[Infinity]", "[1e400]", "[-1e400]",
        "[99999999999999999999]", "[-99999999999999999999]", "{\"a\":\"\\u0000\"}", "{\"\\u0000\":1}",
        "[\"\\ud800\"]", "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]", "[\"\\ud800x\"]", "[\"\\u12\"]", "[\"\\uZZZZ\"]",
        "[\"\\x41\"]", "[\"\\\"]", "[\"a\tb\"]", "[\"a\nb\"]", "[\"\x01\"]", "[\"\xc3\"]", "[\"\xc3(\"]",
        "[\"\xc0\x80\"]", "[\"\xc1\xbf\"]", "[\"\xe0\x80\x80\"]", "[\"\xed\xa0\x80\"]", "[\"\xf0\x80\x80\x80\"]",
        "[\"\xf4\x90\x80\x80\"]", "[\"\xf5\x80\x80\x80\"]", "[\"\xff\"]", "[\"\x80\"]", "\xef\xbb\xbf{}",
        "[\"unterminated", "{\"a\":1 \"b\":2}", "{\"a\" 1}", "[1 2]", "[\"a\"\"b\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i]);
        for (int f = 0; f < 2; f++) {
            json_error_t want, got;
            json_t *j = json_loadb(bad[i], len, flag_sets[f], &want);
            ck_assert_msg(j == NULL, "jansson accepted %s (the list is wrong)", bad[i]);
            ck_assert_msg(jsonparse_fast(bad[i], len, flag_sets[f]) == NULL, "jsonparse accepted bad text: %s", bad[i]);
            ck_assert_ptr_null(jsonparse_loadb(bad[i], len, flag_sets[f], &got));
            ck_assert_str_eq(got.text, want.text);
            ck_assert_int_eq(got.position, want.position);
        }
    }
    /* A NUL byte inside the given length is an error; one just past it is not read. */
    ck_assert_ptr_null(jsonparse_fast("[\"a\0b\"]", 7, 0));
    json_t *v = jsonparse_fast("[1]\0garbage", 3, 0);
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    /* The integers at the ends of 64 bits are taken; one past them is jansson's error. */
    static const char *ends[] = {"[9223372036854775807,-9223372036854775808,1234567890123456789]",
                                 "[9223372036854775808]", "[-9223372036854775809]", "[10000000000000000000]"};
    json_t *j = jsonparse_fast(ends[0], strlen(ends[0]), 0);
    ck_assert_ptr_nonnull(j);
    ck_assert(json_integer_value(json_array_get(j, 0)) == INT64_MAX);
    ck_assert(json_integer_value(json_array_get(j, 1)) == INT64_MIN);
    ck_assert(agrees_str(ends[0], "ends"));
    json_decref(j);
    for (size_t i = 1; i < 4; i++) {
        ck_assert_ptr_null(json_loadb(ends[i], strlen(ends[i]), 0, NULL));
        ck_assert_ptr_null(jsonparse_fast(ends[i], strlen(ends[i]), 0));
    }
    /* Valid, but left to jansson: nesting deeper than 64, other flags. */
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    ck_assert_ptr_null(jsonparse_fast(deep, 200, 0));
    v = jsonparse_loadb(deep, 200, 0, NULL);
    ck_assert_ptr_nonnull(v);
    json_decref(v);
    ck_assert_ptr_null(jsonparse_fast("\"bare\"", 6, JSON_DECODE_ANY));
    v = jsonparse_loadb("\"bare\"", 6, JSON_DECODE_ANY, NULL);
    ck_assert(json_is_string(v));
    json_decref(v);
}
END_TEST

static int depth_of(const json_t *v)
{
    int deepest = 0;
    size_t i;
    const char *k;
    json_t *m;
    int d;
    if (json_is_array(v))
        json_array_foreach(v, i, m) if ((d = depth_of(m)) > deepest) deepest = d;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, m) if ((d = depth_of(m)) > deepest) deepest = d;
    return json_is_array(v) || json_is_object(v) ? deepest + 1 : 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 16);
    *len = buf ? fread(buf, 1, 1 << 16, f) : 0;
    fclose(f);
    return buf;
}

/* Every single-byte deletion of one text, and single-byte substitutions from a set: wherever the
 * fast path takes the result, jansson must agree. */
static void mutations_agree(const char *text, size_t len, const char *what)
{
    static const char subs[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '-', '0', '9', 'e', '.', 'u', ' ',
                                '\n', '\x01', '\x7f', '\x80', '\xc3', '\xed', '\xf4', '\xff'};
    char *m = malloc(len + 1);
    ck_assert_ptr_nonnull(m);
    size_t step = (size_t)(10 / check_short(10)); /* every byte, or every tenth (check_short) */
    for (size_t i = 0; i < len; i += step) {
        memcpy(m, text, i);
        memcpy(m + i, text + i + 1, len - i - 1);
        agrees(m, len - 1, what);
        memcpy(m, text, len);
        for (size_t k = 0; k < 6; k++) { /* six of the substitutions, a different six at each byte */
            m[i] = subs[(i + k * 4) % sizeof subs];
            agrees(m, len, what);
        }
    }
    free(m);
}

/* The hostile-input corpus and the worked cases' events: the fast path takes every line jansson
 * accepts as a feed line, agrees on it, and agrees on its mutations. */
START_TEST(corpus_and_cases)
{
    const char *root = getenv("FCRD_SOURCE_ROOT");
    ck_assert_ptr_nonnull(root);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/corpus", root);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int lines = 0, taken = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".line") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        char *text = read_file(path, &len);
        ck_assert_ptr_nonnull(text);
        if (len > 0 && text[len - 1] == '\n')
            len--; /* the feed hands over a line without its newline */
        json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        bool took = agrees(text, len, path);
        if (j && depth_of(j) <= 64) /* deeper text is jansson's to read */
            ck_assert_msg(took, "%s: valid, but left to jansson", path);
        taken += took;
        lines++;
        if (len < 4096)
            mutations_agree(text, len, path);
        json_decref(j);
        free(text);
    }
    closedir(d);
    ck_assert_int_gt(lines, 40);
    ck_assert_int_gt(taken, 10);

    const char *shared = getenv("FCRD_SHARED_DIR");
    char path[4096];
    if (shared)
        snprintf(path, sizeof path, "%s/scenarios/cases.json", shared);
    else
        snprintf(path, sizeof path, "%s/../shared/scenarios/cases.json", root);
    json_t *cases = json_load_file(path, 0, NULL);
    if (!cases) { /* the worked cases are not beside this checkout: only CI must have them */
        ck_assert_msg(!check_in_ci(), "%s: missing, and CI=true needs the worked cases", path);
        return;
    }
    size_t i, k;
    json_t *c, *ev;
    int events = 0;
    json_array_foreach(cases, i, c) {
        json_array_foreach(json_object_get(c, "events"), k, ev) {
            for (int indent = 0; indent < 2; indent++) {
                char *text = json_dumps(ev, indent ? JSON_INDENT(2) : JSON_COMPACT);
                ck_assert_msg(agrees_str(text, "case event"), "a case's event left to jansson: %s", text);
                if (i % 8 == 0 && indent == 0)
                    mutations_agree(text, strlen(text), "case event");
                free(text);
            }
            events++;
        }
    }
    json_decref(cases);
    ck_assert_int_gt(events, 0);
}
END_TEST

/* Random texts from a small alphabet of JSON's own characters: mostly invalid, some valid. */
START_TEST(random_texts)
{
    static const char *pieces[] = {"{", "}", "[", "]", ",", ":", "\"", "\"a\"", "\"k\":", "1", "-", "0", ".5",
                                   "e3", "true", "null", " ", "\\", "\\u00e9", "\\ud83d", "\\ude00", "\xc3\xa9",
                                   "\xc3", "x", "\"s\\n\"", "[]", "{}", "\"d\":1,\"d\":2"};
    unsigned seed = 12345;
    char text[256];
    int valid = 0;
    for (long round = 0, rounds = check_short(200000); round < rounds; round++) {
        size_t len = 0;
        int parts = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
        text[len++] = (seed >> 8) & 1 ? '{' : '[';
        for (int p = 0; p < parts; p++) {
            seed = seed * 1103515245u + 12345u;
            const char *s = pieces[(seed >> 16) % (sizeof pieces / sizeof pieces[0])];
            size_t n = strlen(s);
            if (len + n + 2 >= sizeof text)
                break;
            memcpy(text + len, s, n);
            len += n;
        }
        text[len++] = text[0] == '{' ? '}' : ']';
        valid += agrees(text, len, "random");
    }
    ck_assert_int_gt(valid, check_short(100)); /* the alphabet does make valid text, which must agree */
}
END_TEST

/* utf8_seq (which the reader uses for every byte of 0x80 or above) judges text as jansson does:
 * every one- and two-byte text, and three- and four-byte texts over every lead and second byte
 * with the bytes after it drawn from the edges of the continuation range. */
static bool seq_walk(const unsigned char *s, size_t k)
{
    for (size_t i = 0; i < k;) {
        size_t n = utf8_seq(s + i, k - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

static void seq_same(const unsigned char *s, size_t k)
{
    json_t *j = json_stringn((const char *)s, k); /* NULL when jansson finds the text not UTF-8 */
    if (seq_walk(s, k) != (j != NULL))
        ck_abort_msg("utf8_seq and jansson differ on %zu bytes %02x %02x %02x %02x", k, s[0], k > 1 ? s[1] : 0,
                     k > 2 ? s[2] : 0, k > 3 ? s[3] : 0);
    json_decref(j);
}

START_TEST(utf8_sequences)
{
    static const unsigned char edges[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    unsigned char s[4];
    for (unsigned a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        seq_same(s, 1);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            seq_same(s, 2);
            if (a < 0xc0)
                continue;
            for (size_t c = 0; c < sizeof edges; c++) {
                s[2] = edges[c];
                seq_same(s, 3);
                for (size_t d = 0; a >= 0xf0 && d < sizeof edges; d++) {
                    s[3] = edges[d];
                    seq_same(s, 4);
                }
            }
        }
    }
    /* utf8_valid over a NUL-terminated text: the same judgement. */
    ck_assert(utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80"));
    ck_assert(!utf8_valid("\xed\xa0\x80"));
    ck_assert(!utf8_valid("\xe2\x82"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonparse");
    TCase *tc = tcase_create("jsonparse");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, takes_valid_text);
    tcase_add_test(tc, leaves_the_rest_to_jansson);
    tcase_add_test(tc, corpus_and_cases);
    tcase_add_test(tc, random_texts);
    tcase_add_test(tc, utf8_sequences);
    suite_add_tcase(s, tc);
    return check_run(s);
}
