/* test_tls.c: TLS contexts from certificates made at test time: loading and its errors, the
 * subject list, and real handshakes over a socket pair (accepted, refused for a missing or
 * unlisted client certificate, and after a context was adopted). */
#include <check.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "service/tls.h"
#include "check_run.h"

/* ---- certificates ---- */

struct pki {
    char dir[256];
    char ca[300], ca_key[300];
    char server[300], server_key[300];
    char room_a[300], room_a_key[300]; /* client, subject CN=room-a,O=Example Police,C=GB */
    char room_b[300], room_b_key[300]; /* client, subject CN=room-b,O=Example Police,C=GB */
    char rogue[300], rogue_key[300];   /* client, CN=room-a too, but issued by another CA */
};

static void write_key(const char *path, EVP_PKEY *k)
{
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(fp);
}

static void write_cert(const char *path, X509 *c)
{
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_eq(PEM_write_X509(fp, c), 1);
    fclose(fp);
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    ck_assert_ptr_nonnull(ext);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

/* make_cert: a certificate for key, signed by issuer (self-signed when NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca, long serial)
{
    X509 *c = X509_new();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), 86400L * 30);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "C", MBSTRING_ASC, (const unsigned char *)"GB", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Example Police", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(c, key);
    add_ext(c, issuer ? issuer : c, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (!ca)
        add_ext(c, issuer ? issuer : c, NID_subject_alt_name, "DNS:localhost");
    ck_assert_int_gt(X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()), 0);
    return c;
}

static void pki_make(struct pki *p)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(p->dir, sizeof(p->dir), "%s/fcrd-test-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(p->dir));
#define PATH(field, file) snprintf(p->field, sizeof(p->field), "%s/%s", p->dir, file)
    PATH(ca, "ca.crt");
    PATH(ca_key, "ca.key");
    PATH(server, "server.crt");
    PATH(server_key, "server.key");
    PATH(room_a, "room-a.crt");
    PATH(room_a_key, "room-a.key");
    PATH(room_b, "room-b.crt");
    PATH(room_b_key, "room-b.key");
    PATH(rogue, "rogue.crt");
    PATH(rogue_key, "rogue.key");
#undef PATH
    EVP_PKEY *ca_k = EVP_EC_gen("P-256"), *other_k = EVP_EC_gen("P-256");
    X509 *ca = make_cert(ca_k, "Test CA", NULL, NULL, true, 1);
    X509 *other = make_cert(other_k, "Other CA", NULL, NULL, true, 2);
    write_cert(p->ca, ca);
    write_key(p->ca_key, ca_k);
    struct {
        const char *cn, *crt, *key;
        X509 *issuer;
        EVP_PKEY *issuer_key;
    } leaves[] = {
        {"fcrd.test", p->server, p->server_key, ca, ca_k},
        {"room-a", p->room_a, p->room_a_key, ca, ca_k},
        {"room-b", p->room_b, p->room_b_key, ca, ca_k},
        {"room-a", p->rogue, p->rogue_key, other, other_k},
    };
    for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        EVP_PKEY *k = EVP_EC_gen("P-256");
        X509 *c = make_cert(k, leaves[i].cn, leaves[i].issuer, leaves[i].issuer_key, false, (long)(10 + i));
        write_cert(leaves[i].crt, c);
        write_key(leaves[i].key, k);
        X509_free(c);
        EVP_PKEY_free(k);
    }
    X509_free(ca);
    X509_free(other);
    EVP_PKEY_free(ca_k);
    EVP_PKEY_free(other_k);
}

static void pki_remove(struct pki *p)
{
    const char *files[] = {p->ca, p->ca_key, p->server, p->server_key, p->room_a, p->room_a_key,
                           p->room_b, p->room_b_key, p->rogue, p->rogue_key};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(files[i]);
    rmdir(p->dir);
}

#define ROOM_A "CN=room-a,O=Example Police,C=GB"
#define ROOM_B "CN=room-b,O=Example Police,C=GB"

/* ---- handshakes over a socket pair ---- */

struct side {
    bool connected, failed;
};

static void side_cb(struct bufferevent *bev, short what, void *arg)
{
    struct side *s = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        s->connected = true;
    else if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
        s->failed = true;
}

static void give_up_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopexit(arg, NULL);
}

/* handshake: the server side through tls_accept, a client presenting cert/key (NULL: none).
 * Returns true when the server saw the handshake complete; why gets tls_failure otherwise. */
static bool handshake(struct tls *t, const char *ca, const char *cert, const char *key, char *subject,
                      char *why, size_t whylen)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    struct event_base *base = event_base_new();
    struct side server = {0}, client = {0};
    struct bufferevent *sb = tls_accept(t, base, sv[0], 0);
    ck_assert_ptr_nonnull(sb);
    bufferevent_setcb(sb, NULL, NULL, side_cb, &server);
    bufferevent_enable(sb, EV_READ | EV_WRITE);

    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    ck_assert_int_eq(SSL_CTX_load_verify_locations(cctx, ca, NULL), 1);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    if (cert) {
        ck_assert_int_eq(SSL_CTX_use_certificate_file(cctx, cert, SSL_FILETYPE_PEM), 1);
        ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(cctx, key, SSL_FILETYPE_PEM), 1);
    }
    SSL *ssl = SSL_new(cctx);
    SSL_set_tlsext_host_name(ssl, "localhost");
    struct bufferevent *cb =
        bufferevent_openssl_socket_new(base, sv[1], ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    ck_assert_ptr_nonnull(cb);
    bufferevent_setcb(cb, NULL, NULL, side_cb, &client);
    bufferevent_enable(cb, EV_READ | EV_WRITE);

    struct event *give_up = evtimer_new(base, give_up_cb, base);
    struct timeval tv = {0, 100 * 1000};
    for (int i = 0; i < 50 && !server.connected && !server.failed; i++) {
        evtimer_add(give_up, &tv);
        event_base_loop(base, EVLOOP_ONCE);
    }
    if (subject)
        tls_peer_subject(sb, subject, 512);
    if (why) {
        why[0] = '\0';
        if (server.failed)
            tls_failure(sb, why, whylen);
    }
    bool ok = server.connected && !server.failed;
    event_free(give_up);
    bufferevent_free(cb);
    bufferevent_free(sb);
    SSL_CTX_free(cctx);
    event_base_free(base);
    return ok;
}

/* ---- tests ---- */

START_TEST(load_and_describe)
{
    struct pki p;
    pki_make(&p);
    struct tls *t = NULL;
    char err[512];
    struct tls_params tp = {p.server, p.server_key, NULL, NULL};
    ck_assert_msg(tls_new(&t, &tp, err, sizeof(err)) == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(tls_describe(t), "CN=fcrd.test,O=Example Police,C=GB"));
    ck_assert_ptr_nonnull(strstr(tls_describe(t), "valid until 20"));
    double now = (double)time(NULL);
    ck_assert(tls_not_after(t) > now + 29 * 86400.0 && tls_not_after(t) < now + 31 * 86400.0);
    ck_assert(tls_subject_allowed(t, "anything")); /* no client certificates asked for */
    ck_assert_ptr_null(tls_free(t));
    ck_assert_ptr_null(tls_free(NULL));
    ck_assert(tls_not_after(NULL) == 0);
    pki_remove(&p);
}
END_TEST

static void expect_load_error(const struct tls_params *tp, const char *want)
{
    struct tls *t = (struct tls *)1;
    char err[1024] = "";
    ck_assert_int_eq(tls_new(&t, tp, err, sizeof(err)), -1);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
}

START_TEST(load_errors)
{
    struct pki p;
    pki_make(&p);
    char missing[400];
    snprintf(missing, sizeof(missing), "%s/none.crt", p.dir);
    expect_load_error(&(struct tls_params){missing, p.server_key, NULL, NULL}, "none.crt: cannot read it");
    expect_load_error(&(struct tls_params){p.server, missing, NULL, NULL}, "none.crt: cannot read it");
    /* a key that belongs to another certificate */
    expect_load_error(&(struct tls_params){p.server, p.room_a_key, NULL, NULL}, "does not match");
    /* not PEM at all */
    expect_load_error(&(struct tls_params){p.server_key, p.server_key, NULL, NULL}, "certificate");
    expect_load_error(&(struct tls_params){p.server, p.server, NULL, NULL}, "private key");
    expect_load_error(&(struct tls_params){p.server, p.server_key, missing, "*"}, "client CA file");
    expect_load_error(&(struct tls_params){p.server, p.server_key, p.server_key, "*"}, "client CA file");
    expect_load_error(&(struct tls_params){p.server, p.server_key, p.ca, " ; ;"}, "no client certificate subject");
    pki_remove(&p);
}
END_TEST

START_TEST(subject_list)
{
    struct pki p;
    pki_make(&p);
    struct tls *t = NULL;
    char err[512];
    struct tls_params tp = {p.server, p.server_key, p.ca, " " ROOM_A " ;CN=odd\\;name,O=X ; "};
    ck_assert_msg(tls_new(&t, &tp, err, sizeof(err)) == 0, "%s", err);
    ck_assert(tls_subject_allowed(t, ROOM_A));
    ck_assert(tls_subject_allowed(t, "CN=odd;name,O=X"));
    ck_assert(!tls_subject_allowed(t, ROOM_B));
    ck_assert(!tls_subject_allowed(t, "CN=room-a"));
    ck_assert(!tls_subject_allowed(t, ""));
    ck_assert_ptr_nonnull(strstr(tls_describe(t), "listed subjects"));
    tls_free(t);
    tp.client_subjects = "*";
    ck_assert_int_eq(tls_new(&t, &tp, err, sizeof(err)), 0);
    ck_assert(tls_subject_allowed(t, ROOM_B));
    tls_free(t);
    pki_remove(&p);
}
END_TEST

START_TEST(handshakes)
{
    struct pki p;
    pki_make(&p);
    char err[512], why[1024], subject[512];

    /* Server certificate only: any client may connect. */
    struct tls *plain = NULL;
    ck_assert_int_eq(tls_new(&plain, &(struct tls_params){p.server, p.server_key, NULL, NULL}, err, sizeof(err)),
                     0);
    ck_assert(handshake(plain, p.ca, NULL, NULL, subject, why, sizeof(why)));
    ck_assert_str_eq(subject, "");
    tls_free(plain);

    /* Mutual: only room-a, issued by the CA. */
    struct tls *t = NULL;
    ck_assert_int_eq(tls_new(&t, &(struct tls_params){p.server, p.server_key, p.ca, ROOM_A}, err, sizeof(err)), 0);
    ck_assert_msg(handshake(t, p.ca, p.room_a, p.room_a_key, subject, why, sizeof(why)), "refused: %s", why);
    ck_assert_str_eq(subject, ROOM_A);
    ck_assert(!handshake(t, p.ca, p.room_b, p.room_b_key, NULL, why, sizeof(why)));
    ck_assert_msg(strstr(why, "client certificate refused") && strstr(why, "application verification"), "%s", why);
    ck_assert(!handshake(t, p.ca, NULL, NULL, NULL, why, sizeof(why)));
    ck_assert(!handshake(t, p.ca, p.rogue, p.rogue_key, NULL, why, sizeof(why)));
    ck_assert_msg(strstr(why, "client certificate refused"), "%s", why);

    /* A reload: room-b is allowed from now on, room-a no longer. */
    struct tls *fresh = NULL;
    ck_assert_int_eq(tls_new(&fresh, &(struct tls_params){p.server, p.server_key, p.ca, ROOM_B}, err, sizeof(err)),
                     0);
    tls_adopt(t, fresh);
    ck_assert(handshake(t, p.ca, p.room_b, p.room_b_key, NULL, why, sizeof(why)));
    ck_assert(!handshake(t, p.ca, p.room_a, p.room_a_key, NULL, why, sizeof(why)));
    tls_free(t);
    pki_remove(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, load_and_describe);
    tcase_add_test(tc, load_errors);
    tcase_add_test(tc, subject_list);
    tcase_add_test(tc, handshakes);
    suite_add_tcase(s, tc);
    return check_run(s);
}
