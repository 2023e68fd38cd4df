/* test_ruleset.c: the shipped rule set loads and is complete; broken rule sets are refused with a
 * message naming the place at fault; a rule set's hash is of its canonical text, whatever the
 * file's layout, and a version known with another hash is refused. */
#include <check.h>
#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/tokens.h"
#include "rules/ruleset.h"
#include "store/rulesets.h"
#include "check_run.h"

static char shipped_path[4096];

static void set_paths(void)
{
    const char *root = getenv("FCRD_SOURCE_ROOT");
    snprintf(shipped_path, sizeof shipped_path, "%s/conf/rules/hocr-2025.json", root ? root : ".");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

static struct ruleset *load_shipped(void)
{
    char err[512];
    struct ruleset *rs = NULL;
    int rc = ruleset_load(shipped_path, &rs, err, sizeof err);
    ck_assert_msg(rc == 0, "shipped rule set refused: %s", err);
    return rs;
}

static json_t *shipped_json(void)
{
    json_error_t je;
    json_t *j = json_load_file(shipped_path, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", shipped_path, je.text);
    return j;
}

/* Loads a changed copy of the shipped rule set; expects refusal with every `needles` in the message. */
static void expect_refused(json_t *doc, const char *needle1, const char *needle2)
{
    char *text = json_dumps(doc, 0), err[512] = "";
    struct ruleset *rs = NULL;
    int rc = ruleset_load_text(text, strlen(text), "test.json", &rs, err, sizeof err);
    free(text);
    json_decref(doc);
    ck_assert_msg(rc == -1, "a broken rule set was accepted");
    ck_assert_ptr_null(rs);
    ck_assert_msg(strstr(err, needle1) != NULL, "message \"%s\" does not name \"%s\"", err, needle1);
    if (needle2)
        ck_assert_msg(strstr(err, needle2) != NULL, "message \"%s\" does not say \"%s\"", err, needle2);
}

START_TEST(shipped_loads)
{
    struct ruleset *rs = load_shipped();
    json_t *doc = shipped_json();
    ck_assert_str_eq(ruleset_version(rs), json_string_value(json_object_get(doc, "version")));
    json_decref(doc);
    ck_assert_uint_gt(ruleset_offence_count(rs), 50);
    ck_assert_int_eq(ruleset_deadline_ms(rs), 24LL * 3600 * 1000);
    ck_assert_ptr_nonnull(ruleset_offence(rs, "8N"));
    ck_assert_ptr_null(ruleset_offence(rs, "8Z"));
    ck_assert(ruleset_qualifier_known(rs, "domestic"));
    ck_assert(!ruleset_qualifier_known(rs, "martian"));
    ck_assert_ptr_null(ruleset_free(rs));
    ck_assert_ptr_null(ruleset_free(NULL));
}
END_TEST

START_TEST(engine_rules_declared)
{
    struct ruleset *rs = load_shipped();
    for (const char *const *id = ruleset_engine_rule_ids(); *id; id++)
        ck_assert_msg(ruleset_rule_known(rs, *id), "engine rule %s not declared", *id);
    ruleset_free(rs);
}
END_TEST

START_TEST(rule_ids_documented)
{
    const char *root = getenv("FCRD_SOURCE_ROOT");
    char path[4096], needle[160];
    snprintf(path, sizeof path, "%s/docs/rules.md", root ? root : ".");
    char *doc = slurp(path);
    ck_assert_msg(doc != NULL, "%s missing", path);
    struct ruleset *rs = load_shipped();
    for (size_t i = 0; i < ruleset_rule_count(rs); i++) {
        snprintf(needle, sizeof needle, "`%s`", ruleset_rule_id(rs, i));
        ck_assert_msg(strstr(doc, needle) != NULL, "rule %s is not documented in docs/rules.md", ruleset_rule_id(rs, i));
    }
    ruleset_free(rs);
    free(doc);
}
END_TEST

START_TEST(every_code_and_rule_resolves)
{
    struct ruleset *rs = load_shipped();
    for (size_t i = 0; i < ruleset_offence_count(rs); i++) {
        const struct ruleset_offence *o = ruleset_offence_at(rs, i);
        ck_assert_ptr_eq(ruleset_offence(rs, o->code), o);
        ck_assert_msg(ruleset_rule_known(rs, o->rule), "offence %s rule %s", o->code, o->rule);
        ck_assert_int_ge(o->max_days, o->rank_days);
        const struct ruleset_group *g = ruleset_group(rs, o->group);
        ck_assert_msg(g != NULL, "offence %s group %s", o->code, o->group);
        if (o->serious_sexual)
            ck_assert_msg(g->reserved, "serious sexual offence %s outside a reserved group", o->code);
    }
    for (size_t i = 0; i < ruleset_flag_rule_count(rs); i++)
        ck_assert(ruleset_rule_known(rs, ruleset_flag_rule_at(rs, i)->id));
    ck_assert(ruleset_rule_known(rs, ruleset_confirmation(rs)->rule_third_party));
    ruleset_free(rs);
}
END_TEST

/* Every key of the shared lexicon list is in the rule set, and can produce every code it lists. */
START_TEST(lexicon_md_keys_present)
{
    const char *shared = getenv("FCRD_SHARED_DIR"), *root = getenv("FCRD_SOURCE_ROOT");
    char path[4096];
    if (shared)
        snprintf(path, sizeof path, "%s/scenarios/lexicon.md", shared);
    else
        snprintf(path, sizeof path, "%s/../shared/scenarios/lexicon.md", root ? root : ".");
    char *md = slurp(path);
    if (!md) {
        ck_assert_msg(!check_in_ci(), "%s: missing, and CI=true needs the worked cases' lexicon", path);
        printf("lexicon.md not found at %s: key check skipped\n", path);
        return;
    }
    struct ruleset *rs = load_shipped();
    size_t keys = 0;
    bool in_keys = false;
    for (char *line = strtok(md, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "## ", 3) == 0)
            in_keys = strncmp(line, "## Keys", 7) == 0;
        if (!in_keys || strncmp(line, "| `", 3) != 0)
            continue;
        char key[128];
        const char *end = strchr(line + 3, '`');
        ck_assert_ptr_nonnull(end);
        snprintf(key, sizeof key, "%.*s", (int)(end - line - 3), line + 3);
        ck_assert_msg(ruleset_lexicon_has(rs, key), "lexicon key %s missing", key);
        keys++;
        /* Second column: the codes. A token starting with a digit is a Home Office code. */
        const char *col = strchr(end, '|');
        const char *colend = col ? strchr(col + 1, '|') : NULL;
        ck_assert_ptr_nonnull(colend);
        const char *codes[32];
        size_t n = ruleset_lexicon_codes(rs, key, codes, 32);
        for (const char *p = col + 1; p < colend;) {
            if (!isalnum((unsigned char)*p)) {
                p++;
                continue;
            }
            const char *q = p;
            while (q < colend && (isalnum((unsigned char)*q) || *q == '.'))
                q++;
            if (isdigit((unsigned char)*p)) {
                bool found = false;
                for (size_t k = 0; k < n && k < 32; k++)
                    found |= strlen(codes[k]) == (size_t)(q - p) && strncmp(codes[k], p, (size_t)(q - p)) == 0;
                ck_assert_msg(found, "lexicon key %s cannot produce %.*s", key, (int)(q - p), p);
            }
            p = q;
        }
    }
    ck_assert_uint_ge(keys, 20);
    ruleset_free(rs);
    free(md);
}
END_TEST

START_TEST(classification_by_facts)
{
    struct ruleset *rs = load_shipped();
    const char *rule;
    struct ruleset_facts f = {.victim_sex = "female", .victim_age = 12};
    ck_assert_str_eq(ruleset_classify(rs, "rape", &f, &rule)->code, "19E");
    ck_assert_str_eq(rule, "HOCR-SX.19E");
    f.victim_age = 14;
    ck_assert_str_eq(ruleset_classify(rs, "rape", &f, &rule)->code, "19D");
    f.victim_age = -1;
    ck_assert_str_eq(ruleset_classify(rs, "rape", &f, &rule)->code, "19C");
    f = (struct ruleset_facts){.victim_sex = "male", .victim_age = 15};
    ck_assert_str_eq(ruleset_classify(rs, "rape", &f, &rule)->code, "19G");
    f.victim_age = 10;
    ck_assert_str_eq(ruleset_classify(rs, "sexual_assault", &f, &rule)->code, "17B");
    f = (struct ruleset_facts){.victim_age = -1};
    ck_assert_ptr_null(ruleset_classify(rs, "rape", &f, &rule));
    ck_assert_ptr_null(rule);
    f.victim_kind = "organisation";
    ck_assert_str_eq(ruleset_classify(rs, "robbery", &f, &rule)->code, "34A");
    f.victim_kind = NULL;
    ck_assert_str_eq(ruleset_classify(rs, "robbery", &f, &rule)->code, "34B");
    ck_assert_ptr_null(ruleset_classify(rs, "no.such.key", &f, &rule));
    ck_assert_ptr_nonnull(ruleset_exception_for(rs, "48", "56B"));
    ck_assert_ptr_null(ruleset_exception_for(rs, "56B", "48"));
    ruleset_free(rs);
}
END_TEST

START_TEST(refuses_bad_json)
{
    char err[512] = "";
    struct ruleset *rs = NULL;
    const char *text = "{\"version\": \"x\",\n \"rules\": [}";
    ck_assert_int_eq(ruleset_load_text(text, strlen(text), "bad.json", &rs, err, sizeof err), -1);
    ck_assert_ptr_null(rs);
    ck_assert_msg(strstr(err, "bad.json: line 2") != NULL, "%s", err);
    ck_assert_int_eq(ruleset_load("/nonexistent/rules.json", &rs, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "/nonexistent/rules.json") != NULL, "%s", err);
}
END_TEST

START_TEST(refuses_missing_version)
{
    json_t *d = shipped_json();
    json_object_del(d, "version");
    expect_refused(d, "missing \"version\"", NULL);
}
END_TEST

START_TEST(refuses_unknown_code_in_lexicon)
{
    json_t *d = shipped_json();
    json_t *e = json_array_get(json_object_get(json_object_get(d, "lexicon"), "robbery"), 1);
    json_object_set_new(e, "offence", json_string("34Z"));
    expect_refused(d, "lexicon.robbery[1]", "unknown offence code \"34Z\"");
}
END_TEST

START_TEST(refuses_duplicate_code)
{
    json_t *d = shipped_json();
    json_t *offences = json_object_get(d, "offences");
    json_array_append_new(offences, json_deep_copy(json_array_get(offences, 0)));
    char where[64];
    snprintf(where, sizeof where, "offences[%zu]", json_array_size(offences) - 1);
    expect_refused(d, where, "duplicate offence code \"1\"");
}
END_TEST

START_TEST(refuses_undeclared_rule_id)
{
    json_t *d = shipped_json();
    json_t *x = json_array_get(json_object_get(d, "exceptions"), 0);
    json_object_set_new(x, "id", json_string("HOCR-ROB.made_up"));
    expect_refused(d, "exceptions[0]", "\"HOCR-ROB.made_up\" is not declared");
}
END_TEST

START_TEST(refuses_missing_engine_rule)
{
    json_t *d = shipped_json();
    json_t *rules = json_object_get(d, "rules");
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r) {
        if (strcmp(json_string_value(json_object_get(r, "id")), "NCRS.balance") == 0) {
            json_array_remove(rules, i);
            break;
        }
    }
    expect_refused(d, "rules", "\"NCRS.balance\" is not declared");
}
END_TEST

/* The shipped authority table follows the Counting Rules: the registrar for cancelling, downgrading,
 * no-criming or disposing of rape and other serious sexual offences, a DDM for the others. */
START_TEST(authority_defaults)
{
    struct ruleset *rs = load_shipped();
    const struct ruleset_group *ss = ruleset_group(rs, ruleset_offence(rs, "19C")->group);
    const struct ruleset_group *v = ruleset_group(rs, ruleset_offence(rs, "8N")->group);
    const struct ruleset_group *d = ruleset_group(rs, ruleset_offence(rs, "49")->group);
    ck_assert_str_eq(ss->name, "serious_sexual");
    ck_assert(ss->reserved);
    ck_assert_str_eq(ruleset_offence(rs, "20A")->group, "serious_sexual");
    ck_assert_str_eq(v->name, "violence");
    ck_assert_str_eq(d->name, "default");
    ck_assert(!v->reserved && !d->reserved);
    static const enum ruleset_action fcr_only[] = {RULESET_ACT_NO_CRIME, RULESET_ACT_RECLASSIFY_DOWN, RULESET_ACT_CANCEL_C1,
                                                   RULESET_ACT_CANCEL_C2, RULESET_ACT_CANCEL_C3, RULESET_ACT_CANCEL_C4,
                                                   RULESET_ACT_N100_DISPOSE};
    for (size_t i = 0; i < sizeof fcr_only / sizeof *fcr_only; i++)
        ck_assert_str_eq(ss->roles[fcr_only[i]], "fcr");
    static const enum ruleset_action ddm[] = {RULESET_ACT_RECLASSIFY_DOWN, RULESET_ACT_CANCEL_C1, RULESET_ACT_CANCEL_C2,
                                              RULESET_ACT_CANCEL_C3, RULESET_ACT_CANCEL_C4};
    for (size_t i = 0; i < sizeof ddm / sizeof *ddm; i++) {
        ck_assert_str_eq(v->roles[ddm[i]], "ddm");
        ck_assert_str_eq(d->roles[ddm[i]], "ddm");
    }
    ck_assert_str_eq(d->roles[RULESET_ACT_RECORD], "supervisor");
    ck_assert_str_eq(ss->victim_informed[0], "C2");
    ck_assert_ptr_null(ss->victim_informed[1]);
    ck_assert_ptr_null(d->victim_informed);
    for (int a = 0; a < RULESET_ACT_COUNT; a++)
        ck_assert_str_ne(ruleset_action_name((enum ruleset_action)a), "unknown");
    ruleset_free(rs);
}
END_TEST

/* The ranking is the API's (api/tokens.h): supervisor < ddm < fcr; nobody else acts. */
START_TEST(role_rank_follows_tokens)
{
    ck_assert_int_lt(ruleset_role_rank("supervisor"), ruleset_role_rank("ddm"));
    ck_assert_int_lt(ruleset_role_rank("ddm"), ruleset_role_rank("fcr"));
    ck_assert_int_ge(ruleset_role_rank("supervisor"), 0);
    ck_assert_int_lt(role_parse("supervisor"), role_parse("ddm"));
    ck_assert_int_lt(role_parse("ddm"), role_parse("fcr"));
    ck_assert_int_eq(ruleset_role_rank("auditor"), -1);
    ck_assert_int_eq(ruleset_role_rank("ops"), -1);
    ck_assert_int_eq(ruleset_role_rank("none"), -1);
    ck_assert_int_eq(ruleset_role_rank(NULL), -1);
}
END_TEST

START_TEST(refuses_bad_authority)
{
    json_t *d = shipped_json();
    json_object_set_new(json_object_get(json_object_get(json_object_get(json_object_get(d, "authority"), "groups"),
                                                        "violence"), "roles"),
                        "cancel_C2", json_string("sergeant"));
    expect_refused(d, "authority.groups.violence.roles", "unknown role \"sergeant\"");

    d = shipped_json();
    json_object_set_new(json_object_get(json_object_get(json_object_get(json_object_get(d, "authority"), "groups"),
                                                        "violence"), "roles"),
                        "cancel_C5", json_string("ddm"));
    expect_refused(d, "authority.groups.violence.roles", "unknown field \"cancel_C5\"");

    d = shipped_json();
    json_object_del(json_object_get(json_object_get(json_object_get(json_object_get(d, "authority"), "groups"),
                                                    "default"), "roles"),
                    "n100_dispose");
    expect_refused(d, "authority.groups.default.roles", "missing \"n100_dispose\"");

    d = shipped_json();
    json_object_set_new(json_object_get(json_object_get(json_object_get(d, "authority"), "groups"), "violence"),
                        "victim_informed_required", json_pack("[s]", "C9"));
    expect_refused(d, "authority.groups.violence", "\"C9\"");

    d = shipped_json();
    json_object_del(json_object_get(json_object_get(d, "authority"), "groups"), "default");
    expect_refused(d, "authority.groups", "no \"default\" group");

    d = shipped_json();
    json_object_del(d, "authority");
    expect_refused(d, "authority", "missing");

    d = shipped_json();
    json_object_set_new(json_array_get(json_object_get(d, "offences"), 0), "group", json_string("gangs"));
    expect_refused(d, "offences[0]", "\"gangs\" is not a group");

    /* a serious sexual offence outside a reserved group */
    d = shipped_json();
    json_t *offs = json_object_get(d, "offences");
    size_t i;
    json_t *o;
    json_array_foreach(offs, i, o) {
        if (strcmp(json_string_value(json_object_get(o, "code")), "19C") == 0)
            json_object_set_new(o, "group", json_string("violence"));
    }
    expect_refused(d, "offences[", "reserved group");
}
END_TEST

START_TEST(refuses_unknown_field_and_bad_values)
{
    json_t *d = shipped_json();
    json_object_set_new(json_array_get(json_object_get(d, "offences"), 3), "max_dayz", json_integer(5));
    expect_refused(d, "offences[3]", "unknown field \"max_dayz\"");

    d = shipped_json();
    json_object_set_new(json_array_get(json_object_get(d, "offences"), 0), "cancel_role", json_string("supervisor"));
    expect_refused(d, "offences[0]", "\"cancel_role\" is replaced");

    d = shipped_json();
    json_t *fr = json_array_get(json_object_get(d, "flag_rules"), 1);
    json_object_set_new(fr, "flag", json_string("sparkly"));
    expect_refused(d, "flag_rules[1]", "\"sparkly\"");

    d = shipped_json();
    json_object_set_new(json_object_get(d, "confirmation"), "lay_roles", json_pack("[s]", "neighbour"));
    expect_refused(d, "confirmation", "\"neighbour\"");

    d = shipped_json();
    json_object_set_new(json_object_get(json_object_get(d, "closing_reasons"), "other_force"), "reason",
                        json_string("moved_away"));
    expect_refused(d, "closing_reasons.other_force", "\"moved_away\"");

    d = shipped_json();
    json_t *ind = json_object_get(d, "indicators");
    json_array_append_new(json_object_get(ind, "phrases"), json_string("Knife"));
    expect_refused(d, "indicators", "lower case");

    d = shipped_json();
    json_object_set_new(d, "deadline_hours", json_integer(0));
    expect_refused(d, "deadline_hours", ">= 1");
}
END_TEST

/* ---- the canonical text and its hash ---- */

/* A copy of v with every object's keys inserted in reverse order (json_dumps without
 * JSON_SORT_KEYS writes them in insertion order). */
static json_t *reversed(const json_t *v)
{
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach((json_t *)v, i, x)
            json_array_append_new(a, reversed(x));
        return a;
    }
    if (!json_is_object(v))
        return json_incref((json_t *)v);
    size_t n = json_object_size(v), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
        keys[i++] = k;
    json_t *o = json_object();
    while (i-- > 0)
        json_object_set_new(o, keys[i], reversed(json_object_get(v, keys[i])));
    free(keys);
    return o;
}

static struct ruleset *load_text_ok(const char *text)
{
    char err[512] = "";
    struct ruleset *rs = NULL;
    ck_assert_msg(ruleset_load_text(text, strlen(text), "test.json", &rs, err, sizeof err) == 0, "%s", err);
    return rs;
}

static struct ruleset *load_doc_ok(const json_t *doc, size_t flags)
{
    char *text = json_dumps(doc, flags);
    struct ruleset *rs = load_text_ok(text);
    free(text);
    return rs;
}

/* The screening keys of `indicators`: the shipped data loads as written, and a broken entry is
 * refused naming its place. */
START_TEST(screening_data)
{
    struct ruleset *rs = load_shipped();
    const struct ruleset_screening *sc = ruleset_screening(rs);
    ck_assert_ptr_nonnull(strchr(sc->clause_marks, ','));
    bool but = false, strangled = false;
    for (size_t i = 0; sc->clause_words[i]; i++)
        but |= strcmp(sc->clause_words[i], "but") == 0;
    for (size_t i = 0; sc->misspelt[i]; i++)
        strangled |= strcmp(sc->misspelt[i], "strangeled") == 0 && strcmp(sc->corrected[i], "strangled") == 0;
    ck_assert(but && strangled);
    ck_assert_uint_ge(sc->ncandidates, 2);
    ck_assert_str_eq(sc->candidates[0].conduct, "theft.force_used");
    /* Every phrase of the indicators is looked for, then the candidates' own, each once. */
    const struct ruleset_simple *ind = ruleset_indicators(rs);
    size_t n = 0;
    while (ind->items[n]) {
        ck_assert_str_eq(sc->phrases[n], ind->items[n]);
        n++;
    }
    for (size_t i = 0; sc->phrases[i]; i++)
        for (size_t j = i + 1; sc->phrases[j]; j++)
            ck_assert_str_ne(sc->phrases[i], sc->phrases[j]);
    ruleset_free(rs);

    json_t *d = shipped_json();
    json_t *cd = json_array_get(json_object_get(json_object_get(d, "indicators"), "candidates"), 1);
    json_object_set_new(cd, "offence", json_string("99Z"));
    expect_refused(d, "indicators.candidates[1]", "unknown offence code \"99Z\"");

    d = shipped_json();
    cd = json_array_get(json_object_get(json_object_get(d, "indicators"), "candidates"), 0);
    json_object_set_new(cd, "offence", json_string("34B"));
    expect_refused(d, "indicators.candidates[0]", "exactly one of");

    d = shipped_json();
    cd = json_array_get(json_object_get(json_object_get(d, "indicators"), "candidates"), 1);
    json_object_set_new(cd, "keyed_categories", json_pack("[s]", "violenc"));
    expect_refused(d, "indicators.candidates[1]", "\"violenc\"");

    d = shipped_json();
    json_object_set_new(json_object_get(json_object_get(d, "indicators"), "misspellings"), "Chocked",
                        json_string("choked"));
    expect_refused(d, "indicators", "one lower-case word");

    d = shipped_json();
    json_object_set_new(json_object_get(d, "indicators"), "clause_marks", json_pack("[s]", "ab"));
    expect_refused(d, "indicators", "clause_marks[0]");

    d = shipped_json();
    json_array_append_new(json_object_get(json_object_get(d, "indicators"), "negations"), json_string("DIDN'T"));
    expect_refused(d, "indicators", "lower case");

    /* Without the optional keys the engine keeps to sentences and reads words as written. */
    d = shipped_json();
    json_t *ind2 = json_object_get(d, "indicators");
    json_object_del(ind2, "clause_marks");
    json_object_del(ind2, "clause_words");
    json_object_del(ind2, "misspellings");
    json_object_del(ind2, "candidates");
    rs = load_doc_ok(d, 0);
    json_decref(d);
    sc = ruleset_screening(rs);
    ck_assert_str_eq(sc->clause_marks, ".;!?");
    ck_assert_ptr_null(sc->clause_words[0]);
    ck_assert_ptr_null(sc->misspelt[0]);
    ck_assert_uint_eq(sc->ncandidates, 0);
    ruleset_free(rs);
}
END_TEST

/* The hash is SHA-256 over the canonical text, which is the document dumped compact with sorted
 * keys, in lowercase hex. */
START_TEST(hash_is_of_canonical_text)
{
    struct ruleset *rs = load_shipped();
    json_t *doc = shipped_json();
    char *want = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    size_t len = 0;
    const char *canon = ruleset_canonical(rs, &len);
    ck_assert_str_eq(canon, want);
    ck_assert_uint_eq(len, strlen(want));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ck_assert_int_eq(EVP_Digest(want, strlen(want), md, &mdlen, EVP_sha256(), NULL), 1);
    char hex[RULESET_SHA256_SIZE];
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    ck_assert_str_eq(ruleset_sha256(rs), hex);
    ck_assert_uint_eq(strlen(ruleset_sha256(rs)), 64);
    free(want);
    json_decref(doc);
    ruleset_free(rs);
}
END_TEST

/* Key order, indentation and escapes do not change the hash: the shipped file, the same
 * document with every object's keys reversed and indented, and with non-ASCII escaped. */
START_TEST(hash_ignores_layout)
{
    struct ruleset *rs = load_shipped();
    json_t *doc = shipped_json();
    json_t *rev = reversed(doc);
    char *a = json_dumps(doc, JSON_SORT_KEYS), *b = json_dumps(rev, 0);
    ck_assert_str_ne(a, b); /* the texts do differ */
    free(a);
    free(b);
    const size_t layouts[] = {JSON_INDENT(4), JSON_COMPACT, JSON_ENSURE_ASCII | JSON_INDENT(1)};
    for (size_t i = 0; i < sizeof layouts / sizeof *layouts; i++) {
        struct ruleset *other = load_doc_ok(rev, layouts[i]);
        ck_assert_str_eq(ruleset_sha256(other), ruleset_sha256(rs));
        ruleset_free(other);
    }
    /* Whitespace around and between tokens, by hand. */
    struct ruleset *spaced = NULL;
    char *text = json_dumps(doc, JSON_INDENT(2));
    size_t n = strlen(text);
    char *padded = malloc(n + 8);
    snprintf(padded, n + 8, "\n\t %s \n", text);
    spaced = load_text_ok(padded);
    ck_assert_str_eq(ruleset_sha256(spaced), ruleset_sha256(rs));
    free(text);
    free(padded);
    ruleset_free(spaced);
    /* A non-ASCII character written as itself or as a \u escape. */
    json_object_set_new(doc, "title", json_string("R\xc3\xa8gles \xe2\x80\x94 2025"));
    struct ruleset *raw = load_doc_ok(doc, 0), *escaped = load_doc_ok(doc, JSON_ENSURE_ASCII);
    ck_assert_str_eq(ruleset_sha256(raw), ruleset_sha256(escaped));
    ck_assert_str_ne(ruleset_sha256(raw), ruleset_sha256(rs));
    ruleset_free(raw);
    ruleset_free(escaped);
    json_decref(rev);
    json_decref(doc);
    ruleset_free(rs);
}
END_TEST

/* Any change of content changes the hash: a title, a threshold, the version alone. */
START_TEST(hash_follows_content)
{
    struct ruleset *rs = load_shipped();
    const char *changes[][2] = {{"title", "\"another title\""}, {"deadline_hours", "23"}, {"version", "\"hocr-2099.1\""}};
    for (size_t i = 0; i < sizeof changes / sizeof *changes; i++) {
        json_t *doc = shipped_json();
        json_object_set_new(doc, changes[i][0], json_loads(changes[i][1], JSON_DECODE_ANY, NULL));
        struct ruleset *other = load_doc_ok(doc, 0);
        ck_assert_msg(strcmp(ruleset_sha256(other), ruleset_sha256(rs)) != 0, "changing %s kept the hash",
                      changes[i][0]);
        ruleset_free(other);
        json_decref(doc);
    }
    ruleset_free(rs);
}
END_TEST

/* A version known with another hash is refused, naming the version and both hashes; the same
 * content, another version, or nothing known is fine. */
START_TEST(known_version_needs_its_own_hash)
{
    struct ruleset *rs = load_shipped();
    json_t *doc = shipped_json();
    json_object_set_new(doc, "title", json_string("changed without a new version"));
    struct ruleset *changed = load_doc_ok(doc, 0);
    json_object_set_new(doc, "version", json_string("hocr-2099.1"));
    struct ruleset *renamed = load_doc_ok(doc, 0);
    json_decref(doc);
    char err[1024] = "";
    ck_assert_int_eq(rulesets_check(NULL, changed, err, sizeof err), 0);
    struct rulesets *k = rulesets_new();
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(rulesets_check(k, changed, err, sizeof err), 0);
    ck_assert_int_eq(rulesets_add(k, rs), 0);
    ck_assert_uint_eq(rulesets_count(k), 1);
    ck_assert_int_eq(rulesets_check(k, rs, err, sizeof err), 0);
    ck_assert_int_eq(rulesets_check(k, renamed, err, sizeof err), 0);
    ck_assert_int_eq(rulesets_check(k, changed, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, ruleset_version(rs)));
    ck_assert_ptr_nonnull(strstr(err, ruleset_sha256(rs)));
    ck_assert_ptr_nonnull(strstr(err, ruleset_sha256(changed)));
    ck_assert_int_eq(rulesets_add(k, renamed), 0);
    ck_assert_uint_eq(rulesets_count(k), 2);
    ck_assert_ptr_null(rulesets_free(k));
    ck_assert_ptr_null(rulesets_free(NULL));
    ruleset_free(renamed);
    ruleset_free(changed);
    ruleset_free(rs);
}
END_TEST

int main(void)
{
    set_paths();
    Suite *s = suite_create("ruleset");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, shipped_loads);
    tcase_add_test(tc, engine_rules_declared);
    tcase_add_test(tc, rule_ids_documented);
    tcase_add_test(tc, every_code_and_rule_resolves);
    tcase_add_test(tc, lexicon_md_keys_present);
    tcase_add_test(tc, classification_by_facts);
    tcase_add_test(tc, refuses_bad_json);
    tcase_add_test(tc, refuses_missing_version);
    tcase_add_test(tc, refuses_unknown_code_in_lexicon);
    tcase_add_test(tc, refuses_duplicate_code);
    tcase_add_test(tc, refuses_undeclared_rule_id);
    tcase_add_test(tc, refuses_missing_engine_rule);
    tcase_add_test(tc, refuses_unknown_field_and_bad_values);
    tcase_add_test(tc, screening_data);
    tcase_add_test(tc, authority_defaults);
    tcase_add_test(tc, role_rank_follows_tokens);
    tcase_add_test(tc, refuses_bad_authority);
    tcase_add_test(tc, hash_is_of_canonical_text);
    tcase_add_test(tc, hash_ignores_layout);
    tcase_add_test(tc, hash_follows_content);
    tcase_add_test(tc, known_version_needs_its_own_hash);
    suite_add_tcase(s, tc);
    return check_run(s);
}
