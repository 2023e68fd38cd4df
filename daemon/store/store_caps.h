/* store_caps.h: whether an event would take its incident past the per-incident caps (persons,
 * allegations, links; [feed] max_*_per_incident). Pure: the incident's state and the event in, a
 * verdict out, so that it is tested on its own (tests/unit/test_store_caps.c). */
#ifndef FCRD_STORE_CAPS_H
#define FCRD_STORE_CAPS_H

#include <jansson.h>
#include <stddef.h>

#include "store/store.h"

/* store_caps_check: counts what the incident would hold once `doc` (a validated feed event) is
 * merged into `state` (the incident's state, or NULL for a new incident) the way the rules merge
 * it: persons and allegations by id, links by (incident_id, relation). Returns 0 when every count
 * is within caps (a 0 cap is no limit), or 1 with the first one over named in field ("persons",
 * "allegations" or "links") and a sentence in msg. Nothing is changed. */
int store_caps_check(const struct store_incident_caps *caps, const json_t *state, const json_t *doc, char *field,
                     size_t fieldlen, char *msg, size_t msglen);

#endif
