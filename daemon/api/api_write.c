/* api_write.c: the API's write endpoints: a pending decision closed by a supervisor, a crime
 * cancelled or reclassified by a decision maker. Bodies are checked field by field here; the
 * decision itself is taken by the rules (rules_act) inside the store's transaction. */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/api_write.h"
#include "store/store.h"
#include "util/timefmt.h"
#include "util/utf8.h"

enum field_kind { F_TEXT, F_ENUM, F_TIME };

struct field_spec {
    const char *name;
    enum field_kind kind;
    bool required;
    size_t max;                 /* F_TEXT: characters */
    const char *const *values;  /* F_ENUM */
};

static const char *const decisions[] = {"record", "no_crime", "transfer", NULL};
static const char *const cancel_reasons[] = {"C1", "C2", "C3", "C4", NULL};

static const struct field_spec decide_fields[] = {
    {"decision", F_ENUM, true, 0, decisions},
    {"rationale", F_TEXT, true, 4000, NULL},
    {"offence", F_TEXT, false, 16, NULL},
    {"victim", F_TEXT, false, 64, NULL},
    {"reason_code", F_TEXT, false, 64, NULL},
    {"to_force", F_TEXT, false, 64, NULL},
    {NULL, F_TEXT, false, 0, NULL},
};

static const struct field_spec cancel_fields[] = {
    {"reason", F_ENUM, true, 0, cancel_reasons},
    {"rationale", F_TEXT, true, 4000, NULL},
    {"avi", F_TEXT, false, 4000, NULL},
    {"victim_informed_at", F_TIME, false, 0, NULL},
    {"to_force", F_TEXT, false, 64, NULL},
    {"duplicate_of", F_TEXT, false, 64, NULL},
    {NULL, F_TEXT, false, 0, NULL},
};

static const struct field_spec reclassify_fields[] = {
    {"offence", F_TEXT, true, 16, NULL},
    {"rationale", F_TEXT, true, 4000, NULL},
    {NULL, F_TEXT, false, 0, NULL},
};

/* Parse and check a body against its field table; NULL (400 sent) when anything is off. */
static json_t *body_parse(struct api *a, struct evhttp_request *req, const struct field_spec *spec)
{
    json_t *body = api_body_object(req, api_get_limits(a)->max_body, NULL);
    if (!body)
        return NULL;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        const struct field_spec *f = spec;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        if (!f->name) {
            api_error(req, 400, "bad_field", "unknown field", key);
            json_decref(body);
            return NULL;
        }
    }
    for (const struct field_spec *f = spec; f->name; f++) {
        json_t *fv = json_object_get(body, f->name);
        if (json_is_null(fv)) {
            json_object_del(body, f->name); /* null stands for absent */
            fv = NULL;
        }
        char msg[160] = "";
        if (!fv) {
            if (f->required)
                snprintf(msg, sizeof(msg), "%s is required", f->name);
        } else if (!json_is_string(fv)) {
            snprintf(msg, sizeof(msg), "%s must be a string", f->name);
        } else {
            const char *s = json_string_value(fv);
            if (f->kind == F_TEXT && (!*s || utf8_chars(s) > f->max || strlen(s) != json_string_length(fv))) {
                snprintf(msg, sizeof(msg), "%s must be 1 to %zu characters", f->name, f->max);
            } else if (f->kind == F_ENUM) {
                bool ok = false;
                for (size_t i = 0; f->values[i]; i++)
                    ok = ok || strcmp(f->values[i], s) == 0;
                if (!ok)
                    snprintf(msg, sizeof(msg), "%s is not one of the allowed values", f->name);
            } else if (f->kind == F_TIME) {
                int64_t ms;
                if (!timefmt_parse(s, &ms))
                    snprintf(msg, sizeof(msg), "%s must be an RFC 3339 time with an offset", f->name);
            }
        }
        if (*msg) {
            api_error(req, 400, "bad_field", msg, f->name);
            json_decref(body);
            return NULL;
        }
    }
    return body;
}

/* ---- the flow: pre-read the incident, then the store ------------------------------------- */

/* The crime's incident, and the incident of the crime a C3 cancellation names. */
#define SQL_CRIME_AND_NAMED                                                                                  \
    "SELECT incident_id, (SELECT incident_id FROM crimes WHERE crn = $2) FROM crimes WHERE crn = $1"

/* The crime's incident, and for a C3 naming no survivor the incident of the earliest other live
 * crime of the same offence whose victim is the same person (same command-and-control `ref`,
 * crimes.victim_ref): the same matter reported twice without a link. */
#define SQL_CRIME_AND_SAME_VICTIM                                                                            \
    "SELECT c.incident_id, (SELECT c2.incident_id FROM crimes c2"                                            \
    "  WHERE c2.victim_ref = c.victim_ref AND c2.offence = c.offence AND c2.crn <> c.crn"                    \
    "  AND c2.status = 'recorded' ORDER BY c2.recorded_at, c2.crn LIMIT 1)"                                  \
    " FROM crimes c WHERE c.crn = $1"

/* Holds a request across the store's transaction; req becomes NULL if the client goes away. */
struct write_ctx {
    struct api *api;
    struct evhttp_request *req;
    json_t *act;
};

static void write_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct write_ctx *w = arg;
    (void)evcon;
    w->req = api_request_abandoned(w->req);
}

static void write_ctx_free(struct write_ctx *w)
{
    if (w->req)
        api_watch_close(w->api, w->req, NULL, NULL);
    json_decref(w->act);
    free(w);
}

static void write_done(void *arg, const json_t *reply)
{
    struct write_ctx *w = arg;
    if (w->req) {
        json_t *status = json_object_get(reply, "status");
        json_t *body = json_object_get(reply, "body");
        api_send_json(w->req, json_is_integer(status) ? (int)json_integer_value(status) : 500,
                      body ? json_incref(body) : json_object());
    }
    write_ctx_free(w);
}

/* Pre-read result: row 0 col 0 the incident holding the target; col 1 (optional) an incident the
 * decision names. */
static void preread_finish(struct evhttp_request *req, const PGresult *res, void *arg)
{
    struct write_ctx *w = arg;
    if (PQntuples(res) != 1) {
        const char *action = json_string_value(json_object_get(w->act, "action"));
        api_error(req, 404, "not_found", strcmp(action, "decide") == 0 ? "no such pending decision" : "no such crime",
                  NULL);
        write_ctx_free(w);
        return;
    }
    if (PQnfields(res) > 1 && !PQgetisnull(res, 0, 1))
        json_array_append_new(json_object_get(w->act, "links"), json_string(PQgetvalue(res, 0, 1)));
    w->req = req;
    api_watch_close(w->api, req, write_conn_closed, w);
    json_t *act = w->act;
    w->act = NULL;
    store_submit_action(api_store(w->api), PQgetvalue(res, 0, 0), act, write_done, w);
}

/* The pre-read's own failure path answers (500 or 503) and never calls finish: free the context then. */
static void write_start(struct api *a, const struct api_call *call, const char *action, const char *target,
                        json_t *body, const char *sql, const char *extra)
{
    struct evhttp_request *req = call->req;
    const struct api_caller *who = &call->who;
    struct write_ctx *w = calloc(1, sizeof(*w));
    if (!w) {
        json_decref(body);
        api_error(req, 503, "overloaded", "out of memory", NULL);
        return;
    }
    w->api = a;
    w->act = json_pack("{s:s, s:s, s:o, s:s, s:s, s:[]}", "action", action, "target", target, "body", body, "user",
                       who->user ? who->user : "", "role", role_name(who->role), "links");
    const char *p[2] = {target, extra};
    /* On the write connection: a decision must not wait behind a long report. */
    api_write_owned(a, call, sql, extra ? 2 : 1, p, preread_finish, w, (void (*)(void *))write_ctx_free);
}

void api_post_decision(struct api *a, const struct api_call *call)
{
    json_t *body = body_parse(a, call->req, decide_fields);
    if (!body)
        return;
    write_start(a, call, "decide", api_call_param(call, "id"), body,
                "SELECT incident_id FROM pending_decisions WHERE id = $1", NULL);
}

/* A cancellation or a reclassification of the crime the path names. */
static void api_post_crime(struct api *a, const struct api_call *call, const char *action,
                           const struct field_spec *fields)
{
    json_t *body = body_parse(a, call->req, fields);
    if (!body)
        return;
    const char *dup = json_string_value(json_object_get(body, "duplicate_of"));
    char dupbuf[80] = "";
    if (dup)
        snprintf(dupbuf, sizeof(dupbuf), "%s", dup);
    const char *reason = json_string_value(json_object_get(body, "reason"));
    const char *sql = dup ? SQL_CRIME_AND_NAMED
                      : reason && strcmp(reason, "C3") == 0 ? SQL_CRIME_AND_SAME_VICTIM
                                                            : "SELECT incident_id FROM crimes WHERE crn = $1";
    write_start(a, call, action, api_call_param(call, "crn"), body, sql, dup ? dupbuf : NULL);
}

void api_post_cancel(struct api *a, const struct api_call *call)
{
    api_post_crime(a, call, "cancel", cancel_fields);
}

void api_post_reclassify(struct api *a, const struct api_call *call)
{
    api_post_crime(a, call, "reclassify", reclassify_fields);
}
