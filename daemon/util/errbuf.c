/* errbuf.c: failure messages into a caller's buffer: formatting and truncation in one place. */
#include "util/errbuf.h"

#include <stdio.h>

#include "util/utf8.h"

int errbuf_vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (!err || errlen == 0)
        return -1;
    int n = vsnprintf(err, errlen, fmt, ap);
    if (n < 0)
        err[0] = '\0'; /* an encoding error: better no message than a partial one */
    else if ((size_t)n >= errlen)
        err[utf8_cut(err, errlen - 1)] = '\0';
    return -1;
}

int errbuf_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errbuf_vset(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}
