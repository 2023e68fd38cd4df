/* jsonwrite.c: compact JSON text and deep copies of jansson values without jansson's cycle check.
 * Ownership: a jsonwrite_buf owns its text until jsonwrite_take hands it over; jsonwrite_copy returns a new
 * reference. */
#include "util/jsonwrite.h"

#include <stdlib.h>
#include <string.h>

/* ---- the buffer ----------------------------------------------------------------------------- */

static bool jsonwrite_grow_slow(struct jsonwrite_buf *b, size_t more)
{
    if (b->oom)
        return false;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->buf, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->buf = p;
    b->cap = cap;
    return true;
}

/* Room for `more` bytes and a NUL; false once memory has run out. The common case, room already
 * there, stays inline: every string and separator written asks. */
static inline bool jsonwrite_grow(struct jsonwrite_buf *b, size_t more)
{
    return (!b->oom && b->len + more + 1 <= b->cap) || jsonwrite_grow_slow(b, more);
}

void jsonwrite_buf_free(struct jsonwrite_buf *b)
{
    free(b->buf);
    memset(b, 0, sizeof(*b));
}

char *jsonwrite_take(struct jsonwrite_buf *b, size_t *len)
{
    if (!jsonwrite_grow(b, 0)) {
        jsonwrite_buf_free(b);
        return NULL;
    }
    char *s = b->buf;
    s[b->len] = '\0';
    if (len)
        *len = b->len;
    memset(b, 0, sizeof(*b));
    return s;
}

void jsonwrite_again(struct jsonwrite_buf *b, size_t from, size_t n)
{
    if (n == 0 || from + n > b->len || !jsonwrite_grow(b, n))
        return;
    memcpy(b->buf + b->len, b->buf + from, n); /* after the growth: the buffer may have moved */
    b->len += n;
}

void jsonwrite_raw(struct jsonwrite_buf *b, const char *s, size_t n)
{
    if (n == 0 || !jsonwrite_grow(b, n))
        return;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

void jsonwrite_char_slow(struct jsonwrite_buf *b, char c)
{
    if (!jsonwrite_grow(b, 1))
        return;
    b->buf[b->len++] = c;
}

/* ---- scalars -------------------------------------------------------------------------------- */

void jsonwrite_str(struct jsonwrite_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (n > (SIZE_MAX - 2) / 6 || !jsonwrite_grow(b, n * 6 + 2)) /* the worst case: every byte \u00XX */
        return;
    char *o = b->buf + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        /* Eight bytes at a time while none of them needs escaping. */
        while (i + 8 <= n && !jsonwrite_word_special(s + i, false)) {
            memcpy(o, s + i, 8);
            o += 8;
            i += 8;
        }
        if (i == n)
            break;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->buf);
}

void jsonwrite_cstr(struct jsonwrite_buf *b, const char *s)
{
    if (s)
        jsonwrite_str(b, s, strlen(s));
    else
        jsonwrite_raw(b, "null", 4);
}

void jsonwrite_int(struct jsonwrite_buf *b, int64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    jsonwrite_raw(b, tmp + i, sizeof(tmp) - i);
}

void jsonwrite_sep(struct jsonwrite_buf *b)
{
    if (b->len > 0 && b->buf[b->len - 1] != '[' && b->buf[b->len - 1] != '{')
        jsonwrite_char(b, ',');
}

void jsonwrite_key(struct jsonwrite_buf *b, const char *key)
{
    jsonwrite_sep(b);
    jsonwrite_str(b, key, strlen(key));
    jsonwrite_char(b, ':');
}

/* ---- values --------------------------------------------------------------------------------- */

struct jsonwrite_key {
    const char *key;
    size_t len;
    json_t *value;
};

/* jansson's order for JSON_SORT_KEYS: bytes first, then the shorter key. */
static int jsonwrite_key_cmp(const void *a, const void *b)
{
    const struct jsonwrite_key *x = a, *y = b;
    int r = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    if (r)
        return r;
    return (x->len > y->len) - (x->len < y->len);
}

static void jsonwrite_object(struct jsonwrite_buf *b, const json_t *v, unsigned flags)
{
    jsonwrite_char(b, '{');
    size_t n = json_object_size(v);
    void *it = json_object_iter((json_t *)v);
    if ((flags & JSONWRITE_SORT) && n > 1) {
        struct jsonwrite_key small[16];
        struct jsonwrite_key *keys = n <= 16 ? small : malloc(n * sizeof(*keys));
        if (!keys) {
            b->oom = true;
            return;
        }
        size_t k = 0;
        for (; it && k < n; it = json_object_iter_next((json_t *)v, it), k++) {
            keys[k].key = json_object_iter_key(it);
            keys[k].len = json_object_iter_key_len(it);
            keys[k].value = json_object_iter_value(it);
        }
        if (k <= 16) { /* the usual object: an insertion sort beats qsort's calls through a pointer */
            for (size_t i = 1; i < k; i++) {
                struct jsonwrite_key x = keys[i];
                size_t j = i;
                for (; j > 0 && jsonwrite_key_cmp(&keys[j - 1], &x) > 0; j--)
                    keys[j] = keys[j - 1];
                keys[j] = x;
            }
        } else {
            qsort(keys, k, sizeof(*keys), jsonwrite_key_cmp);
        }
        for (size_t i = 0; i < k; i++) {
            if (i)
                jsonwrite_char(b, ',');
            jsonwrite_str(b, keys[i].key, keys[i].len);
            jsonwrite_char(b, ':');
            jsonwrite_value(b, keys[i].value, flags);
        }
        if (keys != small)
            free(keys);
    } else {
        for (bool first = true; it; it = json_object_iter_next((json_t *)v, it), first = false) {
            if (!first)
                jsonwrite_char(b, ',');
            jsonwrite_str(b, json_object_iter_key(it), json_object_iter_key_len(it));
            jsonwrite_char(b, ':');
            jsonwrite_value(b, json_object_iter_value(it), flags);
        }
    }
    jsonwrite_char(b, '}');
}

void jsonwrite_value(struct jsonwrite_buf *b, const json_t *v, unsigned flags)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT:
        jsonwrite_object(b, v, flags);
        return;
    case JSON_ARRAY: {
        jsonwrite_char(b, '[');
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if (i)
                jsonwrite_char(b, ',');
            jsonwrite_value(b, json_array_get(v, i), flags);
        }
        jsonwrite_char(b, ']');
        return;
    }
    case JSON_STRING:
        jsonwrite_str(b, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        jsonwrite_int(b, (int64_t)json_integer_value(v));
        return;
    case JSON_REAL: {
        /* Rare in fcrd's documents: jansson's own formatting, so that the text stays identical
         * (written into a buffer here, not allocated). */
        char s[64];
        size_t n = json_dumpb(v, s, sizeof(s), JSON_ENCODE_ANY | JSON_COMPACT);
        if (n == 0 || n > sizeof(s)) {
            b->oom = true;
            return;
        }
        jsonwrite_raw(b, s, n);
        return;
    }
    case JSON_TRUE:
        jsonwrite_raw(b, "true", 4);
        return;
    case JSON_FALSE:
        jsonwrite_raw(b, "false", 5);
        return;
    case JSON_NULL:
        jsonwrite_raw(b, "null", 4);
        return;
    }
}

char *jsonwrite_dumps(const json_t *v, unsigned flags)
{
    struct jsonwrite_buf b = {0};
    jsonwrite_value(&b, v, flags);
    return jsonwrite_take(&b, NULL);
}

/* ---- copies --------------------------------------------------------------------------------- */

json_t *jsonwrite_copy(const json_t *v)
{
    if (!v)
        return NULL;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        json_t *o = json_object();
        if (!o)
            return NULL;
        for (void *it = json_object_iter((json_t *)v); it; it = json_object_iter_next((json_t *)v, it)) {
            json_t *c = jsonwrite_copy(json_object_iter_value(it));
            if (!c || json_object_setn_new_nocheck(o, json_object_iter_key(it), json_object_iter_key_len(it), c)) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    case JSON_ARRAY: {
        json_t *a = json_array();
        size_t n = json_array_size(v);
        for (size_t i = 0; a && i < n; i++) {
            json_t *c = jsonwrite_copy(json_array_get(v, i));
            if (!c || json_array_append_new(a, c)) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    default:
        /* A scalar is shared, not copied: nothing in fcrd changes a string or a number in place
         * (json_string_set and the like are never called; a test keeps it so). */
        return json_incref((json_t *)v);
    }
}
