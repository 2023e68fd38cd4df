/* api_access.c: access records of the API's replies that carry personal data, and the hold that
 * keeps such a reply until its record is written: no unlogged look at a person's record. */
#include "api/api_access.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/access_log.h"
#include "util/timefmt.h"
#include "util/utf8.h"

/* A reply waiting for its access record. req becomes NULL when the client goes away. */
struct api_access_hold {
    struct api *api; /* whose connection watch the hold uses (borrowed) */
    struct evhttp_request *req;
    json_t *body;
    struct access_log_wait *wait;
};

static bool api_access_purpose_ok(const char *p)
{
    return p && *p && utf8_valid(p) && utf8_chars(p) <= API_ACCESS_PURPOSE_MAX && !strpbrk(p, "\r\n");
}

json_t *api_access_begin(struct api *a, const struct api_call *call, const char *peer)
{
    struct evhttp_request *req = call->req;
    const char *header = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Purpose");
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq kv;
    kv.tqh_first = NULL;
    kv.tqh_last = &kv.tqh_first;
    int given = 0;
    const char *from_query = NULL;
    if (qs && evhttp_parse_query_str(qs, &kv) == 0)
        for (struct evkeyval *e = kv.tqh_first; e; e = e->next.tqe_next)
            if (strcmp(e->key, "purpose") == 0) {
                from_query = e->value;
                given++;
            }
    given += header != NULL;
    const char *purpose = header ? header : from_query;
    const char *bad = NULL;
    if (given > 1)
        bad = "give the purpose once: the X-Purpose header or the purpose parameter";
    else if (purpose && !api_access_purpose_ok(purpose))
        bad = "the purpose must be 1 to 500 characters of text on one line";
    else if (!purpose && api_get_limits(a)->require_purpose) {
        evhttp_clear_headers(&kv);
        api_error(req, 400, "purpose_required",
                  "a purpose is required ([api] require_purpose): the X-Purpose header or the purpose parameter",
                  "purpose");
        return NULL;
    }
    if (bad) {
        evhttp_clear_headers(&kv);
        api_error(req, 400, "bad_query", bad, "purpose");
        return NULL;
    }
    json_t *r = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s?, s:s?}", "user", call->who.user ? call->who.user : "",
                          "role", role_name(call->who.role), "client", peer, "method",
                          api_route_method_name(call->route->method), "route", call->route->pattern, "path",
                          call->match->path, "purpose", purpose);
    evhttp_clear_headers(&kv);
    if (!r)
        api_error(req, 503, "overloaded", "out of memory", NULL);
    return r;
}

/* ---- the ids a reply holds ------------------------------------------------------------------ */

static void api_access_add(json_t *set, const json_t *v)
{
    if (json_is_string(v) && json_string_length(v) > 0)
        json_object_set_new(set, json_string_value(v), json_true());
    else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            if (json_is_string(x) && json_string_length(x) > 0)
                json_object_set_new(set, json_string_value(x), json_true());
    }
}

static bool api_access_is(const char *key, const char *const *names)
{
    for (size_t i = 0; names[i]; i++)
        if (strcmp(key, names[i]) == 0)
            return true;
    return false;
}

static void api_access_walk(const json_t *v, json_t *inc, json_t *crn, json_t *ref, int depth)
{
    static const char *const inc_keys[] = {"incident_id", "incident_ids", "linked_incident_id", NULL};
    static const char *const crn_keys[] = {"crn", "crns", NULL};
    static const char *const ref_keys[] = {"ref", "victim_ref", "suspect_refs", "person_refs", NULL};
    if (depth > 64)
        return; /* the replies fcrd builds are far shallower; a stored document is bounded by the feed */
    if (json_is_object(v)) {
        const char *key;
        json_t *x;
        json_object_foreach((json_t *)v, key, x)
        {
            if (api_access_is(key, inc_keys))
                api_access_add(inc, x);
            else if (api_access_is(key, crn_keys))
                api_access_add(crn, x);
            else if (api_access_is(key, ref_keys))
                api_access_add(ref, x);
            api_access_walk(x, inc, crn, ref, depth + 1);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            api_access_walk(x, inc, crn, ref, depth + 1);
    }
}

static int api_access_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* A set's keys as a sorted array. */
static json_t *api_access_sorted(json_t *set)
{
    size_t n = json_object_size(set), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof(*keys));
    json_t *out = json_array();
    if (!keys || !out) {
        free(keys);
        return out;
    }
    const char *key;
    json_t *x;
    json_object_foreach(set, key, x)
        keys[i++] = key;
    qsort(keys, n, sizeof(*keys), api_access_cmp);
    for (i = 0; i < n; i++)
        json_array_append_new(out, json_string(keys[i]));
    free(keys);
    return out;
}

void api_access_resources(json_t *record, const json_t *body)
{
    json_t *inc = json_object(), *crn = json_object(), *ref = json_object();
    api_access_walk(body, inc, crn, ref, 0);
    json_object_set_new(record, "incident_ids", api_access_sorted(inc));
    json_object_set_new(record, "crns", api_access_sorted(crn));
    json_object_set_new(record, "person_refs", api_access_sorted(ref));
    json_decref(inc);
    json_decref(crn);
    json_decref(ref);
}

json_t *api_access_stamp(const json_t *access, const json_t *extra)
{
    json_t *r = json_copy((json_t *)access);
    if (!r)
        return NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char at[TIMEFMT_LEN];
    timefmt_format((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, at);
    json_object_set_new(r, "at", json_string(at));
    if (extra)
        json_object_update(r, (json_t *)extra);
    return r;
}

/* ---- the hold ------------------------------------------------------------------------------- */

static void api_access_hold_free(struct api_access_hold *h)
{
    if (h->req)
        api_watch_close(h->api, h->req, NULL, NULL);
    json_decref(h->body);
    free(h);
}

static void api_access_closed(struct evhttp_connection *evcon, void *arg)
{
    struct api_access_hold *h = arg;
    (void)evcon;
    h->req = api_request_abandoned(h->req);
    access_log_cancel(h->wait);
    api_access_hold_free(h);
}

static void api_access_written(void *arg, bool ok)
{
    struct api_access_hold *h = arg;
    struct evhttp_request *req = h->req;
    api_watch_close(h->api, req, NULL, NULL);
    h->req = NULL;
    if (ok) {
        api_send_json(req, 200, h->body);
        h->body = NULL;
    } else {
        api_error(req, 503, "access_log_unavailable", "the access to this record could not be logged", NULL);
    }
    api_access_hold_free(h);
}

void api_access_send(struct api *a, const json_t *access, struct evhttp_request *req, json_t *body)
{
    struct api_access_hold *h = calloc(1, sizeof(*h));
    json_t *record = access ? api_access_stamp(access, NULL) : NULL;
    if (record)
        api_access_resources(record, body);
    struct access_log *log = api_access_log(a);
    if (h && record && log) {
        h->api = a;
        h->req = req;
        h->body = body;
        h->wait = access_log_write(log, record, api_access_written, h);
    }
    json_decref(record);
    if (!h || !h->wait) {
        /* Not even queued (the access log's connection is down, or no memory): refused now. */
        if (h)
            h->req = NULL;
        free(h);
        json_decref(body);
        api_error(req, 503, "access_log_unavailable", "the access to this record could not be logged", NULL);
        return;
    }
    api_watch_close(a, req, api_access_closed, h);
}
