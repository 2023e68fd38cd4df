/* test_jsonwrite.c: jsonwrite must print exactly what jansson prints, and copy exactly what it copies. */
#include <check.h>
#include <openssl/evp.h>
#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "store/audit.h"
#include "store/incident.h"
#include "util/jsonwrite.h"

/* Compares jsonwrite with jansson for one value, both key orders, and checks the copy. */
static void same_as_jansson(const json_t *v, const char *what)
{
    static const size_t jflags[2] = {JSON_COMPACT | JSON_ENCODE_ANY, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS};
    static const unsigned xflags[2] = {0, JSONWRITE_SORT};
    for (int i = 0; i < 2; i++) {
        char *want = json_dumps(v, jflags[i]);
        char *got = jsonwrite_dumps(v, xflags[i]);
        ck_assert_msg(want && got, "%s: no text", what);
        ck_assert_msg(strcmp(want, got) == 0, "%s (sort %d):\n jansson %s\n jsonwrite   %s", what, i, want, got);
        free(want);
        free(got);
    }
    json_t *c = jsonwrite_copy(v);
    ck_assert_msg(c && json_equal(c, v), "%s: copy differs", what);
    if (json_is_object(c) || json_is_array(c))
        ck_assert_ptr_ne(c, v);
    json_decref(c);
}

static json_t *load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return json_loadb(buf, n, JSON_ALLOW_NUL | JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, NULL);
}

/* Every parseable document in a folder (the hostile-input corpus, the worked cases). */
static int same_for_folder(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (len < sl || strcmp(e->d_name + len - sl, suffix) != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        json_t *v = load_file(path);
        if (!v)
            continue;
        same_as_jansson(v, path);
        json_decref(v);
        n++;
    }
    closedir(d);
    return n;
}

START_TEST(corpus_documents)
{
    const char *root = getenv("FCRD_SOURCE_ROOT");
    ck_assert_ptr_nonnull(root);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/tests/corpus", root);
    int n = same_for_folder(dir, ".line");
    ck_assert_int_gt(n, 40);
    snprintf(dir, sizeof(dir), "%s/conf/rules", root);
    ck_assert_int_gt(same_for_folder(dir, ".json"), 0);
}
END_TEST

START_TEST(awkward_strings)
{
    const char *const strings[] = {"", "plain", "quote \" and backslash \\", "slash / stays",
                                   "tab\tnewline\ncr\rbs\bff\f", "\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                                   "</script>"};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        json_t *o = json_pack("{s:s, s:[s]}", strings[i], strings[i], "k", strings[i]);
        same_as_jansson(o, strings[i]);
        json_decref(o);
    }
    json_t *nul = json_stringn("a\0b", 3);
    same_as_jansson(nul, "NUL inside a string");
    json_t *o = json_object();
    json_object_setn(o, "k\0x", 3, nul);
    json_object_setn(o, "k", 1, nul);
    same_as_jansson(o, "NUL inside a key");
    json_decref(o);
    json_decref(nul);
}
END_TEST

/* Strings are written eight bytes at a time while no byte needs escaping: every character that
 * does (and a few that do not), at every offset of strings from 0 to 40 bytes, in every string of
 * a run of plain text, with plain text on either side. */
START_TEST(escapes_at_every_offset)
{
    static const char *const specials[] = {"\x01", "\x1f", "\"", "\\", "\n", "\x7f", " ", "\xc3\xa9",
                                           "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x20\x21\x5b\x5d"};
    char text[64];
    for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
        size_t sl = strlen(specials[k]);
        for (size_t len = 0; len + sl <= 40; len++) {
            for (size_t at = 0; at <= len; at++) {
                memset(text, 'a' + (int)(at % 26), len);
                memcpy(text + at, specials[k], sl);
                memset(text + at + sl, 'Q', len - at);
                json_t *v = json_stringn(text, len + sl);
                ck_assert_ptr_nonnull(v);
                char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                char *got = jsonwrite_dumps(v, 0);
                if (!want || !got || strcmp(want, got) != 0)
                    ck_abort_msg("special %zu at %zu of %zu:\n jansson %s\n jsonwrite   %s", k, at, len, want, got);
                free(want);
                free(got);
                json_decref(v);
            }
        }
    }
}
END_TEST

START_TEST(numbers_and_singletons)
{
    json_t *a = json_pack("[I, I, I, I, f, f, f, f, b, b, n]", (json_int_t)0, (json_int_t)-1, (json_int_t)INT64_MAX,
                          (json_int_t)INT64_MIN, 0.5, -2.0, 1e300, 3.14159, 1, 0);
    same_as_jansson(a, "numbers");
    json_decref(a);
    same_as_jansson(json_true(), "true");
    same_as_jansson(json_null(), "null");
}
END_TEST

/* Keys that sort by prefix and by bytes above 0x7f, in objects of more than 16 members. */
START_TEST(key_order)
{
    const char *const keys[] = {"rules", "ruleset", "r", "", "Z", "a", "\xc3\xa9", "ab", "aa", "rule",
                                "b", "ba", "c", "d", "e", "f", "g", "h", "i", "j"};
    for (size_t n = 1; n <= sizeof(keys) / sizeof(keys[0]); n++) {
        json_t *o = json_object();
        for (size_t i = 0; i < n; i++)
            json_object_set_new(o, keys[i], json_pack("{s:i, s:i}", keys[n - 1 - i], (int)i, "x", 1));
        same_as_jansson(o, "key order");
        json_decref(o);
    }
}
END_TEST

/* Random nested values from a fixed seed: many shapes, the same every run. */
static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

static json_t *random_value(int depth)
{
    static const char *const pool[] = {"id", "crn", "a", "b", "\"q\"", "x\ny", "\xc3\xa9t\xc3\xa9", "", "k1", "k10"};
    switch (depth > 4 ? rnd() % 4 : rnd() % 7) {
    case 0: return json_integer((json_int_t)(rnd() % 2000) - 1000);
    case 1: return json_string(pool[rnd() % 10]);
    case 2: return rnd() % 2 ? json_true() : json_null();
    case 3: return json_real((double)(rnd() % 1000) / 8.0);
    case 4:
    case 5: {
        json_t *o = json_object();
        for (uint32_t i = rnd() % 20; i > 0; i--)
            json_object_set_new(o, pool[rnd() % 10], random_value(depth + 1));
        return o;
    }
    default: {
        json_t *a = json_array();
        for (uint32_t i = rnd() % 6; i > 0; i--)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    }
}

START_TEST(random_values)
{
    for (int i = 0; i < 2000; i++) {
        json_t *v = random_value(0);
        same_as_jansson(v, "random value");
        json_decref(v);
    }
}
END_TEST

/* Building text by hand: keys and separators land where a value's own dump would put them. */
START_TEST(writer_calls)
{
    struct jsonwrite_buf b = {0};
    jsonwrite_char(&b, '[');
    for (int i = 0; i < 3; i++) {
        jsonwrite_sep(&b);
        jsonwrite_char(&b, '{');
        jsonwrite_key(&b, "n");
        jsonwrite_int(&b, i - 1);
        jsonwrite_key(&b, "s");
        jsonwrite_cstr(&b, i == 1 ? NULL : "t\"x");
        jsonwrite_key(&b, "e");
        jsonwrite_value(&b, NULL, 0);
        jsonwrite_char(&b, '}');
    }
    jsonwrite_char(&b, ']');
    size_t len = 0;
    char *s = jsonwrite_take(&b, &len);
    ck_assert_str_eq(s, "[{\"n\":-1,\"s\":\"t\\\"x\",\"e\":null},{\"n\":0,\"s\":null,\"e\":null},"
                        "{\"n\":1,\"s\":\"t\\\"x\",\"e\":null}]");
    ck_assert_uint_eq(len, strlen(s));
    json_t *back = json_loads(s, 0, NULL);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(json_array_size(back), 3);
    json_decref(back);
    free(s);
    ck_assert_ptr_null(b.buf);
}
END_TEST

START_TEST(copy_is_independent)
{
    json_t *v = json_pack("{s:[{s:s}], s:i}", "crimes", "crn", "X/1", "n", 1);
    json_t *c = jsonwrite_copy(v);
    json_object_set_new(json_array_get(json_object_get(c, "crimes"), 0), "crn", json_string("changed"));
    json_array_append_new(json_object_get(c, "crimes"), json_null());
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(v, "crimes"), 0), "crn")),
                     "X/1");
    ck_assert_uint_eq(json_array_size(json_object_get(v, "crimes")), 1);
    ck_assert_ptr_null(jsonwrite_copy(NULL));
    json_decref(c);
    json_decref(v);
}
END_TEST

/* nftw callback: fails the test on a call of a jansson scalar setter in a .c or .h file. */
static int setter_files;
static int scan_for_setters(const char *file, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    size_t n = strlen(file);
    if (type != FTW_F || n < 3 || (strcmp(file + n - 2, ".c") != 0 && strcmp(file + n - 2, ".h") != 0)
        || strstr(file + ftw->base, "test_") == file + ftw->base)
        return 0;
    static const char *const setters[] = {"json_string_set", "json_integer_set", "json_real_set"};
    FILE *f = fopen(file, "r");
    ck_assert_msg(f != NULL, "cannot read %s", file);
    char line[4096];
    int no = 0;
    while (fgets(line, sizeof line, f)) {
        no++;
        for (size_t k = 0; k < sizeof setters / sizeof setters[0]; k++) {
            /* a call: the name, any suffix (json_string_setn_nocheck...), then "(" */
            for (const char *p = strstr(line, setters[k]); p; p = strstr(p + 1, setters[k])) {
                const char *q = p + strlen(setters[k]);
                while ((*q >= 'a' && *q <= 'z') || *q == '_')
                    q++;
                if (*q == '(')
                    ck_abort_msg("%s:%d calls %s: jsonwrite_copy shares scalars, so none may change", file, no,
                                 setters[k]);
            }
        }
    }
    fclose(f);
    setter_files++;
    return 0;
}

/* jsonwrite_copy shares strings and numbers: that is only safe while nothing changes one in place.
 * The copy's containers are new, its scalars are the original's, and no source file of the
 * daemon or the tools calls a jansson setter of a scalar. */
START_TEST(copy_shares_scalars_only_while_none_is_changed)
{
    json_t *v = json_pack("{s:s, s:i, s:f, s:[s, {s:s}]}", "crn", "X/1", "n", 7, "r", 0.5, "list", "a", "k", "b");
    json_t *c = jsonwrite_copy(v);
    ck_assert_ptr_ne(c, v);
    ck_assert_ptr_ne(json_object_get(c, "list"), json_object_get(v, "list"));
    ck_assert_ptr_eq(json_object_get(c, "crn"), json_object_get(v, "crn"));
    ck_assert_ptr_eq(json_object_get(c, "n"), json_object_get(v, "n"));
    ck_assert_ptr_eq(json_object_get(c, "r"), json_object_get(v, "r"));
    ck_assert(json_equal(c, v));
    json_decref(v);
    ck_assert_str_eq(json_string_value(json_object_get(c, "crn")), "X/1"); /* still held by the copy */
    json_decref(c);

    const char *root = getenv("FCRD_SOURCE_ROOT");
    const char *dirs[] = {"daemon", "tools"};
    setter_files = 0;
    for (size_t d = 0; d < 2; d++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", root ? root : ".", dirs[d]);
        ck_assert_msg(nftw(path, scan_for_setters, 16, FTW_PHYS) == 0, "cannot read %s", path);
    }
    int files = setter_files;
    ck_assert_int_gt(files, 20);
}
END_TEST

/* The audit entry text is hashed: writing its fields in table order must equal jansson's sorted dump
 * of the same fields (missing ones as null). */
START_TEST(audit_text_is_the_sorted_dump)
{
    json_t *e = json_pack("{s:s, s:s, s:{s:s, s:[i]}, s:n, s:[s], s:s, s:s}", "action", "crime.recorded", "crn",
                          "F/2026/000001", "after", "z", "last", "a", 1, "before", "rules", "R1", "at",
                          "2026-01-01T00:00:00.000Z", "extra", "not part of the text");
    json_t *o = json_object();
    for (size_t i = 0; audit_fields[i]; i++) {
        json_t *v = json_object_get(e, audit_fields[i]);
        json_object_set_new(o, audit_fields[i], v ? json_incref(v) : json_null());
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    /* then the columns: at, incident_id, crn, pending_id, allegation, event_id, actor, role,
     * action, before, after, rules, ruleset, ruleset_sha256 (text as it is, empty for null;
     * before and after as the text's JSON, keys sorted; rules as an array literal) */
    char want[4096];
    const char *columns = "\t2026-01-01T00:00:00.000Z\t\tF/2026/000001\t\t\t\t\t\tcrime.recorded"
                          "\tnull\t{\"a\":[1],\"z\":\"last\"}\t{\"R1\"}\t\t";
    snprintf(want, sizeof(want), "%s%s\n%s%s\n", text, columns, text, columns);
    json_t *entries = json_pack("[O, O]", e, e); /* "at" present, "rules" already an array */
    char *got = audit_lines(entries, 0);
    json_decref(entries);
    ck_assert_str_eq(got, want);
    free(got);
    /* A text column with a control character, or empty, cannot go as a column: the line is the
     * canonical text alone and the database reads the columns from it. */
    const char *awkward[] = {"tab\there", "line\nbreak", ""};
    for (size_t i = 0; i < sizeof(awkward) / sizeof(awkward[0]); i++) {
        json_t *odd = json_deep_copy(e);
        json_object_set_new(odd, "actor", json_string(awkward[i]));
        json_object_set_new(o, "actor", json_string(awkward[i]));
        char *odd_text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        snprintf(want, sizeof(want), "%s\n", odd_text);
        json_t *one = json_pack("[o]", odd);
        got = audit_lines(one, 0);
        ck_assert_str_eq(got, want);
        free(got);
        free(odd_text);
        json_decref(one);
    }
    free(text);
    json_decref(o);
    /* Rules go as a PostgreSQL array literal, each quoted with " and \ escaped; a rule holding a
     * control character (a tab would end the field) sends the whole array as JSON instead. */
    const struct {
        const char *rules, *column;
    } forms[] = {
        {"[]", "\t{}\t"},
        {"[\"a\", \"b c\", \"q\\\"uote\", \"back\\\\slash\", \"{,}\", \"NULL\", \"\"]",
         "\t{\"a\",\"b c\",\"q\\\"uote\",\"back\\\\slash\",\"{,}\",\"NULL\",\"\"}\t"},
        {"[\"tab\\there\", \"R2\"]", "\t[\"tab\\there\",\"R2\"]\t"},
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        json_t *r = json_deep_copy(e);
        json_object_set_new(r, "rules", json_loads(forms[i].rules, 0, NULL));
        json_t *one = json_pack("[o]", r);
        got = audit_lines(one, 0);
        ck_assert_msg(strstr(got, forms[i].column) != NULL, "rules %s: want %s in %s", forms[i].rules,
                      forms[i].column, got);
        free(got);
        json_decref(one);
    }
    /* An entry without a time or rules gets the batch's time (with milliseconds) and []. */
    json_t *bare = json_pack("[{s:s}]", "action", "pending.opened");
    got = audit_lines(bare, 1500);
    ck_assert_ptr_nonnull(strstr(got, "\"at\":\"1970-01-01T00:00:01.500Z\""));
    ck_assert_ptr_nonnull(strstr(got, "\"rules\":[]"));
    free(got);
    json_decref(bare);
    json_decref(e);
}
END_TEST

/* audit_line with overrides writes what audit_lines writes for the entry with those members
 * replaced, and leaves the entry as it was. */
START_TEST(audit_line_overrides)
{
    json_t *e = json_pack("{s:s, s:s, s:s, s:{s:i}, s:[s]}", "action", "crime.recorded", "actor", "someone",
                          "incident_id", "OLD", "after", "n", 1, "rules", "R1");
    char *before = json_dumps(e, JSON_SORT_KEYS);
    const struct audit_override o = {"INC-9", "EV-9", "rules", "rules", "rs-1", "ab12"};
    struct jsonwrite_buf b = {0};
    audit_line(&b, e, &o, "2026-01-01T00:00:00.500Z");
    char *got = jsonwrite_take(&b, NULL);
    char *now = json_dumps(e, JSON_SORT_KEYS);
    ck_assert_str_eq(now, before);
    json_t *merged = json_deep_copy(e);
    json_object_set_new(merged, "incident_id", json_string("INC-9"));
    json_object_set_new(merged, "event_id", json_string("EV-9"));
    json_object_set_new(merged, "actor", json_string("rules"));
    json_object_set_new(merged, "role", json_string("rules"));
    json_object_set_new(merged, "ruleset", json_string("rs-1"));
    json_object_set_new(merged, "ruleset_sha256", json_string("ab12"));
    json_t *one = json_pack("[o]", merged);
    char *want = audit_lines(one, 1767225600500LL); /* 2026-01-01T00:00:00.500Z */
    ck_assert_str_eq(got, want);
    ck_assert_ptr_nonnull(strstr(got, "\"at\":\"2026-01-01T00:00:00.500Z\""));
    ck_assert_ptr_nonnull(strstr(got, "\tINC-9\t"));
    ck_assert_ptr_null(strstr(got, "OLD"));
    /* a NULL override leaves the entry's member */
    const struct audit_override keep = {NULL, NULL, NULL, NULL, NULL, NULL};
    audit_line(&b, e, &keep, "2026-01-01T00:00:00.500Z");
    char *kept = jsonwrite_take(&b, NULL);
    ck_assert_ptr_nonnull(strstr(kept, "\"actor\":\"someone\""));
    ck_assert_ptr_nonnull(strstr(kept, "\"incident_id\":\"OLD\""));
    free(kept);
    free(want);
    free(got);
    free(now);
    free(before);
    json_decref(one);
    json_decref(e);
}
END_TEST

/* Personal members leave the hashed text: {"pd": sha256(salt || canonical JSON)} in their place at
 * any depth, null ones kept; the plaintext goes in one more field, {"salt", "v": {digest: text}}. */
START_TEST(audit_line_personal_digests)
{
    json_t *e = json_pack("{s:s, s:{s:s, s:n, s:[{s:s, s:s}]}}", "action", "pending.closed", "after", "rationale",
                          "Spoke to Zed", "note", "persons", "name", "Zed Quill", "role", "witness");
    json_t *one = json_pack("[O]", e);
    char *got = audit_lines(one, 0);
    ck_assert_ptr_null(strstr(got, "Spoke to Zed\""));
    char *tab = strchr(got, '\t');
    ck_assert_ptr_nonnull(tab);
    char *hashed = strndup(got, (size_t)(tab - got));
    ck_assert_ptr_null(strstr(hashed, "Zed"));
    free(hashed);
    /* the side data: the last field */
    char *last = strrchr(got, '\t');
    size_t n = strlen(last + 1);
    ck_assert_int_eq(last[n], '\n');
    json_t *side = json_loadb(last + 1, n - 1, 0, NULL);
    ck_assert_ptr_nonnull(side);
    const char *salt = json_string_value(json_object_get(side, "salt"));
    ck_assert_uint_eq(strlen(salt), 32);
    json_t *vals = json_object_get(side, "v");
    ck_assert_uint_eq(json_object_size(vals), 2);
    json_t *text = json_loadb(got, (size_t)(tab - got), 0, NULL);
    json_t *after = json_object_get(text, "after");
    ck_assert(json_is_null(json_object_get(after, "note")));
    json_t *person = json_array_get(json_object_get(after, "persons"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(person, "role")), "witness");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(person, "name"), "pd"));
    const char *d = json_string_value(json_object_get(json_object_get(after, "rationale"), "pd"));
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(json_string_value(json_object_get(vals, d)), "\"Spoke to Zed\"");
    /* recomputed: sha256(salt || text) */
    char buf[128];
    snprintf(buf, sizeof(buf), "%s\"Spoke to Zed\"", salt);
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_sha256(), NULL);
    char hex[65];
    for (unsigned int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    ck_assert_str_eq(hex, d);
    /* a second line of the same entry has its own salt */
    char *again = audit_lines(one, 0);
    ck_assert_str_ne(again, got);
    free(again);
    json_decref(text);
    json_decref(side);
    json_decref(one);
    json_decref(e);
    free(got);
}
END_TEST

/* An incident's row for the write statement: tab-separated fields when every column can go as one,
 * else the row as one JSON object; either way one line. */
START_TEST(incident_row_forms)
{
    json_t *st = json_pack("{s:s, s:s, s:s, s:n, s:I, s:[]}", "incident_id", "INC-1", "category", "crime",
                           "opened_at", "2026-01-01T00:00:00Z", "closed_at", "last_seq", (json_int_t)7, "crimes");
    struct jsonwrite_buf b = {0};
    incident_row_line(&b, "INC-1", st);
    char *got = jsonwrite_take(&b, NULL);
    char *state = json_dumps(st, JSON_COMPACT);
    char want[1024];
    snprintf(want, sizeof(want), "INC-1\t7\tcrime\t2026-01-01T00:00:00Z\t\t%s\n", state);
    ck_assert_str_eq(got, want);
    free(got);
    free(state);
    /* a category with a tab, an empty one, a number: the JSON form, which keeps every value */
    json_t *odd[] = {json_string("cr\time"), json_string(""), json_integer(3)};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        json_object_set_new(st, "category", odd[i]);
        incident_row_line(&b, "INC-1", st);
        got = jsonwrite_take(&b, NULL);
        size_t n = strlen(got);
        ck_assert_int_gt(n, 1);
        ck_assert_int_eq(got[n - 1], '\n');
        ck_assert_ptr_null(memchr(got, '\t', n));
        got[n - 1] = '\0';
        json_t *row = json_loads(got, 0, NULL);
        ck_assert_ptr_nonnull(row);
        ck_assert_str_eq(json_string_value(json_object_get(row, "incident_id")), "INC-1");
        ck_assert_int_eq(json_integer_value(json_object_get(row, "last_seq")), 7);
        ck_assert(json_equal(json_object_get(row, "category"), odd[i]));
        ck_assert(json_is_null(json_object_get(row, "closed_at")));
        ck_assert(json_equal(json_object_get(row, "state"), st));
        json_decref(row);
        free(got);
    }
    json_decref(st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonwrite");
    TCase *tc = tcase_create("jsonwrite");
    tcase_add_test(tc, corpus_documents);
    tcase_add_test(tc, incident_row_forms);
    tcase_add_test(tc, audit_line_overrides);
    tcase_add_test(tc, audit_line_personal_digests);
    tcase_add_test(tc, awkward_strings);
    tcase_add_test(tc, escapes_at_every_offset);
    tcase_add_test(tc, numbers_and_singletons);
    tcase_add_test(tc, key_order);
    tcase_add_test(tc, random_values);
    tcase_add_test(tc, writer_calls);
    tcase_add_test(tc, copy_is_independent);
    tcase_add_test(tc, copy_shares_scalars_only_while_none_is_changed);
    tcase_add_test(tc, audit_text_is_the_sorted_dump);
    suite_add_tcase(s, tc);
    return check_run(s);
}
