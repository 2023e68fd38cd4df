/* checkpoint.c: every interval, the hash chains' heads read in one snapshot (chain_heads()),
 * signed, and appended to the checkpoint file by a thread of its own, then synced. */
#include "service/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "service/checkpoint_sign.h"
#include "store/pgconn.h"
#include "util/log.h"
#include "util/timefmt.h"

#define CHECKPOINT_LOG_EVERY_S 300.0 /* a failure that goes on is logged again this often */

/* A reading of the heads may never hog its server process for long. */
static const char timeout_sql[] = "SELECT set_config('statement_timeout', '30s', false)";
static const char heads_sql[] = "SELECT chain, last_id, hash FROM chain_heads()";

struct checkpoint {
    struct pgconn *db;
    struct event *timer;
    struct event *written;  /* the pipe's read end is readable: the writer thread is done */
    int pipe_fd[2];         /* the writer thread writes its errno (0: synced) to [1] */
    EVP_PKEY *key;
    char *path;
    struct metrics *m;
    int interval_s;
    bool querying;          /* a reading of the heads is in flight */
    bool writing;           /* the writer thread runs: it reads path and line, which stay as they are */
    pthread_t writer;
    char *line;             /* the line it appends (owned) */
    int64_t time_ms;        /* the checkpoint's time */
    char digest[CHECKPOINT_KEY_ID_LEN]; /* of its heads, for the journal */
    size_t nheads;
    bool have_one;          /* a checkpoint was written since start */
    bool ever_up;           /* the connection has been up since start */
    double fail_logged;     /* metrics_clock() of the last failure logged, 0: none */
    unsigned long unlogged; /* failures since then not logged */
};

/* A failure is counted every time, and logged the first time and then every few minutes while
 * it goes on, so that a checkpoint file on a full disk does not flood the journal. */
static void checkpoint_failed(struct checkpoint *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void checkpoint_failed(struct checkpoint *c, const char *fmt, ...)
{
    metrics_checkpoint(c->m, false, 0);
    double now = metrics_clock();
    if (c->fail_logged > 0 && now - c->fail_logged < CHECKPOINT_LOG_EVERY_S) {
        c->unlogged++;
        return;
    }
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (c->unlogged)
        log_error("audit checkpoint failed: %s (and %lu more failure(s) since the last logged)", why, c->unlogged);
    else
        log_error("audit checkpoint failed: %s", why);
    c->fail_logged = now;
    c->unlogged = 0;
}

static void checkpoint_succeeded(struct checkpoint *c)
{
    metrics_checkpoint(c->m, true, (double)c->time_ms / 1000.0);
    if (c->fail_logged > 0)
        log_info("audit checkpoints are written again (%lu failure(s) not logged)", c->unlogged);
    c->fail_logged = 0;
    c->unlogged = 0;
    c->have_one = true;
}

/* ---- the writer thread ---------------------------------------------------------------------- */

/* Append the line whole and sync it. A write cut short (a full disk) is taken back, so that the
 * file never holds half a line that the next one would be glued to. Returns 0 or an errno. */
static int checkpoint_append(const char *path, const char *line)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0)
        return errno;
    struct stat st;
    int e = fstat(fd, &st) != 0 ? errno : 0;
    size_t len = strlen(line), done = 0;
    while (!e && done < len) {
        ssize_t n = write(fd, line + done, len - done);
        if (n < 0 && errno != EINTR)
            e = errno;
        else if (n > 0)
            done += (size_t)n;
    }
    if (e && done > 0) {
        /* Should even this fail, the line's start stays, and audit verify names its line. */
        int undone = ftruncate(fd, st.st_size);
        (void)undone;
    }
    if (!e && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && !e)
        e = errno;
    return e;
}

static void *checkpoint_writer(void *arg)
{
    struct checkpoint *c = arg;
    int e = checkpoint_append(c->path, c->line);
    /* A pipe write of an int is atomic; the loop is waiting for nothing else from us. */
    while (write(c->pipe_fd[1], &e, sizeof(e)) < 0 && errno == EINTR) {
    }
    return NULL;
}

/* ---- the loop's side ------------------------------------------------------------------------ */

static void checkpoint_written(evutil_socket_t fd, short what, void *arg)
{
    struct checkpoint *c = arg;
    (void)what;
    int e = EIO;
    if (read(fd, &e, sizeof(e)) != (ssize_t)sizeof(e))
        return; /* spurious wake-up: the writer has not finished */
    pthread_join(c->writer, NULL);
    c->writing = false;
    free(c->line);
    c->line = NULL;
    if (e != 0) {
        checkpoint_failed(c, "[audit] checkpoint_file %s: %s", c->path, strerror(e));
        return;
    }
    checkpoint_succeeded(c);
    char time[TIMEFMT_LEN];
    log_info("audit checkpoint %s: %zu chain head(s), digest %s, appended to %s", timefmt_format(c->time_ms, time),
             c->nheads, c->digest, c->path);
}

/* The heads in res, checked and copied into heads (at most CHECKPOINT_HEADS_MAX). Returns
 * their number, or -1 with why. A chain without entries has no head to sign. */
static int checkpoint_heads(const PGresult *res, struct checkpoint_head *heads, char *why, size_t whylen)
{
    int n = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *chain = PQgetvalue(res, r, 0);
        const char *hash = PQgetvalue(res, r, 2);
        if (PQgetisnull(res, r, 1)) {
            if (*hash == '\0')
                continue;
            snprintf(why, whylen,
                     "chain %.40s: its head's hash %.64s names no entry of the chain: the trail was changed "
                     "(run 'fcrctl audit verify')",
                     chain, hash);
            return -1;
        }
        if (n == CHECKPOINT_HEADS_MAX) {
            snprintf(why, whylen, "chain_heads() returned more than %d heads", CHECKPOINT_HEADS_MAX);
            return -1;
        }
        struct checkpoint_head *h = &heads[n];
        char *end = NULL;
        h->last_id = strtoll(PQgetvalue(res, r, 1), &end, 10);
        if (!checkpoint_sign_chain_ok(chain) || !checkpoint_sign_hash_ok(hash) || !end || *end || h->last_id < 0) {
            snprintf(why, whylen, "chain_heads() returned a row not of the form (chain, id, hash): chain %.40s",
                     chain);
            return -1;
        }
        snprintf(h->chain, sizeof(h->chain), "%s", chain);
        memcpy(h->hash, hash, CHECKPOINT_HASH_HEX);
        n++;
    }
    return n;
}

static void checkpoint_read(void *arg, PGresult **res, int n, const char *error, bool sent_all)
{
    struct checkpoint *c = arg;
    (void)sent_all;
    c->querying = false;
    if (error || n < 2 || !pgconn_result_ok(res[1])) {
        checkpoint_failed(c, "reading the chain heads: %s",
                          error ? error : n >= 2 ? PQresultErrorMessage(res[1]) : "no result");
        return;
    }
    struct checkpoint_head heads[CHECKPOINT_HEADS_MAX];
    char why[300];
    int nh = checkpoint_heads(res[1], heads, why, sizeof(why));
    if (nh < 0) {
        checkpoint_failed(c, "%s", why);
        return;
    }
    char *line = checkpoint_sign_line(c->key, c->time_ms, heads, (size_t)nh, why, sizeof(why));
    if (!line) {
        checkpoint_failed(c, "[audit] checkpoint_key: %s", why);
        return;
    }
    /* The journal gets a digest of the heads (the canonical text's "head" lines) rather than
     * every head: enough to match the line in the file, and to see whether the trail moved. */
    size_t len = 0;
    char *canon = checkpoint_sign_canonical("-", heads, (size_t)nh, &len);
    const char *head_lines = canon ? strchr(strchr(canon, '\n') + 1, '\n') + 1 : NULL;
    if (!head_lines || checkpoint_sign_digest(head_lines, len - (size_t)(head_lines - canon), c->digest) != 0)
        snprintf(c->digest, sizeof(c->digest), "?");
    free(canon);
    c->line = line;
    c->nheads = (size_t)nh;
    if (pthread_create(&c->writer, NULL, checkpoint_writer, c) != 0) {
        free(c->line);
        c->line = NULL;
        checkpoint_failed(c, "cannot start the thread that writes the checkpoint file");
        return;
    }
    c->writing = true;
}

static void checkpoint_start(struct checkpoint *c)
{
    if (c->querying || c->writing)
        return; /* the last one is still being made: this one is skipped */
    if (!pgconn_up(c->db)) {
        /* Still connecting at start is not a failure: the first checkpoint follows the
         * connection (checkpoint_state). */
        if (c->ever_up)
            checkpoint_failed(c, "the database is unavailable");
        return;
    }
    if (!pgconn_ready(c->db))
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    c->time_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    const struct pg_query q[2] = {{timeout_sql, 0, NULL}, {heads_sql, 0, NULL}};
    if (pgconn_send(c->db, q, 2, checkpoint_read, c) != 0) {
        checkpoint_failed(c, "reading the chain heads: the query could not be sent");
        return;
    }
    c->querying = true;
}

static void checkpoint_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    checkpoint_start(arg);
}

static void checkpoint_state(void *arg, bool up)
{
    struct checkpoint *c = arg;
    c->ever_up = c->ever_up || up;
    if (up && !c->have_one)
        checkpoint_start(c);
}

struct checkpoint *checkpoint_new(struct event_base *base, const struct checkpoint_params *p, EVP_PKEY *key)
{
    struct checkpoint *c = calloc(1, sizeof(*c));
    if (!c) {
        EVP_PKEY_free(key);
        return NULL;
    }
    c->key = key;
    c->m = p->m;
    c->interval_s = p->interval_s > 0 ? p->interval_s : 300;
    c->pipe_fd[0] = c->pipe_fd[1] = -1;
    c->path = strdup(p->path);
    if (!c->path || pipe2(c->pipe_fd, O_CLOEXEC | O_NONBLOCK) != 0)
        return checkpoint_free(c);
    c->timer = event_new(base, -1, EV_PERSIST, checkpoint_tick, c);
    c->written = event_new(base, c->pipe_fd[0], EV_READ | EV_PERSIST, checkpoint_written, c);
    if (!c->timer || !c->written)
        return checkpoint_free(c);
    c->db = pgconn_new(base, p->conninfo, "checkpoint", checkpoint_state, c);
    if (!c->db)
        return checkpoint_free(c);
    pgconn_set_connect_timeout(c->db, p->connect_timeout_ms);
    struct timeval every = {c->interval_s, 0};
    event_add(c->timer, &every);
    event_add(c->written, NULL);
    return c;
}

struct checkpoint *checkpoint_free(struct checkpoint *c)
{
    if (!c)
        return NULL;
    if (c->writing) {
        /* The line is being synced: let it finish rather than leave half of it. */
        pthread_join(c->writer, NULL);
        free(c->line);
    }
    pgconn_free(c->db);
    if (c->timer)
        event_free(c->timer);
    if (c->written)
        event_free(c->written);
    for (int i = 0; i < 2; i++)
        if (c->pipe_fd[i] >= 0)
            close(c->pipe_fd[i]);
    EVP_PKEY_free(c->key);
    free(c->path);
    free(c);
    return NULL;
}
