/* api_readsrc.c: chooses the server the API's reads go to, a standby while it is current enough
 * ([api] read_conninfo, read_max_lag_ms) and the primary otherwise, from a periodic lag query. */
#include "api/api_readsrc.h"

#include <stdlib.h>
#include <string.h>

#include "service/metrics.h"
#include "store/pgconn.h"
#include "util/log.h"

/* Readable by any role: pg_stat_wal_receiver hides its columns from roles without
 * pg_read_all_stats, but has its one row whenever a WAL receiver runs. */
static const char lag_sql[] =
    "SELECT pg_is_in_recovery(), EXISTS (SELECT 1 FROM pg_stat_wal_receiver),"
    " coalesce(pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn(), false),"
    " coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000, -1)";

struct api_readsrc {
    char *primary;
    char *standby;          /* NULL: no read server configured */
    int max_lag_ms;
    struct pgconn *db;
    struct event *timer;
    struct api_readsrc_sample last;
    double last_at;         /* metrics_clock() of the last measurement, 0: none */
    bool on_standby;
    api_readsrc_change_fn on_change;
    void *arg;
};

bool api_readsrc_pick(const struct api_readsrc_sample *s, double max_lag_ms)
{
    if (!s)
        return false;
    if (!s->in_recovery)
        return true; /* promoted: it is a primary now, nothing to lag behind */
    if (s->streaming && s->caught_up)
        return true;
    return s->replay_age_ms >= 0 && s->replay_age_ms <= max_lag_ms;
}

static void api_readsrc_decide(struct api_readsrc *r)
{
    bool fresh = r->last_at > 0 && (metrics_clock() - r->last_at) * 1000.0 <= r->max_lag_ms;
    bool to_standby = api_readsrc_pick(fresh ? &r->last : NULL, r->max_lag_ms);
    if (to_standby == r->on_standby)
        return;
    r->on_standby = to_standby;
    if (to_standby)
        log_info("api: reads go to the read server ([api] read_conninfo): within %d ms of the primary", r->max_lag_ms);
    else
        log_warn("api: reads go to the primary: the read server is not known to be within %d ms of it", r->max_lag_ms);
    if (r->on_change)
        r->on_change(r->arg, to_standby);
}

static void api_readsrc_done(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct api_readsrc *r = arg;
    (void)sent_all;
    if (!error && n == 1 && pgconn_result_ok(res[0]) && PQntuples(res[0]) == 1) {
        const PGresult *q = res[0];
        r->last.in_recovery = strcmp(PQgetvalue(q, 0, 0), "t") == 0;
        r->last.streaming = strcmp(PQgetvalue(q, 0, 1), "t") == 0;
        r->last.caught_up = strcmp(PQgetvalue(q, 0, 2), "t") == 0;
        r->last.replay_age_ms = strtod(PQgetvalue(q, 0, 3), NULL);
        r->last_at = metrics_clock();
    }
    api_readsrc_decide(r);
}

static void api_readsrc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct api_readsrc *r = arg;
    (void)fd;
    (void)what;
    if (pgconn_ready(r->db)) {
        const struct pg_query q = {lag_sql, 0, NULL};
        pgconn_send(r->db, &q, 1, api_readsrc_done, r);
    }
    api_readsrc_decide(r); /* a measurement that has grown too old sends reads back */
}

struct api_readsrc *api_readsrc_new(struct event_base *base, const struct api_readsrc_params *p)
{
    struct api_readsrc *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->primary = strdup(p->primary_conninfo);
    r->max_lag_ms = p->max_lag_ms > 0 ? p->max_lag_ms : 1000;
    r->on_change = p->on_change;
    r->arg = p->arg;
    if (!r->primary)
        return api_readsrc_free(r);
    if (!p->read_conninfo)
        return r;
    r->standby = strdup(p->read_conninfo);
    r->timer = event_new(base, -1, EV_PERSIST, api_readsrc_timer_cb, r);
    if (!r->standby || !r->timer)
        return api_readsrc_free(r);
    r->db = pgconn_new(base, r->standby, "read-lag", NULL, NULL);
    if (!r->db)
        return api_readsrc_free(r);
    pgconn_set_connect_timeout(r->db, p->connect_timeout_ms);
    pgconn_set_backoff_max(r->db, p->reconnect_max_ms);
    int every = r->max_lag_ms / 2 < 100 ? 100 : r->max_lag_ms / 2;
    struct timeval tv = {every / 1000, (every % 1000) * 1000};
    event_add(r->timer, &tv);
    return r;
}

struct api_readsrc *api_readsrc_free(struct api_readsrc *r)
{
    if (!r)
        return NULL;
    pgconn_free(r->db);
    if (r->timer)
        event_free(r->timer);
    free(r->primary);
    free(r->standby);
    free(r);
    return NULL;
}

const char *api_readsrc_conninfo(const struct api_readsrc *r)
{
    return r->on_standby && r->standby ? r->standby : r->primary;
}

bool api_readsrc_on_standby(const struct api_readsrc *r)
{
    return r && r->on_standby;
}
