/* config.h: the daemon's configuration, an immutable snapshot read from an INI file. */
#ifndef FCRD_CONFIG_H
#define FCRD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct sources;

enum listen_kind { LISTEN_TCP = 1, LISTEN_UNIX };

struct listen_addr {
    enum listen_kind kind;
    char *host; /* TCP: host or IP literal (IPv6 may be given in [brackets], stored without them) */
    int port;   /* TCP: 0..65535 (0 = any free port, for tests) */
    char *path; /* UNIX: socket path */
};

struct config {
    /* [database] */
    char *db_conninfo;       /* conninfo: the serving connection (least privilege role) */
    char *db_admin_conninfo; /* admin_conninfo: the schema owner's, for fcrd migrate only; NULL when
                                the file has none (the serving daemon's file should not) */
    char *sql_dir;           /* migrations: folder of numbered migrations; default "sql" */
    int db_connect_timeout_ms; /* connect_timeout_ms, default 5000 */
    int db_reconnect_max_ms;   /* reconnect_max_ms: longest wait between failed attempts, default 5000 */
    char *db_require_sync_standby; /* require_sync_standby: no | yes, default no */
    int db_sync_standby_check_ms;  /* sync_standby_check_ms: period of the standby count, default 5000 */
    /* [feed] */
    struct listen_addr *feed_listen; /* listen: comma-separated tcp:HOST:PORT / unix:PATH; required */
    size_t n_feed_listen;
    size_t feed_max_line;      /* max_line, bytes, default 65536, 1024..16777216 */
    size_t feed_max_inflight;  /* max_inflight: lines per connection awaiting reply before reading pauses, default 1024 */
    size_t feed_max_connections; /* max_connections, default 256 */
    char *feed_tls;            /* tls: off | on | mutual (client certificates required), default off */
    size_t feed_max_seq_gap;   /* max_seq_gap: largest seq step above an incident's last, default 10000 */
    size_t feed_max_connections_per_source; /* max_connections_per_source: per [sources] source, default 64 */
    size_t feed_reserved_connections; /* reserved_connections: places only identified sources take, default 0 */
    int feed_first_line_timeout_s; /* first_line_timeout_s: close a connection silent this long, default 60; 0 off */
    int feed_keepalive_s;      /* keepalive_s: TCP_KEEPIDLE, default 60; 0: no keepalive */
    int feed_keepalive_interval_s; /* keepalive_interval_s: TCP_KEEPINTVL, default 10 */
    int feed_keepalive_count;  /* keepalive_count: TCP_KEEPCNT, default 6 */
    char *feed_allow_insecure; /* allow_insecure: no | yes; yes lets a non-loopback TCP listener run
                                  without mutual TLS; default no */
    size_t feed_max_tokens;    /* max_tokens: JSON tokens a line may hold before it is parsed, default 16384 */
    size_t feed_max_unknown_bytes; /* max_unknown_bytes: unknown fields' total size per event, default 32768 */
    size_t feed_max_persons_per_incident;     /* default 2000 */
    size_t feed_max_allegations_per_incident; /* default 2000 */
    size_t feed_max_links_per_incident;       /* default 1000 */
    /* [api] */
    struct listen_addr api_listen; /* listen: HOST:PORT (TCP only); required */
    char *api_tokens;          /* tokens: path of the tokens file; required */
    size_t api_max_body;       /* max_body, bytes, default 65536 */
    size_t api_whatif_max_body; /* whatif_max_body, bytes, default 1048576 */
    size_t api_audit_sample_max; /* audit_sample_max: largest audit sample per stratum, default 1000 */
    char *api_tls;             /* tls: off | on | mutual (client certificates required), default off */
    int api_metrics_refresh_ms; /* metrics_refresh_ms: period of the database figures, default 15000 */
    size_t api_auth_failures_max; /* auth_failures_max: 401s from one address that block it, default 20 */
    int api_auth_failure_window_s; /* auth_failure_window_s: the window they are counted in, default 60 */
    int api_auth_block_s;      /* auth_block_s: how long a block lasts, default 60 */
    char *api_require_purpose; /* require_purpose: yes | no, default no */
    int api_access_log_timeout_ms; /* access_log_timeout_ms: an access log batch's deadline, default 5000 */
    size_t api_max_connections; /* max_connections: client connections served at once, default 256 */
    int api_header_timeout_ms; /* header_timeout_ms: deadline of a request's headers, default 10000 */
    int api_body_timeout_ms;   /* body_timeout_ms: deadline of a request's body, default 30000 */
    size_t api_read_connections; /* read_connections: the read pool, default 2 */
    int api_read_statement_timeout_ms; /* read_statement_timeout_ms: of each read, default 5000 */
    int api_stream_heartbeat_s; /* stream_heartbeat_s: seconds between a stream's heartbeats, default 15 */
    size_t api_max_streams;    /* max_streams: GET /v1/stream connections at once, default 64 */
    char *api_read_conninfo;   /* read_conninfo: a standby for the API's reads; NULL when absent */
    int api_read_max_lag_ms;   /* read_max_lag_ms: its staleness bound, default 1000 */
    /* [tls] (read only where feed.tls or api.tls is not off; re-read on reload) */
    char *tls_cert;            /* cert: PEM server certificate chain */
    char *tls_key;             /* key: PEM private key */
    char *tls_client_ca;       /* client_ca: PEM CAs of client certificates (feed.tls = mutual) */
    char *tls_client_subjects; /* client_subjects: ';'-separated RFC 2253 subjects, or "*" */
    char *tls_api_client_ca;       /* api_client_ca: PEM CAs of API client certificates (api.tls = mutual) */
    char *tls_api_client_subjects; /* api_client_subjects: as client_subjects, for the API */
    /* [rules] */
    char *rules_file;          /* file: path of the rule set JSON; required */
    /* [recording] */
    char *force_code;          /* force: code used in crime reference numbers, default "XX", [A-Z0-9]{1,8} */
    /* [store] */
    size_t batch_max;          /* batch_max: events per transaction, default 256, 1..10000 */
    size_t store_lanes;        /* lanes: store connections, each writing one batch, default 4, 1..16 */
    size_t store_state_cache;  /* state_cache_members: each lane's decoded states, by members, default 5000 */
    size_t store_state_cache_min; /* state_cache_min_members: smallest incident cached, default 50 */
    /* [service] */
    int drain_timeout_ms;      /* drain_timeout_ms: bound of a stop, default 10000 */
    /* [audit] (the key and the file are read only where the interval is not 0) */
    int audit_checkpoint_interval_s; /* checkpoint_interval_s: seconds between checkpoints, 0 = none (default) */
    char *audit_checkpoint_key;  /* checkpoint_key: PEM Ed25519 private key, mode 600 */
    char *audit_checkpoint_file; /* checkpoint_file: where the signed checkpoint lines are appended */
    size_t memory_limit_mb;    /* memory_limit_mb: what the feed and the store queue may hold, default 256 */
    int accept_pause_ms;       /* accept_pause_ms: a listener's pause after an accept error, default 250 */
    /* [retention] (docs/operations.md, "Data protection") */
    size_t retention_incident_s;  /* incident_s: a non-crime incident's period, default 1 year */
    size_t retention_crime_s;     /* crime_s: a recorded crime's period by default, default 7 years */
    char *retention_crime_groups; /* crime_groups: "group=seconds,..." per offence group, default none */
    /* [log] */
    char *log_level;           /* level: debug|info|warn|error, default info */
    char *log_format;          /* format: plain|json, default plain */
    int log_refusal_interval_s; /* refusal_interval_s: least seconds between lines of one refusal kind, default 5 */
    /* [sources] (not in the key table: its keys are names; see service/sources.h). NULL when the
     * file has no such section: every feed connection is then source "default". Owned. */
    struct sources *sources;
};

/* config_load: read and validate the file. Returns 0 and *out (caller frees with config_free),
 * or -1 with a message in err naming the file, line and key, e.g.
 * "fcrd.conf:12: [feed] max_line: must be between 1024 and 16777216". */
int config_load(const char *path, struct config **out, char *err, size_t errlen);

/* config_load_migrate: as config_load, for fcrd migrate: [database] admin_conninfo is required and
 * no other key is, so that a file of the [database] section alone will do (the keys it has are
 * checked as usual). Keys of other sections may be left unset (NULL, 0). */
int config_load_migrate(const char *path, struct config **out, char *err, size_t errlen);

/* config_free: NULL-safe; returns NULL. */
struct config *config_free(struct config *cfg);

/* config_parse_listen: parse one "tcp:HOST:PORT" / "unix:PATH" item. Returns 0 or -1. */
int config_parse_listen(const char *text, struct listen_addr *out);
void listen_addr_clear(struct listen_addr *a);

/* The key table, for reload and diagnostics. Keys are numbered 0..config_keys_count()-1 in the
 * order of the table (file order of docs/configuration.md). A reload compares old and new with
 * config_key_equal and logs the changed keys with config_key_render; a changed key that is not
 * reloadable needs a restart. */
size_t config_keys_count(void);

/* config_key_render: for key i, set *name to "section.key" and *reloadable (either may be NULL)
 * and write the value in cfg as text into buf (always NUL-terminated when len > 0), in the form
 * the file accepts. Secrets are masked: a password inside a conninfo is shown as "*****".
 * cfg may be NULL to learn the name only (buf gets ""). Returns the length of the full text, as
 * snprintf does (>= len means it was cut short), or -1 if i is out of range. */
int config_key_render(const struct config *cfg, size_t i, const char **name, bool *reloadable,
                      char *buf, size_t len);

/* config_key_equal: whether key i has the same value in a and b, secrets included (compares the
 * values themselves, not their masked rendering). An out-of-range i compares equal. */
bool config_key_equal(const struct config *a, const struct config *b, size_t i);

/* config_key_describe: the one-line description of key i, or NULL if out of range. */
const char *config_key_describe(size_t i);

/* config_keep_running: for a reload. Every key that is not reloadable and differs between next
 * (a freshly loaded file) and running gets running's value back in next, so that next describes
 * what the daemon actually runs with after the swap, and a later reload still reports the change
 * as waiting for a restart. Returns the number of such keys, or -1 when out of memory (next is
 * then unusable: free it). */
int config_keep_running(struct config *next, const struct config *running);

#endif
