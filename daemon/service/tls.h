/* tls.h: server-side TLS for the feed and the API (OpenSSL through libevent's
 * bufferevent_openssl), with optional client certificates checked against a CA and a list of
 * allowed subjects. */
#ifndef FCRD_TLS_H
#define FCRD_TLS_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

struct tls;

struct tls_params {
    const char *cert;      /* PEM: the server certificate, then any intermediates */
    const char *key;       /* PEM: its private key */
    const char *client_ca; /* PEM: CAs that issue client certificates; NULL: none are asked for */
    /* With client_ca: the subjects allowed, ';'-separated, each in the one-line RFC 2253 form
     * ("CN=room-a,O=Example Police,C=GB", as `openssl x509 -noout -subject -nameopt RFC2253`
     * prints it; "\;" stands for a ';' inside a value), or "*" for any certificate the CAs
     * issued. */
    const char *client_subjects;
};

/* tls_new: read the files and build the context. Returns 0 and *out (caller frees), or -1 with
 * a message naming the file and OpenSSL's reason in err. */
int tls_new(struct tls **out, const struct tls_params *p, char *err, size_t errlen);
struct tls *tls_free(struct tls *t); /* NULL-safe; returns NULL */

/* tls_adopt: take over fresh's certificate, key, CAs and subjects for the handshakes that start
 * from now on; fresh is freed. Connections already open keep what they began with. This is how
 * a reload re-reads the certificates: build a fresh one with tls_new, and adopt it only once
 * everything else in the new configuration has loaded too. */
void tls_adopt(struct tls *live, struct tls *fresh);

/* tls_accept: a bufferevent that runs the server side of a handshake on fd (taken: closed on
 * free, also when NULL is returned). A peer that closes without close_notify is treated as an
 * ordinary end of stream. */
struct bufferevent *tls_accept(struct tls *t, struct event_base *base, evutil_socket_t fd, int options);

/* tls_http_bevcb: for evhttp_set_bevcb(http, tls_http_bevcb, t): every API connection speaks TLS. */
struct bufferevent *tls_http_bevcb(struct event_base *base, void *t);

/* tls_subject_allowed: whether a client certificate with this subject (RFC 2253 one-line form)
 * passes the subject list. */
bool tls_subject_allowed(const struct tls *t, const char *subject);

/* tls_peer_subject: the peer certificate's subject, or "" when there is none. */
void tls_peer_subject(struct bufferevent *bev, char *buf, size_t len);

/* tls_failure: why the handshake on bev failed, in words (OpenSSL's error, and the certificate
 * check's verdict when a client certificate was refused). */
void tls_failure(struct bufferevent *bev, char *buf, size_t len);

/* tls_describe: "subject ..., valid until ..." of the server certificate, for the log. */
const char *tls_describe(const struct tls *t);

/* tls_not_after: when the server certificate expires, in seconds since the epoch. */
double tls_not_after(const struct tls *t);

#endif
