/* fcrctl_tls.c: fcrctl's TLS client: trust, client certificate, host-name checks, and why a
 * handshake failed. */
#include "fcrctl_tls.h"

#include <arpa/inet.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/errbuf.h"
#include "util/sslerr.h"

/* The first certificate problem of the handshake under way is kept here by the verify callback:
 * by the time evhttp reports the failure, the SSL may have been reset for a reconnection, and
 * its own verify result with it. */
struct fcrctl_tls {
    SSL_CTX *ctx;
    bool insecure;
    long verify_error; /* X509_V_OK while nothing failed */
    int verify_depth;
    char verify_subject[256];
    int alert; /* the fatal alert the server sent, or -1 */
    bool has_cert;       /* we show a client certificate */
    bool cert_requested; /* the server asked for one */
};

bool fcrctl_tls_options_any(const struct fcrctl_tls_options *o)
{
    return o && (o->ca || o->cert || o->key || o->insecure);
}

static int fcrctl_tls_verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
    if (preverify_ok)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct fcrctl_tls *t = ssl ? SSL_get_app_data(ssl) : NULL;
    if (t && t->verify_error == X509_V_OK) {
        t->verify_error = X509_STORE_CTX_get_error(store);
        t->verify_depth = X509_STORE_CTX_get_error_depth(store);
        X509 *cert = X509_STORE_CTX_get_current_cert(store);
        t->verify_subject[0] = '\0';
        if (cert)
            X509_NAME_oneline(X509_get_subject_name(cert), t->verify_subject, (int)sizeof(t->verify_subject));
    }
    return 0;
}

/* The server's fatal alert, kept the same way: with TLS 1.3 a refused client certificate is
 * reported only after our side of the handshake is done, by an alert in answer to the request,
 * and libevent drops the error queue when evhttp resets the connection. */
static void fcrctl_tls_info_cb(const SSL *ssl, int where, int ret)
{
    struct fcrctl_tls *t = SSL_get_app_data(ssl);
    if (t && (where & SSL_CB_READ_ALERT) && (ret >> 8) == SSL3_AL_FATAL && t->alert < 0)
        t->alert = ret & 0xff;
}

/* Whether the server asked for a client certificate: when it then closes without an alert (it
 * may, if the request was on its way when it did, so that our read finds a reset), this is the
 * best clue to why. */
static void fcrctl_tls_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                              void *arg)
{
    (void)version;
    (void)arg;
    struct fcrctl_tls *t = SSL_get_app_data(ssl);
    if (t && !write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const unsigned char *)buf)[0] == SSL3_MT_CERTIFICATE_REQUEST)
        t->cert_requested = true;
}

int fcrctl_tls_new(struct fcrctl_tls **out, const struct fcrctl_tls_options *o, char *err, size_t errlen)
{
    *out = NULL;
    ERR_clear_error();
    struct fcrctl_tls *t = calloc(1, sizeof(*t));
    if (!t)
        return errbuf_set(err, errlen, "out of memory");
    t->insecure = o->insecure;
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ctx) {
        sslerr_fail(err, errlen, "cannot create a TLS context", "");
        goto refuse;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION);
    if (o->ca) {
        /* Only this CA: an API certificate from a private CA should not also be accepted when some
         * public CA issued one for the same name. */
        if (access(o->ca, R_OK) != 0) {
            errbuf_set(err, errlen, "--ca %s: cannot read it", o->ca);
            goto refuse;
        }
        if (SSL_CTX_load_verify_locations(t->ctx, o->ca, NULL) != 1) {
            sslerr_fail(err, errlen, "--ca", o->ca);
            goto refuse;
        }
    } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        sslerr_fail(err, errlen, "cannot load the system's CA certificates", "");
        goto refuse;
    }
    if (o->cert) {
        if (access(o->cert, R_OK) != 0) {
            errbuf_set(err, errlen, "--cert %s: cannot read it", o->cert);
            goto refuse;
        }
        if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert) != 1) {
            sslerr_fail(err, errlen, "--cert", o->cert);
            goto refuse;
        }
        if (!o->key) {
            errbuf_set(err, errlen, "a client certificate needs its key: $FCRD_KEY (or --key FILE) is not set");
            goto refuse;
        }
        if (access(o->key, R_OK) != 0) {
            errbuf_set(err, errlen, "--key %s: cannot read it", o->key);
            goto refuse;
        }
        if (SSL_CTX_use_PrivateKey_file(t->ctx, o->key, SSL_FILETYPE_PEM) != 1) {
            if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
                ERR_clear_error();
                errbuf_set(err, errlen, "--key %s does not match the certificate %s", o->key, o->cert);
            } else {
                sslerr_fail(err, errlen, "--key", o->key);
            }
            goto refuse;
        }
    }
    SSL_CTX_set_verify(t->ctx, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                       o->insecure ? NULL : fcrctl_tls_verify_cb);
    SSL_CTX_set_info_callback(t->ctx, fcrctl_tls_info_cb);
    SSL_CTX_set_msg_callback(t->ctx, fcrctl_tls_msg_cb);
    t->has_cert = o->cert != NULL;
    *out = t;
    return 0;
refuse:
    fcrctl_tls_free(t);
    return -1;
}

struct fcrctl_tls *fcrctl_tls_free(struct fcrctl_tls *t)
{
    if (!t)
        return NULL;
    SSL_CTX_free(t->ctx); /* a live connection's SSL holds its own reference */
    free(t);
    return NULL;
}

/* fcrctl_tls_is_ip: whether host is an IP address literal (checked against the certificate's
 * IP addresses, and never sent as SNI, which RFC 6066 keeps for names). */
static bool fcrctl_tls_is_ip(const char *host)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

struct bufferevent *fcrctl_tls_bufferevent(struct fcrctl_tls *t, struct event_base *base, const char *host)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl)
        return NULL;
    SSL_set_app_data(ssl, t);
    t->verify_error = X509_V_OK;
    t->alert = -1;
    t->cert_requested = false;
    bool ip = fcrctl_tls_is_ip(host);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
                : SSL_set1_host(ssl, host) == 1 && SSL_set_tlsext_host_name(ssl, host) == 1;
    if (!ok) {
        SSL_free(ssl);
        return NULL;
    }
    if (!ip) /* the name itself, not a wildcard's parent domain */
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    /* fcrd may close an idle keep-alive connection without close_notify; HTTP's own framing says
     * where a reply ends, so that is no attack on its integrity. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

bool fcrctl_tls_failure(struct fcrctl_tls *t, struct bufferevent *bev, const char *host, char *buf, size_t len)
{
    char reason[512] = "";
    size_t used = 0;
    unsigned long e;
    while (bev && (e = bufferevent_get_openssl_error(bev)) != 0) {
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
    if (t->verify_error == X509_V_ERR_HOSTNAME_MISMATCH || t->verify_error == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        snprintf(buf, len,
                 "certificate verify failed: hostname mismatch: the server's certificate does not name %s "
                 "(use a name in the URL that the certificate lists)", host);
        return true;
    }
    if (t->verify_error != X509_V_OK) {
        long v = t->verify_error;
        bool unknown_ca = v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
                          v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
                          v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
        snprintf(buf, len, "certificate verify failed: %s (certificate %s, depth %d)%s",
                 X509_verify_cert_error_string(v), t->verify_subject[0] ? t->verify_subject : "?", t->verify_depth,
                 unknown_ca ? "; give the CA that issued the server's certificate with --ca FILE" : "");
        return true;
    }
    if (t->alert >= 0) {
        /* the alerts a server sends when it does not accept our certificate, or its absence */
        bool about_us = t->alert == TLS13_AD_CERTIFICATE_REQUIRED || t->alert == SSL_AD_HANDSHAKE_FAILURE ||
                        t->alert == SSL_AD_BAD_CERTIFICATE || t->alert == SSL_AD_UNKNOWN_CA ||
                        t->alert == SSL_AD_CERTIFICATE_UNKNOWN || t->alert == SSL_AD_ACCESS_DENIED;
        snprintf(buf, len, "TLS failed: the server refused the connection (alert: %s)%s",
                 SSL_alert_desc_string_long(t->alert),
                 about_us ? "; it wants a client certificate it accepts: give --cert FILE and --key FILE" : "");
        return true;
    }
    if (t->cert_requested) {
        snprintf(buf, len, "TLS failed: the server asked for a client certificate and closed the connection%s",
                 t->has_cert ? "; it does not accept the one given (check --cert FILE and --key FILE)"
                             : ", and none was given: give --cert FILE and --key FILE");
        return true;
    }
    if (!reason[0])
        return false;
    snprintf(buf, len, "TLS failed: %s", reason);
    return true;
}
