/* fcrctl_chain.h: checking the audit trail's hash chains, one entry at a time in id order, so
 * that a trail of any length is checked in constant memory. */
#ifndef FCRCTL_CHAIN_H
#define FCRCTL_CHAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define FCRCTL_CHAIN_HASH_HEX 65 /* 64 lowercase hex digits and the terminator */
#define FCRCTL_CHAIN_MAX 16      /* chains are numbered 1..FCRCTL_CHAIN_MAX */
#define FCRCTL_CHAIN_ANCHORS_MAX 16

/* One chain's head: what has been checked of that chain so far. */
struct fcrctl_chain_head {
    long long count;   /* entries of this chain checked and found good */
    long long last_id; /* id of its last good entry (valid when count > 0) */
    char last_hash[FCRCTL_CHAIN_HASH_HEX]; /* its hash; "" before the chain's first entry */
};

/* An anchor: an entry's id and hash recorded by an earlier verification, outside the database.
 * It catches what the chains alone cannot: a chain cut short at its end, or a trail rebuilt and
 * rehashed wholesale. */
struct fcrctl_chain_anchor {
    long long id;
    bool seen;
    char hash[FCRCTL_CHAIN_HASH_HEX];
};

/* What has been checked so far, over all chains. Plain data of a fixed size: initialise with
 * fcrctl_chain_init, nothing to free. */
struct fcrctl_chain {
    long long count;   /* entries checked and found good, all chains together */
    long long last_id; /* id of the last good entry, the highest so far (valid when count > 0) */
    int last_chain;    /* the chain of that entry, 1..FCRCTL_CHAIN_MAX (valid when count > 0) */
    struct fcrctl_chain_head heads[FCRCTL_CHAIN_MAX]; /* heads[n - 1] is chain n */
    int n_anchors;
    struct fcrctl_chain_anchor anchors[FCRCTL_CHAIN_ANCHORS_MAX];
};

void fcrctl_chain_init(struct fcrctl_chain *c);

/* fcrctl_chain_head: chain n's head (n from 1 to FCRCTL_CHAIN_MAX), borrowed from *c. */
const struct fcrctl_chain_head *fcrctl_chain_head(const struct fcrctl_chain *c, int n);

/* fcrctl_chain_set_anchors: text is one "ID:HASH", as `audit verify` prints a chain's head, or
 * several separated by commas (at most FCRCTL_CHAIN_ANCHORS_MAX, each id once). They are added
 * to the anchors already set. Returns 0; or -1 with why, and no anchor added, when text is not
 * of that form. text is only read. */
int fcrctl_chain_set_anchors(struct fcrctl_chain *c, const char *text, char *why, size_t whylen);

/* fcrctl_chain_finish: after the last entry: 0, or -1 with why when an anchored entry never
 * came (the one with the lowest id is named). */
int fcrctl_chain_finish(const struct fcrctl_chain *c, char *why, size_t whylen);

/* fcrctl_chain_sha256_hex: lowercase hex SHA-256 of prev (a C string) followed by len bytes of
 * text. Returns 0, or -1 when libcrypto fails. */
int fcrctl_chain_sha256_hex(const char *prev, const char *text, size_t len, char out[FCRCTL_CHAIN_HASH_HEX]);

/* fcrctl_chain_add: check the next audit item (as GET /v1/audit lists it, the whole trail in id
 * order) against what came before: its id comes after the last one of any chain; its `chain`
 * member, when present, is an integer from 1 to FCRCTL_CHAIN_MAX (absent: chain 1, as a trail
 * written before there were several chains); its prev_hash is the hash of the last entry of
 * the same chain ("" before that chain's first); its hash is SHA-256(prev_hash || entry); the
 * JSON object in `entry` agrees with the item's own fields; and an anchored entry has the
 * anchored hash and is not skipped. Returns 0 and advances *c; or -1, *c unchanged, with the
 * reason in why (the caller names the entry: its id, when it has one, is in *id_out, else
 * *id_out is -1). item is only read. */
int fcrctl_chain_add(struct fcrctl_chain *c, const json_t *item, long long *id_out, char *why, size_t whylen);

#endif
