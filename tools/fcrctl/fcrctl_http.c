/* fcrctl_http.c: fcrctl's HTTP client: one evhttp connection (plain, or over TLS for https),
 * the loop run until each reply. */
#include "fcrctl_http.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcrctl.h"
#include "fcrctl_tls.h"
#include "util/errbuf.h"

/* The largest reply accepted: a page of 1,000 audit entries is a few megabytes; this only
 * stops a confused server from filling the memory. */
#define FCRCTL_HTTP_MAX_BODY ((ev_ssize_t)64 * 1024 * 1024)
#define FCRCTL_HTTP_DEFAULT_TIMEOUT 30

struct fcrctl_http {
    struct event_base *base;
    struct evhttp_connection *conn;
    char *connect_host; /* the host as the resolver wants it: IPv6 without brackets */
    char *host_header;  /* host[:port] as the URL spelled it */
    char *prefix;       /* the URL's path, without a trailing '/' ("" for none) */
    char *authorization; /* "Bearer ..." or NULL */
    int port;
    int timeout;
    struct fcrctl_tls *tls; /* NULL for http */
};

/* One request in flight: what the callbacks report back to fcrctl_http_request. */
struct fcrctl_http_call {
    struct fcrctl_http *h;
    struct fcrctl_http_reply *reply;
    bool done;
    bool errored; /* the error callback ran: error says what went wrong */
    enum evhttp_request_error error;
    char tls_error[400]; /* why TLS failed, when it did */
    /* a streamed request: a 200 reply's body goes to chunk as it arrives; any other reply's
     * body is held here and becomes the reply's body */
    fcrctl_http_chunk_fn chunk;
    void *chunk_arg;
    struct evbuffer *held;
    bool chunk_stop; /* chunk asked to stop */
};

static int fcrctl_http_fail(char *err, size_t errlen, int code, const char *msg, const char *detail)
{
    errbuf_set(err, errlen, "%s%s%s", msg, detail ? ": " : "", detail ? detail : "");
    return code;
}

static bool fcrctl_http_token_ok(const char *t)
{
    if (!*t)
        return false;
    for (; *t; t++)
        if (*t < 0x21 || *t > 0x7e) /* no spaces or controls: a header must not be split */
            return false;
    return true;
}

int fcrctl_http_new(struct fcrctl_http **out, const char *url, const char *token, int timeout_s,
                    const struct fcrctl_tls_options *tls, char *err, size_t errlen)
{
    *out = NULL;
    struct evhttp_uri *u = evhttp_uri_parse(url);
    if (!u)
        return fcrctl_http_fail(err, errlen, FCRCTL_EXIT_USAGE, "not a URL", url);
    const char *scheme = evhttp_uri_get_scheme(u);
    const char *host = evhttp_uri_get_host(u);
    const char *path = evhttp_uri_get_path(u);
    int port = evhttp_uri_get_port(u);
    int rc = 0;
    bool https = scheme && strcmp(scheme, "https") == 0;
    if (!scheme || (strcmp(scheme, "http") != 0 && !https))
        rc = fcrctl_http_fail(err, errlen, FCRCTL_EXIT_USAGE, "the URL must begin with http:// or https://", url);
    else if (!https && fcrctl_tls_options_any(tls))
        rc = fcrctl_http_fail(err, errlen, FCRCTL_EXIT_USAGE,
                              "--ca, --cert, --key and --insecure need an https:// URL", url);
    else if (!host || !*host)
        rc = fcrctl_http_fail(err, errlen, FCRCTL_EXIT_USAGE, "the URL names no host", url);
    else if (evhttp_uri_get_userinfo(u))
        rc = fcrctl_http_fail(err, errlen, FCRCTL_EXIT_USAGE,
                              "the URL holds credentials; give the token in FCRD_TOKEN or --token-file instead", NULL);
    else if (evhttp_uri_get_query(u) || evhttp_uri_get_fragment(u))
        rc = fcrctl_http_fail(err, errlen, FCRCTL_EXIT_USAGE, "the URL must not hold a query or fragment", url);
    else if (token && !fcrctl_http_token_ok(token))
        rc = fcrctl_http_fail(err, errlen, FCRCTL_EXIT_USAGE,
                              "the token is empty or holds spaces or control characters", NULL);
    if (rc) {
        evhttp_uri_free(u);
        return rc;
    }

    struct fcrctl_http *h = calloc(1, sizeof(*h));
    if (!h) {
        evhttp_uri_free(u);
        return fcrctl_http_fail(err, errlen, FCRCTL_EXIT_FAILURE, "out of memory", NULL);
    }
    h->port = port > 0 ? port : https ? 443 : 80;
    h->timeout = timeout_s > 0 ? timeout_s : FCRCTL_HTTP_DEFAULT_TIMEOUT;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
        h->connect_host = strndup(host + 1, hl - 2);
    else
        h->connect_host = strdup(host);
    if (port > 0) {
        if (asprintf(&h->host_header, "%s:%d", host, port) < 0)
            h->host_header = NULL;
    } else {
        h->host_header = strdup(host);
    }
    size_t pl = path ? strlen(path) : 0;
    while (pl > 0 && path[pl - 1] == '/')
        pl--;
    h->prefix = strndup(path ? path : "", pl);
    if (token && asprintf(&h->authorization, "Bearer %s", token) < 0)
        h->authorization = NULL;
    evhttp_uri_free(u);
    if (!h->connect_host || !h->host_header || !h->prefix || (token && !h->authorization)) {
        fcrctl_http_free(h);
        return fcrctl_http_fail(err, errlen, FCRCTL_EXIT_FAILURE, "out of memory", NULL);
    }
    if (https) {
        static const struct fcrctl_tls_options none = {0};
        if (fcrctl_tls_new(&h->tls, tls ? tls : &none, err, errlen) != 0) {
            fcrctl_http_free(h);
            return FCRCTL_EXIT_USAGE; /* a file that cannot be used: nothing was sent */
        }
    }
    *out = h;
    return 0;
}

struct fcrctl_http *fcrctl_http_free(struct fcrctl_http *h)
{
    if (!h)
        return NULL;
    if (h->conn)
        evhttp_connection_free(h->conn);
    if (h->base)
        event_base_free(h->base);
    free(h->connect_host);
    free(h->host_header);
    free(h->prefix);
    fcrctl_tls_free(h->tls);
    if (h->authorization) /* the token should not linger in freed memory */
        memset(h->authorization, 0, strlen(h->authorization));
    free(h->authorization);
    free(h);
    return NULL;
}

bool fcrctl_http_has_token(const struct fcrctl_http *h)
{
    return h->authorization != NULL;
}

/* note_failure: why TLS failed, read as soon as evhttp reports the failure, before a later
 * request could start a new handshake. Only the first failure of a request counts. */
static void fcrctl_http_note_failure(struct fcrctl_http_call *call)
{
    if (call->tls_error[0])
        return;
    struct fcrctl_http *h = call->h;
    if (h->tls && h->conn)
        fcrctl_tls_failure(h->tls, evhttp_connection_get_bufferevent(h->conn), h->connect_host, call->tls_error,
                           sizeof(call->tls_error));
}

static void fcrctl_http_on_error(enum evhttp_request_error error, void *arg)
{
    struct fcrctl_http_call *call = arg;
    call->errored = true;
    call->error = error;
    fcrctl_http_note_failure(call);
}

static void fcrctl_http_on_done(struct evhttp_request *req, void *arg)
{
    struct fcrctl_http_call *call = arg;
    call->done = true;
    event_base_loopbreak(call->h->base);
    /* evhttp reports a failed connection either as no request or as a status of 0. */
    int status = req ? evhttp_request_get_response_code(req) : 0;
    if (status <= 0) {
        fcrctl_http_note_failure(call);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    if (call->held && evbuffer_get_length(call->held) > 0)
        evbuffer_prepend_buffer(in, call->held);
    size_t n = evbuffer_get_length(in);
    char *body = malloc(n + 1);
    if (!body) {
        snprintf(call->reply->error, sizeof(call->reply->error), "out of memory for a reply of %zu bytes", n);
        return;
    }
    if (evbuffer_remove(in, body, n) != (int)n) {
        free(body);
        snprintf(call->reply->error, sizeof(call->reply->error), "the reply could not be read");
        return;
    }
    body[n] = '\0';
    call->reply->status = status;
    call->reply->body = body;
    call->reply->len = n;
}

/* Part of a streamed reply's body: a 200 reply's goes to the caller, any other's is kept. */
static void fcrctl_http_on_chunk(struct evhttp_request *req, void *arg)
{
    struct fcrctl_http_call *call = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    if (evhttp_request_get_response_code(req) != 200) {
        evbuffer_add_buffer(call->held, in);
        return;
    }
    size_t n = evbuffer_get_length(in);
    const char *data = n ? (const char *)evbuffer_pullup(in, (ev_ssize_t)n) : "";
    /* once the caller has had enough, the rest is read and dropped */
    if (!call->chunk_stop && call->chunk(call->chunk_arg, data, n) != 0)
        call->chunk_stop = true;
}

/* Lazily, so that a usage error or --help never touches the network. */
static int fcrctl_http_connect(struct fcrctl_http *h)
{
    if (!h->base && !(h->base = event_base_new()))
        return -1;
    if (!h->conn) {
        if (h->tls) {
            /* evhttp connects the bufferevent itself, and takes it: freed with the connection. */
            struct bufferevent *bev = fcrctl_tls_bufferevent(h->tls, h->base, h->connect_host);
            if (!bev)
                return -1;
            h->conn = evhttp_connection_base_bufferevent_new(h->base, NULL, bev, h->connect_host,
                                                             (unsigned short)h->port);
            if (!h->conn) {
                bufferevent_free(bev);
                return -1;
            }
        } else {
            h->conn = evhttp_connection_base_new(h->base, NULL, h->connect_host, (unsigned short)h->port);
            if (!h->conn)
                return -1;
        }
        evhttp_connection_set_timeout(h->conn, h->timeout);
        evhttp_connection_set_max_body_size(h->conn, FCRCTL_HTTP_MAX_BODY);
        /* No retries: a POST sent twice could decide twice. */
        evhttp_connection_set_retries(h->conn, 0);
    }
    return 0;
}

/* fcrctl_http_refused: whether a fresh connection to the server is refused. evhttp reports a
 * refused connection like any other that ended without a reply (errno is long gone by then), so
 * after a failure this one try, which sends nothing, tells "nothing listens there" apart. */
static bool fcrctl_http_refused(const struct fcrctl_http *h)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", h->port);
    if (getaddrinfo(h->connect_host, port, &hints, &res) != 0 || !res)
        return false;
    bool refused = false;
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
    if (fd >= 0) {
        int rc = connect(fd, res->ai_addr, res->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t len = sizeof(err);
            if (poll(&p, 1, 2000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0)
                refused = err == ECONNREFUSED;
        } else if (rc != 0) {
            refused = errno == ECONNREFUSED;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return refused;
}

static void fcrctl_http_describe_failure(const struct fcrctl_http *h, const struct fcrctl_http_call *call,
                                         struct fcrctl_http_reply *reply)
{
    if (reply->error[0])
        return;
    if (call->tls_error[0] && !(call->errored && call->error == EVREQ_HTTP_TIMEOUT)) {
        snprintf(reply->error, sizeof(reply->error), "%s (%s port %d)", call->tls_error, h->connect_host, h->port);
        return;
    }
    const char *what;
    if (!call->done)
        what = "the request could not be sent";
    else if (call->errored && call->error == EVREQ_HTTP_TIMEOUT)
        what = "no reply within the timeout";
    else if (call->errored && call->error == EVREQ_HTTP_DATA_TOO_LONG)
        what = "the reply is too large";
    else if (call->errored && call->error == EVREQ_HTTP_INVALID_HEADER)
        what = "the reply is not valid HTTP";
    else if (fcrctl_http_refused(h))
        what = "cannot connect: connection refused; nothing listens there (is fcrd running, and is this its "
               "API address?)";
    else
        what = "cannot connect, or the connection closed without a reply";
    snprintf(reply->error, sizeof(reply->error), "%s (%s port %d, timeout %d s)", what, h->connect_host, h->port,
             h->timeout);
}

static int fcrctl_http_send(struct fcrctl_http *h, const char *method, const char *target, const char *body,
                            struct fcrctl_http_reply *reply, fcrctl_http_chunk_fn chunk, void *chunk_arg)
{
    memset(reply, 0, sizeof(*reply));
    struct fcrctl_http_call call = {.h = h, .reply = reply, .chunk = chunk, .chunk_arg = chunk_arg};
    char *uri = NULL;
    if (fcrctl_http_connect(h) != 0 || asprintf(&uri, "%s%s", h->prefix, target) < 0) {
        snprintf(reply->error, sizeof(reply->error), "out of memory");
        return -1;
    }
    struct evhttp_request *req = evhttp_request_new(fcrctl_http_on_done, &call);
    if (!req) {
        free(uri);
        snprintf(reply->error, sizeof(reply->error), "out of memory");
        return -1;
    }
    evhttp_request_set_error_cb(req, fcrctl_http_on_error);
    if (chunk) {
        if (!(call.held = evbuffer_new())) {
            evhttp_request_free(req);
            free(uri);
            snprintf(reply->error, sizeof(reply->error), "out of memory");
            return -1;
        }
        evhttp_request_set_chunked_cb(req, fcrctl_http_on_chunk);
    }
    /* A stream's length is not known beforehand: its lines are handled as they come. */
    evhttp_connection_set_max_body_size(h->conn, chunk ? -1 : FCRCTL_HTTP_MAX_BODY);
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    evhttp_add_header(hdr, "Host", h->host_header);
    evhttp_add_header(hdr, "Accept", "application/json");
    evhttp_add_header(hdr, "User-Agent", "fcrctl/" FCRD_VERSION);
    if (h->authorization)
        evhttp_add_header(hdr, "Authorization", h->authorization);
    bool post = strcmp(method, "POST") == 0;
    if (post) {
        evhttp_add_header(hdr, "Content-Type", "application/json");
        if (body)
            evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    }
    /* On failure evhttp_make_request frees the request itself. */
    if (evhttp_make_request(h->conn, req, post ? EVHTTP_REQ_POST : EVHTTP_REQ_GET, uri) != 0) {
        free(uri);
        if (call.held)
            evbuffer_free(call.held);
        fcrctl_http_describe_failure(h, &call, reply);
        return -1;
    }
    free(uri);
    while (!call.done)
        if (event_base_dispatch(h->base) != 0)
            break;
    if (call.held)
        evbuffer_free(call.held);
    if (call.chunk_stop) {
        snprintf(reply->error, sizeof(reply->error), "stopped");
        return -1;
    }
    if (!call.done || reply->status == 0) {
        free(reply->body);
        reply->body = NULL;
        reply->len = 0;
        reply->status = 0;
        fcrctl_http_describe_failure(h, &call, reply);
        return -1;
    }
    return 0;
}

int fcrctl_http_request(struct fcrctl_http *h, const char *method, const char *target, const char *body,
                        struct fcrctl_http_reply *reply)
{
    return fcrctl_http_send(h, method, target, body, reply, NULL, NULL);
}

int fcrctl_http_stream(struct fcrctl_http *h, const char *method, const char *target, const char *body,
                       fcrctl_http_chunk_fn chunk, void *arg, struct fcrctl_http_reply *reply)
{
    return fcrctl_http_send(h, method, target, body, reply, chunk, arg);
}

void fcrctl_http_reply_clear(struct fcrctl_http_reply *reply)
{
    if (!reply)
        return;
    free(reply->body);
    memset(reply, 0, sizeof(*reply));
}

static bool fcrctl_http_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

char *fcrctl_http_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(3 * n + 1);
    if (!out)
        return NULL;
    char *p = out;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (fcrctl_http_unreserved(*c)) {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    *p = '\0';
    return out;
}

int fcrctl_http_query_add(char **target, const char *name, const char *value)
{
    char *enc = fcrctl_http_encode(value);
    char *joined = NULL;
    if (!enc || asprintf(&joined, "%s%c%s=%s", *target, strchr(*target, '?') ? '&' : '?', name, enc) < 0) {
        free(enc);
        return -1;
    }
    free(enc);
    free(*target);
    *target = joined;
    return 0;
}

int fcrctl_http_exit_code(int status)
{
    if (status <= 0)
        return FCRCTL_EXIT_CONNECT;
    if (status >= 200 && status < 300)
        return FCRCTL_EXIT_OK;
    if (status == 401 || status == 403)
        return FCRCTL_EXIT_AUTH;
    if (status == 404)
        return FCRCTL_EXIT_NOT_FOUND;
    if (status == 409 || status == 422)
        return FCRCTL_EXIT_REFUSED;
    if (status >= 400 && status < 500)
        return FCRCTL_EXIT_BAD_REQUEST;
    if (status >= 500 && status < 600)
        return FCRCTL_EXIT_UNAVAILABLE;
    return FCRCTL_EXIT_FAILURE;
}
