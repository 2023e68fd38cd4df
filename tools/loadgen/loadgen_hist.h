/* loadgen_hist.h: a latency histogram with bounded relative error (log-linear buckets, in the
 * spirit of HdrHistogram): fixed memory whatever the number of samples, so a load generator can
 * record millions of replies without growing. */
#ifndef LOADGEN_HIST_H
#define LOADGEN_HIST_H

#include <stdint.h>

/* Values are unsigned integers (fcr-loadgen records microseconds). Below 128 each value has its
 * own bucket; above, every power of two is split in 64, so a reported value is within 1/64
 * (1.6 %) above the true one. Values past LOADGEN_HIST_MAX land in the last bucket. */
#define LOADGEN_HIST_SUB 64
#define LOADGEN_HIST_SHIFTS 40
#define LOADGEN_HIST_BUCKETS ((LOADGEN_HIST_SHIFTS + 2) * LOADGEN_HIST_SUB)
#define LOADGEN_HIST_MAX ((UINT64_C(1) << (LOADGEN_HIST_SHIFTS + 6)) - 1)

/* Plain value type: zero-initialise (or loadgen_hist_reset) before use; no allocation. */
struct loadgen_hist {
    uint64_t count, sum, min, max;
    uint64_t buckets[LOADGEN_HIST_BUCKETS];
};

void loadgen_hist_reset(struct loadgen_hist *h);
void loadgen_hist_add(struct loadgen_hist *h, uint64_t v);

/* loadgen_hist_merge: add every sample of src to dst. */
void loadgen_hist_merge(struct loadgen_hist *dst, const struct loadgen_hist *src);

/* loadgen_hist_quantile: the smallest recorded bucket's highest value v with at least q of the
 * samples <= v (q in [0, 1]), clamped to the exact max; 0 when empty. */
uint64_t loadgen_hist_quantile(const struct loadgen_hist *h, double q);

/* loadgen_hist_mean: the exact mean, 0 when empty. */
double loadgen_hist_mean(const struct loadgen_hist *h);

/* loadgen_hist_bucket / loadgen_hist_bucket_high: the bucket of v, and the highest value a
 * bucket holds (exposed for tests). */
unsigned loadgen_hist_bucket(uint64_t v);
uint64_t loadgen_hist_bucket_high(unsigned bucket);

#endif
