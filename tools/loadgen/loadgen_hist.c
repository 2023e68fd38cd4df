/* loadgen_hist.c: log-linear latency histogram of fcr-loadgen (see loadgen_hist.h). */
#include "loadgen_hist.h"

#include <string.h>

void loadgen_hist_reset(struct loadgen_hist *h)
{
    memset(h, 0, sizeof(*h));
}

unsigned loadgen_hist_bucket(uint64_t v)
{
    if (v > LOADGEN_HIST_MAX)
        v = LOADGEN_HIST_MAX;
    if (v < 2 * LOADGEN_HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 6u; /* v >> shift falls in [64, 128) */
    return (shift + 1u) * LOADGEN_HIST_SUB + (unsigned)((v >> shift) - LOADGEN_HIST_SUB);
}

uint64_t loadgen_hist_bucket_high(unsigned bucket)
{
    if (bucket < 2 * LOADGEN_HIST_SUB)
        return bucket;
    unsigned shift = bucket / LOADGEN_HIST_SUB - 1u;
    uint64_t m = bucket % LOADGEN_HIST_SUB + LOADGEN_HIST_SUB;
    return ((m + 1) << shift) - 1;
}

void loadgen_hist_add(struct loadgen_hist *h, uint64_t v)
{
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->count++;
    h->sum += v;
    h->buckets[loadgen_hist_bucket(v)]++;
}

void loadgen_hist_merge(struct loadgen_hist *dst, const struct loadgen_hist *src)
{
    if (src->count == 0)
        return;
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
    for (unsigned i = 0; i < LOADGEN_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
}

uint64_t loadgen_hist_quantile(const struct loadgen_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min;
    if (q > 1)
        q = 1;
    /* rank of the sample wanted, 1-based: at least q of the samples are at or below it */
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < LOADGEN_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t v = loadgen_hist_bucket_high(i);
            return v > h->max ? h->max : v < h->min ? h->min : v;
        }
    }
    return h->max;
}

double loadgen_hist_mean(const struct loadgen_hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
