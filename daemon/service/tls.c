/* tls.c: server TLS contexts for the feed and the API, client-certificate checks, and the
 * bufferevents that carry the handshakes. */
#include "service/tls.h"

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/errbuf.h"
#include "util/sslerr.h"

/* One live context. The struct outlives every connection (the daemon frees its listeners
 * first), so each SSL points back to it and the certificate check reads the subject list in
 * force when the handshake happens. */
struct tls {
    SSL_CTX *ctx;
    bool client_certs;  /* a client certificate is required */
    bool any_subject;   /* "*": whatever the CAs issued */
    char **subjects;
    size_t nsubjects;
    double not_after;
    char describe[512];
};

/* ---- subjects ------------------------------------------------------------------------------- */

static void subjects_free(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

/* subjects_parse: split at each ';' not escaped as "\;", unescape, trim blanks. */
static int subjects_parse(struct tls *t, const char *text, char *err, size_t errlen)
{
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ';';
    t->subjects = calloc(cap, sizeof(*t->subjects));
    char *item = malloc(strlen(text) + 1);
    if (!t->subjects || !item) {
        free(item);
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    const char *p = text;
    for (;;) {
        size_t n = 0;
        while (*p && *p != ';') {
            if (p[0] == '\\' && p[1] == ';')
                p++;
            item[n++] = *p++;
        }
        item[n] = '\0';
        char *s = item;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t len = strlen(s);
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            s[--len] = '\0';
        if (strcmp(s, "*") == 0) {
            t->any_subject = true;
        } else if (*s) {
            t->subjects[t->nsubjects] = strdup(s);
            if (!t->subjects[t->nsubjects]) {
                free(item);
                errbuf_set(err, errlen, "out of memory");
                return -1;
            }
            t->nsubjects++;
        }
        if (!*p)
            break;
        p++;
    }
    free(item);
    if (!t->any_subject && t->nsubjects == 0) {
        errbuf_set(err, errlen, "no client certificate subject is allowed (give the subjects, or * for any)");
        return -1;
    }
    return 0;
}

bool tls_subject_allowed(const struct tls *t, const char *subject)
{
    if (!t->client_certs || t->any_subject)
        return true;
    for (size_t i = 0; i < t->nsubjects; i++)
        if (strcmp(t->subjects[i], subject) == 0)
            return true;
    return false;
}

/* name_text: a distinguished name in the RFC 2253 one-line form. */
static void name_text(const X509_NAME *name, char *buf, size_t len)
{
    buf[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return;
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(b, buf, (int)len - 1);
        buf[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
}

/* The client certificate's last check: after the CA chain verified, its subject must be listed. */
static int verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
    if (!preverify_ok)
        return 0;
    if (X509_STORE_CTX_get_error_depth(store) != 0)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct tls *t = ssl ? SSL_get_app_data(ssl) : NULL;
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    if (!t || !cert)
        return 0;
    char subject[1024];
    name_text(X509_get_subject_name(cert), subject, sizeof(subject));
    if (tls_subject_allowed(t, subject))
        return 1;
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

/* ---- contexts ------------------------------------------------------------------------------- */

static double asn1_time_epoch(const ASN1_TIME *at)
{
    struct tm tm;
    if (!at || ASN1_TIME_to_tm(at, &tm) != 1)
        return 0;
    return (double)timegm(&tm);
}

int tls_new(struct tls **out, const struct tls_params *p, char *err, size_t errlen)
{
    *out = NULL;
    ERR_clear_error();
    struct tls *t = calloc(1, sizeof(*t));
    if (!t) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }
    t->ctx = SSL_CTX_new(TLS_server_method());
    if (!t->ctx) {
        sslerr_fail(err, errlen, "cannot create a TLS context", "");
        goto refuse;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    /* A peer that closes without close_notify is an ordinary end of stream, as on a plain socket:
     * the feed's framing does not rely on TLS for where a line ends. */
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                    SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (access(p->cert, R_OK) != 0) {
        errbuf_set(err, errlen, "certificate %s: cannot read it", p->cert);
        goto refuse;
    }
    if (SSL_CTX_use_certificate_chain_file(t->ctx, p->cert) != 1) {
        sslerr_fail(err, errlen, "certificate", p->cert);
        goto refuse;
    }
    if (access(p->key, R_OK) != 0) {
        errbuf_set(err, errlen, "private key %s: cannot read it", p->key);
        goto refuse;
    }
    if (SSL_CTX_use_PrivateKey_file(t->ctx, p->key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            errbuf_set(err, errlen, "private key %s does not match the certificate %s", p->key, p->cert);
        } else {
            sslerr_fail(err, errlen, "private key", p->key);
        }
        goto refuse;
    }
    if (SSL_CTX_check_private_key(t->ctx) != 1) {
        sslerr_fail(err, errlen, "private key does not match the certificate:", p->key);
        goto refuse;
    }
    if (p->client_ca) {
        if (access(p->client_ca, R_OK) != 0) {
            errbuf_set(err, errlen, "client CA file %s: cannot read it", p->client_ca);
            goto refuse;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(p->client_ca);
        if (!names || SSL_CTX_load_verify_locations(t->ctx, p->client_ca, NULL) != 1) {
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            sslerr_fail(err, errlen, "client CA file", p->client_ca);
            goto refuse;
        }
        SSL_CTX_set_client_CA_list(t->ctx, names); /* takes names */
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
        t->client_certs = true;
        if (subjects_parse(t, p->client_subjects ? p->client_subjects : "*", err, errlen) != 0)
            goto refuse;
    }
    X509 *cert = SSL_CTX_get0_certificate(t->ctx);
    char subject[384] = "";
    if (cert) {
        name_text(X509_get_subject_name(cert), subject, sizeof(subject));
        t->not_after = asn1_time_epoch(X509_get0_notAfter(cert));
    }
    char until[32] = "?";
    time_t na = (time_t)t->not_after;
    struct tm tm;
    if (t->not_after > 0 && gmtime_r(&na, &tm))
        strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(t->describe, sizeof(t->describe), "certificate %s, valid until %s%s", subject, until,
             t->client_certs ? (t->any_subject ? "; client certificates required (any subject)"
                                               : "; client certificates required (listed subjects)")
                             : "");
    *out = t;
    return 0;
refuse:
    tls_free(t);
    return -1;
}

struct tls *tls_free(struct tls *t)
{
    if (!t)
        return NULL;
    SSL_CTX_free(t->ctx); /* open connections hold their own reference */
    subjects_free(t->subjects, t->nsubjects);
    free(t);
    return NULL;
}

void tls_adopt(struct tls *live, struct tls *fresh)
{
    struct tls old = *live;
    *live = *fresh;
    *fresh = old;
    tls_free(fresh);
}

const char *tls_describe(const struct tls *t)
{
    return t->describe;
}

double tls_not_after(const struct tls *t)
{
    return t ? t->not_after : 0;
}

/* ---- connections ---------------------------------------------------------------------------- */

static SSL *tls_session(struct tls *t)
{
    SSL *ssl = SSL_new(t->ctx);
    if (ssl)
        SSL_set_app_data(ssl, t);
    return ssl;
}

struct bufferevent *tls_accept(struct tls *t, struct event_base *base, evutil_socket_t fd, int options)
{
    SSL *ssl = tls_session(t);
    if (!ssl) {
        evutil_closesocket(fd);
        return NULL;
    }
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, options | BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        evutil_closesocket(fd);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

struct bufferevent *tls_http_bevcb(struct event_base *base, void *arg)
{
    SSL *ssl = tls_session(arg);
    if (!ssl)
        return NULL;
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

void tls_peer_subject(struct bufferevent *bev, char *buf, size_t len)
{
    buf[0] = '\0';
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    X509 *peer = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
    if (!peer)
        return;
    name_text(X509_get_subject_name(peer), buf, len);
    X509_free(peer);
}

void tls_failure(struct bufferevent *bev, char *buf, size_t len)
{
    char reason[512] = "";
    size_t used = 0;
    unsigned long e;
    while ((e = bufferevent_get_openssl_error(bev)) != 0) {
        if (ERR_GET_LIB(e) == 0)
            continue; /* a bare errno that libevent queued beside OpenSSL's own errors */
        char one[256];
        ERR_error_string_n(e, one, sizeof(one));
        if (used < sizeof(reason)) {
            int n = snprintf(reason + used, sizeof(reason) - used, "%s%s", used ? "; " : "", one);
            if (n > 0)
                used += (size_t)n;
        }
    }
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    long verdict = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (verdict != X509_V_OK) {
        char subject[384];
        tls_peer_subject(bev, subject, sizeof(subject));
        snprintf(buf, len, "client certificate refused: %s%s%s%s", X509_verify_cert_error_string(verdict),
                 subject[0] ? " (subject " : "", subject, subject[0] ? ")" : "");
    } else {
        snprintf(buf, len, "%s", reason[0] ? reason : "connection closed during the TLS handshake");
    }
}
