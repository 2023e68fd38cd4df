/* rules_act.c: decisions taken by people, applied to an incident's state: a pending recording
 * decision settled (record / no crime / transfer), a crime cancelled under Section C (C1-C4) or
 * reclassified. Pure: the caller gives the time and the serial numbers. What a person decides is
 * marked so that later feed events do not undo it (see rules.h). */
#include "rules/rules_act.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_authority.h"
#include "rules/ruleset.h"
#include "util/errbuf.h"
#include "util/timefmt.h"
#include "store/incident.h"
#include "util/jsonwrite.h"

/* Everything one action works on. */
struct act {
    const struct rules_env *env;
    const struct rules_act_request *req;
    const json_t *linked;
    json_t *state; /* the new state, owned until handed out */
    json_t *audit; /* owned */
    char at[TIMEFMT_LEN];
    struct feed_event_error *err;
};

static int act_fail(struct act *a, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int act_fail(struct act *a, int status, const char *code, const char *field, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    errbuf_vset(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    feed_event_error_set(a->err, code, field ? field : "", "%s", msg);
    return status;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static const char *body_str(const struct act *a, const char *key)
{
    return str(a->req->body, key);
}

static bool streq(const char *x, const char *y)
{
    return x && y && strcmp(x, y) == 0;
}

static void act_audit(struct act *a, const char *action, const char *crn, const char *pending_id,
                      const char *allegation, json_t *before, json_t *after, json_t *rules)
{
    json_t *e = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "action", action, "actor", a->req->user, "role",
                          a->req->role, "before", before ? before : json_null(), "after", after ? after : json_null(),
                          "rules", rules ? rules : json_array());
    if (crn)
        json_object_set_new(e, "crn", json_string(crn));
    if (pending_id)
        json_object_set_new(e, "pending_id", json_string(pending_id));
    if (allegation)
        json_object_set_new(e, "allegation", json_string(allegation));
    json_array_append_new(a->audit, e);
}

/* Who decided, as kept on decisions, crimes and pending resolutions. */
static json_t *act_by(const struct act *a)
{
    json_t *by = json_pack("{s:s, s:s, s:s, s:s}", "user", a->req->user, "role", a->req->role, "at", a->at,
                           "rationale", body_str(a, "rationale") ? body_str(a, "rationale") : "");
    return by;
}

/* The crime as the API shows it. */
static json_t *crime_view(const json_t *crime, const char *incident_id)
{
    static const char *const keys[] = {"crn", "offence", "victim", "status", "flags", "recorded_at", "rules", NULL};
    json_t *v = json_object();
    for (size_t i = 0; keys[i]; i++) {
        json_t *x = json_object_get(crime, keys[i]);
        json_object_set_new(v, keys[i], x ? jsonwrite_copy(x) : json_null());
    }
    if (incident_id)
        json_object_set_new(v, "incident_id", json_string(incident_id));
    return v;
}

static json_t *find_by(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        if (streq(str(x, key), value))
            return x;
    }
    return NULL;
}

static bool crime_live(const json_t *crime)
{
    return streq(str(crime, "status"), "recorded");
}

static json_t *rule_list(const char *a, const char *b)
{
    json_t *r = json_array();
    if (a)
        json_array_append_new(r, json_string(a));
    if (b)
        json_array_append_new(r, json_string(b));
    return r;
}

/* Set the latest decision on an allegation, marked as a person's. */
static void set_decision(struct act *a, const char *allegation, json_t *d)
{
    json_t *decisions = json_object_get(a->state, "decisions");
    if (!json_is_object(decisions)) {
        decisions = json_object();
        json_object_set_new(a->state, "decisions", decisions);
    }
    json_object_set_new(d, "allegation", json_string(allegation));
    json_object_set_new(d, "by", act_by(a));
    json_object_set_new(d, "ruleset", json_string(ruleset_version(a->env->rs)));
    json_object_set_new(d, "ruleset_sha256", json_string(ruleset_sha256(a->env->rs)));
    json_object_set_new(decisions, allegation, d);
}

/* Close one pending item as this person's decision; takes the reference to extra. */
static void close_pending(struct act *a, json_t *p, const char *decision, json_t *extra)
{
    json_t *before = jsonwrite_copy(p);
    json_t *res = json_pack("{s:s, s:s, s:s, s:s, s:s}", "how", "person", "decision", decision, "by", a->req->user,
                            "role", a->req->role, "rationale", body_str(a, "rationale") ? body_str(a, "rationale") : "");
    if (extra) {
        json_object_update(res, extra);
        json_decref(extra);
    }
    json_object_set_new(p, "status", json_string("closed"));
    json_object_set_new(p, "closed_at", json_string(a->at));
    json_object_set_new(p, "resolution", res);
    act_audit(a, "pending.closed", NULL, str(p, "id"), str(p, "allegation"), before, jsonwrite_copy(p),
              rule_list(RULE_PERSON_DECISION, NULL));
}

static bool person_known(const struct act *a, const char *id)
{
    return find_by(json_object_get(a->state, "persons"), "id", id) != NULL;
}

/* The authority table's verdict on this person taking act on an offence: code and off NULL when
 * the matter names no offence (the "default" group decides); a code the rule set does not know
 * (off NULL) needs the most demanding role of any group. 0, or 403 and nothing done. */
static int act_authority(struct act *a, enum ruleset_action act, const struct ruleset_offence *off, const char *code)
{
    const struct ruleset_group *dflt = ruleset_group(a->env->rs, "default");
    const char *needed = !off && !code && dflt ? dflt->roles[act] : rules_authority_role(a->env->rs, act, off);
    if (rules_authority_allows(a->req->role, needed))
        return 0;
    return act_fail(a, 403, "forbidden", NULL, "%s of a %s crime (group %s) needs the role %s or above, not %s (%s)",
                    ruleset_action_name(act), code ? code : "unclassified", off ? off->group : code ? "unknown" : "default", needed,
                    a->req->role, RULE_AUTHORITY);
}

/* A crime whose offence the loaded rule set does not know: no one acts on it by default. */
static int act_offence_unknown(struct act *a, const json_t *crime)
{
    return act_fail(a, 409, "offence_not_in_ruleset", NULL,
                    "crime %s is coded %s, which rule set %s does not know: its authority cannot be decided",
                    str(crime, "crn"), str(crime, "offence") ? str(crime, "offence") : "(none)",
                    ruleset_version(a->env->rs));
}

/* ---- decide a pending item ------------------------------------------------------------------ */

static int act_record(struct act *a, json_t *p, json_t *crimes_out)
{
    const char *code = body_str(a, "offence") ? body_str(a, "offence") : str(p, "candidate_offence");
    if (!code)
        return act_fail(a, 422, "offence_required", "offence", "no offence given and the item names none");
    const struct ruleset_offence *off = ruleset_offence(a->env->rs, code);
    if (!off)
        return act_fail(a, 422, "unknown_offence", "offence", "offence %s is not in rule set %s", code,
                        ruleset_version(a->env->rs));
    if (off->action_fraud)
        return act_fail(a, 422, "action_fraud", "offence",
                        "offence %s is within Action Fraud's remit and is referred, not recorded by the force", code);
    if (act_authority(a, RULESET_ACT_RECORD, off, code))
        return 403;
    const char *victim = body_str(a, "victim") ? body_str(a, "victim") : str(p, "victim");
    bool state_based = off->basis == RULESET_BASIS_STATE;
    if (!state_based && !victim)
        return act_fail(a, 422, "victim_required", "victim", "offence %s needs a victim", code);
    if (victim && !person_known(a, victim))
        return act_fail(a, 422, "unknown_person", "victim", "%s is not a person of this incident", victim);
    const char *allegation = str(p, "allegation");
    json_t *crimes = json_object_get(a->state, "crimes");
    /* One crime per victim and offence: a live one already there counts this decision. */
    json_t *crime = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(crimes, i, c)
    {
        const char *cv = str(c, "victim");
        if (crime_live(c) && streq(str(c, "offence"), code) && ((!cv && !victim) || streq(cv, victim)))
            crime = c;
    }
    if (!crime) {
        char crn[96];
        snprintf(crn, sizeof(crn), "%s/%d/%06lld", a->env->force, timefmt_year(a->req->at_ms),
                 (long long)a->env->next_serial(a->env->serial_arg));
        json_t *flags = json_is_array(json_object_get(p, "flags")) ? jsonwrite_copy(json_object_get(p, "flags"))
                                                                    : json_array();
        crime = json_pack("{s:s, s:s, s:o, s:s, s:o, s:s, s:o, s:s, s:s, s:o, s:o}", "crn", crn, "offence", code,
                          "victim", victim ? json_string(victim) : json_null(), "status", "recorded", "flags", flags,
                          "recorded_at", a->at, "rules", rule_list(RULE_PERSON_DECISION, off->rule), "ruleset",
                          ruleset_version(a->env->rs), "ruleset_sha256", ruleset_sha256(a->env->rs), "allegations",
                          allegation ? json_pack("[s]", allegation) : json_array(), "recorded_by", act_by(a));
        if (allegation)
            json_object_set_new(crime, "principal", json_string(allegation));
        json_array_append_new(crimes, crime);
        act_audit(a, "crime.recorded", crn, str(p, "id"), allegation, NULL, jsonwrite_copy(crime),
                  rule_list(RULE_PERSON_DECISION, off->rule));
    } else if (allegation) {
        json_t *als = json_object_get(crime, "allegations");
        bool present = false;
        json_t *x;
        json_array_foreach(als, i, x) present = present || streq(json_string_value(x), allegation);
        if (json_is_array(als) && !present)
            json_array_append_new(als, json_string(allegation));
    }
    json_array_append_new(crimes_out, crime_view(crime, NULL));
    if (allegation)
        set_decision(a, allegation,
                     json_pack("{s:s, s:s, s:s, s:o}", "outcome", "recorded", "offence", code, "crn",
                               str(crime, "crn"), "rules", rule_list(RULE_PERSON_DECISION, off->rule)));
    close_pending(a, p, "record", json_pack("{s:s, s:s}", "offence", code, "crn", str(crime, "crn")));
    return 0;
}

static void reclassify_crime(struct act *a, json_t *crime, const char *code, const char *why);
static int reclassify_check(struct act *a, const json_t *crime, const char *code, const struct ruleset_offence **to);

/* The offence a pending item is about: its candidate, NULL when it names none the rule set knows. */
static const struct ruleset_offence *pending_offence(const struct act *a, const json_t *p)
{
    return ruleset_offence(a->env->rs, str(p, "candidate_offence"));
}

/* no_crime or transfer: the table's role for it, or for disposing of an allegation held as N100. */
static int act_dispose_authority(struct act *a, const json_t *p, bool transfer)
{
    const struct ruleset_offence *off = pending_offence(a, p);
    const json_t *d = json_object_get(json_object_get(a->state, "decisions"), str(p, "allegation") ? str(p, "allegation") : "");
    enum ruleset_action act = streq(str(d, "outcome"), "held") ? RULESET_ACT_N100_DISPOSE
                              : transfer                       ? RULESET_ACT_TRANSFER
                                                               : RULESET_ACT_NO_CRIME;
    return act_authority(a, act, off, str(p, "candidate_offence"));
}

/* The live crime a reclassification review is about: the one it names, else the one standing on
 * its allegation. */
static json_t *review_crime(const struct act *a, const json_t *p)
{
    json_t *crimes = json_object_get(a->state, "crimes");
    json_t *c = str(p, "crn") ? find_by(crimes, "crn", str(p, "crn")) : NULL;
    size_t i;
    json_t *x;
    json_array_foreach(crimes, i, x)
    {
        if (!c && crime_live(x) && streq(str(x, "principal"), str(p, "allegation")))
            c = x;
    }
    return c;
}

/* A reclassification review (the feed would have downgraded a recorded crime) closed as `record`:
 * the crime takes the offence the body names, else the candidate; naming the crime's own offence
 * keeps it as it is. Only the role the table names for downgrading the crime's group may. */
static int act_review(struct act *a, json_t *p, json_t *crimes_out)
{
    if (!streq(body_str(a, "decision"), "record"))
        return act_fail(a, 422, "record_required", "decision",
                        "a reclassification review is closed as record, naming the offence to apply or to keep; "
                        "a crime leaves the record only by cancellation");
    json_t *crime = review_crime(a, p);
    if (!crime || !crime_live(crime))
        return act_fail(a, 409, "not_recorded", NULL, "the crime pending decision %s reviews is no longer recorded",
                        a->req->target);
    const struct ruleset_offence *from = ruleset_offence(a->env->rs, str(crime, "offence"));
    if (!from)
        return act_offence_unknown(a, crime);
    if (act_authority(a, RULESET_ACT_RECLASSIFY_DOWN, from, from->code))
        return 403;
    const char *code = body_str(a, "offence") ? body_str(a, "offence") : str(p, "candidate_offence");
    if (!code)
        return act_fail(a, 422, "offence_required", "offence", "no offence given and the item names none");
    if (!streq(code, from->code)) {
        const struct ruleset_offence *to = NULL;
        int rc = reclassify_check(a, crime, code, &to);
        if (rc)
            return rc;
        reclassify_crime(a, crime, to->code, RULE_DOWNGRADE_REVIEW);
    } else if (str(crime, "principal")) {
        set_decision(a, str(crime, "principal"),
                     json_pack("{s:s, s:s, s:s, s:o}", "outcome", "recorded", "offence", from->code, "crn",
                               str(crime, "crn"), "rules", rule_list(RULE_DOWNGRADE_REVIEW, RULE_PERSON_DECISION)));
    }
    json_array_append_new(crimes_out, crime_view(crime, NULL));
    close_pending(a, p, "record", json_pack("{s:s, s:s}", "offence", str(crime, "offence"), "crn", str(crime, "crn")));
    return 0;
}

static int act_decide(struct act *a, json_t **body)
{
    json_t *p = find_by(json_object_get(a->state, "pending"), "id", a->req->target);
    if (!p)
        return act_fail(a, 404, "not_found", NULL, "no pending decision %s in this incident", a->req->target);
    if (!streq(str(p, "status"), "open"))
        return act_fail(a, 409, "already_closed", NULL, "pending decision %s is already closed", a->req->target);
    const char *decision = body_str(a, "decision");
    json_t *crimes = json_array();
    int rc = 0;
    if (streq(str(p, "reason"), "reclassification_review")) {
        rc = act_review(a, p, crimes);
    } else if (streq(decision, "record")) {
        rc = act_record(a, p, crimes);
    } else if ((rc = act_dispose_authority(a, p, streq(decision, "transfer"))) != 0) {
        /* refused: nothing written */
    } else {
        bool transfer = streq(decision, "transfer");
        const char *reason = body_str(a, "reason_code");
        if (!reason)
            reason = transfer ? "other_force_area" : str(p, "reason");
        const char *allegation = str(p, "allegation");
        if (allegation) {
            json_t *d = json_pack("{s:s, s:s, s:o}", "outcome", transfer ? "transfer" : "not_recorded", "reason",
                                  reason, "rules", rule_list(RULE_PERSON_DECISION, NULL));
            if (transfer && body_str(a, "to_force"))
                json_object_set_new(d, "to_force", json_string(body_str(a, "to_force")));
            set_decision(a, allegation, d);
        }
        json_t *extra = json_pack("{s:s}", "reason_code", reason);
        if (body_str(a, "to_force"))
            json_object_set_new(extra, "to_force", json_string(body_str(a, "to_force")));
        close_pending(a, p, decision, extra);
    }
    if (rc != 0) {
        json_decref(crimes);
        return rc;
    }
    json_t *closed = jsonwrite_copy(p);
    json_object_set_new(closed, "decision", json_string(decision));
    json_object_set_new(closed, "rationale", json_string(body_str(a, "rationale")));
    json_object_set_new(closed, "decided_by", json_string(a->req->user));
    json_object_set_new(closed, "decided_at", json_string(a->at));
    *body = json_pack("{s:o, s:o, s:s}", "pending", closed, "crimes", crimes, "decision", decision);
    return 0;
}

/* ---- cancel and reclassify ------------------------------------------------------------------ */

/* A live crime by CRN in this incident or a linked one; sets *incident to its incident id. */
static const json_t *crime_anywhere(const struct act *a, const char *crn, const char **incident)
{
    json_t *c = find_by(json_object_get(a->state, "crimes"), "crn", crn);
    if (c) {
        *incident = str(a->state, "incident_id");
        return c;
    }
    const char *id;
    json_t *st;
    json_object_foreach((json_t *)a->linked, id, st)
    {
        c = find_by(json_object_get(st, "crimes"), "crn", crn);
        if (c) {
            *incident = id;
            return c;
        }
    }
    return NULL;
}

/* C3 with no surviving crime named: a live crime of the same offence in an incident this one
 * links to as the same report, or else in this incident, or else one against the same person
 * (same command-and-control `ref`) in another incident. */
static const char *duplicate_guess(const struct act *a, const json_t *crime)
{
    size_t i, j;
    json_t *l, *c;
    json_array_foreach(json_object_get(a->state, "links"), i, l)
    {
        if (!streq(str(l, "relation"), "same_report"))
            continue;
        json_t *st = json_object_get(a->linked, str(l, "incident_id") ? str(l, "incident_id") : "");
        json_array_foreach(json_object_get(st, "crimes"), j, c)
        {
            if (crime_live(c) && streq(str(c, "offence"), str(crime, "offence")))
                return str(c, "crn");
        }
    }
    /* Incidents that link to this one as the same report, seen from their side. */
    const char *me = str(a->state, "incident_id");
    const char *id;
    json_t *st;
    json_object_foreach((json_t *)a->linked, id, st)
    {
        json_array_foreach(json_object_get(st, "links"), i, l)
        {
            if (!streq(str(l, "relation"), "same_report") || !streq(str(l, "incident_id"), me))
                continue;
            json_array_foreach(json_object_get(st, "crimes"), j, c)
            {
                if (crime_live(c) && streq(str(c, "offence"), str(crime, "offence")))
                    return str(c, "crn");
            }
        }
    }
    json_array_foreach(json_object_get(a->state, "crimes"), j, c)
    {
        if (c != crime && crime_live(c) && streq(str(c, "offence"), str(crime, "offence")))
            return str(c, "crn");
    }
    /* The same person reported twice without a link: same offence, victim with the same `ref`. */
    const char *ref = incident_person_ref(a->state, str(crime, "victim"));
    json_object_foreach((json_t *)a->linked, id, st)
    {
        json_array_foreach(json_object_get(st, "crimes"), j, c)
        {
            if (crime_live(c) && streq(str(c, "offence"), str(crime, "offence")) &&
                streq(incident_person_ref(st, str(c, "victim")), ref))
                return str(c, "crn");
        }
    }
    return NULL;
}

/* The receiving force for C1 when the request names none: the crime's allegations' location. */
static const char *other_force_of(const struct act *a, const json_t *crime)
{
    size_t i;
    json_t *aid;
    json_array_foreach(json_object_get(crime, "allegations"), i, aid)
    {
        json_t *al = find_by(json_object_get(a->state, "allegations"), "id", json_string_value(aid));
        const char *f = str(json_object_get(al, "location"), "other_force");
        if (f && *f)
            return f;
    }
    return NULL;
}

static int act_cancel(struct act *a, json_t *crime, json_t **body)
{
    const char *reason = body_str(a, "reason");
    const struct ruleset_offence *off = ruleset_offence(a->env->rs, str(crime, "offence"));
    static const char *const codes[] = {"C1", "C2", "C3", "C4"};
    int which = -1;
    for (int i = 0; i < 4; i++)
        if (streq(reason, codes[i]))
            which = i;
    if (which < 0)
        return act_fail(a, 400, "bad_field", "reason", "reason must be C1, C2, C3 or C4");
    if (!off)
        return act_offence_unknown(a, crime);
    if (act_authority(a, (enum ruleset_action)(RULESET_ACT_CANCEL_C1 + which), off, off->code))
        return 403;
    json_t *cancellation = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "reason", reason, "rationale",
                                     body_str(a, "rationale"), "by", a->req->user, "role", a->req->role, "at", a->at,
                                     "victim_informed", body_str(a, "victim_informed_at") != NULL);
    if (body_str(a, "victim_informed_at"))
        json_object_set_new(cancellation, "victim_informed_at", json_string(body_str(a, "victim_informed_at")));
    const char *rule = RULE_CANCEL_C4;
    const char *status = "cancelled";
    const char *survivor = NULL;
    if (streq(reason, "C1")) {
        const char *to = body_str(a, "to_force") ? body_str(a, "to_force") : other_force_of(a, crime);
        if (!to) {
            json_decref(cancellation);
            return act_fail(a, 422, "to_force_required", "to_force",
                            "C1 names the force or agency taking the crime, and the allegation names none");
        }
        json_object_set_new(cancellation, "to_force", json_string(to));
        rule = RULE_CANCEL_C1;
        status = "transferred";
    } else if (streq(reason, "C2")) {
        if (!body_str(a, "avi")) {
            json_decref(cancellation);
            return act_fail(a, 422, "avi_required", "avi",
                            "C2 needs the additional verifiable information that shows no crime took place");
        }
        json_object_set_new(cancellation, "avi", json_string(body_str(a, "avi")));
        rule = RULE_CANCEL_C2;
    } else if (streq(reason, "C3")) {
        survivor = body_str(a, "duplicate_of") ? body_str(a, "duplicate_of") : duplicate_guess(a, crime);
        const char *where = NULL;
        const json_t *s = survivor ? crime_anywhere(a, survivor, &where) : NULL;
        if (!survivor) {
            json_decref(cancellation);
            return act_fail(a, 422, "duplicate_of_required", "duplicate_of",
                            "C3 names the surviving crime, and no linked report holds one");
        }
        if (!s || streq(survivor, str(crime, "crn")) || !crime_live(s)) {
            json_decref(cancellation);
            return act_fail(a, 422, "duplicate_not_live", "duplicate_of",
                            "the surviving crime %s must exist, be another crime and be recorded", survivor);
        }
        json_object_set_new(cancellation, "duplicate_of", json_string(survivor));
        rule = RULE_CANCEL_C3;
    }
    const struct ruleset_group *g = ruleset_group(a->env->rs, off->group);
    for (size_t i = 0; g && g->victim_informed && g->victim_informed[i]; i++) {
        if (streq(g->victim_informed[i], reason) && !body_str(a, "victim_informed_at")) {
            json_decref(cancellation);
            return act_fail(a, 422, "victim_not_informed", "victim_informed_at",
                            "cancelling a %s crime (group %s) as %s needs victim_informed_at: when the victim was told",
                            off->code, off->group, reason);
        }
    }
    json_t *before = jsonwrite_copy(crime);
    json_object_set_new(crime, "status", json_string(status));
    json_object_set_new(crime, "cancellation", cancellation);
    act_audit(a, streq(status, "transferred") ? "crime.transferred" : "crime.cancelled", str(crime, "crn"), NULL,
              str(crime, "principal"), before, jsonwrite_copy(crime), rule_list(rule, RULE_CANCEL_AUTHORITY));
    /* Its allegations are now settled by this decision; reviews about it are closed. */
    size_t i, j;
    json_t *aid, *p;
    json_array_foreach(json_object_get(crime, "allegations"), i, aid)
    {
        const char *al = json_string_value(aid);
        if (!al)
            continue;
        json_t *d = json_pack("{s:s, s:s, s:o}", "outcome",
                              survivor ? "counted_in" : streq(status, "transferred") ? "transfer" : "not_recorded",
                              "code", reason, "rules", rule_list(rule, NULL));
        json_object_set_new(d, "crn", json_string(survivor ? survivor : str(crime, "crn")));
        set_decision(a, al, d);
        json_array_foreach(json_object_get(a->state, "pending"), j, p)
        {
            if (streq(str(p, "status"), "open") && streq(str(p, "allegation"), al))
                close_pending(a, p, "cancel", json_pack("{s:s, s:s}", "crn", str(crime, "crn"), "reason_code", reason));
        }
    }
    *body = crime_view(crime, str(a->state, "incident_id"));
    return 0;
}

/* Change a live crime's code as this person's decision; `why` is an extra rule id or NULL. */
static void reclassify_crime(struct act *a, json_t *crime, const char *code, const char *why)
{
    json_t *before = jsonwrite_copy(crime);
    json_object_set_new(crime, "offence", json_string(code));
    json_t *rules = json_object_get(crime, "rules");
    if (json_is_array(rules))
        json_array_append_new(rules, json_string(RULE_RECLASSIFICATION));
    json_object_set_new(crime, "reclassified_by", act_by(a));
    json_t *audit_rules = rule_list(RULE_RECLASSIFICATION, RULE_PERSON_DECISION);
    if (why)
        json_array_append_new(audit_rules, json_string(why));
    act_audit(a, "crime.reclassified", str(crime, "crn"), NULL, str(crime, "principal"), before,
              jsonwrite_copy(crime), audit_rules);
    const char *principal = str(crime, "principal");
    if (principal)
        set_decision(a, principal,
                     json_pack("{s:s, s:s, s:s, s:o}", "outcome", "recorded", "offence", code, "crn",
                               str(crime, "crn"), "rules", rule_list(RULE_RECLASSIFICATION, RULE_PERSON_DECISION)));
}

/* Checks a move of crime to the offence `code` and the authority for it; 0 with *to set. */
static int reclassify_check(struct act *a, const json_t *crime, const char *code, const struct ruleset_offence **to)
{
    const struct ruleset_offence *from = ruleset_offence(a->env->rs, str(crime, "offence"));
    const struct ruleset_offence *off = ruleset_offence(a->env->rs, code);
    if (!from)
        return act_offence_unknown(a, crime);
    if (!off)
        return act_fail(a, 422, "unknown_offence", "offence", "offence %s is not in rule set %s", code,
                        ruleset_version(a->env->rs));
    bool down = rules_authority_is_down(a->env->rs, from, off);
    if (act_authority(a, down ? RULESET_ACT_RECLASSIFY_DOWN : RULESET_ACT_RECLASSIFY_UP, from, from->code))
        return 403;
    if (off->action_fraud)
        return act_fail(a, 422, "action_fraud", "offence",
                        "offence %s is within Action Fraud's remit and is referred, not recorded by the force", code);
    if (off->basis == RULESET_BASIS_VICTIM && json_is_null(json_object_get(crime, "victim")))
        return act_fail(a, 422, "victim_required", "offence", "offence %s needs a victim and this crime has none",
                        code);
    *to = off;
    return 0;
}

static int act_reclassify(struct act *a, json_t *crime, json_t **body)
{
    const char *code = body_str(a, "offence");
    const struct ruleset_offence *off = NULL;
    if (!ruleset_offence(a->env->rs, str(crime, "offence")))
        return act_offence_unknown(a, crime);
    if (code && streq(code, str(crime, "offence")))
        return act_fail(a, 422, "offence_unchanged", "offence", "the crime is already %s", code);
    int rc = reclassify_check(a, crime, code, &off);
    if (rc)
        return rc;
    reclassify_crime(a, crime, off->code, NULL);
    *body = crime_view(crime, str(a->state, "incident_id"));
    return 0;
}

int rules_act(const struct rules_env *env, const json_t *state, const json_t *linked,
              const struct rules_act_request *req, json_t **new_state, json_t **outcome, struct feed_event_error *err)
{
    struct act a = {.env = env, .req = req, .linked = linked ? linked : NULL, .err = err};
    json_t *empty = NULL;
    if (!a.linked)
        a.linked = empty = json_object();
    if (!req->action || !req->target || !req->user || !req->role || !json_is_object(req->body)) {
        json_decref(empty);
        return act_fail(&a, 400, "bad_request", NULL, "incomplete request");
    }
    a.state = jsonwrite_copy(state);
    a.audit = json_array();
    timefmt_format(req->at_ms, a.at);
    json_t *body = NULL;
    int rc;
    if (strcmp(req->action, "decide") == 0) {
        rc = act_decide(&a, &body);
    } else {
        json_t *crime = find_by(json_object_get(a.state, "crimes"), "crn", req->target);
        if (!crime)
            rc = act_fail(&a, 404, "not_found", NULL, "no crime %s in this incident", req->target);
        else if (!crime_live(crime))
            rc = act_fail(&a, 409, "not_recorded", NULL, "crime %s is %s, not recorded", req->target,
                          str(crime, "status") ? str(crime, "status") : "unknown");
        else if (strcmp(req->action, "cancel") == 0)
            rc = act_cancel(&a, crime, &body);
        else if (strcmp(req->action, "reclassify") == 0)
            rc = act_reclassify(&a, crime, &body);
        else
            rc = act_fail(&a, 400, "bad_request", NULL, "unknown action %s", req->action);
    }
    json_decref(empty);
    if (rc != 0) {
        json_decref(a.state);
        json_decref(a.audit);
        json_decref(body);
        return rc;
    }
    *new_state = a.state;
    *outcome = json_pack("{s:i, s:o, s:o}", "status", 200, "body", body, "audit", a.audit);
    return 0;
}
