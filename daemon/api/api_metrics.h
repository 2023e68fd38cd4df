/* api_metrics.h: GET /metrics, the Prometheus exposition of the daemon's metrics. */
#ifndef FCRD_API_METRICS_H
#define FCRD_API_METRICS_H

#include "api/api_int.h"

void api_get_metrics(struct api *a, const struct api_call *call);

#endif
