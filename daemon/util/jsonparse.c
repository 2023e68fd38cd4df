/* jsonparse.c: JSON text into jansson values, scanned in place; whatever it is not sure of, jansson reads.
 * Ownership: jsonparse_loadb and jsonparse_fast return a new reference; the reader's scratch buffer is its
 * own and freed before they return. */
#include "util/jsonparse.h"
#include "util/jsonwrite.h"
#include "util/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Deeper than any feed line fcrd accepts (event.c limits nesting first); jansson reads the rest. */
#define JSONPARSE_MAX_DEPTH 64
/* Longer number texts than this are left to jansson (no JSON number fcrd stores is near it). */
#define JSONPARSE_MAX_NUMBER 64

struct jsonparse {
    const unsigned char *p, *end;
    bool reject_duplicates;
    int depth;
    char *scratch; /* a string with escapes, decoded; owned */
    size_t cap;
};

static json_t *jsonparse_value(struct jsonparse *r);

static void jsonparse_ws(struct jsonparse *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

static bool jsonparse_room(struct jsonparse *r, size_t len, size_t more)
{
    if (len + more <= r->cap)
        return true;
    size_t cap = r->cap ? r->cap : 256;
    while (cap < len + more)
        cap *= 2;
    char *s = realloc(r->scratch, cap);
    if (!s)
        return false;
    r->scratch = s;
    r->cap = cap;
    return true;
}

static int jsonparse_hex4(const unsigned char *p, const unsigned char *end)
{
    if (end - p < 4)
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* One \u escape (and its low surrogate, for a pair) at r->p, just after the backslash's 'u',
 * appended to the scratch buffer as UTF-8. \u0000 is left to jansson, as is any lone surrogate. */
static bool jsonparse_unicode(struct jsonparse *r, size_t *len)
{
    int32_t cp = jsonparse_hex4(r->p, r->end);
    if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        return false;
    r->p += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u')
            return false;
        int32_t low = jsonparse_hex4(r->p + 2, r->end);
        if (low < 0xDC00 || low > 0xDFFF)
            return false;
        cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
        r->p += 6;
    }
    if (!jsonparse_room(r, *len, 4))
        return false;
    char *o = r->scratch + *len;
    if (cp < 0x80) {
        o[0] = (char)cp;
        *len += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        *len += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        *len += 3;
    } else {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        *len += 4;
    }
    return true;
}

/* A string whose opening quote r->p has passed: *s and *n are its bytes, decoded (in place in the
 * text when it has no escapes, else in the scratch buffer, valid until the next string). */
static bool jsonparse_string(struct jsonparse *r, const char **s, size_t *n)
{
    const unsigned char *start = r->p;
    while (r->end - r->p >= 8 && !jsonwrite_word_special((const char *)r->p, true))
        r->p += 8; /* eight plain ASCII bytes at a time */
    while (r->p < r->end && *r->p != '"' && *r->p != '\\' && *r->p >= 0x20 && *r->p < 0x80)
        r->p++;
    if (r->p < r->end && *r->p == '"') {
        *s = (const char *)start;
        *n = (size_t)(r->p - start);
        r->p++;
        return true;
    }
    size_t len = (size_t)(r->p - start);
    if (!jsonparse_room(r, 0, len + 16))
        return false;
    memcpy(r->scratch, start, len);
    while (r->p < r->end) {
        unsigned char c = *r->p;
        if (c == '"') {
            r->p++;
            *s = r->scratch;
            *n = len;
            return true;
        }
        if (c < 0x20)
            return false;
        size_t take = 1;
        if (c >= 0x80) {
            take = utf8_seq(r->p, (size_t)(r->end - r->p)); /* jansson's rules exactly */
            if (take == 0)
                return false;
        } else if (c == '\\') {
            if (r->end - r->p < 2)
                return false;
            char e = (char)r->p[1];
            r->p += 2;
            if (e == 'u') {
                if (!jsonparse_unicode(r, &len))
                    return false;
                continue;
            }
            char out = e == '"' ? '"' : e == '\\' ? '\\' : e == '/' ? '/' : e == 'b' ? '\b' : e == 'f' ? '\f'
                     : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : 0;
            if (!out || !jsonparse_room(r, len, 1))
                return false;
            r->scratch[len++] = out;
            continue;
        }
        if (!jsonparse_room(r, len, take))
            return false;
        memcpy(r->scratch + len, r->p, take);
        len += take;
        r->p += take;
    }
    return false;
}

/* A number, as jansson's lexer reads one: an integer when it has neither fraction nor exponent.
 * One that does not fit in 64 bits is left to jansson. */
static json_t *jsonparse_number(struct jsonparse *r)
{
    const unsigned char *start = r->p;
    bool neg = false;
    if (*r->p == '-') {
        neg = true;
        r->p++;
    }
    if (r->p >= r->end || *r->p < '0' || *r->p > '9')
        return NULL;
    uint64_t u = 0; /* 19 digits fit */
    size_t digits = 0;
    if (*r->p == '0') {
        r->p++;
        digits = 1;
        if (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            return NULL; /* a leading zero */
    } else {
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
            if (++digits > 19) /* beyond 64 bits: jansson reports it */
                return NULL;
            u = u * 10 + (uint64_t)(*r->p - '0');
            r->p++;
        }
    }
    bool real = false;
    if (r->p < r->end && *r->p == '.') {
        real = true;
        r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9')
            return NULL;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        real = true;
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9')
            return NULL;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    }
    if (!real) {
        if (u > (uint64_t)INT64_MAX + neg)
            return NULL; /* jansson reports it */
        return json_integer(!neg ? (json_int_t)u : u ? -(json_int_t)(u - 1) - 1 : 0);
    }
    size_t len = (size_t)(r->p - start);
    if (len >= JSONPARSE_MAX_NUMBER)
        return NULL;
    char text[JSONPARSE_MAX_NUMBER];
    memcpy(text, start, len);
    text[len] = '\0';
    char *stop = NULL;
    errno = 0;
    double d = strtod(text, &stop);
    if (stop != text + len || (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL)))
        return NULL; /* jansson reports an overflow */
    return json_real(d);
}

static json_t *jsonparse_object(struct jsonparse *r)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    jsonparse_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return o;
    }
    for (;;) {
        if (r->p >= r->end || *r->p != '"')
            goto fail;
        r->p++;
        const char *key;
        size_t klen;
        if (!jsonparse_string(r, &key, &klen))
            goto fail;
        /* The value may reuse the scratch buffer: a key from it is copied out first. */
        char small[128];
        char *held = NULL;
        if (key == r->scratch) {
            held = klen < sizeof small ? small : malloc(klen);
            if (!held)
                goto fail;
            memcpy(held, key, klen);
            key = held;
        }
        jsonparse_ws(r);
        json_t *v = NULL;
        if (r->p < r->end && *r->p == ':') {
            r->p++;
            jsonparse_ws(r);
            v = jsonparse_value(r);
        }
        size_t before = json_object_size(o);
        int rc = v ? json_object_setn_new_nocheck(o, key, klen, v) : -1;
        if (held && held != small)
            free(held);
        if (rc != 0 || (r->reject_duplicates && json_object_size(o) == before))
            goto fail; /* a duplicate: jansson names it */
        jsonparse_ws(r);
        if (r->p >= r->end)
            goto fail;
        if (*r->p == '}') {
            r->p++;
            return o;
        }
        if (*r->p != ',')
            goto fail;
        r->p++;
        jsonparse_ws(r);
    }
fail:
    json_decref(o);
    return NULL;
}

static json_t *jsonparse_array(struct jsonparse *r)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    jsonparse_ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return a;
    }
    for (;;) {
        json_t *v = jsonparse_value(r);
        if (!v || json_array_append_new(a, v) != 0)
            break;
        jsonparse_ws(r);
        if (r->p >= r->end)
            break;
        if (*r->p == ']') {
            r->p++;
            return a;
        }
        if (*r->p != ',')
            break;
        r->p++;
        jsonparse_ws(r);
    }
    json_decref(a);
    return NULL;
}

static bool jsonparse_word(struct jsonparse *r, const char *w, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
        return false;
    r->p += n;
    return true;
}

/* One value at r->p (no leading whitespace). */
static json_t *jsonparse_value(struct jsonparse *r)
{
    if (r->p >= r->end)
        return NULL;
    json_t *v = NULL;
    switch (*r->p) {
    case '{':
    case '[':
        if (++r->depth > JSONPARSE_MAX_DEPTH)
            return NULL;
        r->p++;
        v = r->p[-1] == '{' ? jsonparse_object(r) : jsonparse_array(r);
        r->depth--;
        return v;
    case '"': {
        r->p++;
        const char *s;
        size_t n;
        return jsonparse_string(r, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
    }
    case 't':
        return jsonparse_word(r, "true", 4) ? json_true() : NULL;
    case 'f':
        return jsonparse_word(r, "false", 5) ? json_false() : NULL;
    case 'n':
        return jsonparse_word(r, "null", 4) ? json_null() : NULL;
    default:
        return jsonparse_number(r);
    }
}

json_t *jsonparse_fast(const char *text, size_t len, size_t flags)
{
    if (!text || (flags & ~(size_t)JSON_REJECT_DUPLICATES) != 0)
        return NULL;
    struct jsonparse r = {
        .p = (const unsigned char *)text,
        .end = (const unsigned char *)text + len,
        .reject_duplicates = (flags & JSON_REJECT_DUPLICATES) != 0,
    };
    jsonparse_ws(&r);
    json_t *v = NULL;
    if (r.p < r.end && (*r.p == '{' || *r.p == '[')) /* without JSON_DECODE_ANY, as jansson */
        v = jsonparse_value(&r);
    jsonparse_ws(&r);
    if (v && r.p != r.end) { /* trailing text: jansson's end-of-input check reports it */
        json_decref(v);
        v = NULL;
    }
    free(r.scratch);
    return v;
}

json_t *jsonparse_loadb(const char *text, size_t len, size_t flags, json_error_t *err)
{
    json_t *v = jsonparse_fast(text, len, flags);
    return v ? v : json_loadb(text, len, flags, err);
}
