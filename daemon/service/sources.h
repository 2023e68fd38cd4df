/* sources.h: the [sources] table: which control room (source) a feed connection speaks for, by
 * its client certificate's subject, its Unix socket peer's user, or its coming from loopback. */
#ifndef FCRD_SOURCES_H
#define FCRD_SOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Longest source name; names are [A-Za-z0-9_.-], so they go into logs and SQL rows as they are. */
#define SOURCES_NAME_MAX 64

/* The source of every connection when the file has no [sources] section; reserved (no entry may
 * take the name), so that an incident it wrote never looks like a named room's. */
#define SOURCES_DEFAULT "default"

struct sources;

/* What is known about a connection's peer when it is identified. */
struct sources_peer {
    const char *subject; /* client certificate subject, RFC 2253 one-line form; NULL: none */
    bool has_uid;        /* a Unix socket peer whose credentials were read (SO_PEERCRED) */
    uid_t uid;
    bool loopback;       /* a TCP peer at a loopback address (127.0.0.0/8, ::1) */
};

/* sources_new: an empty table (caller frees with sources_free). NULL when out of memory. */
struct sources *sources_new(void);
struct sources *sources_free(struct sources *s); /* NULL-safe; returns NULL */

/* sources_add: one line of the section, `name = value`. value is a comma-separated list of
 *   subject:RFC2253-SUBJECT   the whole subject, exactly as `openssl x509 -noout -subject
 *                             -nameopt RFC2253` prints it (its own commas stay: a comma starts
 *                             the next item only when one of these four words follows it)
 *   uid:N                     a Unix socket peer running as user id N
 *   user:NAME                 the same, by name (looked up now: the user must exist)
 *   loopback                  a TCP connection from a loopback address without a listed subject
 * Returns 0, or -1 with the reason in why (names the item): a bad name, a bad or empty item, the
 * name given twice, or an identity another source already has. */
int sources_add(struct sources *s, const char *name, const char *value, char *why, size_t whylen);

/* sources_count: how many sources the table names. */
size_t sources_count(const struct sources *s);

/* sources_match: the name of the source the peer speaks for (borrowed from s), or NULL when no
 * entry matches. The subject is tried first, then the user id, then loopback: a certificate names
 * its room more precisely than the address it comes from. */
const char *sources_match(const struct sources *s, const struct sources_peer *peer);

/* sources_equal: same names with the same identities, in the same order (NULL equals NULL). */
bool sources_equal(const struct sources *a, const struct sources *b);

/* sources_valid_name: [A-Za-z0-9_.-]{1,SOURCES_NAME_MAX}. */
bool sources_valid_name(const char *name);

#endif
