/* api_audits_stats.h: the figures of an independent audit, computed from counts of verdicts
 * (api_audits_stats.c). Pure functions: no I/O, no allocation but the returned JSON. */
#ifndef FCRD_API_AUDITS_STATS_H
#define FCRD_API_AUDITS_STATS_H

#include <jansson.h>
#include <stdbool.h>

/* The verdicts an auditor may give, in the order results list them; NULL-terminated. */
extern const char *const api_audits_stats_verdicts[];
#define API_AUDITS_STATS_NVERDICTS 5

/* The counts of one stratum (or of the whole sample). Zero it to start. */
struct api_audits_counts {
    long sampled;       /* items drawn */
    long reviewed;      /* items with a verdict */
    long should_record; /* reviewed items holding a crime that should have been recorded */
    long recorded;      /* ...of which fcrd had recorded it */
    long agreed;        /* reviewed items with the verdict `correct` */
    long by_verdict[API_AUDITS_STATS_NVERDICTS];
};

/* api_audits_stats_add: count one sampled item. verdict is its latest verdict (NULL: not reviewed
 * yet); recorded says whether fcrd held a recorded crime of the incident when it was given.
 *
 *   verdict               should_record  recorded
 *   correct, recorded     yes            yes       fcrd recorded the crime there was
 *   correct, not recorded no             -         rightly nothing recorded
 *   wrong_classification  yes            yes       recorded, under the wrong offence
 *   crime_missed          yes            no
 *   wrongly_cancelled     yes            no        recorded, then wrongly cancelled
 *   not_a_crime           no             -         recorded (or held) without a crime
 *
 * False (nothing counted) for a verdict outside the list. */
bool api_audits_stats_add(struct api_audits_counts *c, const char *verdict, bool recorded);

/* api_audits_stats_result: {sampled, reviewed, should_record, recorded, verdicts: {VERDICT: n},
 * recording_rate (recorded / should_record), recording_ci_low, recording_ci_high, agreement
 * (agreed / reviewed), agreement_ci_low, agreement_ci_high}; a rate and its interval are null when
 * its denominator is 0. Returns a new reference (NULL when out of memory). */
json_t *api_audits_stats_result(const struct api_audits_counts *c);

#endif
