/* test_log.c: log lines in both formats: fields and their names, escaping, cutting, journald
 * priorities and the detection of the journal on stderr. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "check_run.h"

static const struct timeval when = {1767323045, 678901}; /* 2026-01-02T03:04:05.678Z */

/* json_line: parse a JSON line and check it has exactly the stable members. */
static json_t *json_line(const char *line)
{
    json_error_t e;
    json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &e);
    ck_assert_msg(o != NULL, "not JSON (%s): %s", e.text, line);
    ck_assert(json_is_object(o));
    ck_assert_uint_eq(json_object_size(o), 4);
    ck_assert(json_is_string(json_object_get(o, "time")));
    ck_assert(json_is_string(json_object_get(o, "level")));
    ck_assert(json_is_integer(json_object_get(o, "priority")));
    ck_assert(json_is_string(json_object_get(o, "message")));
    return o;
}

START_TEST(plain_lines)
{
    log_set_format(LOG_FORMAT_PLAIN);
    log_set_journal(false);
    char buf[256];
    size_t n = log_render(buf, sizeof(buf), LOG_LVL_WARN, &when, "feed: connection 3 closed");
    ck_assert_str_eq(buf, "2026-01-02T03:04:05.678Z warn feed: connection 3 closed");
    ck_assert_uint_eq(n, strlen(buf));
    log_set_journal(true); /* journald keeps its own time */
    log_render(buf, sizeof(buf), LOG_LVL_ERROR, &when, "schema: failed");
    ck_assert_str_eq(buf, "<3>error schema: failed");
    log_render(buf, sizeof(buf), LOG_LVL_DEBUG, &when, "x");
    ck_assert_str_eq(buf, "<7>debug x");
    /* Cut, but terminated. */
    n = log_render(buf, 12, LOG_LVL_INFO, &when, "a long message");
    ck_assert_uint_eq(n, 11);
    ck_assert_str_eq(buf, "<6>info a l");
    ck_assert_uint_eq(log_render(buf, 0, LOG_LVL_INFO, &when, "x"), 0);
}
END_TEST

START_TEST(json_lines)
{
    log_set_format(LOG_FORMAT_JSON);
    log_set_journal(false);
    char buf[512];
    log_render(buf, sizeof(buf), LOG_LVL_INFO, &when, "reload: log.level: info -> debug");
    ck_assert_str_eq(buf, "{\"time\":\"2026-01-02T03:04:05.678Z\",\"level\":\"info\",\"priority\":6,"
                          "\"message\":\"reload: log.level: info -> debug\"}");
    json_t *o = json_line(buf);
    json_decref(o);

    /* Quotes, backslashes, control characters and bytes that are not UTF-8 survive as JSON. */
    log_render(buf, sizeof(buf), LOG_LVL_WARN, &when, "say \"hi\" \\ tab\there \x01 caf\xc3\xa9 bad\xff\xfe end");
    o = json_line(buf);
    ck_assert_str_eq(json_string_value(json_object_get(o, "message")),
                     "say \"hi\" \\ tab\there \x01 caf\xc3\xa9 bad\xef\xbf\xbd\xef\xbf\xbd end");
    ck_assert_str_eq(json_string_value(json_object_get(o, "level")), "warn");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "priority")), 4);
    json_decref(o);

    /* An overlong sequence and a lone surrogate are not UTF-8 either. */
    log_render(buf, sizeof(buf), LOG_LVL_ERROR, &when, "\xc0\xaf \xed\xa0\x80");
    o = json_line(buf);
    ck_assert_str_eq(json_string_value(json_object_get(o, "message")),
                     "\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    json_decref(o);

    /* A message too long for the line is cut and the object still closes. */
    char big[2000];
    memset(big, '"', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    size_t n = log_render(buf, 300, LOG_LVL_INFO, &when, big);
    ck_assert_uint_le(n, 299);
    o = json_line(buf);
    ck_assert_uint_gt(strlen(json_string_value(json_object_get(o, "message"))), 50);
    json_decref(o);

    /* Under journald the priority prefix comes first and the rest is the same object. */
    log_set_journal(true);
    log_render(buf, sizeof(buf), LOG_LVL_ERROR, &when, "m");
    ck_assert_str_eq(buf, "<3>{\"time\":\"2026-01-02T03:04:05.678Z\",\"level\":\"error\",\"priority\":3,"
                          "\"message\":\"m\"}");
}
END_TEST

START_TEST(names_and_priorities)
{
    ck_assert_int_eq(log_level_parse("debug"), LOG_LVL_DEBUG);
    ck_assert_int_eq(log_level_parse("error"), LOG_LVL_ERROR);
    ck_assert_int_eq(log_level_parse("loud"), -1);
    ck_assert_int_eq(log_format_parse("plain"), LOG_FORMAT_PLAIN);
    ck_assert_int_eq(log_format_parse("json"), LOG_FORMAT_JSON);
    ck_assert_int_eq(log_format_parse("xml"), -1);
    ck_assert_str_eq(log_level_name(LOG_LVL_WARN), "warn");
    ck_assert_int_eq(log_priority(LOG_LVL_DEBUG), 7);
    ck_assert_int_eq(log_priority(LOG_LVL_INFO), 6);
    ck_assert_int_eq(log_priority(LOG_LVL_WARN), 4);
    ck_assert_int_eq(log_priority(LOG_LVL_ERROR), 3);
}
END_TEST

START_TEST(journal_detection)
{
    struct stat st;
    ck_assert_int_eq(fstat(2, &st), 0);
    char v[64];
    unsetenv("JOURNAL_STREAM");
    ck_assert(!log_stderr_is_journal());
    snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", v, 1);
    ck_assert(log_stderr_is_journal());
    /* Inherited from a parent whose stderr was the journal, but ours is elsewhere. */
    snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino + 1);
    setenv("JOURNAL_STREAM", v, 1);
    ck_assert(!log_stderr_is_journal());
    setenv("JOURNAL_STREAM", "garbage", 1);
    ck_assert(!log_stderr_is_journal());
}
END_TEST

/* log_msg writes whole lines to stderr, with the level filter and newlines folded. */
START_TEST(messages_reach_stderr)
{
    const char *dir = getenv("TMPDIR");
    char path[256];
    snprintf(path, sizeof(path), "%s/fcrd-test-log-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    ck_assert_int_eq(dup2(fd, 2), 2);
    log_set_journal(false);
    log_set_format(LOG_FORMAT_JSON);
    log_set_level(LOG_LVL_INFO);
    log_debug("hidden");
    log_info("two\nlines %d", 42);
    log_set_format(LOG_FORMAT_PLAIN);
    log_error("plain one\n");
    fflush(stderr);
    char text[1024] = "";
    FILE *fp = fopen(path, "r");
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    text[n] = '\0';
    fclose(fp);
    unlink(path);
    char *nl = strchr(text, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = '\0';
    json_t *o = json_line(text);
    ck_assert_str_eq(json_string_value(json_object_get(o, "message")), "two lines 42");
    json_decref(o);
    ck_assert_ptr_nonnull(strstr(nl + 1, " error plain one\n"));
    ck_assert_ptr_null(strstr(nl + 1, "hidden"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, plain_lines);
    tcase_add_test(tc, json_lines);
    tcase_add_test(tc, names_and_priorities);
    tcase_add_test(tc, journal_detection);
    tcase_add_test(tc, messages_reach_stderr);
    suite_add_tcase(s, tc);
    return check_run(s);
}
