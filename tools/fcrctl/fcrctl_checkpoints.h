/* fcrctl_checkpoints.h: fcrd's signed checkpoints of the hash chains' heads ([audit]
 * checkpoint_file), their signatures checked, then held against the trail as `audit verify`
 * walks it: a checkpointed entry must still be there, in its chain, with the hash signed. */
#ifndef FCRCTL_CHECKPOINTS_H
#define FCRCTL_CHECKPOINTS_H

#include <stddef.h>

#include "fcrctl_chain.h"

/* One head of one checkpoint: entry id of chain `chain` had `hash` at `time` (line `line`). */
struct fcrctl_checkpoints_head {
    long long id;
    int chain; /* 1..FCRCTL_CHAIN_MAX */
    size_t line;
    char time[40];
    char hash[FCRCTL_CHAIN_HASH_HEX];
};

/* Every checkpointed head, by id (then line); how far the walk has come. Initialise with
 * fcrctl_checkpoints_load, free with fcrctl_checkpoints_clear. */
struct fcrctl_checkpoints {
    struct fcrctl_checkpoints_head *heads;
    size_t n, next;    /* heads[next] is the first not yet met in the trail */
    size_t lines;      /* checkpoints read and found signed */
    size_t other;      /* heads of chains that audit verify does not walk (not "audit.N") */
    long long matched[FCRCTL_CHAIN_MAX]; /* per chain: the highest checkpointed id met and matching, 0 none */
};

/* fcrctl_checkpoints_load: read the checkpoint file at path and check every line's signature
 * with the Ed25519 public key in the PEM file at pubkey. Returns 0; FCRCTL_EXIT_USAGE when a file
 * cannot be read or the key is not an Ed25519 public key; FCRCTL_EXIT_CHAIN when a line is not a
 * checkpoint, is signed by another key, or its signature does not verify (why names the line);
 * FCRCTL_EXIT_FAILURE when out of memory. *c is empty (nothing to clear) unless 0 is returned. */
int fcrctl_checkpoints_load(struct fcrctl_checkpoints *c, const char *path, const char *pubkey, char *why,
                            size_t whylen);

/* fcrctl_checkpoints_entry: the trail's next entry, in id order, once fcrctl_chain_add has found
 * it good. Returns 0; or -1 with why, when a checkpointed entry with a lower id was never met
 * (cut short or rewritten) or this one's chain or hash differs from a checkpoint's. why names the
 * chain, the entry, the checkpoint's time and line, both hashes, and the ids between which the
 * chain was changed. hash is only read. */
int fcrctl_checkpoints_entry(struct fcrctl_checkpoints *c, long long id, int chain, const char *hash, char *why,
                             size_t whylen);

/* fcrctl_checkpoints_finish: after the trail's last entry: 0, or -1 with why naming the first
 * checkpointed entry never met (the trail was cut short). */
int fcrctl_checkpoints_finish(struct fcrctl_checkpoints *c, char *why, size_t whylen);

void fcrctl_checkpoints_clear(struct fcrctl_checkpoints *c);

#endif
