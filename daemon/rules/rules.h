/* rules.h: the recording-rules engine. Pure: (incident state, event, rule set) -> decisions.
 * No I/O and no clock reads: time comes in with the event. */
#ifndef FCRD_RULES_H
#define FCRD_RULES_H

#include <jansson.h>
#include <stdint.h>

#include "feed/feed_event.h"
#include "rules/ruleset.h"

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
 * State document (fields others read; the engine keeps more, and owns all of it):
 *   incident_id, last_seq (integer, = ev->seq), category, opened_at (RFC 3339, first contact),
 *   closed_at (absent or RFC 3339), closing {category, code?, reason?} (absent until closed),
 *   links [{incident_id, relation}] (all links ever received), qualifiers [..], reported_by,
 *   persons [..] and allegations [..] (as last received, merged by id), indicators [..] (narrative
 *   phrases seen), ruleset and ruleset_sha256 (version and hash of the last apply),
 *   crimes:   [{crn, offence, victim (person id or null), status ("recorded"|"cancelled"|"transferred"),
 *               flags [..], recorded_at, rules [ids], ruleset (version), ruleset_sha256, allegations [ids],
 *               principal (the allegation whose code the crime carries)}],
 *   pending:  [{id, status ("open"|"closed"), reason, opened_at, due, allegation?, victim?,
 *               candidate_offence?, crn?, role?, flags [..], rules [ids], ruleset, ruleset_sha256,
 *               closed_at?, resolution?}],
 *             resolution is {how: "rules", event_id, outcome} when a later event settled it;
 *   decisions: {allegation id: decision object as in the reply, plus "ruleset" and "ruleset_sha256"}.
 *
 * What the engine leaves alone, so that people's decisions (rules_act) stand:
 *   - a crime whose status is not "recorded" keeps its allegations: they are never counted again;
 *   - a decision carrying "by" (who decided) is kept until an event mentions that allegation again;
 *   - a pending item closed with a resolution whose "how" is not "rules" is not reopened for the
 *     same reason and allegation.
 * The feed never removes or cancels a crime: when its facts change so that it would no longer be
 * recorded (retracted, evidence against, other force...), it stays as it is and a pending item
 * (retraction_review, evidence_against, other_force_area...) asks a decision maker to act.
 *
 * Outcome document (becomes the feed reply, minus the envelope):
 *   crimes:    crimes created or changed by this event, reply shape {crn, offence, victim, flags, action};
 *              action "recorded", "reclassified" (code changed), or "unchanged" (the event spoke of
 *              it, or only its flags changed)
 *   decisions: one per allegation the event mentioned or whose decision changed, reply shape
 *   pending:   the incident's open pending decisions [{id, reason, due}]
 *   warnings:  [{code, message, field?}] the engine's own (the event's validation warnings are
 *              not repeated here: the caller puts them first in the reply)
 *   rules:     rule-set version
 *   audit:     [{action, crn?, pending_id?, allegation?, before, after, rules}] one per change of state;
 *              actions: incident.opened, incident.closed, crime.recorded, crime.reclassified,
 *              crime.updated (flags or victim), decision, pending.opened, pending.updated, pending.closed
 */
int rules_apply(const struct rules_env *env, const json_t *state, const json_t *linked,
                const struct feed_event *ev, json_t **new_state, json_t **outcome, struct feed_event_error *err);

/* rules_update: rules_apply on a state the caller gives up for the time of the call, to spare
 * copying it. state is changed in place and, on success, *new_state is state itself (the caller's
 * reference now holds the new state); with state NULL, *new_state is a new document, the caller's.
 * Nothing else may hold a reference to state, linked included.
 * Returns 0 on success; 1 when the event is rejected, with state untouched; -1 when memory ran out
 * part-way, err filled: state may be half changed and must be thrown away. */
int rules_update(const struct rules_env *env, json_t *state, const json_t *linked, const struct feed_event *ev,
                 json_t **new_state, json_t **outcome, struct feed_event_error *err);

/* rules_apply_persons, rules_update_persons: rules_apply and rules_update with one input more.
 * persons: occasions of other incidents that name the same victims by command-and-control `ref`
 * (the store reads them from the person index, sql/0012_person_index.sql, in the batch's
 * transaction), or NULL (then they are rules_apply and rules_update exactly). An array of
 * {incident_id, allegation, victim_ref, suspect_refs [refs, sorted], offence, group, occasions,
 * occurred_at (RFC 3339 or null), crn (the live crime of that incident holding the allegation, or
 * null)}; read only, borrowed for the call; entries of the incident being decided are ignored. It is
 * an input like the state and the linked incidents: both functions read it alike, and the counting
 * rules decide what it adds (rules_count.c): occasions of one course of conduct against one
 * victim by the same suspects, within the rule set's persons.course_window_days, add up across
 * incidents; the recording rules (rules_record.c) open a possible_duplicate item for a crime that
 * another unlinked incident seems to hold already. */
int rules_apply_persons(const struct rules_env *env, const json_t *state, const json_t *linked,
                        const json_t *persons, const struct feed_event *ev, json_t **new_state, json_t **outcome,
                        struct feed_event_error *err);
int rules_update_persons(const struct rules_env *env, json_t *state, const json_t *linked, const json_t *persons,
                         const struct feed_event *ev, json_t **new_state, json_t **outcome,
                         struct feed_event_error *err);

#endif
