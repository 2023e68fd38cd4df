/* timefmt.c: strict RFC 3339 date-times to and from milliseconds since the Unix epoch. */
#include "util/timefmt.h"

#include <stdio.h>

#define DAY_MS ((int64_t)86400 * 1000)

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil):
 * exact for any year, without the time zone and range pitfalls of timegm(). */
static int64_t timefmt_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse of timefmt_days_from_civil. */
static void timefmt_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool timefmt_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int timefmt_month_days(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && timefmt_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n ASCII digits; RFC 3339 fields have fixed widths, so no sign, no spaces. */
static bool timefmt_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool timefmt_expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

bool timefmt_parse(const char *text, int64_t *out_ms)
{
    if (!text)
        return false;
    const char *p = text;
    int year, mon, day, hour, min, sec, ms = 0;

    if (!timefmt_digits(&p, 4, &year) || !timefmt_expect(&p, '-') || !timefmt_digits(&p, 2, &mon) ||
        !timefmt_expect(&p, '-') || !timefmt_digits(&p, 2, &day))
        return false;
    if (*p != 'T' && *p != 't')
        return false;
    p++;
    if (!timefmt_digits(&p, 2, &hour) || !timefmt_expect(&p, ':') || !timefmt_digits(&p, 2, &min) ||
        !timefmt_expect(&p, ':') || !timefmt_digits(&p, 2, &sec))
        return false;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false; /* a dot needs at least one digit */
        /* Any number of digits is legal; beyond the millisecond they are dropped (truncated,
         * never rounded, so 23:59:59.9999 cannot roll over into the next day). */
        int scale = 100;
        while (*p >= '0' && *p <= '9') {
            ms += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }

    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (!timefmt_digits(&p, 2, &oh) || !timefmt_expect(&p, ':') || !timefmt_digits(&p, 2, &om))
            return false;
        if (oh > 15 || om > 59) /* beyond ±15:59 no place keeps its clocks, nor PostgreSQL its zones */
            return false;
        offset_min = sign * (oh * 60 + om);
    } else {
        return false; /* a local time without offset is ambiguous: refused */
    }
    if (*p != '\0')
        return false;

    if (mon < 1 || mon > 12 || day < 1 || day > timefmt_month_days(year, mon))
        return false;
    /* Leap seconds (:60) are refused: the feed has no use for them and they have no epoch value. */
    if (hour > 23 || min > 59 || sec > 59)
        return false;

    int64_t t = timefmt_days_from_civil(year, mon, day) * DAY_MS +
                ((int64_t)hour * 3600 + min * 60 + sec) * 1000 + ms;
    t -= (int64_t)offset_min * 60 * 1000;
    /* Year 1 onwards, in UTC: PostgreSQL has no year 0, and a time it cannot store must be
     * refused with the event, not fail the batch it is written in. */
    if (t < TIMEFMT_YEAR1_MS)
        return false;
    *out_ms = t;
    return true;
}

/* Splits ms into whole days (rounded down, so times before 1970 land on the right day) and
 * the ms into that day, without overflowing even at the ends of the int64 range. */
static void timefmt_split(int64_t ms, int64_t *days, int64_t *rest)
{
    *days = ms / DAY_MS;
    *rest = ms % DAY_MS;
    if (*rest < 0) {
        *rest += DAY_MS;
        (*days)--;
    }
}

/* v (0 <= v < 10^width) as exactly `width` digits at *o, which moves past them. */
static void timefmt_put_digits(char **o, int v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        (*o)[i] = (char)('0' + v % 10);
        v /= 10;
    }
    *o += width;
}

char *timefmt_format(int64_t ms, char *buf)
{
    int64_t days, rest, y;
    timefmt_split(ms, &days, &rest);
    int m, d;
    timefmt_civil_from_days(days, &y, &m, &d);
    int hh = (int)(rest / 3600000), mm = (int)(rest / 60000 % 60), ss = (int)(rest / 1000 % 60);
    int frac = (int)(rest % 1000);
    if (y >= 0 && y <= 9999) {
        /* Every time fcrd meets: digits written here, as printf would write them, for a sixth of
         * its cost (a time is formatted for every event and audit entry). */
        char *o = buf;
        timefmt_put_digits(&o, (int)y, 4);
        *o++ = '-';
        timefmt_put_digits(&o, m, 2);
        *o++ = '-';
        timefmt_put_digits(&o, d, 2);
        *o++ = 'T';
        timefmt_put_digits(&o, hh, 2);
        *o++ = ':';
        timefmt_put_digits(&o, mm, 2);
        *o++ = ':';
        timefmt_put_digits(&o, ss, 2);
        if (frac) {
            *o++ = '.';
            timefmt_put_digits(&o, frac, 3);
        }
        *o++ = 'Z';
        *o = '\0';
        return buf;
    }
    int n;
    if (frac)
        n = snprintf(buf, TIMEFMT_LEN, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d, hh, mm,
                     ss, frac);
    else
        n = snprintf(buf, TIMEFMT_LEN, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, hh, mm, ss);
    /* Cannot happen for any int64 (the widest is 30 bytes), but a cut time must never pass as whole. */
    if (n < 0 || n >= TIMEFMT_LEN)
        buf[0] = '\0';
    return buf;
}

int timefmt_year(int64_t ms)
{
    int64_t days, rest, y;
    int m, d;
    timefmt_split(ms, &days, &rest);
    timefmt_civil_from_days(days, &y, &m, &d);
    return (int)y;
}
