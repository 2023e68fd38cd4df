/* api_route.c: matches a request path against the route table's patterns and extracts, decodes
 * and checks the path parameters, so that no handler looks at the path itself. */
#include "api/api_route.h"

#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

struct api_route_span {
    const char *at; /* in the decoded path */
    size_t len;
    const char *name; /* in the pattern */
    size_t namelen;
};

/* Does pat match the whole of path? Parameters are tried longest first, so the literal text
 * after a parameter is found at its last place in the path. One parameter costs a pass over the
 * path; each further one multiplies by the path's length, so the daemon's rows keep to one. */
static bool api_route_fit(const char *pat, const char *path, struct api_route_span *spans, size_t *nspans)
{
    while (*pat && *pat != '{') {
        if (*pat != *path)
            return false;
        pat++;
        path++;
    }
    if (!*pat)
        return !*path;
    const char *close = strchr(pat, '}');
    size_t k = *nspans;
    if (!close || k >= API_ROUTE_MAX_PARAMS)
        return false; /* a malformed pattern matches nothing */
    size_t len = strlen(path);
    for (size_t take = len + 1; take-- > 0;) {
        spans[k] = (struct api_route_span){path, take, pat + 1, (size_t)(close - pat - 1)};
        *nspans = k + 1;
        if (api_route_fit(close + 1, path + take, spans, nspans))
            return true;
    }
    *nspans = k;
    return false;
}

static bool api_route_valid(const struct api_route *r, const struct api_route_span *s)
{
    if (s->len == 0)
        return false;
    if ((r->flags & API_ROUTE_ONE_SEGMENT) && memchr(s->at, '/', s->len))
        return false;
    size_t size = s->len;
    if (r->flags & API_ROUTE_CHARS) {
        size = 0;
        for (size_t i = 0; i < s->len; i++)
            size += ((unsigned char)s->at[i] & 0xC0) != 0x80;
    }
    return size <= r->max;
}

/* The literal text before a pattern's first parameter, when it has one: every path starting with
 * it belongs to the route's part of the tree. */
static bool api_route_below(const struct api_route *r, const char *path)
{
    const char *brace = strchr(r->pattern, '{');
    return brace && strncmp(path, r->pattern, (size_t)(brace - r->pattern)) == 0;
}

enum api_route_result api_route_match(const struct api_route *table, size_t n, const char *raw_path,
                                      enum evhttp_cmd_type method, struct api_route_match *m)
{
    memset(m, 0, sizeof(*m));
    size_t dlen = 0;
    m->path = raw_path ? evhttp_uridecode(raw_path, 0, &dlen) : NULL;
    if (!m->path || dlen != strlen(m->path) || !utf8_valid(m->path))
        return m->result = API_ROUTE_BAD_PATH;

    const struct api_route *found = NULL, *bad = NULL;
    struct api_route_span spans[API_ROUTE_MAX_PARAMS], found_spans[API_ROUTE_MAX_PARAMS];
    size_t found_n = 0;
    bool other_method = false;
    for (size_t i = 0; i < n && !found; i++) {
        const struct api_route *r = &table[i];
        size_t ns = 0;
        if (!api_route_fit(r->pattern, m->path, spans, &ns))
            continue;
        if (r->method != method) {
            other_method = true;
            continue;
        }
        bool ok = true;
        for (size_t j = 0; j < ns; j++)
            ok = ok && api_route_valid(r, &spans[j]);
        if (ok || !bad) {
            memcpy(found_spans, spans, sizeof(spans));
            found_n = ns;
            if (ok)
                found = r;
            else
                bad = r;
        }
    }
    if (found || bad) {
        m->route = found ? found : bad;
        m->nparams = found_n;
        for (size_t j = 0; j < found_n; j++) {
            m->names[j] = found_spans[j].name;
            m->namelens[j] = found_spans[j].namelen;
            m->values[j] = strndup(found_spans[j].at, found_spans[j].len);
            if (!m->values[j]) {
                api_route_match_clear(m);
                m->route = NULL;
                return m->result = API_ROUTE_NO_MEMORY;
            }
        }
        return m->result = found ? API_ROUTE_FOUND : API_ROUTE_BAD_PARAM;
    }
    /* Below a parameterised row of this method, the row answers even where another method's
     * pattern fits (POST /v1/crimes/x is a cancellation without its action, not a GET). */
    for (size_t i = 0; i < n; i++)
        if (table[i].method == method && api_route_below(&table[i], m->path)) {
            m->route = &table[i];
            return m->result = API_ROUTE_NO_ENDPOINT;
        }
    for (size_t i = 0; i < n && !other_method; i++)
        other_method = api_route_below(&table[i], m->path);
    if (other_method)
        return m->result = API_ROUTE_BAD_METHOD;
    return m->result = API_ROUTE_UNKNOWN;
}

void api_route_match_clear(struct api_route_match *m)
{
    for (size_t j = 0; j < API_ROUTE_MAX_PARAMS; j++) {
        free(m->values[j]);
        m->values[j] = NULL;
    }
    free(m->path);
    m->path = NULL;
    m->nparams = 0;
}

const char *api_route_param(const struct api_route_match *m, const char *name)
{
    size_t len = strlen(name);
    for (size_t j = 0; j < m->nparams; j++)
        if (m->namelens[j] == len && strncmp(m->names[j], name, len) == 0)
            return m->values[j];
    return NULL;
}

const char *api_route_method_name(enum evhttp_cmd_type method)
{
    switch (method) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "?";
}
