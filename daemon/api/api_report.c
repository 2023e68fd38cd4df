/* api_report.c: GET /v1/reports/cdi, the crime-data-integrity self-audit for a period.
 *
 * The period selects incidents by first contact. Per stratum (all crime but fraud, violence
 * against the person, sexual offences, rape, domestic abuse) it counts crime-related incidents,
 * crimes recorded, recording debt (pending decisions open past their 24-hour deadline), the
 * recording rate recorded / (recorded + debt) with a Wilson 95% interval, and how many crimes
 * were recorded at first contact and within 24 hours. Cancellations are counted by reason and
 * approver role, hidden-crime reviews by how they ended. Which stratum an offence belongs to
 * comes from the rule set's offence table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/api_report.h"
#include "util/jsonwrite.h"
#include "rules/ruleset.h"
#include "util/timefmt.h"
#include "util/wilson.h"

/* The strata, as five booleans (m1 to m5) of a row whose offence category is `k` and whose flags are
 * `flags`: all crime but fraud, violence against the person, sexual offences, rape, domestic abuse.
 * Computed once per row, so that every count below is one pass over the period's rows. */
#define SQL_STRATA_OF_ROW                                                                                    \
    "k <> 'fraud' AS m1, k = 'violence' AS m2, k IN ('sexual', 'rape') AS m3, k = 'rape' AS m4,"             \
    " 'domestic_abuse' = ANY(flags) AS m5"

/* count(*) of the rows meeting `cond` in each stratum, as columns <name>1 to <name>5. */
#define SQL_PER_STRATUM(cond, name)                                                                          \
    "count(*) FILTER (WHERE " cond " AND m1) AS " name "1, count(*) FILTER (WHERE " cond " AND m2) AS " name  \
    "2, count(*) FILTER (WHERE " cond " AND m3) AS " name "3, count(*) FILTER (WHERE " cond " AND m4) AS "    \
    name "4, count(*) FILTER (WHERE " cond " AND m5) AS " name "5"

/* A stratum's object from the counts' columns. */
#define SQL_STRATUM(name, i)                                                                                 \
    "json_build_object('name', '" name "', 'incidents', n" i ", 'crimes', r" i ", 'first_contact', f" i      \
    ", 'within_24h', d" i ", 'overdue_pending', o" i ", 'open_pending', q" i ")"

/* The period selects incidents by first contact. A crime and a pending decision carry their
 * incident's first contact (first_contact, sql/0025_first_contact.sql), so the period's crimes and
 * decisions are one index range each (crimes_first_contact, pending_first_contact), and the count
 * of the period's incidents reads incidents_opened_at alone (sql/0024_period_indexes.sql): the
 * report's cost follows the rows of the period, not the years the tables hold. An incident counts
 * in a stratum when any of its crimes or decisions does (the distinct incidents of c and p). */
#define SQL_CDI                                                                                              \
    "WITH cat AS (SELECT key AS code, value #>> '{}' AS category FROM jsonb_each($3::jsonb)),"               \
    " c AS MATERIALIZED (SELECT incident_id, rec, rec AND recorded_at <= first_contact AS fc,"               \
    "  rec AND recorded_at <= first_contact + interval '24 hours' AS d, " SQL_STRATA_OF_ROW                  \
    "  FROM (SELECT cr.incident_id, cr.status = 'recorded' AS rec, cr.recorded_at, cr.first_contact,"       \
    "   cr.flags, coalesce(cat.category, 'other') AS k FROM crimes cr LEFT JOIN cat ON cat.code = cr.offence" \
    "   WHERE cr.first_contact >= $1::timestamptz AND cr.first_contact < $2::timestamptz) AS x),"           \
    " p AS MATERIALIZED (SELECT incident_id, status, reason, resolution, status = 'open' AS open,"          \
    "  status = 'open' AND due < now() AS overdue, " SQL_STRATA_OF_ROW                                       \
    "  FROM (SELECT pd.incident_id, pd.status, pd.reason, pd.resolution, pd.due, pd.flags,"                  \
    "   coalesce(cat.category, 'other') AS k"                                                                \
    "   FROM pending_decisions pd LEFT JOIN cat ON cat.code = pd.candidate_offence"                          \
    "   WHERE pd.first_contact >= $1::timestamptz AND pd.first_contact < $2::timestamptz) AS x),"           \
    " cs AS (SELECT " SQL_PER_STRATUM("rec", "r") ", " SQL_PER_STRATUM("fc", "f") ", "                       \
    SQL_PER_STRATUM("d", "d") " FROM c),"                                                                    \
    " ps AS (SELECT " SQL_PER_STRATUM("overdue", "o") ", " SQL_PER_STRATUM("open", "q") " FROM p),"          \
    " xs AS (SELECT " SQL_PER_STRATUM("true", "n") " FROM (SELECT incident_id, bool_or(m1) AS m1,"           \
    "  bool_or(m2) AS m2, bool_or(m3) AS m3, bool_or(m4) AS m4, bool_or(m5) AS m5"                           \
    "  FROM (SELECT incident_id, m1, m2, m3, m4, m5 FROM c UNION ALL"                                        \
    "   SELECT incident_id, m1, m2, m3, m4, m5 FROM p) AS u GROUP BY incident_id) AS g)"                     \
    " SELECT json_build_object("                                                                             \
    "  'strata', (SELECT json_build_array(" SQL_STRATUM("all_crime", "1") ","                                \
    "   " SQL_STRATUM("violence_against_the_person", "2") ", " SQL_STRATUM("sexual_offences", "3") ","       \
    "   " SQL_STRATUM("rape", "4") ", " SQL_STRATUM("domestic_abuse", "5") ") FROM cs, ps, xs),"             \
    "  'incidents_in_period', (SELECT count(*) FROM incidents"                                               \
    "   WHERE opened_at >= $1::timestamptz AND opened_at < $2::timestamptz),"                                \
    "  'cancellations', (SELECT coalesce(json_agg(json_build_object('reason', reason, 'role', role,"         \
    "   'count', n) ORDER BY reason, role), '[]'::json) FROM (SELECT a.after->'cancellation'->>'reason'"     \
    "   AS reason, a.role, count(*) AS n FROM audit a JOIN incidents i USING (incident_id)"                  \
    "   WHERE a.action IN ('crime.cancelled', 'crime.transferred')"                                          \
    "   AND i.opened_at >= $1::timestamptz AND i.opened_at < $2::timestamptz GROUP BY 1, 2) z),"             \
    "  'hidden_crime_reviews', (SELECT json_build_object('opened', count(*),"                                \
    "   'open', count(*) FILTER (WHERE status = 'open'),"                                                    \
    "   'recorded', count(*) FILTER (WHERE status = 'closed' AND resolution->>'decision' = 'record'),"       \
    "   'no_crime', count(*) FILTER (WHERE status = 'closed' AND resolution->>'decision' = 'no_crime'),"     \
    "   'transferred', count(*) FILTER (WHERE status = 'closed' AND resolution->>'decision' = 'transfer'),"  \
    "   'closed_by_rules', count(*) FILTER (WHERE status = 'closed' AND resolution->>'how' = 'rules'))"       \
    "   FROM p WHERE p.reason = 'possible_crime'))::text"

static json_t *share(json_int_t part, json_int_t whole)
{
    return whole > 0 ? json_real((double)part / (double)whole) : json_null();
}

static void cdi_finish(struct evhttp_request *req, const PGresult *res, void *arg)
{
    json_t *period = arg;
    json_t *r = PQntuples(res) == 1 ? api_db_json(res, 0, 0) : NULL;
    if (!r) {
        json_decref(period);
        api_error(req, 500, "internal", "the report could not be built", NULL);
        return;
    }
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r, "strata"), i, s)
    {
        json_int_t crimes = json_integer_value(json_object_get(s, "crimes"));
        json_int_t debt = json_integer_value(json_object_get(s, "overdue_pending"));
        json_int_t n = crimes + debt;
        double lo, hi;
        if (wilson_95((long)crimes, (long)n, &lo, &hi)) {
            json_object_set_new(s, "rate", json_real((double)crimes / (double)n));
            json_object_set_new(s, "ci_low", json_real(lo));
            json_object_set_new(s, "ci_high", json_real(hi));
        } else {
            json_object_set_new(s, "rate", json_null());
            json_object_set_new(s, "ci_low", json_null());
            json_object_set_new(s, "ci_high", json_null());
        }
        json_object_set_new(s, "first_contact_share",
                            share(json_integer_value(json_object_get(s, "first_contact")), crimes));
        json_object_set_new(s, "within_24h_share", share(json_integer_value(json_object_get(s, "within_24h")), crimes));
    }
    json_object_update(r, period);
    json_decref(period);
    api_send_json(req, 200, r);
}

static void period_free(void *arg)
{
    json_decref(arg);
}

/* A date (YYYY-MM-DD, the whole day in UTC) or an RFC 3339 time; `end` moves a date to its end. */
static bool period_bound(const char *text, bool end, int64_t *ms)
{
    int y, m, d;
    char extra;
    if (text && strlen(text) == 10 && sscanf(text, "%4d-%2d-%2d%c", &y, &m, &d, &extra) == 3) {
        char full[32];
        snprintf(full, sizeof(full), "%sT00:00:00Z", text);
        if (!timefmt_parse(full, ms))
            return false;
        if (end)
            *ms += 24 * TIMEFMT_HOUR_MS;
        return true;
    }
    return text && timefmt_parse(text, ms);
}

void api_get_cdi(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    static const char *const allowed[] = {"from", "to", NULL};
    json_t *params = api_query_params(req, allowed);
    if (!params)
        return;
    int64_t from, to;
    const char *bad = !period_bound(json_string_value(json_object_get(params, "from")), false, &from) ? "from"
                      : !period_bound(json_string_value(json_object_get(params, "to")), true, &to)    ? "to"
                      : NULL;
    json_decref(params);
    if (bad) {
        api_error(req, 400, "bad_query", "a date (YYYY-MM-DD) or an RFC 3339 time is required", bad);
        return;
    }
    if (to <= from) {
        api_error(req, 400, "bad_query", "the period must end after it starts", "to");
        return;
    }
    const struct ruleset *rs = api_ruleset(a);
    json_t *cats = json_object();
    for (size_t i = 0; rs && i < ruleset_offence_count(rs); i++) {
        const struct ruleset_offence *o = ruleset_offence_at(rs, i);
        json_object_set_new(cats, o->code, json_string(o->category ? o->category : "other"));
    }
    char f[TIMEFMT_LEN], t[TIMEFMT_LEN];
    timefmt_format(from, f);
    timefmt_format(to, t);
    char *catjson = jsonwrite_dumps(cats, 0);
    json_decref(cats);
    json_t *period = json_pack("{s:s, s:s, s:s?}", "from", f, "to", t, "ruleset", rs ? ruleset_version(rs) : NULL);
    const char *p[3] = {f, t, catjson};
    api_read_owned(a, call, SQL_CDI, 3, p, cdi_finish, period, period_free);
    free(catjson);
}
