/* api_retention.h: retention of personal data (docs/operations.md, "Data protection"): an
 * incident's legal hold, and retention runs that redact what is past its period. */
#ifndef FCRD_API_RETENTION_H
#define FCRD_API_RETENTION_H

#include "api/api_int.h"

/* POST /v1/incidents/{incident_id}/legal-hold: {hold, reason}; audited (incident.legal_hold). */
void api_retention_hold(struct api *a, const struct api_call *call);
/* POST /v1/retention/run: {dry_run}; lists, or redacts, the incidents past their period. */
void api_retention_run(struct api *a, const struct api_call *call);

#endif
