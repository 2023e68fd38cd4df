/* fcrctl_chain.h: checking the audit trail's hash chain, one entry at a time in id order, so
 * that a trail of any length is checked in constant memory. */
#ifndef FCRCTL_CHAIN_H
#define FCRCTL_CHAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define FCRCTL_CHAIN_HASH_HEX 65 /* 64 lowercase hex digits and the terminator */

/* What has been checked so far. Plain data: initialise with fcrctl_chain_init, nothing to free. */
struct fcrctl_chain {
    long long count;   /* entries checked and found good */
    long long last_id; /* id of the last good entry (valid when count > 0) */
    char last_hash[FCRCTL_CHAIN_HASH_HEX];
    /* An anchor: an entry's id and hash recorded by an earlier verification, outside the
     * database. It catches what the chain alone cannot: a trail cut short at its end, or
     * rebuilt and rehashed wholesale. */
    bool has_anchor, anchor_seen;
    long long anchor_id;
    char anchor_hash[FCRCTL_CHAIN_HASH_HEX];
};

void fcrctl_chain_init(struct fcrctl_chain *c);

/* fcrctl_chain_set_anchor: text is "ID:HASH" as `audit verify` prints the head. Returns 0, or
 * -1 when it is not of that form. */
int fcrctl_chain_set_anchor(struct fcrctl_chain *c, const char *text);

/* fcrctl_chain_finish: after the last entry: 0, or -1 with why when an anchor was set and its
 * entry never came. */
int fcrctl_chain_finish(const struct fcrctl_chain *c, char *why, size_t whylen);

/* fcrctl_chain_sha256_hex: lowercase hex SHA-256 of prev (a C string) followed by len bytes of
 * text. Returns 0, or -1 when libcrypto fails. */
int fcrctl_chain_sha256_hex(const char *prev, const char *text, size_t len, char out[FCRCTL_CHAIN_HASH_HEX]);

/* fcrctl_chain_add: check the next audit item (as GET /v1/audit lists it) against the chain so
 * far: its id comes after the last one, its prev_hash is the last entry's hash ("" before the
 * first), its hash is SHA-256(prev_hash || entry), and the JSON object in `entry` agrees with
 * the item's own fields; and the anchor's entry, if one is set, has the anchored hash and is
 * not skipped. Returns 0 and advances *c; or -1, *c unchanged, with the reason in why
 * (the caller names the entry: its id, when it has one, is in *id_out, else *id_out is -1). */
int fcrctl_chain_add(struct fcrctl_chain *c, const json_t *item, long long *id_out, char *why, size_t whylen);

#endif
