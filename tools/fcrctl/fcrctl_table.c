/* fcrctl_table.c: aligned tables and "key: value" lines for fcrctl, safe for a terminal. */
#include "fcrctl_table.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fcrctl_table {
    const struct fcrctl_table_column *cols;
    size_t ncols;
    char **cells; /* rows * ncols, row-major; each owned */
    size_t rows, cap;
};

struct fcrctl_table *fcrctl_table_new(const struct fcrctl_table_column *cols, size_t n)
{
    struct fcrctl_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->cols = cols;
    t->ncols = n;
    return t;
}

struct fcrctl_table *fcrctl_table_free(struct fcrctl_table *t)
{
    if (!t)
        return NULL;
    for (size_t i = 0; i < t->rows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
    return NULL;
}

size_t fcrctl_table_rows(const struct fcrctl_table *t)
{
    return t->rows;
}

/* Room for one more row, its cells NULL. */
static char **fcrctl_table_grow(struct fcrctl_table *t)
{
    if (t->rows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        if (t->ncols && cap > SIZE_MAX / sizeof(char *) / t->ncols)
            return NULL;
        char **cells = realloc(t->cells, cap * t->ncols * sizeof(char *));
        if (!cells && t->ncols)
            return NULL;
        t->cells = cells;
        t->cap = cap;
    }
    char **row = t->cells + t->rows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++)
        row[c] = NULL;
    return row;
}

static int fcrctl_table_commit(struct fcrctl_table *t, char **row)
{
    for (size_t c = 0; c < t->ncols; c++) {
        if (!row[c]) {
            for (size_t k = 0; k < t->ncols; k++)
                free(row[k]);
            return -1;
        }
    }
    t->rows++;
    return 0;
}

int fcrctl_table_add_row(struct fcrctl_table *t, const char *const *cells)
{
    char **row = fcrctl_table_grow(t);
    if (!row)
        return -1;
    for (size_t c = 0; c < t->ncols; c++)
        row[c] = fcrctl_table_safe(cells[c] && *cells[c] ? cells[c] : "-");
    return fcrctl_table_commit(t, row);
}

int fcrctl_table_add_item(struct fcrctl_table *t, const json_t *item)
{
    char **row = fcrctl_table_grow(t);
    if (!row)
        return -1;
    for (size_t c = 0; c < t->ncols; c++)
        row[c] = fcrctl_table_cell(t->cols[c].key ? json_object_get(item, t->cols[c].key) : NULL);
    return fcrctl_table_commit(t, row);
}

size_t fcrctl_table_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

void fcrctl_table_print(const struct fcrctl_table *t, FILE *out)
{
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(size_t));
    if (!w)
        return;
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = fcrctl_table_width(t->cols[c].heading);
        for (size_t r = 0; r < t->rows; r++) {
            size_t cw = fcrctl_table_width(t->cells[r * t->ncols + c]);
            if (cw > w[c])
                w[c] = cw;
        }
    }
    for (size_t r = 0; r <= t->rows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = r == 0 ? t->cols[c].heading : t->cells[(r - 1) * t->ncols + c];
            fputs(s, out);
            if (c + 1 < t->ncols)
                fprintf(out, "%*s", (int)(w[c] - fcrctl_table_width(s) + 2), "");
        }
        fputc('\n', out);
    }
    free(w);
}

/* Length of the UTF-8 sequence at s and its code point, or 0 when it is not valid UTF-8
 * (overlong forms, surrogates and values past U+10FFFF included). */
static size_t fcrctl_table_utf8(const unsigned char *s, uint32_t *cp)
{
    size_t n;
    uint32_t v, min;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    } else if ((s[0] & 0xE0) == 0xC0) {
        n = 2, v = s[0] & 0x1F, min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3, v = s[0] & 0x0F, min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4, v = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the terminator */
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

/* Characters that change what a terminal shows rather than show themselves: C0 and C1 controls,
 * DEL, and the bidirectional overrides that can make text read in another order. */
static bool fcrctl_table_unsafe(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

char *fcrctl_table_safe(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    char *o = out;
    while (*p) {
        uint32_t cp;
        size_t n = fcrctl_table_utf8(p, &cp);
        if (n == 0 || fcrctl_table_unsafe(cp)) {
            *o++ = '?';
            p += n ? n : 1;
            continue;
        }
        memcpy(o, p, n);
        o += n;
        p += n;
    }
    *o = '\0';
    return out;
}

static char *fcrctl_table_real(double d)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%.3f", d);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *end = buf + strlen(buf);
        while (end > dot + 1 && end[-1] == '0')
            *--end = '\0';
        if (end == dot + 1)
            *dot = '\0';
    }
    if (strcmp(buf, "-0") == 0)
        strcpy(buf, "0");
    return strdup(buf);
}

/* Arrays of strings and numbers read best as a comma-separated list: flags, rule ids. */
static char *fcrctl_table_list(const json_t *v)
{
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) && !json_is_number(e))
            return NULL;
    }
    char *out = strdup("");
    json_array_foreach(v, i, e)
    {
        char *cell = fcrctl_table_cell(e);
        char *joined = NULL;
        if (!out || !cell || asprintf(&joined, "%s%s%s", out, i ? "," : "", cell) < 0)
            joined = NULL;
        free(cell);
        free(out);
        out = joined;
        if (!out)
            return NULL;
    }
    return out;
}

char *fcrctl_table_cell(const json_t *v)
{
    if (!v || json_is_null(v))
        return strdup("-");
    switch (json_typeof(v)) {
    case JSON_STRING:
        return fcrctl_table_safe(json_string_length(v) ? json_string_value(v) : "-");
    case JSON_INTEGER: {
        char buf[32];
        snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
        return strdup(buf);
    }
    case JSON_REAL:
        return fcrctl_table_real(json_real_value(v));
    case JSON_TRUE:
        return strdup("yes");
    case JSON_FALSE:
        return strdup("no");
    case JSON_ARRAY:
        if (json_array_size(v) == 0)
            return strdup("-");
        {
            char *list = fcrctl_table_list(v);
            if (list)
                return list;
        }
        break;
    default:
        break;
    }
    char *compact = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!compact)
        return NULL;
    char *safe = fcrctl_table_safe(compact);
    free(compact);
    return safe;
}

static bool fcrctl_table_listed(const char *key, const char *const *list)
{
    for (; list && *list; list++)
        if (strcmp(key, *list) == 0)
            return true;
    return false;
}

static void fcrctl_table_print_field(const char *prefix, const char *key, const json_t *v, FILE *out)
{
    char *k = fcrctl_table_safe(key);
    char *cell = fcrctl_table_cell(v);
    if (k && cell)
        fprintf(out, "%s%s%s: %s\n", prefix ? prefix : "", prefix ? "." : "", k, cell);
    free(k);
    free(cell);
}

void fcrctl_table_print_fields(const json_t *obj, const char *const *skip, FILE *out)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (fcrctl_table_listed(key, skip))
            continue;
        if (!json_is_object(v) || json_object_size(v) == 0) {
            fcrctl_table_print_field(NULL, key, v, out);
            continue;
        }
        char *prefix = fcrctl_table_safe(key);
        const char *sub;
        const json_t *sv;
        json_object_foreach((json_t *)v, sub, sv)
        {
            if (prefix)
                fcrctl_table_print_field(prefix, sub, sv, out);
        }
        free(prefix);
    }
}
