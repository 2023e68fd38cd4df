/* ruleset.h: a versioned recording rule set (offence table, conduct lexicon, exceptions,
 * indicators, flags, deadlines) loaded from JSON. Immutable once loaded; a reload swaps it.
 *
 * The format is described in docs/rules.md. Everything the engine (rules.c) reads from the rule
 * set is reachable through the functions below; every pointer they return is borrowed from the
 * rule set and lives exactly as long as it. */
#ifndef FCRD_RULESET_H
#define FCRD_RULESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ruleset;

/* ruleset_load: parse -> validate (every code referenced exists, every lexicon key maps, every
 * rule id is known) -> build. Returns 0 and *out, or -1 with a message in err naming what is wrong. */
int ruleset_load(const char *path, struct ruleset **out, char *err, size_t errlen);

/* ruleset_load_text: as ruleset_load, from a JSON text already in memory (len bytes);
 * `origin` names it in messages (a path, or "<text>"). */
int ruleset_load_text(const char *text, size_t len, const char *origin, struct ruleset **out, char *err,
                      size_t errlen);

/* ruleset_free: NULL-safe; returns NULL. */
struct ruleset *ruleset_free(struct ruleset *rs);

/* ruleset_version: e.g. "hocr-2025.1"; borrowed. */
const char *ruleset_version(const struct ruleset *rs);

/* The canonical text of a rule set is the parsed file dumped compact with its keys sorted
 * (jsonwrite_dumps with JSONWRITE_SORT): the same for any layout, key order or escaping of one
 * content (docs/rules.md). */
#define RULESET_SHA256_SIZE 65 /* 64 lowercase hex digits and a NUL */

/* ruleset_sha256: the SHA-256 of the canonical text, 64 lowercase hex digits; borrowed. */
const char *ruleset_sha256(const struct ruleset *rs);

/* ruleset_canonical: the canonical text (NUL-terminated; its length in *len when len is not
 * NULL); borrowed. */
const char *ruleset_canonical(const struct ruleset *rs, size_t *len);

/* ---- the offence table ---- */

/* Whether an offence needs an identified victim (victim-based), points to prove (state-based),
 * or is state-based only when no victim is named (e.g. public order). */
enum ruleset_basis { RULESET_BASIS_VICTIM = 0, RULESET_BASIS_STATE, RULESET_BASIS_EITHER };

/* Unit of count: one crime per victim per occasion (the general rule), one per victim for the
 * whole course of conduct, or one per offender or group acting together (state-based). */
enum ruleset_count { RULESET_COUNT_OCCASION = 0, RULESET_COUNT_COURSE, RULESET_COUNT_OFFENDER };

struct ruleset_offence {
    const char *code;     /* Home Office classification, e.g. "8N" */
    const char *name;
    const char *category; /* stratum: violence, sexual, rape, robbery, burglary, theft, damage, ... */
    int64_t max_days;     /* maximum sentence in days (life = 36525) */
    int64_t rank_days;    /* the figure the principal-crime rule ranks by (defaults to max_days) */
    int64_t high_value_from;      /* > 0: a value of at least this many pounds in a note ranks... */
    int64_t high_value_rank_days; /* ...at this figure instead of rank_days */
    int order;                    /* position in the table: earlier wins a tie */
    enum ruleset_basis basis;
    enum ruleset_count count;
    int min_occasions;    /* course of conduct: occasions needed (>= 2) */
    bool serious_sexual;
    const char *group;    /* authority group (see below); "default" when the table names none */
    bool n100;            /* a rape code: when it cannot be recorded it is held as N100 */
    bool action_fraud;    /* within Action Fraud's remit: referred, never force-recorded */
    bool schools_minor;   /* minor enough for the Schools Protocol */
    bool police_only;     /* not recorded when everyone affected is a police officer */
    const char *rule;     /* rule id applied when the handler gives this code directly */
    const char *tag;      /* "V", "K" or "I": how sure the source is */
};

/* ruleset_offence: the table entry for a code, or NULL when the table does not know it. */
const struct ruleset_offence *ruleset_offence(const struct ruleset *rs, const char *code);
size_t ruleset_offence_count(const struct ruleset *rs);
const struct ruleset_offence *ruleset_offence_at(const struct ruleset *rs, size_t i);

/* ---- who may do what: the authority table ---- */

/* The actions people take on a pending decision or a crime, each needing a least role per
 * offence group. */
enum ruleset_action {
    RULESET_ACT_RECORD = 0,      /* close a pending decision as `record` */
    RULESET_ACT_NO_CRIME,        /* ...as `no_crime` */
    RULESET_ACT_TRANSFER,        /* ...as `transfer` */
    RULESET_ACT_RECLASSIFY_UP,   /* a crime to an offence ranked as high or higher */
    RULESET_ACT_RECLASSIFY_DOWN, /* to a lower-ranked offence, or out of a reserved group */
    RULESET_ACT_CANCEL_C1,
    RULESET_ACT_CANCEL_C2,
    RULESET_ACT_CANCEL_C3,
    RULESET_ACT_CANCEL_C4,
    RULESET_ACT_N100_DISPOSE,    /* close a pending decision whose allegation is held as N100 without a crime */
    RULESET_ACT_COUNT
};

/* ruleset_action_name: the action's name in the rule set ("record", "cancel_C2"...); static. */
const char *ruleset_action_name(enum ruleset_action act);

/* An offence group of the authority table. */
struct ruleset_group {
    const char *name;
    const char *title;
    bool reserved;                          /* leaving the group is a downgrade, whatever the ranks */
    const char *roles[RULESET_ACT_COUNT];   /* the least role that may take each action */
    const char **victim_informed;           /* NULL-terminated cancellation codes ("C2") that need
                                               victim_informed_at; NULL when none */
};

/* ruleset_group: the group by name, or NULL. */
const struct ruleset_group *ruleset_group(const struct ruleset *rs, const char *name);
size_t ruleset_group_count(const struct ruleset *rs);
const struct ruleset_group *ruleset_group_at(const struct ruleset *rs, size_t i);

/* ruleset_role_rank: where a role stands among those that act on crimes (supervisor < ddm < fcr,
 * the order of api/tokens.h); -1 for any other role (ops, auditor, unknown), which may take no
 * action. The authority table names only roles ranked here. */
int ruleset_role_rank(const char *role);

/* ---- the conduct lexicon ---- */

/* The facts a lexicon entry may test. Unknown facts are NULL / -1: a condition on an unknown
 * fact does not hold, so a later, less specific entry can catch it. */
struct ruleset_facts {
    const char *victim_kind; /* "person" (default) or "organisation" */
    const char *victim_sex;  /* "female", "male" or NULL */
    int victim_age;          /* -1 unknown */
    const char *premises;    /* NULL unknown */
};

/* ruleset_lexicon_has: whether the lexicon knows the key. */
bool ruleset_lexicon_has(const struct ruleset *rs, const char *key);

/* ruleset_classify: map a conduct key to a code using the facts. Returns the offence and sets
 * *rule to the entry's rule id; NULL when the key is unknown or no entry fits the facts
 * (*rule is then NULL). */
const struct ruleset_offence *ruleset_classify(const struct ruleset *rs, const char *key,
                                               const struct ruleset_facts *facts, const char **rule);

/* ruleset_lexicon_codes: the distinct codes a key can produce, in entry order; returns how many
 * there are (at most max are written). */
size_t ruleset_lexicon_codes(const struct ruleset *rs, const char *key, const char **codes, size_t max);

/* ---- exceptions to the principal-crime ranking ---- */

struct ruleset_exception {
    const char *id;
    const char **winners; /* NULL-terminated codes */
    const char **losers;  /* NULL-terminated codes */
    bool same_victim;     /* false: also absorbs the loser against another victim */
    bool same_occasion;   /* false: applies across separate occasions in one incident */
    bool shared_suspect;  /* across victims: only when the two share a suspect */
};

/* ruleset_exception_for: the exception under which an offence coded `winner` absorbs one coded
 * `loser`, or NULL. */
const struct ruleset_exception *ruleset_exception_for(const struct ruleset *rs, const char *winner,
                                                      const char *loser);

/* ---- who must confirm ---- */

struct ruleset_confirmation {
    const char **lay_roles;    /* NULL-terminated: reporters whose account needs the victim's word */
    const char **acting_roles; /* NULL-terminated: professional reporters recorded at once */
    const char **parent_roles; /* NULL-terminated: act for a child victim */
    int child_under;           /* a victim younger than this is a child */
    bool child_without_confirmation;      /* a child victim is recorded without confirmation */
    bool vulnerable_without_confirmation; /* likewise a vulnerable victim */
    bool staff_confirm_for_organisation;  /* a reporter whose employer is the victim acts for it */
    bool denial_blocks_child;             /* confirms:false also stops a child's or vulnerable
                                             victim's crime reported by a professional */
    const char *rule_victim, *rule_third_party, *rule_not_traced, *rule_does_not_confirm,
        *rule_professional, *rule_parent, *rule_child_vulnerable, *rule_organisation;
};
const struct ruleset_confirmation *ruleset_confirmation(const struct ruleset *rs);

/* ---- single-purpose rules ---- */

/* A rule that is either on (with its id and some codes or words) or absent. */
struct ruleset_simple {
    const char *rule;      /* NULL: the rule set has no such rule */
    const char **items;    /* NULL-terminated list (premises, roles, phrases, categories...) */
    const char **items2;   /* a second list where the rule needs one (else NULL) */
    const char **items3;   /* a third (else NULL) */
};

/* schools: items = premises the Schools Protocol covers. */
const struct ruleset_simple *ruleset_schools(const struct ruleset *rs);
/* police_only: items = roles that count as police (e.g. "officer"). */
const struct ruleset_simple *ruleset_police_only(const struct ruleset *rs);
/* action_fraud: the referral rule id and the code put in the decision ("action_fraud"). */
const struct ruleset_simple *ruleset_action_fraud(const struct ruleset *rs);
/* indicators: items = lower-case phrases, items2 = incident categories that are not crime,
 * items3 = words that, earlier in the same clause, deny a phrase ("no injuries", "not assaulted"). */
const struct ruleset_simple *ruleset_indicators(const struct ruleset *rs);

/* Narrative screening (the `indicators` section's other keys): how free text is read and what a
 * phrase found in it points to. Every string is borrowed from the rule set. */
struct ruleset_candidate {
    const char **phrases;          /* any of them found points to the offence below */
    const char *offence;           /* a code of the offence table, or NULL when conduct is given */
    const char *conduct;           /* a lexicon key, classified with the victim's facts, or NULL */
    const char **keyed_offences;   /* only when a victim's keyed allegation has one of these codes... */
    const char **keyed_categories; /* ...or one of these offence categories (both NULL: any) */
    const char *rule;              /* the rule id it cites beside the indicators' rule */
};

struct ruleset_screening {
    const char **phrases;       /* every phrase matched: the indicators' phrases, then the
                                 * candidates' phrases not already among them */
    const char *clause_marks;   /* characters that end a clause, e.g. ".;:,!?" */
    const char **clause_words;  /* words (or word sequences) that start a new clause: "but", "then" */
    const char **misspelt;      /* whole words read as the corrected word of the same index */
    const char **corrected;
    uint64_t misspelt_filter[256]; /* by ruleset_misspelt_slot: bit n when a misspelt word of n
                                    * bytes (63: longer) has that slot */
    const struct ruleset_candidate *candidates;
    size_t ncandidates;
};

/* ruleset_misspelt_slot: the filter slot of a word of n >= 1 bytes (from its first two bytes). */
static inline unsigned ruleset_misspelt_slot(const char *w, size_t n)
{
    return ((unsigned)(unsigned char)w[0] * 7u + (n > 1 ? (unsigned char)w[1] : 0u)) & 255u;
}

/* ruleset_screening: the screening data; always non-NULL (lists may be empty, never NULL). */
const struct ruleset_screening *ruleset_screening(const struct ruleset *rs);

/* N100: the holding code for each reason a rape cannot be recorded. */
struct ruleset_n100 {
    const char *rule;
    const char *unconfirmed;      /* "N100/1": not confirmed or not traced */
    const char *evidence_against; /* "N100/2" */
    const char *elsewhere;        /* "N100/3": other force area or abroad */
};
const struct ruleset_n100 *ruleset_n100(const struct ruleset *rs);

/* A closing_reason of a crime-related closure, applied to allegations still open. */
struct ruleset_closing_reason {
    const char *name;    /* the feed's closing_reason */
    const char *outcome; /* "not_recorded" or "transfer" */
    const char *reason;  /* decision reason */
    const char *n100;    /* holding code for a rape, or NULL */
    const char *rule;
};
const struct ruleset_closing_reason *ruleset_closing_reason(const struct ruleset *rs, const char *name);

/* ---- qualifiers and flags ---- */

/* ruleset_qualifier_known: whether the NSIR qualifier is in the rule set's list. */
bool ruleset_qualifier_known(const struct ruleset *rs, const char *qualifier);

/* A flag rule: every condition present must hold (lists: any member). */
struct ruleset_flag_rule {
    const char *id;
    const char *flag;
    const char **qualifiers;    /* incident qualifiers, any */
    const char **premises;      /* allegation premises, any */
    const char **categories;    /* offence category, any */
    const char **offences;      /* offence code, any */
    const char **victim_roles;  /* role of the victim, any */
    const char **relationships; /* a relationship between victim and a suspect, any */
    int victim_age_max;         /* -1: no condition */
    int min_age_both;           /* -1: no condition; victim and that suspect both at least this */
    bool unknown_age_adult;     /* an age not given does not fail min_age_both */
};
size_t ruleset_flag_rule_count(const struct ruleset *rs);
const struct ruleset_flag_rule *ruleset_flag_rule_at(const struct ruleset *rs, size_t i);

/* ---- rule ids, deadlines, and fixed engine rules ---- */

/* ruleset_deadline_ms: how long after first contact a pending decision falls due (24 h). */
int64_t ruleset_deadline_ms(const struct ruleset *rs);
/* ruleset_occasion_window_ms: allegations of one victim whose times differ by no more than this
 * are one occasion (0: only equal times). */
int64_t ruleset_occasion_window_ms(const struct ruleset *rs);

/* The `persons` block: a person's command-and-control `ref` across incidents. A window of 0
 * means the rule set does not ask for it (no block, or no sub-block). Strings borrowed. */
struct ruleset_persons {
    const char *course_rule;     /* the rule id of a course counted across incidents */
    int64_t course_window_ms;    /* course-of-conduct occasions of other incidents count when
                                  * their times are at most this far from the allegation's */
    const char *repeat_rule;     /* repeat victim: its rule id, NULL when not asked */
    int repeat_incidents;        /* ... at least this many incidents of the victim's ref ... */
    int64_t repeat_window_ms;    /* ... first reported at most this long before the latest */
    const char *duplicate_rule;  /* possible duplicate: its rule id, NULL when not asked */
    int64_t duplicate_window_ms; /* ... occurred_at at most this far apart */
};
/* ruleset_persons: never NULL; borrowed from the rule set. */
const struct ruleset_persons *ruleset_persons(const struct ruleset *rs);

/* Every rule id the rule set declares (its `rules` list), with title and source. */
size_t ruleset_rule_count(const struct ruleset *rs);
const char *ruleset_rule_id(const struct ruleset *rs, size_t i);
bool ruleset_rule_known(const struct ruleset *rs, const char *id);

/* The rules the engine applies in code (the decision flow and the counting machinery); a rule
 * set must declare every one in its `rules` list, so each has a title and source. The rules
 * that are data (lexicon entries, exceptions, flags, reporter policy, N100, Schools Protocol,
 * Action Fraud, indicators, closing reasons) carry their ids in the rule set itself. */
#define RULE_BALANCE "NCRS.balance"
#define RULE_EVIDENCE_AGAINST "NCRS.evidence_against"
#define RULE_POINTS_TO_PROVE "NCRS.points_to_prove"
#define RULE_DEADLINE "NCRS.deadline_24h"
#define RULE_CLASSIFICATION "HOCR-B.classification"
#define RULE_RECLASSIFICATION "HOCR-B.reclassification"
#define RULE_FEED_NEVER_CANCELS "HOCR-C.feed_never_cancels"
#define RULE_ONE_PER_VICTIM "HOCR-D.one_per_victim"
#define RULE_PER_OFFENDER "HOCR-D.per_offender"
#define RULE_FINISHED_INCIDENT "HOCR-E.finished_incident"
#define RULE_SEPARATE_OCCASIONS "HOCR-E.separate_occasions"
#define RULE_COURSE_OF_CONDUCT "HOCR-E.course_of_conduct"
#define RULE_PRINCIPAL "HOCR-F.principal"
#define RULE_IN_COURSE_OF "HOCR-F.in_course_of"
#define RULE_OTHER_FORCE "HOCR-G.other_force"
#define RULE_ABROAD "HOCR-G.abroad"
#define RULE_SAME_REPORT "HOCR-GR.same_report"
#define RULE_RETRACTED "FEED.retracted"
#define RULE_WITHDRAWN "FEED.withdrawn"
#define RULE_UNKNOWN_CODE "FEED.unknown_code"
#define RULE_NO_VICTIM "FEED.no_victim"
#define RULE_NOT_OPENED "FEED.not_opened"
#define RULE_CRIME_WITHOUT_ALLEGATION "NSIR.crime_without_allegation"
#define RULE_CLOSED_CRIME_WITHOUT_CRIME "NSIR.closed_crime_without_crime"
#define RULE_CLOSED_CRI_WITHOUT_REASON "NSIR.closed_cri_without_reason"
/* Decisions taken by people through the API (rules_act.c). */
#define RULE_PERSON_DECISION "NCRS.person_decision"
#define RULE_CANCEL_AUTHORITY "HOCR-C.authority"
#define RULE_CANCEL_C1 "HOCR-C.C1"
#define RULE_CANCEL_C2 "HOCR-C.C2"
#define RULE_CANCEL_C3 "HOCR-C.C3"
#define RULE_CANCEL_C4 "HOCR-C.C4"
#define RULE_AUTHORITY "NCRS.authority"
#define RULE_DOWNGRADE_REVIEW "HOCR-B.downgrade_review"

/* ruleset_engine_rule_ids: the list above, NULL-terminated (for validation and tests). */
const char *const *ruleset_engine_rule_ids(void);

#endif
