/* rules_count.c: the counting rules: which recordable allegations make one crime (one per victim
 * per finished incident, per offender for the state, per course of conduct) and which is principal. */
#include <stdlib.h>
#include <string.h>

#include "rules/rules_int.h"

static int rules_find(struct rules_ctx *c, int i)
{
    while (c->al[i].parent != i) {
        c->al[i].parent = c->al[c->al[i].parent].parent;
        i = c->al[i].parent;
    }
    return i;
}

static void rules_unite(struct rules_ctx *c, int a, int b)
{
    int ra = rules_find(c, a), rb = rules_find(c, b);
    if (ra == rb)
        return;
    if (ra < rb)
        c->al[rb].parent = ra;
    else
        c->al[ra].parent = rb;
}

static bool rules_countable(const struct rules_alleg *a)
{
    return a->verdict == RULES_RECORDABLE && a->frozen_crime < 0;
}

static bool rules_course(const struct rules_alleg *a)
{
    return a->off->count == RULESET_COUNT_COURSE;
}

static bool rules_same_victim(const struct rules_alleg *a, const struct rules_alleg *b)
{
    if (!a->victim_id || !b->victim_id)
        return !a->victim_id && !b->victim_id;
    return strcmp(a->victim_id, b->victim_id) == 0;
}

static bool rules_same_occasion(const struct rules_ctx *c, const struct rules_alleg *a, const struct rules_alleg *b)
{
    if (!a->has_when || !b->has_when)
        return false;
    int64_t d = a->when_ms - b->when_ms;
    return (d < 0 ? -d : d) <= ruleset_occasion_window_ms(c->rs);
}

static bool rules_has_suspect(const struct rules_alleg *a, const char *id)
{
    size_t i;
    json_t *s;
    json_array_foreach(a->suspects, i, s) {
        if (json_is_string(s) && strcmp(json_string_value(s), id) == 0)
            return true;
    }
    return false;
}

static bool rules_share_suspect(const struct rules_alleg *a, const struct rules_alleg *b)
{
    size_t i;
    json_t *s;
    json_array_foreach(a->suspects, i, s) {
        if (json_is_string(s) && rules_has_suspect(b, json_string_value(s)))
            return true;
    }
    return false;
}

/* The same offenders: equal sets, or one side names none (the same unknown offenders). */
static bool rules_same_suspects(const struct rules_alleg *a, const struct rules_alleg *b)
{
    size_t na = json_array_size(a->suspects), nb = json_array_size(b->suspects), i;
    json_t *s;
    if (na == 0 || nb == 0)
        return true;
    json_array_foreach(a->suspects, i, s) {
        if (!json_is_string(s) || !rules_has_suspect(b, json_string_value(s)))
            return false;
    }
    json_array_foreach(b->suspects, i, s) {
        if (!json_is_string(s) || !rules_has_suspect(a, json_string_value(s)))
            return false;
    }
    return true;
}

bool rules_count_beats(const struct rules_ctx *c, const struct rules_alleg *x, const struct rules_alleg *y)
{
    if (ruleset_exception_for(c->rs, x->off->code, y->off->code))
        return true;
    if (ruleset_exception_for(c->rs, y->off->code, x->off->code))
        return false;
    int64_t rx = rules_assess_rank(x), ry = rules_assess_rank(y);
    if (rx != ry)
        return rx > ry;
    if (y->ico == (int)x->idx)
        return true;
    if (x->ico == (int)y->idx)
        return false;
    if (x->off->order != y->off->order)
        return x->off->order < y->off->order;
    return x->idx < y->idx;
}

static struct rules_unit *rules_new_unit(struct rules_ctx *c)
{
    if (c->nunits == c->capunits) {
        size_t cap = c->capunits ? c->capunits * 2 : 8;
        struct rules_unit *n = realloc(c->units, cap * sizeof *n);
        if (!n)
            return NULL;
        c->units = n;
        c->capunits = cap;
    }
    struct rules_unit *u = &c->units[c->nunits++];
    memset(u, 0, sizeof *u);
    u->principal = -1;
    u->crime = -1;
    return u;
}

static int rules_unit_add(struct rules_unit *u, int member)
{
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 4;
        int *n = realloc(u->members, cap * sizeof *n);
        if (!n)
            return -1;
        u->members = n;
        u->cap = cap;
    }
    u->members[u->n++] = member;
    return 0;
}

void rules_count_free(struct rules_ctx *c)
{
    for (size_t i = 0; i < c->nunits; i++) {
        free(c->units[i].members);
        json_decref(c->units[i].incidents);
        json_decref(c->units[i].rules);
        json_decref(c->units[i].flags);
    }
    free(c->units);
    c->units = NULL;
    c->nunits = c->capunits = 0;
}

/* Mark the allegations a crime already stands on whose facts no longer make that crime: the crime
 * stays as it is (only a decision maker removes or changes it) and they stay counted in it. Crimes
 * no longer live (cancelled, transferred) hold their allegations the same way. */
static void rules_freeze(struct rules_ctx *c)
{
    size_t k, j;
    json_t *crime, *aid;
    json_array_foreach(json_object_get(c->state, "crimes"), k, crime) {
        const char *status = rules_str(crime, "status");
        const char *principal = rules_str(crime, "principal");
        bool live = status && strcmp(status, "recorded") == 0;
        bool frozen = !live;
        int p = -1;
        for (size_t i = 0; principal && i < c->nal; i++)
            if (strcmp(c->al[i].id, principal) == 0)
                p = (int)i;
        if (p < 0 || c->al[p].verdict != RULES_RECORDABLE || c->al[p].frozen_crime >= 0)
            frozen = true;
        if (!frozen)
            continue;
        json_array_foreach(json_object_get(crime, "allegations"), j, aid) {
            for (size_t i = 0; i < c->nal; i++)
                if (strcmp(c->al[i].id, json_string_value(aid)) == 0 && c->al[i].frozen_crime < 0 &&
                    (live ? (int)i == p || c->al[i].verdict == RULES_RECORDABLE : true))
                    c->al[i].frozen_crime = (int)k;
        }
    }
}

/* A person's command-and-control ref, through its id in this incident; NULL when it has none. */
static const char *rules_count_ref(const struct rules_ctx *c, const char *person_id)
{
    return rules_str(rules_person(c, person_id), "ref");
}

/* The suspects' refs of an allegation, sorted, as a new array; NULL when it names no suspect or
 * one without a ref (unknown offenders cannot be told to be the same across calls). */
static json_t *rules_count_suspect_refs(const struct rules_ctx *c, const struct rules_alleg *a)
{
    size_t i, n = json_array_size(a->suspects);
    json_t *s;
    if (n == 0)
        return NULL;
    const char **refs = calloc(n, sizeof *refs);
    if (!refs)
        return NULL;
    json_array_foreach(a->suspects, i, s) {
        if (!(refs[i] = rules_count_ref(c, json_string_value(s)))) {
            free(refs);
            return NULL;
        }
    }
    /* insertion sort: a handful of suspects */
    for (i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(refs[j - 1], refs[j]) > 0; j--) {
            const char *t = refs[j];
            refs[j] = refs[j - 1];
            refs[j - 1] = t;
        }
    json_t *out = json_array();
    for (i = 0; out && i < n; i++)
        if (i == 0 || strcmp(refs[i - 1], refs[i]) != 0)
            json_array_append_new(out, json_string(refs[i]));
    free(refs);
    return out;
}

/* Equal arrays of strings, in order. */
static bool rules_count_same_refs(const json_t *x, const json_t *y)
{
    size_t n = json_array_size(x);
    if (!json_is_array(y) || json_array_size(y) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_array_get(x, i)), *b = json_string_value(json_array_get(y, i));
        if (!a || !b || strcmp(a, b) != 0)
            return false;
    }
    return true;
}

/* Whether a time lies within the window of some occasion of the unit (one without a time of its
 * own is taken at the event's time). The edge itself is inside. */
static bool rules_count_in_window(const struct rules_ctx *c, const struct rules_unit *u, int64_t when_ms,
                                  int64_t window_ms)
{
    for (size_t m = 0; m < u->n; m++) {
        const struct rules_alleg *b = &c->al[u->members[m]];
        int64_t t = b->has_when ? b->when_ms : c->at_ms;
        int64_t d = t - when_ms;
        if ((d < 0 ? -d : d) <= window_ms)
            return true;
    }
    return false;
}

int rules_count_across(struct rules_ctx *c, struct rules_unit *u)
{
    const struct ruleset_persons *pp = ruleset_persons(c->rs);
    const struct rules_alleg *a = &c->al[u->principal];
    const char *own = rules_str(c->state, "incident_id");
    const char *vref = a->victim_id ? rules_count_ref(c, a->victim_id) : NULL;
    if (!pp->course_rule || pp->course_window_ms <= 0 || !json_is_array(c->persons) || !vref)
        return 0;
    json_t *srefs = rules_count_suspect_refs(c, a);
    if (!srefs)
        return 0;
    int total = 0;
    size_t i;
    json_t *row, *v;
    json_array_foreach(c->persons, i, row) {
        const char *inc = rules_str(row, "incident_id"), *crn = rules_str(row, "crn");
        int64_t when;
        if (!inc || (own && strcmp(inc, own) == 0) || !rules_str(row, "victim_ref") ||
            strcmp(rules_str(row, "victim_ref"), vref) != 0 || !rules_str(row, "offence") ||
            strcmp(rules_str(row, "offence"), a->off->code) != 0 ||
            !rules_count_same_refs(srefs, json_object_get(row, "suspect_refs")) ||
            !timefmt_parse(rules_str(row, "occurred_at"), &when) ||
            !rules_count_in_window(c, u, when, pp->course_window_ms))
            continue;
        if (crn) {
            /* The course already made a crime elsewhere: once per victim and suspects. The lowest
             * reference wins, so every incident of the course names the same one. */
            if (!u->linked_crn || strcmp(crn, u->linked_crn) < 0)
                u->linked_crn = crn;
            u->across = true;
        } else {
            json_int_t n = json_is_integer(v = json_object_get(row, "occasions")) ? json_integer_value(v) : 1;
            total += (int)(n < 1 ? 1 : n > 1000 ? 1000 : n);
        }
        if (!u->incidents)
            u->incidents = json_array();
        bool seen = false;
        size_t k;
        json_t *x;
        json_array_foreach(u->incidents, k, x) seen = seen || strcmp(json_string_value(x), inc) == 0;
        if (!seen)
            json_array_append_new(u->incidents, json_string(inc));
    }
    json_decref(srefs);
    return total > 100000 ? 100000 : total;
}

/* Course of conduct: allegations of one key against one victim by the same offenders add up
 * their occasions; two or more make one crime, fewer make none. */
static int rules_courses(struct rules_ctx *c)
{
    for (size_t i = 0; i < c->nal; i++) {
        struct rules_alleg *a = &c->al[i];
        if (!rules_countable(a) || !rules_course(a) || a->unit >= 0 || a->verdict != RULES_RECORDABLE)
            continue;
        struct rules_unit *u = rules_new_unit(c);
        if (!u)
            return -1;
        int ui = (int)(u - c->units);
        int total = 0;
        for (size_t j = i; j < c->nal; j++) {
            struct rules_alleg *b = &c->al[j];
            if (!rules_countable(b) || !rules_course(b) || b->unit >= 0 || !rules_same_victim(a, b) ||
                strcmp(a->off->code, b->off->code) != 0 || !rules_same_suspects(a, b))
                continue;
            if (rules_unit_add(u, (int)j) < 0)
                return -1;
            b->unit = ui;
            total += b->occasions;
        }
        u->course = true;
        u->principal = (int)i;
        total += rules_count_across(c, u);
        if (total >= a->off->min_occasions || u->linked_crn)
            continue;
        /* Not (yet) a course of conduct: no crime of this kind. A person decides whether the
         * single occasion is another offence or an incident only. */
        for (size_t m = 0; m < u->n; m++) {
            struct rules_alleg *b = &c->al[u->members[m]];
            b->unit = -1;
            b->verdict = RULES_OUTCOME;
            b->outcome = "pending";
            b->reason = b->pending_reason = "insufficient_detail";
            rules_add_rule(b->rules, RULE_COURSE_OF_CONDUCT);
        }
        u->dead = true;
        u->n = 0;
    }
    return 0;
}

/* An allegation against another victim that the counting rules put into someone else's crime:
 * in the course of a more serious one, or an exception such as violence at a robbery. */
static void rules_absorb(struct rules_ctx *c)
{
    for (size_t i = 0; i < c->nal; i++) {
        struct rules_alleg *a = &c->al[i];
        if (!rules_countable(a) || rules_course(a))
            continue;
        if (a->ico >= 0) {
            struct rules_alleg *t = &c->al[a->ico];
            if (rules_countable(t) && !rules_course(t)) {
                a->absorb_rule = RULE_IN_COURSE_OF;
                if (rules_same_victim(a, t))
                    rules_unite(c, (int)i, a->ico);
                else if (rules_count_beats(c, t, a))
                    a->absorbed_by = a->ico;
                else
                    a->absorb_rule = NULL;
                if (a->absorb_rule)
                    continue;
            }
        }
        for (size_t j = 0; j < c->nal; j++) {
            struct rules_alleg *w = &c->al[j];
            if (j == i || !rules_countable(w) || rules_course(w) || rules_same_victim(a, w))
                continue;
            const struct ruleset_exception *x = ruleset_exception_for(c->rs, w->off->code, a->off->code);
            if (!x || x->same_victim || (x->same_occasion && !rules_same_occasion(c, a, w)) ||
                (x->shared_suspect && !rules_share_suspect(a, w)))
                continue;
            a->absorbed_by = (int)j;
            a->absorb_rule = x->id;
            break;
        }
    }
    /* Never let absorption go round in a circle: such a member stands on its own. */
    for (size_t i = 0; i < c->nal; i++) {
        int cur = c->al[i].absorbed_by;
        for (size_t steps = 0; cur >= 0; steps++) {
            if (cur == (int)i || steps > c->nal) {
                c->al[i].absorbed_by = -1;
                c->al[i].absorb_rule = NULL;
                break;
            }
            cur = c->al[cur].absorbed_by;
        }
    }
}

/* Finished incident: one victim's allegations on one occasion are one crime; an offence against
 * the state is one per offender or group per occasion. */
static void rules_occasions(struct rules_ctx *c)
{
    for (size_t i = 0; i < c->nal; i++) {
        struct rules_alleg *a = &c->al[i];
        if (!rules_countable(a) || rules_course(a) || a->absorbed_by >= 0)
            continue;
        for (size_t j = 0; j < i; j++) {
            struct rules_alleg *b = &c->al[j];
            if (!rules_countable(b) || rules_course(b) || b->absorbed_by >= 0 || a->state_based != b->state_based)
                continue;
            if (a->state_based) {
                if (strcmp(a->off->code, b->off->code) == 0 && rules_same_suspects(a, b) &&
                    (rules_same_occasion(c, a, b) || !a->has_when))
                    rules_unite(c, (int)i, (int)j);
                continue;
            }
            if (!rules_same_victim(a, b))
                continue;
            /* A time not given cannot be told apart: it joins the victim's first occasion. */
            if (!a->has_when) {
                rules_unite(c, (int)i, (int)j);
                break;
            }
            if (rules_same_occasion(c, a, b))
                rules_unite(c, (int)i, (int)j);
        }
    }
}

static int rules_build_units(struct rules_ctx *c)
{
    for (size_t i = 0; i < c->nal; i++) {
        struct rules_alleg *a = &c->al[i];
        if (!rules_countable(a) || rules_course(a) || a->absorbed_by >= 0 || rules_find(c, (int)i) != (int)i)
            continue;
        struct rules_unit *u = rules_new_unit(c);
        if (!u)
            return -1;
        int ui = (int)(u - c->units);
        for (size_t j = i; j < c->nal; j++) {
            struct rules_alleg *b = &c->al[j];
            if (!rules_countable(b) || rules_course(b) || b->absorbed_by >= 0 || rules_find(c, (int)j) != (int)i)
                continue;
            if (rules_unit_add(u, (int)j) < 0)
                return -1;
            b->unit = ui;
        }
        int best = u->members[0];
        for (size_t m = 1; m < u->n; m++)
            if (rules_count_beats(c, &c->al[u->members[m]], &c->al[best]))
                best = u->members[m];
        u->principal = best;
    }
    return 0;
}

/* Exceptions that reach across occasions (the stolen car burnt hours later, stalking over
 * harassment): the loser's whole crime folds into the winner's. */
static int rules_merge_across_occasions(struct rules_ctx *c)
{
    for (size_t i = 0; i < c->nunits; i++) {
        struct rules_unit *l = &c->units[i];
        if (l->dead || l->n == 0)
            continue;
        struct rules_alleg *lp = &c->al[l->principal];
        for (size_t j = 0; j < c->nunits; j++) {
            struct rules_unit *w = &c->units[j];
            if (j == i || w->dead || w->n == 0)
                continue;
            struct rules_alleg *wp = &c->al[w->principal];
            if (!lp->victim_id || !rules_same_victim(lp, wp))
                continue;
            const struct ruleset_exception *x = ruleset_exception_for(c->rs, wp->off->code, lp->off->code);
            if (!x || !x->same_victim || x->same_occasion)
                continue;
            for (size_t m = 0; m < l->n; m++) {
                if (rules_unit_add(w, l->members[m]) < 0)
                    return -1;
                c->al[l->members[m]].unit = (int)j;
                c->al[l->members[m]].absorb_rule = x->id;
            }
            l->dead = true;
            l->n = 0;
            break;
        }
    }
    return 0;
}

static int rules_place_absorbed(struct rules_ctx *c)
{
    for (size_t i = 0; i < c->nal; i++) {
        struct rules_alleg *a = &c->al[i];
        if (!rules_countable(a) || a->absorbed_by < 0)
            continue;
        int root = a->absorbed_by;
        while (c->al[root].absorbed_by >= 0)
            root = c->al[root].absorbed_by;
        int ui = c->al[root].unit;
        if (ui < 0)
            continue;
        if (rules_unit_add(&c->units[ui], (int)i) < 0)
            return -1;
        a->unit = ui;
    }
    return 0;
}

int rules_count(struct rules_ctx *c)
{
    json_t *decisions = json_object_get(c->state, "decisions");
    for (size_t i = 0; i < c->nal; i++) {
        struct rules_alleg *a = &c->al[i];
        json_t *old = json_object_get(decisions, a->id);
        /* A person's decision stands until the feed brings the allegation again. */
        if (old && json_object_get(old, "by") && a->ev_index < 0) {
            a->verdict = RULES_SETTLED;
            continue;
        }
        /* Decided under another rule set and untouched by this event: that decision stands. */
        if (a->kept) {
            a->verdict = RULES_SETTLED;
            continue;
        }
        rules_assess(c, a);
    }
    rules_freeze(c);
    if (rules_courses(c) < 0)
        return -1;
    /* A course that no longer adds up leaves its crime standing on allegations now undecided. */
    rules_freeze(c);
    rules_absorb(c);
    rules_occasions(c);
    if (rules_build_units(c) < 0 || rules_merge_across_occasions(c) < 0 || rules_place_absorbed(c) < 0)
        return -1;
    return 0;
}
