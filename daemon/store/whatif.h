/* whatif.h: replaying an incident's stored events and people's decisions through another rule
 * set, without a database: what the store would have decided (store_batch.c), item by item in
 * the original order, with the same linked incidents. Pure: no I/O, no clock. */
#ifndef FCRD_WHATIF_H
#define FCRD_WHATIF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/rules.h"
#include "rules/rules_act.h"

/* What a replay met on its way. */
struct whatif_stats {
    size_t events;            /* events replayed */
    size_t events_refused;    /* events the candidate rules refused (an event the rule set cannot take) */
    size_t decisions;         /* people's decisions replayed */
    size_t decisions_refused; /* ...that rules_act refused under the candidate (authority, state) */
    size_t decisions_unmatched; /* ...whose pending item or crime the replay never produced */
};

/* One incident as read for a replay (see whatif_run.c for the query that makes it):
 *   {incident_id, state: the stored state (the "before"),
 *    events: [[seq, body (the event's canonical text), key (the lowest audit id of its entries,
 *              or null when it has none)], ...] in seq order,
 *    acts:   [{id (audit id), action, actor, role, at, crn, pending_id, after, rules}, ...]: the
 *              audit entries of people (role other than "rules") in id order}.
 * A group is an array of such records: the incident to replay first, then the incidents its
 * stored state links to. Audit ids give one order to the items of incidents that link to each
 * other (the store appends their entries while holding both incidents' row locks); an event
 * without entries keeps its place after the item before it in its incident. */

/* whatif_replay: replay every record of `group` from nothing, items in their original order,
 * through env (rule set, force, serials). An event is decided with the replayed states of the
 * incidents it and its incident link to (incident_linked), a person's decision with every other
 * incident of the group (incident_others), as the store does. A person's decision is found
 * again by what it was about (whatif_request); one the replay cannot place is counted in stats
 * and skipped. Returns a new object incident_id -> replayed state (JSON null when no event of
 * that incident could be applied); NULL when memory ran out. stats is added to. */
json_t *whatif_replay(const struct rules_env *env, const json_t *group, struct whatif_stats *stats);

/* The person's decision an audit entry records, rebuilt for rules_act. The strings point into
 * act, stored and replayed (borrowed); body is owned by the request (whatif_request_clear). */
struct whatif_request {
    struct rules_act_request req;
    json_t *body;
};

/* whatif_request: when `act` (an acts element above) is the first entry of a person's decision
 * (pending.closed by a decision, crime.cancelled, crime.transferred, crime.reclassified by
 * itself), rebuild the request: its target translated from the stored state (`stored`) to the
 * replayed one (`replayed`: the pending item of the same reason and allegation, the live crime
 * holding the same allegation), `others` (incident id -> stored state, may be NULL) and
 * `replayed_all` (incident id -> replayed state, may be NULL) translating a C3's surviving crime.
 * Returns 1 with *out filled, 0 when the entry is a consequence of another (crime.recorded by a
 * decision, a review's reclassification, a pending item a cancellation closed), -1 when it is a
 * decision whose target the replay does not hold. */
int whatif_request(const json_t *act, const json_t *stored, const json_t *replayed, const json_t *others,
                   const json_t *replayed_all, struct whatif_request *out);
void whatif_request_clear(struct whatif_request *r);

#endif
