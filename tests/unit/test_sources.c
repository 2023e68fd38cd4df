/* test_sources.c: the [sources] table: each identity form, the item splitting around RFC 2253
 * subjects' own commas, every error, and which source a peer is matched to. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "service/sources.h"
#include "check_run.h"

static struct sources *table(void)
{
    struct sources *s = sources_new();
    ck_assert_ptr_nonnull(s);
    return s;
}

static void add_ok(struct sources *s, const char *name, const char *value)
{
    char why[512] = "";
    ck_assert_msg(sources_add(s, name, value, why, sizeof why) == 0, "%s = %s: %s", name, value, why);
}

static void add_fails(struct sources *s, const char *name, const char *value, const char *want)
{
    char why[512] = "";
    ck_assert_msg(sources_add(s, name, value, why, sizeof why) == -1, "%s = %s was accepted", name, value);
    ck_assert_msg(strstr(why, want) != NULL, "'%s' lacks '%s'", why, want);
}

static const char *match_subject(const struct sources *s, const char *subject)
{
    struct sources_peer p = {.subject = subject};
    return sources_match(s, &p);
}

static const char *match_uid(const struct sources *s, uid_t uid)
{
    struct sources_peer p = {.has_uid = true, .uid = uid};
    return sources_match(s, &p);
}

START_TEST(subjects_keep_their_commas)
{
    struct sources *s = table();
    add_ok(s, "cc-north",
           "subject:CN=cc1.north.example,O=Example Police,C=GB, subject:CN=cc2.north.example,O=Example Police,C=GB,"
           "uid:998");
    add_ok(s, "cc-south", "subject:CN=room\\, south,O=Example Police , user:root");
    ck_assert_uint_eq(sources_count(s), 2);
    ck_assert_str_eq(match_subject(s, "CN=cc1.north.example,O=Example Police,C=GB"), "cc-north");
    ck_assert_str_eq(match_subject(s, "CN=cc2.north.example,O=Example Police,C=GB"), "cc-north");
    /* the whole subject, not its CN: another organisation's certificate with the same CN is not the room */
    ck_assert_ptr_null(match_subject(s, "CN=cc1.north.example,O=Elsewhere,C=GB"));
    ck_assert_ptr_null(match_subject(s, "CN=cc1.north.example"));
    ck_assert_str_eq(match_subject(s, "CN=room\\, south,O=Example Police"), "cc-south");
    ck_assert_str_eq(match_uid(s, 998), "cc-north");
    ck_assert_str_eq(match_uid(s, 0), "cc-south"); /* user:root */
    ck_assert_ptr_null(match_uid(s, 1234));
    sources_free(s);
}
END_TEST

START_TEST(loopback_and_precedence)
{
    struct sources *s = table();
    add_ok(s, "tools", "loopback");
    add_ok(s, "room-a", "subject:CN=room-a,O=Test");
    struct sources_peer plain = {.loopback = true};
    ck_assert_str_eq(sources_match(s, &plain), "tools");
    /* a listed certificate names its room even from loopback */
    struct sources_peer cert = {.subject = "CN=room-a,O=Test", .loopback = true};
    ck_assert_str_eq(sources_match(s, &cert), "room-a");
    /* an unlisted one from loopback falls back to loopback's source */
    struct sources_peer other = {.subject = "CN=room-z,O=Test", .loopback = true};
    ck_assert_str_eq(sources_match(s, &other), "tools");
    struct sources_peer remote = {.subject = "CN=room-z,O=Test"};
    ck_assert_ptr_null(sources_match(s, &remote));
    struct sources_peer nothing = {0};
    ck_assert_ptr_null(sources_match(s, &nothing));
    ck_assert_ptr_null(sources_match(NULL, &plain));
    sources_free(s);
}
END_TEST

START_TEST(errors_name_the_item)
{
    struct sources *s = table();
    add_ok(s, "room-a", "uid:1000, subject:CN=room-a");
    add_fails(s, "room a", "uid:1", "a source name is");
    add_fails(s, "default", "uid:1", "'default' is the source");
    add_fails(s, "room-a", "uid:2", "source given twice");
    add_fails(s, "room-b", "uid:1000", "'uid:1000' already belongs to source room-a");
    add_fails(s, "room-b", "subject:CN=room-a", "already belongs to source room-a");
    add_fails(s, "room-b", "uid:5, uid:5", "'uid:5' is listed twice");
    add_fails(s, "room-b", "uid:x", "'uid:x': expected a numeric user id");
    add_fails(s, "room-b", "uid:4294967295", "expected a numeric user id");
    add_fails(s, "room-b", "user:no-such-user-here", "'user:no-such-user-here': no such user");
    add_fails(s, "room-b", "subject:", "empty subject");
    add_fails(s, "room-b", "subject:room-b", "expected an RFC 2253 subject");
    add_fails(s, "room-b", "cn:room-b", "expected subject:SUBJECT, uid:N, user:NAME or loopback");
    /* a comma starts an item only when an identity word follows it: this one is the uid's */
    add_fails(s, "room-b", "uid:7,", "'uid:7,': expected a numeric user id");
    add_fails(s, "room-b", " , uid:7", "empty item");
    add_fails(s, "room-b", "loopback, loopback", "'loopback' is listed twice");
    /* nothing of a refused line was kept */
    ck_assert_uint_eq(sources_count(s), 1);
    ck_assert_ptr_null(match_uid(s, 7));
    char long_name[SOURCES_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    add_fails(s, long_name, "uid:9", "a source name is");
    long_name[SOURCES_NAME_MAX] = '\0';
    add_ok(s, long_name, "uid:9");
    sources_free(s);
}
END_TEST

START_TEST(equality)
{
    struct sources *a = table(), *b = table();
    ck_assert(sources_equal(NULL, NULL));
    ck_assert(!sources_equal(a, NULL));
    ck_assert(sources_equal(a, b));
    add_ok(a, "room-a", "uid:1, loopback");
    ck_assert(!sources_equal(a, b));
    add_ok(b, "room-a", "uid:1, loopback");
    ck_assert(sources_equal(a, b));
    add_ok(a, "room-b", "subject:CN=b");
    add_ok(b, "room-b", "subject:CN=c");
    ck_assert(!sources_equal(a, b));
    sources_free(a);
    sources_free(b);
    ck_assert(sources_valid_name("cc-north.1_a"));
    ck_assert(!sources_valid_name(""));
    ck_assert(!sources_valid_name("cc north"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sources");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, subjects_keep_their_commas);
    tcase_add_test(tc, loopback_and_precedence);
    tcase_add_test(tc, errors_name_the_item);
    tcase_add_test(tc, equality);
    suite_add_tcase(s, tc);
    return check_run(s);
}
