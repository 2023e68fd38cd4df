/* metrics_db.c: a periodic asynchronous query for the figures only the database knows, handed
 * to the metrics registry. The loop never waits for it; a refresh that is still running when
 * the next is due is simply not repeated. */
#include "service/metrics_db.h"

#include <stdlib.h>
#include <string.h>

#include "store/pgconn.h"

/* Recorded crimes are counted by offence code here and mapped to the rule set's categories in
 * memory, so the query needs no knowledge of the rule set. They come from crime_counts, which
 * triggers keep as crimes change (sql/0027_crime_counts.sql), folded first to a row per offence:
 * the refresh reads what was written since the last one, never the whole crimes table. The
 * open decisions are an index range of their own (pending_open_due). */
static const char fold_sql[] = "SELECT crime_counts_fold()";
static const char stats_sql[] =
    "SELECT (SELECT count(*) FROM pending_decisions WHERE status = 'open'),"
    " (SELECT count(*) FROM pending_decisions WHERE status = 'open' AND due < now()),"
    " (SELECT coalesce(json_object_agg(offence, n), '{}') FROM"
    "   (SELECT offence, sum(n)::bigint AS n FROM crime_counts GROUP BY offence HAVING sum(n) <> 0) c),"
    " extract(epoch FROM now())";

/* A refresh may never hog the connection's server process for long. */
static const char timeout_sql[] = "SELECT set_config('statement_timeout', '30s', false)";

struct metrics_db {
    struct metrics *m;
    const struct ruleset *rs;
    struct pgconn *db;
    struct event *timer;
    int interval_ms;
    bool have_stats;
};

static void stats_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct metrics_db *s = arg;
    (void)sent_all;
    if (error || n < 3 || !pgconn_result_ok(res[2]) || PQntuples(res[2]) != 1) {
        metrics_stats_failed(s->m);
        return;
    }
    const PGresult *r = res[2];
    json_t *by_code = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
    json_t *by_category = json_object();
    const char *code;
    json_t *v;
    json_object_foreach(by_code, code, v)
    {
        const struct ruleset_offence *o = s->rs ? ruleset_offence(s->rs, code) : NULL;
        const char *cat = o && o->category ? o->category : "unknown";
        json_int_t sum = json_integer_value(json_object_get(by_category, cat)) + json_integer_value(v);
        json_object_set_new(by_category, cat, json_integer(sum));
    }
    metrics_set_stats(s->m, strtoll(PQgetvalue(r, 0, 0), NULL, 10), strtoll(PQgetvalue(r, 0, 1), NULL, 10),
                      by_category, strtod(PQgetvalue(r, 0, 3), NULL));
    s->have_stats = true;
    json_decref(by_code);
    json_decref(by_category);
}

static void stats_refresh(struct metrics_db *s)
{
    if (!pgconn_up(s->db)) {
        metrics_stats_failed(s->m);
        return;
    }
    if (!pgconn_ready(s->db))
        return; /* the last refresh is still running */
    const struct pg_query q[3] = {{timeout_sql, 0, NULL}, {fold_sql, 0, NULL}, {stats_sql, 0, NULL}};
    if (pgconn_send(s->db, q, 3, stats_done, s) != 0)
        metrics_stats_failed(s->m);
}

static void stats_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    stats_refresh(arg);
}

static void stats_state(void *arg, bool up)
{
    struct metrics_db *s = arg;
    if (up && !s->have_stats)
        stats_refresh(s);
}

static void stats_arm(struct metrics_db *s)
{
    struct timeval tv = {s->interval_ms / 1000, (s->interval_ms % 1000) * 1000};
    event_add(s->timer, &tv);
}

struct metrics_db *metrics_db_new(struct event_base *base, const char *conninfo, int connect_timeout_ms, int interval_ms,
                                  int schema, struct metrics *m, const struct ruleset *rs)
{
    struct metrics_db *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->m = m;
    s->rs = rs;
    s->interval_ms = interval_ms > 0 ? interval_ms : 15000;
    s->timer = event_new(base, -1, EV_PERSIST, stats_timer_cb, s);
    if (!s->timer)
        return metrics_db_free(s);
    s->db = pgconn_new(base, conninfo, "stats", stats_state, s);
    if (!s->db)
        return metrics_db_free(s);
    pgconn_set_connect_timeout(s->db, connect_timeout_ms);
    pgconn_require_schema(s->db, schema);
    stats_arm(s);
    return s;
}

struct metrics_db *metrics_db_free(struct metrics_db *s)
{
    if (!s)
        return NULL;
    pgconn_free(s->db);
    if (s->timer)
        event_free(s->timer);
    free(s);
    return NULL;
}

void metrics_db_set_ruleset(struct metrics_db *s, const struct ruleset *rs)
{
    s->rs = rs;
}

void metrics_db_set_interval(struct metrics_db *s, int interval_ms)
{
    if (interval_ms <= 0 || interval_ms == s->interval_ms)
        return;
    s->interval_ms = interval_ms;
    stats_arm(s);
}

bool metrics_db_up(const struct metrics_db *s)
{
    return s && pgconn_up(s->db);
}
