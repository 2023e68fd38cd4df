/* store_batch.c: deciding a batch in memory: duplicates and resends, seq order, the rules (or a
 * person's decision), item by item in arrival order against the incidents' states read or made by
 * earlier items of the same batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "feed/feed_reply.h"
#include "service/sources.h"
#include "rules/rules.h"
#include "rules/rules_act.h"
#include "store/incident.h"
#include "store/store_persons.h"
#include "store/store_caps.h"
#include "store/store_int.h"

/* What the rules' serial callback needs: the lane's serials, and where to say they ran out. */
struct decide_ctx {
    struct store_lane *ln;
    struct store_decision *d;
    /* every incident id some state of the batch links to (link_targets_add): an item whose
     * incident is not among them has no incident linking back to it, and linked_for need not
     * look through every state for one. A superset: links are only ever added. NULL once memory
     * ran out building it: linked_for then looks through every state, as it must. */
    json_t *targets;
};

/* Adds the incidents `state` links to to *targets; drops the set (NULL) if it cannot. */
static void link_targets_add(json_t **targets, const json_t *state)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(state, "links"), i, l)
    {
        const char *to = json_string_value(json_object_get(l, "incident_id"));
        if (!*targets || !to || json_object_get(*targets, to))
            continue;
        if (json_object_set_new(*targets, to, json_true()) != 0) {
            json_decref(*targets);
            *targets = NULL;
        }
    }
}

static int64_t next_serial(void *arg)
{
    struct decide_ctx *c = arg;
    int64_t v;
    if (!store_lane_serial(c->ln, &v)) {
        c->d->serial_short = true; /* the batch is decided again with more */
        return 0;
    }
    return v;
}

/* What one item usually consumes: a crime or a pending decision per allegation and one more. An
 * item that needs more (several victims, say) makes its batch fetch more and decide again. */
size_t store_batch_serials_needed(const struct store_item *it)
{
    size_t n = it->act ? 4 : json_array_size(json_object_get(it->ev.doc, "allegations")) * 2 + 1;
    return n * (it->serial_boost ? it->serial_boost : 1);
}

static void put_id(const char **ids, size_t room, size_t *n, const char *id)
{
    if (!id)
        return;
    if (*n < room)
        ids[*n] = id;
    (*n)++;
}

size_t store_batch_incidents(const struct store_item *it, const char **ids, size_t room)
{
    size_t n = 0, j;
    json_t *l;
    put_id(ids, room, &n, it->ev.incident_id);
    json_array_foreach(json_object_get(it->ev.doc, "links"), j, l)
        put_id(ids, room, &n, json_string_value(json_object_get(l, "incident_id")));
    json_array_foreach(json_object_get(it->act, "links"), j, l)
        put_id(ids, room, &n, json_string_value(l));
    return n;
}

/* True when every item of the batch opens an incident on its own: a feed event opening an
 * incident, linking to none, not in doubt, and not in a direct batch the database refused. */
bool store_batch_all_openings(struct store_item *const *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct store_item *it = b[i];
        if (it->act || it->read_first || it->in_doubt || it->ev.type != FEED_EVENT_OPENED ||
            json_array_size(json_object_get(it->ev.doc, "links")) > 0)
            return false;
        /* A victim with a ref: the person index must be read under its lock (SQL_PERSONS_LOCK). */
        struct jsonwrite_buf refs = {0};
        store_persons_victim_refs(&refs, it->ev.doc, NULL);
        bool any = refs.len > 0;
        jsonwrite_buf_free(&refs);
        if (any)
            return false;
    }
    return true;
}

static json_t *array_or_empty(json_t *v)
{
    return json_is_array(v) ? json_incref(v) : json_array();
}

/* The body of a reply as stored with the event (and repeated to a resend). */
static json_t *reply_body(const struct store_item *it, const json_t *outcome)
{
    json_t *warnings = json_array();
    json_array_extend(warnings, it->ev.warnings);
    json_t *ow = json_object_get(outcome, "warnings");
    if (json_is_array(ow))
        json_array_extend(warnings, ow);
    json_t *body = json_object();
    json_object_set_new(body, "crimes", array_or_empty(json_object_get(outcome, "crimes")));
    json_object_set_new(body, "decisions", array_or_empty(json_object_get(outcome, "decisions")));
    json_object_set_new(body, "pending", array_or_empty(json_object_get(outcome, "pending")));
    json_object_set_new(body, "warnings", warnings);
    json_t *rules = json_object_get(outcome, "rules");
    json_object_set_new(body, "rules", rules ? json_incref(rules) : json_null());
    return body;
}

/* The incidents an item may consult besides its own, as they now stand (also ones opened by an
 * earlier event of this batch). A feed event: those its incident links to, by its stored links or
 * its own. A person's decision: every other incident the batch holds (a C3 cancellation looks for
 * the surviving crime among them). New reference. */
static json_t *linked_for(const struct store_item *it, json_t *states, const json_t *targets)
{
    const char *own = it->ev.incident_id;
    if (it->act)
        return incident_others(states, own);
    json_t *out = incident_linked(states, it->ev.doc, json_object_get(states, own), own);
    /* and those that link to it: a same_report link is honoured whichever report came first (round
     * trip 1 locked and read them, SQL_INCIDENTS_LOCK_BACK). Looked for through every state only
     * when some state links to it: a batch of n items would otherwise cost n * n lookups. */
    if (targets && !json_object_get(targets, own))
        return out;
    const char *id;
    json_t *st;
    json_object_foreach(states, id, st)
    {
        size_t i;
        json_t *l;
        if (json_is_null(st) || strcmp(id, own) == 0 || json_object_get(out, id))
            continue;
        json_array_foreach(json_object_get(st, "links"), i, l)
        {
            const char *to = json_string_value(json_object_get(l, "incident_id"));
            if (to && strcmp(to, own) == 0) {
                json_object_set(out, id, st);
                break;
            }
        }
    }
    return out;
}

static json_t *rejected(const struct store_item *it, const char *code, const char *field, const char *msg)
{
    return feed_reply_error("rejected", it->ev.event_id, it->ev.incident_id, code, msg, field);
}

/* A person's decision. Returns true when it is to be written. */
static bool decide_action(struct decide_ctx *c, struct store_item *it, json_t *states, json_t *linked,
                          struct store_write *w)
{
    struct store *st = c->ln->st;
    const char *incident_id = it->ev.incident_id;
    json_t *state = json_object_get(states, incident_id);
    if (!state || json_is_null(state)) {
        it->reply = store_action_reply(404, "not_found", "no such incident", NULL);
        return false;
    }
    struct timeval now;
    gettimeofday(&now, NULL);
    json_t *act = it->act;
    struct rules_act_request req = {
        .action = json_string_value(json_object_get(act, "action")),
        .target = json_string_value(json_object_get(act, "target")),
        .body = json_object_get(act, "body"),
        .user = json_string_value(json_object_get(act, "user")),
        .role = json_string_value(json_object_get(act, "role")),
        .at_ms = (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000,
    };
    struct rules_env env = {st->rs, st->force, next_serial, c};
    json_t *new_state = NULL, *outcome = NULL;
    struct feed_event_error err = {0};
    int rc = rules_act(&env, state, linked, &req, &new_state, &outcome, &err);
    if (rc != 0) {
        it->reply = store_action_reply(rc, err.code ? err.code : "refused", err.message, err.field);
        feed_event_error_clear(&err);
        return false;
    }
    json_t *status = json_object_get(outcome, "status");
    json_t *body = json_object_get(outcome, "body");
    it->reply = json_pack("{s:I, s:O}", "status", json_is_integer(status) ? json_integer_value(status) : 200,
                          "body", body ? body : json_object());
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(outcome, "audit"), i, v)
    {
        json_t *e = json_object();
        json_object_update(e, v);
        json_object_set_new(e, "incident_id", json_string(incident_id));
        if (!json_object_get(e, "actor"))
            json_object_set_new(e, "actor", json_string(req.user));
        if (!json_object_get(e, "role"))
            json_object_set_new(e, "role", json_string(req.role));
        if (!json_object_get(e, "ruleset"))
            json_object_set_new(e, "ruleset", json_string(ruleset_version(st->rs)));
        if (!json_object_get(e, "ruleset_sha256"))
            json_object_set_new(e, "ruleset_sha256", json_string(ruleset_sha256(st->rs)));
        store_write_audit(w, e, NULL);
        json_decref(e);
    }
    store_write_touch(w, incident_id);
    json_object_set_new(states, incident_id, new_state);
    json_decref(outcome);
    return true;
}

/* A stored event's or an incident's source, when it names a room: NULL, and "default" (fcrd ran
 * without [sources]), say nothing about who may write. */
static const char *named_source(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && strcmp(s, SOURCES_DEFAULT) != 0 ? s : NULL;
}

/* Decide one item against the batch's working state. Returns true when it is to be written. */
static bool decide_one(struct decide_ctx *c, struct store_item *it, json_t *states, json_t *owners, json_t *linked,
                       json_t *seen, json_t *batch_seen, const json_t *persons, struct store_write *w)
{
    struct store *st = c->ln->st;
    if (it->act)
        return decide_action(c, it, states, linked, w);
    struct feed_event *ev = &it->ev;
    const char *source = ev->source ? ev->source : SOURCES_DEFAULT;
    json_t *prior = json_object_get(batch_seen, ev->event_id);
    if (!prior)
        prior = json_object_get(seen, ev->event_id);
    /* Another room's event id: neither its stored reply nor whether the content matches is told
     * to a source that did not send it. */
    const char *prior_source = prior ? named_source(json_object_get(prior, "source")) : NULL;
    if (prior_source && strcmp(prior_source, source) != 0) {
        it->reply = rejected(it, "wrong_source", "event_id", "event_id was already used by another source");
        return false;
    }
    /* An incident belongs to the source that opened it (or, opened before sources were recorded,
     * to the first named source that wrote to it since): another source's event changes nothing.
     * Checked before seq, so that another source learns nothing of the incident's progress. */
    const char *owner = named_source(json_object_get(owners, ev->incident_id));
    if (owner && strcmp(owner, source) != 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "the incident belongs to another source; this connection is source %s", source);
        it->reply = rejected(it, "wrong_source", "incident_id", msg);
        return false;
    }
    if (prior) {
        const char *canon = json_string_value(json_object_get(prior, "body"));
        if (canon && strcmp(canon, ev->canon) == 0)
            it->reply = feed_reply_outcome(it->in_doubt ? "accepted" : "duplicate", ev->event_id, ev->incident_id,
                                      json_object_get(prior, "reply"));
        else
            it->reply = rejected(it, "event_id_conflict", "event_id",
                                 "event_id was already used for an event with different content");
        return false;
    }
    json_t *state = json_object_get(states, ev->incident_id);
    if (json_is_null(state))
        state = NULL;
    int64_t last = incident_last_seq(state);
    if (ev->seq <= last) {
        char msg[160];
        snprintf(msg, sizeof(msg), "seq %lld is not greater than the incident's last applied seq %lld",
                 (long long)ev->seq, (long long)last);
        it->reply = rejected(it, "seq_conflict", "seq", msg);
        return false;
    }
    /* A seq far beyond the last would make every genuine later event a seq_conflict: one forged
     * or corrupt line could freeze the incident. Refused, the incident stays open to the next. */
    if (state && st->p.max_seq_gap > 0 && ev->seq - last > st->p.max_seq_gap) {
        char msg[200];
        snprintf(msg, sizeof(msg), "seq %lld is more than %lld above the incident's last applied seq %lld",
                 (long long)ev->seq, (long long)st->p.max_seq_gap, (long long)last);
        it->reply = rejected(it, "seq_gap", "seq", msg);
        return false;
    }
    /* Before the rules: an event that would take its incident past a cap changes nothing. */
    char cap_field[32], cap_msg[200];
    if (store_caps_check(&st->p.caps, state, ev->doc, cap_field, sizeof cap_field, cap_msg, sizeof cap_msg) != 0) {
        it->reply = rejected(it, "incident_too_large", cap_field, cap_msg);
        return false;
    }
    struct rules_env env = {st->rs, st->force, next_serial, c};
    json_t *new_state = NULL, *outcome = NULL;
    struct feed_event_error err = {0};
    /* The state is updated where it stands unless something else holds it too: then the rules
     * work on a copy. (Nothing does today: the linked incidents' object leaves the incident's
     * own state out.) */
    bool in_place = state && state->refcount == 1;
    int rc = in_place ? rules_update_persons(&env, state, linked, persons, ev, &new_state, &outcome, &err)
                      : rules_apply_persons(&env, state, linked, persons, ev, &new_state, &outcome, &err);
    if (rc < 0) {
        /* (only rules_update says -1) Memory ran out half-way through changing the state in
         * place: the batch cannot be trusted. */
        c->d->state_lost = true;
        feed_event_error_clear(&err);
        return false;
    }
    if (rc != 0) {
        it->reply = rejected(it, err.code ? err.code : "bad_field", err.field, err.message);
        feed_event_error_clear(&err);
        return false;
    }
    json_t *body = reply_body(it, outcome);
    it->reply = feed_reply_outcome("accepted", ev->event_id, ev->incident_id, body);
    store_write_event(w, it, body, outcome);
    /* the canonical text is jansson's own output, so valid UTF-8: no need to check it again */
    json_t *seen_entry = json_object();
    json_object_set_new_nocheck(seen_entry, "body", json_stringn_nocheck(ev->canon, strlen(ev->canon)));
    json_object_set_new_nocheck(seen_entry, "reply", body);
    json_object_set_new_nocheck(seen_entry, "source", json_string(source));
    /* the incident is this source's from now on (SQL_WRITE writes the same: `es`) */
    if (!owner && strcmp(source, SOURCES_DEFAULT) != 0)
        json_object_set_new(owners, ev->incident_id, json_string(source));
    json_object_set_new(batch_seen, ev->event_id, seen_entry);
    if (!in_place)
        json_object_set_new(states, ev->incident_id, new_state);
    /* linked reports the rules changed (a crime reclassified up, pending items settled): their new
     * state is written with this batch, under the lock round trip 1 took on them */
    const char *lid;
    json_t *lst;
    json_object_foreach(json_object_get(outcome, "linked_states"), lid, lst)
    {
        if (json_object_get(states, lid)) {
            json_object_set(states, lid, lst);
            link_targets_add(&c->targets, lst);
            store_write_touch(w, lid);
        }
    }
    json_decref(outcome);
    return true;
}

struct store_decision store_batch_decide(struct store_lane *ln, json_t *states, json_t *owners, json_t *seen,
                                         json_t *persons, struct store_write *w)
{
    struct store_decision d = {0};
    struct decide_ctx c = {ln, &d, json_object()};
    json_t *batch_seen = json_object();
    const char *sid;
    json_t *sst;
    json_object_foreach(states, sid, sst)
        link_targets_add(&c.targets, sst);
    for (size_t i = 0; i < ln->nbatch && !d.state_lost; i++) {
        struct store_item *it = ln->batch[i];
        json_t *item_linked = linked_for(it, states, c.targets);
        /* the person index as this batch leaves it so far: an earlier item's occasions count */
        json_t *flat = json_object_size(persons) ? store_persons_flatten(persons) : NULL;
        bool written = decide_one(&c, it, states, owners, json_object_size(item_linked) ? item_linked : NULL,
                                  seen, batch_seen, flat, w);
        json_decref(flat);
        json_decref(item_linked);
        /* the item's incident may link to more now (whether or not it was accepted: a superset) */
        link_targets_add(&c.targets, json_object_get(states, it->ev.incident_id));
        if (!written)
            continue;
        d.accepted++;
        json_t *rows = store_persons_rows(it->ev.incident_id, json_object_get(states, it->ev.incident_id),
                                          ln->st->rs, true);
        if (json_array_size(rows) > 0 || json_object_get(persons, it->ev.incident_id))
            json_object_set_new(persons, it->ev.incident_id, rows);
        else
            json_decref(rows);
    }
    json_decref(batch_seen);
    json_decref(c.targets);
    return d;
}
