/* log.c: leveled log lines on stderr, plain ("<ISO time> <level> <message>") or JSON, with
 * journald priority prefixes when stderr is the journal. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The one piece of process-wide state: how lines look, set from the configuration at start and
 * on reload. Everything the daemon owns otherwise is passed around. */
static struct {
    enum log_level min_level;
    enum log_format format;
    bool journal;
} log_state = {LOG_LVL_INFO, LOG_FORMAT_PLAIN, false};

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"plain", "json"};

#define MSG_MAX 4096

void log_set_level(enum log_level level)
{
    log_state.min_level = level;
}

int log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return (unsigned)level < sizeof(level_names) / sizeof(level_names[0]) ? level_names[level] : "?";
}

void log_set_format(enum log_format format)
{
    log_state.format = format;
}

int log_format_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++)
        if (strcmp(name, format_names[i]) == 0)
            return (int)i;
    return -1;
}

int log_priority(enum log_level level)
{
    switch (level) {
    case LOG_LVL_DEBUG:
        return 7; /* LOG_DEBUG */
    case LOG_LVL_INFO:
        return 6; /* LOG_INFO */
    case LOG_LVL_WARN:
        return 4; /* LOG_WARNING */
    case LOG_LVL_ERROR:
        return 3; /* LOG_ERR */
    }
    return 6;
}

bool log_stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    struct stat st;
    if (fstat(2, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_journal(bool on)
{
    log_state.journal = on;
}

/* Bounded output: appends while room is left, always keeping the terminating NUL. */
struct lbuf {
    char *buf;
    size_t len, used;
};

static void lb_add(struct lbuf *b, const char *s, size_t n)
{
    if (b->len == 0)
        return;
    size_t room = b->len - 1 - b->used;
    if (n > room)
        n = room;
    memcpy(b->buf + b->used, s, n);
    b->used += n;
    b->buf[b->used] = '\0';
}

static void lb_fmt(struct lbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lb_fmt(struct lbuf *b, const char *fmt, ...)
{
    char tmp[96];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        lb_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* utf8_len: the length of the well-formed UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned min;
    unsigned cp;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2, min = 0x80, cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3, min = 0x800, cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4, min = 0x10000, cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* JSON string body of msg, keeping `reserve` bytes free for what follows so that a cut message
 * still ends in a complete object; bytes that are not UTF-8 become U+FFFD. */
static void lb_json_string(struct lbuf *b, const char *msg, size_t reserve)
{
    size_t stop = b->len > reserve + 1 ? b->len - 1 - reserve : 0;
    const unsigned char *p = (const unsigned char *)msg;
    size_t n = strlen(msg);
    for (size_t i = 0; i < n;) {
        char esc[8];
        const char *out = esc;
        size_t olen;
        size_t step = 1;
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c, olen = 2;
        } else if (c < 0x20 || c == 0x7F) {
            olen = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
        } else if (c < 0x80) {
            esc[0] = (char)c, olen = 1;
        } else if ((step = utf8_len(p + i, n - i)) > 0) {
            out = (const char *)p + i, olen = step;
        } else {
            out = "\\ufffd", olen = 6, step = 1;
        }
        if (b->used + olen > stop)
            return;
        lb_add(b, out, olen);
        i += step;
    }
}

size_t log_render(char *buf, size_t len, enum log_level level, const struct timeval *tv, const char *msg)
{
    struct lbuf b = {buf, len, 0};
    if (len == 0)
        return 0;
    buf[0] = '\0';
    struct timeval now;
    if (!tv) {
        gettimeofday(&now, NULL);
        tv = &now;
    }
    struct tm tm;
    time_t secs = tv->tv_sec;
    gmtime_r(&secs, &tm);
    char when[64];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv->tv_usec / 1000));
    const char *lname = log_level_name(level);
    if (log_state.journal)
        lb_fmt(&b, "<%d>", log_priority(level));
    if (log_state.format == LOG_FORMAT_JSON) {
        lb_fmt(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"priority\":%d,\"message\":\"", when, lname,
               log_priority(level));
        lb_json_string(&b, msg, 2);
        lb_add(&b, "\"}", 2);
    } else {
        if (!log_state.journal) {
            lb_add(&b, when, strlen(when));
            lb_add(&b, " ", 1);
        }
        lb_fmt(&b, "%s ", lname);
        lb_add(&b, msg, strlen(msg));
    }
    return b.used;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < log_state.min_level)
        return;
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One line per thing of note: fold the newlines and tabs libpq and others put in messages. */
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        msg[--len] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
    char line[MSG_MAX * 2];
    size_t n = log_render(line, sizeof(line) - 1, level, NULL, msg);
    line[n++] = '\n';
    /* One write per line: a line never interleaves with another writer's output. */
    fwrite(line, 1, n, stderr);
    fflush(stderr);
}
