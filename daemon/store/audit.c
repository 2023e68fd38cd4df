/* audit.c: the canonical text of audit entries, as the database hashes and stores it. */
#include "store/audit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/jsonwrite.h"
#include "util/pgtext.h"

/* Kept in step with personal_members() in sql/0020_audit_personal.sql, which redacts the same
 * members in stored events and states; docs/operations.md lists them for the data protection
 * officer. Byte order. */
const char *const audit_personal_members[] = {"avi",  "employer", "name", "narrative", "note", "rationale",
                                              "reason_text", NULL};

const char *const audit_fields[] = {"action", "actor", "after", "allegation", "at", "before", "crn", "event_id",
                                    "incident_id", "pending_id", "role", "rules", "ruleset", "ruleset_sha256",
                                    NULL};

enum audit_field {
    AF_ACTION, AF_ACTOR, AF_AFTER, AF_ALLEGATION, AF_AT, AF_BEFORE, AF_CRN, AF_EVENT_ID,
    AF_INCIDENT_ID, AF_PENDING_ID, AF_ROLE, AF_RULES, AF_RULESET, AF_RULESET_SHA256, AF_COUNT
};

/* The columns a line carries after its text, in audit_append's order: text columns as they are
 * (empty for null), before and after as JSON, rules as an array literal (or JSON). */
static const enum audit_field audit_columns[] = {AF_AT,       AF_INCIDENT_ID, AF_CRN,   AF_PENDING_ID, AF_ALLEGATION,
                                                 AF_EVENT_ID, AF_ACTOR,       AF_ROLE,  AF_ACTION,     AF_BEFORE,
                                                 AF_AFTER,    AF_RULES,       AF_RULESET,   AF_RULESET_SHA256};

static bool audit_is_json_column(enum audit_field f)
{
    return f == AF_BEFORE || f == AF_AFTER || f == AF_RULES;
}

/* The rules as a PostgreSQL array literal, {"a","b"}, which the database reads without parsing
 * JSON (sql/0008_audit_append_lean.sql). Only when every rule is a string free of control
 * characters (so of tabs and newlines, which end a field or a line): otherwise false, and the
 * caller writes the JSON array, which the database also reads. */
static bool audit_write_rules_literal(struct jsonwrite_buf *b, const json_t *rules)
{
    size_t i;
    const json_t *r;
    json_array_foreach((json_t *)rules, i, r)
    {
        size_t n = json_string_length(r);
        if (!json_is_string(r) || (n > 0 && !pgtext_plain(json_string_value(r), n)))
            return false; /* an empty rule is fine inside quotes */
    }
    jsonwrite_char(b, '{');
    json_array_foreach((json_t *)rules, i, r)
    {
        if (i > 0)
            jsonwrite_char(b, ',');
        pgtext_array_elem(b, json_string_value(r), json_string_length(r));
    }
    jsonwrite_char(b, '}');
    return true;
}

static bool audit_is_personal(const char *key)
{
    for (size_t i = 0; audit_personal_members[i]; i++)
        if (strcmp(audit_personal_members[i], key) == 0)
            return true;
    return false;
}

/* Whether v holds, at any depth, a personal member with a value other than null. */
static bool audit_has_personal(const json_t *v)
{
    const char *key;
    json_t *m;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, m)
        {
            if ((audit_is_personal(key) && !json_is_null(m)) || audit_has_personal(m))
                return true;
        }
    } else if (json_is_array(v)) {
        json_array_foreach((json_t *)v, i, m)
        {
            if (audit_has_personal(m))
                return true;
        }
    }
    return false;
}

/* The side data of one entry: its salt and, per digest, the exact text digested. */
struct audit_pd {
    char salt[33];
    json_t *vals; /* digest -> text */
    bool failed;
};

/* {"pd": hex sha256(salt || canonical JSON of v)}, recording the text in pd->vals. New ref. */
static json_t *audit_pd_digest(struct audit_pd *pd, const json_t *v)
{
    static const char hex[] = "0123456789abcdef";
    struct jsonwrite_buf t = {0};
    jsonwrite_value(&t, v, JSONWRITE_SORT);
    size_t len = 0;
    char *text = jsonwrite_take(&t, &len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char d[65];
    EVP_MD_CTX *ctx = text ? EVP_MD_CTX_new() : NULL;
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, pd->salt, 32) &&
              EVP_DigestUpdate(ctx, text, len) && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        free(text);
        pd->failed = true;
        return json_null();
    }
    for (unsigned int i = 0; i < 32; i++) {
        d[2 * i] = hex[md[i] >> 4];
        d[2 * i + 1] = hex[md[i] & 15];
    }
    d[64] = '\0';
    json_object_set_new(pd->vals, d, json_stringn(text, len));
    free(text);
    return json_pack("{s:s}", "pd", d);
}

/* A copy of v with each personal member's value replaced by its digest object. New ref. */
static json_t *audit_pd_copy(struct audit_pd *pd, const json_t *v)
{
    const char *key;
    json_t *m;
    size_t i;
    if (json_is_object(v)) {
        json_t *o = json_object();
        json_object_foreach((json_t *)v, key, m)
        {
            json_object_set_new(o, key,
                                audit_is_personal(key) && !json_is_null(m) ? audit_pd_digest(pd, m) : audit_pd_copy(pd, m));
        }
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        json_array_foreach((json_t *)v, i, m)
            json_array_append_new(a, audit_pd_copy(pd, m));
        return a;
    }
    return json_incref((json_t *)v);
}

static bool audit_pd_salt(struct audit_pd *pd)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        return false;
    for (size_t i = 0; i < sizeof(r); i++) {
        pd->salt[2 * i] = hex[r[i] >> 4];
        pd->salt[2 * i + 1] = hex[r[i] & 15];
    }
    pd->salt[32] = '\0';
    return true;
}

/* One field's value: an override (a C string) or the entry's member. */
struct audit_value {
    const char *str;  /* the override, when not NULL */
    const json_t *v;  /* else this (NULL: absent, written as null) */
};

static bool audit_value_plain(const struct audit_value *x)
{
    return x->str ? pgtext_plain(x->str, strlen(x->str)) : pgtext_field_plain(x->v);
}

/* The field a member's key names, or AF_COUNT for a key that is not part of the text. */
static enum audit_field audit_field_of(const char *key)
{
    for (size_t k = 0; k < AF_COUNT; k++)
        if (audit_fields[k][0] == key[0] && strcmp(audit_fields[k], key) == 0)
            return (enum audit_field)k;
    return AF_COUNT;
}

void audit_line(struct jsonwrite_buf *b, const json_t *entry, const struct audit_override *o, const char *at)
{
    /* One pass over the entry's members: an entry holds about half the fields, and looking up
     * all fourteen by hash costs more. */
    struct audit_value x[AF_COUNT] = {{NULL, NULL}};
    for (void *it = json_object_iter((json_t *)entry); it; it = json_object_iter_next((json_t *)entry, it)) {
        enum audit_field f = audit_field_of(json_object_iter_key(it));
        if (f < AF_COUNT)
            x[f].v = json_object_iter_value(it);
    }
    if (o) {
        x[AF_INCIDENT_ID].str = o->incident_id;
        x[AF_EVENT_ID].str = o->event_id;
        x[AF_ACTOR].str = o->actor;
        x[AF_ROLE].str = o->role;
        x[AF_RULESET].str = o->ruleset;
        x[AF_RULESET_SHA256].str = o->ruleset_sha256;
    }
    if (!x[AF_AT].v)
        x[AF_AT].str = at;
    if (!json_is_array(x[AF_RULES].v))
        x[AF_RULES].v = NULL; /* written as [] (and {} as a column) */

    /* Personal values leave the hashed text: digests there, the plaintext beside it (side data
     * after the columns, sql/0020_audit_personal.sql), which retention can delete without
     * touching the chain. Only entries with personal values pay for the copy and the digests. */
    struct audit_pd pd = {.vals = NULL};
    json_t *digested[2] = {NULL, NULL};
    if (audit_has_personal(x[AF_BEFORE].v) || audit_has_personal(x[AF_AFTER].v)) {
        pd.vals = json_object();
        if (!pd.vals || !audit_pd_salt(&pd)) {
            b->oom = true; /* no entry rather than one with its plaintext hashed */
            json_decref(pd.vals);
            return;
        }
        digested[0] = x[AF_BEFORE].v ? audit_pd_copy(&pd, x[AF_BEFORE].v) : NULL;
        digested[1] = x[AF_AFTER].v ? audit_pd_copy(&pd, x[AF_AFTER].v) : NULL;
        if (digested[0])
            x[AF_BEFORE].v = digested[0];
        if (digested[1])
            x[AF_AFTER].v = digested[1];
        if (pd.failed)
            b->oom = true;
    }

    /* The canonical text: audit_fields is in byte order, so writing them in turn gives sorted
     * keys. Where the JSON values start and end, so that their columns copy the same text. */
    size_t from[AF_COUNT] = {0}, to[AF_COUNT] = {0};
    jsonwrite_char(b, '{');
    for (size_t k = 0; k < AF_COUNT; k++) {
        /* the field names need no escaping: written as they are */
        jsonwrite_raw(b, k ? ",\"" : "\"", k ? 2 : 1);
        jsonwrite_raw(b, audit_fields[k], strlen(audit_fields[k]));
        jsonwrite_raw(b, "\":", 2);
        from[k] = b->len;
        if (x[k].str)
            jsonwrite_cstr(b, x[k].str);
        else if (k == AF_RULES && !x[k].v)
            jsonwrite_raw(b, "[]", 2);
        else
            jsonwrite_value(b, x[k].v, JSONWRITE_SORT);
        to[k] = b->len;
    }
    jsonwrite_char(b, '}');

    /* The columns, or nothing when a text column is not plain: the database then reads every
     * column from the text itself. before and after go as the text's JSON (sorted keys, which
     * jsonb does not keep anyway). */
    bool plain = !b->oom;
    for (size_t k = 0; plain && k < sizeof(audit_columns) / sizeof(audit_columns[0]); k++)
        plain = audit_is_json_column(audit_columns[k]) || audit_value_plain(&x[audit_columns[k]]);
    for (size_t k = 0; plain && k < sizeof(audit_columns) / sizeof(audit_columns[0]); k++) {
        enum audit_field f = audit_columns[k];
        jsonwrite_char(b, '\t');
        if (f == AF_RULES && audit_write_rules_literal(b, x[f].v))
            continue;
        if (audit_is_json_column(f))
            jsonwrite_again(b, from[f], to[f] - from[f]);
        else if (x[f].str)
            jsonwrite_raw(b, x[f].str, strlen(x[f].str));
        else if (json_is_string(x[f].v))
            jsonwrite_raw(b, json_string_value(x[f].v), json_string_length(x[f].v));
    }
    if (pd.vals) {
        /* Compact JSON escapes every tab and newline, so the side data is one field. */
        json_t *side = json_pack("{s:s, s:O}", "salt", pd.salt, "v", pd.vals);
        jsonwrite_char(b, '\t');
        jsonwrite_value(b, side, JSONWRITE_SORT);
        json_decref(side);
        json_decref(pd.vals);
        json_decref(digested[0]);
        json_decref(digested[1]);
    }
    jsonwrite_char(b, '\n');
}

void audit_at(int64_t at_ms, char at[AUDIT_AT_SIZE])
{
    /* Always with milliseconds, as the API prints audit times, so that the texts compare equal. */
    time_t secs = (time_t)(at_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(at, AUDIT_AT_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(at_ms % 1000));
}

char *audit_lines(json_t *entries, int64_t at_ms)
{
    char at[AUDIT_AT_SIZE];
    audit_at(at_ms, at);
    struct jsonwrite_buf b = {0};
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
        audit_line(&b, e, NULL, at);
    return jsonwrite_take(&b, NULL);
}
