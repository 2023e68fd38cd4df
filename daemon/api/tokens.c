/* tokens.c: loads the API tokens file and matches bearer tokens without leaking timing. */
#include "api/tokens.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/errbuf.h"

struct token_entry {
    unsigned char token[TOKENS_MAX_LEN]; /* zero-padded, so every comparison covers the same bytes */
    size_t len;
    size_t line; /* for the duplicate message */
    char *user;
    enum role role;
};

struct tokens {
    struct token_entry *v;
    size_t n, cap;
};

static const char *const role_names[] = {
    [ROLE_NONE] = "none", [ROLE_OPS] = "ops", [ROLE_AUDITOR] = "auditor",
    [ROLE_SUPERVISOR] = "supervisor", [ROLE_DDM] = "ddm", [ROLE_FCR] = "fcr",
};

#define N_ROLES (sizeof role_names / sizeof role_names[0])

static bool is_blank(char c) { return c == ' ' || c == '\t'; }
static bool is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* valid_token: RFC 6750 b64token, the only form a client can put after "Bearer ". */
static bool valid_token(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (is_alnum(s[i]) || strchr("-._~+/", s[i])))
        i++;
    if (i == 0)
        return false;
    while (i < n && s[i] == '=')
        i++;
    return i == n;
}

/* valid_user: the user id is written to the audit trail, so keep it plain. */
static bool valid_user(const char *s, size_t n)
{
    if (n == 0 || n > TOKENS_USER_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && !strchr("-._@", s[i]))
            return false;
    return true;
}

const char *role_name(enum role r)
{
    return (size_t)r < N_ROLES ? role_names[r] : "none";
}

int role_parse(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = ROLE_OPS; i < N_ROLES; i++)
        if (strcmp(name, role_names[i]) == 0)
            return (int)i;
    return -1;
}

/* A line is TOKEN USER-ID ROLE with an optional trailing '#' comment; '#' cannot start a token. */
static int parse_line(struct tokens *t, const char *path, size_t lineno, char *line, char *err,
                      size_t errlen)
{
    char *col[3];
    size_t len[3], ncol = 0;
    char *p = line;
    for (;;) {
        while (is_blank(*p))
            p++;
        if (!*p || *p == '#')
            break;
        if (ncol == 3)
            return errbuf_set(err, errlen, "%s:%zu: extra column after TOKEN USER-ID ROLE", path, lineno);
        col[ncol] = p;
        while (*p && !is_blank(*p))
            p++;
        len[ncol] = (size_t)(p - col[ncol]);
        ncol++;
    }
    if (ncol == 0) /* blank or comment */
        return 0;
    if (ncol < 3)
        return errbuf_set(err, errlen, "%s:%zu: expected TOKEN USER-ID ROLE, found %zu column%s", path,
                          lineno, ncol, ncol == 1 ? "" : "s");
    for (size_t i = 0; i < 3; i++)
        col[i][len[i]] = '\0';

    /* Messages never quote the token: the error may end up in a log. */
    if (len[0] < TOKENS_MIN_LEN)
        return errbuf_set(err, errlen, "%s:%zu: token shorter than %d characters", path, lineno,
                          TOKENS_MIN_LEN);
    if (len[0] > TOKENS_MAX_LEN)
        return errbuf_set(err, errlen, "%s:%zu: token longer than %d characters", path, lineno,
                          TOKENS_MAX_LEN);
    if (!valid_token(col[0], len[0]))
        return errbuf_set(err, errlen,
                          "%s:%zu: token may hold only A-Z a-z 0-9 - . _ ~ + / and trailing =", path,
                          lineno);
    if (!valid_user(col[1], len[1]))
        return errbuf_set(err, errlen,
                          "%s:%zu: user id must be 1 to %d characters of A-Z a-z 0-9 - . _ @", path,
                          lineno, TOKENS_USER_MAX_LEN);
    int role = role_parse(col[2]);
    if (role < 0)
        return errbuf_set(err, errlen,
                          "%s:%zu: unknown role '%s' (expected ops, auditor, supervisor, ddm or fcr)",
                          path, lineno, col[2]);
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].len == len[0] && memcmp(t->v[i].token, col[0], len[0]) == 0)
            return errbuf_set(err, errlen, "%s:%zu: duplicate token (first on line %zu)", path, lineno,
                              t->v[i].line);

    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct token_entry *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return errbuf_set(err, errlen, "%s:%zu: out of memory", path, lineno);
        t->v = v;
        t->cap = cap;
    }
    struct token_entry *e = &t->v[t->n];
    *e = (struct token_entry){ .len = len[0], .line = lineno, .role = (enum role)role };
    memcpy(e->token, col[0], len[0]);
    e->user = strdup(col[1]);
    if (!e->user) {
        explicit_bzero(e->token, sizeof e->token);
        return errbuf_set(err, errlen, "%s:%zu: out of memory", path, lineno);
    }
    t->n++;
    return 0;
}

int tokens_load(const char *path, struct tokens **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return errbuf_set(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct tokens *t = calloc(1, sizeof *t);
    if (!t) {
        fclose(fp);
        return errbuf_set(err, errlen, "%s: out of memory", path);
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (strlen(line) != len)
            rc = errbuf_set(err, errlen, "%s:%zu: line contains a NUL byte", path, lineno);
        else
            rc = parse_line(t, path, lineno, line, err, errlen);
    }
    if (rc == 0 && ferror(fp))
        rc = errbuf_set(err, errlen, "%s: read error: %s", path, strerror(errno));
    if (line)
        explicit_bzero(line, cap);
    free(line);
    fclose(fp);
    if (rc < 0) {
        tokens_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

struct tokens *tokens_free(struct tokens *t)
{
    if (!t)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].user);
    if (t->v)
        explicit_bzero(t->v, t->cap * sizeof *t->v);
    free(t->v);
    free(t);
    return NULL;
}

/* is_zero: 1 if x == 0, else 0, computed without a branch. */
static size_t is_zero(uint32_t x)
{
    return (size_t)((((x - 1u) & ~x) >> 31) & 1u);
}

enum role tokens_lookup(const struct tokens *t, const char *token, const char **user)
{
    if (user)
        *user = NULL;
    if (!t || !token)
        return ROLE_NONE;
    /* The presented token's length is the caller's own knowledge; everything about the stored
     * tokens is hidden: each candidate costs the same TOKENS_MAX_LEN byte comparisons, and the
     * loop never stops early. */
    size_t plen = strnlen(token, TOKENS_MAX_LEN + 1);
    if (plen > TOKENS_MAX_LEN || plen == 0)
        return ROLE_NONE;
    unsigned char probe[TOKENS_MAX_LEN] = { 0 };
    memcpy(probe, token, plen);
    size_t hit = 0; /* index + 1 of the match; load refuses duplicates, so at most one */
    for (size_t i = 0; i < t->n; i++) {
        const struct token_entry *e = &t->v[i];
        uint32_t diff = (uint32_t)(e->len ^ plen);
        for (size_t k = 0; k < TOKENS_MAX_LEN; k++)
            diff |= (uint32_t)(e->token[k] ^ probe[k]);
        hit |= is_zero(diff) * (i + 1);
    }
    explicit_bzero(probe, sizeof probe);
    if (!hit)
        return ROLE_NONE;
    if (user)
        *user = t->v[hit - 1].user;
    return t->v[hit - 1].role;
}

size_t tokens_count(const struct tokens *t) { return t ? t->n : 0; }
