/* store_cache.h: a store lane's incident states as its own commits left them, so that the next
 * batch on the same incident need not read and decode it again: with a large incident (a major
 * incident's log runs to hundreds of updates) that read is what would grow with every update.
 *
 * Each entry carries the version of the incident's row it was committed as (SQL_ROW_VERSION in
 * store_sql.h: the row's xmin and updated_at, which every write of the row changes, whoever makes
 * it: another lane, another fcrd instance, retention). The lock statement compares it under the
 * row lock and sends no state back for a row still at that version; any other version is read as
 * usual. An entry is taken out of the cache for the batch that uses it and put back only by that
 * batch's COMMIT, so a batch that fails leaves nothing behind it could have changed.
 *
 * Bounded by weight: an entry weighs one plus its persons and allegations; the oldest entries go
 * first. Only incidents with at least min_members persons and allegations are kept: a small
 * incident is cheap to read again, and the many small incidents of an ordinary day would
 * otherwise fill the memory the cache is for. Not thread-safe (one lane's loop). */
#ifndef FCRD_STORE_CACHE_H
#define FCRD_STORE_CACHE_H

#include <jansson.h>
#include <stddef.h>

struct store_cache {
    json_t *map;       /* incident id -> [version, state], oldest first */
    size_t weight;     /* of the entries held */
    size_t max_weight; /* 0: the cache holds nothing */
    size_t min_members; /* an incident with fewer persons and allegations is not kept */
};

void store_cache_init(struct store_cache *c, size_t max_weight, size_t min_members);
void store_cache_clear(struct store_cache *c);

/* store_cache_keys: "version:incident id" of every cached one of `ids` (n of them, repeats
 * allowed), as a PostgreSQL text[] literal for the lock statements. Malloc'd; NULL when memory
 * runs out. */
char *store_cache_keys(const struct store_cache *c, const char *const *ids, size_t n);

/* store_cache_take: the state cached for `id` (a new reference, removed from the cache), or NULL. */
json_t *store_cache_take(struct store_cache *c, const char *id);

/* store_cache_put: keeps `state` (a reference is taken) as the incident's at `version`, replacing
 * any entry it had, then drops the oldest entries while over the bound. A state heavier than the
 * whole bound, or with fewer than min_members persons and allegations, is not kept. */
void store_cache_put(struct store_cache *c, const char *id, const char *version, json_t *state);

#endif
