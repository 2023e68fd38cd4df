/* api_whatif.h: POST /v1/whatif: what a candidate rule set would change, streamed as NDJSON. */
#ifndef FCRD_API_WHATIF_H
#define FCRD_API_WHATIF_H

struct api;
struct api_call;

/* Largest body accepted (a rule set is some tens of kilobytes); [api] max_body applies first. */
#define API_WHATIF_MAX_BODY ((size_t)1 << 20)

void api_post_whatif(struct api *a, const struct api_call *call);

#endif
