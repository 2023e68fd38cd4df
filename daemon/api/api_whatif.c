/* api_whatif.c: POST /v1/whatif: checks the body and the candidate rule set, starts a what-if
 * run (store/whatif_run.h) and streams its lines to the client as a chunked
 * application/x-ndjson reply. A client that goes away stops the run.
 *
 * Changes name incidents, allegations and crimes: a chunk that holds any goes out only once its
 * access record (the ids of its lines) is written. While one is being written the lines that
 * follow wait (the run pauses when they pile up, as for a slow client); a record that cannot be
 * written ends the run with an error line and nothing more is sent. */
#include "api/api_whatif.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/access_log.h"
#include "api/api_access.h"
#include "api/api_int.h"
#include "rules/ruleset.h"
#include "store/whatif_run.h"
#include "util/jsonwrite.h"
#include "util/timefmt.h"

/* One request and its run. req becomes NULL when the client goes away. */
struct api_whatif {
    struct api *api;
    struct evhttp_request *req;
    struct ruleset *rs;
    struct whatif_run *run;
    struct evbuffer *out;  /* lines not yet sent as a chunk */
    json_t *lines;         /* the lines in out that name anything (for their access record) */
    json_t *access;        /* the request's access record */
    struct evbuffer *held; /* a chunk waiting for its access record */
    struct access_log_wait *wait;
    struct event *refuse;  /* a record that could not even be queued: refused from the loop */
    bool ended;            /* the run is over: the reply ends once nothing is held */
};

static struct api_whatif *api_whatif_free(struct api_whatif *w)
{
    if (!w)
        return NULL;
    w->run = whatif_run_free(w->run);
    access_log_cancel(w->wait);
    if (w->req)
        api_watch_close(w->api, w->req, NULL, NULL);
    if (w->out)
        evbuffer_free(w->out);
    if (w->held)
        evbuffer_free(w->held);
    if (w->refuse)
        event_free(w->refuse);
    json_decref(w->lines);
    json_decref(w->access);
    ruleset_free(w->rs);
    free(w);
    return NULL;
}

/* The client went away: the run stops here. */
static void api_whatif_closed(struct evhttp_connection *evcon, void *arg)
{
    struct api_whatif *w = arg;
    (void)evcon;
    w->req = api_request_abandoned(w->req);
    api_whatif_free(w);
}

static void api_whatif_start(void *arg)
{
    struct api_whatif *w = arg;
    struct evkeyvalq *h = evhttp_request_get_output_headers(w->req);
    evhttp_add_header(h, "Content-Type", "application/x-ndjson");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply_start(w->req, 200, "OK");
}

static void api_whatif_line(void *arg, const json_t *line)
{
    struct api_whatif *w = arg;
    char *s = jsonwrite_dumps(line, 0);
    if (s) {
        evbuffer_add(w->out, s, strlen(s));
        evbuffer_add(w->out, "\n", 1);
        free(s);
    }
    /* Progress and summary lines hold counts only. */
    if (json_object_get(line, "change"))
        json_array_append(w->lines, (json_t *)line);
}

/* The reply ends: every chunk has gone out (or the run failed). */
static void api_whatif_end(struct api_whatif *w)
{
    struct evhttp_request *req = w->req;
    api_watch_close(w->api, req, NULL, NULL);
    w->req = NULL;
    evhttp_send_reply_end(req);
    api_whatif_free(w);
}

static void api_whatif_flush(void *arg);

static void api_whatif_logged(void *arg, bool ok)
{
    struct api_whatif *w = arg;
    w->wait = NULL;
    if (!ok) {
        /* The lines the record was for are dropped, and so is everything after them. */
        w->run = whatif_run_free(w->run);
        evbuffer_drain(w->held, evbuffer_get_length(w->held));
        evbuffer_drain(w->out, evbuffer_get_length(w->out));
        static const char line[] = "{\"error\":{\"code\":\"access_log_unavailable\","
                                   "\"message\":\"the access to these results could not be logged\"}}\n";
        evbuffer_add(w->held, line, sizeof(line) - 1);
        evhttp_send_reply_chunk(w->req, w->held);
        api_whatif_end(w);
        return;
    }
    evhttp_send_reply_chunk(w->req, w->held); /* drains w->held */
    api_whatif_flush(w);
}

static void api_whatif_flush(void *arg)
{
    struct api_whatif *w = arg;
    if (w->wait || event_pending(w->refuse, EV_TIMEOUT, NULL) || evbuffer_get_length(w->held) > 0)
        return; /* the lines wait for the record being written */
    if (json_array_size(w->lines) == 0) {
        if (evbuffer_get_length(w->out) > 0)
            evhttp_send_reply_chunk(w->req, w->out); /* drains w->out */
        if (w->ended)
            api_whatif_end(w);
        return;
    }
    json_t *record = api_access_stamp(w->access, NULL);
    if (record)
        api_access_resources(record, w->lines);
    json_array_clear(w->lines);
    evbuffer_add_buffer(w->held, w->out);
    w->wait = record ? access_log_write(api_access_log(w->api), record, api_whatif_logged, w) : NULL;
    json_decref(record);
    if (!w->wait) {
        /* Not even queued: failed as a write would, from the loop, since this may be the run's
         * own callback and the run cannot be freed from there. */
        event_active(w->refuse, EV_TIMEOUT, 0);
        w->wait = NULL;
    }
}

static void api_whatif_refused(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    api_whatif_logged(arg, false);
}

static size_t api_whatif_backlog(void *arg)
{
    struct api_whatif *w = arg;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(w->req));
    return evbuffer_get_length(w->out) + evbuffer_get_length(w->held) +
           (bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0);
}

static void api_whatif_done(void *arg, int status, const char *code, const char *message)
{
    struct api_whatif *w = arg;
    if (status) {
        struct evhttp_request *req = w->req;
        api_watch_close(w->api, req, NULL, NULL);
        w->req = NULL;
        api_error(req, status, code, message, NULL);
        api_whatif_free(w);
        return;
    }
    /* The run is over (it may be freed now); the reply ends once its last lines are logged. */
    w->run = whatif_run_free(w->run);
    w->ended = true;
    api_whatif_flush(w);
}

/* A date (YYYY-MM-DD, the whole day in UTC) or an RFC 3339 time; `end` moves a date to its end. */
static bool api_whatif_bound(const json_t *v, bool end, int64_t *ms)
{
    const char *text = json_string_value(v);
    int y, m, d;
    char extra;
    if (text && strlen(text) == 10 && sscanf(text, "%4d-%2d-%2d%c", &y, &m, &d, &extra) == 3) {
        char full[32];
        snprintf(full, sizeof(full), "%sT00:00:00Z", text);
        if (!timefmt_parse(full, ms))
            return false;
        if (end)
            *ms += 24 * TIMEFMT_HOUR_MS;
        return true;
    }
    return text && timefmt_parse(text, ms);
}

/* The loader says "ruleset: PATH: message": PATH, prefixed for the body, is the field at fault. */
static void api_whatif_bad_ruleset(struct evhttp_request *req, const char *err)
{
    char field[300] = "ruleset";
    const char *p = strncmp(err, "ruleset: ", 9) == 0 ? err + 9 : NULL;
    const char *colon = p ? strstr(p, ": ") : NULL;
    if (colon && colon > p && !memchr(p, ' ', (size_t)(colon - p)) && (size_t)(colon - p) < sizeof(field) - 9)
        snprintf(field, sizeof(field), "ruleset%s%.*s", *p == '[' ? "" : ".", (int)(colon - p), p);
    api_error(req, 422, "bad_ruleset", err, field);
}

void api_post_whatif(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    /* The route's least role is auditor (reads); of the roles above it only the force crime
     * registrar may: supervisors and decision makers act on crimes, they do not vet rule sets. */
    if (call->who.role != ROLE_AUDITOR && call->who.role != ROLE_FCR) {
        api_error(req, 403, "forbidden", "only an auditor or the force crime registrar may run a what-if", NULL);
        return;
    }
    static const char *const known[] = {"ruleset", "from", "to", NULL};
    json_t *body = api_body_object(req, api_get_limits(a)->whatif_max_body, known);
    if (!body)
        return;
    struct whatif_run_params p = {0};
    const char *bad = !api_whatif_bound(json_object_get(body, "from"), false, &p.from_ms) ? "from"
                      : !api_whatif_bound(json_object_get(body, "to"), true, &p.to_ms)     ? "to"
                      : !json_is_object(json_object_get(body, "ruleset"))                 ? "ruleset"
                                                                                          : NULL;
    if (bad || p.to_ms <= p.from_ms) {
        json_decref(body);
        api_error(req, 400, "bad_field",
                  !bad ? "the period must end after it starts"
                  : strcmp(bad, "ruleset") == 0 ? "ruleset must be a rule-set document (a JSON object)"
                                                : "a date (YYYY-MM-DD) or an RFC 3339 time is required",
                  bad ? bad : "to");
        return;
    }
    char *text = jsonwrite_dumps(json_object_get(body, "ruleset"), 0);
    json_decref(body);
    struct api_whatif *w = calloc(1, sizeof(*w));
    char err[512] = "";
    if (!text || !w || !(w->out = evbuffer_new()) || !(w->held = evbuffer_new()) || !(w->lines = json_array())) {
        free(text);
        api_whatif_free(w);
        api_error(req, 503, "overloaded", "out of memory", NULL);
        return;
    }
    int rc = ruleset_load_text(text, strlen(text), "ruleset", &w->rs, err, sizeof(err));
    free(text);
    if (rc != 0) {
        api_whatif_free(w);
        api_whatif_bad_ruleset(req, err);
        return;
    }
    if (!api_db_up(a)) {
        api_whatif_free(w);
        api_error(req, 503, "db_unavailable", "the database is unavailable", NULL);
        return;
    }
    if (!call->access || !access_log_up(api_access_log(a))) {
        api_whatif_free(w);
        api_error(req, 503, "access_log_unavailable", "the access to these results could not be logged", NULL);
        return;
    }
    w->api = a;
    w->access = json_incref((json_t *)call->access);
    w->refuse = evtimer_new(evhttp_connection_get_base(evhttp_request_get_connection(req)), api_whatif_refused, w);
    if (!w->refuse) {
        api_whatif_free(w);
        api_error(req, 503, "overloaded", "out of memory", NULL);
        return;
    }
    p.candidate = w->rs;
    p.current = api_ruleset(a) ? ruleset_version(api_ruleset(a)) : NULL;
    static const struct whatif_run_sink sink = {api_whatif_start, api_whatif_line, api_whatif_flush,
                                                api_whatif_backlog, api_whatif_done};
    w->req = req;
    w->run = whatif_run_start(api_store(a), &p, &sink, w);
    if (!w->run) {
        w->req = NULL;
        api_whatif_free(w);
        api_error(req, 503, "overloaded", "out of memory", NULL);
        return;
    }
    api_watch_close(a, req, api_whatif_closed, w);
}
