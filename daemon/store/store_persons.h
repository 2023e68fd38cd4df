/* store_persons.h: the person index (sql/0012_person_index.sql): an incident's rows from its state,
 * and the occasions of other incidents the rules read (rules_update_persons). */
#ifndef FCRD_STORE_PERSONS_H
#define FCRD_STORE_PERSONS_H

#include <jansson.h>
#include <stdbool.h>

#include "rules/ruleset.h"
#include "util/jsonwrite.h"

/* store_persons_rows: the index rows of one incident's state (NULL or null: none), one per
 * allegation and person named in it with a `ref` (victims_only: only the victims' rows), each
 * {ref, role, incident_id, allegation, victim_ref, suspect_refs, offence, offence_group, course,
 * occasions, occurred_at, reported_at, crn}, the shape rules_update_persons reads. New reference
 * (an empty array when there are none); NULL only when memory ran out. */
json_t *store_persons_rows(const char *incident_id, const json_t *state, const struct ruleset *rs, bool victims_only);

/* store_persons_victim_refs: appends to b, as elements of a text[] literal being built (b empty
 * or holding "{elem,elem"), the refs of the victims of the event's allegations (persons of the
 * event, or of the incident's state when the event does not resend them). */
void store_persons_victim_refs(struct jsonwrite_buf *b, const json_t *event_doc, const json_t *state);

/* store_persons_flatten: every row of by_incident (incident id -> array of rows) as one array, the
 * rules' `persons` input. New reference; NULL when memory ran out. */
json_t *store_persons_flatten(const json_t *by_incident);

#endif
