/* whatif_diff.h: what a replay under a candidate rule set (whatif.h) would change: each
 * allegation whose outcome or offence differs from the stored one, and the counts a what-if run
 * reports. Pure. */
#ifndef FCRD_WHATIF_DIFF_H
#define FCRD_WHATIF_DIFF_H

#include <jansson.h>
#include <stddef.h>

#include "rules/ruleset.h"

/* whatif_diff: compare the stored state of incident_id with its replayed state (either may be
 * NULL or JSON null) allegation by allegation: every allegation either state holds or decided.
 * For each whose decision's outcome or offence differs, appends to `changes` (an array)
 *   {incident_id, allegation, before: {outcome, offence, crn}, after: {outcome, offence}}
 * (null for what a side does not have). Returns how many allegations were compared. */
size_t whatif_diff(const char *incident_id, const json_t *stored, const json_t *replayed, json_t *changes);

/* The totals of a run. by_category is owned (category -> count of changed allegations). */
struct whatif_diff_summary {
    size_t incidents;   /* incidents replayed (those of the period) */
    size_t allegations; /* allegations compared */
    size_t changed;     /* allegations reported */
    json_t *by_category;
};

/* whatif_diff_summary_init: zero counts, an empty by_category; -1 when out of memory. */
int whatif_diff_summary_init(struct whatif_diff_summary *s);
/* whatif_diff_summary_clear: frees by_category and zeroes s; NULL-safe. */
void whatif_diff_summary_clear(struct whatif_diff_summary *s);

/* whatif_diff_category: the offence category a change counts under: the candidate's category of
 * the offence after, else the current rule set's category of the offence before (either rule set
 * may be NULL); "unknown" for a code its rule set does not know, "none" when neither side names
 * an offence. Borrowed from the rule set, or static. */
const char *whatif_diff_category(const json_t *change, const struct ruleset *candidate,
                                 const struct ruleset *current);

/* whatif_diff_count: count one change (changed and its category). */
void whatif_diff_count(struct whatif_diff_summary *s, const json_t *change, const struct ruleset *candidate,
                       const struct ruleset *current);

/* whatif_diff_summary_json: {incidents, allegations, changed, by_category: {category: n}}, new
 * reference (by_category copied). */
json_t *whatif_diff_summary_json(const struct whatif_diff_summary *s);

#endif
