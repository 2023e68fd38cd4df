/* api_whatif.h: POST /v1/whatif: what a candidate rule set would change, streamed as NDJSON. */
#ifndef FCRD_API_WHATIF_H
#define FCRD_API_WHATIF_H

struct api;
struct api_call;


void api_post_whatif(struct api *a, const struct api_call *call);

#endif
