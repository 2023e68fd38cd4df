/* fcrctl_http.h: one HTTP/1.1 connection to the supervisor API (libevent's evhttp client, over
 * TLS for https), and the pure helpers around it: URL checks, percent-encoding, status to exit
 * status. */
#ifndef FCRCTL_HTTP_H
#define FCRCTL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "fcrctl_tls.h"

struct fcrctl_http;

/* A reply. body is malloc'd and NUL-terminated (empty when none came); owned by the reply and
 * released by fcrctl_http_reply_clear. status is 0 when no HTTP reply arrived at all, and then
 * error says why. */
struct fcrctl_http_reply {
    int status;
    char *body;
    size_t len;
    char error[512];
};

/* fcrctl_http_new: check url (http or https, no credentials, query or fragment) and the token
 * (may be NULL: requests then go without Authorization) and prepare a connection; nothing is
 * sent yet. The token is copied. tls (may be NULL: the defaults) says how an https URL's server
 * is checked and whether a client certificate is shown; its files are read here. With an http
 * URL it must set nothing. Returns 0 and *out, or FCRCTL_EXIT_USAGE / FCRCTL_EXIT_FAILURE with a
 * message in err. */
int fcrctl_http_new(struct fcrctl_http **out, const char *url, const char *token, int timeout_s,
                    const struct fcrctl_tls_options *tls, char *err, size_t errlen);
struct fcrctl_http *fcrctl_http_free(struct fcrctl_http *h); /* NULL-safe, returns NULL */

/* fcrctl_http_request: send one request and run the event loop until its reply. method is
 * "GET" or "POST"; target is the path and query below the base URL ("/v1/pending?limit=5");
 * body (POST only, may be NULL) is sent as application/json. Fills *reply (clear it after use).
 * Returns 0 when an HTTP reply arrived, whatever its status; -1 when none did. */
int fcrctl_http_request(struct fcrctl_http *h, const char *method, const char *target, const char *body,
                        struct fcrctl_http_reply *reply);
void fcrctl_http_reply_clear(struct fcrctl_http_reply *reply);

/* Receives a streamed reply's body piece by piece (data borrowed, not NUL-terminated, cut
 * anywhere); returns 0 to go on, anything else to take no more (the rest is read and dropped). */
typedef int (*fcrctl_http_chunk_fn)(void *arg, const char *data, size_t len);

/* fcrctl_http_stream: as fcrctl_http_request, except that a 200 reply's body is handed to chunk
 * as it arrives, with no limit on its length, and reply->body stays empty; the body of any other
 * status is collected in reply->body as usual. The timeout applies to each wait for more. When
 * chunk refused a piece, returns -1 once the reply has ended, with reply->error "stopped". */
int fcrctl_http_stream(struct fcrctl_http *h, const char *method, const char *target, const char *body,
                       fcrctl_http_chunk_fn chunk, void *arg, struct fcrctl_http_reply *reply);

/* fcrctl_http_encode: s percent-encoded for a path segment or a query value: everything but
 * RFC 3986's unreserved characters is encoded, so "/" becomes %2F. Malloc'd; NULL if out of
 * memory. */
char *fcrctl_http_encode(const char *s);

/* fcrctl_http_query_add: append "?name=value" (or "&name=value" once a query has begun) to the
 * malloc'd *target, value percent-encoded. Returns 0, or -1 out of memory (*target unchanged). */
int fcrctl_http_query_add(char **target, const char *name, const char *value);

/* fcrctl_http_exit_code: the fcrctl exit status for an HTTP status (0 for no reply). */
int fcrctl_http_exit_code(int status);

/* fcrctl_http_has_token: whether requests carry a bearer token. */
bool fcrctl_http_has_token(const struct fcrctl_http *h);

#endif
