/* loadgen_gen.h: synthetic control-room traffic for fcr-loadgen: a stream of feed contract v1
 * events over many incidents, each incident opened with an allegation that records a crime at
 * once (or waits for the victim's confirmation), some updated, some closed, every seq in order. */
#ifndef LOADGEN_GEN_H
#define LOADGEN_GEN_H

#include <stddef.h>
#include <stdint.h>

struct loadgen_gen;

/* Distinct suspect refs of --refs (bench/seed-persons.sql seeds as many). */
#define LOADGEN_SUSPECT_REFS 50000u
#define LOADGEN_REFS_MAX UINT64_C(1000000000000)

struct loadgen_gen_params {
    const char *prefix;   /* every incident and event id starts with it (copied); unique per run */
    unsigned stream;      /* part of the ids: one generator per connection keeps ids apart */
    uint64_t seed;        /* same seed, same stream, same events */
    double updates;       /* mean incident.updated events per incident, 0..8 */
    double closed;        /* share of incidents that are closed, 0..1 */
    double unconfirmed;   /* share of openings reported by a third party, the victim not yet asked;
                             they open a pending decision, and an update may then confirm */
    double links;         /* share of openings linked to one of the stream's recent incidents (a
                             second call about the same matter, or a related one), 0..1 */
    unsigned narrative;   /* narrative bytes of an opening (the others get a fifth), 0..16000 */
    unsigned pool;        /* incidents open at once, awaiting their follow-ups, >= 1 */
    uint64_t refs;        /* > 0: every victim carries a command-and-control ref BV-k, k from 1..refs
                             (a fact of the incident), and its suspect, when there is one, BS-(k mod
                             LOADGEN_SUSPECT_REFS): the refs bench/seed-persons.sql seeds, so that
                             the person index lookups find rows; 0: no refs */
    int64_t epoch;        /* > 0: times are epoch + a tenth of a second per event of the stream
                             instead of the clock, so that the same run can be sent again and be
                             answered `duplicate` */
};

/* Counts of what has been generated so far. */
struct loadgen_gen_counts {
    uint64_t opened, updated, closed;
    uint64_t unconfirmed; /* openings of the third-party kind */
    uint64_t linked;      /* openings with a link */
};

/* loadgen_gen_new: 0 and *out, or -1 (out of memory or a parameter out of range). */
int loadgen_gen_new(struct loadgen_gen **out, const struct loadgen_gen_params *p);
struct loadgen_gen *loadgen_gen_free(struct loadgen_gen *g); /* NULL-safe, returns NULL */

/* loadgen_gen_line_max: a buffer this large always holds one line. */
size_t loadgen_gen_line_max(const struct loadgen_gen *g);

/* loadgen_gen_next: write the next event as one line ending in '\n' (not NUL-terminated) into
 * buf. now_s (seconds since the epoch) becomes its `at`, unless the parameters fix an epoch.
 * Returns the length, or 0 when cap is smaller than loadgen_gen_line_max(). */
size_t loadgen_gen_next(struct loadgen_gen *g, int64_t now_s, char *buf, size_t cap);

void loadgen_gen_counts(const struct loadgen_gen *g, struct loadgen_gen_counts *out);

#endif
