/* test_tokens.c: the tokens file loader, role names and token lookup. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/tokens.h"
#include "check_run.h"

static void tmp_write(char *path, size_t pathlen, const char *text, size_t len)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, pathlen, "%s/fcrd-tokens-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static int load(const char *text, struct tokens **t, char *err, size_t errlen, char *path,
                size_t pathlen)
{
    tmp_write(path, pathlen, text, strlen(text));
    int rc = tokens_load(path, t, err, errlen);
    unlink(path);
    return rc;
}

static struct tokens *load_ok(const char *text)
{
    char path[256], err[512] = "";
    struct tokens *t = NULL;
    ck_assert_msg(load(text, &t, err, sizeof err, path, sizeof path) == 0, "load failed: %s", err);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* expect_error: the message starts with the file name, contains want, and never the secret. */
static void expect_error(const char *text, const char *want, const char *secret)
{
    char path[256], err[512] = "";
    struct tokens *t = (struct tokens *)1;
    ck_assert_msg(load(text, &t, err, sizeof err, path, sizeof path) == -1,
                  "loaded, expected error containing '%s'", want);
    ck_assert_ptr_null(t);
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "message '%s' lacks the file name", err);
    ck_assert_msg(strstr(err, want) != NULL, "message '%s' lacks '%s'", err, want);
    if (secret)
        ck_assert_msg(strstr(err, secret) == NULL, "message '%s' shows the token", err);
}

static const char good[] =
    "# comment\n"
    "\n"
    "   # indented comment\n"
    "ops-token-aaaaaaaaaaaa   ops.bot   ops\n"
    "auditor-token-bbbbbbbbbbbb\taudit1\tauditor\r\n"
    "  supervisor-token-cccccccccc  sgt.khan  supervisor   # trailing comment\n"
    "ddm-token-dddddddddddddd insp.morgan@force ddm\n"
    "fcr-token-eeeeeeeeeeeeee fcr_1 fcr"; /* last line without a newline */

START_TEST(load_and_lookup)
{
    struct tokens *t = load_ok(good);
    ck_assert_uint_eq(tokens_count(t), 5);
    static const struct {
        const char *token, *user;
        enum role role;
    } want[] = {
        { "ops-token-aaaaaaaaaaaa", "ops.bot", ROLE_OPS },
        { "auditor-token-bbbbbbbbbbbb", "audit1", ROLE_AUDITOR },
        { "supervisor-token-cccccccccc", "sgt.khan", ROLE_SUPERVISOR },
        { "ddm-token-dddddddddddddd", "insp.morgan@force", ROLE_DDM },
        { "fcr-token-eeeeeeeeeeeeee", "fcr_1", ROLE_FCR },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *user = NULL;
        ck_assert_int_eq(tokens_lookup(t, want[i].token, &user), want[i].role);
        ck_assert_ptr_nonnull(user);
        ck_assert_str_eq(user, want[i].user);
        ck_assert_int_eq(tokens_lookup(t, want[i].token, NULL), want[i].role);
    }
    ck_assert_ptr_null(tokens_free(t));
}
END_TEST

START_TEST(lookup_misses)
{
    struct tokens *t = load_ok(good);
    static const char *const miss[] = {
        "",
        "ops-token-aaaaaaaaaaa",    /* one short: a prefix is not a match */
        "ops-token-aaaaaaaaaaaab",  /* one long */
        "ops-token-aaaaaaaaaaab",   /* last byte differs */
        "Ops-token-aaaaaaaaaaaa",   /* first byte differs; case matters */
        "fcr-token-eeeeeeeeeeeee\n",
        "ops.bot",
    };
    for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++) {
        const char *user = "stale";
        ck_assert_int_eq(tokens_lookup(t, miss[i], &user), ROLE_NONE);
        ck_assert_ptr_null(user);
    }
    /* Longer than any token can be. */
    char huge[1024];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    ck_assert_int_eq(tokens_lookup(t, huge, NULL), ROLE_NONE);
    const char *user = "stale";
    ck_assert_int_eq(tokens_lookup(t, NULL, &user), ROLE_NONE);
    ck_assert_ptr_null(user);
    user = "stale";
    ck_assert_int_eq(tokens_lookup(NULL, "ops-token-aaaaaaaaaaaa", &user), ROLE_NONE);
    ck_assert_ptr_null(user);
    tokens_free(t);
}
END_TEST

START_TEST(length_limits_and_many_tokens)
{
    /* 16 and 256 characters are the accepted extremes; the lookup scans past every entry. */
    char tok16[17], tok256[257];
    memset(tok16, 'x', 16);
    tok16[16] = '\0';
    memset(tok256, 'y', 256);
    tok256[256] = '\0';
    size_t cap = 64 * 80 + 600;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    size_t used = (size_t)snprintf(text, cap, "%s u16 ops\n%s u256 fcr\n", tok16, tok256);
    for (int i = 0; i < 64; i++)
        used += (size_t)snprintf(text + used, cap - used, "token-number-%04d-padding user%d %s\n", i,
                                 i, role_name((enum role)(1 + i % 5)));
    struct tokens *t = load_ok(text);
    free(text);
    ck_assert_uint_eq(tokens_count(t), 66);
    const char *user;
    ck_assert_int_eq(tokens_lookup(t, tok16, &user), ROLE_OPS);
    ck_assert_str_eq(user, "u16");
    ck_assert_int_eq(tokens_lookup(t, tok256, &user), ROLE_FCR);
    ck_assert_str_eq(user, "u256");
    for (int i = 0; i < 64; i++) {
        char tok[64], want[16];
        snprintf(tok, sizeof tok, "token-number-%04d-padding", i);
        snprintf(want, sizeof want, "user%d", i);
        ck_assert_int_eq(tokens_lookup(t, tok, &user), (enum role)(1 + i % 5));
        ck_assert_str_eq(user, want);
    }
    tok256[255] = 'z';
    ck_assert_int_eq(tokens_lookup(t, tok256, NULL), ROLE_NONE);
    tokens_free(t);
}
END_TEST

START_TEST(empty_file_is_no_tokens)
{
    struct tokens *t = load_ok("# nobody yet\n\n");
    ck_assert_uint_eq(tokens_count(t), 0);
    ck_assert_int_eq(tokens_lookup(t, "anything-at-all-here", NULL), ROLE_NONE);
    tokens_free(t);
    ck_assert_uint_eq(tokens_count(NULL), 0);
    ck_assert_ptr_null(tokens_free(NULL));
}
END_TEST

START_TEST(errors_name_file_and_line)
{
    expect_error("# c\nabcdefghijklmnop sgt boss\n",
                 ":2: unknown role 'boss' (expected ops, auditor, supervisor, ddm or fcr)", NULL);
    expect_error("abcdefghijklmnop sgt Supervisor\n", ":1: unknown role 'Supervisor'", NULL);
    expect_error("abcdefghijklmnop sgt none\n", ":1: unknown role 'none'", NULL);
    expect_error("\n\nabcdefghijklmnop sgt\n", ":3: expected TOKEN USER-ID ROLE, found 2 columns",
                 "abcdefghijklmnop");
    expect_error("abcdefghijklmnop\n", ":1: expected TOKEN USER-ID ROLE, found 1 column",
                 "abcdefghijklmnop");
    expect_error("abcdefghijklmnop # sgt ops\n", ":1: expected TOKEN USER-ID ROLE, found 1 column",
                 NULL);
    expect_error("abcdefghijklmnop sgt ops extra\n", ":1: extra column after TOKEN USER-ID ROLE",
                 "abcdefghijklmnop");
    expect_error("abcdefghijklmnop sgt ops\n# c\nqrstuvwxyz012345 pc ops\nabcdefghijklmnop insp ddm\n",
                 ":4: duplicate token (first on line 1)", "abcdefghijklmnop");
    expect_error("abcdefghijklmno sgt ops\n", ":1: token shorter than 16 characters",
                 "abcdefghijklmno");
    char long_line[400];
    memset(long_line, 'k', 257);
    snprintf(long_line + 257, sizeof long_line - 257, " sgt ops\n");
    expect_error(long_line, ":1: token longer than 256 characters", NULL);
    expect_error("abcdefgh\"jklmnop sgt ops\n", ":1: token may hold only", "abcdefgh\"jklmnop");
    expect_error("abcdefgh=ijklmnop sgt ops\n", ":1: token may hold only", "abcdefgh=ijklmnop");
    expect_error("abcdefghijklmnop s,gt ops\n", ":1: user id must be", NULL);
    expect_error("[[[[[[[[[[[[[[[[ sgt ops\n", ":1: token may hold only", NULL);

    char path[256], err[512];
    struct tokens *t = NULL;
    tmp_write(path, sizeof path, "abcdefghijklmnop sgt\0 ops\n", 26);
    ck_assert_int_eq(tokens_load(path, &t, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, ":1: line contains a NUL byte"));
    unlink(path);
    ck_assert_int_eq(tokens_load(path, &t, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));
    ck_assert_ptr_null(t);
}
END_TEST

START_TEST(bearer_token_characters)
{
    struct tokens *t = load_ok("AZaz09-._~+/abcdefgh== sgt ops\n");
    ck_assert_int_eq(tokens_lookup(t, "AZaz09-._~+/abcdefgh==", NULL), ROLE_OPS);
    tokens_free(t);
}
END_TEST

START_TEST(role_names)
{
    ck_assert(ROLE_NONE < ROLE_OPS && ROLE_OPS < ROLE_AUDITOR && ROLE_AUDITOR < ROLE_SUPERVISOR &&
              ROLE_SUPERVISOR < ROLE_DDM && ROLE_DDM < ROLE_FCR);
    static const char *const names[] = { "ops", "auditor", "supervisor", "ddm", "fcr" };
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(role_parse(names[i]), ROLE_OPS + i);
        ck_assert_str_eq(role_name((enum role)(ROLE_OPS + i)), names[i]);
    }
    ck_assert_str_eq(role_name(ROLE_NONE), "none");
    ck_assert_str_eq(role_name((enum role)99), "none");
    ck_assert_int_eq(role_parse("none"), -1);
    ck_assert_int_eq(role_parse("FCR"), -1);
    ck_assert_int_eq(role_parse(""), -1);
    ck_assert_int_eq(role_parse(NULL), -1);
}
END_TEST

START_TEST(example_file_has_every_role)
{
    const char *root = getenv("FCRD_SOURCE_ROOT");
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/conf/tokens.example", root && *root ? root : ".");
    /* Read through a private copy: a checkout makes the file readable by every user, and such a
     * tokens file is refused. */
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    char text[4096];
    size_t n = fread(text, 1, sizeof text, fp);
    fclose(fp);
    ck_assert_uint_lt(n, sizeof text);
    tmp_write(path, sizeof path, text, n);
    struct tokens *t = NULL;
    int rc = tokens_load(path, &t, err, sizeof err);
    unlink(path);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(tokens_count(t), 5);
    static const struct {
        const char *token;
        enum role role;
    } want[] = {
        { "example-ops-token-0001", ROLE_OPS },
        { "example-auditor-token-0002", ROLE_AUDITOR },
        { "example-supervisor-token-0003", ROLE_SUPERVISOR },
        { "example-ddm-token-0004", ROLE_DDM },
        { "example-fcr-token-0005", ROLE_FCR },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_int_eq(tokens_lookup(t, want[i].token, NULL), want[i].role);
    tokens_free(t);
}
END_TEST

#define ABC_HASH "sha256:f39dac6cbaba535e2c207cd0cd8f154974223c848f727f98b3564cea569b41cf"

START_TEST(hash_form)
{
    char out[TOKENS_HASH_TEXT_LEN + 1], err[256] = "";
    ck_assert_int_eq(tokens_hash("abcdefghijklmnop", out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, ABC_HASH);
    ck_assert_uint_eq(strlen(out), TOKENS_HASH_TEXT_LEN);
    /* What the file would refuse is refused here too, without quoting it. */
    ck_assert_int_eq(tokens_hash("abcdefghijklmno", out, sizeof out, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "token shorter than 16 characters"));
    ck_assert_ptr_null(strstr(err, "abcdefghijklmno"));
    ck_assert_int_eq(tokens_hash("abcdefgh jklmnop", out, sizeof out, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "token may hold only"));
    ck_assert_int_eq(tokens_hash(NULL, out, sizeof out, err, sizeof err), -1);
    ck_assert_int_eq(tokens_hash("abcdefghijklmnop", out, TOKENS_HASH_TEXT_LEN, err, sizeof err), -1);
}
END_TEST

START_TEST(hashed_tokens_match_as_plain_ones)
{
    struct tokens *t = load_ok(ABC_HASH " sgt.khan supervisor\n"
                                        "ops-token-aaaaaaaaaaaa ops.bot ops\n");
    ck_assert_uint_eq(tokens_count(t), 2);
    const char *user = NULL;
    ck_assert_int_eq(tokens_lookup(t, "abcdefghijklmnop", &user), ROLE_SUPERVISOR);
    ck_assert_str_eq(user, "sgt.khan");
    ck_assert_int_eq(tokens_lookup(t, "ops-token-aaaaaaaaaaaa", &user), ROLE_OPS);
    ck_assert_str_eq(user, "ops.bot");
    /* The hash itself is not a token that lets anyone in. */
    ck_assert_int_eq(tokens_lookup(t, ABC_HASH, NULL), ROLE_NONE);
    ck_assert_int_eq(tokens_lookup(t, ABC_HASH + 7, NULL), ROLE_NONE);
    ck_assert_int_eq(tokens_lookup(t, "abcdefghijklmnoq", NULL), ROLE_NONE);
    tokens_free(t);

    /* A token and its hash are the same token. */
    expect_error("abcdefghijklmnop sgt ops\n" ABC_HASH " insp ddm\n", ":2: duplicate token (first on line 1)",
                 "abcdefghijklmnop");
    expect_error("sha256:F39DAC6CBABA535E2C207CD0CD8F154974223C848F727F98B3564CEA569B41CF sgt ops\n",
                 ":1: a hashed token is sha256: and 64 lowercase hex digits", NULL);
    expect_error("sha256:f39dac6cbaba535e2c207cd0cd8f154974223c848f727f98b3564cea569b41 sgt ops\n",
                 ":1: a hashed token is sha256:", NULL);
    expect_error("sha256:f39dac6cbaba535e2c207cd0cd8f154974223c848f727f98b3564cea569b41cf0 sgt ops\n",
                 ":1: a hashed token is sha256:", NULL);
    expect_error("sha256: sgt ops\n", ":1: a hashed token is sha256:", NULL);
}
END_TEST

START_TEST(file_open_to_every_user_is_refused)
{
    static const struct {
        mode_t mode;
        const char *want; /* NULL: loads */
    } cases[] = {
        { 0600, NULL }, { 0400, NULL }, { 0640, NULL }, { 0660, NULL },
        { 0644, "mode 0644 lets every user read it" }, { 0604, "mode 0604 lets every user read it" },
        { 0602, "mode 0602 lets every user write it" }, { 0666, "mode 0666 lets every user read it" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256], err[512] = "";
        tmp_write(path, sizeof path, good, strlen(good));
        ck_assert_int_eq(chmod(path, cases[i].mode), 0);
        struct tokens *t = NULL;
        int rc = tokens_load(path, &t, err, sizeof err);
        unlink(path);
        if (!cases[i].want) {
            ck_assert_msg(rc == 0, "mode %o: %s", (unsigned)cases[i].mode, err);
            ck_assert_uint_eq(tokens_count(t), 5);
            tokens_free(t);
            continue;
        }
        ck_assert_int_eq(rc, -1);
        ck_assert_ptr_null(t);
        ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "message '%s' lacks the file name", err);
        ck_assert_msg(strstr(err, cases[i].want) != NULL, "message '%s' lacks '%s'", err, cases[i].want);
        ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tokens");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, load_and_lookup);
    tcase_add_test(tc, lookup_misses);
    tcase_add_test(tc, length_limits_and_many_tokens);
    tcase_add_test(tc, empty_file_is_no_tokens);
    tcase_add_test(tc, errors_name_file_and_line);
    tcase_add_test(tc, bearer_token_characters);
    tcase_add_test(tc, role_names);
    tcase_add_test(tc, example_file_has_every_role);
    tcase_add_test(tc, hash_form);
    tcase_add_test(tc, hashed_tokens_match_as_plain_ones);
    tcase_add_test(tc, file_open_to_every_user_is_refused);
    suite_add_tcase(s, tc);
    return check_run(s);
}
