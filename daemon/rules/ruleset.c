/* ruleset.c: loads a recording rule set from JSON, validates every cross-reference, builds lookups. */
#include "rules/ruleset.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/errbuf.h"
#include "util/textfold.h"
#include "util/jsonwrite.h"

#define LIFE_DAYS 36525

struct ruleset_lex_entry {
    const struct ruleset_offence *off;
    const char *rule;
    const char *victim_kind;
    const char *victim_sex;
    int age_min, age_max; /* -1: no bound */
    const char **premises;
};

struct ruleset_lex_key {
    const char *key;
    struct ruleset_lex_entry *entries;
    size_t n;
};

struct ruleset {
    json_t *root; /* every string below points into it */
    const char *version;
    char *canonical;                         /* the canonical text (docs/rules.md) */
    size_t canonical_len;
    char sha256[RULESET_SHA256_SIZE];        /* of the canonical text, lowercase hex */
    int64_t deadline_ms;
    int64_t window_ms;

    struct ruleset_offence *offences;
    size_t noffences;
    json_t *offence_index; /* code -> position */

    struct ruleset_lex_key *lexicon;
    size_t nlexicon;
    json_t *lexicon_index; /* key -> position */

    struct ruleset_exception *exceptions;
    size_t nexceptions;

    struct ruleset_confirmation confirmation;
    struct ruleset_simple schools, police_only, action_fraud, indicators;
    struct ruleset_screening screening;
    char clause_marks[32];
    struct ruleset_n100 n100;

    struct ruleset_closing_reason *closing;
    size_t nclosing;

    json_t *qualifiers; /* name -> true */
    json_t *flags;      /* flag vocabulary: name -> true */

    struct ruleset_flag_rule *flag_rules;
    size_t nflag_rules;

    const char **rule_ids;
    size_t nrules;
    json_t *rule_index; /* id -> true */

    struct ruleset_group *groups;
    size_t ngroups;

    struct ruleset_persons persons; /* the `persons` block: all zero when the set has none */

    void **allocs; /* NULL-terminated string lists handed out above */
    size_t nallocs, capallocs;
};

static const char *const ruleset_engine_ids[] = {
    RULE_BALANCE, RULE_EVIDENCE_AGAINST, RULE_POINTS_TO_PROVE, RULE_DEADLINE,
    RULE_CLASSIFICATION, RULE_RECLASSIFICATION, RULE_FEED_NEVER_CANCELS, RULE_ONE_PER_VICTIM,
    RULE_PER_OFFENDER, RULE_FINISHED_INCIDENT, RULE_SEPARATE_OCCASIONS, RULE_COURSE_OF_CONDUCT,
    RULE_PRINCIPAL, RULE_IN_COURSE_OF, RULE_OTHER_FORCE, RULE_ABROAD, RULE_SAME_REPORT,
    RULE_RETRACTED, RULE_WITHDRAWN, RULE_UNKNOWN_CODE, RULE_NO_VICTIM, RULE_NOT_OPENED,
    RULE_CRIME_WITHOUT_ALLEGATION, RULE_CLOSED_CRIME_WITHOUT_CRIME, RULE_CLOSED_CRI_WITHOUT_REASON,
    RULE_PERSON_DECISION, RULE_CANCEL_AUTHORITY, RULE_CANCEL_C1, RULE_CANCEL_C2, RULE_CANCEL_C3, RULE_CANCEL_C4,
    RULE_AUTHORITY, RULE_DOWNGRADE_REVIEW, NULL,
};

/* The feed contract's vocabularies: the rule set may only speak of things the feed can say. */
static const char *const ruleset_roles[] = {"victim", "suspect", "witness", "caller", "third_party",
                                            "professional", "parent", "officer", NULL};
static const char *const ruleset_premises[] = {"dwelling", "dwelling_outbuilding", "business", "school",
                                               "public_place", "vehicle", "online", NULL};
static const char *const ruleset_relationships[] = {"partner", "ex_partner", "family", "carer",
                                                    "acquaintance", "stranger", "colleague", NULL};
static const char *const ruleset_closing_names[] = {"victim_not_traced", "victim_does_not_confirm",
                                                    "evidence_against", "other_force", "schools_protocol",
                                                    "no_offence_disclosed", NULL};
static const char *const ruleset_reasons[] = {"third_party_unconfirmed", "victim_does_not_confirm",
                                              "victim_not_traced", "evidence_against", "points_not_proved",
                                              "other_force_area", "abroad", "schools_protocol",
                                              "police_only_witness", "insufficient_detail", "possible_crime",
                                              "closed_without_crime", "retraction_review",
                                              "reclassification_review", NULL};
/* The roles that act on crimes, least first: the order of enum role in api/tokens.h. */
static const char *const ruleset_acting_roles[] = {"supervisor", "ddm", "fcr", NULL};
static const char *const ruleset_action_names[RULESET_ACT_COUNT + 1] = {
    [RULESET_ACT_RECORD] = "record",
    [RULESET_ACT_NO_CRIME] = "no_crime",
    [RULESET_ACT_TRANSFER] = "transfer",
    [RULESET_ACT_RECLASSIFY_UP] = "reclassify_up",
    [RULESET_ACT_RECLASSIFY_DOWN] = "reclassify_down",
    [RULESET_ACT_CANCEL_C1] = "cancel_C1",
    [RULESET_ACT_CANCEL_C2] = "cancel_C2",
    [RULESET_ACT_CANCEL_C3] = "cancel_C3",
    [RULESET_ACT_CANCEL_C4] = "cancel_C4",
    [RULESET_ACT_N100_DISPOSE] = "n100_dispose",
    [RULESET_ACT_COUNT] = NULL,
};
static const char *const ruleset_cancel_codes[] = {"C1", "C2", "C3", "C4", NULL};
static const char *const ruleset_categories_incident[] = {"crime", "asb", "public_safety", "transport", NULL};

/* Everything a load needs to report an error precisely. */
struct ruleset_loader {
    struct ruleset *rs;
    char *err;
    size_t errlen;
    const char *origin;
};

__attribute__((format(printf, 3, 4))) static int ruleset_fail(struct ruleset_loader *ld, const char *path,
                                                              const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    errbuf_vset(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return errbuf_set(ld->err, ld->errlen, "%s: %s%s%s", ld->origin, path, *path ? ": " : "", msg);
}

const char *const *ruleset_engine_rule_ids(void)
{
    return ruleset_engine_ids;
}

static bool ruleset_in(const char *const *list, const char *s)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static int ruleset_track(struct ruleset *rs, void *p)
{
    if (rs->nallocs + 1 >= rs->capallocs) {
        size_t cap = rs->capallocs ? rs->capallocs * 2 : 32;
        void **n = realloc(rs->allocs, cap * sizeof *n);
        if (!n)
            return -1;
        rs->allocs = n;
        rs->capallocs = cap;
    }
    rs->allocs[rs->nallocs++] = p;
    return 0;
}

/* Checks that obj has only the listed keys: a misspelt key would otherwise silently do nothing. */
static int ruleset_keys(struct ruleset_loader *ld, const json_t *obj, const char *path, const char *const *allowed)
{
    const char *k;
    json_t *v;
    if (!json_is_object(obj))
        return ruleset_fail(ld, path, "must be an object");
    json_object_foreach((json_t *)obj, k, v) {
        if (!ruleset_in(allowed, k) && strcmp(k, "note") != 0 && strcmp(k, "source") != 0 &&
            strcmp(k, "tag") != 0)
            return ruleset_fail(ld, path, "unknown field \"%s\"", k);
    }
    return 0;
}

static int ruleset_str(struct ruleset_loader *ld, const json_t *obj, const char *key, const char *path,
                       bool required, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            return ruleset_fail(ld, path, "missing \"%s\"", key);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return ruleset_fail(ld, path, "\"%s\" must be a non-empty string", key);
    *out = json_string_value(v);
    return 0;
}

static int ruleset_int(struct ruleset_loader *ld, const json_t *obj, const char *key, const char *path,
                       bool required, int64_t min, int64_t dflt, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (!v) {
        if (required)
            return ruleset_fail(ld, path, "missing \"%s\"", key);
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return ruleset_fail(ld, path, "\"%s\" must be an integer >= %lld", key, (long long)min);
    *out = json_integer_value(v);
    return 0;
}

static int ruleset_bool(struct ruleset_loader *ld, const json_t *obj, const char *key, const char *path,
                        bool dflt, bool *out)
{
    json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return ruleset_fail(ld, path, "\"%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* A rule id field: present, and declared in the `rules` list. */
static int ruleset_rule_ref(struct ruleset_loader *ld, const json_t *obj, const char *key, const char *path,
                            const char **out)
{
    if (ruleset_str(ld, obj, key, path, true, out) < 0)
        return -1;
    if (!json_object_get(ld->rs->rule_index, *out))
        return ruleset_fail(ld, path, "rule id \"%s\" is not declared in \"rules\"", *out);
    return 0;
}

/* A list of strings, each (when vocab is given) from the vocabulary; NULL-terminated copy of
 * the pointers. An absent key gives NULL unless required. */
static int ruleset_list(struct ruleset_loader *ld, const json_t *obj, const char *key, const char *path,
                        bool required, const char *const *vocab, const char ***out)
{
    json_t *arr = json_object_get(obj, key);
    *out = NULL;
    if (!arr) {
        if (required)
            return ruleset_fail(ld, path, "missing \"%s\"", key);
        return 0;
    }
    if (!json_is_array(arr))
        return ruleset_fail(ld, path, "\"%s\" must be an array of strings", key);
    size_t n = json_array_size(arr);
    const char **list = calloc(n + 1, sizeof *list);
    if (!list || ruleset_track(ld->rs, list) < 0) {
        free(list);
        return ruleset_fail(ld, path, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        if (!json_is_string(s) || json_string_length(s) == 0)
            return ruleset_fail(ld, path, "%s[%zu] must be a non-empty string", key, i);
        if (vocab && !ruleset_in(vocab, json_string_value(s)))
            return ruleset_fail(ld, path, "%s[%zu]: \"%s\" is not a value the feed contract knows", key, i,
                                json_string_value(s));
        list[i] = json_string_value(s);
    }
    *out = list;
    return 0;
}

/* Every member of a code list must name an offence of the table. */
static int ruleset_codes(struct ruleset_loader *ld, const json_t *obj, const char *key, const char *path,
                         bool required, const char ***out)
{
    if (ruleset_list(ld, obj, key, path, required, NULL, out) < 0)
        return -1;
    for (size_t i = 0; *out && (*out)[i]; i++)
        if (!ruleset_offence(ld->rs, (*out)[i]))
            return ruleset_fail(ld, path, "%s[%zu]: unknown offence code \"%s\"", key, i, (*out)[i]);
    return 0;
}

static int ruleset_load_rules(struct ruleset_loader *ld, const json_t *root)
{
    struct ruleset *rs = ld->rs;
    json_t *arr = json_object_get(root, "rules");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return ruleset_fail(ld, "rules", "missing or not a non-empty array");
    rs->nrules = json_array_size(arr);
    rs->rule_ids = calloc(rs->nrules, sizeof *rs->rule_ids);
    if (!rs->rule_ids)
        return ruleset_fail(ld, "rules", "out of memory");
    static const char *const keys[] = {"id", "title", NULL};
    for (size_t i = 0; i < rs->nrules; i++) {
        char path[64];
        json_t *r = json_array_get(arr, i);
        snprintf(path, sizeof path, "rules[%zu]", i);
        const char *id, *title, *src, *tag;
        if (ruleset_keys(ld, r, path, keys) < 0 || ruleset_str(ld, r, "id", path, true, &id) < 0 ||
            ruleset_str(ld, r, "title", path, true, &title) < 0 ||
            ruleset_str(ld, r, "source", path, true, &src) < 0 || ruleset_str(ld, r, "tag", path, true, &tag) < 0)
            return -1;
        if (strcmp(tag, "V") != 0 && strcmp(tag, "K") != 0 && strcmp(tag, "I") != 0)
            return ruleset_fail(ld, path, "\"tag\" must be \"V\", \"K\" or \"I\"");
        if (json_object_get(rs->rule_index, id))
            return ruleset_fail(ld, path, "duplicate rule id \"%s\"", id);
        json_object_set_new(rs->rule_index, id, json_true());
        rs->rule_ids[i] = id;
    }
    for (size_t i = 0; ruleset_engine_ids[i]; i++)
        if (!json_object_get(rs->rule_index, ruleset_engine_ids[i]))
            return ruleset_fail(ld, "rules", "the engine's rule \"%s\" is not declared", ruleset_engine_ids[i]);
    return 0;
}

static int ruleset_enum(struct ruleset_loader *ld, const json_t *obj, const char *key, const char *path,
                        const char *const *names, int dflt, int *out)
{
    const char *s;
    *out = dflt;
    if (ruleset_str(ld, obj, key, path, false, &s) < 0)
        return -1;
    if (!s)
        return 0;
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) {
            *out = i;
            return 0;
        }
    return ruleset_fail(ld, path, "\"%s\": unknown value \"%s\"", key, s);
}

static int ruleset_load_offence(struct ruleset_loader *ld, const json_t *o, const char *path,
                                struct ruleset_offence *off)
{
    static const char *const keys[] = {"code", "name", "category", "max_days", "rank_days", "high_value",
                                       "basis", "count", "min_occasions", "serious_sexual", "group",
                                       "n100", "action_fraud", "schools_minor", "police_only", "rule", NULL};
    static const char *const bases[] = {"victim", "state", "either", NULL};
    static const char *const counts[] = {"occasion", "course", "offender", NULL};
    int64_t v;
    int e;
    if (json_object_get(o, "cancel_role"))
        return ruleset_fail(ld, path, "\"cancel_role\" is replaced by \"group\" and the \"authority\" table");
    if (ruleset_keys(ld, o, path, keys) < 0 || ruleset_str(ld, o, "code", path, true, &off->code) < 0 ||
        ruleset_str(ld, o, "name", path, true, &off->name) < 0 ||
        ruleset_str(ld, o, "category", path, true, &off->category) < 0)
        return -1;
    for (const char *c = off->category; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
            return ruleset_fail(ld, path, "\"category\" must be lower-case letters and '_'");
    if (ruleset_int(ld, o, "max_days", path, true, 1, 0, &off->max_days) < 0 ||
        ruleset_int(ld, o, "rank_days", path, false, 1, off->max_days, &off->rank_days) < 0)
        return -1;
    json_t *hv = json_object_get(o, "high_value");
    if (hv) {
        static const char *const hkeys[] = {"from", "rank_days", NULL};
        char hpath[96];
        snprintf(hpath, sizeof hpath, "%s.high_value", path);
        if (ruleset_keys(ld, hv, hpath, hkeys) < 0 ||
            ruleset_int(ld, hv, "from", hpath, true, 1, 0, &off->high_value_from) < 0 ||
            ruleset_int(ld, hv, "rank_days", hpath, true, 1, 0, &off->high_value_rank_days) < 0)
            return -1;
    }
    if (ruleset_enum(ld, o, "basis", path, bases, RULESET_BASIS_VICTIM, &e) < 0)
        return -1;
    off->basis = (enum ruleset_basis)e;
    if (ruleset_enum(ld, o, "count", path, counts, RULESET_COUNT_OCCASION, &e) < 0)
        return -1;
    off->count = (enum ruleset_count)e;
    if (ruleset_int(ld, o, "min_occasions", path, false, 2, 2, &v) < 0)
        return -1;
    off->min_occasions = (int)v;
    if (json_object_get(o, "min_occasions") && off->count != RULESET_COUNT_COURSE)
        return ruleset_fail(ld, path, "\"min_occasions\" is only for \"count\": \"course\"");
    if (off->count == RULESET_COUNT_OFFENDER && off->basis == RULESET_BASIS_VICTIM)
        return ruleset_fail(ld, path, "\"count\": \"offender\" needs \"basis\" state or either");
    if (ruleset_bool(ld, o, "serious_sexual", path, false, &off->serious_sexual) < 0 ||
        ruleset_bool(ld, o, "n100", path, false, &off->n100) < 0 ||
        ruleset_bool(ld, o, "action_fraud", path, false, &off->action_fraud) < 0 ||
        ruleset_bool(ld, o, "schools_minor", path, false, &off->schools_minor) < 0 ||
        ruleset_bool(ld, o, "police_only", path, false, &off->police_only) < 0 ||
        ruleset_str(ld, o, "group", path, false, &off->group) < 0)
        return -1;
    if (!off->group)
        off->group = "default";
    const struct ruleset_group *g = ruleset_group(ld->rs, off->group);
    if (!g)
        return ruleset_fail(ld, path, "\"group\": \"%s\" is not a group of \"authority.groups\"", off->group);
    if (off->serious_sexual && !g->reserved)
        return ruleset_fail(ld, path, "a serious sexual offence must be in a reserved group (\"%s\" is not)",
                            off->group);
    off->rule = RULE_CLASSIFICATION;
    if (json_object_get(o, "rule") && ruleset_rule_ref(ld, o, "rule", path, &off->rule) < 0)
        return -1;
    json_t *tag = json_object_get(o, "tag");
    off->tag = json_is_string(tag) ? json_string_value(tag) : "K";
    return 0;
}

/* authority: {groups: {name: {title, reserved?, victim_informed_required?: [C1..C4],
 * roles: {action: role, ... every action}}}}; a "default" group is required. */
static int ruleset_load_authority(struct ruleset_loader *ld, const json_t *root)
{
    struct ruleset *rs = ld->rs;
    static const char *const akeys[] = {"groups", NULL};
    static const char *const gkeys[] = {"title", "reserved", "victim_informed_required", "roles", NULL};
    json_t *auth = json_object_get(root, "authority");
    if (!auth)
        return ruleset_fail(ld, "authority", "missing");
    if (ruleset_keys(ld, auth, "authority", akeys) < 0)
        return -1;
    json_t *groups = json_object_get(auth, "groups");
    if (!json_is_object(groups) || json_object_size(groups) == 0)
        return ruleset_fail(ld, "authority.groups", "missing or not a non-empty object");
    rs->groups = calloc(json_object_size(groups), sizeof *rs->groups);
    if (!rs->groups)
        return ruleset_fail(ld, "authority.groups", "out of memory");
    const char *name;
    json_t *g;
    json_object_foreach(groups, name, g) {
        char path[160], rpath[176];
        snprintf(path, sizeof path, "authority.groups.%s", name);
        snprintf(rpath, sizeof rpath, "%s.roles", path);
        struct ruleset_group *grp = &rs->groups[rs->ngroups];
        grp->name = name;
        if (ruleset_keys(ld, g, path, gkeys) < 0 || ruleset_str(ld, g, "title", path, true, &grp->title) < 0 ||
            ruleset_bool(ld, g, "reserved", path, false, &grp->reserved) < 0 ||
            ruleset_list(ld, g, "victim_informed_required", path, false, NULL, &grp->victim_informed) < 0)
            return -1;
        for (size_t i = 0; grp->victim_informed && grp->victim_informed[i]; i++)
            if (!ruleset_in(ruleset_cancel_codes, grp->victim_informed[i]))
                return ruleset_fail(ld, path, "victim_informed_required[%zu]: \"%s\" is not C1, C2, C3 or C4", i,
                                    grp->victim_informed[i]);
        json_t *roles = json_object_get(g, "roles");
        if (!roles)
            return ruleset_fail(ld, path, "missing \"roles\"");
        if (ruleset_keys(ld, roles, rpath, ruleset_action_names) < 0)
            return -1;
        for (int a = 0; a < RULESET_ACT_COUNT; a++) {
            if (ruleset_str(ld, roles, ruleset_action_names[a], rpath, true, &grp->roles[a]) < 0)
                return -1;
            if (ruleset_role_rank(grp->roles[a]) < 0)
                return ruleset_fail(ld, rpath, "\"%s\": unknown role \"%s\" (expected supervisor, ddm or fcr)",
                                    ruleset_action_names[a], grp->roles[a]);
        }
        rs->ngroups++;
    }
    if (!ruleset_group(rs, "default"))
        return ruleset_fail(ld, "authority.groups", "no \"default\" group (for offences that name none)");
    return 0;
}

static int ruleset_load_offences(struct ruleset_loader *ld, const json_t *root)
{
    struct ruleset *rs = ld->rs;
    json_t *arr = json_object_get(root, "offences");
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return ruleset_fail(ld, "offences", "missing or not a non-empty array");
    rs->noffences = json_array_size(arr);
    rs->offences = calloc(rs->noffences, sizeof *rs->offences);
    if (!rs->offences)
        return ruleset_fail(ld, "offences", "out of memory");
    for (size_t i = 0; i < rs->noffences; i++) {
        char path[64];
        snprintf(path, sizeof path, "offences[%zu]", i);
        struct ruleset_offence *off = &rs->offences[i];
        if (ruleset_load_offence(ld, json_array_get(arr, i), path, off) < 0)
            return -1;
        off->order = (int)i;
        json_t *prev = json_object_get(rs->offence_index, off->code);
        if (prev)
            return ruleset_fail(ld, path, "duplicate offence code \"%s\" (first at offences[%lld])", off->code,
                                (long long)json_integer_value(prev));
        json_object_set_new(rs->offence_index, off->code, json_integer((json_int_t)i));
    }
    return 0;
}

static int ruleset_load_lexicon(struct ruleset_loader *ld, const json_t *root)
{
    struct ruleset *rs = ld->rs;
    json_t *lex = json_object_get(root, "lexicon");
    if (!json_is_object(lex) || json_object_size(lex) == 0)
        return ruleset_fail(ld, "lexicon", "missing or not a non-empty object");
    rs->nlexicon = json_object_size(lex);
    rs->lexicon = calloc(rs->nlexicon, sizeof *rs->lexicon);
    if (!rs->lexicon)
        return ruleset_fail(ld, "lexicon", "out of memory");
    static const char *const ekeys[] = {"offence", "rule", "when", NULL};
    static const char *const wkeys[] = {"victim_kind", "victim_sex", "victim_age_min", "victim_age_max",
                                        "premises", NULL};
    size_t k = 0;
    const char *key;
    json_t *arr;
    json_object_foreach(lex, key, arr) {
        char path[160];
        snprintf(path, sizeof path, "lexicon.%s", key);
        if (!json_is_array(arr) || json_array_size(arr) == 0)
            return ruleset_fail(ld, path, "must be a non-empty array of entries");
        struct ruleset_lex_key *lk = &rs->lexicon[k];
        lk->key = key;
        lk->n = json_array_size(arr);
        lk->entries = calloc(lk->n, sizeof *lk->entries);
        if (!lk->entries)
            return ruleset_fail(ld, path, "out of memory");
        for (size_t i = 0; i < lk->n; i++) {
            char epath[192];
            snprintf(epath, sizeof epath, "lexicon.%s[%zu]", key, i);
            json_t *e = json_array_get(arr, i);
            struct ruleset_lex_entry *le = &lk->entries[i];
            const char *code;
            if (ruleset_keys(ld, e, epath, ekeys) < 0 || ruleset_str(ld, e, "offence", epath, true, &code) < 0)
                return -1;
            le->off = ruleset_offence(rs, code);
            if (!le->off)
                return ruleset_fail(ld, epath, "unknown offence code \"%s\"", code);
            if (ruleset_rule_ref(ld, e, "rule", epath, &le->rule) < 0)
                return -1;
            le->age_min = le->age_max = -1;
            json_t *w = json_object_get(e, "when");
            if (!w)
                continue;
            char wpath[208];
            snprintf(wpath, sizeof wpath, "%s.when", epath);
            int64_t v;
            if (ruleset_keys(ld, w, wpath, wkeys) < 0 ||
                ruleset_str(ld, w, "victim_kind", wpath, false, &le->victim_kind) < 0 ||
                ruleset_str(ld, w, "victim_sex", wpath, false, &le->victim_sex) < 0)
                return -1;
            if (le->victim_kind && strcmp(le->victim_kind, "person") != 0 &&
                strcmp(le->victim_kind, "organisation") != 0)
                return ruleset_fail(ld, wpath, "\"victim_kind\" must be \"person\" or \"organisation\"");
            if (le->victim_sex && strcmp(le->victim_sex, "female") != 0 && strcmp(le->victim_sex, "male") != 0)
                return ruleset_fail(ld, wpath, "\"victim_sex\" must be \"female\" or \"male\"");
            if (ruleset_int(ld, w, "victim_age_min", wpath, false, 0, -1, &v) < 0)
                return -1;
            le->age_min = (int)v;
            if (ruleset_int(ld, w, "victim_age_max", wpath, false, 0, -1, &v) < 0)
                return -1;
            le->age_max = (int)v;
            if (le->age_min >= 0 && le->age_max >= 0 && le->age_min > le->age_max)
                return ruleset_fail(ld, wpath, "\"victim_age_min\" is above \"victim_age_max\"");
            if (ruleset_list(ld, w, "premises", wpath, false, ruleset_premises, &le->premises) < 0)
                return -1;
        }
        json_object_set_new(rs->lexicon_index, key, json_integer((json_int_t)k));
        k++;
    }
    return 0;
}

static int ruleset_load_exceptions(struct ruleset_loader *ld, const json_t *root)
{
    struct ruleset *rs = ld->rs;
    json_t *arr = json_object_get(root, "exceptions");
    if (!json_is_array(arr))
        return ruleset_fail(ld, "exceptions", "missing or not an array");
    rs->nexceptions = json_array_size(arr);
    rs->exceptions = calloc(rs->nexceptions + 1, sizeof *rs->exceptions);
    if (!rs->exceptions)
        return ruleset_fail(ld, "exceptions", "out of memory");
    static const char *const keys[] = {"id", "winners", "losers", "same_victim", "same_occasion",
                                       "shared_suspect", NULL};
    for (size_t i = 0; i < rs->nexceptions; i++) {
        char path[64];
        snprintf(path, sizeof path, "exceptions[%zu]", i);
        json_t *e = json_array_get(arr, i);
        struct ruleset_exception *x = &rs->exceptions[i];
        if (ruleset_keys(ld, e, path, keys) < 0 || ruleset_rule_ref(ld, e, "id", path, &x->id) < 0 ||
            ruleset_codes(ld, e, "winners", path, true, &x->winners) < 0 ||
            ruleset_codes(ld, e, "losers", path, true, &x->losers) < 0 ||
            ruleset_bool(ld, e, "same_victim", path, true, &x->same_victim) < 0 ||
            ruleset_bool(ld, e, "same_occasion", path, true, &x->same_occasion) < 0 ||
            ruleset_bool(ld, e, "shared_suspect", path, false, &x->shared_suspect) < 0)
            return -1;
        if (!x->winners[0] || !x->losers[0])
            return ruleset_fail(ld, path, "\"winners\" and \"losers\" must not be empty");
        for (size_t w = 0; x->winners[w]; w++)
            if (ruleset_in(x->losers, x->winners[w]))
                return ruleset_fail(ld, path, "\"%s\" cannot both win and lose", x->winners[w]);
    }
    return 0;
}

static int ruleset_load_confirmation(struct ruleset_loader *ld, const json_t *root)
{
    struct ruleset_confirmation *c = &ld->rs->confirmation;
    const char *path = "confirmation";
    json_t *o = json_object_get(root, path);
    static const char *const keys[] = {"lay_roles", "acting_roles", "parent_roles", "child_under",
                                       "child_without_confirmation", "vulnerable_without_confirmation",
                                       "staff_confirm_for_organisation", "denial_blocks_child", "rules", NULL};
    static const char *const rkeys[] = {"victim", "third_party", "not_traced", "does_not_confirm",
                                        "professional", "parent", "child_or_vulnerable", "organisation", NULL};
    if (!o)
        return ruleset_fail(ld, path, "missing");
    int64_t v;
    if (ruleset_keys(ld, o, path, keys) < 0 ||
        ruleset_list(ld, o, "lay_roles", path, true, ruleset_roles, &c->lay_roles) < 0 ||
        ruleset_list(ld, o, "acting_roles", path, true, ruleset_roles, &c->acting_roles) < 0 ||
        ruleset_list(ld, o, "parent_roles", path, true, ruleset_roles, &c->parent_roles) < 0 ||
        ruleset_int(ld, o, "child_under", path, true, 1, 18, &v) < 0 ||
        ruleset_bool(ld, o, "child_without_confirmation", path, true, &c->child_without_confirmation) < 0 ||
        ruleset_bool(ld, o, "vulnerable_without_confirmation", path, true,
                     &c->vulnerable_without_confirmation) < 0 ||
        ruleset_bool(ld, o, "staff_confirm_for_organisation", path, true, &c->staff_confirm_for_organisation) <
            0 ||
        ruleset_bool(ld, o, "denial_blocks_child", path, false, &c->denial_blocks_child) < 0)
        return -1;
    c->child_under = (int)v;
    for (size_t i = 0; c->lay_roles[i]; i++)
        if (ruleset_in(c->acting_roles, c->lay_roles[i]))
            return ruleset_fail(ld, path, "role \"%s\" is both lay and acting", c->lay_roles[i]);
    json_t *r = json_object_get(o, "rules");
    const char *rpath = "confirmation.rules";
    if (!r)
        return ruleset_fail(ld, path, "missing \"rules\"");
    if (ruleset_keys(ld, r, rpath, rkeys) < 0 || ruleset_rule_ref(ld, r, "victim", rpath, &c->rule_victim) < 0 ||
        ruleset_rule_ref(ld, r, "third_party", rpath, &c->rule_third_party) < 0 ||
        ruleset_rule_ref(ld, r, "not_traced", rpath, &c->rule_not_traced) < 0 ||
        ruleset_rule_ref(ld, r, "does_not_confirm", rpath, &c->rule_does_not_confirm) < 0 ||
        ruleset_rule_ref(ld, r, "professional", rpath, &c->rule_professional) < 0 ||
        ruleset_rule_ref(ld, r, "parent", rpath, &c->rule_parent) < 0 ||
        ruleset_rule_ref(ld, r, "child_or_vulnerable", rpath, &c->rule_child_vulnerable) < 0 ||
        ruleset_rule_ref(ld, r, "organisation", rpath, &c->rule_organisation) < 0)
        return -1;
    return 0;
}

/* Whether a phrase is as the matcher reads text: folded (lower case, ASCII marks) already. */
static bool ruleset_folded(const char *s)
{
    size_t n = strlen(s);
    char *f = malloc(n + 1);
    if (!f)
        return false;
    bool same = textfold_text(s, n, f) == n && memcmp(f, s, n) == 0;
    free(f);
    return same;
}

/* A NULL-terminated empty list, so that readers of the screening data never meet NULL. */
static const char **ruleset_empty_list(struct ruleset_loader *ld)
{
    const char **l = calloc(1, sizeof *l);
    if (l && ruleset_track(ld->rs, l) < 0) {
        free(l);
        return NULL;
    }
    return l;
}

static int ruleset_folded_list(struct ruleset_loader *ld, const json_t *obj, const char *key, const char *path,
                               const char ***out)
{
    if (ruleset_list(ld, obj, key, path, false, NULL, out) < 0)
        return -1;
    if (!*out && !(*out = ruleset_empty_list(ld)))
        return ruleset_fail(ld, path, "out of memory");
    for (size_t i = 0; (*out)[i]; i++)
        if (!ruleset_folded((*out)[i]))
            return ruleset_fail(ld, path, "%s[%zu] must be lower case", key, i);
    return 0;
}

/* candidates[i]: {phrases, offence | conduct, keyed_offences?, keyed_categories?, rule?}. */
static int ruleset_load_candidate(struct ruleset_loader *ld, const json_t *o, const char *path,
                                  struct ruleset_candidate *cd)
{
    static const char *const keys[] = {"phrases", "offence", "conduct", "keyed_offences", "keyed_categories",
                                       "rule", "note", "source", "tag", NULL};
    if (ruleset_keys(ld, o, path, keys) < 0 || ruleset_folded_list(ld, o, "phrases", path, &cd->phrases) < 0 ||
        ruleset_str(ld, o, "offence", path, false, &cd->offence) < 0 ||
        ruleset_str(ld, o, "conduct", path, false, &cd->conduct) < 0 ||
        ruleset_codes(ld, o, "keyed_offences", path, false, &cd->keyed_offences) < 0 ||
        ruleset_list(ld, o, "keyed_categories", path, false, NULL, &cd->keyed_categories) < 0)
        return -1;
    if (!cd->phrases[0])
        return ruleset_fail(ld, path, "\"phrases\" must name at least one phrase");
    if (!cd->offence == !cd->conduct)
        return ruleset_fail(ld, path, "give exactly one of \"offence\" and \"conduct\"");
    if (cd->offence && !ruleset_offence(ld->rs, cd->offence))
        return ruleset_fail(ld, path, "unknown offence code \"%s\"", cd->offence);
    if (cd->conduct && !ruleset_lexicon_has(ld->rs, cd->conduct))
        return ruleset_fail(ld, path, "unknown conduct key \"%s\"", cd->conduct);
    for (size_t i = 0; cd->keyed_categories && cd->keyed_categories[i]; i++) {
        bool known = false;
        for (size_t k = 0; k < ld->rs->noffences && !known; k++)
            known = strcmp(ld->rs->offences[k].category, cd->keyed_categories[i]) == 0;
        if (!known)
            return ruleset_fail(ld, path, "keyed_categories[%zu]: no offence has category \"%s\"", i,
                                cd->keyed_categories[i]);
    }
    if (json_object_get(o, "rule") && ruleset_rule_ref(ld, o, "rule", path, &cd->rule) < 0)
        return -1;
    return 0;
}

/* The `indicators` keys that say how text is read (clauses, misspellings) and what a phrase
 * points to (candidates); every one optional. */
static int ruleset_load_screening(struct ruleset_loader *ld, const json_t *o)
{
    struct ruleset *rs = ld->rs;
    struct ruleset_screening *sc = &rs->screening;
    char path[64];

    /* Clause marks: single characters; without the key, the ends of sentences. */
    json_t *marks = json_object_get(o, "clause_marks");
    snprintf(rs->clause_marks, sizeof rs->clause_marks, "%s", ".;!?");
    if (marks) {
        size_t i, n = 0;
        json_t *m;
        if (!json_is_array(marks) || json_array_size(marks) >= sizeof rs->clause_marks)
            return ruleset_fail(ld, "indicators", "\"clause_marks\" must be an array of at most %zu characters",
                                sizeof rs->clause_marks - 1);
        json_array_foreach(marks, i, m) {
            const char *t = json_string_value(m);
            if (!t || strlen(t) != 1 || isalnum((unsigned char)t[0]) || t[0] == ' ' || (unsigned char)t[0] >= 0x80)
                return ruleset_fail(ld, "indicators", "clause_marks[%zu] must be one ASCII punctuation character", i);
            rs->clause_marks[n++] = t[0];
        }
        rs->clause_marks[n] = '\0';
    }
    sc->clause_marks = rs->clause_marks;
    if (ruleset_folded_list(ld, o, "clause_words", "indicators", &sc->clause_words) < 0)
        return -1;

    json_t *ms = json_object_get(o, "misspellings");
    if (ms && !json_is_object(ms))
        return ruleset_fail(ld, "indicators", "\"misspellings\" must be an object of word: correction");
    size_t nm = json_object_size(ms);
    sc->misspelt = calloc(nm + 1, sizeof *sc->misspelt);
    sc->corrected = calloc(nm + 1, sizeof *sc->corrected);
    if (!sc->misspelt || ruleset_track(rs, sc->misspelt) < 0) {
        free(sc->misspelt);
        free(sc->corrected);
        sc->misspelt = sc->corrected = NULL;
        return ruleset_fail(ld, "indicators", "out of memory");
    }
    if (!sc->corrected || ruleset_track(rs, sc->corrected) < 0) {
        free(sc->corrected);
        sc->corrected = NULL;
        return ruleset_fail(ld, "indicators", "out of memory");
    }
    const char *word;
    json_t *fix;
    size_t k = 0;
    json_object_foreach(ms, word, fix) {
        bool one_word = *word != '\0';
        for (const char *p = word; *p; p++)
            one_word &= isalnum((unsigned char)*p) || *p == '\'' || (unsigned char)*p >= 0x80;
        if (!one_word || !ruleset_folded(word))
            return ruleset_fail(ld, "indicators", "misspellings: \"%s\" must be one lower-case word", word);
        if (!json_is_string(fix) || json_string_length(fix) == 0 || json_string_length(fix) > strlen(word) + 8 ||
            !ruleset_folded(json_string_value(fix)))
            return ruleset_fail(ld, "indicators",
                                "misspellings.%s: the correction must be lower-case text at most 8 bytes longer", word);
        sc->misspelt[k] = word;
        sc->corrected[k++] = json_string_value(fix);
        size_t wl = strlen(word);
        sc->misspelt_filter[ruleset_misspelt_slot(word, wl)] |= (uint64_t)1 << (wl < 63 ? wl : 63);
    }

    json_t *cands = json_object_get(o, "candidates");
    if (cands && !json_is_array(cands))
        return ruleset_fail(ld, "indicators", "\"candidates\" must be an array");
    sc->ncandidates = json_array_size(cands);
    struct ruleset_candidate *cd = calloc(sc->ncandidates + 1, sizeof *cd);
    if (!cd || ruleset_track(rs, cd) < 0) {
        free(cd);
        return ruleset_fail(ld, "indicators", "out of memory");
    }
    sc->candidates = cd;
    size_t extra = 0;
    for (size_t i = 0; i < sc->ncandidates; i++) {
        snprintf(path, sizeof path, "indicators.candidates[%zu]", i);
        if (ruleset_load_candidate(ld, json_array_get(cands, i), path, &cd[i]) < 0)
            return -1;
        for (size_t j = 0; cd[i].phrases[j]; j++)
            extra++;
    }

    /* The phrases to look for: the indicators' own, then the candidates' not among them. */
    size_t n = 0;
    while (rs->indicators.items[n])
        n++;
    sc->phrases = calloc(n + extra + 1, sizeof *sc->phrases);
    if (!sc->phrases || ruleset_track(rs, sc->phrases) < 0) {
        free(sc->phrases);
        sc->phrases = NULL;
        return ruleset_fail(ld, "indicators", "out of memory");
    }
    memcpy(sc->phrases, rs->indicators.items, n * sizeof *sc->phrases);
    for (size_t i = 0; i < sc->ncandidates; i++)
        for (size_t j = 0; cd[i].phrases[j]; j++)
            if (!ruleset_in(sc->phrases, cd[i].phrases[j]))
                sc->phrases[n++] = cd[i].phrases[j];
    return 0;
}

/* The small single-rule sections: schools protocol, police only, Action Fraud, N100, indicators. */
static int ruleset_load_simple(struct ruleset_loader *ld, const json_t *root)
{
    struct ruleset *rs = ld->rs;
    json_t *o;
    static const char *const skeys[] = {"rule", "premises", NULL};
    static const char *const pkeys[] = {"rule", "roles", NULL};
    static const char *const akeys[] = {"rule", "code", NULL};
    static const char *const nkeys[] = {"rule", "unconfirmed", "evidence_against", "elsewhere", NULL};
    static const char *const ikeys[] = {"rule", "categories", "phrases", "negations", "clause_marks",
                                        "clause_words", "misspellings", "candidates", NULL};

    if (!(o = json_object_get(root, "schools_protocol")))
        return ruleset_fail(ld, "schools_protocol", "missing");
    if (ruleset_keys(ld, o, "schools_protocol", skeys) < 0 ||
        ruleset_rule_ref(ld, o, "rule", "schools_protocol", &rs->schools.rule) < 0 ||
        ruleset_list(ld, o, "premises", "schools_protocol", true, ruleset_premises, &rs->schools.items) < 0)
        return -1;

    if (!(o = json_object_get(root, "police_only")))
        return ruleset_fail(ld, "police_only", "missing");
    if (ruleset_keys(ld, o, "police_only", pkeys) < 0 ||
        ruleset_rule_ref(ld, o, "rule", "police_only", &rs->police_only.rule) < 0 ||
        ruleset_list(ld, o, "roles", "police_only", true, ruleset_roles, &rs->police_only.items) < 0)
        return -1;

    if (!(o = json_object_get(root, "action_fraud")))
        return ruleset_fail(ld, "action_fraud", "missing");
    const char *code;
    if (ruleset_keys(ld, o, "action_fraud", akeys) < 0 ||
        ruleset_rule_ref(ld, o, "rule", "action_fraud", &rs->action_fraud.rule) < 0 ||
        ruleset_str(ld, o, "code", "action_fraud", true, &code) < 0)
        return -1;
    rs->action_fraud.items = calloc(2, sizeof *rs->action_fraud.items);
    if (!rs->action_fraud.items || ruleset_track(rs, rs->action_fraud.items) < 0)
        return ruleset_fail(ld, "action_fraud", "out of memory");
    rs->action_fraud.items[0] = code;

    if (!(o = json_object_get(root, "n100")))
        return ruleset_fail(ld, "n100", "missing");
    if (ruleset_keys(ld, o, "n100", nkeys) < 0 || ruleset_rule_ref(ld, o, "rule", "n100", &rs->n100.rule) < 0 ||
        ruleset_str(ld, o, "unconfirmed", "n100", true, &rs->n100.unconfirmed) < 0 ||
        ruleset_str(ld, o, "evidence_against", "n100", true, &rs->n100.evidence_against) < 0 ||
        ruleset_str(ld, o, "elsewhere", "n100", true, &rs->n100.elsewhere) < 0)
        return -1;

    if (!(o = json_object_get(root, "indicators")))
        return ruleset_fail(ld, "indicators", "missing");
    if (ruleset_keys(ld, o, "indicators", ikeys) < 0 ||
        ruleset_rule_ref(ld, o, "rule", "indicators", &rs->indicators.rule) < 0 ||
        ruleset_list(ld, o, "phrases", "indicators", true, NULL, &rs->indicators.items) < 0 ||
        ruleset_list(ld, o, "categories", "indicators", true, ruleset_categories_incident,
                     &rs->indicators.items2) < 0 ||
        ruleset_list(ld, o, "negations", "indicators", false, NULL, &rs->indicators.items3) < 0)
        return -1;
    for (size_t i = 0; rs->indicators.items[i]; i++)
        if (!ruleset_folded(rs->indicators.items[i]))
            return ruleset_fail(ld, "indicators", "phrases[%zu] must be lower case", i);
    for (size_t i = 0; rs->indicators.items3 && rs->indicators.items3[i]; i++)
        if (!ruleset_folded(rs->indicators.items3[i]))
            return ruleset_fail(ld, "indicators", "negations[%zu] must be lower case", i);
    if (ruleset_in(rs->indicators.items2, "crime"))
        return ruleset_fail(ld, "indicators", "\"categories\" lists the incident categories that are not crime");
    return ruleset_load_screening(ld, o);
}

static int ruleset_load_closing(struct ruleset_loader *ld, const json_t *root)
{
    struct ruleset *rs = ld->rs;
    json_t *o = json_object_get(root, "closing_reasons");
    if (!json_is_object(o))
        return ruleset_fail(ld, "closing_reasons", "missing or not an object");
    rs->nclosing = json_object_size(o);
    rs->closing = calloc(rs->nclosing + 1, sizeof *rs->closing);
    if (!rs->closing)
        return ruleset_fail(ld, "closing_reasons", "out of memory");
    static const char *const keys[] = {"outcome", "reason", "n100", "rule", NULL};
    size_t i = 0;
    const char *name;
    json_t *e;
    json_object_foreach(o, name, e) {
        char path[128];
        snprintf(path, sizeof path, "closing_reasons.%s", name);
        struct ruleset_closing_reason *c = &rs->closing[i++];
        c->name = name;
        if (!ruleset_in(ruleset_closing_names, name))
            return ruleset_fail(ld, path, "not a closing_reason of the feed contract");
        if (ruleset_keys(ld, e, path, keys) < 0 || ruleset_str(ld, e, "outcome", path, true, &c->outcome) < 0 ||
            ruleset_str(ld, e, "reason", path, true, &c->reason) < 0 ||
            ruleset_str(ld, e, "n100", path, false, &c->n100) < 0 ||
            ruleset_rule_ref(ld, e, "rule", path, &c->rule) < 0)
            return -1;
        if (strcmp(c->outcome, "not_recorded") != 0 && strcmp(c->outcome, "transfer") != 0)
            return ruleset_fail(ld, path, "\"outcome\" must be \"not_recorded\" or \"transfer\"");
        if (!ruleset_in(ruleset_reasons, c->reason))
            return ruleset_fail(ld, path, "\"reason\": \"%s\" is not a reason of the feed contract", c->reason);
    }
    return 0;
}

static int ruleset_load_flags(struct ruleset_loader *ld, const json_t *root)
{
    struct ruleset *rs = ld->rs;
    const char **names;
    if (ruleset_list(ld, root, "qualifiers", "", true, NULL, &names) < 0)
        return -1;
    for (size_t i = 0; names[i]; i++)
        json_object_set_new(rs->qualifiers, names[i], json_true());
    if (ruleset_list(ld, root, "flags", "", true, NULL, &names) < 0)
        return -1;
    for (size_t i = 0; names[i]; i++)
        json_object_set_new(rs->flags, names[i], json_true());

    json_t *arr = json_object_get(root, "flag_rules");
    if (!json_is_array(arr))
        return ruleset_fail(ld, "flag_rules", "missing or not an array");
    rs->nflag_rules = json_array_size(arr);
    rs->flag_rules = calloc(rs->nflag_rules + 1, sizeof *rs->flag_rules);
    if (!rs->flag_rules)
        return ruleset_fail(ld, "flag_rules", "out of memory");
    static const char *const keys[] = {"id", "flag", "when", NULL};
    static const char *const wkeys[] = {"qualifiers", "premises", "categories", "offences", "victim_roles",
                                        "relationships", "victim_age_max", "min_age_both", "unknown_age_adult",
                                        NULL};
    for (size_t i = 0; i < rs->nflag_rules; i++) {
        char path[64], wpath[80];
        snprintf(path, sizeof path, "flag_rules[%zu]", i);
        snprintf(wpath, sizeof wpath, "flag_rules[%zu].when", i);
        json_t *f = json_array_get(arr, i);
        struct ruleset_flag_rule *fr = &rs->flag_rules[i];
        int64_t v;
        if (ruleset_keys(ld, f, path, keys) < 0 || ruleset_rule_ref(ld, f, "id", path, &fr->id) < 0 ||
            ruleset_str(ld, f, "flag", path, true, &fr->flag) < 0)
            return -1;
        if (!json_object_get(rs->flags, fr->flag))
            return ruleset_fail(ld, path, "flag \"%s\" is not in \"flags\"", fr->flag);
        json_t *w = json_object_get(f, "when");
        if (!w || json_object_size(w) == 0)
            return ruleset_fail(ld, path, "missing or empty \"when\"");
        if (ruleset_keys(ld, w, wpath, wkeys) < 0 ||
            ruleset_list(ld, w, "qualifiers", wpath, false, NULL, &fr->qualifiers) < 0 ||
            ruleset_list(ld, w, "premises", wpath, false, ruleset_premises, &fr->premises) < 0 ||
            ruleset_list(ld, w, "categories", wpath, false, NULL, &fr->categories) < 0 ||
            ruleset_codes(ld, w, "offences", wpath, false, &fr->offences) < 0 ||
            ruleset_list(ld, w, "victim_roles", wpath, false, ruleset_roles, &fr->victim_roles) < 0 ||
            ruleset_list(ld, w, "relationships", wpath, false, ruleset_relationships, &fr->relationships) < 0 ||
            ruleset_bool(ld, w, "unknown_age_adult", wpath, false, &fr->unknown_age_adult) < 0)
            return -1;
        if (ruleset_int(ld, w, "victim_age_max", wpath, false, 0, -1, &v) < 0)
            return -1;
        fr->victim_age_max = (int)v;
        if (ruleset_int(ld, w, "min_age_both", wpath, false, 0, -1, &v) < 0)
            return -1;
        fr->min_age_both = (int)v;
        for (size_t q = 0; fr->qualifiers && fr->qualifiers[q]; q++)
            if (!json_object_get(rs->qualifiers, fr->qualifiers[q]))
                return ruleset_fail(ld, wpath, "qualifier \"%s\" is not in \"qualifiers\"", fr->qualifiers[q]);
        for (size_t c = 0; fr->categories && fr->categories[c]; c++) {
            bool found = false;
            for (size_t o = 0; o < rs->noffences && !found; o++)
                found = strcmp(rs->offences[o].category, fr->categories[c]) == 0;
            if (!found)
                return ruleset_fail(ld, wpath, "no offence has category \"%s\"", fr->categories[c]);
        }
        if (fr->min_age_both >= 0 && !fr->relationships)
            return ruleset_fail(ld, wpath, "\"min_age_both\" needs \"relationships\"");
    }
    return 0;
}

#define DAY_MS (24 * 3600 * (int64_t)1000)

/* The `persons` block: what fcrd does with a person's command-and-control `ref` across
 * incidents (docs/rules.md "Across incidents"). Optional: a set without it keeps every incident
 * on its own. */
static int ruleset_load_persons(struct ruleset_loader *ld, const json_t *root)
{
    static const char *const keys[] = {"rule", "course_window_days", "repeat_victim", "possible_duplicate", NULL};
    static const char *const rkeys[] = {"rule", "incidents", "window_days", NULL};
    static const char *const dkeys[] = {"rule", "window_minutes", NULL};
    struct ruleset_persons *p = &ld->rs->persons;
    const json_t *o = json_object_get(root, "persons"), *r, *d;
    int64_t v;
    if (!o)
        return 0;
    if (ruleset_keys(ld, o, "persons", keys) < 0 || ruleset_rule_ref(ld, o, "rule", "persons", &p->course_rule) < 0 ||
        ruleset_int(ld, o, "course_window_days", "persons", true, 1, 0, &v) < 0)
        return -1;
    p->course_window_ms = v * DAY_MS;
    if ((r = json_object_get(o, "repeat_victim"))) {
        if (ruleset_keys(ld, r, "persons.repeat_victim", rkeys) < 0 ||
            ruleset_rule_ref(ld, r, "rule", "persons.repeat_victim", &p->repeat_rule) < 0 ||
            ruleset_int(ld, r, "incidents", "persons.repeat_victim", true, 2, 0, &v) < 0)
            return -1;
        p->repeat_incidents = (int)(v > 1000000 ? 1000000 : v);
        if (ruleset_int(ld, r, "window_days", "persons.repeat_victim", true, 1, 0, &v) < 0)
            return -1;
        p->repeat_window_ms = v * DAY_MS;
    }
    if ((d = json_object_get(o, "possible_duplicate"))) {
        if (ruleset_keys(ld, d, "persons.possible_duplicate", dkeys) < 0 ||
            ruleset_rule_ref(ld, d, "rule", "persons.possible_duplicate", &p->duplicate_rule) < 0 ||
            ruleset_int(ld, d, "window_minutes", "persons.possible_duplicate", true, 0, 0, &v) < 0)
            return -1;
        p->duplicate_window_ms = v * 60 * 1000;
    }
    return 0;
}

static int ruleset_build(struct ruleset_loader *ld, json_t *root)
{
    struct ruleset *rs = ld->rs;
    static const char *const keys[] = {"version", "title", "deadline_hours", "occasion_window_minutes", "rules",
                                       "offences", "lexicon", "exceptions", "confirmation", "schools_protocol",
                                       "police_only", "action_fraud", "n100", "closing_reasons", "qualifiers",
                                       "flags", "flag_rules", "indicators", "authority", "persons", NULL};
    int64_t v;
    if (ruleset_keys(ld, root, "", keys) < 0)
        return -1;
    if (ruleset_str(ld, root, "version", "", true, &rs->version) < 0)
        return -1;
    if (ruleset_int(ld, root, "deadline_hours", "", true, 1, 24, &v) < 0)
        return -1;
    rs->deadline_ms = v * 3600 * 1000;
    if (ruleset_int(ld, root, "occasion_window_minutes", "", false, 0, 0, &v) < 0)
        return -1;
    rs->window_ms = v * 60 * 1000;
    if (ruleset_load_rules(ld, root) < 0 || ruleset_load_authority(ld, root) < 0 ||
        ruleset_load_offences(ld, root) < 0 ||
        ruleset_load_lexicon(ld, root) < 0 || ruleset_load_exceptions(ld, root) < 0 ||
        ruleset_load_confirmation(ld, root) < 0 || ruleset_load_simple(ld, root) < 0 ||
        ruleset_load_closing(ld, root) < 0 || ruleset_load_flags(ld, root) < 0 ||
        ruleset_load_persons(ld, root) < 0)
        return -1;
    /* N100 turns on for rape codes: a rule set whose rape codes lack the flag would record
     * nothing for an unconfirmed rape and hold nothing either. */
    bool any_n100 = false;
    for (size_t i = 0; i < rs->noffences; i++)
        any_n100 |= rs->offences[i].n100;
    if (!any_n100)
        return ruleset_fail(ld, "offences", "no offence has \"n100\": true");
    return 0;
}

/* The canonical text of a parsed rule set (sorted keys, compact: what jsonwrite_dumps writes with
 * JSONWRITE_SORT) and its SHA-256 in lowercase hex. The text is malloc'd. -1 when memory or
 * libcrypto fails. */
static int ruleset_canonical_hash(const json_t *root, char **text, size_t *len, char hex[RULESET_SHA256_SIZE])
{
    *text = jsonwrite_dumps(root, JSONWRITE_SORT);
    if (!*text)
        return -1;
    *len = strlen(*text);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(*text, *len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen * 2 + 1 != RULESET_SHA256_SIZE)
        return -1;
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static int ruleset_from_json(json_t *root, const char *origin, struct ruleset **out, char *err, size_t errlen)
{
    struct ruleset *rs = calloc(1, sizeof *rs);
    if (!rs) {
        json_decref(root);
        errbuf_set(err, errlen, "%s: out of memory", origin);
        return -1;
    }
    rs->root = root;
    rs->offence_index = json_object();
    rs->lexicon_index = json_object();
    rs->qualifiers = json_object();
    rs->flags = json_object();
    rs->rule_index = json_object();
    struct ruleset_loader ld = {rs, err, errlen, origin};
    if (!rs->offence_index || !rs->lexicon_index || !rs->qualifiers || !rs->flags || !rs->rule_index) {
        ruleset_fail(&ld, "", "out of memory");
        ruleset_free(rs);
        return -1;
    }
    if (!json_is_object(root)) {
        ruleset_fail(&ld, "", "the rule set must be a JSON object");
        ruleset_free(rs);
        return -1;
    }
    if (ruleset_build(&ld, root) < 0) {
        ruleset_free(rs);
        return -1;
    }
    if (ruleset_canonical_hash(root, &rs->canonical, &rs->canonical_len, rs->sha256) < 0) {
        ruleset_fail(&ld, "", "out of memory");
        ruleset_free(rs);
        return -1;
    }
    *out = rs;
    return 0;
}

int ruleset_load(const char *path, struct ruleset **out, char *err, size_t errlen)
{
    json_error_t je;
    *out = NULL;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        errbuf_set(err, errlen, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    return ruleset_from_json(root, path, out, err, errlen);
}

int ruleset_load_text(const char *text, size_t len, const char *origin, struct ruleset **out, char *err,
                      size_t errlen)
{
    json_error_t je;
    *out = NULL;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        errbuf_set(err, errlen, "%s: line %d column %d: %s", origin, je.line, je.column, je.text);
        return -1;
    }
    return ruleset_from_json(root, origin, out, err, errlen);
}

struct ruleset *ruleset_free(struct ruleset *rs)
{
    if (!rs)
        return NULL;
    for (size_t i = 0; i < rs->nallocs; i++)
        free(rs->allocs[i]);
    free(rs->allocs);
    for (size_t i = 0; rs->lexicon && i < rs->nlexicon; i++)
        free(rs->lexicon[i].entries);
    free(rs->lexicon);
    free(rs->offences);
    free(rs->exceptions);
    free(rs->closing);
    free(rs->flag_rules);
    free(rs->rule_ids);
    free(rs->groups);
    json_decref(rs->offence_index);
    json_decref(rs->lexicon_index);
    json_decref(rs->qualifiers);
    json_decref(rs->flags);
    json_decref(rs->rule_index);
    json_decref(rs->root);
    free(rs->canonical);
    free(rs);
    return NULL;
}

const char *ruleset_version(const struct ruleset *rs)
{
    return rs->version;
}

const char *ruleset_sha256(const struct ruleset *rs)
{
    return rs->sha256;
}

const char *ruleset_canonical(const struct ruleset *rs, size_t *len)
{
    if (len)
        *len = rs->canonical_len;
    return rs->canonical;
}

const struct ruleset_offence *ruleset_offence(const struct ruleset *rs, const char *code)
{
    json_t *i = code ? json_object_get(rs->offence_index, code) : NULL;
    return i ? &rs->offences[json_integer_value(i)] : NULL;
}

size_t ruleset_offence_count(const struct ruleset *rs)
{
    return rs->noffences;
}

const struct ruleset_offence *ruleset_offence_at(const struct ruleset *rs, size_t i)
{
    return i < rs->noffences ? &rs->offences[i] : NULL;
}

static const struct ruleset_lex_key *ruleset_lex(const struct ruleset *rs, const char *key)
{
    json_t *i = key ? json_object_get(rs->lexicon_index, key) : NULL;
    return i ? &rs->lexicon[json_integer_value(i)] : NULL;
}

bool ruleset_lexicon_has(const struct ruleset *rs, const char *key)
{
    return ruleset_lex(rs, key) != NULL;
}

static bool ruleset_entry_fits(const struct ruleset_lex_entry *e, const struct ruleset_facts *f)
{
    const char *kind = f->victim_kind ? f->victim_kind : "person";
    if (e->victim_kind && strcmp(e->victim_kind, kind) != 0)
        return false;
    if (e->victim_sex && (!f->victim_sex || strcmp(e->victim_sex, f->victim_sex) != 0))
        return false;
    if (e->age_min >= 0 && (f->victim_age < 0 || f->victim_age < e->age_min))
        return false;
    if (e->age_max >= 0 && (f->victim_age < 0 || f->victim_age > e->age_max))
        return false;
    if (e->premises && (!f->premises || !ruleset_in(e->premises, f->premises)))
        return false;
    return true;
}

const struct ruleset_offence *ruleset_classify(const struct ruleset *rs, const char *key,
                                               const struct ruleset_facts *facts, const char **rule)
{
    const struct ruleset_lex_key *lk = ruleset_lex(rs, key);
    *rule = NULL;
    for (size_t i = 0; lk && i < lk->n; i++)
        if (ruleset_entry_fits(&lk->entries[i], facts)) {
            *rule = lk->entries[i].rule;
            return lk->entries[i].off;
        }
    return NULL;
}

size_t ruleset_lexicon_codes(const struct ruleset *rs, const char *key, const char **codes, size_t max)
{
    const struct ruleset_lex_key *lk = ruleset_lex(rs, key);
    size_t n = 0;
    for (size_t i = 0; lk && i < lk->n; i++) {
        const char *c = lk->entries[i].off->code;
        bool seen = false;
        for (size_t j = 0; j < n && j < max; j++)
            seen |= strcmp(codes[j], c) == 0;
        if (seen)
            continue;
        if (n < max)
            codes[n] = c;
        n++;
    }
    return n;
}

const struct ruleset_exception *ruleset_exception_for(const struct ruleset *rs, const char *winner,
                                                      const char *loser)
{
    for (size_t i = 0; i < rs->nexceptions; i++) {
        const struct ruleset_exception *x = &rs->exceptions[i];
        if (ruleset_in(x->winners, winner) && ruleset_in(x->losers, loser))
            return x;
    }
    return NULL;
}

const struct ruleset_confirmation *ruleset_confirmation(const struct ruleset *rs)
{
    return &rs->confirmation;
}

const struct ruleset_simple *ruleset_schools(const struct ruleset *rs)
{
    return &rs->schools;
}

const struct ruleset_simple *ruleset_police_only(const struct ruleset *rs)
{
    return &rs->police_only;
}

const struct ruleset_simple *ruleset_action_fraud(const struct ruleset *rs)
{
    return &rs->action_fraud;
}

const struct ruleset_simple *ruleset_indicators(const struct ruleset *rs)
{
    return &rs->indicators;
}

const struct ruleset_screening *ruleset_screening(const struct ruleset *rs)
{
    return &rs->screening;
}

const struct ruleset_n100 *ruleset_n100(const struct ruleset *rs)
{
    return &rs->n100;
}

const struct ruleset_closing_reason *ruleset_closing_reason(const struct ruleset *rs, const char *name)
{
    for (size_t i = 0; name && i < rs->nclosing; i++)
        if (strcmp(rs->closing[i].name, name) == 0)
            return &rs->closing[i];
    return NULL;
}

bool ruleset_qualifier_known(const struct ruleset *rs, const char *qualifier)
{
    return qualifier && json_object_get(rs->qualifiers, qualifier) != NULL;
}

size_t ruleset_flag_rule_count(const struct ruleset *rs)
{
    return rs->nflag_rules;
}

const struct ruleset_flag_rule *ruleset_flag_rule_at(const struct ruleset *rs, size_t i)
{
    return i < rs->nflag_rules ? &rs->flag_rules[i] : NULL;
}

int64_t ruleset_deadline_ms(const struct ruleset *rs)
{
    return rs->deadline_ms;
}

int64_t ruleset_occasion_window_ms(const struct ruleset *rs)
{
    return rs->window_ms;
}

const struct ruleset_persons *ruleset_persons(const struct ruleset *rs)
{
    return &rs->persons;
}

size_t ruleset_rule_count(const struct ruleset *rs)
{
    return rs->nrules;
}

const char *ruleset_rule_id(const struct ruleset *rs, size_t i)
{
    return i < rs->nrules ? rs->rule_ids[i] : NULL;
}

bool ruleset_rule_known(const struct ruleset *rs, const char *id)
{
    return id && json_object_get(rs->rule_index, id) != NULL;
}

const char *ruleset_action_name(enum ruleset_action act)
{
    return (unsigned)act < RULESET_ACT_COUNT ? ruleset_action_names[act] : "unknown";
}

const struct ruleset_group *ruleset_group(const struct ruleset *rs, const char *name)
{
    for (size_t i = 0; name && i < rs->ngroups; i++)
        if (strcmp(rs->groups[i].name, name) == 0)
            return &rs->groups[i];
    return NULL;
}

size_t ruleset_group_count(const struct ruleset *rs)
{
    return rs->ngroups;
}

const struct ruleset_group *ruleset_group_at(const struct ruleset *rs, size_t i)
{
    return i < rs->ngroups ? &rs->groups[i] : NULL;
}

int ruleset_role_rank(const char *role)
{
    for (int i = 0; role && ruleset_acting_roles[i]; i++)
        if (strcmp(ruleset_acting_roles[i], role) == 0)
            return i;
    return -1;
}
