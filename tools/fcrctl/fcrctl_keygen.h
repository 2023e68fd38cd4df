/* fcrctl_keygen.h: `fcrctl audit keygen`, the Ed25519 key pair that signs fcrd's checkpoints. */
#ifndef FCRCTL_KEYGEN_H
#define FCRCTL_KEYGEN_H

#include <stddef.h>

/* fcrctl_keygen_write: a new key pair: the private key (PEM, PKCS#8) in a new file at out, mode
 * 0600, and its public key (PEM) in a new file out + ".pub", mode 0644. Neither may exist yet:
 * a key in use is never overwritten. The key id (as the checkpoints carry it) is written to
 * key_id (17 bytes). Returns 0, or an exit status with why (no file is left behind). */
int fcrctl_keygen_write(const char *out, char *key_id, char *why, size_t whylen);

#endif
