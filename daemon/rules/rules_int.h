/* rules_int.h: the engine's working data, shared by rules.c (merge, outcome), rules_assess.c
 * (one allegation through the decision flow), rules_count.c (counting units) and
 * rules_record.c (crimes, decisions and pending items reconciled with the state).
 * Nothing here is part of the interface: others use rules.h. */
#ifndef FCRD_RULES_INT_H
#define FCRD_RULES_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "rules/rules.h"
#include "rules/ruleset.h"
#include "util/timefmt.h"

/* What the decision flow made of one allegation on its own. */
enum rules_verdict {
    RULES_RECORDABLE = 0, /* a crime, subject to counting */
    RULES_OUTCOME,        /* a decision other than a crime: outcome/reason/code below */
    RULES_SETTLED,        /* decided by a person; the engine keeps that decision */
};

struct rules_alleg {
    size_t idx;          /* position in the state's allegations */
    const char *id;
    json_t *doc;         /* borrowed from the new state */
    long ev_index;       /* position in the event's allegations, -1 if not mentioned */
    const char *victim_id;
    json_t *victim;      /* the victim's person entry, borrowed; NULL if none */
    int ico;             /* in_course_of: index of that allegation, -1 */
    bool has_when;
    int64_t when_ms;
    int occasions;
    json_t *suspects;    /* array of person ids, borrowed; NULL if none */
    const char *premises;
    const struct ruleset_offence *off;
    const char *code;    /* the code classified, or as given when unknown (for pending items) */
    const char *class_rule;
    bool state_based;

    enum rules_verdict verdict;
    const char *outcome; /* RULES_OUTCOME: "pending", "not_recorded", "held", "referred", "transfer" */
    const char *reason;
    const char *hold_code;      /* decision `code`: N100/x or action_fraud */
    const char *pending_reason; /* an allegation-level pending item to keep open, or NULL */
    const char *review_reason;  /* if a crime already stands on this allegation: why to review it */
    json_t *rules;              /* rule ids behind the verdict, owned */

    /* counting */
    int parent;         /* union-find */
    int absorbed_by;    /* another victim's allegation whose crime counts this one, -1 */
    const char *absorb_rule;
    int unit;           /* -1 when in no unit */
    int frozen_crime;   /* index of a crime this allegation stays in unchanged, -1 */
    bool kept;          /* decided under another rule set and unchanged by the event: its decision,
                         * crime and pending items stay as they are (rules_touch.c) */

    json_t *decision;   /* the new decision, owned */
};

struct rules_unit {
    int principal;            /* allegation index */
    int *members;             /* allegation indexes, principal included */
    size_t n, cap;
    bool course;              /* a course-of-conduct crime */
    bool dead;                /* merged into another unit */
    int crime;                /* index in the state's crimes, -1 */
    const char *linked_crn;   /* counted in a linked incident's crime */
    bool across;              /* linked_crn is a course of conduct's crime in another incident */
    json_t *incidents;        /* other incidents whose occasions the course counted, owned; NULL */
    const char *review_code;  /* the lower offence the feed's facts point to: the crime keeps its
                               * code and a reclassification review is opened (NULL: none) */
    json_t *rules;            /* owned */
    json_t *flags;            /* owned */
};

struct rules_ctx {
    const struct rules_env *env;
    const struct ruleset *rs;
    const struct feed_event *ev;
    const json_t *linked;
    const json_t *persons;  /* other incidents' occasions by person ref (rules_update_persons), or NULL */
    const json_t *base;     /* the state as given (NULL for a new incident), read only by the
                             * reference checks, before anything changes */
    json_t *state;          /* the state being updated: owned only when new_incident */
    json_t *persons_by_id;  /* id -> person entry (references) */
    json_t *mentioned_persons; /* ids of persons in the event */
    json_t *reporter;       /* borrowed, may be NULL */
    char at[TIMEFMT_LEN];   /* the event's `at`, normalised */
    int64_t at_ms;
    int64_t opened_ms;
    bool new_incident;

    struct rules_alleg *al;
    size_t nal;
    struct rules_unit *units;
    size_t nunits, capunits;

    json_t *warnings;  /* outcome warnings, owned */
    json_t *audit;     /* outcome audit, owned */
    json_t *crime_actions; /* crn -> action for the reply, owned */
    json_t *orphans;       /* indexes of live crimes no derived crime claims any more, owned */
    bool touch_all;        /* the event changes something every allegation depends on */
    json_t *touched;       /* ids of allegations the event changes, owned */
    json_t *touched_persons; /* ids of persons the event adds or changes, owned */
    /* linked incident id -> a changed copy of its state (a same_report link reclassified its crime
     * up or settled its pending items), owned; the outcome hands them on as `linked_states` */
    json_t *linked_out;
    struct feed_event_error *err;
};

/* A pending item of a same_report-linked incident, closed because this report recorded the crime
 * it waited for. */
#define RULE_SAME_REPORT_SETTLED "HOCR-GR.same_report_settled"

/* rules.c helpers used by the others */
void rules_warn(struct rules_ctx *c, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void rules_audit(struct rules_ctx *c, const char *action, const char *crn, const char *pending_id,
                 const char *allegation, json_t *before, json_t *after, json_t *rules);
void rules_add_rule(json_t *rules, const char *id);
const char *rules_str(const json_t *obj, const char *key);
int rules_person_age(const json_t *person);
bool rules_in_list(const char *const *list, const char *s);
json_t *rules_person(const struct rules_ctx *c, const char *id);

/* rules_assess.c */
void rules_assess(struct rules_ctx *c, struct rules_alleg *a);
void rules_assess_narrative(struct rules_ctx *c, const char *narrative);
json_t *rules_assess_flags(const struct rules_ctx *c, const json_t *victim, const struct rules_alleg *const *als,
                           size_t n, const struct ruleset_offence *off, json_t *rules);
int64_t rules_assess_rank(const struct rules_alleg *a);
/* rules_assess_screen: the offences the narrative's indicators point to that rank above every
 * allegation keyed for a victim (the rule set's `candidates`): a new array of
 * {victim, offence, indicators: [phrases], rules: [ids]}, one per victim and offence; the caller
 * owns it. */
json_t *rules_assess_screen(const struct rules_ctx *c);

/* rules_count.c */
int rules_count(struct rules_ctx *c);
/* rules_count_across: adds to a course unit the occasions of other incidents (env->persons) of the
 * same offence against the same victim ref by the same suspect refs within the window: returns
 * their occasions, sets u->incidents, and u->linked_crn / u->across when one of them is already in
 * a live crime. Returns 0 when the unit cannot be matched by ref. */
int rules_count_across(struct rules_ctx *c, struct rules_unit *u);
bool rules_count_beats(const struct rules_ctx *c, const struct rules_alleg *x, const struct rules_alleg *y);
void rules_count_free(struct rules_ctx *c);

/* rules_touch.c */
int rules_touch_scan(struct rules_ctx *c);
void rules_touch_mark(struct rules_ctx *c);

/* rules_record.c */
int rules_record(struct rules_ctx *c);

#endif
