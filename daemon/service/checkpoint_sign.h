/* checkpoint_sign.h: signed checkpoints of the hash chains' heads: their canonical text, the
 * JSON line fcrd appends to the checkpoint file, Ed25519 signing and checking, and the keys.
 * fcrd writes the lines; `fcrctl audit verify --checkpoints` checks them with the public key. */
#ifndef FCRD_CHECKPOINT_SIGN_H
#define FCRD_CHECKPOINT_SIGN_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHECKPOINT_CHAIN_LEN 32   /* a chain's name and its terminator, at most */
#define CHECKPOINT_HASH_HEX 65    /* 64 lowercase hex digits and the terminator */
#define CHECKPOINT_KEY_ID_LEN 17  /* 16 lowercase hex digits and the terminator */
#define CHECKPOINT_HEADS_MAX 64   /* heads in one checkpoint, at most */

/* One chain's head as chain_heads() gives it: the chain's name ("audit.1"), and the id and hash
 * of the chain's last entry. */
struct checkpoint_head {
    char chain[CHECKPOINT_CHAIN_LEN];
    long long last_id;
    char hash[CHECKPOINT_HASH_HEX];
};

/* checkpoint_sign_chain_ok: 1 to 31 of [a-z0-9._-]. checkpoint_sign_hash_ok: 64 lowercase hex. */
bool checkpoint_sign_chain_ok(const char *s);
bool checkpoint_sign_hash_ok(const char *s);

/* checkpoint_sign_canonical: the text that is signed, for `time` (RFC 3339, as written in the
 * line) and the heads in the order given:
 *     "fcrd-checkpoint-v1\ntime <time>\n" then "head <chain> <last_id> <hash>\n" per head.
 * Returns it NUL-terminated (owned by the caller, free()), length in *len; NULL when out of memory
 * or a head's chain or hash is not of its form. */
char *checkpoint_sign_canonical(const char *time, const struct checkpoint_head *heads, size_t n, size_t *len);

/* checkpoint_sign_load_private: the Ed25519 private key in the PEM file at path (owned by the
 * caller, EVP_PKEY_free). Refused, with err naming the file, when it cannot be read, is not a
 * regular file, is not an Ed25519 key, or its group or other users may read or write it: whoever
 * reads it can sign checkpoints of a rewritten trail. */
EVP_PKEY *checkpoint_sign_load_private(const char *path, char *err, size_t errlen);

/* checkpoint_sign_load_public: the Ed25519 public key in the PEM file at path ("-----BEGIN
 * PUBLIC KEY-----"), owned by the caller; NULL with err naming the file. */
EVP_PKEY *checkpoint_sign_load_public(const char *path, char *err, size_t errlen);

/* checkpoint_sign_key_id: the first 16 lowercase hex digits of SHA-256 over the key's raw 32-byte
 * public key (of a private key, its public half). Returns 0, or -1. */
int checkpoint_sign_key_id(EVP_PKEY *key, char out[CHECKPOINT_KEY_ID_LEN]);

/* checkpoint_sign_line: one checkpoint file line, '\n'-terminated:
 *     {"time":…,"heads":[{"chain":…,"last_id":…,"hash":…},…],"key_id":…,"signature":…}
 * with time_ms written as RFC 3339 UTC and signature the base64 Ed25519 signature of the
 * canonical text. Returns it (owned by the caller, free()), or NULL with err. */
char *checkpoint_sign_line(EVP_PKEY *key, int64_t time_ms, const struct checkpoint_head *heads, size_t n, char *err,
                           size_t errlen);

/* checkpoint_sign_verify: whether signature (base64) is pub's Ed25519 signature of the len bytes
 * at text. */
bool checkpoint_sign_verify(EVP_PKEY *pub, const char *text, size_t len, const char *signature);

/* checkpoint_sign_digest: the first 16 hex digits of SHA-256 over text, for the journal line
 * that stands for a checkpoint without listing every head. Returns 0, or -1. */
int checkpoint_sign_digest(const char *text, size_t len, char out[CHECKPOINT_KEY_ID_LEN]);

#endif
