/* test_config.c: the configuration loader: values, defaults, every error kind, the key table. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/config.h"
#include "service/sources.h"
#include "check_run.h"
#include "config_keys.h"

/* Each test runs in its own process (check forks), so one temporary file per test is enough. */
struct tmpconf {
    char path[256];
};

static void tmp_write(struct tmpconf *t, const char *text, size_t len)
{
    const char *dir = getenv("TMPDIR");
    snprintf(t->path, sizeof t->path, "%s/fcrd-test-XXXXXX.conf", dir && *dir ? dir : "/tmp");
    int fd = mkstemps(t->path, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* load: write text to a file and load it; on failure err holds the message. */
static int load(const char *text, struct config **cfg, char *err, size_t errlen, struct tmpconf *t)
{
    tmp_write(t, text, strlen(text));
    int rc = config_load(t->path, cfg, err, errlen);
    unlink(t->path);
    return rc;
}

static const char minimal[] =
    "[database]\n"
    "conninfo = host=/x port=5 dbname=fcrd user=fcrd\n"
    "[feed]\n"
    "listen = tcp:127.0.0.1:7878\n"
    "[api]\n"
    "listen = 127.0.0.1:7879\n"
    "tokens = conf/tokens.example\n"
    "[rules]\n"
    "file = conf/rules/hocr-2025.json\n";

/* expect_error: loading text fails with a message that starts with the file name and contains
 * want (which gives line, section and key). */
static void expect_error(const char *text, const char *want)
{
    struct tmpconf t;
    struct config *cfg = (struct config *)1;
    char err[512] = "";
    int rc = load(text, &cfg, err, sizeof err, &t);
    ck_assert_msg(rc == -1, "loaded, expected error containing '%s'", want);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strncmp(err, t.path, strlen(t.path)) == 0, "message '%s' lacks the file name", err);
    ck_assert_msg(strstr(err, want) != NULL, "message '%s' lacks '%s'", err, want);
}

/* with: the minimal file plus extra lines appended (sections may repeat). */
static char *with(const char *extra)
{
    size_t n = strlen(minimal) + strlen(extra) + 1;
    char *s = malloc(n);
    ck_assert_ptr_nonnull(s);
    snprintf(s, n, "%s%s", minimal, extra);
    return s;
}

static void expect_error_with(const char *extra, const char *want)
{
    char *s = with(extra);
    expect_error(s, want);
    free(s);
}

static struct config *load_ok(const char *text)
{
    struct tmpconf t;
    struct config *cfg = NULL;
    char err[512] = "";
    int rc = load(text, &cfg, err, sizeof err, &t);
    ck_assert_msg(rc == 0, "load failed: %s", err);
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

START_TEST(defaults_applied)
{
    struct config *cfg = load_ok(minimal);
    ck_assert_str_eq(cfg->db_conninfo, "host=/x port=5 dbname=fcrd user=fcrd");
    ck_assert_ptr_null(cfg->db_admin_conninfo); /* fcrd migrate's; the serving file needs none */
    ck_assert_str_eq(cfg->sql_dir, "sql");
    ck_assert_int_eq(cfg->db_connect_timeout_ms, 5000);
    ck_assert_int_eq(cfg->db_reconnect_max_ms, 5000);
    ck_assert_str_eq(cfg->db_require_sync_standby, "no");
    ck_assert_int_eq(cfg->db_sync_standby_check_ms, 5000);
    ck_assert_ptr_null(cfg->api_read_conninfo);
    ck_assert_int_eq(cfg->api_read_max_lag_ms, 1000);
    ck_assert_uint_eq(cfg->n_feed_listen, 1);
    ck_assert_uint_eq(cfg->feed_max_line, 65536);
    ck_assert_uint_eq(cfg->feed_max_inflight, 1024);
    ck_assert_uint_eq(cfg->feed_max_connections, 256);
    ck_assert_int_eq(cfg->api_listen.kind, LISTEN_TCP);
    ck_assert_str_eq(cfg->api_listen.host, "127.0.0.1");
    ck_assert_int_eq(cfg->api_listen.port, 7879);
    ck_assert_str_eq(cfg->api_tokens, "conf/tokens.example");
    ck_assert_uint_eq(cfg->api_max_body, 65536);
    ck_assert_str_eq(cfg->rules_file, "conf/rules/hocr-2025.json");
    ck_assert_str_eq(cfg->force_code, "XX");
    ck_assert_uint_eq(cfg->batch_max, 256);
    ck_assert_uint_eq(cfg->store_lanes, 4);
    ck_assert_str_eq(cfg->log_level, "info");
    ck_assert_ptr_null(config_free(cfg));
}
END_TEST

START_TEST(every_key_good_value)
{
    struct config *cfg = load_ok(
        "[database]\n"
        "conninfo = host=/run/pg port=5433 dbname=fcrd user=fcrd_app\n"
        "admin_conninfo = postgresql://owner@db.example:5433/fcrd?sslmode=require\n"
        "migrations = /usr/share/fcrd/sql\n"
        "connect_timeout_ms = 250\n"
        "reconnect_max_ms = 100\n"
        "require_sync_standby = yes\n"
        "sync_standby_check_ms = 200\n"
        "[feed]\n"
        "listen = tcp:[::1]:7000, unix:/run/fcrd/feed.sock,tcp:0.0.0.0:0 ,  tcp:localhost:65535\n"
        "max_line = 1024\n"
        "max_inflight = 7\n"
        "max_connections = 65536\n"
        "[api]\n"
        "listen = tcp:[::]:8080\n"
        "tokens = /etc/fcrd/tokens\n"
        "max_body = 16777216\n"
        "[rules]\n"
        "file = /etc/fcrd/rules.json\n"
        "[recording]\n"
        "force = WM20\n"
        "[store]\n"
        "batch_max = 10000\n"
        "lanes = 16\n"
        "[log]\n"
        "level = debug\n");
    ck_assert_str_eq(cfg->db_conninfo, "host=/run/pg port=5433 dbname=fcrd user=fcrd_app");
    ck_assert_str_eq(cfg->db_admin_conninfo, "postgresql://owner@db.example:5433/fcrd?sslmode=require");
    ck_assert_str_eq(cfg->sql_dir, "/usr/share/fcrd/sql");
    ck_assert_int_eq(cfg->db_connect_timeout_ms, 250);
    ck_assert_int_eq(cfg->db_reconnect_max_ms, 100);
    ck_assert_str_eq(cfg->db_require_sync_standby, "yes");
    ck_assert_int_eq(cfg->db_sync_standby_check_ms, 200);
    ck_assert_uint_eq(cfg->n_feed_listen, 4);
    ck_assert_int_eq(cfg->feed_listen[0].kind, LISTEN_TCP);
    ck_assert_str_eq(cfg->feed_listen[0].host, "::1");
    ck_assert_int_eq(cfg->feed_listen[0].port, 7000);
    ck_assert_int_eq(cfg->feed_listen[1].kind, LISTEN_UNIX);
    ck_assert_str_eq(cfg->feed_listen[1].path, "/run/fcrd/feed.sock");
    ck_assert_ptr_null(cfg->feed_listen[1].host);
    ck_assert_str_eq(cfg->feed_listen[2].host, "0.0.0.0");
    ck_assert_int_eq(cfg->feed_listen[2].port, 0);
    ck_assert_str_eq(cfg->feed_listen[3].host, "localhost");
    ck_assert_int_eq(cfg->feed_listen[3].port, 65535);
    ck_assert_uint_eq(cfg->feed_max_line, 1024);
    ck_assert_uint_eq(cfg->feed_max_inflight, 7);
    ck_assert_uint_eq(cfg->feed_max_connections, 65536);
    ck_assert_str_eq(cfg->api_listen.host, "::");
    ck_assert_int_eq(cfg->api_listen.port, 8080);
    ck_assert_str_eq(cfg->api_tokens, "/etc/fcrd/tokens");
    ck_assert_uint_eq(cfg->api_max_body, 16777216);
    ck_assert_str_eq(cfg->rules_file, "/etc/fcrd/rules.json");
    ck_assert_str_eq(cfg->force_code, "WM20");
    ck_assert_uint_eq(cfg->batch_max, 10000);
    ck_assert_uint_eq(cfg->store_lanes, 16);
    ck_assert_str_eq(cfg->log_level, "debug");
    config_free(cfg);
}
END_TEST

START_TEST(log_levels_and_units)
{
    static const char *const levels[] = { "debug", "info", "warn", "error" };
    for (size_t i = 0; i < 4; i++) {
        char extra[64];
        snprintf(extra, sizeof extra, "[log]\nlevel = %s\n", levels[i]);
        char *s = with(extra);
        struct config *cfg = load_ok(s);
        ck_assert_str_eq(cfg->log_level, levels[i]);
        config_free(cfg);
        free(s);
    }
    char *s = with("[feed]\nmax_line = 64 KiB\n[api]\nmax_body=16MiB\n");
    struct config *cfg = load_ok(s);
    ck_assert_uint_eq(cfg->feed_max_line, 65536);
    ck_assert_uint_eq(cfg->api_max_body, 16777216);
    config_free(cfg);
    free(s);
}
END_TEST

START_TEST(conninfo_with_equals_and_spaces)
{
    struct config *cfg = load_ok(
        "[database]\n"
        "conninfo   =   host=127.0.0.1 port=54329 dbname=fcrd user=fcrd application_name='fcrd daemon'  \n"
        "admin_conninfo=host=127.0.0.1 port=54329 dbname=fcrd user=fcrd_owner options='-c a=b'\n"
        "[feed]\nlisten = unix:var/run/fcrd-feed.sock\n"
        "[api]\nlisten = localhost:1\ntokens = t\n"
        "[rules]\nfile = r\n");
    ck_assert_str_eq(cfg->db_conninfo,
                     "host=127.0.0.1 port=54329 dbname=fcrd user=fcrd application_name='fcrd daemon'");
    ck_assert_str_eq(cfg->db_admin_conninfo,
                     "host=127.0.0.1 port=54329 dbname=fcrd user=fcrd_owner options='-c a=b'");
    config_free(cfg);
}
END_TEST

/* A pg_auto_failover (or any multi-host) set-up: libpq's own parser takes the host list, the
 * port list and target_session_attrs; the value is kept as written. */
START_TEST(conninfo_multi_host)
{
    struct config *cfg = load_ok(
        "[database]\n"
        "conninfo = host=db1.example,db2.example port=5432,5433 dbname=fcrd user=fcrd target_session_attrs=read-write\n"
        "admin_conninfo = postgresql://fcrd_owner@db1.example:5432,db2.example:5433/fcrd?target_session_attrs=read-write\n"
        "[feed]\nlisten = unix:var/run/fcrd-feed.sock\n"
        "[api]\nlisten = localhost:1\ntokens = t\n"
        "read_conninfo = host=db2.example dbname=fcrd user=fcrd target_session_attrs=prefer-standby\n"
        "read_max_lag_ms = 250\n"
        "[rules]\nfile = r\n");
    ck_assert_str_eq(cfg->db_conninfo,
                     "host=db1.example,db2.example port=5432,5433 dbname=fcrd user=fcrd target_session_attrs=read-write");
    ck_assert_str_eq(cfg->api_read_conninfo, "host=db2.example dbname=fcrd user=fcrd target_session_attrs=prefer-standby");
    ck_assert_int_eq(cfg->api_read_max_lag_ms, 250);
    config_free(cfg);
}
END_TEST

START_TEST(comments_blank_lines_crlf)
{
    struct config *cfg = load_ok(
        "\xEF\xBB\xBF# leading comment after a byte order mark\r\n"
        "\r\n"
        "   ; semicolon comment, indented\r\n"
        "[database]\r\n"
        "\t# tab-indented comment\r\n"
        "conninfo = dbname=fcrd\r\n"
        "\r\n"
        "  [ feed ]  \r\n"
        "listen = tcp:127.0.0.1:7878\r\n"
        "max_line = 2048   \r\n"
        "[api]\r\n"
        "listen = 127.0.0.1:7879\r\n"
        "tokens = tok # not a comment: values run to the end of the line\r\n"
        "[rules]\r\n"
        "file = r.json\r\n"
        "[log]\n"
        "level = warn"); /* no newline at the end */
    ck_assert_str_eq(cfg->db_conninfo, "dbname=fcrd");
    ck_assert_uint_eq(cfg->feed_max_line, 2048);
    ck_assert_str_eq(cfg->api_tokens, "tok # not a comment: values run to the end of the line");
    ck_assert_str_eq(cfg->rules_file, "r.json");
    ck_assert_str_eq(cfg->log_level, "warn");
    config_free(cfg);
}
END_TEST

START_TEST(error_unknown_section)
{
    expect_error_with("[bogus]\n", ":10: [bogus]: unknown section");
    expect_error("# c\n[Database]\n", ":2: [Database]: unknown section");
}
END_TEST

START_TEST(error_unknown_key)
{
    expect_error_with("[feed]\nmaxline = 5\n", ":11: [feed] maxline: unknown key");
    /* A key is looked up in its own section only. */
    expect_error_with("[log]\nmax_line = 5000\n", ":11: [log] max_line: unknown key");
}
END_TEST

START_TEST(error_duplicate_key)
{
    expect_error_with("[feed]\n\nlisten = tcp:127.0.0.1:1\n",
                      ":12: [feed] listen: duplicate key (first set on line 4)");
    expect_error_with("[store]\nbatch_max = 1\nbatch_max = 1\n",
                      ":12: [store] batch_max: duplicate key (first set on line 11)");
}
END_TEST

START_TEST(error_bad_value)
{
    static const struct {
        const char *extra, *want;
    } cases[] = {
        { "[feed]\nmax_line = abc\n", ":11: [feed] max_line: must be a number of bytes" },
        { "[feed]\nmax_line = 4 KB\n", ":11: [feed] max_line: must be a number of bytes" },
        { "[feed]\nmax_line = -5\n", ":11: [feed] max_line: must be a number of bytes" },
        { "[feed]\nmax_inflight = 12x\n", ":11: [feed] max_inflight: must be a whole number" },
        { "[feed]\nmax_inflight = 1 KiB\n", ":11: [feed] max_inflight: must be a whole number" },
        { "[feed]\nmax_connections = 99999999999999999999999\n",
          ":11: [feed] max_connections: must be a whole number" },
        { "[database]\nconnect_timeout_ms = 1.5\n", ":11: [database] connect_timeout_ms: must be a whole number" },
        { "[database]\nadmin_conninfo = host\n", ":11: [database] admin_conninfo: not a valid connection string" },
        { "[database]\nadmin_conninfo = nosuchoption=1\n", ":11: [database] admin_conninfo: not a valid connection string" },
        { "[database]\nmigrations =\n", ":11: [database] migrations: value is empty" },
        { "[database]\nmigrations = a\x01z\n", ":11: [database] migrations: value contains a control character" },
        { "[log]\nlevel = loud\n", ":11: [log] level: 'loud': must be debug, info, warn or error" },
        { "[log]\nlevel = INFO\n", ":11: [log] level:" },
        { "[recording]\nforce = xx\n", ":11: [recording] force: 'xx': must be 1 to 8 characters" },
        { "[recording]\nforce = ABCDEFGHI\n", ":11: [recording] force: 'ABCDEFGHI'" },
        { "[recording]\nforce = W-M\n", ":11: [recording] force:" },
        { "[api]\nmax_body = 1e6\n", ":11: [api] max_body: must be a number of bytes" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error_with(cases[i].extra, cases[i].want);
}
END_TEST

/* Listen values replace a required key, so these files are written out whole. */
static void expect_listen_error(const char *feed, const char *api, const char *want)
{
    char text[2048];
    snprintf(text, sizeof text,
             "[database]\nconninfo = dbname=fcrd\n"
             "[feed]\nlisten = %s\n"
             "[api]\nlisten = %s\ntokens = t\n"
             "[rules]\nfile = r\n",
             feed, api);
    expect_error(text, want);
}

START_TEST(error_bad_listen)
{
    const char *ok_api = "127.0.0.1:7879", *ok_feed = "tcp:127.0.0.1:7878";
    expect_listen_error("tcp:127.0.0.1:65536", ok_api, ":4: [feed] listen: 'tcp:127.0.0.1:65536': port must be");
    expect_listen_error("tcp:127.0.0.1:", ok_api, ":4: [feed] listen: 'tcp:127.0.0.1:': port must be");
    expect_listen_error("tcp:127.0.0.1:+80", ok_api, ":4: [feed] listen:");
    expect_listen_error("tcp::80", ok_api, ":4: [feed] listen: 'tcp::80': bad host");
    expect_listen_error("tcp:::1:80", ok_api, ":4: [feed] listen: 'tcp:::1:80': write an IPv6 address in brackets");
    expect_listen_error("tcp:[::1]80", ok_api, ":4: [feed] listen: 'tcp:[::1]80': expected :PORT");
    expect_listen_error("tcp:[::1:80", ok_api, ":4: [feed] listen: 'tcp:[::1:80': missing ']'");
    expect_listen_error("tcp:[nothex]:80", ok_api, ":4: [feed] listen: 'tcp:[nothex]:80': bad host");
    expect_listen_error("tcp:host name:80", ok_api, ":4: [feed] listen: 'tcp:host name:80': bad host");
    expect_listen_error("127.0.0.1:7878", ok_api, ":4: [feed] listen: '127.0.0.1:7878': expected tcp:HOST:PORT or unix:PATH");
    expect_listen_error("unix:", ok_api, ":4: [feed] listen: 'unix:': empty socket path");
    expect_listen_error("tcp:127.0.0.1:1,", ok_api, ":4: [feed] listen: empty item");
    expect_listen_error("tcp:127.0.0.1:1, ,unix:/x", ok_api, ":4: [feed] listen: empty item");
    expect_listen_error("unix:/x, unix:/x", ok_api, ":4: [feed] listen: 'unix:/x' is listed twice");
    char longpath[200];
    memset(longpath, 'a', sizeof longpath);
    memcpy(longpath, "unix:/", 6);
    longpath[sizeof longpath - 1] = '\0';
    expect_listen_error(longpath, ok_api, "socket path longer than 107 bytes");
    expect_listen_error(ok_feed, "unix:/run/api.sock", ":6: [api] listen: 'unix:/run/api.sock': the API listens on TCP only");
    expect_listen_error(ok_feed, "127.0.0.1", ":6: [api] listen: '127.0.0.1': expected HOST:PORT");
    expect_listen_error(ok_feed, "127.0.0.1:1, 127.0.0.1:2", ":6: [api] listen:");
    expect_listen_error(ok_feed, "tcp:127.0.0.1:7878", ":6: [api] listen: also a [feed] listen address");
}
END_TEST

START_TEST(error_out_of_bounds)
{
    static const struct {
        const char *extra, *want;
    } cases[] = {
        { "[feed]\nmax_line = 1023\n", ":11: [feed] max_line: must be between 1024 and 16777216" },
        { "[feed]\nmax_line = 16777217\n", ":11: [feed] max_line: must be between 1024 and 16777216" },
        { "[feed]\nmax_line = 17 MiB\n", ":11: [feed] max_line: must be between 1024 and 16777216" },
        { "[feed]\nmax_line = 99999999999 GiB\n", ":11: [feed] max_line: must be between" },
        { "[feed]\nmax_inflight = 0\n", ":11: [feed] max_inflight: must be between 1 and 65536" },
        { "[feed]\nmax_connections = 65537\n", ":11: [feed] max_connections: must be between 1 and 65536" },
        { "[api]\nmax_body = 1000\n", ":11: [api] max_body: must be between 1024 and 16777216" },
        { "[store]\nbatch_max = 0\n", ":11: [store] batch_max: must be between 1 and 10000" },
        { "[store]\nbatch_max = 10001\n", ":11: [store] batch_max: must be between 1 and 10000" },
        { "[store]\nlanes = 0\n", ":11: [store] lanes: must be between 1 and 16" },
        { "[store]\nlanes = 17\n", ":11: [store] lanes: must be between 1 and 16" },
        { "[database]\nconnect_timeout_ms = 99\n", ":11: [database] connect_timeout_ms: must be between 100 and 300000" },
        { "[database]\nconnect_timeout_ms = 300001\n", ":11: [database] connect_timeout_ms: must be between 100 and 300000" },
        { "[database]\nreconnect_max_ms = 99\n", ":11: [database] reconnect_max_ms: must be between 100 and 60000" },
        { "[api]\nread_max_lag_ms = 99\n", ":11: [api] read_max_lag_ms: must be between 100 and 3600000" },
        { "[database]\nsync_standby_check_ms = 199\n", ":11: [database] sync_standby_check_ms: must be between 200 and 3600000" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error_with(cases[i].extra, cases[i].want);
}
END_TEST

START_TEST(error_missing_required)
{
    /* Drop each required line from the minimal file in turn. When the section is there the
     * message points at its header; when it is absent there is no line to point at. */
    static const struct {
        const char *line, *want;
    } cases[] = {
        { "conninfo = host=/x port=5 dbname=fcrd user=fcrd\n", ":1: [database] conninfo: required key is missing" },
        { "listen = tcp:127.0.0.1:7878\n", ":3: [feed] listen: required key is missing" },
        { "listen = 127.0.0.1:7879\n", ":5: [api] listen: required key is missing" },
        { "tokens = conf/tokens.example\n", ":5: [api] tokens: required key is missing" },
        { "file = conf/rules/hocr-2025.json\n", ":8: [rules] file: required key is missing" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[sizeof minimal];
        const char *at = strstr(minimal, cases[i].line);
        ck_assert_ptr_nonnull(at);
        size_t head = (size_t)(at - minimal);
        snprintf(text, sizeof text, "%.*s%s", (int)head, minimal, at + strlen(cases[i].line));
        expect_error(text, cases[i].want);
    }
    expect_error("[database]\nconninfo = dbname=x\n", ": [feed] listen: required key is missing");
    expect_error("", ": [database] conninfo: required key is missing");
}
END_TEST

START_TEST(error_malformed_line)
{
    expect_error_with("[feed]\njust some words\n", ":11: expected [section] or key = value");
    expect_error_with("[feed\n", ":10: expected [section] or key = value");
    expect_error_with("[feed] max_line = 2048\n", ":10: expected [section] or key = value");
    expect_error_with("[feed]\n= 2048\n", ":11: expected [section] or key = value");
    expect_error_with("[feed]\nmax line = 2048\n", ":11: expected [section] or key = value");
    expect_error("\nlevel = info\n[log]\n", ":2: level: key outside any [section]");
}
END_TEST

START_TEST(error_nul_byte_and_missing_file)
{
    static const char text[] = "[log]\nlev\0el = info\n";
    struct tmpconf t;
    tmp_write(&t, text, sizeof text - 1);
    struct config *cfg = NULL;
    char err[512];
    ck_assert_int_eq(config_load(t.path, &cfg, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, ":2: line contains a NUL byte"));
    ck_assert_ptr_null(cfg);
    ck_assert_int_eq(config_load(t.path, &cfg, NULL, 0), -1); /* no room for a message is fine */
    unlink(t.path);
    ck_assert_int_eq(config_load(t.path, &cfg, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));
    ck_assert_ptr_null(config_free(NULL));
}
END_TEST

START_TEST(parse_listen_items)
{
    struct listen_addr a;
    ck_assert_int_eq(config_parse_listen("tcp:[::1]:7878", &a), 0);
    ck_assert_int_eq(a.kind, LISTEN_TCP);
    ck_assert_str_eq(a.host, "::1");
    ck_assert_int_eq(a.port, 7878);
    listen_addr_clear(&a);
    ck_assert_ptr_null(a.host);

    ck_assert_int_eq(config_parse_listen("tcp:[fe80::1%eth0]:1", &a), 0);
    ck_assert_str_eq(a.host, "fe80::1%eth0");
    listen_addr_clear(&a);

    ck_assert_int_eq(config_parse_listen("tcp:0.0.0.0:0", &a), 0);
    ck_assert_str_eq(a.host, "0.0.0.0");
    ck_assert_int_eq(a.port, 0);
    listen_addr_clear(&a);

    ck_assert_int_eq(config_parse_listen("unix:var/run/fcrd-feed.sock", &a), 0);
    ck_assert_int_eq(a.kind, LISTEN_UNIX);
    ck_assert_str_eq(a.path, "var/run/fcrd-feed.sock");
    listen_addr_clear(&a);
    listen_addr_clear(NULL);

    static const char *const bad[] = {
        "", "tcp:", "tcp:host", "tcp:host:99999", "tcp:host:-1", "tcp:host:0x10", "tcp:[]:1",
        "tcp:[::1]", "unix:", "udp:host:1", "localhost:80", " tcp:host:1", "tcp:host:1 ",
        "tcp:host:000001",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(config_parse_listen(bad[i], &a) == -1, "'%s' accepted", bad[i]);
        ck_assert_ptr_null(a.host);
        ck_assert_ptr_null(a.path);
    }
}
END_TEST

START_TEST(key_table_names_and_flags)
{
    size_t n = config_keys_count();
    ck_assert_uint_eq(n, 70);
    char buf[8];
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL, *other = NULL;
        bool reloadable;
        ck_assert_int_eq(config_key_render(NULL, i, &name, &reloadable, buf, sizeof buf), 0);
        ck_assert_str_eq(buf, "");
        ck_assert_ptr_nonnull(name);
        ck_assert_ptr_nonnull(strchr(name, '.'));
        ck_assert_ptr_nonnull(config_key_describe(i));
        for (size_t j = 0; j < i; j++) {
            config_key_render(NULL, j, &other, NULL, NULL, 0);
            ck_assert_str_ne(name, other);
        }
    }
    ck_assert_int_eq(config_key_render(NULL, n, NULL, NULL, buf, sizeof buf), -1);
    ck_assert_ptr_null(config_key_describe(n));

    /* What a restart is needed for, checked by name so that reordering the table is harmless. */
    static const struct {
        const char *name;
        bool reloadable;
    } flags[] = {
        { "database.conninfo", false }, { "database.admin_conninfo", false },
        { "database.migrations", false }, { "database.connect_timeout_ms", false },
        { "database.reconnect_max_ms", false }, { "database.require_sync_standby", false },
        { "database.sync_standby_check_ms", false }, { "api.read_conninfo", false },
        { "api.read_max_lag_ms", false },
        { "feed.listen", false }, { "feed.max_line", true }, { "feed.max_inflight", true },
        { "feed.max_connections", true }, { "api.listen", false }, { "api.tokens", true },
        { "api.max_body", true }, { "rules.file", true }, { "recording.force", false },
        { "store.batch_max", true }, { "store.lanes", false }, { "store.state_cache_members", false },
        { "store.state_cache_min_members", false },
        { "log.level", true },
        { "feed.tls", false }, { "api.tls", false }, { "api.metrics_refresh_ms", true },
        { "tls.cert", true }, { "tls.key", true }, { "tls.client_ca", true },
        { "tls.client_subjects", true }, { "service.drain_timeout_ms", true }, { "log.format", true },
        { "api.whatif_max_body", true }, { "api.audit_sample_max", true },
        { "feed.allow_insecure", false }, { "feed.max_seq_gap", true }, { "api.auth_failures_max", true }, { "api.auth_failure_window_s", true }, { "api.auth_block_s", true },
        { "audit.checkpoint_interval_s", false }, { "audit.checkpoint_key", false },
        { "audit.checkpoint_file", false },
        { "feed.max_tokens", true }, { "feed.max_unknown_bytes", true }, { "feed.max_persons_per_incident", true },
        { "feed.max_allegations_per_incident", true }, { "feed.max_links_per_incident", true },
        { "service.memory_limit_mb", false },
        { "feed.max_connections_per_source", true }, { "feed.reserved_connections", true },
        { "feed.first_line_timeout_s", true }, { "feed.keepalive_s", true },
        { "feed.keepalive_interval_s", true }, { "feed.keepalive_count", true },
        { "log.refusal_interval_s", true },
        { "api.require_purpose", true }, { "api.access_log_timeout_ms", true },
        { "api.max_connections", true }, { "api.header_timeout_ms", true }, { "api.body_timeout_ms", true },
        { "api.read_connections", false }, { "api.read_statement_timeout_ms", true },
        { "service.accept_pause_ms", false },
        { "tls.api_client_ca", true }, { "tls.api_client_subjects", true },
        { "api.stream_heartbeat_s", true }, { "api.max_streams", true },
        { "retention.incident_s", true }, { "retention.crime_s", true }, { "retention.crime_groups", true },
    };
    ck_assert_uint_eq(sizeof flags / sizeof flags[0], n);
    for (size_t k = 0; k < n; k++) {
        bool found = false;
        for (size_t i = 0; i < n; i++) {
            const char *name;
            bool reloadable;
            config_key_render(NULL, i, &name, &reloadable, NULL, 0);
            if (strcmp(name, flags[k].name) == 0) {
                found = true;
                ck_assert_msg(reloadable == flags[k].reloadable, "%s", name);
            }
        }
        ck_assert_msg(found, "%s not in the table", flags[k].name);
    }
}
END_TEST

/* render_value: key by name, rendered from cfg. */
static const char *render_value(const struct config *cfg, const char *want, char *buf, size_t len)
{
    for (size_t i = 0; i < config_keys_count(); i++) {
        const char *name;
        config_key_render(NULL, i, &name, NULL, NULL, 0);
        if (strcmp(name, want) == 0) {
            config_key_render(cfg, i, NULL, NULL, buf, len);
            return buf;
        }
    }
    ck_abort_msg("no key %s", want);
    return NULL;
}

START_TEST(render_round_trip)
{
    static const char text[] =
        "[database]\n"
        "conninfo = host=127.0.0.1 port=54329 dbname=fcrd user=fcrd\n"
        "migrations = db/sql\n"
        "connect_timeout_ms = 1500\n"
        "[feed]\n"
        "listen = tcp:[::1]:7000,unix:/run/f.sock , tcp:127.0.0.1:7878\n"
        "max_line = 8 KiB\n"
        "max_inflight = 9\n"
        "[api]\n"
        "listen = tcp:[::]:8080\n"
        "tokens = conf/tokens.example\n"
        "[rules]\n"
        "file = conf/rules/hocr-2025.json\n"
        "[recording]\n"
        "force = WM\n"
        "[log]\n"
        "level = error\n";
    struct config *a = load_ok(text);
    char buf[256];
    ck_assert_str_eq(render_value(a, "feed.listen", buf, sizeof buf),
                     "tcp:[::1]:7000, unix:/run/f.sock, tcp:127.0.0.1:7878");
    ck_assert_str_eq(render_value(a, "api.listen", buf, sizeof buf), "[::]:8080");
    ck_assert_str_eq(render_value(a, "feed.max_line", buf, sizeof buf), "8192");
    ck_assert_str_eq(render_value(a, "database.connect_timeout_ms", buf, sizeof buf), "1500");
    ck_assert_str_eq(render_value(a, "database.admin_conninfo", buf, sizeof buf), "");
    ck_assert_str_eq(render_value(a, "recording.force", buf, sizeof buf), "WM");

    /* Writing every rendered value back out gives a file that loads to an equal config. */
    char out[4096] = "";
    const char *last_section = "";
    for (size_t i = 0; i < config_keys_count(); i++) {
        const char *name;
        int n = config_key_render(a, i, &name, NULL, buf, sizeof buf);
        ck_assert_int_ge(n, 0);
        ck_assert_int_lt(n, (int)sizeof buf);
        if (n == 0) /* an optional key the file left out: left out again */
            continue;
        const char *dot = strchr(name, '.');
        size_t slen = (size_t)(dot - name);
        size_t used = strlen(out);
        if (strlen(last_section) != slen || strncmp(last_section, name, slen) != 0) {
            used += (size_t)snprintf(out + used, sizeof out - used, "[%.*s]\n", (int)slen, name);
            last_section = name;
        }
        snprintf(out + used, sizeof out - used, "%s = %s\n", dot + 1, buf);
    }
    struct config *b = load_ok(out);
    for (size_t i = 0; i < config_keys_count(); i++)
        ck_assert_msg(config_key_equal(a, b, i), "key %zu differs after a round trip", i);
    config_free(b);

    /* A diff of two configs is a loop; exactly the changed keys show up. */
    char *changed = with("[log]\nlevel = debug\n[feed]\nmax_inflight = 1024\n");
    b = load_ok(minimal);
    struct config *c = load_ok(changed);
    free(changed);
    size_t diffs = 0;
    for (size_t i = 0; i < config_keys_count(); i++)
        diffs += !config_key_equal(b, c, i);
    ck_assert_uint_eq(diffs, 1);
    ck_assert(!config_key_equal(b, c, key_index("log.level")));
    ck_assert(config_key_equal(b, c, key_index("feed.max_inflight"))); /* set, but to the default */
    ck_assert(!config_key_equal(a, b, key_index("feed.listen")));
    ck_assert(config_key_equal(a, b, config_keys_count())); /* out of range */
    config_free(a);
    config_free(b);
    config_free(c);
}
END_TEST

START_TEST(render_masks_passwords_and_truncates)
{
    char *s1 = with("[database]\nadmin_conninfo = host=db user=owner password=hunter2 "
                    "application_name='a b'\n");
    char *s2 = with("[database]\nadmin_conninfo = host=db user=owner password=hunter3 "
                    "application_name='a b'\n");
    char *s3 = with("[database]\nadmin_conninfo = postgresql://owner:hunter2@db/fcrd\n");
    struct config *a = load_ok(s1), *b = load_ok(s2), *c = load_ok(s3);
    char buf[256];
    render_value(a, "database.admin_conninfo", buf, sizeof buf);
    ck_assert_ptr_null(strstr(buf, "hunter2"));
    ck_assert_ptr_nonnull(strstr(buf, "password=*****"));
    ck_assert_ptr_nonnull(strstr(buf, "application_name='a b'"));
    ck_assert_ptr_nonnull(strstr(buf, "user=owner"));
    render_value(c, "database.admin_conninfo", buf, sizeof buf);
    ck_assert_ptr_null(strstr(buf, "hunter2"));
    ck_assert_ptr_nonnull(strstr(buf, "password=*****"));
    ck_assert_ptr_nonnull(strstr(buf, "dbname=fcrd"));
    /* The masked renderings match, yet the change of password is seen. */
    char buf2[256];
    render_value(b, "database.admin_conninfo", buf2, sizeof buf2);
    render_value(a, "database.admin_conninfo", buf, sizeof buf);
    ck_assert_str_eq(buf, buf2);
    ck_assert(!config_key_equal(a, b, key_index("database.admin_conninfo")));
    ck_assert(config_key_equal(a, b, key_index("database.conninfo")));

    /* A short buffer gets a cut, terminated string and the full length. */
    size_t i = key_index("database.conninfo");
    char small[6];
    int n = config_key_render(a, i, NULL, NULL, small, sizeof small);
    ck_assert_int_eq(n, (int)strlen("host=/x port=5 dbname=fcrd user=fcrd"));
    ck_assert_str_eq(small, "host=");
    ck_assert_int_eq(config_key_render(a, key_index("feed.listen"), NULL, NULL, NULL, 0),
                     (int)strlen("tcp:127.0.0.1:7878"));
    config_free(a);
    config_free(b);
    config_free(c);
    free(s1);
    free(s2);
    free(s3);
}
END_TEST

static char *source_file(const char *rel)
{
    const char *root = getenv("FCRD_SOURCE_ROOT");
    char *p = malloc(4096);
    ck_assert_ptr_nonnull(p);
    snprintf(p, 4096, "%s/%s", root && *root ? root : ".", rel);
    return p;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    char *s = calloc(1, 1 << 16);
    ck_assert_ptr_nonnull(s);
    size_t n = fread(s, 1, (1 << 16) - 1, fp);
    s[n] = '\0';
    fclose(fp);
    return s;
}

START_TEST(example_config_sets_every_key)
{
    char *path = source_file("conf/fcrd.conf");
    struct config *cfg = NULL;
    char err[512];
    ck_assert_msg(config_load(path, &cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(cfg->db_conninfo, "host=127.0.0.1 port=54329 dbname=fcrd user=fcrd");
    ck_assert_ptr_null(cfg->db_admin_conninfo); /* in conf/migrate.conf: the serving file has none */
    ck_assert_str_eq(cfg->sql_dir, "sql");
    ck_assert_uint_eq(cfg->n_feed_listen, 2);
    ck_assert_str_eq(cfg->feed_listen[0].host, "127.0.0.1");
    ck_assert_int_eq(cfg->feed_listen[0].port, 7878);
    ck_assert_str_eq(cfg->feed_listen[1].path, "var/run/fcrd-feed.sock");
    ck_assert_str_eq(cfg->api_listen.host, "127.0.0.1");
    ck_assert_int_eq(cfg->api_listen.port, 7879);
    ck_assert_str_eq(cfg->api_tokens, "conf/tokens.example");
    ck_assert_str_eq(cfg->rules_file, "conf/rules/hocr-2025.json");
    ck_assert_str_eq(cfg->force_code, "XX");
    config_free(cfg);

    /* Every key is written out in the example, not left to its default. */
    char *text = slurp(path);
    char section[64] = "";
    size_t seen = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        while (*line == ' ')
            line++;
        if (*line == '[') {
            sscanf(line, "[%63[^]]", section);
            continue;
        }
        char key[64];
        if (*line == '#' || *line == ';' || sscanf(line, "%63[a-z_] =", key) != 1)
            continue;
        char name[160];
        snprintf(name, sizeof name, "%s.%s", section, key);
        (void)key_index(name);
        seen++;
    }
    /* ... but admin_conninfo, which only fcrd migrate reads, from its own file, and
     * api.read_conninfo, optional with no value to show (the example names it in a comment). */
    ck_assert_uint_eq(seen + 2, config_keys_count());
    free(text);
    free(path);

    path = source_file("conf/migrate.conf");
    ck_assert_msg(config_load_migrate(path, &cfg, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(cfg->db_admin_conninfo, "host=127.0.0.1 port=54329 dbname=fcrd user=fcrd_owner");
    ck_assert_str_eq(cfg->sql_dir, "sql");
    config_free(cfg);
    free(path);
}
END_TEST

/* fcrd migrate's file: the [database] section alone will do, with admin_conninfo, which it needs. */
START_TEST(migrate_file)
{
    struct tmpconf t;
    struct config *cfg = NULL;
    char err[512] = "";
    static const char only_db[] = "[database]\nadmin_conninfo = host=/x dbname=fcrd user=fcrd_owner\n"
                                  "migrations = db/sql\n";
    tmp_write(&t, only_db, strlen(only_db));
    ck_assert_int_eq(config_load(t.path, &cfg, err, sizeof err), -1); /* not enough to serve with */
    ck_assert_ptr_nonnull(strstr(err, "[database] conninfo: required key is missing"));
    ck_assert_int_eq(config_load_migrate(t.path, &cfg, err, sizeof err), 0);
    unlink(t.path);
    ck_assert_str_eq(cfg->db_admin_conninfo, "host=/x dbname=fcrd user=fcrd_owner");
    ck_assert_str_eq(cfg->sql_dir, "db/sql");
    ck_assert_ptr_null(cfg->rules_file);
    config_free(cfg);
    /* The serving file, with no admin_conninfo: refused, naming the key. */
    tmp_write(&t, minimal, strlen(minimal));
    cfg = (struct config *)1;
    ck_assert_int_eq(config_load_migrate(t.path, &cfg, err, sizeof err), -1);
    unlink(t.path);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, "[database] admin_conninfo: required by fcrd migrate") != NULL, "%s", err);
    /* Its keys are checked as usual. */
    static const char bad[] = "[database]\nadmin_conninfo = nosuchoption=1\n";
    tmp_write(&t, bad, strlen(bad));
    ck_assert_int_eq(config_load_migrate(t.path, &cfg, err, sizeof err), -1);
    unlink(t.path);
    ck_assert_ptr_nonnull(strstr(err, "[database] admin_conninfo: not a valid connection string"));
}
END_TEST

START_TEST(docs_cover_every_key)
{
    char *path = source_file("docs/configuration.md");
    char *text = slurp(path);
    for (size_t i = 0; i < config_keys_count(); i++) {
        const char *name;
        config_key_render(NULL, i, &name, NULL, NULL, 0);
        char quoted[160];
        snprintf(quoted, sizeof quoted, "`%s`", name);
        ck_assert_msg(strstr(text, quoted) != NULL, "docs/configuration.md lacks %s", quoted);
    }
    free(text);
    free(path);
}
END_TEST

START_TEST(sources_section)
{
    /* none: every connection is "default" */
    struct config *cfg = load_ok(minimal);
    ck_assert_ptr_null(cfg->sources);
    ck_assert_uint_eq(cfg->feed_max_connections_per_source, 64);
    ck_assert_uint_eq(cfg->feed_reserved_connections, 0);
    ck_assert_int_eq(cfg->feed_first_line_timeout_s, 60);
    ck_assert_int_eq(cfg->feed_keepalive_s, 60);
    ck_assert_int_eq(cfg->feed_keepalive_interval_s, 10);
    ck_assert_int_eq(cfg->feed_keepalive_count, 6);
    ck_assert_int_eq(cfg->log_refusal_interval_s, 5);
    config_free(cfg);

    char *text = with("[sources]\n"
                      "# two links of one room, and its local relay\n"
                      "cc-north = subject:CN=cc1.north.example,O=Example Police, subject:CN=cc2.north.example,"
                      "O=Example Police, uid:998\n"
                      "tools = loopback\n"
                      "[feed]\n"
                      "max_connections = 10\n"
                      "reserved_connections = 4\n"
                      "[sources]\n"
                      "cc-south = user:root\n");
    cfg = load_ok(text);
    free(text);
    ck_assert_uint_eq(sources_count(cfg->sources), 3);
    struct sources_peer link2 = {.subject = "CN=cc2.north.example,O=Example Police"};
    ck_assert_str_eq(sources_match(cfg->sources, &link2), "cc-north");
    struct sources_peer root = {.has_uid = true, .uid = 0};
    ck_assert_str_eq(sources_match(cfg->sources, &root), "cc-south");
    struct sources_peer local = {.loopback = true};
    ck_assert_str_eq(sources_match(cfg->sources, &local), "tools");
    ck_assert_uint_eq(cfg->feed_reserved_connections, 4);
    config_free(cfg);
}
END_TEST

START_TEST(retention_groups)
{
    expect_error_with("[retention]\ncrime_groups = violence\n",
                      ":11: [retention] crime_groups: 'violence' is not GROUP=SECONDS");
    expect_error_with("[retention]\ncrime_groups = violence=1y\n",
                      ":11: [retention] crime_groups: 'violence=1y' is not GROUP=SECONDS");
    expect_error_with("[retention]\ncrime_groups = violence=10,=5\n",
                      ":11: [retention] crime_groups: '=5' is not GROUP=SECONDS");
    expect_error_with("[retention]\ncrime_groups = a=1,\n", ":11: [retention] crime_groups: '' is not GROUP=SECONDS");
    expect_error_with("[retention]\ncrime_groups = a=1, b=2\n", ":11: [retention] crime_groups: ' b=2' is not GROUP=SECONDS");
    expect_error_with("[retention]\nincident_s = 0\n", "[retention] incident_s");
    char *s = with("[retention]\ncrime_groups = serious_sexual=3153600000,violence=315360000\nincident_s = 60\n");
    struct config *cfg = load_ok(s);
    ck_assert_str_eq(cfg->retention_crime_groups, "serious_sexual=3153600000,violence=315360000");
    ck_assert_uint_eq(cfg->retention_incident_s, 60);
    ck_assert_uint_eq(cfg->retention_crime_s, 220752000);
    config_free(cfg);
    free(s);
}
END_TEST

START_TEST(sources_errors)
{
    expect_error_with("[sources]\nroom-a = uid:1\nroom-b = uid:1\n",
                      ":12: [sources] room-b: 'uid:1' already belongs to source room-a");
    expect_error_with("[sources]\nroom-a = uid:one\n", ":11: [sources] room-a: 'uid:one': expected a numeric user id");
    expect_error_with("[sources]\nroom-a =\n", ":11: [sources] room-a: value is empty");
    expect_error_with("[sources]\ndefault = loopback\n", "[sources] default: 'default' is the source");
    expect_error_with("[sources]\n# nothing yet\n", ":10: [sources]: the section names no source");
    expect_error_with("[sources]\nroom-a = loopback\n[feed]\nreserved_connections = 256\n",
                      ":13: [feed] reserved_connections: must be less than max_connections (256)");
    /* without [sources] nothing is reserved, so the bound does not apply */
    char *text = with("[feed]\nreserved_connections = 300\n");
    config_free(load_ok(text));
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults_applied);
    tcase_add_test(tc, every_key_good_value);
    tcase_add_test(tc, log_levels_and_units);
    tcase_add_test(tc, conninfo_with_equals_and_spaces);
    tcase_add_test(tc, conninfo_multi_host);
    tcase_add_test(tc, comments_blank_lines_crlf);
    tcase_add_test(tc, error_unknown_section);
    tcase_add_test(tc, error_unknown_key);
    tcase_add_test(tc, error_duplicate_key);
    tcase_add_test(tc, error_bad_value);
    tcase_add_test(tc, error_bad_listen);
    tcase_add_test(tc, error_out_of_bounds);
    tcase_add_test(tc, error_missing_required);
    tcase_add_test(tc, error_malformed_line);
    tcase_add_test(tc, error_nul_byte_and_missing_file);
    tcase_add_test(tc, parse_listen_items);
    tcase_add_test(tc, sources_section);
    tcase_add_test(tc, sources_errors);
    tcase_add_test(tc, retention_groups);
    tcase_add_test(tc, key_table_names_and_flags);
    tcase_add_test(tc, render_round_trip);
    tcase_add_test(tc, render_masks_passwords_and_truncates);
    tcase_add_test(tc, migrate_file);
    suite_add_tcase(s, tc);
    TCase *files = tcase_create("shipped files");
    tcase_add_test(files, example_config_sets_every_key);
    tcase_add_test(files, docs_cover_every_key);
    suite_add_tcase(s, files);
    return check_run(s);
}
