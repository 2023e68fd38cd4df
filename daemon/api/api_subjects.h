/* api_subjects.h: GET /v1/subjects/{ref}, a subject access export (api_subjects.c). */
#ifndef FCRD_API_SUBJECTS_H
#define FCRD_API_SUBJECTS_H

#include "api/api_int.h"

/* GET /v1/subjects/{ref}: everything held about the person with command-and-control ref `ref`,
 * incident by incident: the person entries carrying the ref, the allegations naming them (as
 * victim or suspect), the crimes of those allegations or with them as victim, the
 * pending decisions about them, and the audit entries of those crimes, decisions and
 * allegations or whose text quotes the ref. The export is itself access-logged. */
void api_subjects_get(struct api *a, const struct api_call *call);

#endif
