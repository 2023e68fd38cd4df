/* test_reload.c: what a reload keeps: restart-only settings stay as they run, reloadable ones
 * take the file's value, and the diff names exactly the changed keys. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/config.h"
#include "check_run.h"
#include "config_keys.h"

static struct config *load_text(const char *text)
{
    const char *dir = getenv("TMPDIR");
    char path[256];
    snprintf(path, sizeof(path), "%s/fcrd-test-reload-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct config *cfg = NULL;
    char err[512];
    int rc = config_load(path, &cfg, err, sizeof(err));
    unlink(path);
    ck_assert_msg(rc == 0, "%s", err);
    return cfg;
}

static const char base[] =
    "[database]\nconninfo = host=/x dbname=fcrd user=fcrd\n"
    "[feed]\nlisten = tcp:127.0.0.1:7878\n"
    "[api]\nlisten = 127.0.0.1:7879\ntokens = conf/tokens.example\n"
    "[rules]\nfile = conf/rules/hocr-2025.json\n";

START_TEST(restart_keys_keep_running_values)
{
    struct config *running = load_text(base);
    char text[2048];
    snprintf(text, sizeof(text),
             "[database]\nconninfo = host=/y dbname=fcrd user=fcrd\n"
             "[feed]\nlisten = tcp:127.0.0.1:9999, unix:/run/x.sock\nmax_line = 2048\ntls = mutual\n"
             "[api]\nlisten = 127.0.0.1:7879\ntokens = conf/tokens.example\nmax_body = 4096\n"
             "[rules]\nfile = conf/rules/hocr-2025.json\n"
             "[recording]\nforce = WM\n"
             "[service]\ndrain_timeout_ms = 2500\n"
             "[log]\nformat = json\n");
    struct config *next = load_text(text);
    size_t changed = 0;
    for (size_t i = 0; i < config_keys_count(); i++)
        changed += !config_key_equal(running, next, i);
    ck_assert_uint_eq(changed, 8);

    /* conninfo, feed.listen, feed.tls, recording.force */
    ck_assert_int_eq(config_keep_running(next, running), 4);
    /* What restarts need is as it runs; the rest is the file's. */
    for (size_t i = 0; i < config_keys_count(); i++) {
        bool reloadable;
        const char *name;
        config_key_render(NULL, i, &name, &reloadable, NULL, 0);
        if (!reloadable)
            ck_assert_msg(config_key_equal(running, next, i), "%s not kept", name);
    }
    ck_assert_str_eq(next->db_conninfo, "host=/x dbname=fcrd user=fcrd");
    ck_assert_uint_eq(next->n_feed_listen, 1);
    ck_assert_int_eq(next->feed_listen[0].port, 7878);
    ck_assert_str_eq(next->feed_tls, "off");
    ck_assert_str_eq(next->force_code, "XX");
    ck_assert_uint_eq(next->feed_max_line, 2048);
    ck_assert_uint_eq(next->api_max_body, 4096);
    ck_assert_int_eq(next->drain_timeout_ms, 2500);
    ck_assert_str_eq(next->log_format, "json");
    ck_assert(!config_key_equal(running, next, key_index("log.format")));
    /* Nothing left to keep: a second pass changes nothing. */
    ck_assert_int_eq(config_keep_running(next, running), 0);
    config_free(running);
    config_free(next);
}
END_TEST

START_TEST(api_listen_kept_and_rendered)
{
    struct config *running = load_text(base);
    char text[1024];
    snprintf(text, sizeof(text), "%s", base);
    char *at = strstr(text, "127.0.0.1:7879");
    memcpy(at, "127.0.0.1:7000", 14);
    struct config *next = load_text(text);
    char buf[64];
    config_key_render(next, key_index("api.listen"), NULL, NULL, buf, sizeof(buf));
    ck_assert_str_eq(buf, "127.0.0.1:7000");
    ck_assert_int_eq(config_keep_running(next, running), 1);
    config_key_render(next, key_index("api.listen"), NULL, NULL, buf, sizeof(buf));
    ck_assert_str_eq(buf, "127.0.0.1:7879");
    config_free(running);
    config_free(next);
}
END_TEST

START_TEST(new_keys_and_their_checks)
{
    struct config *cfg = load_text(base);
    ck_assert_str_eq(cfg->feed_tls, "off");
    ck_assert_str_eq(cfg->api_tls, "off");
    ck_assert_str_eq(cfg->log_format, "plain");
    ck_assert_str_eq(cfg->tls_client_subjects, "*");
    ck_assert_int_eq(cfg->drain_timeout_ms, 10000);
    ck_assert_int_eq(cfg->api_metrics_refresh_ms, 15000);
    config_free(cfg);

    static const struct {
        const char *extra, *want;
    } bad[] = {
        {"[feed]\ntls = yes\n", "[feed] tls: 'yes': must be off, on or mutual"},
        {"[api]\ntls = both\n", "[api] tls: 'both': must be off, on or mutual"},
        {"[log]\nformat = xml\n", "[log] format: 'xml': must be plain or json"},
        {"[service]\ndrain_timeout_ms = 50\n", "[service] drain_timeout_ms: must be between 100 and 3600000"},
        {"[api]\nmetrics_refresh_ms = 10\n", "[api] metrics_refresh_ms: must be between 1000 and 3600000"},
        {"[tls]\nbogus = 1\n", "[tls] bogus: unknown key"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[2048];
        snprintf(text, sizeof(text), "%s%s", base, bad[i].extra);
        const char *dir = getenv("TMPDIR");
        char path[256];
        snprintf(path, sizeof(path), "%s/fcrd-test-reload-XXXXXX", dir && *dir ? dir : "/tmp");
        int fd = mkstemp(path);
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        char err[512] = "";
        struct config *c = NULL;
        ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), -1);
        unlink(path);
        ck_assert_msg(strstr(err, bad[i].want) != NULL, "'%s' lacks '%s'", err, bad[i].want);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reload");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, restart_keys_keep_running_values);
    tcase_add_test(tc, api_listen_kept_and_rendered);
    tcase_add_test(tc, new_keys_and_their_checks);
    suite_add_tcase(s, tc);
    return check_run(s);
}
