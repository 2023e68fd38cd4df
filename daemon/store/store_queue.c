/* store_queue.c: the queue's choice of what a batch may take: incidents other batches hold, and
 * everything queued behind them for those incidents, stay queued. */
#include "store/store_queue.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Items looked at per place in the batch. */
#define STORE_QUEUE_SCAN 4

/* A set of borrowed strings: open addressing over a table sized once for every string it may
 * receive, so that it never grows (and never fails) once made. */
struct idset {
    const char **slot;
    size_t mask;
};

static uint64_t idset_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h;
}

/* Room for `most` strings at a load of at most one half. */
static int idset_init(struct idset *s, size_t most)
{
    size_t cap = 16;
    while (cap < most * 2) {
        if (cap > SIZE_MAX / 4)
            return -1;
        cap *= 2;
    }
    s->slot = calloc(cap, sizeof(*s->slot));
    s->mask = cap - 1;
    return s->slot ? 0 : -1;
}

/* The slot that holds id, or the empty one where it would go. */
static const char **idset_find(const struct idset *s, const char *id)
{
    size_t i = (size_t)idset_hash(id) & s->mask;
    while (s->slot[i] && strcmp(s->slot[i], id) != 0)
        i = (i + 1) & s->mask;
    return &s->slot[i];
}

static void idset_add(struct idset *s, const char *id)
{
    if (id)
        *idset_find(s, id) = id;
}

static bool idset_has(const struct idset *s, const char *id)
{
    return id && *idset_find(s, id) != NULL;
}

static bool item_held(const struct idset *s, const struct store_queue_item *it)
{
    for (size_t j = 0; j < it->n; j++)
        if (idset_has(s, it->incidents[j]))
            return true;
    return false;
}

size_t store_queue_window(size_t max)
{
    return max > SIZE_MAX / STORE_QUEUE_SCAN ? SIZE_MAX : max * STORE_QUEUE_SCAN;
}

int store_queue_take(const struct store_queue_item *items, size_t n, const char *const *busy, size_t nbusy,
                     size_t max, size_t *taken, size_t *ntaken)
{
    *ntaken = 0;
    size_t window = store_queue_window(max);
    if (n > window)
        n = window;
    if (n == 0 || max == 0)
        return 0;
    if (nbusy == 0) { /* nothing is held: the head of the queue, in order */
        for (size_t i = 0; i < n && i < max; i++)
            taken[(*ntaken)++] = i;
        return 0;
    }
    /* The set receives the busy incidents and, at most, every incident of the items looked at. */
    size_t most = nbusy;
    for (size_t i = 0; i < n; i++) {
        if (items[i].n > SIZE_MAX / 4 - most)
            return -1;
        most += items[i].n;
    }
    struct idset held;
    if (idset_init(&held, most) != 0)
        return -1;
    for (size_t k = 0; k < nbusy; k++)
        idset_add(&held, busy[k]);
    for (size_t i = 0; i < n && *ntaken < max; i++) {
        const struct store_queue_item *it = &items[i];
        if (item_held(&held, it)) {
            /* what it touches waits behind it */
            for (size_t j = 0; j < it->n; j++)
                idset_add(&held, it->incidents[j]);
            continue;
        }
        taken[(*ntaken)++] = i;
    }
    free(held.slot);
    return 0;
}
