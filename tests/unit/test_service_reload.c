/* test_service_reload.c: the service's real reload path, on a service built from files in a
 * temporary folder and never started (no listener, no database): a good file applies and names
 * each changed setting; a restart-only change is reported as such and keeps its running value,
 * at every later reload too; a broken configuration, rule set, tokens file or certificate
 * changes nothing at all; a certificate renewed in place is taken up. */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/tokens.h"
#include "rules/ruleset.h"
#include "service/config.h"
#include "service/service.h"
#include "service/service_reload.h"
#include "service/service_state.h"
#include "service/tls.h"
#include "check_run.h"

/* ---- the folder ---- */

struct fixture {
    char dir[256];
    char conf[300], rules1[300], rules2[300], rules_bad[300], tokens1[300], tokens2[300], tokens_bad[300];
    char crt[300], key[300], other_key[300], garbage[300];
    char v1[64], v2[80]; /* the shipped rule set's version, and the one rules2 has instead */
};

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(text, 1, len, fp), len);
    fclose(fp);
    /* As in production: fcrd refuses a tokens file every user may read. */
    ck_assert_int_eq(chmod(path, 0600), 0);
}

static void write_text(const char *path, const char *text)
{
    write_file(path, text, strlen(text));
}

static char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

/* make_server_cert: a self-signed server certificate for cn, written to crt and key. */
static void make_server_cert(const char *crt, const char *key, const char *cn)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(k);
    X509 *c = X509_new();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), 7);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 30);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, name);
    X509_set_pubkey(c, k);
    ck_assert_int_gt(X509_sign(c, k, EVP_sha256()), 0);
    FILE *fp = fopen(crt, "w");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(PEM_write_X509(fp, c), 1);
    fclose(fp);
    fp = fopen(key, "w");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(fp);
    X509_free(c);
    EVP_PKEY_free(k);
}

static void fixture_make(struct fixture *f)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/fcrd-test-service-reload-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
#define PATH(field, file) snprintf(f->field, sizeof(f->field), "%s/%s", f->dir, file)
    PATH(conf, "fcrd.conf");
    PATH(rules1, "rules-1.json");
    PATH(rules2, "rules-2.json");
    PATH(rules_bad, "rules-bad.json");
    PATH(tokens1, "tokens-1");
    PATH(tokens2, "tokens-2");
    PATH(tokens_bad, "tokens-bad");
    PATH(crt, "server.crt");
    PATH(key, "server.key");
    PATH(other_key, "other.key");
    PATH(garbage, "garbage.crt");
#undef PATH
    /* The shipped rule set, and the same under another version. */
    const char *root = getenv("FCRD_SOURCE_ROOT");
    char src[512];
    snprintf(src, sizeof(src), "%s/conf/rules/hocr-2025.json", root && *root ? root : ".");
    size_t len;
    char *rules = read_all(src, &len);
    write_file(f->rules1, rules, len);
    json_t *doc = json_loadb(rules, len, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    snprintf(f->v1, sizeof f->v1, "%s", json_string_value(json_object_get(doc, "version")));
    snprintf(f->v2, sizeof f->v2, "%s-next", f->v1);
    json_object_set_new(doc, "version", json_string(f->v2));
    char *next = json_dumps(doc, JSON_INDENT(1));
    write_file(f->rules2, next, strlen(next));
    free(next);
    json_decref(doc);
    free(rules);
    write_text(f->rules_bad, "{\"version\": \"broken\", \"rules\": [");
    write_text(f->tokens1, "old-token-0000000001 ops.one ops\n");
    write_text(f->tokens2, "new-token-0000000002 ops.two ops\n");
    write_text(f->tokens_bad, "bad-token-0000000003 someone no-such-role\n");
    make_server_cert(f->crt, f->key, "fcrd-one.test");
    char other_crt[320];
    snprintf(other_crt, sizeof(other_crt), "%s/other.crt", f->dir);
    make_server_cert(other_crt, f->other_key, "fcrd-other.test");
    unlink(other_crt);
    write_text(f->garbage, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
}

static void fixture_remove(struct fixture *f)
{
    const char *files[] = {f->conf, f->rules1, f->rules2, f->rules_bad, f->tokens1, f->tokens2,
                           f->tokens_bad, f->crt, f->key, f->other_key, f->garbage};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(files[i]);
    rmdir(f->dir);
}

/* The configuration the service starts with; every test changes parts of it. */
struct settings {
    const char *conninfo, *feed_listen, *rules, *tokens, *cert, *key, *force, *extra;
    int max_line, lanes;
};

static struct settings defaults(const struct fixture *f)
{
    return (struct settings){
        .conninfo = "host=/x dbname=fcrd user=fcrd password=one",
        .feed_listen = "tcp:127.0.0.1:7878",
        .rules = f->rules1,
        .tokens = f->tokens1,
        .cert = f->crt,
        .key = f->key,
        .force = "XX",
        .extra = "",
        .max_line = 65536,
        .lanes = 4,
    };
}

static void write_conf(const struct fixture *f, const struct settings *s)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "[database]\nconninfo = %s\n"
             "[feed]\nlisten = %s\nmax_line = %d\ntls = on\n"
             "[api]\nlisten = 127.0.0.1:7879\ntokens = %s\n"
             "[tls]\ncert = %s\nkey = %s\n"
             "[rules]\nfile = %s\n"
             "[recording]\nforce = %s\n"
             "[store]\nlanes = %d\n"
             "%s",
             s->conninfo, s->feed_listen, s->max_line, s->tokens, s->cert, s->key, s->rules, s->force, s->lanes,
             s->extra);
    write_text(f->conf, text);
}

static struct service *service_from(const struct fixture *f)
{
    char err[1400] = "";
    struct service *svc = service_new(f->conf, err, sizeof(err));
    ck_assert_msg(svc != NULL, "%s", err);
    return svc;
}

/* changed_names: "name!,name" of r's changes in order, '!' marking those that need a restart. */
static void changed_names(const struct service_reload *r, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_changes && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s%s", i ? "," : "", r->changes[i].name,
                                 r->changes[i].restart ? "!" : "");
}

/* ---- the log of one reload ---- */

struct capture {
    char path[320];
    int saved;
};

static void capture_start(const struct fixture *f, struct capture *c)
{
    snprintf(c->path, sizeof(c->path), "%s/stderr.log", f->dir);
    fflush(stderr);
    c->saved = dup(2);
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 2);
    close(fd);
}

/* capture_end: the text written to stderr since capture_start (caller frees). */
static char *capture_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    size_t len;
    char *text = read_all(c->path, &len);
    unlink(c->path);
    return text;
}

static int reload_logged(const struct fixture *f, struct service *svc, char **log)
{
    struct capture c;
    capture_start(f, &c);
    int rc = service_reload(svc);
    *log = capture_end(&c);
    return rc;
}

#define ck_assert_logged(log, want) ck_assert_msg(strstr(log, want) != NULL, "log lacks '%s':\n%s", want, log)

/* ---- tests ---- */

START_TEST(good_change_applied_and_named)
{
    struct fixture f;
    fixture_make(&f);
    struct settings s = defaults(&f);
    write_conf(&f, &s);
    struct service *svc = service_from(&f);
    const struct service_state *cur = service_current(svc);
    const struct tls *tls_feed = cur->tls_feed;
    ck_assert_ptr_nonnull(tls_feed);
    ck_assert_ptr_null(cur->tls_api);
    ck_assert_str_eq(ruleset_version(cur->rs), f.v1);

    s.max_line = 131072;
    s.rules = f.rules2;
    s.tokens = f.tokens2;
    s.extra = "[api]\nmax_body = 4096\n";
    write_conf(&f, &s);

    /* Prepared only: everything is read and compared, nothing running changes. */
    struct service_reload r;
    char err[1400] = "";
    ck_assert_msg(service_reload_prepare(cur, f.conf, &r, err, sizeof(err)) == 0, "%s", err);
    char names[512];
    changed_names(&r, names, sizeof(names));
    ck_assert_str_eq(names, "feed.max_line,api.tokens,api.max_body,rules.file");
    ck_assert_uint_eq(r.n_restart, 0);
    ck_assert_str_eq(r.changes[0].before, "65536");
    ck_assert_str_eq(r.changes[0].after, "131072");
    ck_assert_str_eq(ruleset_version(r.next.rs), f.v2);
    ck_assert_uint_eq(cur->cfg->feed_max_line, 65536);
    ck_assert_str_eq(ruleset_version(cur->rs), f.v1);
    service_reload_discard(&r);
    ck_assert_ptr_null(r.next.cfg);
    ck_assert_ptr_null(r.changes);

    char *log;
    ck_assert_int_eq(reload_logged(&f, svc, &log), 4);
    ck_assert_logged(log, "reload: feed.max_line: 65536 -> 131072");
    ck_assert_logged(log, "reload: api.max_body: 65536 -> 4096");
    ck_assert_logged(log, "reload: rules.file: ");
    char line[200];
    snprintf(line, sizeof line, "reload: rule set %s -> %s", f.v1, f.v2);
    ck_assert_logged(log, line);
    ck_assert_logged(log, "reload: feed TLS: certificate ");
    ck_assert_logged(log, "reload: done; 4 setting(s) changed, 0 of them waiting for a restart");
    ck_assert(strstr(log, "needs a restart") == NULL);
    free(log);

    cur = service_current(svc);
    ck_assert_uint_eq(cur->cfg->feed_max_line, 131072);
    ck_assert_uint_eq(cur->cfg->api_max_body, 4096);
    ck_assert_str_eq(ruleset_version(cur->rs), f.v2);
    const char *user = NULL;
    ck_assert_int_eq(tokens_lookup(cur->tokens, "new-token-0000000002", &user), ROLE_OPS);
    ck_assert_str_eq(user, "ops.two");
    ck_assert_int_eq(tokens_lookup(cur->tokens, "old-token-0000000001", &user), ROLE_NONE);
    ck_assert_ptr_eq(cur->tls_feed, tls_feed); /* the listeners' context, its contents renewed */

    /* The same file again: nothing changed, the files are read again all the same. */
    ck_assert_int_eq(reload_logged(&f, svc, &log), 0);
    ck_assert_logged(log, "reload: done; no setting changed (rule set, tokens, certificates re-read)");
    free(log);
    service_free(svc);
    fixture_remove(&f);
}
END_TEST

START_TEST(restart_settings_reported_and_kept)
{
    struct fixture f;
    fixture_make(&f);
    struct settings s = defaults(&f);
    write_conf(&f, &s);
    struct service *svc = service_from(&f);

    s.conninfo = "host=/x dbname=fcrd user=fcrd password=two";
    s.feed_listen = "tcp:127.0.0.1:9999";
    s.force = "WM";
    s.lanes = 2;
    s.max_line = 2048;
    s.extra = "[api]\ntls = on\n";
    write_conf(&f, &s);

    struct service_reload r;
    char err[1400] = "";
    ck_assert_msg(service_reload_prepare(service_current(svc), f.conf, &r, err, sizeof(err)) == 0, "%s", err);
    char names[512];
    changed_names(&r, names, sizeof(names));
    /* Only the password differs, which is never shown. */
    ck_assert_str_eq(names, "database.conninfo!,feed.listen!,feed.max_line,api.tls!,recording.force!,store.lanes!");
    ck_assert_uint_eq(r.n_restart, 5);
    ck_assert_ptr_nonnull(strstr(r.changes[0].before, "password=*****"));
    ck_assert_ptr_null(strstr(r.changes[0].before, "one"));
    ck_assert_str_eq(r.changes[0].after, "(a changed secret)");
    /* What will run keeps the restart-only values; api.tls on is not read before a restart. */
    ck_assert_str_eq(r.next.cfg->force_code, "XX");
    ck_assert_ptr_null(r.next.tls_api);
    service_reload_discard(&r);

    char *log;
    ck_assert_int_eq(reload_logged(&f, svc, &log), 6);
    ck_assert_logged(log, "reload: feed.listen: tcp:127.0.0.1:7878 -> tcp:127.0.0.1:9999 needs a restart; "
                          "still using tcp:127.0.0.1:7878");
    ck_assert_logged(log, "reload: recording.force: XX -> WM needs a restart; still using XX");
    ck_assert_logged(log, "reload: feed.max_line: 65536 -> 2048\n");
    ck_assert_logged(log, "reload: done; 6 setting(s) changed, 5 of them waiting for a restart");
    ck_assert(strstr(log, "password=two") == NULL);
    free(log);
    const struct service_state *cur = service_current(svc);
    ck_assert_uint_eq(cur->cfg->feed_max_line, 2048);
    ck_assert_str_eq(cur->cfg->force_code, "XX");
    ck_assert_uint_eq(cur->cfg->store_lanes, 4);
    ck_assert_int_eq(cur->cfg->feed_listen[0].port, 7878);
    ck_assert_str_eq(cur->cfg->api_tls, "off");
    ck_assert_ptr_null(cur->tls_api);

    /* Every later reload says so again, until a restart. */
    ck_assert_int_eq(reload_logged(&f, svc, &log), 5);
    ck_assert_logged(log, "reload: recording.force: XX -> WM needs a restart; still using XX");
    ck_assert_logged(log, "reload: done; 5 setting(s) changed, 5 of them waiting for a restart");
    ck_assert(strstr(log, "feed.max_line") == NULL);
    free(log);
    service_free(svc);
    fixture_remove(&f);
}
END_TEST

/* One broken part each, beside a good change that must not apply either. */
enum breakage { BAD_CONFIG, BAD_RULES, MISSING_RULES, BAD_TOKENS, BAD_CERT, MISMATCHED_KEY, N_BREAKAGES };

START_TEST(broken_reload_changes_nothing)
{
    struct fixture f;
    fixture_make(&f);
    struct settings s = defaults(&f);
    write_conf(&f, &s);
    struct service *svc = service_from(&f);
    const struct service_state *cur = service_current(svc);
    const struct config *cfg = cur->cfg;
    const struct ruleset *rs = cur->rs;
    const struct tokens *tokens = cur->tokens;
    const struct tls *tls_feed = cur->tls_feed;
    char describe[512];
    snprintf(describe, sizeof(describe), "%s", tls_describe(tls_feed));

    s.max_line = 131072;
    s.rules = f.rules2;
    s.tokens = f.tokens2;
    char missing[320];
    snprintf(missing, sizeof(missing), "%s/no-such-rules.json", f.dir);
    static const char *const want[N_BREAKAGES] = {
        [BAD_CONFIG] = "[feed] max_lines: unknown key",
        [BAD_RULES] = "[rules] file: ",
        [MISSING_RULES] = "[rules] file: ",
        [BAD_TOKENS] = "[api] tokens: ",
        [BAD_CERT] = "[tls] for the feed: ",
        [MISMATCHED_KEY] = "[tls] for the feed: ",
    };
    for (int b = 0; b < N_BREAKAGES; b++) {
        struct settings t = s;
        switch ((enum breakage)b) {
        case BAD_CONFIG: t.extra = "[feed]\nmax_lines = 4096\n"; break;
        case BAD_RULES: t.rules = f.rules_bad; break;
        case MISSING_RULES: t.rules = missing; break;
        case BAD_TOKENS: t.tokens = f.tokens_bad; break;
        case BAD_CERT: t.cert = f.garbage; break;
        case MISMATCHED_KEY: t.key = f.other_key; break;
        case N_BREAKAGES: break;
        }
        write_conf(&f, &t);
        struct service_reload r;
        char err[1400] = "";
        ck_assert_int_eq(service_reload_prepare(cur, f.conf, &r, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, want[b]) != NULL, "case %d: '%s' lacks '%s'", b, err, want[b]);
        ck_assert_ptr_null(r.next.cfg);
        ck_assert_ptr_null(r.next.rs);
        ck_assert_ptr_null(r.changes);

        char *log;
        ck_assert_int_eq(reload_logged(&f, svc, &log), -1);
        ck_assert_logged(log, want[b]);
        ck_assert_logged(log, "; nothing was changed");
        ck_assert(strstr(log, "reload: done") == NULL);
        ck_assert(strstr(log, "reload: feed.max_line") == NULL);
        free(log);
        /* Everything as it was: the same objects, the same values. */
        ck_assert_ptr_eq(cur->cfg, cfg);
        ck_assert_ptr_eq(cur->rs, rs);
        ck_assert_ptr_eq(cur->tokens, tokens);
        ck_assert_ptr_eq(cur->tls_feed, tls_feed);
        ck_assert_uint_eq(cur->cfg->feed_max_line, 65536);
        ck_assert_str_eq(ruleset_version(cur->rs), f.v1);
        ck_assert_int_eq(tokens_lookup(cur->tokens, "old-token-0000000001", NULL), ROLE_OPS);
        ck_assert_int_eq(tokens_lookup(cur->tokens, "new-token-0000000002", NULL), ROLE_NONE);
        ck_assert_str_eq(tls_describe(cur->tls_feed), describe);
    }

    /* Mended, the same change goes through. */
    write_conf(&f, &s);
    char *log;
    ck_assert_int_eq(reload_logged(&f, svc, &log), 3);
    free(log);
    ck_assert_uint_eq(cur->cfg->feed_max_line, 131072);
    ck_assert_str_eq(ruleset_version(cur->rs), f.v2);
    service_free(svc);
    fixture_remove(&f);
}
END_TEST

START_TEST(certificate_renewed_in_place)
{
    struct fixture f;
    fixture_make(&f);
    struct settings s = defaults(&f);
    write_conf(&f, &s);
    struct service *svc = service_from(&f);
    const struct service_state *cur = service_current(svc);
    const struct tls *tls_feed = cur->tls_feed;
    ck_assert_ptr_nonnull(strstr(tls_describe(tls_feed), "fcrd-one.test"));

    make_server_cert(f.crt, f.key, "fcrd-two.test");
    char *log;
    ck_assert_int_eq(reload_logged(&f, svc, &log), 0);
    ck_assert_logged(log, "reload: feed TLS: certificate CN=fcrd-two.test");
    free(log);
    ck_assert_ptr_eq(cur->tls_feed, tls_feed);
    ck_assert_ptr_nonnull(strstr(tls_describe(cur->tls_feed), "fcrd-two.test"));
    service_free(svc);
    fixture_remove(&f);
}
END_TEST

START_TEST(start_refuses_what_reload_refuses)
{
    struct fixture f;
    fixture_make(&f);
    struct settings s = defaults(&f);
    s.tokens = f.tokens_bad;
    write_conf(&f, &s);
    char err[1400] = "";
    ck_assert_ptr_null(service_new(f.conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "[api] tokens: ") == err, "%s", err);
    s = defaults(&f);
    s.key = f.other_key;
    write_conf(&f, &s);
    ck_assert_ptr_null(service_new(f.conf, err, sizeof(err)));
    ck_assert_msg(strstr(err, "[tls] for the feed: ") == err, "%s", err);
    ck_assert_ptr_null(service_free(NULL));
    fixture_remove(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("service_reload");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, good_change_applied_and_named);
    tcase_add_test(tc, restart_settings_reported_and_kept);
    tcase_add_test(tc, broken_reload_changes_nothing);
    tcase_add_test(tc, certificate_renewed_in_place);
    tcase_add_test(tc, start_refuses_what_reload_refuses);
    suite_add_tcase(s, tc);
    return check_run(s);
}
