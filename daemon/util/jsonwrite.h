/* jsonwrite.h: the two jansson operations the write path does most, without their per-container cost.
 *
 * jansson's json_dumps and json_deep_copy guard against cyclic values by formatting each object's
 * and array's address with snprintf into a hash table as they descend; on fcrd's documents that
 * check was most of the time they took. fcrd never builds a cyclic value, so these skip it.
 *
 * jsonwrite_dump writes exactly what json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY [| JSON_SORT_KEYS])
 * prints (tests/unit/test_jsonwrite.c compares the two byte for byte): stored event bodies and audit
 * entries are compared and hashed as text, so the output must not change. */
#ifndef FCRD_JSONWRITE_H
#define FCRD_JSONWRITE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A growable text buffer. Owns buf. After an allocation failure it stops growing and `oom` is set;
 * jsonwrite_take then returns NULL. */
struct jsonwrite_buf {
    char *buf;
    size_t len, cap;
    bool oom;
};

#define JSONWRITE_SORT 1u /* objects' keys in byte order, as JSON_SORT_KEYS */

void jsonwrite_buf_free(struct jsonwrite_buf *b);
/* The text written so far, NUL-terminated, now the caller's (free()); the buffer is left empty.
 * NULL when an allocation failed. */
char *jsonwrite_take(struct jsonwrite_buf *b, size_t *len);

void jsonwrite_raw(struct jsonwrite_buf *b, const char *s, size_t n);
void jsonwrite_char_slow(struct jsonwrite_buf *b, char c);
/* One character; inline, as the separators between values are most of the calls. */
static inline void jsonwrite_char(struct jsonwrite_buf *b, char c)
{
    if (!b->oom && b->len + 2 <= b->cap)
        b->buf[b->len++] = c;
    else
        jsonwrite_char_slow(b, c);
}
/* n bytes already written, from offset `from`, written again at the end. */
void jsonwrite_again(struct jsonwrite_buf *b, size_t from, size_t n);
/* Whether any of the eight bytes at p is one a JSON string escapes (below 0x20, '"', '\\'), or,
 * with `high`, one of 0x80 or above. The usual word-at-a-time test: (v - k) & ~v leaves a byte's
 * high bit set only where a byte of v is below k or follows such a byte (a borrow), so the word
 * as a whole is never misjudged. For scanning runs of plain text eight bytes at a time. */
static inline bool jsonwrite_word_special(const char *p, bool high)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t v;
    memcpy(&v, p, 8);
    uint64_t quote = v ^ (ones * '"'), backslash = v ^ (ones * '\\');
    uint64_t hit = ((v - ones * 0x20) & ~v) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash);
    return ((high ? hit | v : hit) & highs) != 0;
}

/* A JSON string: quoted and escaped as jansson escapes (s must be UTF-8). */
void jsonwrite_str(struct jsonwrite_buf *b, const char *s, size_t n);
void jsonwrite_cstr(struct jsonwrite_buf *b, const char *s); /* NULL writes null */
void jsonwrite_int(struct jsonwrite_buf *b, int64_t v);
/* `"key":` preceded by a comma unless it opens its object. */
void jsonwrite_key(struct jsonwrite_buf *b, const char *key);
/* A comma unless the next value opens its array. */
void jsonwrite_sep(struct jsonwrite_buf *b);
/* Any value (NULL writes null). */
void jsonwrite_value(struct jsonwrite_buf *b, const json_t *v, unsigned flags);

/* json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | (flags & JSONWRITE_SORT ? JSON_SORT_KEYS : 0)). */
char *jsonwrite_dumps(const json_t *v, unsigned flags);

/* A copy of every object and array in v, as json_deep_copy makes; strings and numbers are shared
 * with v instead of copied, which is safe because nothing in fcrd changes one in place (no
 * json_string_set, json_integer_set or json_real_set anywhere: test_jsonwrite checks the sources).
 * NULL on NULL or when memory runs out. */
json_t *jsonwrite_copy(const json_t *v);

#endif
