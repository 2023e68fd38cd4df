/* checkpoint_sign.c: canonical text, Ed25519 signatures and keys of the chain-head checkpoints. */
#include "service/checkpoint_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/errbuf.h"
#include "util/timefmt.h"

#define CHECKPOINT_SIG_LEN 64 /* an Ed25519 signature */

bool checkpoint_sign_chain_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n >= 1 && n < CHECKPOINT_CHAIN_LEN;
}

bool checkpoint_sign_hash_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == CHECKPOINT_HASH_HEX - 1;
}

char *checkpoint_sign_canonical(const char *time, const struct checkpoint_head *heads, size_t n, size_t *len)
{
    /* Every field is of a fixed alphabet without spaces or newlines, so the text reads back one
     * way only: no escaping is needed, and none can be got wrong. */
    if (!time || !*time || strpbrk(time, " \n") || strlen(time) > 64)
        return NULL;
    size_t cap = 64 + strlen(time) + n * (8 + CHECKPOINT_CHAIN_LEN + 21 + CHECKPOINT_HASH_HEX);
    char *text = malloc(cap);
    if (!text)
        return NULL;
    size_t used = (size_t)snprintf(text, cap, "fcrd-checkpoint-v1\ntime %s\n", time);
    for (size_t i = 0; i < n; i++) {
        if (!checkpoint_sign_chain_ok(heads[i].chain) || !checkpoint_sign_hash_ok(heads[i].hash) ||
            heads[i].last_id < 0) {
            free(text);
            return NULL;
        }
        used += (size_t)snprintf(text + used, cap - used, "head %s %lld %s\n", heads[i].chain, heads[i].last_id,
                                 heads[i].hash);
    }
    *len = used;
    return text;
}

static void checkpoint_sign_ssl_error(char *err, size_t errlen, const char *path, const char *what)
{
    char detail[256] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    errbuf_set(err, errlen, "%s: %s%s%s", path, what, *detail ? ": " : "", detail);
}

/* key when it is an Ed25519 key; else NULL, key freed, err naming path. */
static EVP_PKEY *checkpoint_sign_ed25519(EVP_PKEY *key, const char *path, bool private, char *err, size_t errlen)
{
    const char *what = private ? "private key" : "public key";
    if (key && EVP_PKEY_get_id(key) == EVP_PKEY_ED25519)
        return key;
    if (key)
        errbuf_set(err, errlen, "%s: not an Ed25519 %s (create one with 'fcrctl audit keygen')", path, what);
    else
        checkpoint_sign_ssl_error(err, errlen, path, private ? "not a PEM private key" : "not a PEM public key");
    EVP_PKEY_free(key);
    return NULL;
}

EVP_PKEY *checkpoint_sign_load_private(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        errbuf_set(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        errbuf_set(err, errlen, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        errbuf_set(err, errlen,
                   "%s: mode %04o lets %s read or change the checkpoint signing key; allow only fcrd's user "
                   "(chmod 600)",
                   path, (unsigned)(st.st_mode & 07777), st.st_mode & S_IRWXO ? "every user" : "its group");
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        errbuf_set(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return checkpoint_sign_ed25519(key, path, true, err, errlen);
}

EVP_PKEY *checkpoint_sign_load_public(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        errbuf_set(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    return checkpoint_sign_ed25519(key, path, false, err, errlen);
}

static void checkpoint_sign_hex16(const unsigned char *md, char out[CHECKPOINT_KEY_ID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[16] = '\0';
}

int checkpoint_sign_digest(const char *text, size_t len, char out[CHECKPOINT_KEY_ID_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return -1;
    checkpoint_sign_hex16(md, out);
    return 0;
}

int checkpoint_sign_key_id(EVP_PKEY *key, char out[CHECKPOINT_KEY_ID_LEN])
{
    unsigned char raw[32];
    size_t rawlen = sizeof(raw);
    if (!key || EVP_PKEY_get_raw_public_key(key, raw, &rawlen) != 1 || rawlen != sizeof(raw))
        return -1;
    return checkpoint_sign_digest((const char *)raw, rawlen, out);
}

/* The base64 Ed25519 signature of text (owned by the caller), or NULL. */
static char *checkpoint_sign_text(EVP_PKEY *key, const char *text, size_t len)
{
    unsigned char sig[CHECKPOINT_SIG_LEN];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* Ed25519 hashes the message itself: no digest is named. */
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)text, len) == 1 && siglen == sizeof(sig);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return NULL;
    char *b64 = malloc(4 * ((CHECKPOINT_SIG_LEN + 2) / 3) + 1);
    if (b64)
        EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
    return b64;
}

bool checkpoint_sign_verify(EVP_PKEY *pub, const char *text, size_t len, const char *signature)
{
    /* 64 bytes are 88 base64 characters, the last two '=' padding; EVP_DecodeBlock counts the
     * padding as zero bytes, hence the fixed length. */
    if (!pub || !signature || strlen(signature) != 88 || strcmp(signature + 86, "==") != 0)
        return false;
    unsigned char sig[CHECKPOINT_SIG_LEN + 3];
    if (EVP_DecodeBlock(sig, (const unsigned char *)signature, 88) != CHECKPOINT_SIG_LEN + 2)
        return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) == 1 &&
              EVP_DigestVerify(ctx, sig, CHECKPOINT_SIG_LEN, (const unsigned char *)text, len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

char *checkpoint_sign_line(EVP_PKEY *key, int64_t time_ms, const struct checkpoint_head *heads, size_t n, char *err,
                           size_t errlen)
{
    char time[TIMEFMT_LEN], key_id[CHECKPOINT_KEY_ID_LEN];
    timefmt_format(time_ms, time);
    size_t len = 0;
    char *text = checkpoint_sign_canonical(time, heads, n, &len);
    if (!text) {
        errbuf_set(err, errlen, "a head is not of its form, or out of memory");
        return NULL;
    }
    char *sig = checkpoint_sign_text(key, text, len);
    free(text);
    if (!sig || checkpoint_sign_key_id(key, key_id) != 0) {
        free(sig);
        checkpoint_sign_ssl_error(err, errlen, "checkpoint", "cannot sign");
        return NULL;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (json_array_append_new(arr, json_pack("{s:s, s:I, s:s}", "chain", heads[i].chain, "last_id",
                                                 (json_int_t)heads[i].last_id, "hash", heads[i].hash)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    json_t *doc = arr ? json_pack("{s:s, s:o, s:s, s:s}", "time", time, "heads", arr, "key_id", key_id,
                                  "signature", sig)
                      : NULL;
    free(sig);
    char *body = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    char *line = NULL;
    if (body) {
        size_t blen = strlen(body);
        line = malloc(blen + 2);
        if (line) {
            memcpy(line, body, blen);
            line[blen] = '\n';
            line[blen + 1] = '\0';
        }
    }
    free(body);
    if (!line)
        errbuf_set(err, errlen, "out of memory");
    return line;
}
