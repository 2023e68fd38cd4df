/* rules_assess.c: one allegation through the recording decision flow (classify, evidence, referral,
 * who reported, location, Schools Protocol), plus crime flags and narrative indicators. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/rules_int.h"

static void rules_verdict(struct rules_alleg *a, const char *outcome, const char *reason, const char *code,
                          const char *rule)
{
    a->verdict = RULES_OUTCOME;
    a->outcome = outcome;
    a->reason = reason;
    a->hold_code = code;
    rules_add_rule(a->rules, rule);
}

/* A rape that cannot be recorded is held as N100 with the sub-code for why; anything else gets
 * the plain outcome. */
static void rules_not_recordable(const struct rules_ctx *c, struct rules_alleg *a, const char *outcome,
                                 const char *reason, const char *n100_code, const char *rule)
{
    if (a->off && a->off->n100 && n100_code) {
        rules_verdict(a, "held", reason, n100_code, rule);
        rules_add_rule(a->rules, ruleset_n100(c->rs)->rule);
    } else {
        rules_verdict(a, outcome, reason, NULL, rule);
    }
}

/* Classification: an offence code the handler gave, else the conduct key through the lexicon.
 * Returns false when the rule set cannot classify (the allegation then waits for a person). */
static bool rules_classify(struct rules_ctx *c, struct rules_alleg *a)
{
    const char *offence = rules_str(a->doc, "offence"), *conduct = rules_str(a->doc, "conduct");
    char field[96];

    if (conduct && !ruleset_lexicon_has(c->rs, conduct) && a->ev_index >= 0) {
        snprintf(field, sizeof field, "allegations[%ld].conduct", a->ev_index);
        rules_warn(c, "unknown_conduct", field, "conduct key \"%s\" is not in rule set %s", conduct,
                   ruleset_version(c->rs));
    }
    if (offence) {
        a->code = offence;
        a->off = ruleset_offence(c->rs, offence);
        if (!a->off && a->ev_index >= 0) {
            snprintf(field, sizeof field, "allegations[%ld].offence", a->ev_index);
            rules_warn(c, "unknown_offence", field, "offence code \"%s\" is not in rule set %s", offence,
                       ruleset_version(c->rs));
        }
        a->class_rule = a->off ? a->off->rule : NULL;
    } else if (conduct && ruleset_lexicon_has(c->rs, conduct)) {
        struct ruleset_facts f = {
            .victim_kind = rules_str(a->victim, "kind"),
            .victim_sex = rules_str(a->victim, "sex"),
            .victim_age = rules_person_age(a->victim),
            .premises = a->premises,
        };
        a->off = ruleset_classify(c->rs, conduct, &f, &a->class_rule);
        if (!a->off && a->ev_index >= 0) {
            snprintf(field, sizeof field, "allegations[%ld].conduct", a->ev_index);
            rules_warn(c, "unclassified", field,
                       "no entry of conduct key \"%s\" fits the facts given (victim kind, sex, age, premises)",
                       conduct);
        }
        if (a->off)
            a->code = a->off->code;
    }
    if (!a->off) {
        rules_verdict(a, "pending", "insufficient_detail", NULL, RULE_UNKNOWN_CODE);
        a->pending_reason = "insufficient_detail";
        return false;
    }
    rules_add_rule(a->rules, a->class_rule);
    return true;
}

static bool rules_same_name(const char *x, const char *y)
{
    return x && y && strcasecmp(x, y) == 0;
}

/* Who reported, and whether the victim's word is needed (HOCR General Rules section A).
 * Returns true when the allegation may be recorded; otherwise the verdict is set. */
static bool rules_confirmation(struct rules_ctx *c, struct rules_alleg *a)
{
    const struct ruleset_confirmation *cf = ruleset_confirmation(c->rs);
    const json_t *v = a->victim, *r = c->reporter;
    json_t *confirms = json_object_get(v, "confirms");
    int age = rules_person_age(v);
    bool child = age >= 0 && age < cf->child_under;
    bool vulnerable = json_is_true(json_object_get(v, "vulnerable"));
    bool organisation = rules_str(v, "kind") && strcmp(rules_str(v, "kind"), "organisation") == 0;
    const char *rrole = rules_str(r, "role"), *rid = rules_str(r, "id");
    /* Why the report may stand without the victim's own word, if it may. */
    enum { BY_NONE, BY_VICTIM, BY_STAFF, BY_PROFESSIONAL, BY_PARENT, BY_CHILD_VULNERABLE } by = BY_NONE;
    const char *acting = NULL;

    if (rid && a->victim_id && strcmp(rid, a->victim_id) == 0)
        by = BY_VICTIM, acting = cf->rule_victim;
    else if (organisation && cf->staff_confirm_for_organisation &&
             rules_same_name(rules_str(r, "employer"), rules_str(v, "name")))
        by = BY_STAFF, acting = cf->rule_organisation;
    else if (rules_in_list(cf->acting_roles, rrole))
        by = BY_PROFESSIONAL, acting = cf->rule_professional;
    else if (child && rules_in_list(cf->parent_roles, rrole))
        by = BY_PARENT, acting = cf->rule_parent;
    else if ((child && cf->child_without_confirmation) || (vulnerable && cf->vulnerable_without_confirmation))
        by = BY_CHILD_VULNERABLE, acting = cf->rule_child_vulnerable;

    if (json_is_true(confirms)) {
        rules_add_rule(a->rules, cf->rule_victim);
        return true;
    }
    const struct ruleset_n100 *n = ruleset_n100(c->rs);
    if (json_is_false(json_object_get(v, "traceable"))) {
        rules_not_recordable(c, a, "not_recorded", "victim_not_traced", n->unconfirmed, cf->rule_not_traced);
        return false;
    }
    if (json_is_false(confirms)) {
        /* A child's or vulnerable victim's denial need not stop a professional's or parent's report. */
        bool protected_victim = (child || vulnerable) && !cf->denial_blocks_child &&
                                (by == BY_PROFESSIONAL || by == BY_PARENT);
        if (!protected_victim) {
            rules_not_recordable(c, a, "not_recorded", "victim_does_not_confirm", n->unconfirmed,
                                 cf->rule_does_not_confirm);
            return false;
        }
    }
    if (by != BY_NONE) {
        rules_add_rule(a->rules, acting);
        return true;
    }
    /* Not yet asked: the decision waits for the victim (a rape is held as N100/1 meanwhile). */
    rules_not_recordable(c, a, "pending", "third_party_unconfirmed", n->unconfirmed, cf->rule_third_party);
    a->pending_reason = "third_party_unconfirmed";
    return false;
}

static bool rules_location(struct rules_ctx *c, struct rules_alleg *a)
{
    const char *area = rules_str(json_object_get(a->doc, "location"), "force_area");
    const struct ruleset_n100 *n = ruleset_n100(c->rs);
    if (area && strcmp(area, "other") == 0) {
        rules_not_recordable(c, a, "transfer", "other_force_area", n->elsewhere, RULE_OTHER_FORCE);
        return false;
    }
    if (area && strcmp(area, "abroad") == 0) {
        rules_not_recordable(c, a, "not_recorded", "abroad", n->elsewhere, RULE_ABROAD);
        return false;
    }
    return true;
}

/* s5 behaviour seen only by police: the victim is police, or with no victim named every person
 * of the incident other than the suspects is. */
static bool rules_police_only(const struct rules_ctx *c, const struct rules_alleg *a)
{
    const struct ruleset_simple *po = ruleset_police_only(c->rs);
    if (!a->off->police_only || !po->rule)
        return false;
    if (a->victim)
        return rules_in_list(po->items, rules_str(a->victim, "role"));
    size_t i;
    json_t *p;
    bool any = false;
    json_array_foreach(json_object_get(c->state, "persons"), i, p) {
        const char *role = rules_str(p, "role");
        if (role && strcmp(role, "suspect") == 0)
            continue;
        if (!rules_in_list(po->items, role))
            return false;
        any = true;
    }
    return any;
}

/* A crime-related closure's reason settles what still waits on the victim or the points to prove. */
static void rules_apply_closing(struct rules_ctx *c, struct rules_alleg *a)
{
    json_t *closing = json_object_get(c->state, "closing");
    const char *cat = rules_str(closing, "category");
    if (a->verdict != RULES_OUTCOME || !a->pending_reason || !cat || strcmp(cat, "crime_related") != 0)
        return;
    if (strcmp(a->pending_reason, "third_party_unconfirmed") != 0 &&
        strcmp(a->pending_reason, "points_not_proved") != 0)
        return;
    const struct ruleset_closing_reason *cr = ruleset_closing_reason(c->rs, rules_str(closing, "reason"));
    if (!cr)
        return;
    a->pending_reason = NULL;
    if (a->off && a->off->n100 && cr->n100)
        rules_verdict(a, "held", cr->reason, cr->n100, cr->rule);
    else
        rules_verdict(a, cr->outcome, cr->reason, NULL, cr->rule);
}

void rules_assess(struct rules_ctx *c, struct rules_alleg *a)
{
    const json_t *d = a->doc;
    a->verdict = RULES_RECORDABLE;

    if (json_is_true(json_object_get(d, "withdrawn")) ||
        (rules_str(a->victim, "wishes") && strcmp(rules_str(a->victim, "wishes"), "declines_police_action") == 0))
        rules_add_rule(a->rules, RULE_WITHDRAWN);
    if (json_is_true(json_object_get(d, "retracted"))) {
        /* Entered in error: nothing to record, but a person confirms the retraction, and any crime
         * it already caused stays until a decision maker cancels it. */
        rules_classify(c, a);
        a->verdict = RULES_OUTCOME;
        a->outcome = "pending";
        a->reason = a->pending_reason = a->review_reason = "retraction_review";
        a->hold_code = NULL;
        rules_add_rule(a->rules, RULE_RETRACTED);
        return;
    }
    if (!rules_classify(c, a))
        return;

    a->state_based = a->off->basis == RULESET_BASIS_STATE || (a->off->basis == RULESET_BASIS_EITHER && !a->victim_id);
    if (!a->state_based && !a->victim_id) {
        if (a->ev_index >= 0) {
            char field[96];
            snprintf(field, sizeof field, "allegations[%ld].victim", a->ev_index);
            rules_warn(c, "no_victim", field, "offence %s needs a victim and none is named", a->off->code);
        }
        rules_verdict(a, "pending", "insufficient_detail", NULL, RULE_NO_VICTIM);
        a->pending_reason = "insufficient_detail";
        return;
    }
    const struct ruleset_n100 *n = ruleset_n100(c->rs);
    if (json_is_true(json_object_get(d, "evidence_against"))) {
        rules_not_recordable(c, a, "not_recorded", "evidence_against", n->evidence_against, RULE_EVIDENCE_AGAINST);
        return;
    }
    if (a->off->action_fraud) {
        const struct ruleset_simple *af = ruleset_action_fraud(c->rs);
        rules_verdict(a, "referred", NULL, af->items[0], af->rule);
        return;
    }
    if (a->state_based) {
        if (a->off->police_only && rules_police_only(c, a)) {
            rules_verdict(a, "not_recorded", "police_only_witness", NULL, ruleset_police_only(c->rs)->rule);
            return;
        }
        if (!rules_location(c, a))
            return;
        json_t *pp = json_object_get(d, "points_proved");
        if (json_is_true(pp)) {
            rules_add_rule(a->rules, RULE_POINTS_TO_PROVE);
            return;
        }
        rules_verdict(a, json_is_false(pp) ? "not_recorded" : "pending", "points_not_proved", NULL,
                      RULE_POINTS_TO_PROVE);
        if (!json_is_false(pp))
            a->pending_reason = "points_not_proved";
        rules_apply_closing(c, a);
        return;
    }
    if (!rules_confirmation(c, a)) {
        rules_apply_closing(c, a);
        return;
    }
    if (!rules_location(c, a))
        return;
    const struct ruleset_simple *sp = ruleset_schools(c->rs);
    if (sp->rule && a->off->schools_minor && rules_in_list(sp->items, a->premises) &&
        !json_is_true(json_object_get(d, "police_action_requested"))) {
        rules_verdict(a, "not_recorded", "schools_protocol", NULL, sp->rule);
        return;
    }
    if (rules_police_only(c, a)) {
        rules_verdict(a, "not_recorded", "police_only_witness", NULL, ruleset_police_only(c->rs)->rule);
        return;
    }
    rules_add_rule(a->rules, RULE_BALANCE);
}

/* ---- ranking ---- */

/* The largest sum of money the note mentions ("£6,500", "7000 pounds"), or -1. */
static int64_t rules_note_value(const char *note)
{
    int64_t best = -1;
    for (const char *p = note; p && *p; p++) {
        bool pound_sign = (unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xA3;
        const char *q = pound_sign ? p + 2 : p;
        if (!isdigit((unsigned char)*q) || (!pound_sign && p > note && isalnum((unsigned char)p[-1])))
            continue;
        int64_t v = 0;
        const char *e = q;
        while (isdigit((unsigned char)*e) || (*e == ',' && isdigit((unsigned char)e[1]))) {
            if (*e != ',' && v < INT64_MAX / 10)
                v = v * 10 + (*e - '0');
            e++;
        }
        while (*e == ' ')
            e++;
        if (pound_sign || strncasecmp(e, "pounds", 6) == 0 || strncasecmp(e, "gbp", 3) == 0)
            if (v > best)
                best = v;
        p = e - 1 > p ? e - 1 : p;
    }
    return best;
}

int64_t rules_assess_rank(const struct rules_alleg *a)
{
    const struct ruleset_offence *o = a->off;
    if (o->high_value_from > 0 && rules_note_value(rules_str(a->doc, "note")) >= o->high_value_from)
        return o->high_value_rank_days;
    return o->rank_days;
}

/* ---- flags ---- */

static bool rules_any_qualifier(const struct rules_ctx *c, const char *const *list)
{
    size_t i;
    json_t *q;
    json_array_foreach(json_object_get(c->state, "qualifiers"), i, q) {
        if (rules_in_list(list, json_string_value(q)))
            return true;
    }
    return false;
}

static bool rules_related(const json_t *from, const char *to, const char *const *kinds)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(from, "relationships"), i, r) {
        const char *t = rules_str(r, "to");
        if (t && to && strcmp(t, to) == 0 && rules_in_list(kinds, rules_str(r, "kind")))
            return true;
    }
    return false;
}

static bool rules_age_ok(const json_t *p, int min, bool unknown_ok)
{
    int age = rules_person_age(p);
    return age < 0 ? unknown_ok : age >= min;
}

/* A relationship of the listed kinds between the victim and a suspect of these allegations,
 * with both old enough when the rule asks. */
static bool rules_relationship_holds(const struct rules_ctx *c, const struct ruleset_flag_rule *fr,
                                     const json_t *victim,
                                     const struct rules_alleg *const *als, size_t n)
{
    const char *vid = rules_str(victim, "id");
    for (size_t i = 0; i < n; i++) {
        size_t j;
        json_t *sid;
        if (!als[i]->victim_id || !vid || strcmp(als[i]->victim_id, vid) != 0)
            continue;
        json_array_foreach(als[i]->suspects, j, sid) {
            const json_t *s = rules_person(c, json_string_value(sid));
            if (!s)
                continue;
            if (!rules_related(victim, json_string_value(sid), fr->relationships) &&
                !rules_related(s, vid, fr->relationships))
                continue;
            if (fr->min_age_both >= 0 && (!rules_age_ok(victim, fr->min_age_both, fr->unknown_age_adult) ||
                                          !rules_age_ok(s, fr->min_age_both, fr->unknown_age_adult)))
                continue;
            return true;
        }
    }
    return false;
}

static bool rules_flag_rule_holds(const struct rules_ctx *c, const struct ruleset_flag_rule *fr, const json_t *victim,
                                  const struct rules_alleg *const *als, size_t n, const struct ruleset_offence *off)
{
    if (fr->qualifiers && !rules_any_qualifier(c, fr->qualifiers))
        return false;
    if (fr->premises) {
        bool any = false;
        for (size_t i = 0; i < n && !any; i++)
            any = rules_in_list(fr->premises, als[i]->premises);
        if (!any)
            return false;
    }
    if (fr->categories && !rules_in_list(fr->categories, off->category))
        return false;
    if (fr->offences && !rules_in_list(fr->offences, off->code))
        return false;
    if (fr->victim_roles && !rules_in_list(fr->victim_roles, rules_str(victim, "role")))
        return false;
    if (fr->victim_age_max >= 0) {
        int age = rules_person_age(victim);
        if (age < 0 || age > fr->victim_age_max)
            return false;
    }
    if (fr->relationships && (!victim || !rules_relationship_holds(c, fr, victim, als, n)))
        return false;
    return true;
}

json_t *rules_assess_flags(const struct rules_ctx *c, const json_t *victim, const struct rules_alleg *const *als,
                           size_t n, const struct ruleset_offence *off, json_t *rules)
{
    json_t *flags = json_array();
    for (size_t i = 0; i < ruleset_flag_rule_count(c->rs); i++) {
        const struct ruleset_flag_rule *fr = ruleset_flag_rule_at(c->rs, i);
        if (!rules_flag_rule_holds(c, fr, victim, als, n, off))
            continue;
        size_t j;
        json_t *f;
        bool have = false;
        json_array_foreach(flags, j, f) {
            have |= strcmp(json_string_value(f), fr->flag) == 0;
        }
        if (!have)
            json_array_append_new(flags, json_string(fr->flag));
        if (rules)
            rules_add_rule(rules, fr->id);
    }
    return flags;
}

/* ---- narrative indicators ---- */

/* Whether one of the negating words stands among the three words before pos. */
static bool rules_negated(const char *text, const char *pos, const char *const *negations)
{
    const char *p = pos;
    for (int words = 0; words < 3 && p > text; words++) {
        while (p > text && !isalnum((unsigned char)p[-1])) {
            p--;
            if (*p == '.' || *p == ';' || *p == '!' || *p == '?')
                return false; /* a denial does not reach across sentences */
        }
        const char *end = p;
        while (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '\''))
            p--;
        size_t len = (size_t)(end - p);
        for (size_t i = 0; negations && negations[i]; i++)
            if (strlen(negations[i]) == len && strncmp(negations[i], p, len) == 0)
                return true;
        if (len >= 3 && strncmp(end - 3, "n't", 3) == 0)
            return true;
    }
    return false;
}

/* The pairs of adjacent bytes a text holds, as a 4,096-bit filter: a phrase with a pair the text
 * lacks cannot be in it, and most phrases of the rule set are in no given narrative, so the
 * filter spares most of the searches. */
struct rules_pairs {
    uint64_t bits[64];
};

static unsigned rules_pair(unsigned char a, unsigned char b)
{
    return ((unsigned)a * 67u + b) & 4095u;
}

static void rules_pairs_of(struct rules_pairs *p, const char *s)
{
    memset(p, 0, sizeof *p);
    for (; s[0] && s[1]; s++) {
        unsigned k = rules_pair((unsigned char)s[0], (unsigned char)s[1]);
        p->bits[k >> 6] |= (uint64_t)1 << (k & 63);
    }
}

static bool rules_pairs_may_hold(const struct rules_pairs *p, const char *phrase)
{
    for (; phrase[0] && phrase[1]; phrase++) {
        unsigned k = rules_pair((unsigned char)phrase[0], (unsigned char)phrase[1]);
        if (!(p->bits[k >> 6] & ((uint64_t)1 << (k & 63))))
            return false;
    }
    return true;
}

void rules_assess_narrative(struct rules_ctx *c, const char *narrative)
{
    const struct ruleset_simple *ind = ruleset_indicators(c->rs);
    json_t *found = json_object_get(c->state, "indicators");
    if (!ind->rule || !narrative)
        return;
    if (!json_is_array(found)) {
        found = json_array();
        json_object_set_new(c->state, "indicators", found);
    }
    char *low = strdup(narrative);
    if (!low)
        return;
    for (char *p = low; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    struct rules_pairs pairs;
    rules_pairs_of(&pairs, low);
    for (size_t i = 0; ind->items[i]; i++) {
        const char *phrase = ind->items[i];
        if (!rules_pairs_may_hold(&pairs, phrase))
            continue;
        /* A phrase must start a word ("kill" is not found in "skill"); its end may run on
         * ("harass" finds "harassment"); a denial just before it ("no injuries") does not count. */
        for (const char *hit = strstr(low, phrase); hit; hit = strstr(hit + 1, phrase)) {
            if (hit > low && isalnum((unsigned char)hit[-1]))
                continue;
            if (rules_negated(low, hit, ind->items3))
                continue;
            rules_add_rule(found, phrase);
            break;
        }
    }
    free(low);
}
