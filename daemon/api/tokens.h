/* tokens.h: API bearer tokens and roles, read from the tokens file. */
#ifndef FCRD_TOKENS_H
#define FCRD_TOKENS_H

#include <stddef.h>

/* Roles in increasing order of rights; each has the rights of the ones before it, except that
 * ROLE_OPS may only read /metrics. */
enum role { ROLE_NONE = 0, ROLE_OPS, ROLE_AUDITOR, ROLE_SUPERVISOR, ROLE_DDM, ROLE_FCR };

struct tokens;

/* tokens_load: file lines "TOKEN USER-ID ROLE" separated by white space; '#' comments and blank
 * lines ignored; ROLE one of ops|auditor|supervisor|ddm|fcr. Returns 0 and *out, or -1 with a
 * message naming file and line in err. Tokens shorter than 16 characters are refused. */
int tokens_load(const char *path, struct tokens **out, char *err, size_t errlen);
struct tokens *tokens_free(struct tokens *t); /* NULL-safe, returns NULL */

/* tokens_lookup: find the token (compared in constant time per candidate). Returns the role and
 * sets *user (borrowed from t) or ROLE_NONE if unknown. */
enum role tokens_lookup(const struct tokens *t, const char *token, const char **user);

/* tokens_count: how many tokens were loaded (0 for NULL), e.g. for the startup log. */
size_t tokens_count(const struct tokens *t);

/* Limits of the file format: shorter tokens are refused as guessable; longer ones are refused so
 * that a lookup does a fixed amount of work per candidate. */
#define TOKENS_MIN_LEN 16
#define TOKENS_MAX_LEN 256
#define TOKENS_USER_MAX_LEN 64

const char *role_name(enum role r);
int role_parse(const char *name); /* -1 if unknown */

#endif
