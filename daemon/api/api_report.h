/* api_report.h: the crime-data-integrity self-audit report (api_report.c). */
#ifndef FCRD_API_REPORT_H
#define FCRD_API_REPORT_H

#include "api/api_int.h"

/* GET /v1/reports/cdi?from=&to= */
void api_get_cdi(struct api *a, const struct api_call *call);

#endif
