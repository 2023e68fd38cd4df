/* api_retention.c: legal holds and retention runs, through the database's own functions
 * (sql/0020_audit_personal.sql), which alone may redact and which audit every change. */
#include "api/api_retention.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"

#define REASON_MAX 4000

/* ---- POST /v1/incidents/{incident_id}/legal-hold --------------------------------------------- */

#define SQL_HOLD "SELECT incident_legal_hold($1, $2::boolean, $3, $4, $5)"

static void api_retention_hold_finish(struct evhttp_request *req, const PGresult *res, void *arg)
{
    json_t *reply = arg; /* ours once finish is called (api_write_owned frees it otherwise) */
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        json_decref(reply);
        api_error(req, 404, "not_found", "no such incident", NULL);
        return;
    }
    api_send_json(req, 200, reply);
}

static void api_retention_reply_free(void *arg)
{
    json_decref(arg);
}

void api_retention_hold(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    static const char *const known[] = {"hold", "reason", NULL};
    json_t *body = api_body_object(req, api_get_limits(a)->max_body, known);
    if (!body)
        return;
    json_t *hold = json_object_get(body, "hold");
    json_t *reason = json_object_get(body, "reason");
    const char *bad = NULL, *field = NULL;
    if (!json_is_boolean(hold)) {
        bad = "hold is required: true to set the legal hold, false to clear it";
        field = "hold";
    } else if (reason && !json_is_null(reason) &&
               (!json_is_string(reason) || json_string_length(reason) == 0 ||
                json_string_length(reason) > REASON_MAX ||
                strlen(json_string_value(reason)) != json_string_length(reason))) {
        bad = "reason must be 1 to 4000 bytes of text without NUL";
        field = "reason";
    } else if (json_is_true(hold) && !json_is_string(reason)) {
        bad = "reason is required when setting a legal hold";
        field = "reason";
    }
    if (bad) {
        api_error(req, 400, "bad_field", bad, field);
        json_decref(body);
        return;
    }
    const char *id = api_call_param(call, "incident_id");
    const char *why = json_is_string(reason) ? json_string_value(reason) : NULL;
    json_t *reply = json_pack("{s:s, s:b, s:s*}", "incident_id", id, "hold", json_is_true(hold), "reason", why);
    const char *p[5] = {id, json_is_true(hold) ? "true" : "false", why, call->who.user ? call->who.user : "",
                        role_name(call->who.role)};
    api_write_owned(a, call, SQL_HOLD, 5, p, api_retention_hold_finish, reply, api_retention_reply_free);
    json_decref(body); /* api_write_owned copied the parameters */
}

/* ---- POST /v1/retention/run ------------------------------------------------------------------- */

/* A procedure that commits after each incident: run outside a transaction block, on the write
 * connection (no statement timeout; a run over many incidents takes as long as it takes). */
#define SQL_RUN "CALL retention_run($1::boolean, $2::bigint, $3::bigint, $4, $5, $6, NULL)"

static void api_retention_run_finish(struct evhttp_request *req, const PGresult *res, void *arg)
{
    bool dry = (intptr_t)arg != 0;
    json_t *list = PQntuples(res) == 1 ? api_db_json(res, 0, 0) : NULL;
    if (!json_is_array(list)) {
        json_decref(list);
        api_error(req, 500, "internal", "the run's result could not be read", NULL);
        return;
    }
    size_t i, redacted = 0;
    json_t *it;
    json_array_foreach(list, i, it)
        redacted += json_is_true(json_object_get(it, "redacted"));
    api_send_json(req, 200, json_pack("{s:b, s:I, s:I, s:o}", "dry_run", dry, "due", (json_int_t)json_array_size(list),
                                      "redacted", (json_int_t)redacted, "incidents", list));
}

void api_retention_run(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    static const char *const known[] = {"dry_run", NULL};
    const struct api_limits *lim = api_get_limits(a);
    json_t *body = api_body_object(req, lim->max_body, known);
    if (!body)
        return;
    json_t *dry = json_object_get(body, "dry_run");
    if (!json_is_boolean(dry)) {
        api_error(req, 400, "bad_field", "dry_run is required: true lists what a run would redact", "dry_run");
        json_decref(body);
        return;
    }
    char inc[24], crime[24];
    snprintf(inc, sizeof(inc), "%zu", lim->retention_incident_s);
    snprintf(crime, sizeof(crime), "%zu", lim->retention_crime_s);
    const char *p[6] = {json_is_true(dry) ? "true" : "false", inc, crime, lim->retention_crime_groups,
                        call->who.user ? call->who.user : "", role_name(call->who.role)};
    api_write_owned(a, call, SQL_RUN, 6, p, api_retention_run_finish, (void *)(intptr_t)json_is_true(dry), NULL);
    json_decref(body);
}
