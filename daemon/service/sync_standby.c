/* sync_standby.c: counts the primary's synchronous standbys on a timer and holds the store while
 * [database] require_sync_standby asks for one and there is none. */
#include "service/sync_standby.h"

#include <stdlib.h>
#include <string.h>

#include "store/pgconn.h"
#include "store/store.h"
#include "util/log.h"

/* sql/0019_sync_standbys.sql: the serving role sees only the count, not pg_stat_replication. */
static const char count_sql[] = "SELECT standbys, names FROM sync_standbys()";
static const char timeout_sql[] = "SELECT set_config('statement_timeout', '5s', false)";

enum sync_standby_seen { SEEN_UNKNOWN, SEEN_NONE, SEEN_SOME };

struct sync_standby {
    struct pgconn *db;
    struct event *timer;
    struct store *st;
    int interval_ms;
    bool required;
    enum sync_standby_seen seen; /* what the last count found; unknown while the connection is down */
};

static void sync_standby_apply(struct sync_standby *s, enum sync_standby_seen seen, long long n, const char *names)
{
    enum sync_standby_seen was = s->seen;
    s->seen = seen;
    if (s->required)
        store_set_hold(s->st, seen == SEEN_SOME ? NULL : "no_sync_standby",
                       "the database has no synchronous standby; send again later");
    if (seen == was || seen == SEEN_UNKNOWN)
        return;
    const char *then = s->required ? "events are answered retry/no_sync_standby until one is back"
                                   : "commits are on the primary only ([database] require_sync_standby = no)";
    if (seen == SEEN_SOME)
        log_info("database: %lld synchronous standby(s) (synchronous_standby_names '%s')", n, names);
    else if (!*names)
        log_warn("database: the primary has no synchronous standby (synchronous_standby_names is empty): %s", then);
    else
        log_warn("database: the primary has no synchronous standby connected (synchronous_standby_names '%s'): %s",
                 names, then);
}

static void sync_standby_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct sync_standby *s = arg;
    (void)sent_all;
    if (error)
        return; /* the connection is lost: sync_standby_state says so */
    if (n < 2 || !pgconn_result_ok(res[1]) || PQntuples(res[1]) != 1) {
        const char *why = n >= 2 && res[1] ? PQresultErrorField(res[1], PG_DIAG_MESSAGE_PRIMARY) : NULL;
        log_error("database: cannot count the synchronous standbys (is migration 0019 applied?): %s",
                  why ? why : "no result");
        sync_standby_apply(s, SEEN_NONE, 0, "?");
        return;
    }
    long long count = strtoll(PQgetvalue(res[1], 0, 0), NULL, 10);
    sync_standby_apply(s, count > 0 ? SEEN_SOME : SEEN_NONE, count, PQgetvalue(res[1], 0, 1));
}

static void sync_standby_count(struct sync_standby *s)
{
    if (!pgconn_ready(s->db))
        return; /* down (already unknown) or the last count is still running */
    const struct pg_query q[2] = {{timeout_sql, 0, NULL}, {count_sql, 0, NULL}};
    pgconn_send(s->db, q, 2, sync_standby_done, s);
}

static void sync_standby_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sync_standby_count(arg);
}

static void sync_standby_state(void *arg, bool up)
{
    struct sync_standby *s = arg;
    if (up)
        sync_standby_count(s);
    else
        sync_standby_apply(s, SEEN_UNKNOWN, 0, "");
}

struct sync_standby *sync_standby_new(struct event_base *base, const struct sync_standby_params *p)
{
    struct sync_standby *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->st = p->st;
    s->required = p->required;
    s->interval_ms = p->interval_ms > 0 ? p->interval_ms : 5000;
    s->seen = SEEN_UNKNOWN;
    if (s->required)
        store_set_hold(s->st, "no_sync_standby", "the database has no synchronous standby; send again later");
    s->timer = event_new(base, -1, EV_PERSIST, sync_standby_timer_cb, s);
    if (!s->timer)
        return sync_standby_free(s);
    s->db = pgconn_new(base, p->conninfo, "standby-check", sync_standby_state, s);
    if (!s->db)
        return sync_standby_free(s);
    pgconn_set_connect_timeout(s->db, p->connect_timeout_ms);
    pgconn_set_backoff_max(s->db, p->reconnect_max_ms);
    struct timeval tv = {s->interval_ms / 1000, (s->interval_ms % 1000) * 1000};
    event_add(s->timer, &tv);
    return s;
}

struct sync_standby *sync_standby_free(struct sync_standby *s)
{
    if (!s)
        return NULL;
    pgconn_free(s->db);
    if (s->timer)
        event_free(s->timer);
    if (s->required && s->st)
        store_set_hold(s->st, NULL, NULL);
    free(s);
    return NULL;
}

bool sync_standby_ok(const struct sync_standby *s)
{
    return s && s->seen == SEEN_SOME;
}

bool sync_standby_required(const struct sync_standby *s)
{
    return s && s->required;
}
