/* rules_assess.c: one allegation through the recording decision flow (classify, evidence, referral,
 * who reported, location, Schools Protocol), plus ranks, crime flags, narrative indicators and the
 * hidden crime they point to behind what was keyed. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/rules_int.h"
#include "util/textfold.h"

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

/* The rank of an offence for one allegation: a value at or above the offence's high-value
 * threshold ranks it at its full figure. The value is the allegation's `value_gbp`; only when the
 * feed gives none is a sum named in the note read instead (rules_assess warns when it is). */
static int64_t rules_rank_of(const struct ruleset_offence *o, const json_t *doc)
{
    if (o->high_value_from <= 0)
        return o->rank_days;
    json_t *v = json_object_get(doc, "value_gbp");
    double value = json_is_number(v) ? json_number_value(v) : (double)rules_note_value(rules_str(doc, "note"));
    return value >= (double)o->high_value_from ? o->high_value_rank_days : o->rank_days;
}

int64_t rules_assess_rank(const struct rules_alleg *a)
{
    return rules_rank_of(a->off, a->doc);
}

/* An offence with value thresholds and no `value_gbp`: a sum read from the note decides its rank,
 * and the reply says so, naming the allegation's note. */
static void rules_value_warning(struct rules_ctx *c, const struct rules_alleg *a)
{
    if (a->off->high_value_from <= 0 || a->ev_index < 0 || json_is_number(json_object_get(a->doc, "value_gbp")))
        return;
    int64_t v = rules_note_value(rules_str(a->doc, "note"));
    if (v < 0)
        return;
    char field[96];
    snprintf(field, sizeof field, "allegations[%ld].note", a->ev_index);
    rules_warn(c, "value_from_narrative", field,
               "the value of the damage (%lld pounds) was read from the note: allegations[%ld].value_gbp was not given",
               (long long)v, a->ev_index);
}

/* ---- the decision flow ---- */

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
    rules_value_warning(c, a);

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

/* A letter or digit of any script: words are runs of these (an apostrophe inside a listed word,
 * as in "didn't", is matched as written). */
static bool rules_letter(unsigned char ch)
{
    return isalnum(ch) || ch >= 0x80;
}

/* Whether the whole word (or word sequence) w stands at p: p starts a word and w ends one. */
static bool rules_word_at(const char *text, const char *p, const char *end, const char *w)
{
    if (*p != *w)
        return false; /* most words of a clause start with another letter: skip the rest */
    size_t n = strlen(w);
    return (p == text || !rules_letter((unsigned char)p[-1])) && (size_t)(end - p) >= n && memcmp(p, w, n) == 0 &&
           !rules_letter((unsigned char)p[n]);
}

/* Where the clause holding pos starts: after the last clause mark before it, or after the last
 * clause word ("but", "and then") between that mark and pos. */
static const char *rules_clause_start(const char *text, const char *pos, const struct ruleset_screening *sc)
{
    const char *start = text;
    for (const char *p = pos; p > text; p--)
        if (p[-1] != '\0' && strchr(sc->clause_marks, p[-1])) {
            start = p;
            break;
        }
    const char *from = start;
    for (const char *p = from; p < pos; p++) {
        if (p > text && rules_letter((unsigned char)p[-1]))
            continue;
        for (size_t i = 0; sc->clause_words[i]; i++)
            if (rules_word_at(text, p, pos, sc->clause_words[i]))
                start = p + strlen(sc->clause_words[i]);
    }
    return start;
}

/* Whether a negating word stands earlier in the clause of pos: a denial reaches the acts of its
 * own clause only ("he didn't hit her, but he grabbed her by the throat" keeps the grab). */
static bool rules_negated(const char *text, const char *pos, const struct ruleset_screening *sc,
                          const char *const *negations)
{
    if (!negations)
        return false;
    for (const char *p = rules_clause_start(text, pos, sc); p < pos; p++) {
        if (p > text && rules_letter((unsigned char)p[-1]))
            continue;
        for (size_t i = 0; negations[i]; i++)
            if (rules_word_at(text, p, pos, negations[i]))
                return true;
    }
    return false;
}

/* The correction of a misspelt word, or NULL. The rule set's filter (by the first two bytes, the
 * lengths of the misspelt words starting so) spares the look-up for nearly every word. */
static const char *rules_misspelt(const struct ruleset_screening *sc, const char *w, size_t n)
{
    if (!((sc->misspelt_filter[ruleset_misspelt_slot(w, n)] >> (n < 63 ? n : 63)) & 1))
        return NULL;
    for (size_t k = 0; sc->misspelt[k]; k++)
        if (strncmp(sc->misspelt[k], w, n) == 0 && sc->misspelt[k][n] == '\0')
            return sc->corrected[k];
    return NULL;
}

/* The narrative as the matcher reads it: folded (textfold.h), every run of white space one
 * space, and each word the rule set lists as a misspelling replaced by its correction.
 * Returns a malloc'd string, NULL when memory fails. */
static char *rules_normalise(const char *narrative, const struct ruleset_screening *sc)
{
    /* Folding never lengthens the text and neither does collapsing white space, so both are done
     * in one buffer, written behind the point read; only a correction longer than its word makes
     * room first. */
    size_t len = strlen(narrative), cap = len + 1;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    size_t n = textfold_text(narrative, len, s), o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        if (isspace(ch)) {
            while (i < n && isspace((unsigned char)s[i]))
                i++;
            s[o++] = ' ';
            continue;
        }
        if (!rules_letter(ch)) {
            s[o++] = s[i++];
            continue;
        }
        size_t j = i;
        while (j < n && (rules_letter((unsigned char)s[j]) || s[j] == '\''))
            j++;
        const char *fix = rules_misspelt(sc, s + i, j - i);
        if (!fix) {
            memmove(s + o, s + i, j - i);
            o += j - i;
            i = j;
            continue;
        }
        size_t fl = strlen(fix);
        if (o + fl > j) {
            size_t grow = o + fl - j;
            char *x = realloc(s, cap + grow);
            if (!x) {
                free(s);
                return NULL;
            }
            s = x;
            memmove(s + j + grow, s + j, n - j + 1);
            n += grow;
            j += grow;
            cap += grow;
        }
        memcpy(s + o, fix, fl);
        o += fl;
        i = j;
    }
    s[o] = '\0';
    return s;
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
    const struct ruleset_screening *sc = ruleset_screening(c->rs);
    json_t *found = json_object_get(c->state, "indicators");
    if (!ind->rule || !narrative)
        return;
    if (!json_is_array(found)) {
        found = json_array();
        json_object_set_new(c->state, "indicators", found);
    }
    char *low = rules_normalise(narrative, sc);
    if (!low)
        return;
    struct rules_pairs pairs;
    rules_pairs_of(&pairs, low);
    for (size_t i = 0; sc->phrases[i]; i++) {
        const char *phrase = sc->phrases[i];
        if (!rules_pairs_may_hold(&pairs, phrase))
            continue;
        /* A phrase must start a word ("kill" is not found in "skill"); its end may run on
         * ("harass" finds "harassment"); a denial earlier in its clause ("no injuries") cancels it. */
        for (const char *hit = strstr(low, phrase); hit; hit = strstr(hit + 1, phrase)) {
            if (hit > low && rules_letter((unsigned char)hit[-1]))
                continue;
            if (rules_negated(low, hit, sc, ind->items3))
                continue;
            rules_add_rule(found, phrase);
            break;
        }
    }
    free(low);
}

/* ---- hidden crime behind what was keyed ---- */

/* The offence an allegation was keyed as and its rank: as the decision flow classified it, else
 * (decided by a person, or kept from another rule set) the offence its decision or the feed
 * names. NULL when none is known. */
static const struct ruleset_offence *rules_keyed(const struct rules_ctx *c, const struct rules_alleg *a,
                                                 int64_t *rank)
{
    const struct ruleset_offence *o = a->off;
    if (!o)
        o = ruleset_offence(c->rs, rules_str(json_object_get(json_object_get(c->state, "decisions"), a->id), "offence"));
    if (!o)
        o = ruleset_offence(c->rs, rules_str(a->doc, "offence"));
    if (o)
        *rank = rules_rank_of(o, a->doc);
    return o;
}

static bool rules_json_has(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

/* The candidate's offence for a victim: its code, or its conduct key classified with the
 * victim's facts. */
static const struct ruleset_offence *rules_candidate_offence(const struct rules_ctx *c,
                                                             const struct ruleset_candidate *cd,
                                                             const struct rules_alleg *a, const char **rule)
{
    *rule = cd->rule;
    if (cd->offence)
        return ruleset_offence(c->rs, cd->offence);
    struct ruleset_facts f = {
        .victim_kind = rules_str(a->victim, "kind"),
        .victim_sex = rules_str(a->victim, "sex"),
        .victim_age = rules_person_age(a->victim),
        .premises = a->premises,
    };
    const char *crule = NULL;
    const struct ruleset_offence *o = ruleset_classify(c->rs, cd->conduct, &f, &crule);
    if (!*rule)
        *rule = crule;
    return o;
}

/* One victim against one candidate: the candidate counts when one of the victim's keyed
 * allegations is of the kind it is about, and it ranks above every one of them. */
static const struct ruleset_offence *rules_screen_victim(const struct rules_ctx *c, const struct ruleset_candidate *cd,
                                                         const char *victim, const char **rule)
{
    int64_t top = -1;
    bool about = !cd->keyed_offences && !cd->keyed_categories;
    const struct rules_alleg *first = NULL;
    for (size_t i = 0; i < c->nal; i++) {
        const struct rules_alleg *a = &c->al[i];
        int64_t rank = 0;
        if (!a->victim_id || strcmp(a->victim_id, victim) != 0 || json_is_true(json_object_get(a->doc, "retracted")))
            continue;
        const struct ruleset_offence *o = rules_keyed(c, a, &rank);
        if (!o)
            continue;
        if (!first)
            first = a;
        if (rank > top)
            top = rank;
        about = about || rules_in_list(cd->keyed_offences, o->code) || rules_in_list(cd->keyed_categories, o->category);
    }
    if (!first || !about)
        return NULL;
    const struct ruleset_offence *cand = rules_candidate_offence(c, cd, first, rule);
    return cand && cand->rank_days > top ? cand : NULL;
}

json_t *rules_assess_screen(const struct rules_ctx *c)
{
    const struct ruleset_simple *ind = ruleset_indicators(c->rs);
    const struct ruleset_screening *sc = ruleset_screening(c->rs);
    const json_t *found = json_object_get(c->state, "indicators");
    json_t *out = json_array();
    if (!out || !ind->rule || json_array_size(found) == 0)
        return out;
    for (size_t k = 0; k < sc->ncandidates; k++) {
        const struct ruleset_candidate *cd = &sc->candidates[k];
        json_t *phrases = json_array();
        for (size_t j = 0; cd->phrases[j]; j++)
            if (rules_json_has(found, cd->phrases[j]))
                json_array_append_new(phrases, json_string(cd->phrases[j]));
        for (size_t i = 0; json_array_size(phrases) > 0 && i < c->nal; i++) {
            const char *victim = c->al[i].victim_id, *rule = NULL;
            bool seen = false;
            for (size_t j = 0; victim && j < i && !seen; j++)
                seen = c->al[j].victim_id && strcmp(c->al[j].victim_id, victim) == 0;
            if (!victim || seen)
                continue;
            const struct ruleset_offence *cand = rules_screen_victim(c, cd, victim, &rule);
            if (!cand)
                continue;
            /* One item per victim and offence, whichever candidates point to it. */
            json_t *item = NULL, *x;
            size_t xi;
            json_array_foreach(out, xi, x) {
                if (strcmp(rules_str(x, "victim"), victim) == 0 && strcmp(rules_str(x, "offence"), cand->code) == 0)
                    item = x;
            }
            if (!item) {
                item = json_pack("{s:s, s:s, s:[], s:[s]}", "victim", victim, "offence", cand->code, "indicators",
                                 "rules", ind->rule);
                json_array_append_new(out, item);
            }
            size_t pi;
            json_t *ph;
            json_array_foreach(phrases, pi, ph) {
                rules_add_rule(json_object_get(item, "indicators"), json_string_value(ph));
            }
            rules_add_rule(json_object_get(item, "rules"), rule);
        }
        json_decref(phrases);
    }
    return out;
}
