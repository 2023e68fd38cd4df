/* incident_members.h: an incident's persons and allegations as rows of their own
 * (sql/0023_incident_members.sql), so that writing an event costs what the event changes. */
#ifndef FCRD_INCIDENT_MEMBERS_H
#define FCRD_INCIDENT_MEMBERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct jsonwrite_buf;

/* incident_members_kind: whether `key` names one of the state's member arrays ("persons",
 * "allegations"), which the incident's row does not hold. */
bool incident_members_kind(const char *key);

/* incident_members_touch: records in `touched` (incident id -> {kind -> {member id -> true}}) the
 * members an accepted event `doc` of `incident_id` names. The rules change a member only by
 * merging an event's entry of the same id into the state (rules.c, rules_merge_by_id), so these
 * are the only members a batch can change. Returns -1 when memory runs out. */
int incident_members_touch(json_t *touched, const char *incident_id, const json_t *doc);

/* incident_members_rows: the rows of the members `ids` ({kind -> {member id -> true}}) of the
 * incident `incident_id` as they stand in its final `state`, one line each of tab-separated
 * fields: incident id, kind, position in its array, member id, its `ref` as a JSON string (empty
 * when it has none), the member as compact JSON (SQL_WRITE's `mb`). A member no longer in the
 * state is skipped (the rules never remove one). */
void incident_members_rows(struct jsonwrite_buf *b, const char *incident_id, const json_t *state, const json_t *ids);

/* incident_members_attach: sets, in every state of `states` (incident id -> state or JSON null),
 * each member array read from the incident's rows (`read`: incident id -> {kind -> array}, may be
 * NULL), and an empty array for a kind the state has no array of (a state read from its row with
 * no member rows); a state that has its arrays and none read (one the lane's cache kept) keeps
 * them. Returns -1 when memory runs out. */
int incident_members_attach(json_t *states, const json_t *read);

#endif
