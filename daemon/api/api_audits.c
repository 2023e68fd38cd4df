/* api_audits.c: independent audits of recording, the inspectorate's method beside the self-audit
 * report: an auditor draws a reproducible random sample of the incidents first reported in a
 * period, reviews each one and records a verdict; the results give the recording rate and how often
 * fcrd's handling agreed with the auditor, per stratum and overall.
 *
 * The sample and the verdicts are not incident state (the rules never read them), so they are
 * written here on the API's own connection, each request in one statement (a single implicit
 * transaction), not through the store's lanes: nothing an event or a person's decision writes is
 * touched, and no incident's row lock is needed.
 *
 * The draw: candidates are the incidents whose first contact (incidents.opened_at) lies in
 * [from, to); each gets the key sha256(UTF-8 of "<characters of seed>:<seed><incident_id>") and
 * the `size` candidates with the lowest keys (ties by incident id) are drawn, from each stratum
 * when strata are asked for. The same seed over the same incidents draws the same sample; an
 * incident added to the period later can only displace items, never reorder the others. */
#include "api/api_audits.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_audits_stats.h"
#include "rules/ruleset.h"
#include "util/jsonwrite.h"
#include "util/timefmt.h"
#include "util/utf8.h"

#define SQL_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* A limit written into a message. */
#define AUDITS_STR_(x) #x
#define AUDITS_STR(x) AUDITS_STR_(x)

#define SEED_MAX 128
#define NOTE_MAX 4000
#define LIST_LIMIT_MAX 1000

/* The stratum keys a sample may be stratified by, in the order a stratum's name joins their values
 * with '/' whatever order the request gives them in. Each reads the incident as stored:
 *   category          the incident's category (crime, asb, ...; `none` when absent)
 *   offence_category  the rule set's category of the offence of the incident's first allegation
 *                     that has one (its own code, else the code the rules gave it); `other` for a
 *                     code outside the rule set's table, `none` when no allegation has a code
 *   domestic_abuse    the qualifier `domestic`, or a crime or pending decision flagged domestic_abuse
 *   vulnerable        the qualifier `vulnerable`, or a person marked vulnerable
 *   hate              the qualifier `hate`, or a crime or pending decision flagged hate
 * A flag's value is its name or `not_` and its name. Without strata every item is in `all`. */
static const char *const stratum_keys[] = {"category", "offence_category", "domestic_abuse", "vulnerable", "hate",
                                           NULL};

#define SQL_FLAGGED(flag)                                                                                    \
    "EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(i.s->'crimes', '[]'::jsonb)"                    \
    "  || coalesce(i.s->'pending', '[]'::jsonb)) f(doc) WHERE f.doc->'flags' ? '" flag "')"

#define SQL_FLAG_VALUE(flag, cond)                                                                           \
    "CASE WHEN '" flag "' = ANY(k.keys) THEN CASE WHEN " cond " THEN '" flag "' ELSE 'not_" flag "' END END"

#define SQL_STRATUM                                                                                          \
    "coalesce(nullif(concat_ws('/',"                                                                         \
    " CASE WHEN 'category' = ANY(k.keys) THEN coalesce(i.category, 'none') END,"                             \
    " CASE WHEN 'offence_category' = ANY(k.keys) THEN coalesce((SELECT coalesce(cat.category, 'other')"     \
    "  FROM (SELECT m.doc::jsonb AS doc, m.ord AS n FROM incident_members m"                                \
    "   WHERE m.incident_id = i.incident_id AND m.kind = 'allegations') al"                                  \
    "  CROSS JOIN LATERAL (SELECT coalesce(al.doc->>'offence',"                                              \
    "   i.s->'decisions'->(al.doc->>'id')->>'offence') AS code) o"                                       \
    "  LEFT JOIN cat ON cat.code = o.code WHERE o.code IS NOT NULL ORDER BY al.n LIMIT 1), 'none') END,"     \
    " " SQL_FLAG_VALUE("domestic_abuse", "i.s->'qualifiers' ? 'domestic' OR " SQL_FLAGGED("domestic_abuse")) "," \
    " " SQL_FLAG_VALUE("vulnerable", "i.s->'qualifiers' ? 'vulnerable' OR EXISTS (SELECT 1"              \
                       " FROM incident_members p WHERE p.incident_id = i.incident_id AND p.kind = 'persons'" \
                       " AND p.doc::jsonb->'vulnerable' = 'true'::jsonb)") ","                               \
    " " SQL_FLAG_VALUE("hate", "i.s->'qualifiers' ? 'hate' OR " SQL_FLAGGED("hate")) "), ''), 'all')"

/* The state is stored as json (sql/0004_json_documents.sql); the candidates' are read as jsonb (i.s)
 * for its operators. */
/* $1 user, $2 role, $3 from, $4 to, $5 size, $6 seed, $7 strata (JSON array of keys), $8
 * {ruleset, offences: {code: category}}. One statement: the audit and its items or nothing. */
#define SQL_DRAW                                                                                             \
    "WITH cat AS (SELECT key AS code, value #>> '{}' AS category FROM jsonb_each($8::jsonb->'offences')),"  \
    " k AS (SELECT ARRAY(SELECT jsonb_array_elements_text($7::jsonb)) AS keys),"                            \
    " a AS (INSERT INTO audits (created_by, role, from_at, to_at, size, seed, strata, ruleset)"              \
    "  SELECT $1, $2, $3::timestamptz, $4::timestamptz, $5::int, $6::text, k.keys, $8::jsonb->>'ruleset'"    \
    "  FROM k RETURNING id),"                                                                                \
    " cand AS (SELECT i.incident_id, " SQL_STRATUM " AS stratum FROM k,"                                     \
    "  (SELECT incident_id, category, state::jsonb AS s FROM incidents WHERE state IS NOT NULL"              \
    "   AND opened_at >= $3::timestamptz AND opened_at < $4::timestamptz) i),"                               \
    " ranked AS (SELECT incident_id, stratum, row_number() OVER (PARTITION BY stratum ORDER BY"              \
    "  sha256(convert_to(length($6::text) || ':' || $6::text || incident_id, 'UTF8')), incident_id) AS rank"  \
    "  FROM cand),"                                                                                          \
    " ins AS (INSERT INTO audit_items (audit_id, incident_id, stratum, rank)"                                \
    "  SELECT a.id, r.incident_id, r.stratum, r.rank FROM ranked r, a WHERE r.rank <= $5::int"               \
    "  RETURNING incident_id, stratum, rank)"                                                                \
    " SELECT json_build_object('id', (SELECT id FROM a), 'items', coalesce((SELECT json_agg("                \
    "  json_build_object('incident_id', incident_id, 'stratum', stratum) ORDER BY stratum, rank) FROM ins),"  \
    "  '[]'::json))::text"

#define SQL_AUDIT_HEAD                                                                                       \
    "'id', a.id, 'created_at', " SQL_TS("a.created_at") ", 'created_by', a.created_by, 'role', a.role,"      \
    " 'from', " SQL_TS("a.from_at") ", 'to', " SQL_TS("a.to_at") ", 'size', a.size, 'seed', a.seed,"         \
    " 'strata', to_json(a.strata), 'ruleset', a.ruleset"

/* The latest verdict of an item, and how many it has had. */
#define SQL_GET                                                                                              \
    "SELECT json_build_object(" SQL_AUDIT_HEAD ", 'items', coalesce((SELECT json_agg(json_build_object("     \
    "  'incident_id', it.incident_id, 'stratum', it.stratum, 'verdict', (SELECT json_build_object("          \
    "   'verdict', v.verdict, 'offence', v.offence, 'note', v.note, 'recorded', v.recorded, 'by', v.actor,"   \
    "   'role', v.role, 'at', " SQL_TS("v.at") ") FROM audit_verdicts v WHERE v.audit_id = it.audit_id"       \
    "   AND v.incident_id = it.incident_id ORDER BY v.id DESC LIMIT 1),"                                     \
    "  'verdicts_given', (SELECT count(*) FROM audit_verdicts v WHERE v.audit_id = it.audit_id"              \
    "   AND v.incident_id = it.incident_id)) ORDER BY it.stratum, it.rank)"                                  \
    "  FROM audit_items it WHERE it.audit_id = a.id), '[]'::json))::text FROM audits a WHERE a.id = $1::bigint"

#define SQL_LIST                                                                                             \
    "SELECT json_build_object(" SQL_AUDIT_HEAD ","                                                           \
    " 'sampled', (SELECT count(*) FROM audit_items it WHERE it.audit_id = a.id),"                            \
    " 'reviewed', (SELECT count(DISTINCT v.incident_id) FROM audit_verdicts v WHERE v.audit_id = a.id))::text," \
    " a.id::text FROM audits a WHERE ($1::bigint IS NULL OR a.id < $1::bigint) ORDER BY a.id DESC"           \
    " LIMIT $2::int + 1"

/* $1 audit, $2 incident, $3 verdict, $4 offence, $5 note, $6 user, $7 role. Row: whether the audit
 * exists, whether the item already had a verdict (read before this one), the verdict as stored
 * (NULL when the incident is not in the sample). */
#define SQL_VERDICT                                                                                          \
    "WITH au AS (SELECT id FROM audits WHERE id = $1::bigint),"                                              \
    " ins AS (INSERT INTO audit_verdicts (audit_id, incident_id, verdict, offence, note, recorded, actor, role)" \
    "  SELECT it.audit_id, it.incident_id, $3, $4, $5, EXISTS (SELECT 1 FROM crimes c"                       \
    "   WHERE c.incident_id = it.incident_id AND c.status = 'recorded'), $6, $7"                             \
    "  FROM audit_items it WHERE it.audit_id = $1::bigint AND it.incident_id = $2"                           \
    "  RETURNING incident_id, verdict, offence, note, recorded, actor, role, at)"                            \
    " SELECT EXISTS (SELECT 1 FROM au),"                                                                     \
    "  EXISTS (SELECT 1 FROM audit_verdicts v WHERE v.audit_id = $1::bigint AND v.incident_id = $2),"        \
    "  (SELECT json_build_object('incident_id', incident_id, 'verdict', verdict, 'offence', offence,"        \
    "   'note', note, 'recorded', recorded, 'by', actor, 'role', role, 'at', " SQL_TS("at") ")::text FROM ins)"

/* ---- bodies --------------------------------------------------------------------------------- */


/* A member that is absent or null: NULL. */
static json_t *api_audits_member(json_t *body, const char *name)
{
    json_t *v = json_object_get(body, name);
    return json_is_null(v) ? NULL : v;
}

/* Text of 1..max characters without a NUL. */
static bool api_audits_text_ok(const json_t *v, size_t max)
{
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    return *s && strlen(s) == json_string_length(v) && utf8_chars(s) <= max;
}

/* A date (YYYY-MM-DD, midnight UTC at its start) or an RFC 3339 time. */
static bool api_audits_time(const json_t *v, int64_t *ms)
{
    const char *text = json_string_value(v);
    if (!text || strlen(text) != json_string_length(v))
        return false;
    int y, m, d;
    char extra;
    if (strlen(text) == 10 && sscanf(text, "%4d-%2d-%2d%c", &y, &m, &d, &extra) == 3) {
        char full[32];
        snprintf(full, sizeof(full), "%sT00:00:00Z", text);
        return timefmt_parse(full, ms);
    }
    return timefmt_parse(text, ms);
}

/* A path id: 1 to 18 digits (within bigint). */
static bool api_audits_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > 18)
        return false;
    for (size_t i = 0; i < n; i++)
        if (id[i] < '0' || id[i] > '9')
            return false;
    return true;
}

/* ---- POST /v1/audits -------------------------------------------------------------------------- */

static void api_audits_draw_finish(struct evhttp_request *req, const PGresult *res, void *arg)
{
    (void)arg;
    json_t *r = PQntuples(res) == 1 ? api_db_json(res, 0, 0) : NULL;
    if (!r) {
        api_error(req, 500, "internal", "the sample could not be read back", NULL);
        return;
    }
    api_send_json(req, 200, r);
}

/* Checks the draw's body; on success sets the parameters' texts (seed into seedbuf, strata as a
 * JSON array into *strata, owned by the caller) and returns NULL, else the message for `*field`. */
static const char *api_audits_draw_check(json_t *body, long size_max, char *msg, size_t msglen, const char **field,
                                         char *from, char *to, long *size, char *seedbuf, size_t seedlen,
                                         json_t **strata)
{
    int64_t f, t;
    json_t *v = api_audits_member(body, "from");
    *field = "from";
    if (!v)
        return "from is required";
    if (!api_audits_time(v, &f))
        return "from must be a date (YYYY-MM-DD) or an RFC 3339 time";
    v = api_audits_member(body, "to");
    *field = "to";
    if (!v)
        return "to is required";
    if (!api_audits_time(v, &t))
        return "to must be a date (YYYY-MM-DD) or an RFC 3339 time";
    if (t <= f)
        return "to must be after from";
    timefmt_format(f, from);
    timefmt_format(t, to);
    v = api_audits_member(body, "size");
    *field = "size";
    if (!v)
        return "size is required";
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > size_max) {
        snprintf(msg, msglen, "size must be a whole number from 1 to %ld ([api] audit_sample_max)", size_max);
        return msg;
    }
    *size = (long)json_integer_value(v);
    v = api_audits_member(body, "seed");
    *field = "seed";
    if (!v)
        return "seed is required";
    if (json_is_integer(v))
        snprintf(seedbuf, seedlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (api_audits_text_ok(v, SEED_MAX))
        snprintf(seedbuf, seedlen, "%s", json_string_value(v));
    else
        return "seed must be a whole number or a text of 1 to " AUDITS_STR(SEED_MAX) " characters";
    v = api_audits_member(body, "strata");
    *field = "strata";
    *strata = json_array();
    if (!*strata)
        return "out of memory";
    if (v && !json_is_array(v))
        return "strata must be an array of stratum keys";
    size_t i;
    json_t *k;
    json_array_foreach(v, i, k)
    {
        size_t j = 0;
        while (json_is_string(k) && stratum_keys[j] && strcmp(stratum_keys[j], json_string_value(k)) != 0)
            j++;
        if (!json_is_string(k) || !stratum_keys[j])
            return "strata must hold only category, offence_category, domestic_abuse, vulnerable, hate";
        for (size_t e = 0; e < json_array_size(*strata); e++)
            if (strcmp(json_string_value(json_array_get(*strata, e)), stratum_keys[j]) == 0)
                return "strata must not name a key twice";
        json_array_append_new(*strata, json_string(stratum_keys[j]));
    }
    *field = NULL;
    return NULL;
}

void api_audits_post(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    static const char *const known[] = {"from", "to", "size", "seed", "strata", NULL};
    json_t *body = api_body_object(req, api_get_limits(a)->max_body, known);
    if (!body)
        return;
    char from[TIMEFMT_LEN], to[TIMEFMT_LEN], seed[SEED_MAX * 4 + 32];
    long size = 0;
    json_t *strata = NULL;
    const char *field = NULL;
    char msg[96];
    const char *bad = api_audits_draw_check(body, (long)api_get_limits(a)->audit_sample_max, msg, sizeof(msg), &field,
                                            from, to, &size, seed, sizeof(seed), &strata);
    if (bad) {
        /* field may point into body: answer before releasing it. */
        api_error(req, 400, "bad_field", bad, field);
        json_decref(strata);
        json_decref(body);
        return;
    }
    json_decref(body);
    /* The rule set in force says which category an offence belongs to (as the self-audit report). */
    const struct ruleset *rs = api_ruleset(a);
    json_t *offences = json_object();
    for (size_t i = 0; rs && i < ruleset_offence_count(rs); i++) {
        const struct ruleset_offence *o = ruleset_offence_at(rs, i);
        json_object_set_new(offences, o->code, json_string(o->category ? o->category : "other"));
    }
    json_t *rsdoc = json_pack("{s:s?, s:o}", "ruleset", rs ? ruleset_version(rs) : NULL, "offences", offences);
    char *rsjson = jsonwrite_dumps(rsdoc, 0);
    char *stratajson = jsonwrite_dumps(strata, 0);
    json_decref(rsdoc);
    json_decref(strata);
    if (!rsjson || !stratajson) {
        free(rsjson);
        free(stratajson);
        api_error(req, 503, "overloaded", "out of memory", NULL);
        return;
    }
    char sz[24];
    snprintf(sz, sizeof(sz), "%ld", size);
    const char *p[8] = {call->who.user ? call->who.user : "", role_name(call->who.role), from, to, sz, seed,
                        stratajson, rsjson};
    api_write_owned(a, call, SQL_DRAW, 8, p, api_audits_draw_finish, NULL, NULL); /* it records the sample */
    free(rsjson);
    free(stratajson);
}

/* ---- GET /v1/audits --------------------------------------------------------------------------- */

static void api_audits_list_finish(struct evhttp_request *req, const PGresult *res, void *arg)
{
    long limit = (long)(intptr_t)arg;
    json_t *items = json_array();
    int n = PQntuples(res);
    int shown = n > limit ? (int)limit : n;
    for (int i = 0; i < shown; i++) {
        json_t *it = api_db_json(res, i, 0);
        if (it)
            json_array_append_new(items, it);
    }
    json_t *next = n > limit && shown > 0 ? json_string(PQgetvalue(res, shown - 1, 1)) : json_null();
    api_send_json(req, 200, json_pack("{s:o, s:o}", "items", items, "next", next));
}

void api_audits_list(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    static const char *const allowed[] = {"limit", "after", NULL};
    json_t *params = api_query_params(req, allowed);
    if (!params)
        return;
    const char *lim = json_string_value(json_object_get(params, "limit"));
    const char *after = json_string_value(json_object_get(params, "after"));
    long limit = 100;
    if (lim) {
        char *end;
        limit = strtol(lim, &end, 10);
        if (!*lim || *end || limit < 1 || limit > LIST_LIMIT_MAX) {
            api_error(req, 400, "bad_query", "must be a whole number from 1 to " AUDITS_STR(LIST_LIMIT_MAX),
                      "limit");
            json_decref(params);
            return;
        }
    }
    if (after && !api_audits_id_ok(after)) {
        api_error(req, 400, "bad_query", "not a cursor returned by this endpoint", "after");
        json_decref(params);
        return;
    }
    char limtext[24];
    snprintf(limtext, sizeof(limtext), "%ld", limit);
    const char *p[2] = {after, limtext};
    api_read(a, call, SQL_LIST, 2, p, api_audits_list_finish, (void *)(intptr_t)limit);
    json_decref(params);
}

/* ---- GET /v1/audits/{id} ---------------------------------------------------------------------- */

/* Adds results {overall, strata: [{stratum, ...}]} to an audit read back with its items. */
static bool api_audits_results(json_t *audit)
{
    struct api_audits_counts all = {0};
    json_t *per = json_object(); /* stratum -> index into counts */
    struct api_audits_counts *counts = NULL;
    size_t ncounts = 0;
    size_t i;
    json_t *it;
    bool ok = per != NULL;
    json_array_foreach(json_object_get(audit, "items"), i, it)
    {
        if (!ok)
            break;
        const char *stratum = json_string_value(json_object_get(it, "stratum"));
        json_t *v = json_object_get(it, "verdict");
        const char *verdict = json_string_value(json_object_get(v, "verdict"));
        bool recorded = json_is_true(json_object_get(v, "recorded"));
        json_t *at = stratum ? json_object_get(per, stratum) : NULL;
        if (!stratum)
            continue;
        if (!at) {
            struct api_audits_counts *grown = realloc(counts, (ncounts + 1) * sizeof(*counts));
            if (!grown) {
                ok = false;
                break;
            }
            counts = grown;
            memset(&counts[ncounts], 0, sizeof(counts[ncounts]));
            at = json_integer((json_int_t)ncounts++);
            json_object_set_new(per, stratum, at);
        }
        api_audits_stats_add(&counts[json_integer_value(at)], verdict, recorded);
        api_audits_stats_add(&all, verdict, recorded);
    }
    json_t *strata = json_array();
    const char *name;
    json_t *at;
    /* json_object_foreach visits keys in insertion order: the items come sorted by stratum. */
    json_object_foreach(per, name, at)
    {
        json_t *r = api_audits_stats_result(&counts[json_integer_value(at)]);
        if (r) {
            json_object_set_new(r, "stratum", json_string(name));
            json_array_append_new(strata, r);
        }
    }
    free(counts);
    json_decref(per);
    json_t *overall = api_audits_stats_result(&all);
    if (!ok || !overall || !strata) {
        json_decref(overall);
        json_decref(strata);
        return false;
    }
    json_object_set_new(audit, "results", json_pack("{s:o, s:o}", "overall", overall, "strata", strata));
    return true;
}

static json_t *api_audits_get_build(struct evhttp_request *req, const PGresult *res, void *arg)
{
    (void)arg;
    if (PQntuples(res) != 1) {
        api_error(req, 404, "not_found", "no such audit", NULL);
        return NULL;
    }
    json_t *audit = api_db_json(res, 0, 0);
    if (!audit || !api_audits_results(audit)) {
        json_decref(audit);
        api_error(req, 500, "internal", "the audit could not be read", NULL);
        return NULL;
    }
    return audit;
}

void api_audits_get(struct api *a, const struct api_call *call)
{
    const char *id = api_call_param(call, "id");
    if (!api_audits_id_ok(id)) {
        api_error(call->req, 404, "not_found", "no such audit", NULL);
        return;
    }
    const char *p[1] = {id};
    api_read_logged(a, call, NULL, SQL_GET, 1, p, api_audits_get_build, NULL, NULL);
}

/* ---- POST /v1/audits/{id}/verdicts ------------------------------------------------------------ */

static void api_audits_verdict_finish(struct evhttp_request *req, const PGresult *res, void *arg)
{
    (void)arg;
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        api_error(req, 404, "not_found", "no such audit", NULL);
        return;
    }
    if (PQgetisnull(res, 0, 2)) {
        api_error(req, 422, "not_in_sample", "the incident is not in this audit's sample", "incident_id");
        return;
    }
    json_t *v = api_db_json(res, 0, 2);
    if (!v) {
        api_error(req, 500, "internal", "the verdict could not be read back", NULL);
        return;
    }
    json_object_set_new(v, "replaced", json_boolean(strcmp(PQgetvalue(res, 0, 1), "t") == 0));
    api_send_json(req, 200, v);
}

/* Checks a verdict's body; NULL when it is right, else the message for *field. */
static const char *api_audits_verdict_check(const struct api *a, json_t *body, const char **field)
{
    json_t *v = api_audits_member(body, "incident_id");
    *field = "incident_id";
    if (!v)
        return "incident_id is required";
    if (!api_audits_text_ok(v, 64))
        return "incident_id must be 1 to 64 characters";
    v = api_audits_member(body, "verdict");
    *field = "verdict";
    if (!v)
        return "verdict is required";
    size_t k = 0;
    while (json_is_string(v) && api_audits_stats_verdicts[k] &&
           strcmp(api_audits_stats_verdicts[k], json_string_value(v)) != 0)
        k++;
    if (!json_is_string(v) || !api_audits_stats_verdicts[k])
        return "verdict is not one of the allowed values";
    const char *verdict = api_audits_stats_verdicts[k];
    v = api_audits_member(body, "offence");
    *field = "offence";
    if (!v && (strcmp(verdict, "crime_missed") == 0 || strcmp(verdict, "wrong_classification") == 0))
        return "offence is required with this verdict: the offence that should have been recorded";
    if (v && !api_audits_text_ok(v, 16))
        return "offence must be 1 to 16 characters";
    const struct ruleset *rs = api_ruleset(a);
    if (v && rs && !ruleset_offence(rs, json_string_value(v)))
        return "offence is not in the rule set's offence table";
    v = api_audits_member(body, "note");
    *field = "note";
    if (v && !api_audits_text_ok(v, NOTE_MAX))
        return "note must be 1 to " AUDITS_STR(NOTE_MAX) " characters";
    *field = NULL;
    return NULL;
}

void api_audits_post_verdict(struct api *a, const struct api_call *call)
{
    struct evhttp_request *req = call->req;
    const char *id = api_call_param(call, "id");
    if (!api_audits_id_ok(id)) {
        api_error(req, 404, "not_found", "no such audit", NULL);
        return;
    }
    static const char *const known[] = {"incident_id", "verdict", "offence", "note", NULL};
    json_t *body = api_body_object(req, api_get_limits(a)->max_body, known);
    if (!body)
        return;
    const char *field = NULL;
    const char *bad = api_audits_verdict_check(a, body, &field);
    if (bad) {
        api_error(req, 400, "bad_field", bad, field);
        json_decref(body);
        return;
    }
    const char *p[7] = {id,
                        json_string_value(json_object_get(body, "incident_id")),
                        json_string_value(json_object_get(body, "verdict")),
                        json_string_value(api_audits_member(body, "offence")),
                        json_string_value(api_audits_member(body, "note")),
                        call->who.user ? call->who.user : "",
                        role_name(call->who.role)};
    api_write_owned(a, call, SQL_VERDICT, 7, p, api_audits_verdict_finish, NULL, NULL);
    json_decref(body); /* api_write_owned copied the parameters */
}
