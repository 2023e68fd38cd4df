/* api_events.h: GET /v1/incidents/{incident_id}/events, the raw events of an incident (api_events.c). */
#ifndef FCRD_API_EVENTS_H
#define FCRD_API_EVENTS_H

#include "api/api_int.h"

/* GET /v1/incidents/{incident_id}/events?after=&limit=: the incident's stored events in seq
 * order, each with the reply it got. As with a CRN, the id is everything before the final
 * "/events" (the route table's matching). */
void api_events_get(struct api *a, const struct api_call *call);

#endif
