/* lograte.c: rate-limited refusal logging: one line per interval per kind, with a count of the
 * refusals that were not logged since, so a flood of bad peers costs the log a line every few
 * seconds and still says how big the flood was. */
#include "util/lograte.h"

#include <stdarg.h>
#include <stdio.h>

#include "util/log.h"

bool lograte_due(struct lograte *r, double now, unsigned long *suppressed)
{
    if (r->logged && now - r->last < r->every) {
        r->suppressed++;
        return false;
    }
    r->logged = true;
    r->last = now;
    if (suppressed)
        *suppressed = r->suppressed;
    r->suppressed = 0;
    return true;
}

bool lograte_refused(struct lograte *r, double now, const char *fmt, ...)
{
    unsigned long skipped;
    if (!lograte_due(r, now, &skipped))
        return false;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (skipped)
        log_warn("%s (%lu more since the last such line)", msg, skipped);
    else
        log_warn("%s", msg);
    return true;
}
