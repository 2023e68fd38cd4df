/* config.c: reads the INI configuration file into an immutable struct config, from one key table. */
#include "service/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <libpq-fe.h>

#include "service/sources.h"
#include "util/errbuf.h"

enum key_type {
    KT_CONNINFO,    /* libpq connection string (keyword=value list or URI), checked by libpq */
    KT_PATH,        /* file or folder; relative paths are left relative to the working directory */
    KT_INT,         /* int field, decimal, bounded */
    KT_COUNT,       /* size_t field, decimal, bounded */
    KT_BYTES,       /* size_t field, decimal with optional KiB/MiB/GiB, bounded */
    KT_LISTEN_LIST, /* struct listen_addr array + count: tcp:HOST:PORT / unix:PATH, comma-separated */
    KT_LISTEN_TCP,  /* one struct listen_addr: HOST:PORT or tcp:HOST:PORT */
    KT_LOG_LEVEL,   /* debug | info | warn | error */
    KT_FORCE,       /* [A-Z0-9]{1,8} */
    KT_WORD,        /* one of the key's `words` */
    KT_TEXT,        /* free text on one line */
};

enum {
    KF_REQUIRED = 1u << 0, /* no default: the file must set it */
    KF_RELOAD = 1u << 1,   /* a SIGHUP reload may change it without a restart */
    KF_OPTIONAL = 1u << 2, /* no default: absent means NULL */
};

struct key_def {
    const char *section;
    const char *key;
    const char *name;       /* "section.key", for logs and the reload diff */
    enum key_type type;
    size_t offset;          /* of the field in struct config */
    size_t count_offset;    /* KT_LISTEN_LIST: of the size_t item count */
    const char *dflt;       /* default, as file text (so it passes the same checks) */
    const char *inherit;    /* default: the value of this key of the same section */
    long long min, max;     /* KT_INT, KT_COUNT, KT_BYTES */
    const char *const *words; /* KT_WORD: the values allowed, NULL-terminated */
    unsigned flags;
    const char *describe;
};

#define KEY(s, k) .section = s, .key = k, .name = s "." k
#define AT(field) .offset = offsetof(struct config, field)

static const char *const feed_tls_words[] = { "off", "on", "mutual", NULL };
static const char *const api_tls_words[] = { "off", "on", "mutual", NULL };
static const char *const log_format_words[] = { "plain", "json", NULL };
static const char *const yes_no_words[] = { "no", "yes", NULL };

/* Every key, once. The loader, the defaults, the bounds, the reload diff and docs/configuration.md
 * all follow this table; keep the document in step when a row changes. */
static const struct key_def keys[] = {
    { KEY("database", "conninfo"), .type = KT_CONNINFO, AT(db_conninfo), .flags = KF_REQUIRED,
      .describe = "libpq connection string of the serving role (least privilege)" },
    { KEY("database", "admin_conninfo"), .type = KT_CONNINFO, AT(db_admin_conninfo), .flags = KF_OPTIONAL,
      .describe = "libpq connection string of the schema owner, read only by fcrd migrate" },
    { KEY("database", "migrations"), .type = KT_PATH, AT(sql_dir), .dflt = "sql",
      .describe = "folder of numbered schema migrations" },
    { KEY("database", "connect_timeout_ms"), .type = KT_INT, AT(db_connect_timeout_ms),
      .dflt = "5000", .min = 100, .max = 300000, .flags = 0,
      .describe = "deadline for one connection attempt, in milliseconds" },
    { KEY("database", "reconnect_max_ms"), .type = KT_INT, AT(db_reconnect_max_ms),
      .dflt = "5000", .min = 100, .max = 60000,
      .describe = "longest wait between failed connection attempts, in milliseconds (a lost connection is retried at once)" },
    { KEY("database", "require_sync_standby"), .type = KT_WORD, AT(db_require_sync_standby), .dflt = "no",
      .words = yes_no_words,
      .describe = "yes: without a synchronous standby fcrd is not ready and answers events retry/no_sync_standby" },
    { KEY("database", "sync_standby_check_ms"), .type = KT_INT, AT(db_sync_standby_check_ms),
      .dflt = "5000", .min = 200, .max = 3600000,
      .describe = "how often the primary's synchronous standbys are counted, in milliseconds" },
    { KEY("feed", "listen"), .type = KT_LISTEN_LIST, AT(feed_listen),
      .count_offset = offsetof(struct config, n_feed_listen), .flags = KF_REQUIRED,
      .describe = "where control-room feeds connect: tcp:HOST:PORT and/or unix:PATH, comma-separated" },
    { KEY("feed", "max_line"), .type = KT_BYTES, AT(feed_max_line), .dflt = "65536",
      .min = 1024, .max = 16777216, .flags = KF_RELOAD,
      .describe = "longest accepted feed line in bytes, newline excluded" },
    { KEY("feed", "max_inflight"), .type = KT_COUNT, AT(feed_max_inflight), .dflt = "1024",
      .min = 1, .max = 65536, .flags = KF_RELOAD,
      .describe = "lines per connection awaiting a reply before fcrd stops reading that connection" },
    { KEY("feed", "max_connections"), .type = KT_COUNT, AT(feed_max_connections), .dflt = "256",
      .min = 1, .max = 65536, .flags = KF_RELOAD,
      .describe = "feed connections served at once; further ones are refused" },
    { KEY("feed", "max_connections_per_source"), .type = KT_COUNT, AT(feed_max_connections_per_source),
      .dflt = "64", .min = 1, .max = 65536, .flags = KF_RELOAD,
      .describe = "feed connections one [sources] source may hold at once; further ones are refused" },
    { KEY("feed", "reserved_connections"), .type = KT_COUNT, AT(feed_reserved_connections), .dflt = "0",
      .min = 0, .max = 65535, .flags = KF_RELOAD,
      .describe = "of max_connections, the places only connections identified as a [sources] source may take" },
    { KEY("feed", "first_line_timeout_s"), .type = KT_INT, AT(feed_first_line_timeout_s), .dflt = "60",
      .min = 0, .max = 86400, .flags = KF_RELOAD,
      .describe = "a connection that has sent no complete line this many seconds after it opened is closed (0: never)" },
    { KEY("feed", "keepalive_s"), .type = KT_INT, AT(feed_keepalive_s), .dflt = "60",
      .min = 0, .max = 86400, .flags = KF_RELOAD,
      .describe = "TCP keepalive: seconds a feed connection is idle before the first probe (0: keepalive off)" },
    { KEY("feed", "keepalive_interval_s"), .type = KT_INT, AT(feed_keepalive_interval_s), .dflt = "10",
      .min = 1, .max = 3600, .flags = KF_RELOAD,
      .describe = "TCP keepalive: seconds between unanswered probes" },
    { KEY("feed", "keepalive_count"), .type = KT_INT, AT(feed_keepalive_count), .dflt = "6",
      .min = 1, .max = 100, .flags = KF_RELOAD,
      .describe = "TCP keepalive: unanswered probes after which the connection is dropped" },
    { KEY("feed", "tls"), .type = KT_WORD, AT(feed_tls), .dflt = "off", .words = feed_tls_words,
      .describe = "TLS on the feed's TCP listeners: off, on, or mutual (client certificates required)" },
    { KEY("feed", "max_seq_gap"), .type = KT_COUNT, AT(feed_max_seq_gap), .dflt = "10000",
      .min = 1, .max = 9007199254740992LL, .flags = KF_RELOAD,
      .describe = "largest step of seq above a known incident's last; a larger one is rejected seq_gap" },
    { KEY("feed", "allow_insecure"), .type = KT_WORD, AT(feed_allow_insecure), .dflt = "no",
      .words = yes_no_words,
      .describe = "yes: let a TCP listener on a non-loopback address start without tls = mutual (logged at start)" },
    { KEY("feed", "max_tokens"), .type = KT_COUNT, AT(feed_max_tokens), .dflt = "16384",
      .min = 256, .max = 16777216, .flags = KF_RELOAD,
      .describe = "JSON tokens (objects, arrays, strings, separators) a line may hold; more is rejected too_many_tokens unparsed" },
    { KEY("feed", "max_unknown_bytes"), .type = KT_BYTES, AT(feed_max_unknown_bytes), .dflt = "32768",
      .min = 0, .max = 16777216, .flags = KF_RELOAD,
      .describe = "total size of an event's unknown fields (names and compact values); more is rejected bad_field" },
    { KEY("feed", "max_persons_per_incident"), .type = KT_COUNT, AT(feed_max_persons_per_incident),
      .dflt = "2000", .min = 1, .max = 1000000, .flags = KF_RELOAD,
      .describe = "persons one incident may hold; an event that would exceed it is rejected incident_too_large" },
    { KEY("feed", "max_allegations_per_incident"), .type = KT_COUNT, AT(feed_max_allegations_per_incident),
      .dflt = "2000", .min = 1, .max = 1000000, .flags = KF_RELOAD,
      .describe = "allegations one incident may hold; an event that would exceed it is rejected incident_too_large" },
    { KEY("feed", "max_links_per_incident"), .type = KT_COUNT, AT(feed_max_links_per_incident),
      .dflt = "1000", .min = 1, .max = 1000000, .flags = KF_RELOAD,
      .describe = "links one incident may hold; an event that would exceed it is rejected incident_too_large" },
    { KEY("api", "listen"), .type = KT_LISTEN_TCP, AT(api_listen), .flags = KF_REQUIRED,
      .describe = "HOST:PORT of the supervisor HTTP API (TCP only)" },
    { KEY("api", "tokens"), .type = KT_PATH, AT(api_tokens), .flags = KF_REQUIRED | KF_RELOAD,
      .describe = "file of API bearer tokens, user ids and roles; re-read on reload" },
    { KEY("api", "max_body"), .type = KT_BYTES, AT(api_max_body), .dflt = "65536",
      .min = 1024, .max = 16777216, .flags = KF_RELOAD,
      .describe = "largest accepted HTTP request body in bytes (POST /v1/whatif has its own limit)" },
    { KEY("api", "whatif_max_body"), .type = KT_BYTES, AT(api_whatif_max_body), .dflt = "1048576",
      .min = 1024, .max = 16777216, .flags = KF_RELOAD,
      .describe = "largest accepted body of POST /v1/whatif (a candidate rule set) in bytes" },
    { KEY("api", "audit_sample_max"), .type = KT_COUNT, AT(api_audit_sample_max), .dflt = "1000",
      .min = 1, .max = 100000, .flags = KF_RELOAD,
      .describe = "the largest sample (per stratum) an independent audit may draw" },
    { KEY("api", "tls"), .type = KT_WORD, AT(api_tls), .dflt = "off", .words = api_tls_words,
      .describe = "HTTPS on the API listener: off, on, or mutual (client certificates required)" },
    { KEY("api", "metrics_refresh_ms"), .type = KT_INT, AT(api_metrics_refresh_ms), .dflt = "15000",
      .min = 1000, .max = 3600000, .flags = KF_RELOAD,
      .describe = "how often the figures /metrics reads from the database are refreshed, in milliseconds" },
    { KEY("api", "auth_failures_max"), .type = KT_COUNT, AT(api_auth_failures_max), .dflt = "20",
      .min = 1, .max = 1000000, .flags = KF_RELOAD,
      .describe = "failed authentications (401) from one address within auth_failure_window_s that block it" },
    { KEY("api", "auth_failure_window_s"), .type = KT_INT, AT(api_auth_failure_window_s), .dflt = "60",
      .min = 1, .max = 86400, .flags = KF_RELOAD,
      .describe = "the window, in seconds, in which an address's failed authentications are counted" },
    { KEY("api", "auth_block_s"), .type = KT_INT, AT(api_auth_block_s), .dflt = "60",
      .min = 1, .max = 86400, .flags = KF_RELOAD,
      .describe = "how long, in seconds, a blocked address is answered 429 whatever token it presents" },
    { KEY("api", "require_purpose"), .type = KT_WORD, AT(api_require_purpose), .dflt = "no",
      .words = yes_no_words, .flags = KF_RELOAD,
      .describe = "yes: a read of personal data without a purpose (X-Purpose header or purpose=) is refused 400" },
    { KEY("api", "access_log_timeout_ms"), .type = KT_INT, AT(api_access_log_timeout_ms), .dflt = "5000",
      .min = 100, .max = 60000, .flags = KF_RELOAD,
      .describe = "an access log batch not written within this many milliseconds fails: its replies get 503" },
    { KEY("api", "max_connections"), .type = KT_COUNT, AT(api_max_connections), .dflt = "256",
      .min = 1, .max = 65536, .flags = KF_RELOAD,
      .describe = "API client connections served at once; further ones are closed as soon as accepted" },
    { KEY("api", "header_timeout_ms"), .type = KT_INT, AT(api_header_timeout_ms), .dflt = "10000",
      .min = 100, .max = 600000, .flags = KF_RELOAD,
      .describe = "deadline for a request's headers, from the connection's accept or the request's first byte" },
    { KEY("api", "body_timeout_ms"), .type = KT_INT, AT(api_body_timeout_ms), .dflt = "30000",
      .min = 100, .max = 600000, .flags = KF_RELOAD,
      .describe = "deadline for a request's body, from the end of its headers" },
    { KEY("api", "read_connections"), .type = KT_COUNT, AT(api_read_connections), .dflt = "2",
      .min = 1, .max = 64,
      .describe = "database connections the API's reads share (writes have one of their own)" },
    { KEY("api", "read_statement_timeout_ms"), .type = KT_INT, AT(api_read_statement_timeout_ms), .dflt = "5000",
      .min = 100, .max = 3600000, .flags = KF_RELOAD,
      .describe = "statement timeout of the API's reads; a read cancelled by it is answered 503 read_timeout" },
    { KEY("api", "stream_heartbeat_s"), .type = KT_INT, AT(api_stream_heartbeat_s), .dflt = "15",
      .min = 1, .max = 3600, .flags = KF_RELOAD,
      .describe = "seconds between the comments GET /v1/stream sends when there is no news, so a dead stream is noticed" },
    { KEY("api", "max_streams"), .type = KT_COUNT, AT(api_max_streams), .dflt = "64",
      .min = 0, .max = 10000, .flags = KF_RELOAD,
      .describe = "GET /v1/stream connections open at once; one more is answered 503 too_many_streams" },
    { KEY("api", "read_conninfo"), .type = KT_CONNINFO, AT(api_read_conninfo), .flags = KF_OPTIONAL,
      .describe = "libpq connection string of a standby the API's reads may use while it is current enough (absent: reads on the primary)" },
    { KEY("api", "read_max_lag_ms"), .type = KT_INT, AT(api_read_max_lag_ms), .dflt = "1000",
      .min = 100, .max = 3600000,
      .describe = "how far behind the primary read_conninfo's server may be, in milliseconds, before reads go to the primary" },
    { KEY("retention", "incident_s"), .type = KT_COUNT, AT(retention_incident_s), .dflt = "31536000",
      .min = 1, .max = 9007199254740992LL, .flags = KF_RELOAD,
      .describe = "seconds after its closure or last event that a non-crime incident's personal data is kept" },
    { KEY("retention", "crime_s"), .type = KT_COUNT, AT(retention_crime_s), .dflt = "220752000",
      .min = 1, .max = 9007199254740992LL, .flags = KF_RELOAD,
      .describe = "the same for an incident with a recorded crime whose offence group crime_groups does not name" },
    { KEY("retention", "crime_groups"), .type = KT_TEXT, AT(retention_crime_groups),
      .flags = KF_OPTIONAL | KF_RELOAD,
      .describe = "per offence group, GROUP=SECONDS comma-separated; an incident keeps the longest of its crimes' periods" },
    { KEY("tls", "cert"), .type = KT_PATH, AT(tls_cert), .dflt = "/etc/fcrd/tls/server.crt",
      .flags = KF_RELOAD,
      .describe = "PEM server certificate (then any intermediates) for the feed and the API; re-read on reload" },
    { KEY("tls", "key"), .type = KT_PATH, AT(tls_key), .dflt = "/etc/fcrd/tls/server.key",
      .flags = KF_RELOAD, .describe = "PEM private key of the server certificate; re-read on reload" },
    { KEY("tls", "client_ca"), .type = KT_PATH, AT(tls_client_ca), .dflt = "/etc/fcrd/tls/client-ca.crt",
      .flags = KF_RELOAD,
      .describe = "PEM certificates of the CAs that issue feed client certificates; re-read on reload" },
    { KEY("tls", "client_subjects"), .type = KT_TEXT, AT(tls_client_subjects), .dflt = "*",
      .flags = KF_RELOAD,
      .describe = "feed client certificate subjects allowed, ';'-separated RFC 2253 names, or * for any" },
    { KEY("tls", "api_client_ca"), .type = KT_PATH, AT(tls_api_client_ca),
      .dflt = "/etc/fcrd/tls/api-client-ca.crt", .flags = KF_RELOAD,
      .describe = "PEM certificates of the CAs that issue API client certificates (api.tls = mutual); re-read on reload" },
    { KEY("tls", "api_client_subjects"), .type = KT_TEXT, AT(tls_api_client_subjects), .dflt = "*",
      .flags = KF_RELOAD,
      .describe = "API client certificate subjects allowed, ';'-separated RFC 2253 names, or * for any" },
    { KEY("rules", "file"), .type = KT_PATH, AT(rules_file), .flags = KF_REQUIRED | KF_RELOAD,
      .describe = "recording rule set (JSON); re-read on reload" },
    { KEY("recording", "force"), .type = KT_FORCE, AT(force_code), .dflt = "XX",
      .describe = "force code written into crime reference numbers" },
    { KEY("store", "batch_max"), .type = KT_COUNT, AT(batch_max), .dflt = "256",
      .min = 1, .max = 10000, .flags = KF_RELOAD,
      .describe = "most feed events written in one database transaction" },
    { KEY("store", "lanes"), .type = KT_COUNT, AT(store_lanes), .dflt = "4", .min = 1, .max = 16,
      .describe = "store connections, each writing one batch while others are decided or committed" },
    { KEY("store", "state_cache_members"), .type = KT_COUNT, AT(store_state_cache), .dflt = "5000",
      .min = 0, .max = 10000000,
      .describe = "persons and allegations (plus one per incident) whose decoded states each store lane keeps after "
                  "its commits, so that the next event of a large incident is not read again; 0 keeps none" },
    { KEY("store", "state_cache_min_members"), .type = KT_COUNT, AT(store_state_cache_min), .dflt = "50",
      .min = 0, .max = 1000000,
      .describe = "fewest persons and allegations an incident has for its state to be cached: a small one is cheap "
                  "to read again" },
    { KEY("service", "drain_timeout_ms"), .type = KT_INT, AT(drain_timeout_ms), .dflt = "10000",
      .min = 100, .max = 3600000, .flags = KF_RELOAD,
      .describe = "longest a stop (SIGTERM) waits for what is in flight before fcrd exits, in milliseconds" },
    { KEY("service", "memory_limit_mb"), .type = KT_COUNT, AT(memory_limit_mb), .dflt = "256",
      .min = 16, .max = 1048576, .flags = 0,
      .describe = "MiB that parsed events awaiting the database and the feed's connection buffers may hold together" },
    { KEY("service", "accept_pause_ms"), .type = KT_INT, AT(accept_pause_ms), .dflt = "250",
      .min = 10, .max = 60000,
      .describe = "how long a listener stops accepting after an accept fails (out of file descriptors)" },
    { KEY("audit", "checkpoint_interval_s"), .type = KT_INT, AT(audit_checkpoint_interval_s), .dflt = "0",
      .min = 0, .max = 86400,
      .describe = "seconds between signed checkpoints of the audit chains' heads; 0: none (300 recommended)" },
    { KEY("audit", "checkpoint_key"), .type = KT_PATH, AT(audit_checkpoint_key),
      .dflt = "/etc/fcrd/audit-checkpoint.key",
      .describe = "PEM Ed25519 private key that signs the checkpoints; only fcrd's user may read it" },
    { KEY("audit", "checkpoint_file"), .type = KT_PATH, AT(audit_checkpoint_file),
      .dflt = "/var/lib/fcrd/audit-checkpoints.jsonl",
      .describe = "file the signed checkpoints are appended to, one JSON line each" },
    { KEY("log", "level"), .type = KT_LOG_LEVEL, AT(log_level), .dflt = "info", .flags = KF_RELOAD,
      .describe = "least severe message logged: debug, info, warn or error" },
    { KEY("log", "format"), .type = KT_WORD, AT(log_format), .dflt = "plain", .words = log_format_words,
      .flags = KF_RELOAD, .describe = "how log lines look: plain (for a person) or json (one object per line)" },
    { KEY("log", "refusal_interval_s"), .type = KT_INT, AT(log_refusal_interval_s), .dflt = "5",
      .min = 0, .max = 3600, .flags = KF_RELOAD,
      .describe = "least seconds between two log lines of one kind of refused or closed feed connection" },
};

#define KEYS_N (sizeof keys / sizeof keys[0])

static const char *const log_levels[] = { "debug", "info", "warn", "error" };

/* ---- small helpers ---- */

static bool is_blank(char c) { return c == ' ' || c == '\t'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* trim: strip blanks at both ends of [s, s+n) in place and return the new start. */
static char *trim(char *s, size_t n)
{
    while (n && is_blank(*s)) {
        s++;
        n--;
    }
    while (n && is_blank(s[n - 1]))
        n--;
    s[n] = '\0';
    return s;
}

static bool has_control(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return true;
    }
    return false;
}

static void *field(const void *cfg, size_t offset) { return (char *)cfg + offset; }

/* Output that keeps counting once the buffer is full, so render can report the length needed. */
struct out {
    char *buf;
    size_t len;
    size_t need;
};

static void out_add(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_add(struct out *o, const char *fmt, ...)
{
    char dummy[1];
    char *dst = o->need < o->len ? o->buf + o->need : dummy;
    size_t room = o->need < o->len ? o->len - o->need : sizeof dummy;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->need += (size_t)n;
}

/* ---- value parsers: each returns 0, or -1 with the reason (no file or key) in why ---- */

static int parse_uint(const char *s, unsigned long long *v, const char **end)
{
    unsigned long long x = 0;
    const char *p = s;
    if (!is_digit(*p))
        return -1;
    for (; is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (x > (ULLONG_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    *end = p;
    return 0;
}

static int parse_number(const struct key_def *d, const char *text, long long *out, char *why,
                        size_t whylen)
{
    static const char bytes_syntax[] =
        "must be a number of bytes, optionally followed by KiB, MiB or GiB";
    unsigned long long v;
    const char *p;
    if (parse_uint(text, &v, &p) < 0) {
        if (d->type == KT_BYTES)
            return errbuf_set(why, whylen, "%s", bytes_syntax);
        return errbuf_set(why, whylen, "must be a whole number from %lld to %lld", d->min, d->max);
    }
    if (d->type == KT_BYTES) {
        static const struct { const char *suffix; unsigned shift; } units[] = {
            { "KiB", 10 }, { "MiB", 20 }, { "GiB", 30 },
        };
        while (is_blank(*p))
            p++;
        if (*p) {
            size_t u;
            for (u = 0; u < sizeof units / sizeof units[0]; u++)
                if (strcmp(p, units[u].suffix) == 0)
                    break;
            if (u == sizeof units / sizeof units[0])
                return errbuf_set(why, whylen, "%s", bytes_syntax);
            if (v > (ULLONG_MAX >> units[u].shift))
                v = ULLONG_MAX;
            else
                v <<= units[u].shift;
        }
    } else if (*p) {
        return errbuf_set(why, whylen, "must be a whole number from %lld to %lld", d->min, d->max);
    }
    if (v < (unsigned long long)d->min || v > (unsigned long long)d->max)
        return errbuf_set(why, whylen, "must be between %lld and %lld", d->min, d->max);
    *out = (long long)v;
    return 0;
}

static int parse_port(const char *s, int *port)
{
    unsigned long long v;
    const char *end;
    if (parse_uint(s, &v, &end) < 0 || *end || end - s > 5 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static bool valid_hostname(const char *h)
{
    if (!*h)
        return false;
    for (; *h; h++)
        if (!is_alnum(*h) && *h != '.' && *h != '-' && *h != '_')
            return false;
    return true;
}

/* valid_ipv6: the inside of [brackets]; getaddrinfo has the last word, this catches typos early. */
static bool valid_ipv6(const char *h)
{
    bool colon = false;
    const char *p = h;
    for (; *p && *p != '%'; p++) {
        if (*p == ':')
            colon = true;
        else if (!is_digit(*p) && *p != '.' && !((*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
            return false;
    }
    if (*p == '%') { /* zone, e.g. fe80::1%eth0 */
        if (!p[1])
            return false;
        for (p++; *p; p++)
            if (!is_alnum(*p) && *p != '.' && *p != '-' && *p != '_')
                return false;
    }
    return colon;
}

/* parse_hostport: "HOST:PORT" or "[V6]:PORT" (s) into a TCP listen_addr; messages quote item. */
static int parse_hostport(const char *item, const char *s, struct listen_addr *out, char *why,
                          size_t whylen)
{
    const char *host, *colon;
    size_t hlen;
    bool v6 = false;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return errbuf_set(why, whylen, "'%s': missing ']' after IPv6 address", item);
        host = s + 1;
        hlen = (size_t)(close - host);
        if (close[1] != ':')
            return errbuf_set(why, whylen, "'%s': expected :PORT after ']'", item);
        colon = close + 1;
        v6 = true;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return errbuf_set(why, whylen, "'%s': expected HOST:PORT", item);
        host = s;
        hlen = (size_t)(colon - s);
        if (memchr(host, ':', hlen))
            return errbuf_set(why, whylen, "'%s': write an IPv6 address in brackets, e.g. [::1]:%s", item,
                              colon + 1);
    }
    char *h = strndup(host, hlen);
    if (!h)
        return errbuf_set(why, whylen, "out of memory");
    if (v6 ? !valid_ipv6(h) : !valid_hostname(h)) {
        free(h);
        return errbuf_set(why, whylen, "'%s': bad host", item);
    }
    int port;
    if (parse_port(colon + 1, &port) < 0) {
        free(h);
        return errbuf_set(why, whylen, "'%s': port must be a number from 0 to 65535", item);
    }
    *out = (struct listen_addr){ .kind = LISTEN_TCP, .host = h, .port = port };
    return 0;
}

/* parse_listen: one item. An API address may omit "tcp:" but may not be a Unix socket. */
static int parse_listen(const char *s, bool api, struct listen_addr *out, char *why, size_t whylen)
{
    *out = (struct listen_addr){ 0 };
    if (has_control(s))
        return errbuf_set(why, whylen, "contains a control character");
    if (strncmp(s, "tcp:", 4) == 0)
        return parse_hostport(s, s + 4, out, why, whylen);
    if (strncmp(s, "unix:", 5) == 0) {
        if (api)
            return errbuf_set(why, whylen, "'%s': the API listens on TCP only (HOST:PORT)", s);
        const char *path = s + 5;
        if (!*path)
            return errbuf_set(why, whylen, "'%s': empty socket path", s);
        if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return errbuf_set(why, whylen, "'%s': socket path longer than %zu bytes", s,
                              sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        char *p = strdup(path);
        if (!p)
            return errbuf_set(why, whylen, "out of memory");
        *out = (struct listen_addr){ .kind = LISTEN_UNIX, .path = p };
        return 0;
    }
    if (api)
        return parse_hostport(s, s, out, why, whylen);
    return errbuf_set(why, whylen, "'%s': expected tcp:HOST:PORT or unix:PATH", s);
}

static bool listen_equal(const struct listen_addr *a, const struct listen_addr *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind == LISTEN_TCP)
        return a->port == b->port && a->host && b->host && strcmp(a->host, b->host) == 0;
    return a->path && b->path && strcmp(a->path, b->path) == 0;
}

static void free_listen_list(struct listen_addr *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        listen_addr_clear(&list[i]);
    free(list);
}

static int parse_listen_list(char *text, struct listen_addr **out, size_t *n_out, char *why,
                             size_t whylen)
{
    size_t cap = 1;
    for (const char *p = text; *p; p++)
        cap += *p == ',';
    struct listen_addr *list = calloc(cap, sizeof *list);
    if (!list)
        return errbuf_set(why, whylen, "out of memory");
    size_t n = 0;
    char *item = text;
    for (;;) {
        char *comma = strchr(item, ',');
        size_t ilen = comma ? (size_t)(comma - item) : strlen(item);
        char *t = trim(item, ilen);
        if (!*t) {
            free_listen_list(list, n);
            return errbuf_set(why, whylen, "empty item in the list");
        }
        if (parse_listen(t, false, &list[n], why, whylen) < 0) {
            free_listen_list(list, n);
            return -1;
        }
        for (size_t j = 0; j < n; j++) {
            if (listen_equal(&list[j], &list[n])) {
                free_listen_list(list, n + 1);
                return errbuf_set(why, whylen, "'%s' is listed twice", t);
            }
        }
        n++;
        if (!comma)
            break;
        item = comma + 1;
    }
    *out = list;
    *n_out = n;
    return 0;
}

static int check_conninfo(const char *s, char *why, size_t whylen)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(s, &msg);
    if (opts) {
        PQconninfoFree(opts);
        return 0;
    }
    if (!msg)
        return errbuf_set(why, whylen, "not a valid connection string");
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    errbuf_set(why, whylen, "not a valid connection string: %s", msg);
    PQfreemem(msg);
    return -1;
}

/* key_set: parse text (trimmed, from the file or a default) into the field of d. */
static int key_set(struct config *cfg, const struct key_def *d, char *text, char *why, size_t whylen)
{
    if (!*text)
        return errbuf_set(why, whylen, "value is empty");
    if (d->type != KT_LISTEN_LIST && d->type != KT_LISTEN_TCP && has_control(text))
        return errbuf_set(why, whylen, "value contains a control character");
    void *f = field(cfg, d->offset);
    long long v;
    switch (d->type) {
    case KT_CONNINFO:
        if (check_conninfo(text, why, whylen) < 0)
            return -1;
        /* fall through */
    case KT_PATH: {
        char *s = strdup(text);
        if (!s)
            return errbuf_set(why, whylen, "out of memory");
        *(char **)f = s;
        return 0;
    }
    case KT_INT:
        if (parse_number(d, text, &v, why, whylen) < 0)
            return -1;
        *(int *)f = (int)v;
        return 0;
    case KT_COUNT:
    case KT_BYTES:
        if (parse_number(d, text, &v, why, whylen) < 0)
            return -1;
        *(size_t *)f = (size_t)v;
        return 0;
    case KT_LISTEN_LIST:
        return parse_listen_list(text, (struct listen_addr **)f, field(cfg, d->count_offset), why,
                                 whylen);
    case KT_LISTEN_TCP:
        return parse_listen(text, true, f, why, whylen);
    case KT_LOG_LEVEL:
        for (size_t i = 0; i < sizeof log_levels / sizeof log_levels[0]; i++) {
            if (strcmp(text, log_levels[i]) == 0) {
                char *s = strdup(text);
                if (!s)
                    return errbuf_set(why, whylen, "out of memory");
                *(char **)f = s;
                return 0;
            }
        }
        return errbuf_set(why, whylen, "'%s': must be debug, info, warn or error", text);
    case KT_FORCE: {
        size_t n = strlen(text);
        bool ok = n >= 1 && n <= 8;
        for (size_t i = 0; ok && i < n; i++)
            ok = is_digit(text[i]) || (text[i] >= 'A' && text[i] <= 'Z');
        if (!ok)
            return errbuf_set(why, whylen, "'%s': must be 1 to 8 characters, each A-Z or 0-9", text);
        char *s = strdup(text);
        if (!s)
            return errbuf_set(why, whylen, "out of memory");
        *(char **)f = s;
        return 0;
    }
    case KT_WORD: {
        for (size_t i = 0; d->words[i]; i++) {
            if (strcmp(text, d->words[i]) == 0) {
                char *s = strdup(text);
                if (!s)
                    return errbuf_set(why, whylen, "out of memory");
                *(char **)f = s;
                return 0;
            }
        }
        char list[128] = "";
        for (size_t i = 0; d->words[i]; i++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", i == 0 ? "" : d->words[i + 1] ? ", " : " or ",
                     d->words[i]);
        }
        return errbuf_set(why, whylen, "'%s': must be %s", text, list);
    }
    case KT_TEXT: {
        char *s = strdup(text);
        if (!s)
            return errbuf_set(why, whylen, "out of memory");
        *(char **)f = s;
        return 0;
    }
    }
    return errbuf_set(why, whylen, "internal error: unknown key type");
}

/* ---- rendering and comparison, for the reload diff ---- */

static void render_hostport(const struct listen_addr *a, struct out *o)
{
    if (strchr(a->host, ':'))
        out_add(o, "[%s]:%d", a->host, a->port);
    else
        out_add(o, "%s:%d", a->host, a->port);
}

static void render_listen(const struct listen_addr *a, struct out *o)
{
    if (a->kind == LISTEN_UNIX) {
        out_add(o, "unix:%s", a->path);
    } else if (a->kind == LISTEN_TCP) {
        out_add(o, "tcp:");
        render_hostport(a, o);
    }
}

/* render_conninfo: as written, unless it carries a password; then libpq's parse of it, rebuilt
 * with the password masked, because the reload diff goes to the log. */
static void render_conninfo(const char *s, struct out *o)
{
    PQconninfoOption *opts = PQconninfoParse(s, NULL);
    bool secret = false;
    for (PQconninfoOption *op = opts; op && op->keyword; op++)
        if (op->val && op->dispchar && op->dispchar[0] == '*')
            secret = true;
    if (!secret) {
        out_add(o, "%s", s);
        PQconninfoFree(opts);
        return;
    }
    const char *sep = "";
    for (PQconninfoOption *op = opts; op->keyword; op++) {
        if (!op->val)
            continue;
        out_add(o, "%s%s=", sep, op->keyword);
        sep = " ";
        if (op->dispchar && op->dispchar[0] == '*') {
            out_add(o, "*****");
        } else if (*op->val && !strpbrk(op->val, " \t'\\")) {
            out_add(o, "%s", op->val);
        } else {
            out_add(o, "'");
            for (const char *c = op->val; *c; c++)
                out_add(o, "%s%c", (*c == '\'' || *c == '\\') ? "\\" : "", *c);
            out_add(o, "'");
        }
    }
    PQconninfoFree(opts);
}

static void key_render(const struct config *cfg, const struct key_def *d, struct out *o)
{
    const void *f = field(cfg, d->offset);
    switch (d->type) {
    case KT_CONNINFO:
        if (*(char *const *)f)
            render_conninfo(*(char *const *)f, o);
        break;
    case KT_PATH:
    case KT_LOG_LEVEL:
    case KT_FORCE:
    case KT_WORD:
    case KT_TEXT:
        if (*(char *const *)f)
            out_add(o, "%s", *(char *const *)f);
        break;
    case KT_INT:
        out_add(o, "%d", *(const int *)f);
        break;
    case KT_COUNT:
    case KT_BYTES:
        out_add(o, "%zu", *(const size_t *)f);
        break;
    case KT_LISTEN_LIST: {
        const struct listen_addr *list = *(struct listen_addr *const *)f;
        size_t n = *(const size_t *)field(cfg, d->count_offset);
        for (size_t i = 0; i < n; i++) {
            if (i)
                out_add(o, ", ");
            render_listen(&list[i], o);
        }
        break;
    }
    case KT_LISTEN_TCP: {
        const struct listen_addr *a = f;
        if (a->kind == LISTEN_TCP)
            render_hostport(a, o);
        break;
    }
    }
}

static bool str_equal(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool key_equal(const struct config *a, const struct config *b, const struct key_def *d)
{
    const void *fa = field(a, d->offset), *fb = field(b, d->offset);
    switch (d->type) {
    case KT_CONNINFO:
    case KT_PATH:
    case KT_LOG_LEVEL:
    case KT_FORCE:
    case KT_WORD:
    case KT_TEXT:
        return str_equal(*(char *const *)fa, *(char *const *)fb);
    case KT_INT:
        return *(const int *)fa == *(const int *)fb;
    case KT_COUNT:
    case KT_BYTES:
        return *(const size_t *)fa == *(const size_t *)fb;
    case KT_LISTEN_LIST: {
        size_t na = *(const size_t *)field(a, d->count_offset);
        size_t nb = *(const size_t *)field(b, d->count_offset);
        const struct listen_addr *la = *(struct listen_addr *const *)fa;
        const struct listen_addr *lb = *(struct listen_addr *const *)fb;
        if (na != nb)
            return false;
        for (size_t i = 0; i < na; i++)
            if (!listen_equal(&la[i], &lb[i]))
                return false;
        return true;
    }
    case KT_LISTEN_TCP:
        return listen_equal(fa, fb);
    }
    return false;
}

/* ---- the loader ---- */

static const struct key_def *key_find(const char *section, const char *key)
{
    for (size_t i = 0; i < KEYS_N; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
            return &keys[i];
    return NULL;
}

/* section_find: the index of the section's first key (it stands for the section), or -1. */
static long section_find(const char *name)
{
    for (size_t i = 0; i < KEYS_N; i++)
        if (strcmp(keys[i].section, name) == 0)
            return (long)i;
    return -1;
}

static bool valid_key_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!is_alnum(*s) && *s != '_' && *s != '-' && *s != '.')
            return false;
    return true;
}

/* State of one load; key_line[] and section_line[] hold 0 for "not seen". */
struct loader {
    const char *path;
    struct config *cfg;
    size_t key_line[KEYS_N];
    size_t section_line[KEYS_N]; /* indexed by the section's first key */
    size_t sources_line;         /* where [sources] first began; 0: the file has none */
    bool migrate;                /* for fcrd migrate: only [database] admin_conninfo is required */
    char *err;
    size_t errlen;
};

/* The one section that is not in the key table: its keys are source names (service/sources.h).
 * Compared by address: load_line sets *section to this very string. */
static const char SOURCES_SECTION[] = "sources";

static int load_line(struct loader *ld, char *line, size_t lineno, const char **section)
{
    char *p = line;
    while (is_blank(*p))
        p++;
    if (!*p || *p == '#' || *p == ';')
        return 0;

    if (*p == '[') {
        char *close = strchr(p, ']');
        char *after = close ? close + 1 : NULL;
        while (after && is_blank(*after))
            after++;
        if (!close || *after)
            return errbuf_set(ld->err, ld->errlen, "%s:%zu: expected [section] or key = value", ld->path,
                              lineno);
        char *name = trim(p + 1, (size_t)(close - p - 1));
        if (strcmp(name, SOURCES_SECTION) == 0) {
            if (!ld->sources_line)
                ld->sources_line = lineno;
            if (!ld->cfg->sources && !(ld->cfg->sources = sources_new()))
                return errbuf_set(ld->err, ld->errlen, "%s:%zu: out of memory", ld->path, lineno);
            *section = SOURCES_SECTION;
            return 0;
        }
        long s = section_find(name);
        if (s < 0)
            return errbuf_set(ld->err, ld->errlen, "%s:%zu: [%s]: unknown section", ld->path, lineno, name);
        if (!ld->section_line[s])
            ld->section_line[s] = lineno;
        *section = keys[s].section;
        return 0;
    }

    char *eq = strchr(p, '=');
    if (!eq)
        return errbuf_set(ld->err, ld->errlen, "%s:%zu: expected [section] or key = value", ld->path,
                          lineno);
    char *value = trim(eq + 1, strlen(eq + 1));
    char *key = trim(p, (size_t)(eq - p));
    if (!valid_key_name(key))
        return errbuf_set(ld->err, ld->errlen, "%s:%zu: expected [section] or key = value", ld->path,
                          lineno);
    if (!*section)
        return errbuf_set(ld->err, ld->errlen, "%s:%zu: %s: key outside any [section]", ld->path, lineno,
                          key);
    if (*section == SOURCES_SECTION) { /* a table keyed by source name, not fixed keys */
        char why[700];
        if (has_control(value))
            return errbuf_set(ld->err, ld->errlen, "%s:%zu: [sources] %s: value contains a control character",
                              ld->path, lineno, key);
        if (!*value)
            return errbuf_set(ld->err, ld->errlen, "%s:%zu: [sources] %s: value is empty", ld->path, lineno, key);
        if (sources_add(ld->cfg->sources, key, value, why, sizeof why) != 0)
            return errbuf_set(ld->err, ld->errlen, "%s:%zu: [sources] %s: %s", ld->path, lineno, key, why);
        return 0;
    }
    const struct key_def *d = key_find(*section, key);
    if (!d)
        return errbuf_set(ld->err, ld->errlen, "%s:%zu: [%s] %s: unknown key", ld->path, lineno, *section,
                          key);
    size_t i = (size_t)(d - keys);
    if (ld->key_line[i])
        return errbuf_set(ld->err, ld->errlen, "%s:%zu: [%s] %s: duplicate key (first set on line %zu)",
                          ld->path, lineno, d->section, d->key, ld->key_line[i]);
    ld->key_line[i] = lineno;
    char why[512];
    if (key_set(ld->cfg, d, value, why, sizeof why) < 0)
        return errbuf_set(ld->err, ld->errlen, "%s:%zu: [%s] %s: %s", ld->path, lineno, d->section, d->key,
                          why);
    return 0;
}

/* load_finish: required keys, defaults, and checks that involve more than one key. */
static int load_finish(struct loader *ld)
{
    char why[512];
    for (size_t i = 0; i < KEYS_N; i++) {
        const struct key_def *d = &keys[i];
        if (ld->key_line[i])
            continue;
        bool admin = d->offset == offsetof(struct config, db_admin_conninfo);
        if (ld->migrate && admin)
            return errbuf_set(ld->err, ld->errlen,
                              "%s: [database] admin_conninfo: required by fcrd migrate (the connection string of "
                              "the schema owner)",
                              ld->path);
        /* fcrd migrate reads the [database] section only: a file of that section alone will do. */
        if (ld->migrate && (d->flags & KF_REQUIRED))
            continue;
        if (d->flags & KF_OPTIONAL)
            continue;
        if (d->flags & KF_REQUIRED) {
            size_t s = (size_t)section_find(d->section);
            if (ld->section_line[s])
                return errbuf_set(ld->err, ld->errlen, "%s:%zu: [%s] %s: required key is missing",
                                  ld->path, ld->section_line[s], d->section, d->key);
            return errbuf_set(ld->err, ld->errlen, "%s: [%s] %s: required key is missing", ld->path,
                              d->section, d->key);
        }
        const char *dflt = d->dflt;
        if (d->inherit) {
            const struct key_def *from = key_find(d->section, d->inherit);
            dflt = from ? *(char **)field(ld->cfg, from->offset) : NULL;
        }
        if (!dflt && (d->flags & KF_OPTIONAL))
            continue;
        char *text = dflt ? strdup(dflt) : NULL;
        if (!text)
            return errbuf_set(ld->err, ld->errlen, "%s: [%s] %s: no default", ld->path, d->section, d->key);
        int rc = key_set(ld->cfg, d, text, why, sizeof why);
        free(text);
        if (rc < 0)
            return errbuf_set(ld->err, ld->errlen, "%s: [%s] %s: bad default: %s", ld->path, d->section,
                              d->key, why);
    }

    if (ld->sources_line && sources_count(ld->cfg->sources) == 0)
        return errbuf_set(ld->err, ld->errlen,
                          "%s:%zu: [sources]: the section names no source; every feed connection would be "
                          "refused (remove the section to run without sources)",
                          ld->path, ld->sources_line);
    if (ld->cfg->sources && ld->cfg->feed_reserved_connections >= ld->cfg->feed_max_connections) {
        size_t s = (size_t)(key_find("feed", "reserved_connections") - keys);
        return errbuf_set(ld->err, ld->errlen, "%s:%zu: [feed] reserved_connections: must be less than "
                          "max_connections (%zu), or no unidentified connection could ever start",
                          ld->path, ld->key_line[s], ld->cfg->feed_max_connections);
    }

    /* GROUP=SECONDS,...: checked here so that a retention run never meets a bad period. */
    const char *groups = ld->cfg->retention_crime_groups;
    for (const char *g = groups && *groups ? groups : NULL; g;) {
        const char *end = strchr(g, ',');
        size_t len = end ? (size_t)(end - g) : strlen(g);
        const char *eq = memchr(g, '=', len);
        bool ok = eq && eq > g && (size_t)(eq - g) + 1 < len && (size_t)(eq - g) + 19 >= len;
        for (const char *p = eq ? eq + 1 : g; ok && p < g + len; p++)
            ok = *p >= '0' && *p <= '9';
        for (const char *p = g; ok && p < eq; p++)
            ok = *p != ' ' && *p != ':';
        if (!ok) {
            size_t s = (size_t)(key_find("retention", "crime_groups") - keys);
            return errbuf_set(ld->err, ld->errlen, "%s:%zu: [retention] crime_groups: '%.*s' is not GROUP=SECONDS",
                              ld->path, ld->key_line[s], (int)(len > 80 ? 80 : len), g);
        }
        g = end ? end + 1 : NULL; /* a trailing comma leaves an empty group, refused above */
    }

    /* Two listeners on one address would fail at bind time with a vaguer message. */
    const struct listen_addr *api = &ld->cfg->api_listen;
    for (size_t i = 0; i < ld->cfg->n_feed_listen; i++) {
        if (api->port != 0 && listen_equal(api, &ld->cfg->feed_listen[i])) {
            size_t s = (size_t)(key_find("api", "listen") - keys);
            return errbuf_set(ld->err, ld->errlen, "%s:%zu: [api] listen: also a [feed] listen address",
                              ld->path, ld->key_line[s]);
        }
    }
    return 0;
}

static int config_load_as(const char *path, bool migrate, struct config **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return errbuf_set(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct loader ld = { .path = path, .migrate = migrate, .err = err, .errlen = errlen };
    ld.cfg = calloc(1, sizeof *ld.cfg);
    if (!ld.cfg) {
        fclose(fp);
        return errbuf_set(err, errlen, "%s: out of memory", path);
    }

    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    const char *section = NULL;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (strlen(line) != len) {
            rc = errbuf_set(err, errlen, "%s:%zu: line contains a NUL byte", path, lineno);
            break;
        }
        char *text = line;
        if (lineno == 1 && strncmp(text, "\xEF\xBB\xBF", 3) == 0) /* UTF-8 byte order mark */
            text += 3;
        rc = load_line(&ld, text, lineno, &section);
    }
    if (rc == 0 && ferror(fp))
        rc = errbuf_set(err, errlen, "%s: read error: %s", path, strerror(errno));
    if (line) /* conninfo lines may carry passwords */
        explicit_bzero(line, cap);
    free(line);
    fclose(fp);

    if (rc == 0)
        rc = load_finish(&ld);
    if (rc < 0) {
        config_free(ld.cfg);
        return -1;
    }
    *out = ld.cfg;
    return 0;
}

int config_load(const char *path, struct config **out, char *err, size_t errlen)
{
    return config_load_as(path, false, out, err, errlen);
}

int config_load_migrate(const char *path, struct config **out, char *err, size_t errlen)
{
    return config_load_as(path, true, out, err, errlen);
}

struct config *config_free(struct config *cfg)
{
    if (!cfg)
        return NULL;
    free(cfg->retention_crime_groups);
    free(cfg->db_conninfo);
    free(cfg->db_admin_conninfo);
    free(cfg->sql_dir);
    free(cfg->db_require_sync_standby);
    free_listen_list(cfg->feed_listen, cfg->n_feed_listen);
    listen_addr_clear(&cfg->api_listen);
    free(cfg->api_tokens);
    free(cfg->rules_file);
    free(cfg->force_code);
    free(cfg->log_level);
    free(cfg->feed_tls);
    free(cfg->feed_allow_insecure);
    free(cfg->api_require_purpose);
    free(cfg->api_tls);
    free(cfg->api_read_conninfo);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->tls_client_ca);
    free(cfg->tls_client_subjects);
    free(cfg->tls_api_client_ca);
    free(cfg->tls_api_client_subjects);
    free(cfg->log_format);
    free(cfg->audit_checkpoint_key);
    free(cfg->audit_checkpoint_file);
    sources_free(cfg->sources);
    free(cfg);
    return NULL;
}

int config_parse_listen(const char *text, struct listen_addr *out)
{
    char why[256];
    return parse_listen(text, false, out, why, sizeof why);
}

void listen_addr_clear(struct listen_addr *a)
{
    if (!a)
        return;
    free(a->host);
    free(a->path);
    *a = (struct listen_addr){ 0 };
}

size_t config_keys_count(void) { return KEYS_N; }

int config_key_render(const struct config *cfg, size_t i, const char **name, bool *reloadable,
                      char *buf, size_t len)
{
    if (i >= KEYS_N)
        return -1;
    const struct key_def *d = &keys[i];
    if (name)
        *name = d->name;
    if (reloadable)
        *reloadable = (d->flags & KF_RELOAD) != 0;
    struct out o = { .buf = buf, .len = buf ? len : 0 };
    if (buf && len)
        buf[0] = '\0';
    if (cfg)
        key_render(cfg, d, &o);
    return o.need > INT_MAX ? INT_MAX : (int)o.need;
}

bool config_key_equal(const struct config *a, const struct config *b, size_t i)
{
    if (i >= KEYS_N)
        return true;
    if (!a || !b)
        return a == b;
    return key_equal(a, b, &keys[i]);
}

const char *config_key_describe(size_t i) { return i < KEYS_N ? keys[i].describe : NULL; }

static int listen_copy(struct listen_addr *dst, const struct listen_addr *src)
{
    *dst = (struct listen_addr){ .kind = src->kind, .port = src->port };
    if ((src->host && !(dst->host = strdup(src->host))) || (src->path && !(dst->path = strdup(src->path)))) {
        listen_addr_clear(dst);
        return -1;
    }
    return 0;
}

/* key_copy: replace the field of d in dst by a deep copy of src's. */
static int key_copy(struct config *dst, const struct config *src, const struct key_def *d)
{
    void *fd = field(dst, d->offset);
    const void *fs = field(src, d->offset);
    switch (d->type) {
    case KT_CONNINFO:
    case KT_PATH:
    case KT_LOG_LEVEL:
    case KT_FORCE:
    case KT_WORD:
    case KT_TEXT: {
        const char *v = *(char *const *)fs;
        char *s = v ? strdup(v) : NULL;
        if (v && !s)
            return -1;
        free(*(char **)fd);
        *(char **)fd = s;
        return 0;
    }
    case KT_INT:
        *(int *)fd = *(const int *)fs;
        return 0;
    case KT_COUNT:
    case KT_BYTES:
        *(size_t *)fd = *(const size_t *)fs;
        return 0;
    case KT_LISTEN_LIST: {
        size_t n = *(const size_t *)field(src, d->count_offset);
        const struct listen_addr *from = *(struct listen_addr *const *)fs;
        struct listen_addr *list = calloc(n ? n : 1, sizeof *list);
        if (!list)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (listen_copy(&list[i], &from[i]) < 0) {
                free_listen_list(list, i);
                return -1;
            }
        }
        free_listen_list(*(struct listen_addr **)fd, *(size_t *)field(dst, d->count_offset));
        *(struct listen_addr **)fd = list;
        *(size_t *)field(dst, d->count_offset) = n;
        return 0;
    }
    case KT_LISTEN_TCP: {
        struct listen_addr a;
        if (listen_copy(&a, fs) < 0)
            return -1;
        listen_addr_clear(fd);
        *(struct listen_addr *)fd = a;
        return 0;
    }
    }
    return -1;
}

int config_keep_running(struct config *next, const struct config *running)
{
    int kept = 0;
    for (size_t i = 0; i < KEYS_N; i++) {
        const struct key_def *d = &keys[i];
        if ((d->flags & KF_RELOAD) || key_equal(next, running, d))
            continue;
        if (key_copy(next, running, d) < 0)
            return -1;
        kept++;
    }
    return kept;
}
