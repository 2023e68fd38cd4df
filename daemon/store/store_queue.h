/* store_queue.h: which queued items a lane's batch may take. Pure: plain data in, a decision out
 * (no loop, no database, no lanes), so that the rule that keeps one incident's events in arrival
 * order is tested on its own (tests/unit/test_store_queue.c).
 *
 * The rule: a batch never takes an item that touches an incident another lane's batch touches (that
 * transaction holds the incident, or is about to create it). Such an item stays queued, and so does
 * every later item that touches an incident it touches: one incident's events, and a report and the
 * report it links to, are decided in the order they arrived whichever lane carries them. */
#ifndef FCRD_STORE_QUEUE_H
#define FCRD_STORE_QUEUE_H

#include <stddef.h>

/* One queued item as the decision sees it: the incidents it touches, its own and those it links
 * to (borrowed; NULL entries are ignored, repeats are harmless). */
struct store_queue_item {
    const char *const *incidents;
    size_t n;
};

/* store_queue_window: how many items at the head of the queue a batch of at most `max` items looks
 * at (the rest wait for a later batch even when free: a long run of held items costs a bounded
 * scan). Pass no more than this many to store_queue_take. */
size_t store_queue_window(size_t max);

/* store_queue_take: the items (of `items`, the queue's head in arrival order, n of them) a batch
 * of at most `max` items takes, given the incidents other lanes' batches touch (`busy`, nbusy of
 * them, borrowed; NULL entries ignored). Writes their indexes, ascending, to taken[] (room for
 * `max`) and their number to *ntaken. Looks at no more than store_queue_window(max) items.
 * Returns 0, or -1 when memory runs out (then nothing is taken: taking without knowing what is
 * held could reorder an incident's events). */
int store_queue_take(const struct store_queue_item *items, size_t n, const char *const *busy, size_t nbusy,
                     size_t max, size_t *taken, size_t *ntaken);

#endif
