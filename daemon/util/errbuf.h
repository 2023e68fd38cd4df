/* errbuf.h: how a function that fails says why: a message in the caller's buffer, and -1. */
#ifndef FCRD_ERRBUF_H
#define FCRD_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

/* errbuf_set: formats the message into err (errlen bytes, the caller's) and returns -1, so that a
 * failing function can end with `return errbuf_set(err, errlen, ...)`. err NULL or errlen 0:
 * nothing is written (the caller did not want the reason). The message is always NUL-terminated;
 * one too long for the buffer is cut, never inside a UTF-8 sequence, since messages end up in
 * JSON log lines and replies, which must be valid UTF-8. */
int errbuf_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* errbuf_vset: the same with a va_list, for helpers that add context of their own. ap is used. */
int errbuf_vset(char *err, size_t errlen, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

#endif
