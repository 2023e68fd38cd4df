/* api_events.h: GET /v1/incidents/{incident_id}/events, the raw events of an incident (api_events.c). */
#ifndef FCRD_API_EVENTS_H
#define FCRD_API_EVENTS_H

#include <stdbool.h>

#include "api/api_int.h"

/* api_events_match: is rest (the path after "/v1/incidents/") "{id}/events" with a non-empty id?
 * As with a CRN, the id is everything before the final "/events". */
bool api_events_match(const char *rest);

/* GET /v1/incidents/{id}/events?after=&limit=: the incident's stored events in seq order, each
 * with the reply it got. rest is as for api_events_match. */
void api_events_get(struct api *a, struct evhttp_request *req, const char *rest, const struct api_caller *who);

#endif
