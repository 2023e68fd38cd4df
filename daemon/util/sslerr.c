/* sslerr.c: OpenSSL's queued errors as one line, shared by fcrd's TLS set-up and fcrctl's. */
#include "util/sslerr.h"

#include <openssl/err.h>
#include <stdio.h>

#include "util/errbuf.h"

void sslerr_reason(char *buf, size_t len)
{
    size_t used = 0;
    unsigned long e;
    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof(one));
        if (used < len) {
            int n = snprintf(buf + used, len - used, "%s%s", used ? "; " : "", one);
            if (n > 0)
                used += (size_t)n;
        }
    }
    if (!buf[0])
        snprintf(buf, len, "unknown error");
}

int sslerr_fail(char *err, size_t errlen, const char *what, const char *path)
{
    char why[512];
    sslerr_reason(why, sizeof(why));
    return errbuf_set(err, errlen, "%s %s: %s", what, path, why);
}
