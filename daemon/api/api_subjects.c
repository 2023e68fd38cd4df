/* api_subjects.c: GET /v1/subjects/{ref}: a subject access export, everything held about one
 * person across incidents.
 *
 * A person is known by the command-and-control `ref` the feed gives them; within an incident they
 * are a person id (persons[].id of the state) that allegations, crimes and pending decisions
 * name. The incidents are those whose person index rows (sql/0012_person_index.sql) or crimes
 * name the ref, and those with a person of that ref (a witness or a reporter is in neither: their
 * rows in incident_members are found by the ref's own index, sql/0023_incident_members.sql). */
#include "api/api_subjects.h"

#include <stdlib.h>
#include <string.h>

#define SQL_TS_MS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* One row per incident, in incident id order: {incident_id, persons, allegations, crimes,
 * pending, audit}. pids: the person's ids in the incident; aids: the allegations naming them;
 * crns: the crimes of those allegations or with them as victim. */
#define SQL_SUBJECT                                                                                          \
    "WITH inc AS (SELECT i.incident_id, incident_doc(i.incident_id, i.state)::jsonb AS s FROM incidents i"      \
    "  WHERE i.state IS NOT NULL"                                                                            \
    "  AND (i.incident_id IN (SELECT x.incident_id FROM person_index x WHERE x.ref = $1)"                    \
    "   OR i.incident_id IN (SELECT c.incident_id FROM crimes c WHERE c.victim_ref = $1)"                    \
    "   OR i.incident_id IN (SELECT m.incident_id FROM incident_members m"                                   \
    "    WHERE m.ref = $1 AND m.kind = 'persons'))),"                                                 \
    " pp AS (SELECT inc.incident_id, inc.s, ARRAY(SELECT e->>'id' FROM"                                      \
    "  jsonb_array_elements(coalesce(inc.s->'persons', '[]'::jsonb)) e WHERE e->>'ref' = $1) AS pids FROM inc)," \
    " aa AS (SELECT pp.*, ARRAY(SELECT e->>'id' FROM jsonb_array_elements(coalesce(pp.s->'allegations',"      \
    "  '[]'::jsonb)) e WHERE e->>'victim' = ANY(pp.pids)"                                                \
    "  OR (jsonb_typeof(e->'suspects') = 'array' AND e->'suspects' ?| pp.pids)) AS aids FROM pp),"           \
    " xx AS (SELECT aa.*, ARRAY(SELECT e->>'crn' FROM jsonb_array_elements(coalesce(aa.s->'crimes',"          \
    "  '[]'::jsonb)) e WHERE e->>'victim' = ANY(aa.pids) OR (jsonb_typeof(e->'allegations') = 'array'"       \
    "  AND e->'allegations' ?| aa.aids)) AS crns,"                                                           \
    "  ARRAY(SELECT pd.id FROM pending_decisions pd WHERE pd.incident_id = aa.incident_id"                   \
    "   AND (pd.victim = ANY(aa.pids) OR pd.allegation = ANY(aa.aids))) AS pend FROM aa)"                     \
    " SELECT json_build_object('incident_id', xx.incident_id,"                                               \
    "  'persons', (SELECT coalesce(jsonb_agg(e), '[]'::jsonb) FROM"                                          \
    "   jsonb_array_elements(coalesce(xx.s->'persons', '[]'::jsonb)) e WHERE e->>'id' = ANY(xx.pids)),"       \
    "  'allegations', (SELECT coalesce(jsonb_agg(e), '[]'::jsonb) FROM"                                      \
    "   jsonb_array_elements(coalesce(xx.s->'allegations', '[]'::jsonb)) e WHERE e->>'id' = ANY(xx.aids)),"   \
    "  'crimes', (SELECT coalesce(json_agg(json_build_object('crn', c.crn, 'incident_id', c.incident_id,"    \
    "   'offence', c.offence, 'victim', c.victim, 'status', c.status, 'flags', to_json(c.flags),"            \
    "   'recorded_at', " SQL_TS_MS("c.recorded_at") ", 'rules', to_json(c.rules), 'ruleset', c.ruleset)"     \
    "   ORDER BY c.crn), '[]'::json) FROM crimes c WHERE c.crn = ANY(xx.crns)),"                            \
    "  'pending', (SELECT coalesce(json_agg(json_build_object('id', pd.id, 'incident_id', pd.incident_id,"   \
    "   'allegation', pd.allegation, 'reason', pd.reason, 'status', pd.status, 'victim', pd.victim,"         \
    "   'candidate_offence', pd.candidate_offence, 'flags', to_json(pd.flags),"                              \
    "   'opened_at', " SQL_TS_MS("pd.opened_at") ", 'due', " SQL_TS_MS("pd.due") ","                         \
    "   'closed_at', " SQL_TS_MS("pd.closed_at") ", 'resolution', pd.resolution) ORDER BY pd.id),"           \
    "   '[]'::json) FROM pending_decisions pd WHERE pd.id = ANY(xx.pend)),"                                  \
    "  'audit', (SELECT coalesce(json_agg(json_build_object('id', a.id, 'at', " SQL_TS_MS("a.at") ","        \
    "   'actor', a.actor, 'role', a.role, 'action', a.action, 'incident_id', a.incident_id, 'crn', a.crn,"   \
    "   'pending_id', a.pending_id, 'allegation', a.allegation, 'event_id', a.event_id,"                     \
    "   'before', audit_pd_merge(a.before, (SELECT p.vals FROM audit_personal p WHERE p.audit_id = a.id))," \
    "   'after', audit_pd_merge(a.after, (SELECT p.vals FROM audit_personal p WHERE p.audit_id = a.id)),"  \
    "   'rules', to_json(a.rules), 'ruleset', a.ruleset, 'chain', a.chain,"                \
    "   'prev_hash', a.prev_hash, 'hash', a.hash, 'entry', a.entry) ORDER BY a.id), '[]'::json)"             \
    "   FROM audit a WHERE a.incident_id = xx.incident_id AND (a.crn = ANY(xx.crns)"                         \
    "   OR a.pending_id = ANY(xx.pend) OR a.allegation = ANY(xx.aids)"                                       \
    "   OR strpos(a.entry, to_json($1::text)::text) > 0)))::text"                                            \
    " FROM xx ORDER BY xx.incident_id"

static json_t *api_subjects_build(struct evhttp_request *req, const PGresult *res, void *arg)
{
    const char *ref = arg;
    json_t *incidents = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *it = api_db_json(res, i, 0);
        if (!it) {
            json_decref(incidents);
            api_error(req, 500, "internal", "a stored incident cannot be read", NULL);
            return NULL;
        }
        json_array_append_new(incidents, it);
    }
    /* An export that finds nothing is a look at the person all the same: `ref` names them. */
    return json_pack("{s:s, s:o}", "ref", ref, "incidents", incidents);
}

void api_subjects_get(struct api *a, const struct api_call *call)
{
    const char *ref = api_call_param(call, "ref");
    char *copy = strdup(ref);
    if (!copy) {
        api_error(call->req, 503, "overloaded", "out of memory", NULL);
        return;
    }
    const char *p[1] = {ref};
    api_read_logged(a, call, NULL, SQL_SUBJECT, 1, p, api_subjects_build, copy, free);
}
