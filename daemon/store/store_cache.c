/* store_cache.c: a store lane's incident states as its commits left them, by row version. */
#include "store/store_cache.h"
#include "util/jsonwrite.h"
#include "util/pgtext.h"

#include <string.h>

static size_t store_cache_weight(const json_t *state)
{
    return 1 + json_array_size(json_object_get(state, "persons")) +
           json_array_size(json_object_get(state, "allegations"));
}

void store_cache_init(struct store_cache *c, size_t max_weight, size_t min_members)
{
    c->map = json_object();
    c->weight = 0;
    c->max_weight = max_weight;
    c->min_members = min_members;
}

void store_cache_clear(struct store_cache *c)
{
    json_decref(c->map);
    c->map = NULL;
    c->weight = 0;
}

char *store_cache_keys(const struct store_cache *c, const char *const *ids, size_t n)
{
    struct jsonwrite_buf b = {0};
    jsonwrite_char(&b, '{');
    size_t at = b.len;
    for (size_t i = 0; c->map && i < n; i++) {
        const json_t *e = json_object_get(c->map, ids[i]);
        const char *version = json_string_value(json_array_get(e, 0));
        size_t vlen = version ? strlen(version) : 0, ilen = strlen(ids[i]);
        char key[384]; /* ids are short (proto/feed-event.schema.json), versions about 30 bytes */
        if (!version || vlen + 1 + ilen >= sizeof(key))
            continue; /* not sent: the row is read */
        memcpy(key, version, vlen);
        key[vlen] = ':';
        memcpy(key + vlen + 1, ids[i], ilen + 1);
        if (b.len > at)
            jsonwrite_char(&b, ',');
        pgtext_array_elem(&b, key, vlen + 1 + ilen);
    }
    jsonwrite_char(&b, '}');
    return jsonwrite_take(&b, NULL);
}

json_t *store_cache_take(struct store_cache *c, const char *id)
{
    json_t *e = c->map ? json_object_get(c->map, id) : NULL;
    if (!e)
        return NULL;
    json_t *state = json_incref(json_array_get(e, 1));
    c->weight -= store_cache_weight(state);
    json_object_del(c->map, id);
    return state;
}

void store_cache_put(struct store_cache *c, const char *id, const char *version, json_t *state)
{
    if (!c->map || !json_is_object(state))
        return;
    json_decref(store_cache_take(c, id));
    size_t w = store_cache_weight(state);
    if (w > c->max_weight || w - 1 < c->min_members)
        return;
    json_t *e = json_pack("[sO]", version, state);
    /* at the end of the map's order: jansson keeps an object's keys in insertion order */
    if (!e || json_object_set_new(c->map, id, e) != 0)
        return;
    c->weight += w;
    while (c->weight > c->max_weight) {
        const char *oldest = json_object_iter_key(json_object_iter(c->map));
        if (!oldest)
            break;
        json_decref(store_cache_take(c, oldest));
    }
}
