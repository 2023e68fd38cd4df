/* audit.h: the audit trail's hash chain. Each entry is kept with the exact canonical text that
 * was hashed, so that anyone can recompute the chain without re-serialising anything. */
#ifndef FCRD_AUDIT_H
#define FCRD_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_HASH_HEX 65 /* 64 hex digits and the terminator */

/* The fields an entry's canonical text holds, in the audit table's column names. */
extern const char *const audit_fields[];

/* audit_canonical: the canonical text of an entry: a compact JSON object of audit_fields (absent
 * ones as null), keys sorted. Malloc'd; caller frees. */
char *audit_canonical(const json_t *entry);

/* audit_hash: hex SHA-256 of prev_hash (hex text, "" for the first entry) followed by `text`.
 * Returns 0 or -1 if the digest is unavailable. */
int audit_hash(const char *prev_hash, const char *text, char out[AUDIT_HASH_HEX]);

/* audit_chain: for each entry of `entries` in order, set "at" (at_ms, RFC 3339) when absent,
 * "entry", "prev_hash" and "hash", chaining from *head (the previous head, updated to the last
 * hash). Returns 0 or -1. */
int audit_chain(json_t *entries, int64_t at_ms, char head[AUDIT_HASH_HEX]);

#endif
