/* tokens.c: loads the API tokens file and matches bearer tokens without leaking timing. */
#include "api/tokens.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/errbuf.h"

/* Only the SHA-256 of each token is kept, whichever form the file gives: a memory dump shows no
 * token, and every comparison covers the same 32 bytes. */
struct token_entry {
    unsigned char digest[SHA256_DIGEST_LENGTH];
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

#define TOKENS_STR_(x) #x
#define TOKENS_STR(x) TOKENS_STR_(x)

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

/* check_token: the rules a token in the file (or one to be hashed) must follow. */
static int check_token(const char *s, size_t n, char *err, size_t errlen, const char *path, size_t lineno)
{
    const char *why = NULL;
    if (n < TOKENS_MIN_LEN)
        why = "token shorter than " TOKENS_STR(TOKENS_MIN_LEN) " characters";
    else if (n > TOKENS_MAX_LEN)
        why = "token longer than " TOKENS_STR(TOKENS_MAX_LEN) " characters";
    else if (!valid_token(s, n))
        why = "token may hold only A-Z a-z 0-9 - . _ ~ + / and trailing =";
    if (!why)
        return 0;
    if (path)
        return errbuf_set(err, errlen, "%s:%zu: %s", path, lineno, why);
    return errbuf_set(err, errlen, "%s", why);
}

/* parse_hex_digest: exactly 64 lowercase hex digits, the form tokens_hash prints. */
static bool parse_hex_digest(const char *s, unsigned char out[SHA256_DIGEST_LENGTH])
{
    if (strlen(s) != 2 * SHA256_DIGEST_LENGTH)
        return false;
    for (size_t i = 0; i < 2 * SHA256_DIGEST_LENGTH; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return false;
        out[i / 2] = (unsigned char)(i % 2 ? out[i / 2] | v : v << 4);
    }
    return true;
}

int tokens_hash(const char *token, char *out, size_t outlen, char *err, size_t errlen)
{
    if (!token)
        return errbuf_set(err, errlen, "no token");
    size_t n = strnlen(token, TOKENS_MAX_LEN + 1);
    if (check_token(token, n, err, errlen, NULL, 0) != 0)
        return -1;
    if (outlen < TOKENS_HASH_TEXT_LEN + 1)
        return errbuf_set(err, errlen, "output buffer too small");
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, n, digest);
    static const char hex[] = "0123456789abcdef";
    memcpy(out, TOKENS_HASH_PREFIX, sizeof TOKENS_HASH_PREFIX - 1);
    char *p = out + sizeof TOKENS_HASH_PREFIX - 1;
    for (size_t i = 0; i < sizeof digest; i++) {
        *p++ = hex[digest[i] >> 4];
        *p++ = hex[digest[i] & 15];
    }
    *p = '\0';
    explicit_bzero(digest, sizeof digest);
    return 0;
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
    unsigned char digest[SHA256_DIGEST_LENGTH];
    if (len[0] >= sizeof TOKENS_HASH_PREFIX - 1 &&
        memcmp(col[0], TOKENS_HASH_PREFIX, sizeof TOKENS_HASH_PREFIX - 1) == 0) {
        if (!parse_hex_digest(col[0] + sizeof TOKENS_HASH_PREFIX - 1, digest))
            return errbuf_set(err, errlen, "%s:%zu: a hashed token is sha256: and 64 lowercase hex digits",
                              path, lineno);
    } else {
        if (check_token(col[0], len[0], err, errlen, path, lineno) != 0)
            return -1;
        SHA256((const unsigned char *)col[0], len[0], digest);
    }
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
        if (memcmp(t->v[i].digest, digest, sizeof digest) == 0) {
            explicit_bzero(digest, sizeof digest);
            return errbuf_set(err, errlen, "%s:%zu: duplicate token (first on line %zu)", path, lineno,
                              t->v[i].line);
        }

    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct token_entry *v = realloc(t->v, cap * sizeof *v);
        if (!v) {
            explicit_bzero(digest, sizeof digest);
            return errbuf_set(err, errlen, "%s:%zu: out of memory", path, lineno);
        }
        t->v = v;
        t->cap = cap;
    }
    struct token_entry *e = &t->v[t->n];
    *e = (struct token_entry){ .line = lineno, .role = (enum role)role };
    memcpy(e->digest, digest, sizeof digest);
    explicit_bzero(digest, sizeof digest);
    e->user = strdup(col[1]);
    if (!e->user) {
        explicit_bzero(e->digest, sizeof e->digest);
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
    /* Whoever can read the file can act as anyone in it (or, with hashed tokens, learn who may
     * do what and try guesses offline); whoever can write it can add a token of their own. */
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        int e = errno;
        fclose(fp);
        return errbuf_set(err, errlen, "%s: cannot stat: %s", path, strerror(e));
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        fclose(fp);
        return errbuf_set(err, errlen,
                          "%s: mode %04o lets every user %s it; allow only fcrd's user (chmod 600) "
                          "or its group (chmod 640)",
                          path, (unsigned)(st.st_mode & 07777),
                          st.st_mode & S_IROTH ? "read" : "write");
    }
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
     * tokens is hidden: the probe is hashed once, each candidate costs one constant-time
     * comparison of 32 bytes, and the loop never stops early. */
    size_t plen = strnlen(token, TOKENS_MAX_LEN + 1);
    if (plen > TOKENS_MAX_LEN || plen == 0)
        return ROLE_NONE;
    unsigned char probe[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, plen, probe);
    size_t hit = 0; /* index + 1 of the match; load refuses duplicates, so at most one */
    for (size_t i = 0; i < t->n; i++) {
        uint32_t diff = (uint32_t)CRYPTO_memcmp(t->v[i].digest, probe, sizeof probe);
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
