/* fcrctl_checkpoints.c: the signed checkpoint file read and checked line by line, then each
 * checkpointed chain head looked for in the trail as audit verify walks it in id order. */
#include "fcrctl_checkpoints.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcrctl.h"
#include "service/checkpoint_sign.h"
#include "util/timefmt.h"

#define FCRCTL_CHECKPOINTS_LINE_MAX ((size_t)1 << 20)

static int fcrctl_checkpoints_cmp(const void *a, const void *b)
{
    const struct fcrctl_checkpoints_head *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* The chain number of "audit.N" (N from 1 to FCRCTL_CHAIN_MAX, no leading zero), else 0. */
static int fcrctl_checkpoints_chain(const char *name)
{
    if (strncmp(name, "audit.", 6) != 0 || name[6] < '1' || name[6] > '9')
        return 0;
    char *end;
    long n = strtol(name + 6, &end, 10);
    return *end || n < 1 || n > FCRCTL_CHAIN_MAX ? 0 : (int)n;
}

/* One line: parsed into heads (at most CHECKPOINT_HEADS_MAX) with its time, checked against the
 * key. Returns 0, or -1 with why (the caller adds the line number). */
static int fcrctl_checkpoints_line(const char *text, size_t len, EVP_PKEY *pub, const char *key_id, char *time,
                                   size_t timelen, struct checkpoint_head *heads, size_t *nheads, char *why,
                                   size_t whylen)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *t = json_object_get(doc, "time"), *h = json_object_get(doc, "heads");
    const json_t *k = json_object_get(doc, "key_id"), *s = json_object_get(doc, "signature");
    int rc = -1;
    int64_t ms;
    if (!json_is_object(doc) || json_object_size(doc) != 4 || !json_is_string(t) || !json_is_array(h) ||
        !json_is_string(k) || !json_is_string(s)) {
        snprintf(why, whylen, "not a checkpoint (a JSON object of time, heads, key_id and signature)");
        goto out;
    }
    if (!timefmt_parse(json_string_value(t), &ms) || json_string_length(t) >= timelen) {
        snprintf(why, whylen, "field 'time' is not an RFC 3339 time");
        goto out;
    }
    if (strcmp(json_string_value(k), key_id) != 0) {
        snprintf(why, whylen, "signed by key %.16s, not by the key given (%s)", json_string_value(k), key_id);
        goto out;
    }
    if (json_array_size(h) > CHECKPOINT_HEADS_MAX) {
        snprintf(why, whylen, "field 'heads' holds more than %d heads", CHECKPOINT_HEADS_MAX);
        goto out;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(h, i, item)
    {
        const json_t *c = json_object_get(item, "chain"), *id = json_object_get(item, "last_id");
        const json_t *hash = json_object_get(item, "hash");
        if (json_object_size(item) != 3 || !json_is_string(c) || !json_is_integer(id) || !json_is_string(hash) ||
            json_integer_value(id) < 0 || !checkpoint_sign_chain_ok(json_string_value(c)) ||
            !checkpoint_sign_hash_ok(json_string_value(hash))) {
            snprintf(why, whylen, "heads[%zu] is not {chain, last_id, hash}", i);
            goto out;
        }
        snprintf(heads[i].chain, sizeof(heads[i].chain), "%s", json_string_value(c));
        heads[i].last_id = (long long)json_integer_value(id);
        memcpy(heads[i].hash, json_string_value(hash), CHECKPOINT_HASH_HEX);
    }
    *nheads = json_array_size(h);
    snprintf(time, timelen, "%s", json_string_value(t));
    size_t clen = 0;
    char *canon = checkpoint_sign_canonical(time, heads, *nheads, &clen);
    if (!canon) {
        snprintf(why, whylen, "field 'time' is not of the signed form, or out of memory");
        goto out;
    }
    bool good = checkpoint_sign_verify(pub, canon, clen, json_string_value(s));
    free(canon);
    if (!good) {
        snprintf(why, whylen, "the signature does not verify: the line was changed, or not signed by this key");
        goto out;
    }
    rc = 0;
out:
    json_decref(doc);
    return rc;
}

int fcrctl_checkpoints_load(struct fcrctl_checkpoints *c, const char *path, const char *pubkey, char *why,
                            size_t whylen)
{
    memset(c, 0, sizeof(*c));
    char err[512], key_id[CHECKPOINT_KEY_ID_LEN];
    EVP_PKEY *pub = checkpoint_sign_load_public(pubkey, err, sizeof(err));
    if (!pub) {
        snprintf(why, whylen, "--pubkey: %s", err);
        return FCRCTL_EXIT_USAGE;
    }
    if (checkpoint_sign_key_id(pub, key_id) != 0) {
        EVP_PKEY_free(pub);
        snprintf(why, whylen, "--pubkey: %s: cannot read the key", pubkey);
        return FCRCTL_EXIT_USAGE;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        EVP_PKEY_free(pub);
        snprintf(why, whylen, "--checkpoints: cannot open %s: %s", path, strerror(errno));
        return FCRCTL_EXIT_USAGE;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    int rc = 0;
    struct checkpoint_head heads[CHECKPOINT_HEADS_MAX];
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        char time[40], lwhy[200];
        size_t nheads = 0;
        if (len > FCRCTL_CHECKPOINTS_LINE_MAX)
            snprintf(lwhy, sizeof(lwhy), "longer than 1 MiB: not a checkpoint");
        if (len > FCRCTL_CHECKPOINTS_LINE_MAX ||
            fcrctl_checkpoints_line(line, len, pub, key_id, time, sizeof(time), heads, &nheads, lwhy,
                                    sizeof(lwhy)) != 0) {
            snprintf(why, whylen, "%s line %zu: %s", path, lineno, lwhy);
            rc = FCRCTL_EXIT_CHAIN;
            break;
        }
        c->lines++;
        /* + 1: a line without heads still asks realloc for some room, never for none */
        struct fcrctl_checkpoints_head *grown = realloc(c->heads, (c->n + nheads + 1) * sizeof(*grown));
        if (!grown) {
            snprintf(why, whylen, "out of memory");
            rc = FCRCTL_EXIT_FAILURE;
            break;
        }
        c->heads = grown;
        for (size_t i = 0; i < nheads; i++) {
            int chain = fcrctl_checkpoints_chain(heads[i].chain);
            if (!chain) {
                c->other++;
                continue;
            }
            struct fcrctl_checkpoints_head *e = &c->heads[c->n++];
            e->id = heads[i].last_id;
            e->chain = chain;
            e->line = lineno;
            snprintf(e->time, sizeof(e->time), "%s", time);
            memcpy(e->hash, heads[i].hash, sizeof(e->hash));
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(why, whylen, "--checkpoints: cannot read %s: %s", path, strerror(errno));
        rc = FCRCTL_EXIT_USAGE;
    }
    if (rc == 0 && c->lines == 0) {
        snprintf(why, whylen, "%s holds no checkpoint", path);
        rc = FCRCTL_EXIT_CHAIN;
    }
    free(line);
    fclose(f);
    EVP_PKEY_free(pub);
    if (rc != 0) {
        fcrctl_checkpoints_clear(c);
        return rc;
    }
    if (c->n > 1)
        qsort(c->heads, c->n, sizeof(c->heads[0]), fcrctl_checkpoints_cmp);
    return 0;
}

/* Where in chain n the change lies: after the last checkpointed entry that still matched. */
static void fcrctl_checkpoints_since(const struct fcrctl_checkpoints *c, int n, long long upto, char *out,
                                     size_t len)
{
    long long m = c->matched[n - 1];
    if (m > 0)
        snprintf(out, len, "chain audit.%d was changed after entry %lld (checkpointed, still matching) and up to entry %lld",
                 n, m, upto);
    else
        snprintf(out, len, "chain audit.%d was changed from its start up to entry %lld (no earlier checkpointed entry matches)",
                 n, upto);
}

/* The checkpointed entry e never came: the trail has `next` after it (0: nothing more). */
static int fcrctl_checkpoints_missing(const struct fcrctl_checkpoints *c, const struct fcrctl_checkpoints_head *e,
                                      long long next, char *why, size_t whylen)
{
    char since[200];
    fcrctl_checkpoints_since(c, e->chain, e->id, since, sizeof(since));
    char after[64];
    if (next > 0)
        snprintf(after, sizeof(after), "the next entry is %lld", next);
    else
        snprintf(after, sizeof(after), "the trail ends before it");
    snprintf(why, whylen,
             "chain audit.%d, entry %lld: the checkpoint of %s (line %zu) has hash %s, the trail has no such entry "
             "(%s): the chain was cut short or rewritten; %s",
             e->chain, e->id, e->time, e->line, e->hash, after, since);
    return -1;
}

int fcrctl_checkpoints_entry(struct fcrctl_checkpoints *c, long long id, int chain, const char *hash, char *why,
                             size_t whylen)
{
    if (c->next < c->n && c->heads[c->next].id < id)
        return fcrctl_checkpoints_missing(c, &c->heads[c->next], id, why, whylen);
    for (; c->next < c->n && c->heads[c->next].id == id; c->next++) {
        const struct fcrctl_checkpoints_head *e = &c->heads[c->next];
        char since[200];
        if (e->chain != chain) {
            fcrctl_checkpoints_since(c, e->chain, e->id, since, sizeof(since));
            snprintf(why, whylen,
                     "chain audit.%d, entry %lld: the checkpoint of %s (line %zu) has it in chain audit.%d with hash "
                     "%s, the trail has it in chain audit.%d with hash %s; %s",
                     e->chain, id, e->time, e->line, e->chain, e->hash, chain, hash, since);
            return -1;
        }
        if (strcmp(e->hash, hash) != 0) {
            fcrctl_checkpoints_since(c, chain, id, since, sizeof(since));
            snprintf(why, whylen,
                     "chain audit.%d, entry %lld: the checkpoint of %s (line %zu) has hash %s, the trail has %s; %s",
                     chain, id, e->time, e->line, e->hash, hash, since);
            return -1;
        }
        c->matched[chain - 1] = id;
    }
    return 0;
}

int fcrctl_checkpoints_finish(struct fcrctl_checkpoints *c, char *why, size_t whylen)
{
    if (c->next < c->n)
        return fcrctl_checkpoints_missing(c, &c->heads[c->next], 0, why, whylen);
    return 0;
}

void fcrctl_checkpoints_clear(struct fcrctl_checkpoints *c)
{
    free(c->heads);
    memset(c, 0, sizeof(*c));
}
