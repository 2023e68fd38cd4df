/* test_checkpoint_sign.c: the checkpoints' canonical text, byte for byte; Ed25519 signing and
 * checking (RFC 8032's first test vector, a signed line read back, and every kind of change to
 * it refused); key ids; and the private key refused when its group or other users may read it. */
#include <check.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/checkpoint_sign.h"
#include "check_run.h"

#define H1 "9b74c9897bac770ffc029102a200c5de0b9f0e9f1b2e5c4a3d6e7f8091a2b3c4"
#define H2 "0000000000000000000000000000000000000000000000000000000000000001"

static const struct checkpoint_head heads[2] = {
    {"audit.1", 1081, H1},
    {"audit.2", 1083, H2},
};

START_TEST(canonical_text)
{
    size_t len = 0;
    char *text = checkpoint_sign_canonical("2026-12-07T12:00:00Z", heads, 2, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_str_eq(text, "fcrd-checkpoint-v1\n"
                           "time 2026-12-07T12:00:00Z\n"
                           "head audit.1 1081 " H1 "\n"
                           "head audit.2 1083 " H2 "\n");
    ck_assert_uint_eq(len, strlen(text));
    free(text);
    text = checkpoint_sign_canonical("2026-12-07T12:00:00Z", heads, 0, &len);
    ck_assert_str_eq(text, "fcrd-checkpoint-v1\ntime 2026-12-07T12:00:00Z\n");
    free(text);

    /* Nothing that could be read back two ways. */
    struct checkpoint_head bad = heads[0];
    snprintf(bad.chain, sizeof(bad.chain), "audit 1");
    ck_assert_ptr_null(checkpoint_sign_canonical("2026-12-07T12:00:00Z", &bad, 1, &len));
    bad = heads[0];
    bad.hash[5] = 'A';
    ck_assert_ptr_null(checkpoint_sign_canonical("2026-12-07T12:00:00Z", &bad, 1, &len));
    bad = heads[0];
    bad.last_id = -1;
    ck_assert_ptr_null(checkpoint_sign_canonical("2026-12-07T12:00:00Z", &bad, 1, &len));
    ck_assert_ptr_null(checkpoint_sign_canonical("2026-12-07 12:00:00Z", heads, 2, &len));
    ck_assert_ptr_null(checkpoint_sign_canonical("2026\nhead", heads, 2, &len));
    ck_assert_ptr_null(checkpoint_sign_canonical("", heads, 2, &len));
    ck_assert(checkpoint_sign_chain_ok("access"));
    ck_assert(!checkpoint_sign_chain_ok(""));
    ck_assert(!checkpoint_sign_chain_ok("Audit.1"));
    ck_assert(!checkpoint_sign_chain_ok("a23456789012345678901234567890123"));
}
END_TEST

/* RFC 8032, section 7.1, TEST 1: the empty message. */
START_TEST(rfc8032_vector)
{
    static const unsigned char secret[32] = {
        0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
        0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
    static const char sig[] = "5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQCw==";
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, secret, sizeof(secret));
    ck_assert_ptr_nonnull(key);
    ck_assert(checkpoint_sign_verify(key, "", 0, sig));
    ck_assert(!checkpoint_sign_verify(key, "x", 1, sig));
    char id[CHECKPOINT_KEY_ID_LEN];
    ck_assert_int_eq(checkpoint_sign_key_id(key, id), 0);
    ck_assert_str_eq(id, "21fe31dfa154a261"); /* sha256 of the raw public key d75a9801…, cut */
    EVP_PKEY_free(key);
}
END_TEST

static EVP_PKEY *new_key(void)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    ck_assert(ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &key) == 1);
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* The canonical text of a line as fcrctl reads it back. */
static char *canonical_of(const json_t *doc, size_t *len)
{
    struct checkpoint_head hs[CHECKPOINT_HEADS_MAX];
    size_t i;
    const json_t *h;
    json_array_foreach(json_object_get(doc, "heads"), i, h)
    {
        snprintf(hs[i].chain, sizeof(hs[i].chain), "%s", json_string_value(json_object_get(h, "chain")));
        hs[i].last_id = (long long)json_integer_value(json_object_get(h, "last_id"));
        snprintf(hs[i].hash, sizeof(hs[i].hash), "%s", json_string_value(json_object_get(h, "hash")));
    }
    return checkpoint_sign_canonical(json_string_value(json_object_get(doc, "time")), hs,
                                     json_array_size(json_object_get(doc, "heads")), len);
}

static bool line_verifies(EVP_PKEY *pub, json_t *doc)
{
    size_t len;
    char *text = canonical_of(doc, &len);
    bool ok = text && checkpoint_sign_verify(pub, text, len, json_string_value(json_object_get(doc, "signature")));
    free(text);
    return ok;
}

START_TEST(signed_line_reads_back)
{
    EVP_PKEY *key = new_key(), *other = new_key();
    char err[256];
    char *line = checkpoint_sign_line(key, 1796644800123LL, heads, 2, err, sizeof(err));
    ck_assert_msg(line != NULL, "%s", err);
    ck_assert(line[strlen(line) - 1] == '\n');
    ck_assert(strchr(line, '\n') == line + strlen(line) - 1); /* one line */
    json_t *doc = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
    ck_assert_ptr_nonnull(doc);
    ck_assert_uint_eq(json_object_size(doc), 4);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "time")), "2026-12-07T12:00:00.123Z");
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "heads")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(doc, "heads"), 1), "last_id")),
                     1083);
    char id[CHECKPOINT_KEY_ID_LEN];
    ck_assert_int_eq(checkpoint_sign_key_id(key, id), 0);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "key_id")), id);
    ck_assert(line_verifies(key, doc));
    ck_assert(!line_verifies(other, doc));

    /* A changed hash, id, chain, time or signature is refused. */
    json_t *h = json_array_get(json_object_get(doc, "heads"), 0);
    json_object_set_new(h, "hash", json_string(H2));
    ck_assert(!line_verifies(key, doc));
    json_object_set_new(h, "hash", json_string(H1));
    ck_assert(line_verifies(key, doc));
    json_object_set_new(h, "last_id", json_integer(1080));
    ck_assert(!line_verifies(key, doc));
    json_object_set_new(h, "last_id", json_integer(1081));
    json_object_set_new(h, "chain", json_string("audit.3"));
    ck_assert(!line_verifies(key, doc));
    json_object_set_new(h, "chain", json_string("audit.1"));
    json_object_set_new(doc, "time", json_string("2026-12-07T12:00:00.124Z"));
    ck_assert(!line_verifies(key, doc));
    json_object_set_new(doc, "time", json_string("2026-12-07T12:00:00.123Z"));
    ck_assert(line_verifies(key, doc));
    char sig[100];
    snprintf(sig, sizeof(sig), "%s", json_string_value(json_object_get(doc, "signature")));
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    json_object_set_new(doc, "signature", json_string(sig));
    ck_assert(!line_verifies(key, doc));
    json_object_set_new(doc, "signature", json_string("not base64 at all"));
    ck_assert(!line_verifies(key, doc));
    /* Heads swapped: the order is signed too. */
    json_decref(doc);
    doc = json_loads(line, 0, NULL);
    json_t *arr = json_object_get(doc, "heads");
    json_t *first = json_incref(json_array_get(arr, 0));
    json_array_remove(arr, 0);
    json_array_append_new(arr, first);
    ck_assert(!line_verifies(key, doc));
    json_decref(doc);
    free(line);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}
END_TEST

static void write_key(const char *path, EVP_PKEY *key, bool private, mode_t mode)
{
    unlink(path);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert(private ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, key));
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(key_files)
{
    char dir[] = "/tmp/fcrd-ckpt-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char priv[128], pub[128];
    snprintf(priv, sizeof(priv), "%s/key", dir);
    snprintf(pub, sizeof(pub), "%s/key.pub", dir);
    EVP_PKEY *key = new_key();
    char err[512], a[CHECKPOINT_KEY_ID_LEN], b[CHECKPOINT_KEY_ID_LEN];

    write_key(priv, key, true, 0600);
    EVP_PKEY *loaded = checkpoint_sign_load_private(priv, err, sizeof(err));
    ck_assert_msg(loaded != NULL, "%s", err);
    ck_assert_int_eq(checkpoint_sign_key_id(key, a), 0);
    ck_assert_int_eq(checkpoint_sign_key_id(loaded, b), 0);
    ck_assert_str_eq(a, b);
    EVP_PKEY_free(loaded);

    /* Whoever may read it may sign a rewritten trail's checkpoints. */
    static const mode_t open_modes[] = {0640, 0604, 0644, 0620};
    for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++) {
        ck_assert_int_eq(chmod(priv, open_modes[i]), 0);
        ck_assert_ptr_null(checkpoint_sign_load_private(priv, err, sizeof(err)));
        ck_assert_msg(strstr(err, priv) && strstr(err, "chmod 600"), "%s", err);
    }
    ck_assert_int_eq(chmod(priv, 0400), 0);
    loaded = checkpoint_sign_load_private(priv, err, sizeof(err));
    ck_assert_msg(loaded != NULL, "%s", err);
    EVP_PKEY_free(loaded);

    /* The public key loads as one; a private key file is not a public key, and the reverse. */
    write_key(pub, key, false, 0644);
    EVP_PKEY *p = checkpoint_sign_load_public(pub, err, sizeof(err));
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(checkpoint_sign_key_id(p, b), 0);
    ck_assert_str_eq(a, b);
    EVP_PKEY_free(p);
    ck_assert_int_eq(chmod(priv, 0600), 0);
    ck_assert_ptr_null(checkpoint_sign_load_public(priv, err, sizeof(err)));
    ck_assert_msg(strstr(err, priv) != NULL, "%s", err);
    ck_assert_int_eq(chmod(pub, 0600), 0);
    ck_assert_ptr_null(checkpoint_sign_load_private(pub, err, sizeof(err)));
    ck_assert_msg(strstr(err, pub) != NULL, "%s", err);

    /* Another kind of key is refused, naming it. */
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(ec);
    write_key(priv, ec, true, 0600);
    ck_assert_ptr_null(checkpoint_sign_load_private(priv, err, sizeof(err)));
    ck_assert_msg(strstr(err, "not an Ed25519") != NULL, "%s", err);
    EVP_PKEY_free(ec);

    char missing[160];
    snprintf(missing, sizeof(missing), "%s/none", dir);
    ck_assert_ptr_null(checkpoint_sign_load_private(missing, err, sizeof(err)));
    ck_assert_msg(strstr(err, missing) != NULL, "%s", err);

    unlink(priv);
    unlink(pub);
    rmdir(dir);
    EVP_PKEY_free(key);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoint_sign");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, canonical_text);
    tcase_add_test(tc, rfc8032_vector);
    tcase_add_test(tc, signed_line_reads_back);
    tcase_add_test(tc, key_files);
    suite_add_tcase(s, tc);
    return check_run(s);
}
