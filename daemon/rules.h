/* rules.h: the recording-rules engine. Pure: (incident state, event, rule set) -> decisions.
 * No I/O and no clock reads: time comes in with the event. */
#ifndef FCRD_RULES_H
#define FCRD_RULES_H

#include <jansson.h>
#include <stdint.h>

#include "event.h"
#include "ruleset.h"

struct rules_env {
    const struct ruleset *rs;
    const char *force; /* force code, first part of a crime reference number */
    /* next_serial: a fresh positive number never handed out before (backed by a database
     * sequence in the daemon, by a counter in tests); used for CRNs and pending-decision ids. */
    int64_t (*next_serial)(void *arg);
    void *serial_arg;
};

/* rules_apply: apply one validated event to an incident's state.
 *
 * state: the state document a previous rules_apply returned for this incident, or NULL when
 * fcrd has never seen the incident. It is not modified. The caller has already checked the
 * delivery rules (duplicate event_id, seq order).
 *
 * linked: an object mapping incident id -> state document for every incident named in the
 * event's `links` or in state's `links` that fcrd knows (absent ids are unknown incidents); may be
 * NULL when there are none. Read only.
 *
 * Returns 0 with *new_state (the incident's complete new state) and *outcome, both owned by the
 * caller; or 1 when the event contradicts the state and must be rejected (e.g. "unknown_person"
 * with the JSON path of the reference), err filled and nothing allocated.
 *
 * State document (fields others read; the engine may keep more):
 *   incident_id, last_seq (integer, = ev->seq), category, opened_at (RFC 3339, first contact),
 *   closed_at (absent or RFC 3339), links [{incident_id, relation}] (all links ever received),
 *   crimes:   [{crn, offence, victim (person id or null), status ("recorded"|"cancelled"|"transferred"),
 *               flags [..], recorded_at, rules [ids], ruleset (version), allegations [ids]}],
 *   pending:  [{id, status ("open"|"closed"), reason, opened_at, due, allegation?, victim?,
 *               candidate_offence?, flags [..], rules [ids]}],
 *   decisions: {allegation id: decision object as in the reply}.
 *
 * Outcome document (becomes the feed reply, minus the envelope):
 *   crimes:    crimes created or changed by this event, reply shape {crn, offence, victim, flags, action}
 *   decisions: one per allegation the event touched, reply shape
 *   pending:   the incident's open pending decisions [{id, reason, due}]
 *   warnings:  [{code, message, field?}]
 *   rules:     rule-set version
 *   audit:     [{action, crn?, pending_id?, allegation?, before, after, rules}] one per change of state
 */
int rules_apply(const struct rules_env *env, const json_t *state, const json_t *linked,
                const struct event *ev, json_t **new_state, json_t **outcome, struct event_error *err);

#endif
