/* errbuf.c: failure messages into a caller's buffer: formatting and truncation in one place. */
#include "util/errbuf.h"

#include <stdio.h>

/* Length of s[0..len) cut back so that it does not end inside a UTF-8 sequence. */
static size_t errbuf_utf8_cut(const char *s, size_t len)
{
    size_t i = len;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return 0;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return len - (i - 1) >= need ? len : i - 1;
}

int errbuf_vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (!err || errlen == 0)
        return -1;
    int n = vsnprintf(err, errlen, fmt, ap);
    if (n < 0)
        err[0] = '\0'; /* an encoding error: better no message than a partial one */
    else if ((size_t)n >= errlen)
        err[errbuf_utf8_cut(err, errlen - 1)] = '\0';
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
