/* api_write.h: handlers of the API's write endpoints (api_write.c). */
#ifndef FCRD_API_WRITE_H
#define FCRD_API_WRITE_H

#include "api/api_int.h"

/* POST /v1/pending/{id}/decision */
void api_post_decision(struct api *a, const struct api_call *call);
/* POST /v1/crimes/{crn}/cancel */
void api_post_cancel(struct api *a, const struct api_call *call);
/* POST /v1/crimes/{crn}/reclassify */
void api_post_reclassify(struct api *a, const struct api_call *call);

#endif
