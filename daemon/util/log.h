/* log.h: leveled logging to stderr, one line per thing of note, as plain text or JSON. */
#ifndef FCRD_LOG_H
#define FCRD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* plain: "<time> <level> <message>" for a person; json: one object per line with the stable
 * members time, level, priority and message (see docs/operations.md). */
enum log_format { LOG_FORMAT_PLAIN = 0, LOG_FORMAT_JSON };

/* log_set_level: messages below this level are dropped (default INFO). */
void log_set_level(enum log_level level);
/* log_level_parse: "debug"|"info"|"warn"|"error" -> level; returns -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

/* log_set_format: plain (default) or json. log_format_parse: "plain"|"json", -1 if unknown. */
void log_set_format(enum log_format format);
int log_format_parse(const char *name);

/* log_priority: the syslog priority journald files the level under (debug 7, info 6, warn 4,
 * error 3). */
int log_priority(enum log_level level);

/* log_stderr_is_journal: whether stderr is systemd's journal stream, i.e. $JOURNAL_STREAM names
 * the device and inode of file descriptor 2. log_set_journal: when on, every line starts with
 * "<priority>", which journald takes as the entry's priority and strips; plain lines then also
 * leave out the time, since the journal keeps its own. */
bool log_stderr_is_journal(void);
void log_set_journal(bool on);

/* log_render: the line written for one message (no newline), into buf (always NUL-terminated
 * when len > 0); a message too long for buf is cut, and a JSON line stays a complete object.
 * Returns the length written. tv NULL means now. Exposed for the tests. */
size_t log_render(char *buf, size_t len, enum log_level level, const struct timeval *tv, const char *msg);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
