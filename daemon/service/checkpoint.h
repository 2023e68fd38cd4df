/* checkpoint.h: signed checkpoints of the hash chains' heads, appended every interval to a file
 * outside the database, so that a rewrite of a chain (even by the schema owner, with triggers
 * off, the chain rehashed throughout) no longer matches what was signed before it. */
#ifndef FCRD_CHECKPOINT_H
#define FCRD_CHECKPOINT_H

#include <event2/event.h>
#include <openssl/evp.h>

#include "service/metrics.h"

struct checkpoint;

struct checkpoint_params {
    const char *conninfo;   /* copied */
    int connect_timeout_ms;
    int interval_s;         /* > 0 */
    const char *path;       /* the checkpoint file; copied */
    struct metrics *m;      /* borrowed; may be NULL */
};

/* checkpoint_new: its own database connection, a checkpoint as soon as it is up and then every
 * interval_s. key (an Ed25519 private key, checkpoint_sign_load_private) is taken over, also
 * when NULL is returned (out of memory). The loop never waits: the heads are read by an
 * asynchronous query, and the line is appended and synced by a thread of its own. */
struct checkpoint *checkpoint_new(struct event_base *base, const struct checkpoint_params *p, EVP_PKEY *key);

/* checkpoint_free: NULL-safe; waits for a line being written to be synced. Returns NULL. */
struct checkpoint *checkpoint_free(struct checkpoint *c);

#endif
