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

/* A stratum holds a crime (or a pending decision's candidate offence) by category and flags. */
#define SQL_MEMBER(x)                                                                                        \
    "(CASE s.name WHEN 'all_crime' THEN " x ".category <> 'fraud'"                                           \
    " WHEN 'violence_against_the_person' THEN " x ".category = 'violence'"                                   \
    " WHEN 'sexual_offences' THEN " x ".category IN ('sexual', 'rape')"                                      \
    " WHEN 'rape' THEN " x ".category = 'rape'"                                                              \
    " ELSE 'domestic_abuse' = ANY(" x ".flags) END)"

/* The period's incidents are those first reported in it (opened_at); a row with no state yet has
 * no opened_at, so the range alone finds them, from incidents_opened_at
 * (sql/0024_period_indexes.sql) without reading the rows' states. */
#define SQL_CDI                                                                                              \
    "WITH cat AS (SELECT key AS code, value #>> '{}' AS category FROM jsonb_each($3::jsonb)),"               \
    " inc AS (SELECT incident_id, opened_at, category FROM incidents"                                        \
    "  WHERE opened_at >= $1::timestamptz AND opened_at < $2::timestamptz),"                                 \
    " c AS (SELECT cr.incident_id, cr.status, cr.flags, cr.recorded_at, inc.opened_at,"                      \
    "  coalesce(cat.category, 'other') AS category FROM crimes cr JOIN inc USING (incident_id)"             \
    "  LEFT JOIN cat ON cat.code = cr.offence),"                                                             \
    " p AS (SELECT pd.incident_id, pd.status, pd.flags, pd.due, pd.reason, pd.resolution,"                   \
    "  coalesce(cat.category, 'other') AS category FROM pending_decisions pd JOIN inc USING (incident_id)"  \
    "  LEFT JOIN cat ON cat.code = pd.candidate_offence),"                                                   \
    " s(name, ord) AS (VALUES ('all_crime', 1), ('violence_against_the_person', 2),"                         \
    "  ('sexual_offences', 3), ('rape', 4), ('domestic_abuse', 5)),"                                         \
    " per AS (SELECT s.ord, json_build_object('name', s.name,"                                               \
    "  'incidents', (SELECT count(DISTINCT x.incident_id) FROM (SELECT incident_id, category, flags FROM c"  \
    "   UNION ALL SELECT incident_id, category, flags FROM p) x WHERE " SQL_MEMBER("x") "),"                 \
    "  'crimes', (SELECT count(*) FROM c WHERE c.status = 'recorded' AND " SQL_MEMBER("c") "),"              \
    "  'first_contact', (SELECT count(*) FROM c WHERE c.status = 'recorded' AND c.recorded_at <= c.opened_at" \
    "   AND " SQL_MEMBER("c") "),"                                                                           \
    "  'within_24h', (SELECT count(*) FROM c WHERE c.status = 'recorded'"                                    \
    "   AND c.recorded_at <= c.opened_at + interval '24 hours' AND " SQL_MEMBER("c") "),"                    \
    "  'overdue_pending', (SELECT count(*) FROM p WHERE p.status = 'open' AND p.due < now() AND "            \
    SQL_MEMBER("p") "),"                                                                                     \
    "  'open_pending', (SELECT count(*) FROM p WHERE p.status = 'open' AND " SQL_MEMBER("p") ")) AS j"      \
    "  FROM s)"                                                                                              \
    " SELECT json_build_object("                                                                             \
    "  'strata', (SELECT json_agg(j ORDER BY ord) FROM per),"                                                \
    "  'incidents_in_period', (SELECT count(*) FROM inc),"                                                   \
    "  'cancellations', (SELECT coalesce(json_agg(json_build_object('reason', reason, 'role', role,"         \
    "   'count', n) ORDER BY reason, role), '[]'::json) FROM (SELECT a.after->'cancellation'->>'reason'"     \
    "   AS reason, a.role, count(*) AS n FROM audit a JOIN inc USING (incident_id)"                          \
    "   WHERE a.action IN ('crime.cancelled', 'crime.transferred') GROUP BY 1, 2) z),"                       \
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
    json_t *r = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
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
