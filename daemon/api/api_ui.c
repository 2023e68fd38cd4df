/* api_ui.c: serves the supervisor's page, embedded in the binary, with strict security headers. */
#include "api/api_ui.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <string.h>

/* The page loads only its own files and talks only to this API. No inline script or style can
 * run; with Trusted Types, Chromium also refuses any string written into an HTML sink (innerHTML
 * and the like), so text from the feed can only ever be shown as text. */
#define UI_CSP                                                                                               \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"           \
    " font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none';"      \
    " require-trusted-types-for 'script'; trusted-types 'none'"

static const struct {
    const char *name, *value;
} ui_headers[] = {
    {"Content-Security-Policy", UI_CSP},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Cross-Origin-Resource-Policy", "same-origin"},
    {"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"},
    /* The URLs stay the same from one build to the next: the browser keeps a copy but asks each
     * time, and an unchanged file costs a 304 without a body. */
    {"Cache-Control", "no-cache"},
};

const struct api_ui_asset *api_ui_find(const char *path)
{
    for (size_t i = 0; i < api_ui_nassets; i++)
        if (strcmp(api_ui_assets[i].path, path) == 0)
            return &api_ui_assets[i];
    return NULL;
}

/* Does an If-None-Match header name this tag? It may list several, weak ones included. */
static bool api_ui_etag_matches(const char *header, const char *etag)
{
    if (!header)
        return false;
    if (strcmp(header, "*") == 0)
        return true;
    size_t n = strlen(etag);
    for (const char *p = strstr(header, etag); p; p = strstr(p + 1, etag)) {
        char after = p[n];
        if (after == '\0' || after == ',' || after == ' ' || after == '\t')
            return true;
    }
    return false;
}

static void api_ui_send(struct evhttp_request *req, const struct api_ui_asset *as)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    for (size_t i = 0; i < sizeof(ui_headers) / sizeof(ui_headers[0]); i++)
        evhttp_add_header(h, ui_headers[i].name, ui_headers[i].value);
    evhttp_add_header(h, "ETag", as->etag);
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    if (api_ui_etag_matches(inm, as->etag)) {
        evhttp_send_reply(req, 304, "Not Modified", NULL);
        return;
    }
    evhttp_add_header(h, "Content-Type", as->type);
    struct evbuffer *out = evbuffer_new();
    if (!out) {
        api_error(req, 503, "overloaded", "out of memory", NULL);
        return;
    }
    /* The bytes live in the binary for its whole life: lend them instead of copying. */
    if (evbuffer_add_reference(out, as->data, as->size, NULL, NULL) != 0) {
        evbuffer_free(out);
        api_error(req, 503, "overloaded", "out of memory", NULL);
        return;
    }
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

void api_ui_get(struct api *a, const struct api_call *call)
{
    (void)a;
    char path[128];
    const char *file = api_call_param(call, "file");
    const struct api_ui_asset *as = NULL;
    if (file && strlen(file) < sizeof(path) - 4) {
        snprintf(path, sizeof(path), "/ui/%s", file);
        as = api_ui_find(path);
    }
    if (!as) {
        api_error(call->req, 404, "not_found", "no such file", NULL);
        return;
    }
    api_ui_send(call->req, as);
}

void api_ui_root(struct api *a, const struct api_call *call)
{
    (void)a;
    const struct api_ui_asset *index = api_ui_find("/ui/index.html");
    if (index)
        api_ui_send(call->req, index);
    else
        api_error(call->req, 404, "not_found", "no such endpoint", NULL);
}
