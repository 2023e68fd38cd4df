/* api_guard.c: per-address failed-authentication counts in a fixed table, blocks, and a
 * one-line-a-second limit on refusal logging. */
#include "api/api_guard.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/lograte.h"

struct api_guard_entry {
    char addr[API_GUARD_ADDR_MAX]; /* "" = free */
    double window_start;           /* the first failure counted in the current window */
    size_t failures;
    double blocked_until;          /* 0 = not blocked */
    double last_seen;              /* for eviction */
};

struct api_guard {
    struct api_guard_limits lim;
    struct api_guard_entry v[API_GUARD_ENTRIES];
    size_t n; /* entries in use */
    struct lograte log[API_GUARD_KINDS]; /* one line a second per kind */
};

struct api_guard *api_guard_new(const struct api_guard_limits *lim)
{
    struct api_guard *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->lim = *lim;
    for (size_t k = 0; k < API_GUARD_KINDS; k++)
        g->log[k].every = 1.0;
    return g;
}

struct api_guard *api_guard_free(struct api_guard *g)
{
    free(g);
    return NULL;
}

void api_guard_set_limits(struct api_guard *g, const struct api_guard_limits *lim)
{
    g->lim = *lim;
}

static struct api_guard_entry *api_guard_find(struct api_guard *g, const char *addr)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->v[i].addr, addr) == 0)
            return &g->v[i];
    return NULL;
}

/* api_guard_slot: a fresh entry for addr; when the table is full, the one least recently seen
 * gives way, an unblocked one before a blocked one, so that a flood of new addresses cannot
 * cheaply lift the block of an address that earned one. */
static struct api_guard_entry *api_guard_slot(struct api_guard *g, const char *addr, double now)
{
    struct api_guard_entry *e = NULL;
    if (g->n < API_GUARD_ENTRIES) {
        e = &g->v[g->n++];
    } else {
        struct api_guard_entry *free_old = NULL, *any_old = NULL;
        for (size_t i = 0; i < g->n; i++) {
            struct api_guard_entry *c = &g->v[i];
            if (!any_old || c->last_seen < any_old->last_seen)
                any_old = c;
            if (c->blocked_until <= now && (!free_old || c->last_seen < free_old->last_seen))
                free_old = c;
        }
        e = free_old ? free_old : any_old;
    }
    memset(e, 0, sizeof(*e));
    size_t len = strnlen(addr, API_GUARD_ADDR_MAX - 1);
    memcpy(e->addr, addr, len);
    e->addr[len] = '\0';
    return e;
}

int api_guard_blocked(struct api_guard *g, const char *addr, double now)
{
    if (!g || !addr)
        return 0;
    struct api_guard_entry *e = api_guard_find(g, addr);
    if (!e || e->blocked_until <= now)
        return 0;
    e->last_seen = now;
    double left = ceil(e->blocked_until - now);
    return left < 1 ? 1 : (int)left;
}

bool api_guard_failure(struct api_guard *g, const char *addr, double now)
{
    if (!g || !addr)
        return false;
    struct api_guard_entry *e = api_guard_find(g, addr);
    if (!e)
        e = api_guard_slot(g, addr, now);
    e->last_seen = now;
    if (e->blocked_until > now)
        return false;
    if (e->failures == 0 || now - e->window_start >= g->lim.window_s) {
        e->window_start = now;
        e->failures = 0;
    }
    if (++e->failures < g->lim.max_failures)
        return false;
    e->blocked_until = now + g->lim.block_s;
    e->failures = 0;
    return true;
}

bool api_guard_log_due(struct api_guard *g, enum api_guard_kind kind, double now, unsigned long *suppressed)
{
    if (!g || (size_t)kind >= API_GUARD_KINDS)
        return false;
    return lograte_due(&g->log[kind], now, suppressed);
}

size_t api_guard_size(const struct api_guard *g)
{
    return g ? g->n : 0;
}
