/* sslerr.h: OpenSSL's queued errors as text, for messages that name what could not be loaded. */
#ifndef FCRD_SSLERR_H
#define FCRD_SSLERR_H

#include <stddef.h>

/* sslerr_reason: the thread's queued OpenSSL errors as one line, "; "-separated, into buf ("unknown
 * error" when none is queued). The queue is emptied. */
void sslerr_reason(char *buf, size_t len);

/* sslerr_fail: "WHAT PATH: REASONS" into err (errbuf_set); returns -1. */
int sslerr_fail(char *err, size_t errlen, const char *what, const char *path);

#endif
