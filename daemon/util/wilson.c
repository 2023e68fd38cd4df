/* wilson.c: the Wilson score interval at 95% (Wilson 1927; Newcombe 1998, method 3). */
#include "util/wilson.h"

#include <math.h>

#define WILSON_Z95 1.959963984540054 /* the normal distribution's 97.5th percentile */

bool wilson_95(long x, long n, double *lo, double *hi)
{
    if (n < 1 || x < 0 || x > n)
        return false;
    const double z = WILSON_Z95;
    double nn = (double)n, p = (double)x / nn, z2n = z * z / nn;
    double centre = (p + z2n / 2) / (1 + z2n);
    double half = z * sqrt(p * (1 - p) / nn + z2n / (4 * nn)) / (1 + z2n);
    /* At x = 0 or x = n the bound is exactly 0 or 1; rounding must not leave it a hair inside. */
    *lo = x == 0 ? 0 : fmax(0, centre - half);
    *hi = x == n ? 1 : fmin(1, centre + half);
    return true;
}
