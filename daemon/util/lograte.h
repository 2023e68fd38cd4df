/* lograte.h: rate-limited logging of refusals, so that a peer hammering fcrd cannot flood the log:
 * at most one line per interval for each kind, carrying how many were not logged since. */
#ifndef FCRD_LOGRATE_H
#define FCRD_LOGRATE_H

#include <stdbool.h>

/* One kind of refusal. Zero-initialised it logs its first event at once; `every` (seconds) is the
 * least time between two lines, set by the owner (0 logs every event). */
struct lograte {
    double every;
    double last;              /* time of the last line; meaningful only once `logged` */
    unsigned long suppressed; /* events since the last line that were not logged */
    bool logged;
};

/* lograte_due: records one event at time `now` (a monotonic clock, in seconds). Returns true when
 * a line may be logged now, with *suppressed (may be NULL) set to the events not logged since the
 * previous line; false when the event is only counted. */
bool lograte_due(struct lograte *r, double now, unsigned long *suppressed);

/* lograte_refused: logs `what` at warn level when due, with " (N more since the last such line)"
 * appended when some were not logged; `now` as above. Returns whether it logged. */
bool lograte_refused(struct lograte *r, double now, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
