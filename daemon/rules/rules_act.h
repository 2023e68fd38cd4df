/* rules_act.h: decisions taken by people (supervisors, designated decision makers, the force
 * crime registrar) applied to an incident's state. Pure, like rules_apply: no I/O, no clock. */
#ifndef FCRD_RULES_ACT_H
#define FCRD_RULES_ACT_H

#include <jansson.h>
#include <stdint.h>

#include "feed/feed_event.h"
#include "rules/rules.h"

struct rules_act_request {
    const char *action; /* "decide" (a pending decision), "cancel" or "reclassify" (a crime) */
    const char *target; /* the pending decision's id, or the crime's CRN */
    const json_t *body; /* the request body, already checked for field types (see proto/) */
    const char *user;   /* who acts */
    const char *role;   /* "supervisor" | "ddm" | "fcr" */
    int64_t at_ms;      /* when */
};

/* rules_act: apply one person's decision to the state of the incident that holds the target.
 *
 * linked: incident id -> state, for incidents the decision may name (a C3 cancellation's
 * surviving crime) or that the state links to; may be NULL.
 *
 * Returns 0 with *new_state and *outcome (caller owns both):
 *   outcome = {status: 200, body: {...the HTTP response body...}, audit: [entries as in rules.h,
 *              each with "actor" and "role" of the person]}
 *   decide:     body {pending: {the closed item}, crimes: [{crn, offence, victim, status, flags}]}
 *   cancel / reclassify: body = the crime {crn, incident_id, offence, victim, status, flags,
 *              recorded_at, rules}
 * or an HTTP status (400, 403, 404, 409, 422) with err: code, message and field when one is at
 * fault; nothing allocated. 403: the role may not (a cancellation the rule set reserves to the
 * force crime registrar); 409: the state forbids it (already cancelled, pending already closed);
 * 422: a recording rule forbids it (C2 without additional verifiable information, C3 whose
 * surviving crime is unknown or not live, C1 whose receiving force cannot be known...). */
int rules_act(const struct rules_env *env, const json_t *state, const json_t *linked,
              const struct rules_act_request *req, json_t **new_state, json_t **outcome,
              struct feed_event_error *err);

#endif
