/* fcrctl_chain.c: audit hash-chain verification, several chains interleaved in one trail, SHA-256
 * from OpenSSL's libcrypto. */
#include "fcrctl_chain.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timefmt.h"

/* The structured fields that the hashed entry text holds, by the audit table's column names.
 * Listed here rather than taken from the daemon's audit code on purpose: a check that shared
 * the writer's code would share its mistakes. */
static const char *const fcrctl_chain_fields[] = {"action", "actor", "after", "allegation", "at", "before", "crn",
                                                  "event_id", "incident_id", "pending_id", "role", "rules", "ruleset",
                                                  "ruleset_sha256", NULL};

void fcrctl_chain_init(struct fcrctl_chain *c)
{
    memset(c, 0, sizeof(*c));
}

const struct fcrctl_chain_head *fcrctl_chain_head(const struct fcrctl_chain *c, int n)
{
    return n >= 1 && n <= FCRCTL_CHAIN_MAX ? &c->heads[n - 1] : NULL;
}

/* One "ID:HASH", the len bytes at text. */
static int fcrctl_chain_parse_anchor(const char *text, size_t len, struct fcrctl_chain_anchor *out)
{
    const char *end = text + len;
    const char *colon = memchr(text, ':', len);
    if (!colon || colon == text || colon - text > 18 || (size_t)(end - colon - 1) != FCRCTL_CHAIN_HASH_HEX - 1)
        return -1;
    long long id = 0;
    for (const char *p = text; p < colon; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        id = id * 10 + (*p - '0');
    }
    for (const char *p = colon + 1; p < end; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return -1;
    out->id = id;
    out->seen = false;
    memcpy(out->hash, colon + 1, FCRCTL_CHAIN_HASH_HEX - 1);
    out->hash[FCRCTL_CHAIN_HASH_HEX - 1] = '\0';
    return 0;
}

int fcrctl_chain_set_anchors(struct fcrctl_chain *c, const char *text, char *why, size_t whylen)
{
    struct fcrctl_chain_anchor parsed[FCRCTL_CHAIN_ANCHORS_MAX];
    int n = 0;
    for (const char *p = text;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (c->n_anchors + n == FCRCTL_CHAIN_ANCHORS_MAX) {
            snprintf(why, whylen, "at most %d anchors", FCRCTL_CHAIN_ANCHORS_MAX);
            return -1;
        }
        if (fcrctl_chain_parse_anchor(p, len, &parsed[n]) != 0) {
            snprintf(why, whylen, "an anchor is ID:HASH as 'audit verify' prints a head, not '%.*s'",
                     len > 100 ? 100 : (int)len, p);
            return -1;
        }
        for (int i = 0; i < c->n_anchors + n; i++) {
            const struct fcrctl_chain_anchor *o = i < c->n_anchors ? &c->anchors[i] : &parsed[i - c->n_anchors];
            if (o->id == parsed[n].id) {
                snprintf(why, whylen, "entry %lld is anchored twice", o->id);
                return -1;
            }
        }
        n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    memcpy(&c->anchors[c->n_anchors], parsed, (size_t)n * sizeof(parsed[0]));
    c->n_anchors += n;
    return 0;
}

/* The unseen anchor with the lowest id, or NULL when every anchor was seen. */
static const struct fcrctl_chain_anchor *fcrctl_chain_unseen(const struct fcrctl_chain *c)
{
    const struct fcrctl_chain_anchor *first = NULL;
    for (int i = 0; i < c->n_anchors; i++)
        if (!c->anchors[i].seen && (!first || c->anchors[i].id < first->id))
            first = &c->anchors[i];
    return first;
}

int fcrctl_chain_finish(const struct fcrctl_chain *c, char *why, size_t whylen)
{
    const struct fcrctl_chain_anchor *a = fcrctl_chain_unseen(c);
    if (a) {
        snprintf(why, whylen, "the anchored entry %lld is not in the trail: the trail was cut short or rebuilt",
                 a->id);
        return -1;
    }
    return 0;
}

int fcrctl_chain_sha256_hex(const char *prev, const char *text, size_t len, char out[FCRCTL_CHAIN_HASH_HEX])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, prev, strlen(prev)) &&
             EVP_DigestUpdate(ctx, text, len) && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * mdlen] = '\0';
    return 0;
}

static bool fcrctl_chain_is_hash(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == FCRCTL_CHAIN_HASH_HEX - 1;
}

/* An id is a JSON integer, or a string of digits for servers that keep 64-bit ids exact. */
static bool fcrctl_chain_id(const json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return *out >= 0;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    if (!*s || strlen(s) > 18)
        return false;
    long long n = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        n = n * 10 + (*s - '0');
    }
    *out = n;
    return true;
}

/* A field absent from either side counts as null, as the canonical text writes absent fields. */
static bool fcrctl_chain_agree(const char *name, const json_t *hashed, const json_t *shown)
{
    if (!hashed)
        hashed = json_null();
    if (!shown)
        shown = json_null();
    if (json_equal(hashed, shown))
        return true;
    /* The same instant may be spelled with a different precision or offset by the server that
     * reads it back from a timestamp column. */
    if (strcmp(name, "at") == 0 && json_is_string(hashed) && json_is_string(shown)) {
        int64_t a, b;
        return timefmt_parse(json_string_value(hashed), &a) && timefmt_parse(json_string_value(shown), &b) && a == b;
    }
    return false;
}

/* A personal value's digest object in the hashed text: {"pd": 64 hex digits} and nothing else
 * (sql/0018_audit_personal.sql). */
static const char *fcrctl_chain_pd(const json_t *v)
{
    const json_t *d = json_object_get(v, "pd");
    return json_is_object(v) && json_object_size(v) == 1 && json_is_string(d) &&
                   fcrctl_chain_is_hash(json_string_value(d))
               ? json_string_value(d)
               : NULL;
}

/* Whether `shown` is what `hashed` (a before or after of the hashed text) stands for: the same
 * JSON, except that in place of each digest object it shows the plaintext whose digest that is
 * (personal: the item's {"salt", "values": {digest: text}}, recomputed here), or "[redacted]" once
 * the plaintext is gone. *tampered: a plaintext is kept but no longer matches its digest. */
static bool fcrctl_chain_shown(const json_t *hashed, const json_t *shown, const json_t *personal, bool *tampered)
{
    const char *d = fcrctl_chain_pd(hashed);
    if (d) {
        const json_t *text = json_object_get(json_object_get(personal, "values"), d);
        const json_t *salt = json_object_get(personal, "salt");
        if (!text)
            return json_is_string(shown) && strcmp(json_string_value(shown), "[redacted]") == 0;
        char again[FCRCTL_CHAIN_HASH_HEX];
        if (!json_is_string(text) || !json_is_string(salt) ||
            fcrctl_chain_sha256_hex(json_string_value(salt), json_string_value(text), json_string_length(text),
                                    again) != 0 ||
            strcmp(again, d) != 0) {
            *tampered = true;
            return false;
        }
        json_t *plain = json_loadb(json_string_value(text), json_string_length(text), JSON_DECODE_ANY, NULL);
        bool eq = plain && shown && json_equal(plain, (json_t *)shown);
        json_decref(plain);
        return eq;
    }
    if (json_is_object(hashed)) {
        if (!json_is_object(shown) || json_object_size(hashed) != json_object_size(shown))
            return false;
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)hashed, key, v)
        {
            const json_t *w = json_object_get(shown, key);
            if (!w || !fcrctl_chain_shown(v, w, personal, tampered))
                return false;
        }
        return true;
    }
    if (json_is_array(hashed)) {
        if (!json_is_array(shown) || json_array_size(hashed) != json_array_size(shown))
            return false;
        for (size_t i = 0; i < json_array_size(hashed); i++)
            if (!fcrctl_chain_shown(json_array_get(hashed, i), json_array_get(shown, i), personal, tampered))
                return false;
        return true;
    }
    return json_equal((json_t *)hashed, (json_t *)shown);
}

static bool fcrctl_chain_field_ok(const json_t *item, const char *f, const json_t *hashed_v, char *why, size_t whylen)
{
    const json_t *shown = json_object_get(item, f);
    bool tampered = false;
    if ((strcmp(f, "before") == 0 || strcmp(f, "after") == 0) && hashed_v && !json_is_null(hashed_v)) {
        if (fcrctl_chain_shown(hashed_v, shown, json_object_get(item, "personal"), &tampered))
            return true;
    } else if (fcrctl_chain_agree(f, hashed_v, shown)) {
        return true;
    }
    if (tampered)
        snprintf(why, whylen, "a personal value kept beside field '%s' does not match its digest in the hashed "
                 "entry text: the plaintext was changed", f);
    else
        snprintf(why, whylen, "field '%s' disagrees with the hashed entry text", f);
    return false;
}

static int fcrctl_chain_fields_agree(const json_t *item, const json_t *hashed, char *why, size_t whylen)
{
    for (size_t i = 0; fcrctl_chain_fields[i]; i++) {
        const char *f = fcrctl_chain_fields[i];
        if (!fcrctl_chain_field_ok(item, f, json_object_get(hashed, f), why, whylen))
            return -1;
    }
    /* Whatever else was hashed must be shown as it was hashed, too. */
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)hashed, key, v)
    {
        if (!fcrctl_chain_field_ok(item, key, v, why, whylen))
            return -1;
    }
    return 0;
}

/* The item's chain: its `chain` member, 1 when it has none (a trail written before there were
 * several chains). */
static bool fcrctl_chain_number(const json_t *item, int *out)
{
    const json_t *v = json_object_get(item, "chain");
    if (!v) {
        *out = 1;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > FCRCTL_CHAIN_MAX)
        return false;
    *out = (int)json_integer_value(v);
    return true;
}

int fcrctl_chain_add(struct fcrctl_chain *c, const json_t *item, long long *id_out, char *why, size_t whylen)
{
    long long id = -1;
    *id_out = -1;
    if (!json_is_object(item)) {
        snprintf(why, whylen, "an audit item is not a JSON object");
        return -1;
    }
    if (!fcrctl_chain_id(json_object_get(item, "id"), &id)) {
        snprintf(why, whylen, "an audit item has no usable id (after entry %lld)", c->count ? c->last_id : 0);
        return -1;
    }
    *id_out = id;
    if (c->count > 0 && id <= c->last_id) {
        snprintf(why, whylen, "its id does not come after the previous entry's id %lld", c->last_id);
        return -1;
    }
    int n;
    if (!fcrctl_chain_number(item, &n)) {
        snprintf(why, whylen, "field 'chain' is not a whole number from 1 to %d", FCRCTL_CHAIN_MAX);
        return -1;
    }
    struct fcrctl_chain_head *head = &c->heads[n - 1];
    const json_t *prev_j = json_object_get(item, "prev_hash");
    const json_t *hash_j = json_object_get(item, "hash");
    const json_t *entry_j = json_object_get(item, "entry");
    if (!json_is_string(prev_j) || !json_is_string(hash_j) || !json_is_string(entry_j)) {
        snprintf(why, whylen, "prev_hash, hash or entry is missing or not a string");
        return -1;
    }
    const char *prev = json_string_value(prev_j);
    const char *hash = json_string_value(hash_j);
    if (!fcrctl_chain_is_hash(hash)) {
        snprintf(why, whylen, "hash is not 64 lowercase hex digits");
        return -1;
    }
    if (strcmp(prev, head->last_hash) != 0) {
        if (head->count == 0)
            snprintf(why, whylen,
                     "the first entry of chain %d has a non-empty prev_hash: the chain does not begin here", n);
        else
            snprintf(why, whylen,
                     "prev_hash is not the hash of the previous entry of chain %d (id %lld): an entry is "
                     "missing, was inserted or was changed",
                     n, head->last_id);
        return -1;
    }
    char computed[FCRCTL_CHAIN_HASH_HEX];
    if (fcrctl_chain_sha256_hex(prev, json_string_value(entry_j), json_string_length(entry_j), computed) != 0) {
        snprintf(why, whylen, "SHA-256 is unavailable from libcrypto");
        return -1;
    }
    if (strcmp(computed, hash) != 0) {
        snprintf(why, whylen, "hash is not the SHA-256 of prev_hash and the entry text: the entry was changed");
        return -1;
    }
    json_error_t jerr;
    json_t *hashed = json_loadb(json_string_value(entry_j), json_string_length(entry_j), JSON_REJECT_DUPLICATES,
                                &jerr);
    if (!json_is_object(hashed)) {
        json_decref(hashed);
        snprintf(why, whylen, "the entry text is not a JSON object");
        return -1;
    }
    int rc = fcrctl_chain_fields_agree(item, hashed, why, whylen);
    json_decref(hashed);
    if (rc != 0)
        return -1;
    /* Ids increase across the whole trail, so an anchored id passed unseen is gone. */
    const struct fcrctl_chain_anchor *unseen = fcrctl_chain_unseen(c);
    if (unseen && unseen->id < id) {
        snprintf(why, whylen, "the anchored entry %lld is missing: the trail was rewritten", unseen->id);
        return -1;
    }
    struct fcrctl_chain_anchor *at_anchor = NULL;
    for (int i = 0; i < c->n_anchors; i++)
        if (c->anchors[i].id == id)
            at_anchor = &c->anchors[i];
    if (at_anchor && strcmp(hash, at_anchor->hash) != 0) {
        snprintf(why, whylen, "hash differs from the anchor recorded earlier: the trail was rewritten");
        return -1;
    }
    if (at_anchor)
        at_anchor->seen = true;
    c->count++;
    c->last_id = id;
    c->last_chain = n;
    head->count++;
    head->last_id = id;
    memcpy(head->last_hash, hash, FCRCTL_CHAIN_HASH_HEX);
    return 0;
}
