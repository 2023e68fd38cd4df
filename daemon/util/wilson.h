/* wilson.h: the Wilson score interval of a proportion, the interval the inspectorate quotes with a
 * sampled recording rate; used by the self-audit report and by independent audits alike. */
#ifndef FCRD_WILSON_H
#define FCRD_WILSON_H

#include <stdbool.h>

/* wilson_95: the Wilson score interval at 95% for x successes in n trials, in [0, 1]. False (lo
 * and hi untouched) when n < 1 or x is outside [0, n]. */
bool wilson_95(long x, long n, double *lo, double *hi);

#endif
