/* store_lane.h: where a store lane's transaction stands. A lane is one store connection carrying one
 * batch at a time (store_int.h); its state changes only through store_lane_state_set, which knows
 * the transitions the write path makes and refuses any other. */
#ifndef FCRD_STORE_LANE_H
#define FCRD_STORE_LANE_H

enum store_lane_state {
    STORE_LANE_IDLE,     /* no batch in flight; takes the next one when its connection is ready */
    STORE_LANE_READING,  /* round trip 1: BEGIN, create, lock the incidents, read seen events, serials */
    STORE_LANE_WRITING,  /* the writes and audit entries; for a direct batch with BEGIN (its first
                          * round trip). Nothing can have committed: a loss is answered retry */
    STORE_LANE_ENDING,   /* ROLLBACK of a batch that accepted nothing, answered as a COMMIT would be */
    STORE_LANE_COMMITTING, /* COMMIT in flight: a loss now leaves the batch in doubt */
    STORE_LANE_ROLLING_BACK, /* ROLLBACK after a failure: costs the batch's items an attempt */
    STORE_LANE_REDOING,  /* ROLLBACK of a planned redo (more serials, or a direct batch the database
                          * refused): the batch is decided again at no attempt's cost */
};
#define STORE_LANE_NSTATES (STORE_LANE_REDOING + 1)

/* store_lane_state_set: *state becomes `to` when the write path makes that transition (returns 0);
 * otherwise logs an error, leaves *state as it was and returns -1. */
int store_lane_state_set(enum store_lane_state *state, enum store_lane_state to);

/* store_lane_state_name: for log lines (static string; "?" when out of range). */
const char *store_lane_state_name(enum store_lane_state s);

#endif
