/* api_audits_stats.c: the recording rate and the agreement of an independent audit, each with its
 * Wilson 95% score interval, from counts of verdicts. */
#include "api/api_audits_stats.h"
#include "util/wilson.h"

#include <string.h>

/* The two-sided 95% normal quantile, as the inspectorate's published intervals use it. */

const char *const api_audits_stats_verdicts[] = {"correct", "crime_missed", "wrong_classification",
                                                 "wrongly_cancelled", "not_a_crime", NULL};

bool api_audits_stats_add(struct api_audits_counts *c, const char *verdict, bool recorded)
{
    if (!verdict) {
        c->sampled++;
        return true;
    }
    size_t v = 0;
    while (api_audits_stats_verdicts[v] && strcmp(api_audits_stats_verdicts[v], verdict) != 0)
        v++;
    if (!api_audits_stats_verdicts[v])
        return false;
    c->sampled++;
    c->reviewed++;
    c->by_verdict[v]++;
    bool correct = v == 0;
    /* Whether a crime should have been recorded is the auditor's finding; whether fcrd recorded it
     * is, for `correct`, what fcrd had done, and for the others what the verdict says it did. */
    bool should = correct ? recorded : strcmp(verdict, "not_a_crime") != 0;
    bool did = correct ? recorded : strcmp(verdict, "wrong_classification") == 0;
    c->should_record += should;
    c->recorded += should && did;
    c->agreed += correct;
    return true;
}

/* rate, ci_low and ci_high of part/whole under the given names; nulls when whole is 0. */
static void api_audits_stats_rate(json_t *out, long part, long whole, const char *rate, const char *low,
                                  const char *high)
{
    double lo, hi;
    if (wilson_95(part, whole, &lo, &hi)) {
        json_object_set_new(out, rate, json_real((double)part / (double)whole));
        json_object_set_new(out, low, json_real(lo));
        json_object_set_new(out, high, json_real(hi));
    } else {
        json_object_set_new(out, rate, json_null());
        json_object_set_new(out, low, json_null());
        json_object_set_new(out, high, json_null());
    }
}

json_t *api_audits_stats_result(const struct api_audits_counts *c)
{
    json_t *out = json_pack("{s:I, s:I, s:I, s:I}", "sampled", (json_int_t)c->sampled, "reviewed",
                            (json_int_t)c->reviewed, "should_record", (json_int_t)c->should_record, "recorded",
                            (json_int_t)c->recorded);
    json_t *verdicts = json_object();
    if (!out || !verdicts) {
        json_decref(out);
        json_decref(verdicts);
        return NULL;
    }
    for (size_t v = 0; api_audits_stats_verdicts[v]; v++)
        json_object_set_new(verdicts, api_audits_stats_verdicts[v], json_integer((json_int_t)c->by_verdict[v]));
    json_object_set_new(out, "verdicts", verdicts);
    api_audits_stats_rate(out, c->recorded, c->should_record, "recording_rate", "recording_ci_low",
                          "recording_ci_high");
    api_audits_stats_rate(out, c->agreed, c->reviewed, "agreement", "agreement_ci_low", "agreement_ci_high");
    return out;
}
