/* api_access.h: access logging of the API's replies that carry personal data: the record of a
 * request (who, from where, which route, why), the ids a reply holds, and replies held until
 * their record is written (api/access_log.h). */
#ifndef FCRD_API_ACCESS_H
#define FCRD_API_ACCESS_H

#include <event2/http.h>
#include <jansson.h>
#include <stdbool.h>

#include "api/api_int.h"

/* The longest purpose accepted, in characters. */
#define API_ACCESS_PURPOSE_MAX 500

/* api_access_begin: the record of a request to a route whose reply carries personal data:
 * {user, role, client, method, route, path, purpose} (new reference). The purpose is the
 * X-Purpose header or the purpose= query parameter; when it is missing and [api] require_purpose
 * is yes, or it is not 1 to API_ACCESS_PURPOSE_MAX characters of UTF-8 text, or given twice,
 * a 400 naming `purpose` is sent and NULL returned. peer may be NULL. */
json_t *api_access_begin(struct api *a, const struct api_call *call, const char *peer);

/* api_access_resources: adds to record the ids body holds, each list sorted and without repeats:
 * incident_ids (members "incident_id", "incident_ids", "linked_incident_id"), crns ("crn",
 * "crns"), person_refs ("ref", "victim_ref", "suspect_refs", "person_refs"), at any depth. */
void api_access_resources(json_t *record, const json_t *body);

/* api_access_send: send body (taken) as the 200 reply to req once access (borrowed; the record
 * of api_access_begin), stamped with the time and the ids body holds, is written; 503
 * access_log_unavailable instead when it cannot be. A client that goes away meanwhile gets
 * nothing; the record is written all the same. */
void api_access_send(struct api *a, const json_t *access, struct evhttp_request *req, json_t *body);

/* api_access_stamp: a copy of access with the time and extra's members (may be NULL) merged in,
 * for a record written by a handler itself (a streamed reply). New reference. */
json_t *api_access_stamp(const json_t *access, const json_t *extra);

#endif
