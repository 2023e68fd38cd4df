/* migrate.c: numbered, forward-only schema migrations, applied by fcrd migrate under an advisory
 * lock, and the serving daemon's start-up check of the schema it finds. */
#include "store/migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/errbuf.h"
#include "util/log.h"

/* Any constant will do, as long as every fcrd instance uses the same one. */
#define MIGRATE_LOCK_KEY "7254829134"

struct migration {
    int version;
    char name[256];
};

static int migration_cmp(const void *a, const void *b)
{
    return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

/* List NNNN_*.sql files sorted by number. Returns the count or -1. */
static int migrate_list(const char *dir, struct migration **out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        errbuf_set(err, errlen, "cannot open migrations folder %s", dir);
        return -1;
    }
    struct migration *list = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t len = strlen(nm);
        if (len < 9 || len >= sizeof(list[0].name) || strcmp(nm + len - 4, ".sql") != 0)
            continue;
        if (!isdigit((unsigned char)nm[0]) || !isdigit((unsigned char)nm[1]) || !isdigit((unsigned char)nm[2]) ||
            !isdigit((unsigned char)nm[3]) || nm[4] != '_')
            continue;
        struct migration *l = realloc(list, (size_t)(n + 1) * sizeof(*l));
        if (!l) {
            free(list);
            closedir(d);
            errbuf_set(err, errlen, "out of memory");
            return -1;
        }
        list = l;
        list[n].version = atoi(nm);
        snprintf(list[n].name, sizeof(list[n].name), "%s", nm);
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(list, (size_t)n, sizeof(*list), migration_cmp);
    for (int i = 1; i < n; i++) {
        if (list[i].version == list[i - 1].version) {
            errbuf_set(err, errlen, "two migrations share number %d: %s and %s", list[i].version, list[i - 1].name,
                       list[i].name);
            free(list);
            return -1;
        }
    }
    *out = list;
    return n;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[len] = '\0';
    fclose(f);
    return buf;
}

static int exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        errbuf_set(err, errlen, "%s", PQerrorMessage(pg));
    PQclear(r);
    return ok ? 0 : -1;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

static int migrate_apply(PGconn *pg, const char *dir, const struct migration *m, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, m->name);
    char *sql = read_file(path);
    if (!sql) {
        errbuf_set(err, errlen, "cannot read %s", path);
        return -1;
    }
    char msg[1024];
    int rc = exec_ok(pg, "BEGIN", msg, sizeof(msg));
    if (rc == 0)
        rc = exec_ok(pg, sql, msg, sizeof(msg));
    free(sql);
    if (rc == 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", m->version);
        const char *params[2] = {v, m->name};
        PGresult *r = PQexecParams(pg, "INSERT INTO fcrd_migrations (version, name) VALUES ($1::int, $2)", 2, NULL,
                                   params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
            rc = -1;
        }
        PQclear(r);
    }
    if (rc == 0)
        rc = exec_ok(pg, "COMMIT", msg, sizeof(msg));
    if (rc != 0) {
        PQclear(PQexec(pg, "ROLLBACK"));
        trim(msg);
        errbuf_set(err, errlen, "migration %s failed: %s", m->name, msg);
    }
    return rc;
}

static PGconn *connect_checked(const char *conninfo, const char *what, char *err, size_t errlen)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
        trim(msg);
        errbuf_set(err, errlen, "cannot connect to the database (%s): %s", what, msg);
        PQfinish(pg);
        return NULL;
    }
    /* The primary message only: a failing statement's DETAIL and CONTEXT can quote rows. */
    PQsetErrorVerbosity(pg, PQERRORS_TERSE);
    return pg;
}

int migrate_run(const char *conninfo, const char *dir, char *err, size_t errlen)
{
    struct migration *list = NULL;
    int n = migrate_list(dir, &list, err, errlen);
    if (n < 0)
        return -1;
    PGconn *pg = connect_checked(conninfo, "admin_conninfo", err, errlen);
    if (!pg) {
        free(list);
        return -1;
    }
    PQclear(PQexec(pg, "SET client_min_messages = warning"));
    int applied = 0;
    char msg[1024];
    if (exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", msg, sizeof(msg)) != 0 ||
        exec_ok(pg,
                "CREATE TABLE IF NOT EXISTS fcrd_migrations (version int PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())",
                msg, sizeof(msg)) != 0) {
        trim(msg);
        errbuf_set(err, errlen, "cannot prepare migrations: %s", msg);
        applied = -1;
    }
    for (int i = 0; applied >= 0 && i < n; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", list[i].version);
        const char *params[1] = {v};
        PGresult *r =
            PQexecParams(pg, "SELECT 1 FROM fcrd_migrations WHERE version = $1::int", 1, NULL, params, NULL, NULL, 0);
        int done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        PQclear(r);
        if (done)
            continue;
        if (migrate_apply(pg, dir, &list[i], err, errlen) != 0) {
            applied = -1;
            break;
        }
        log_info("schema: applied migration %s", list[i].name);
        applied++;
    }
    if (applied >= 0 && exec_ok(pg, "GRANT SELECT ON fcrd_migrations TO fcrd_app", msg, sizeof(msg)) != 0)
        log_warn("schema: cannot grant read access to fcrd_migrations: %s", msg);
    PQclear(PQexec(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
    PQfinish(pg);
    free(list);
    return applied;
}

int migrate_latest(const char *dir, char *err, size_t errlen)
{
    struct migration *list = NULL;
    int n = migrate_list(dir, &list, err, errlen);
    if (n < 0)
        return -1;
    int latest = n > 0 ? list[n - 1].version : 0;
    free(list);
    return latest;
}

enum migrate_check migrate_check_serving(const char *conninfo, const char *dir, char *err, size_t errlen)
{
    int latest = migrate_latest(dir, err, errlen);
    if (latest < 0)
        return MIGRATE_CHECK_REFUSED;
    PGconn *pg = connect_checked(conninfo, "conninfo", err, errlen);
    if (!pg)
        return MIGRATE_CHECK_NO_DB;
    enum migrate_check rc = MIGRATE_CHECK_OK;
    /* A database no migration ever ran on has no fcrd_migrations: it is at migration 0. */
    PGresult *r = PQexec(pg, "SELECT current_setting('synchronous_commit'), "
                             "to_regclass('fcrd_migrations') IS NOT NULL");
    bool has_table = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "on") != 0) {
        errbuf_set(err, errlen,
                   "synchronous_commit is '%s' for the serving connection; fcrd acknowledges events only after a "
                   "durable commit and refuses to run without synchronous_commit = on",
                   PQgetvalue(r, 0, 0));
        PQclear(r);
        PQfinish(pg);
        return MIGRATE_CHECK_REFUSED;
    }
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        PQclear(r);
        r = has_table ? PQexec(pg, "SELECT coalesce(max(version), 0) FROM fcrd_migrations") : NULL;
    }
    int at = 0;
    if (r && (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
        trim(msg);
        errbuf_set(err, errlen, "cannot check the serving connection: %s", msg);
        rc = MIGRATE_CHECK_REFUSED;
    } else if ((at = r ? atoi(PQgetvalue(r, 0, 0)) : 0) < latest) {
        errbuf_set(err, errlen,
                   "the schema is at migration %d but %s holds migration %d: run `fcrd migrate --config FILE` "
                   "(FILE with [database] admin_conninfo, the schema owner's connection); fcrd stays not ready "
                   "until then and checks again on every connection",
                   at, dir, latest);
        rc = MIGRATE_CHECK_BEHIND;
    } else if (at != latest) {
        errbuf_set(err, errlen, "the schema is at migration %d but %s holds migration %d: this fcrd is older than the "
                   "schema", at, dir, latest);
        rc = MIGRATE_CHECK_REFUSED;
    }
    PQclear(r);
    PQfinish(pg);
    return rc;
}
