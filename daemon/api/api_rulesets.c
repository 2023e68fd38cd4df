/* api_rulesets.c: the stored rule sets: which versions fcrd has decided with, their hashes, and
 * each one's canonical text, so that a decision's version and hash lead to the rules behind it. */
#include "api/api_rulesets.h"

#include <stdbool.h>
#include <string.h>

#include "rules/ruleset.h"

/* RFC 3339 in UTC, with milliseconds. */
#define SQL_RULESET_TS "to_char(loaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* $1: the hash of the rule set loaded now (NULL when none). A handful of rows: one per version. */
#define SQL_RULESETS                                                                                         \
    "SELECT json_build_object('version', version, 'sha256', sha256, 'loaded_at', " SQL_RULESET_TS ","        \
    " 'loaded_by', loaded_by, 'loaded', sha256 IS NOT DISTINCT FROM $1::text)::text"                         \
    " FROM rulesets ORDER BY loaded_at, version"

/* $1: the hash asked for, $2: the loaded one's. The text is returned as it is stored, and parsed
 * once by the server as json, which keeps its bytes. */
#define SQL_RULESET                                                                                          \
    "SELECT json_build_object('version', version, 'sha256', sha256, 'loaded_at', " SQL_RULESET_TS ","        \
    " 'loaded_by', loaded_by, 'loaded', sha256 IS NOT DISTINCT FROM $2::text, 'text', text,"                 \
    " 'document', text::json)::text FROM rulesets WHERE sha256 = $1"

/* arg: the loaded rule set's {version, sha256} (taken), or NULL. */
static void api_rulesets_list_finish(struct evhttp_request *req, const PGresult *res, void *arg)
{
    json_t *loaded = arg;
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *it = api_db_json(res, i, 0);
        if (it)
            json_array_append_new(items, it);
    }
    api_send_json(req, 200, json_pack("{s:o, s:o}", "items", items, "loaded", loaded ? loaded : json_null()));
}

static void api_rulesets_loaded_free(void *arg)
{
    json_decref(arg);
}

void api_rulesets_list(struct api *a, const struct api_call *call)
{
    const struct ruleset *rs = api_ruleset(a);
    json_t *loaded = rs ? json_pack("{s:s, s:s}", "version", ruleset_version(rs), "sha256", ruleset_sha256(rs)) : NULL;
    const char *p[1] = {rs ? ruleset_sha256(rs) : NULL};
    api_read_owned(a, call, SQL_RULESETS, 1, p, api_rulesets_list_finish, loaded, api_rulesets_loaded_free);
}

static void api_rulesets_get_finish(struct evhttp_request *req, const PGresult *res, void *arg)
{
    (void)arg;
    json_t *it = PQntuples(res) == 1 ? api_db_json(res, 0, 0) : NULL;
    if (PQntuples(res) != 1) {
        api_error(req, 404, "not_found", "no such rule set", NULL);
        return;
    }
    if (!it) {
        api_error(req, 500, "internal", "the stored rule set cannot be read", NULL);
        return;
    }
    api_send_json(req, 200, it);
}

/* A hash as fcrd writes them: 64 lowercase hex digits. Anything else names no rule set. */
static bool api_rulesets_is_sha256(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

void api_rulesets_get(struct api *a, const struct api_call *call)
{
    const char *sha = api_call_param(call, "sha256");
    if (!api_rulesets_is_sha256(sha)) {
        api_error(call->req, 404, "not_found", "no such rule set", NULL);
        return;
    }
    const struct ruleset *rs = api_ruleset(a);
    const char *p[2] = {sha, rs ? ruleset_sha256(rs) : NULL};
    api_read(a, call, SQL_RULESET, 2, p, api_rulesets_get_finish, NULL);
}
