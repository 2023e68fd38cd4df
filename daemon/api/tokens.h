/* tokens.h: API bearer tokens and roles, read from the tokens file. */
#ifndef FCRD_TOKENS_H
#define FCRD_TOKENS_H

#include <stddef.h>

/* Roles in increasing order of rights; each has the rights of the ones before it, except that
 * ROLE_OPS may only read /metrics. */
enum role { ROLE_NONE = 0, ROLE_OPS, ROLE_AUDITOR, ROLE_SUPERVISOR, ROLE_DDM, ROLE_FCR };

struct tokens;

/* tokens_load: file lines "TOKEN USER-ID ROLE" separated by white space; '#' comments and blank
 * lines ignored; ROLE one of ops|auditor|supervisor|ddm|fcr; TOKEN either the token or
 * "sha256:" and the 64 lowercase hex digits of its SHA-256 (what tokens_hash prints). Returns 0
 * and *out, or -1 with a message naming file and line in err. Tokens shorter than 16 characters
 * are refused, and so is a file that every user may read or write (mode & 006). */
int tokens_load(const char *path, struct tokens **out, char *err, size_t errlen);
struct tokens *tokens_free(struct tokens *t); /* NULL-safe, returns NULL */

/* tokens_lookup: find the token (its SHA-256 compared in constant time with every entry). Returns the role and
 * sets *user (borrowed from t) or ROLE_NONE if unknown. */
enum role tokens_lookup(const struct tokens *t, const char *token, const char **user);

/* tokens_count: how many tokens were loaded (0 for NULL), e.g. for the startup log. */
size_t tokens_count(const struct tokens *t);

/* Limits of the file format: shorter tokens are refused as guessable; longer ones are refused so
 * that a lookup does a fixed amount of work per candidate. */
#define TOKENS_MIN_LEN 16
#define TOKENS_MAX_LEN 256
#define TOKENS_USER_MAX_LEN 64

/* The hashed form in the file: TOKENS_HASH_PREFIX and 64 lowercase hex digits. */
#define TOKENS_HASH_PREFIX "sha256:"
#define TOKENS_HASH_TEXT_LEN (sizeof TOKENS_HASH_PREFIX - 1 + 64)

/* tokens_hash: write the hashed form of token (NUL-terminated) into out, which holds at least
 * TOKENS_HASH_TEXT_LEN + 1 bytes. Returns 0, or -1 with err (never quoting the token) when the
 * token is not one the tokens file would accept. */
int tokens_hash(const char *token, char *out, size_t outlen, char *err, size_t errlen);

const char *role_name(enum role r);
int role_parse(const char *name); /* -1 if unknown */

#endif
