/* incident.h: read-only views of an incident state document (see rules.h). */
#ifndef FCRD_INCIDENT_H
#define FCRD_INCIDENT_H

#include <jansson.h>
#include <stdint.h>

struct jsonwrite_buf;

/* incident_view: the incident as GET /v1/incidents/{id} shows it (supervisor API):
 * {incident_id, category, opened_at, closed_at?, crimes: [{crn, offence, victim, status, flags,
 * recorded_at, rules}], decisions: [latest decision per allegation], pending: [open items only],
 * persons: [..], allegations: [..] (as last received)}.
 * Returns a new reference. */
json_t *incident_view(const json_t *state);

/* incident_linked: the incidents a feed event consults besides its own, as the store hands them
 * to the rules: every incident that `doc`'s links or the stored `state`'s links name, other than
 * `self`, whose state in `states` (incident id -> state, JSON null for one never opened) exists.
 * Returns a new object of id -> state (borrowed values, counted references). */
json_t *incident_linked(const json_t *states, const json_t *doc, const json_t *state, const char *self);

/* incident_others: what a person's decision consults besides its incident: every other opened
 * incident in `states` (the store passes those its batch holds). New object, as above. */
json_t *incident_others(const json_t *states, const char *self);

/* incident_person_ref: the command-and-control `ref` of the state's person `person_id`, or NULL
 * (no such person, no ref, or either argument NULL). Borrowed from the state. */
const char *incident_person_ref(const json_t *state, const char *person_id);

/* incident_last_seq: the state's last_seq, 0 when state is NULL. */
int64_t incident_last_seq(const json_t *state);

/* incident_row_line: the incident's row as one line for the write statement (SQL_WRITE in
 * store_sql.h): incident_id, last_seq, category, opened_at, closed_at (empty for null) and the
 * state without its persons and allegations (their rows are incident_members.h's),
 * tab-separated; or, when a column cannot go as a field (a control character, an empty string,
 * not a string), the row as one JSON object with those members. Ends with a newline. */
void incident_row_line(struct jsonwrite_buf *b, const char *id, const json_t *state);

#endif
