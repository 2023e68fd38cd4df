/* fcrctl_tls.h: the client side of TLS for fcrctl's HTTPS: the context (CAs, client certificate),
 * one SSL per connection with SNI and host-name checking, and failures put into words. */
#ifndef FCRCTL_TLS_H
#define FCRCTL_TLS_H

#include <event2/bufferevent.h>
#include <stdbool.h>
#include <stddef.h>

/* What the command line (or FCRD_CA, FCRD_CERT, FCRD_KEY) asked for. Strings are borrowed. */
struct fcrctl_tls_options {
    const char *ca;   /* PEM CA certificates to trust instead of the system's; NULL: the system store */
    const char *cert; /* PEM client certificate (then any intermediates), for mutual TLS; NULL: none */
    const char *key;  /* its PEM private key; given exactly when cert is */
    bool insecure;    /* no certificate or host-name check at all */
};

struct fcrctl_tls;

/* fcrctl_tls_options_any: whether any TLS option is set (they make sense only with https). */
bool fcrctl_tls_options_any(const struct fcrctl_tls_options *o);

/* fcrctl_tls_new: read the CA and client certificate files and build the context. Returns 0 and
 * *out (caller frees with fcrctl_tls_free), or -1 with a message naming the file in err. */
int fcrctl_tls_new(struct fcrctl_tls **out, const struct fcrctl_tls_options *o, char *err, size_t errlen);
struct fcrctl_tls *fcrctl_tls_free(struct fcrctl_tls *t); /* NULL-safe, returns NULL */

/* fcrctl_tls_bufferevent: a bufferevent (no socket yet: evhttp connects it) that runs the client
 * side of a handshake with host, which the certificate must name (a DNS name, also sent as SNI,
 * or an IP address). The bufferevent owns its SSL; NULL when out of memory. */
struct bufferevent *fcrctl_tls_bufferevent(struct fcrctl_tls *t, struct event_base *base, const char *host);

/* fcrctl_tls_failure: why the connection of bev failed, as far as TLS knows: the certificate
 * check's verdict (X509_verify_cert_error_string's words; a host-name mismatch named as such),
 * the alert the server sent, or that it asked for a client certificate and then closed. Empties
 * bev's queue of OpenSSL errors. Returns false, with buf untouched, when TLS has nothing to say
 * (the connection failed before the handshake). */
bool fcrctl_tls_failure(struct fcrctl_tls *t, struct bufferevent *bev, const char *host, char *buf, size_t len);

#endif
