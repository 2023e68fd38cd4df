/* api_access_list.h: GET /v1/access-log, the access log read back (api_access_list.c). */
#ifndef FCRD_API_ACCESS_LIST_H
#define FCRD_API_ACCESS_LIST_H

#include "api/api_int.h"

/* GET /v1/access-log?user=&incident_id=&ref=&from=&to=&after=&limit=: the access records that
 * match every filter given, oldest first, paged with the cursor `next`. The reply is itself
 * access-logged. */
void api_access_list_get(struct api *a, const struct api_call *call);

#endif
