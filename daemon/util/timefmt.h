/* timefmt.h: RFC 3339 times <-> milliseconds since the Unix epoch (UTC). */
#ifndef FCRD_TIMEFMT_H
#define FCRD_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* timefmt_parse: parse an RFC 3339 date-time WITH an offset ("Z" or "+hh:mm"/"-hh:mm", at most
 * ±15:59; the UTC time must be in year 1 or later),
 * optional fractional seconds (kept to the millisecond). Returns true and sets *out_ms,
 * or false if the text is not a valid RFC 3339 time (calendar checked: no Feb 30). */
bool timefmt_parse(const char *text, int64_t *out_ms);

/* 0001-01-01T00:00:00Z: the earliest time timefmt_parse accepts (after applying the offset). */
#define TIMEFMT_YEAR1_MS (-62135596800000LL)

/* timefmt_format: write ms as "YYYY-MM-DDTHH:MM:SSZ" (".mmmZ" when ms % 1000 != 0) into buf.
 * buf must hold at least TIMEFMT_LEN bytes. Returns buf. */
#define TIMEFMT_LEN 32
char *timefmt_format(int64_t ms, char *buf);

/* timefmt_year: the UTC calendar year of ms. */
int timefmt_year(int64_t ms);

#define TIMEFMT_HOUR_MS ((int64_t)3600 * 1000)

#endif
