/* fcrctl_keygen.c: a new Ed25519 key pair for fcrd's signed checkpoints, written to two new files. */
#include "fcrctl_keygen.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fcrctl.h"
#include "service/checkpoint_sign.h"

/* Write one PEM file, created new with mode; returns 0 or errno (the file removed). */
static int fcrctl_keygen_file(const char *path, mode_t mode, EVP_PKEY *key, int private)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0)
        return errno;
    /* The mode given to open is cut by the umask; the private key's must be exactly 0600. */
    if (fchmod(fd, mode) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return e;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(path);
        return e;
    }
    int ok = private ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, key);
    int e = ok ? 0 : EIO;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        e = e ? e : errno;
    if (fclose(f) != 0)
        e = e ? e : errno;
    if (e)
        unlink(path);
    return e;
}

int fcrctl_keygen_write(const char *out, char *key_id, char *why, size_t whylen)
{
    char *pub = NULL;
    if (asprintf(&pub, "%s.pub", out) < 0) {
        snprintf(why, whylen, "out of memory");
        return FCRCTL_EXIT_FAILURE;
    }
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &key) != 1 ||
        checkpoint_sign_key_id(key, key_id) != 0) {
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(key);
        free(pub);
        snprintf(why, whylen, "libcrypto cannot make an Ed25519 key");
        return FCRCTL_EXIT_FAILURE;
    }
    EVP_PKEY_CTX_free(ctx);
    int rc = FCRCTL_EXIT_OK;
    int e = fcrctl_keygen_file(out, 0600, key, 1);
    if (e) {
        snprintf(why, whylen, "%s: %s%s", out, strerror(e), e == EEXIST ? " (a key is never overwritten)" : "");
        rc = FCRCTL_EXIT_USAGE;
    } else if ((e = fcrctl_keygen_file(pub, 0644, key, 0)) != 0) {
        unlink(out);
        snprintf(why, whylen, "%s: %s%s", pub, strerror(e), e == EEXIST ? " (a key is never overwritten)" : "");
        rc = FCRCTL_EXIT_USAGE;
    }
    EVP_PKEY_free(key);
    free(pub);
    return rc;
}
