/* api_rulesets.h: GET /v1/rulesets and GET /v1/rulesets/{sha256}, the rule sets fcrd has decided
 * with, as stored (sql/0010_rulesets.sql; api_rulesets.c). */
#ifndef FCRD_API_RULESETS_H
#define FCRD_API_RULESETS_H

#include "api/api_int.h"

/* GET /v1/rulesets: {items: [{version, sha256, loaded_at, loaded_by, loaded}], loaded: {version,
 * sha256}}, oldest first; `loaded` marks the rule set deciding now. */
void api_rulesets_list(struct api *a, const struct api_call *call);

/* GET /v1/rulesets/{sha256}: one stored rule set with its canonical text (`text`, the exact bytes
 * its hash is of) and that text as a JSON document (`document`); 404 when none has that hash. */
void api_rulesets_get(struct api *a, const struct api_call *call);

#endif
