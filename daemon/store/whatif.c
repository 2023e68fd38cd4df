/* whatif.c: the replay of a group of incidents (an incident and those it links to) through a
 * candidate rule set, as store_batch.c decides items: events with rules_update and the linked
 * incidents' states as they then stood, people's decisions with rules_act. Pure: the caller reads
 * the records and says what the replay changed (whatif_diff.c). It lives beside the store because
 * it must hand the rules exactly what the store hands them (store/incident.h). */
#include "store/whatif.h"

#include <stdlib.h>
#include <string.h>

#include "store/incident.h"
#include "util/timefmt.h"

/* One item of the replay: an event or a person's decision, with its place in the order. */
struct whatif_item {
    int64_t key;   /* audit id */
    size_t rec;    /* record of the group */
    size_t pos;    /* position within its record, in the record's own order */
    const json_t *event; /* [seq, body, key] */
    const json_t *act;
};

static bool whatif_streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Equal strings, or both absent. */
static bool whatif_same(const char *a, const char *b)
{
    return (!a && !b) || whatif_streq(a, b);
}

static const char *whatif_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int whatif_item_cmp(const void *x, const void *y)
{
    const struct whatif_item *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->rec != b->rec)
        return a->rec < b->rec ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static json_t *whatif_find(const json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        if (whatif_streq(whatif_str(x, key), value))
            return x;
    }
    return NULL;
}

static bool whatif_holds(const json_t *arr, const char *value)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        if (whatif_streq(json_string_value(x), value))
            return true;
    }
    return false;
}

/* The replayed crime standing for the stored crime `crn` of the same incident: the live one
 * that holds its principal allegation (or its first), else a live one of the same offence and
 * victim when it had none. */
static const char *whatif_crime_map(const json_t *stored, const json_t *replayed, const char *crn)
{
    const json_t *sc = whatif_find(json_object_get(stored, "crimes"), "crn", crn);
    if (!sc)
        return NULL;
    const char *al = whatif_str(sc, "principal");
    if (!al)
        al = json_string_value(json_array_get(json_object_get(sc, "allegations"), 0));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(replayed, "crimes"), i, c)
    {
        if (!whatif_streq(whatif_str(c, "status"), "recorded"))
            continue;
        if (al ? whatif_holds(json_object_get(c, "allegations"), al)
               : whatif_same(whatif_str(c, "offence"), whatif_str(sc, "offence")) &&
                     whatif_same(whatif_str(c, "victim"), whatif_str(sc, "victim")))
            return whatif_str(c, "crn");
    }
    return NULL;
}

/* A C3's surviving crime, stored as `crn` in this incident or one of `others`, as the replay
 * numbered it; crn itself when the replay has no counterpart (rules_act then refuses). */
static const char *whatif_survivor_map(const json_t *stored, const json_t *replayed, const json_t *others,
                                       const json_t *replayed_all, const char *crn)
{
    const char *m = whatif_crime_map(stored, replayed, crn);
    if (m)
        return m;
    const char *id;
    json_t *st;
    json_object_foreach((json_t *)others, id, st)
    {
        if (whatif_find(json_object_get(st, "crimes"), "crn", crn)) {
            m = whatif_crime_map(st, json_object_get(replayed_all, id), crn);
            return m ? m : crn;
        }
    }
    return crn;
}

static void whatif_body_copy(json_t *body, const json_t *from, const char *key, const char *as)
{
    json_t *v = json_object_get(from, key);
    if (json_is_string(v))
        json_object_set(body, as ? as : key, v);
}

static int64_t whatif_at(const char *text, const json_t *act)
{
    int64_t ms = 0;
    if (text && timefmt_parse(text, &ms))
        return ms;
    if (timefmt_parse(whatif_str(act, "at") ? whatif_str(act, "at") : "", &ms))
        return ms;
    return 0;
}

/* A pending item closed by a person's decision: the decision itself. */
static int whatif_request_decide(const json_t *act, const json_t *stored, const json_t *replayed,
                                 struct whatif_request *out)
{
    const json_t *after = json_object_get(act, "after");
    const json_t *res = json_object_get(after, "resolution");
    const char *decision = whatif_str(res, "decision");
    if (!whatif_streq(whatif_str(res, "how"), "person") ||
        !(whatif_streq(decision, "record") || whatif_streq(decision, "no_crime") || whatif_streq(decision, "transfer")))
        return 0;
    const json_t *sp = whatif_find(json_object_get(stored, "pending"), "id", whatif_str(act, "pending_id"));
    if (!sp)
        sp = after;
    const char *reason = whatif_str(sp, "reason"), *allegation = whatif_str(sp, "allegation");
    const json_t *rp = NULL;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(replayed, "pending"), i, p)
    {
        if (!rp && whatif_streq(whatif_str(p, "status"), "open") && whatif_same(whatif_str(p, "reason"), reason) &&
            whatif_same(whatif_str(p, "allegation"), allegation))
            rp = p;
    }
    if (!rp)
        return -1;
    out->body = json_object();
    json_object_set_new(out->body, "decision", json_string(decision));
    whatif_body_copy(out->body, res, "rationale", NULL);
    const char *offence = whatif_str(res, "offence");
    /* An offence the person named, rather than the item's candidate, goes with the decision. */
    if (whatif_streq(decision, "record") && offence && !whatif_same(offence, whatif_str(sp, "candidate_offence")))
        json_object_set_new(out->body, "offence", json_string(offence));
    if (!whatif_streq(decision, "record")) {
        whatif_body_copy(out->body, res, "reason_code", NULL);
        whatif_body_copy(out->body, res, "to_force", NULL);
    }
    out->req.action = "decide";
    out->req.target = whatif_str(rp, "id");
    out->req.at_ms = whatif_at(whatif_str(after, "closed_at"), act);
    return 1;
}

int whatif_request(const json_t *act, const json_t *stored, const json_t *replayed, const json_t *others,
                   const json_t *replayed_all, struct whatif_request *out)
{
    memset(out, 0, sizeof(*out));
    const char *action = whatif_str(act, "action");
    const json_t *after = json_object_get(act, "after");
    int rc;
    if (whatif_streq(action, "pending.closed")) {
        rc = whatif_request_decide(act, stored, replayed, out);
    } else if (whatif_streq(action, "crime.cancelled") || whatif_streq(action, "crime.transferred")) {
        const json_t *c = json_object_get(after, "cancellation");
        const char *target = whatif_crime_map(stored, replayed, whatif_str(act, "crn"));
        if (!target)
            return -1;
        out->body = json_object();
        static const char *const keys[] = {"reason", "rationale", "avi", "victim_informed_at", "to_force", NULL};
        for (size_t i = 0; keys[i]; i++)
            whatif_body_copy(out->body, c, keys[i], NULL);
        const char *dup = whatif_str(c, "duplicate_of");
        if (dup)
            json_object_set_new(out->body, "duplicate_of",
                                json_string(whatif_survivor_map(stored, replayed, others, replayed_all, dup)));
        out->req.action = "cancel";
        out->req.target = target;
        out->req.at_ms = whatif_at(whatif_str(c, "at"), act);
        rc = 1;
    } else if (whatif_streq(action, "crime.reclassified")) {
        /* A review's reclassification follows from the review's decision (pending.closed). */
        if (whatif_holds(json_object_get(act, "rules"), RULE_DOWNGRADE_REVIEW))
            return 0;
        const char *target = whatif_crime_map(stored, replayed, whatif_str(act, "crn"));
        if (!target)
            return -1;
        const json_t *by = json_object_get(after, "reclassified_by");
        out->body = json_object();
        whatif_body_copy(out->body, after, "offence", NULL);
        whatif_body_copy(out->body, by, "rationale", NULL);
        out->req.action = "reclassify";
        out->req.target = target;
        out->req.at_ms = whatif_at(whatif_str(by, "at"), act);
        rc = 1;
    } else {
        return 0;
    }
    if (rc != 1)
        return rc;
    out->req.body = out->body;
    out->req.user = whatif_str(act, "actor");
    out->req.role = whatif_str(act, "role");
    return 1;
}

void whatif_request_clear(struct whatif_request *r)
{
    if (!r)
        return;
    json_decref(r->body);
    memset(r, 0, sizeof(*r));
}

/* The items of every record in replay order; NULL (n 0) when there are none or memory ran out. */
static struct whatif_item *whatif_items(const json_t *group, size_t *n)
{
    size_t total = 0, r;
    json_t *rec;
    json_array_foreach(group, r, rec)
        total += json_array_size(json_object_get(rec, "events")) + json_array_size(json_object_get(rec, "acts"));
    *n = 0;
    struct whatif_item *it = total ? calloc(total, sizeof(*it)) : NULL;
    if (!it)
        return NULL;
    json_array_foreach(group, r, rec)
    {
        size_t i, pos = 0;
        json_t *x;
        int64_t key = 0;
        json_array_foreach(json_object_get(rec, "events"), i, x)
        {
            json_t *k = json_array_get(x, 2);
            if (json_is_integer(k))
                key = json_integer_value(k);
            it[(*n)++] = (struct whatif_item){key, r, pos++, x, NULL};
        }
        json_array_foreach(json_object_get(rec, "acts"), i, x)
            it[(*n)++] = (struct whatif_item){json_integer_value(json_object_get(x, "id")), r, pos++, NULL, x};
    }
    qsort(it, *n, sizeof(*it), whatif_item_cmp);
    return it;
}

/* One event. false only when memory ran out part-way through changing the state. */
static bool whatif_event(const struct rules_env *env, json_t *states, const char *id, const json_t *x,
                         struct whatif_stats *stats)
{
    const char *body = json_string_value(json_array_get(x, 1));
    struct feed_event ev;
    struct feed_event_error err;
    stats->events++;
    if (!body || feed_event_parse(body, strlen(body), NULL, &ev, &err) != 0) {
        if (body)
            feed_event_error_clear(&err);
        stats->events_refused++;
        return true;
    }
    json_t *state = json_object_get(states, id);
    if (json_is_null(state))
        state = NULL;
    json_t *linked = incident_linked(states, ev.doc, state, id);
    json_t *new_state = NULL, *outcome = NULL;
    memset(&err, 0, sizeof(err));
    /* The states object holds the only reference to state, as the store's batch does. */
    int rc = rules_update(env, state, json_object_size(linked) ? linked : NULL, &ev, &new_state, &outcome, &err);
    json_decref(linked);
    feed_event_clear(&ev);
    if (rc < 0) {
        feed_event_error_clear(&err);
        return false;
    }
    if (rc != 0) {
        feed_event_error_clear(&err);
        stats->events_refused++;
        return true;
    }
    if (!state)
        json_object_set_new(states, id, new_state);
    json_decref(outcome);
    return true;
}

static void whatif_act(const struct rules_env *env, json_t *states, json_t *stored_all, const char *id,
                       const json_t *act, struct whatif_stats *stats)
{
    json_t *replayed = json_object_get(states, id);
    const json_t *stored = json_object_get(stored_all, id);
    struct whatif_request r;
    int found = whatif_request(act, stored, json_is_null(replayed) ? NULL : replayed, stored_all, states, &r);
    if (found == 0)
        return;
    stats->decisions++;
    if (found < 0 || json_is_null(replayed) || !replayed) {
        stats->decisions_unmatched++;
        whatif_request_clear(&r);
        return;
    }
    json_t *linked = incident_others(states, id);
    json_t *new_state = NULL, *outcome = NULL;
    struct feed_event_error err = {0};
    int rc = rules_act(env, replayed, json_object_size(linked) ? linked : NULL, &r.req, &new_state, &outcome, &err);
    json_decref(linked);
    whatif_request_clear(&r);
    if (rc != 0) {
        feed_event_error_clear(&err);
        stats->decisions_refused++;
        return;
    }
    json_object_set_new(states, id, new_state);
    json_decref(outcome);
}

json_t *whatif_replay(const struct rules_env *env, const json_t *group, struct whatif_stats *stats)
{
    json_t *states = json_object();
    json_t *stored = json_object();
    size_t r;
    json_t *rec;
    json_array_foreach(group, r, rec)
    {
        const char *id = whatif_str(rec, "incident_id");
        if (!id || json_object_get(states, id))
            continue;
        json_object_set_new(states, id, json_null());
        json_t *st = json_object_get(rec, "state");
        json_object_set(stored, id, st ? st : json_null());
    }
    size_t n = 0;
    struct whatif_item *items = whatif_items(group, &n);
    bool ok = states && stored;
    for (size_t i = 0; ok && i < n; i++) {
        const char *id = whatif_str(json_array_get(group, items[i].rec), "incident_id");
        if (!id)
            continue;
        if (items[i].event)
            ok = whatif_event(env, states, id, items[i].event, stats);
        else
            whatif_act(env, states, stored, id, items[i].act, stats);
    }
    free(items);
    json_decref(stored);
    if (!ok) {
        json_decref(states);
        return NULL;
    }
    return states;
}
