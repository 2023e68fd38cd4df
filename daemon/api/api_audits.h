/* api_audits.h: independent audits of recording: a reproducible random sample of the incidents of
 * a period, an auditor's verdict per incident, and the recording rate the verdicts give
 * (api_audits.c; the figures in api_audits_stats.c). */
#ifndef FCRD_API_AUDITS_H
#define FCRD_API_AUDITS_H

#include "api/api_int.h"

/* POST /v1/audits: draw a sample. */
void api_audits_post(struct api *a, const struct api_call *call);
/* GET /v1/audits: the samples drawn, newest first. */
void api_audits_list(struct api *a, const struct api_call *call);
/* GET /v1/audits/{id}: a sample's items, their verdicts and the results. */
void api_audits_get(struct api *a, const struct api_call *call);
/* POST /v1/audits/{id}/verdicts: an auditor's verdict on one item. */
void api_audits_post_verdict(struct api *a, const struct api_call *call);

#endif
