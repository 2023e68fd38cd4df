/* audit.c: canonical text and SHA-256 hash chain of audit entries (OpenSSL libcrypto). */
#include "audit.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonx.h"


const char *const audit_fields[] = {"action", "actor", "after", "allegation", "at", "before", "crn", "event_id",
                                    "incident_id", "pending_id", "role", "rules", "ruleset", NULL};

/* audit_fields is in byte order, so writing the fields in turn gives the sorted-keys text. */
char *audit_canonical(const json_t *entry)
{
    struct jsonx_buf b = {0};
    jsonx_char(&b, '{');
    for (size_t i = 0; audit_fields[i]; i++) {
        jsonx_key(&b, audit_fields[i]);
        jsonx_value(&b, json_object_get(entry, audit_fields[i]), JSONX_SORT);
    }
    jsonx_char(&b, '}');
    return jsonx_take(&b, NULL);
}

int audit_hash(const char *prev_hash, const char *text, char out[AUDIT_HASH_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(ctx, prev_hash, strlen(prev_hash)) && EVP_DigestUpdate(ctx, text, strlen(text)) &&
             EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * mdlen] = '\0';
    return 0;
}

int audit_chain(json_t *entries, int64_t at_ms, char head[AUDIT_HASH_HEX])
{
    /* Always with milliseconds, as the API prints audit times, so that the texts compare equal. */
    char at[96];
    time_t secs = (time_t)(at_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(at, sizeof(at), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(at_ms % 1000));
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        if (!json_object_get(e, "at"))
            json_object_set_new(e, "at", json_string(at));
        if (!json_is_array(json_object_get(e, "rules")))
            json_object_set_new(e, "rules", json_array());
        char *text = audit_canonical(e);
        char hash[AUDIT_HASH_HEX];
        if (!text || audit_hash(head, text, hash) != 0) {
            free(text);
            return -1;
        }
        json_object_set_new(e, "prev_hash", json_string(head));
        json_object_set_new(e, "entry", json_string(text));
        json_object_set_new(e, "hash", json_string(hash));
        memcpy(head, hash, AUDIT_HASH_HEX);
        free(text);
    }
    return 0;
}
