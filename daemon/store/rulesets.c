/* rulesets.c: the stored rule sets as fcrd knows them (version -> hash), and the start-up step
 * that reads them and stores the loaded rule set. */
#include "store/rulesets.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/ruleset.h"
#include "util/errbuf.h"

struct rulesets {
    json_t *map; /* version -> sha256 */
};

struct rulesets *rulesets_new(void)
{
    struct rulesets *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->map = json_object();
    if (!k->map)
        return rulesets_free(k);
    return k;
}

struct rulesets *rulesets_free(struct rulesets *k)
{
    if (!k)
        return NULL;
    json_decref(k->map);
    free(k);
    return NULL;
}

/* The conflict's message, the same at start-up and on a reload. */
static int rulesets_conflict(const char *version, const char *known, const char *sha, char *err, size_t errlen)
{
    return errbuf_set(err, errlen,
                      "rule set version %s is already stored with sha256 %s, but this file's content has sha256 %s: "
                      "a changed rule set needs a new version",
                      version, known, sha);
}

int rulesets_check(const struct rulesets *k, const struct ruleset *rs, char *err, size_t errlen)
{
    if (!k)
        return 0;
    const char *known = json_string_value(json_object_get(k->map, ruleset_version(rs)));
    if (known && strcmp(known, ruleset_sha256(rs)) != 0)
        return rulesets_conflict(ruleset_version(rs), known, ruleset_sha256(rs), err, errlen);
    return 0;
}

static int rulesets_put(struct rulesets *k, const char *version, const char *sha)
{
    return json_object_set_new(k->map, version, json_string(sha)) == 0 ? 0 : -1;
}

int rulesets_add(struct rulesets *k, const struct ruleset *rs)
{
    return rulesets_put(k, ruleset_version(rs), ruleset_sha256(rs));
}

size_t rulesets_count(const struct rulesets *k)
{
    return k ? json_object_size(k->map) : 0;
}

void rulesets_host(char *buf, size_t len)
{
    if (len == 0)
        return;
    if (gethostname(buf, len) != 0)
        buf[0] = '\0';
    buf[len - 1] = '\0';
}

/* The server's message for a failed statement, on one line. */
static int rulesets_db_error(PGconn *pg, const PGresult *r, const char *what, char *err, size_t errlen)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[600];
    snprintf(msg, sizeof(msg), "%s", m ? m : PQerrorMessage(pg));
    msg[strcspn(msg, "\n")] = '\0';
    return errbuf_set(err, errlen, "%s: %s", what, msg);
}

int rulesets_sync(struct rulesets *k, const char *conninfo, const struct ruleset *rs, char *err, size_t errlen)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        rulesets_db_error(pg, NULL, "cannot connect to read the stored rule sets", err, errlen);
        PQfinish(pg);
        return -1;
    }
    int rc = -1;
    PGresult *r = PQexec(pg, "SELECT version, sha256 FROM rulesets ORDER BY loaded_at, version");
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (PQresultStatus(r) == PGRES_FATAL_ERROR && state && strcmp(state, "42P01") == 0) {
        /* The configured migrations stop before sql/0010_rulesets.sql (the schema check compares
         * with that folder): this build writes columns that schema lacks, so it records nothing
         * there anyway. Said, not refused, as on any schema older than the build. */
        errbuf_set(err, errlen, "the schema has no rulesets table (migration 0010): the rule set is not stored, and "
                                "nothing can be recorded until the schema is migrated");
        rc = 2;
        goto out;
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rulesets_db_error(pg, r, "cannot read the stored rule sets", err, errlen);
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++)
        if (rulesets_put(k, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)) != 0) {
            errbuf_set(err, errlen, "out of memory");
            goto out;
        }
    if (rulesets_check(k, rs, err, errlen) != 0)
        goto out;
    PQclear(r);
    char host[256];
    rulesets_host(host, sizeof(host));
    /* ruleset_store refuses a version another instance stored meanwhile with another hash. */
    const char *p[4] = {ruleset_version(rs), ruleset_sha256(rs), ruleset_canonical(rs, NULL), host[0] ? host : NULL};
    r = PQexecParams(pg, "SELECT ruleset_store($1::text, $2::text, $3::text, $4::text)", 4, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        rulesets_db_error(pg, r, "cannot store the rule set", err, errlen);
        goto out;
    }
    bool stored = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    if (rulesets_add(k, rs) != 0) {
        errbuf_set(err, errlen, "out of memory");
        goto out;
    }
    rc = stored ? 1 : 0;
out:
    PQclear(r);
    PQfinish(pg);
    return rc;
}
