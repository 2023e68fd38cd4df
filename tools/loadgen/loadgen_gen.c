/* loadgen_gen.c: synthetic feed events for fcr-loadgen: incidents opened with one allegation
 * (a crime recorded at once, or pending the victim's confirmation), updated and closed in seq
 * order. Lines are printed straight into the caller's buffer: generating must stay far cheaper
 * than the daemon's work, or the generator would be what is measured. */
#include "loadgen_gen.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What an opening alleges. Every kind records a crime at once when the victim confirms. */
struct kind {
    const char *conduct;
    const char *premises;
    const char *opening_code;
    const char *qualifier;    /* or NULL */
    const char *relationship; /* victim to suspect, or NULL when no suspect is known */
    bool organisation;        /* the victim is a business */
    unsigned weight;
};

static const struct kind kinds[] = {
    {"assault.injury", "public_place", "ASSLT", NULL, "stranger", false, 20},
    {"assault.no_injury", "dwelling", "DOMAB", "domestic", "partner", false, 15},
    {"theft.shop", "business", "SHOPL", NULL, "stranger", true, 15},
    {"burglary.dwelling", "dwelling", "BURGD", NULL, NULL, false, 10},
    {"damage.vehicle", "public_place", "DAMAG", NULL, NULL, false, 10},
    {"theft.from_vehicle", "public_place", "TFMV", NULL, NULL, false, 10},
    {"public_order.alarm_distress", "public_place", "PUBOR", NULL, "acquaintance", false, 10},
    {"robbery", "public_place", "ROBB", NULL, "stranger", false, 5},
    {"theft.pedal_cycle", "public_place", "TPC", NULL, NULL, false, 5},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static const char *const channels[] = {"emergency_call", "non_emergency_call", "online", "front_counter"};

static const char *const phrases[] = {
    "Caller reports the matter from a mobile phone and is calm but upset.",
    "The caller says it happened a few minutes ago and the person responsible has left on foot.",
    "No weapons seen; the caller can describe the clothing of the person responsible.",
    "There is CCTV on the corner according to the caller, who will wait for officers.",
    "Ambulance not required at this stage; caller advised to keep the line clear.",
    "The caller gives a description: dark jacket, grey trainers, about thirty, medium build.",
    "Neighbours heard shouting and a door slam shortly before the call was made.",
    "Caller has reported similar trouble at this address before and asks for a callback.",
};
#define NPHRASES (sizeof(phrases) / sizeof(phrases[0]))

/* An incident awaiting its follow-ups. */
struct open_incident {
    uint64_t n;         /* incident number within the stream */
    unsigned seq;       /* last seq sent */
    unsigned updates;   /* updates still to send */
    bool close;         /* send a closing after the updates */
    bool unconfirmed;   /* victim not yet asked */
    uint64_t link;      /* the incident number it links to, 0 for none */
};

struct loadgen_gen {
    struct loadgen_gen_params p;
    char *prefix;
    uint64_t rng;
    uint64_t next_incident;
    struct open_incident *pool;
    unsigned npool;
    unsigned kind_total;
    double followup_share;
    struct loadgen_gen_counts counts;
};

/* ---- helpers -------------------------------------------------------------------------------- */

static uint64_t gen_rand(struct loadgen_gen *g)
{
    /* splitmix64: tiny, fast and good enough to vary the traffic */
    uint64_t z = (g->rng += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static double gen_uniform(struct loadgen_gen *g)
{
    return (double)(gen_rand(g) >> 11) * (1.0 / 9007199254740992.0);
}

/* A hash of the incident number: the facts of an incident are the same in every event. */
static uint64_t gen_fact(const struct loadgen_gen *g, uint64_t n, unsigned salt)
{
    uint64_t z = g->p.seed ^ (n * UINT64_C(0x9e3779b97f4a7c15)) ^ ((uint64_t)salt << 56) ^ g->p.stream;
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static const struct kind *gen_kind(const struct loadgen_gen *g, uint64_t n)
{
    unsigned pick = (unsigned)(gen_fact(g, n, 1) % g->kind_total);
    for (size_t i = 0; i < NKINDS; i++) {
        if (pick < kinds[i].weight)
            return &kinds[i];
        pick -= kinds[i].weight;
    }
    return &kinds[0];
}

/* The victim ref number of incident n, 1..refs (with --refs). */
static uint64_t gen_ref(const struct loadgen_gen *g, uint64_t n)
{
    return 1 + gen_fact(g, n, 9) % g->p.refs;
}

/* A bounded writer: once full it stops writing and remembers it. */
struct out {
    char *buf;
    size_t len, cap;
    bool full;
};

__attribute__((format(printf, 2, 3))) static void out_printf(struct out *o, const char *fmt, ...)
{
    if (o->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) {
        o->full = true;
        return;
    }
    o->len += (size_t)n;
}

static void out_narrative(struct out *o, const struct loadgen_gen *g, uint64_t n, unsigned bytes)
{
    if (bytes == 0)
        return;
    out_printf(o, ",\"narrative\":\"");
    size_t start = o->len;
    unsigned i = (unsigned)(gen_fact(g, n, 2) % NPHRASES);
    while (!o->full && o->len - start < bytes) {
        const char *ph = phrases[i++ % NPHRASES];
        size_t left = bytes - (o->len - start);
        size_t len = strlen(ph);
        out_printf(o, "%s%.*s", o->len > start ? " " : "", (int)(len < left ? len : left), ph);
    }
    out_printf(o, "\"");
}

static void out_time(char *dst, size_t cap, int64_t s)
{
    time_t t = (time_t)s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(dst, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void out_head(struct out *o, const struct loadgen_gen *g, uint64_t n, unsigned seq, const char *type,
                     const char *at)
{
    out_printf(o, "{\"v\":1,\"event_id\":\"%s-%u-%llu-%u\",\"type\":\"%s\",\"incident_id\":\"%s-%u-%llu\","
                  "\"seq\":%u,\"at\":\"%s\",\"force\":\"XX\",\"handler\":\"CH%03u\"",
               g->prefix, g->p.stream, (unsigned long long)n, seq, type, g->prefix, g->p.stream,
               (unsigned long long)n, seq, at, (unsigned)(gen_fact(g, n, 3) % 400));
}

/* The victim entry, the same in every event of the incident (an update replaces it whole). */
static void out_victim(struct out *o, const struct loadgen_gen *g, uint64_t n, const struct kind *k, bool confirmed)
{
    if (k->organisation) {
        out_printf(o, "{\"id\":\"v1\",\"role\":\"victim\",\"kind\":\"organisation\",\"name\":\"Store %llu\"",
                   (unsigned long long)(gen_fact(g, n, 4) % 5000));
    } else {
        uint64_t f = gen_fact(g, n, 5);
        out_printf(o, "{\"id\":\"v1\",\"role\":\"victim\",\"sex\":\"%s\",\"age\":%u", f & 1 ? "female" : "male",
                   18 + (unsigned)((f >> 8) % 60));
        if (k->relationship)
            out_printf(o, ",\"relationships\":[{\"to\":\"s1\",\"kind\":\"%s\"}]", k->relationship);
    }
    if (g->p.refs)
        out_printf(o, ",\"ref\":\"BV-%llu\"", (unsigned long long)gen_ref(g, n));
    if (confirmed)
        out_printf(o, ",\"confirms\":true");
    out_printf(o, "}");
}

/* ---- events --------------------------------------------------------------------------------- */

static void gen_opened(struct loadgen_gen *g, struct out *o, const struct open_incident *inc, const char *at,
                       const char *occurred)
{
    const struct kind *k = gen_kind(g, inc->n);
    out_head(o, g, inc->n, inc->seq, "incident.opened", at);
    out_printf(o, ",\"channel\":\"%s\",\"category\":\"crime\",\"opening_code\":\"%s\"",
               channels[gen_fact(g, inc->n, 6) % (sizeof(channels) / sizeof(channels[0]))], k->opening_code);
    if (k->qualifier)
        out_printf(o, ",\"qualifiers\":[\"%s\"]", k->qualifier);
    if (inc->link)
        out_printf(o, ",\"links\":[{\"incident_id\":\"%s-%u-%llu\",\"relation\":\"%s\"}]", g->prefix, g->p.stream,
                   (unsigned long long)inc->link, gen_fact(g, inc->n, 8) & 1 ? "same_report" : "related");
    out_narrative(o, g, inc->n, g->p.narrative);
    out_printf(o, ",\"reported_by\":\"%s\",\"persons\":[", inc->unconfirmed ? "c1" : "v1");
    out_victim(o, g, inc->n, k, !inc->unconfirmed);
    if (k->relationship) {
        out_printf(o, ",{\"id\":\"s1\",\"role\":\"suspect\",\"sex\":\"male\"");
        if (g->p.refs)
            out_printf(o, ",\"ref\":\"BS-%llu\"", (unsigned long long)(gen_ref(g, inc->n) % LOADGEN_SUSPECT_REFS));
        out_printf(o, "}");
    }
    if (inc->unconfirmed)
        out_printf(o, ",{\"id\":\"c1\",\"role\":\"third_party\",\"name\":\"Neighbour\"}");
    out_printf(o, "],\"allegations\":[{\"id\":\"a1\",\"victim\":\"v1\"");
    if (k->relationship)
        out_printf(o, ",\"suspects\":[\"s1\"]");
    out_printf(o, ",\"conduct\":\"%s\",\"occurred_at\":\"%s\",\"location\":{\"force_area\":\"own\","
                  "\"premises\":\"%s\"}}]}\n",
               k->conduct, occurred, k->premises);
}

static void gen_updated(struct loadgen_gen *g, struct out *o, struct open_incident *inc, const char *at)
{
    const struct kind *k = gen_kind(g, inc->n);
    out_head(o, g, inc->n, inc->seq, "incident.updated", at);
    out_narrative(o, g, inc->n + inc->seq, g->p.narrative / 5);
    out_printf(o, ",\"persons\":[");
    if (inc->unconfirmed) {
        /* the victim is reached and confirms: the pending decision gives way to a crime */
        out_victim(o, g, inc->n, k, true);
        inc->unconfirmed = false;
    } else {
        out_printf(o, "{\"id\":\"w%u\",\"role\":\"witness\",\"name\":\"Witness %u\"}", inc->seq, inc->seq);
    }
    out_printf(o, "]}\n");
}

static void gen_closed(struct loadgen_gen *g, struct out *o, const struct open_incident *inc, const char *at)
{
    out_head(o, g, inc->n, inc->seq, "incident.closed", at);
    if (inc->unconfirmed) /* never reached: closed as crime-related, the victim not confirming */
        out_printf(o, ",\"closing_category\":\"crime_related\",\"closing_reason\":\"victim_does_not_confirm\","
                      "\"closing_code\":\"NC%02u\"}\n",
                   (unsigned)(gen_fact(g, inc->n, 7) % 40));
    else
        out_printf(o, ",\"closing_category\":\"crime\",\"closing_code\":\"CR%02u\"}\n",
                   (unsigned)(gen_fact(g, inc->n, 7) % 40));
}

/* ---- public --------------------------------------------------------------------------------- */

int loadgen_gen_new(struct loadgen_gen **out, const struct loadgen_gen_params *p)
{
    *out = NULL;
    if (!p->prefix || !*p->prefix || strlen(p->prefix) > 32 || p->updates < 0 || p->updates > 8 ||
        p->closed < 0 || p->closed > 1 || p->unconfirmed < 0 || p->unconfirmed > 1 || p->links < 0 || p->links > 1 ||
        p->narrative > 16000 || p->refs > LOADGEN_REFS_MAX ||
        p->pool < 1 || p->epoch < 0)
        return -1;
    struct loadgen_gen *g = calloc(1, sizeof(*g));
    if (!g)
        return -1;
    g->p = *p;
    g->prefix = strdup(p->prefix);
    g->pool = calloc(p->pool, sizeof(*g->pool));
    if (!g->prefix || !g->pool) {
        loadgen_gen_free(g);
        return -1;
    }
    g->p.prefix = g->prefix;
    g->rng = p->seed ^ ((uint64_t)p->stream << 32) ^ UINT64_C(0x2545f4914f6cdd1d);
    for (size_t i = 0; i < NKINDS; i++)
        g->kind_total += kinds[i].weight;
    double e = p->updates + p->closed; /* follow-ups per incident */
    g->followup_share = e / (1.0 + e);
    *out = g;
    return 0;
}

struct loadgen_gen *loadgen_gen_free(struct loadgen_gen *g)
{
    if (!g)
        return NULL;
    free(g->pool);
    free(g->prefix);
    free(g);
    return NULL;
}

size_t loadgen_gen_line_max(const struct loadgen_gen *g)
{
    return 2048 + g->p.narrative;
}

size_t loadgen_gen_next(struct loadgen_gen *g, int64_t now_s, char *buf, size_t cap)
{
    if (cap < loadgen_gen_line_max(g))
        return 0;
    char at[32], occurred[32];
    if (g->p.epoch > 0)
        now_s = g->p.epoch + (int64_t)((g->counts.opened + g->counts.updated + g->counts.closed) / 10);
    out_time(at, sizeof(at), now_s);
    struct out o = {buf, 0, cap, false};

    /* A follow-up when the mix asks for one (or the pool is full), else a new incident: in the
     * long run follow-ups make up their share of the stream. */
    if (g->npool > 0 && (g->npool == g->p.pool || gen_uniform(g) < g->followup_share)) {
        unsigned i = (unsigned)(gen_rand(g) % g->npool);
        struct open_incident *inc = &g->pool[i];
        inc->seq++;
        if (inc->updates > 0) {
            inc->updates--;
            gen_updated(g, &o, inc, at);
            g->counts.updated++;
        } else {
            inc->close = false;
            gen_closed(g, &o, inc, at);
            g->counts.closed++;
        }
        if (inc->updates == 0 && !inc->close)
            g->pool[i] = g->pool[--g->npool];
        return o.full ? 0 : o.len;
    }

    struct open_incident inc = {.n = ++g->next_incident, .seq = 1};
    double u = g->p.updates;
    inc.updates = (unsigned)u + (gen_uniform(g) < u - (double)(unsigned)u ? 1u : 0u);
    inc.close = gen_uniform(g) < g->p.closed;
    inc.unconfirmed = gen_uniform(g) < g->p.unconfirmed;
    if (inc.n > 1 && gen_uniform(g) < g->p.links) /* one of the last 64 incidents of the stream */
        inc.link = inc.n - 1 - gen_rand(g) % (inc.n - 1 < 64 ? inc.n - 1 : 64);
    out_time(occurred, sizeof(occurred), now_s - 600);
    gen_opened(g, &o, &inc, at, occurred);
    g->counts.opened++;
    if (inc.unconfirmed)
        g->counts.unconfirmed++;
    if (inc.link)
        g->counts.linked++;
    if (inc.updates > 0 || inc.close)
        g->pool[g->npool++] = inc;
    return o.full ? 0 : o.len;
}

void loadgen_gen_counts(const struct loadgen_gen *g, struct loadgen_gen_counts *out)
{
    *out = g->counts;
}
