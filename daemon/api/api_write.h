/* api_write.h: handlers of the API's write endpoints (api_write.c). */
#ifndef FCRD_API_WRITE_H
#define FCRD_API_WRITE_H

#include "api/api_int.h"

/* POST /v1/pending/{id}/decision */
void api_post_pending(struct api *a, struct evhttp_request *req, const char *rest, const struct api_caller *who);
/* POST /v1/crimes/{crn}/cancel and /v1/crimes/{crn}/reclassify */
void api_post_crime(struct api *a, struct evhttp_request *req, const char *rest, const struct api_caller *who);

#endif
