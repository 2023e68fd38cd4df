/* feed_event.c: parses one feed line and validates it, field by field, against feed contract v1. */
#include "feed/feed_event.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/errbuf.h"
#include "util/timefmt.h"
#include "util/utf8.h"
#include "util/jsonparse.h"
#include "util/jsonwrite.h"

#define EV_PATH_LEN 256
/* The most fields any object of the contract has (the event itself). */
#define EV_MAX_FIELDS 24
/* Unknown keys are echoed in warnings; a hostile line could carry thousands of them or one
 * of 60 KB, so both the number of such warnings and the length of a key shown are bounded. */
#define EV_KEY_SHOWN 128

/* Largest integer a JSON number can carry exactly in every common implementation (2^53). */
#define EV_MAX_SEQ ((json_int_t)9007199254740992LL)

enum ev_kind {
    EV_ID,        /* non-empty string without control characters; max = character limit (0: none) */
    EV_TEXT,      /* any string up to max_string bytes, may be empty */
    EV_NARRATIVE, /* any string up to max_narrative bytes */
    EV_ENUM,      /* string from vocab */
    EV_TIME,      /* RFC 3339 time with offset */
    EV_INT,       /* JSON integer in [min, max] */
    EV_BOOL,      /* true or false */
    EV_TRISTATE,  /* true, false or null (null kept: it means "not yet asked") */
    EV_CUSTOM,    /* checked by the field's own function */
};

enum ev_need { EV_OPTIONAL, EV_REQUIRED, EV_REQUIRED_OPENED, EV_REQUIRED_CLOSED };

struct ev_ctx;

struct ev_field {
    const char *name;
    enum ev_kind kind;
    enum ev_need need;
    json_int_t min, max;
    const char *const *vocab;
    int (*check)(struct ev_ctx *c, json_t *v, const char *path);
};

/* Validation state of one line; lives on feed_event_parse's stack. */
struct ev_ctx {
    const struct feed_event_limits *lim;
    struct feed_event_error *err;
    json_t *warnings;
    size_t unknown_seen;
    size_t unknown_bytes; /* names and compact values of the unknown fields so far */
    enum feed_event_type type;
    json_int_t seq;
    int64_t at_ms;
};

static const char *const ev_types[] = {"incident.opened", "incident.updated", "incident.closed", NULL};
static const char *const ev_channels[] = {"emergency_call", "non_emergency_call", "online", "front_counter",
                                          "officer", "agency_referral", NULL};
static const char *const ev_categories[] = {"crime", "asb", "public_safety", "transport", NULL};
static const char *const ev_closing_categories[] = {"crime", "crime_related", "asb", "public_safety",
                                                    "transport", NULL};
static const char *const ev_closing_reasons[] = {"victim_not_traced", "victim_does_not_confirm",
                                                 "evidence_against", "other_force", "schools_protocol",
                                                 "no_offence_disclosed", NULL};
static const char *const ev_roles[] = {"victim", "suspect", "witness", "caller", "third_party",
                                       "professional", "parent", "officer", NULL};
static const char *const ev_person_kinds[] = {"person", "organisation", NULL};
static const char *const ev_sexes[] = {"female", "male", NULL};
static const char *const ev_wishes[] = {"supports", "declines_police_action", NULL};
static const char *const ev_relationship_kinds[] = {"partner", "ex_partner", "family", "carer",
                                                    "acquaintance", "stranger", "colleague", NULL};
static const char *const ev_force_areas[] = {"own", "other", "abroad", NULL};
static const char *const ev_premises[] = {"dwelling", "dwelling_outbuilding", "business", "school",
                                          "public_place", "vehicle", "online", NULL};
static const char *const ev_relations[] = {"same_report", "related", NULL};

/* ---- errors and warnings ---- */


static void ev_copy_cut(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = utf8_cut(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void feed_event_error_set(struct feed_event_error *err, const char *code, const char *field, const char *fmt, ...)
{
    err->code = code;
    ev_copy_cut(err->field, sizeof err->field, field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    errbuf_vset(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

void feed_event_error_clear(struct feed_event_error *err)
{
    if (!err)
        return;
    free(err->event_id);
    free(err->incident_id);
    memset(err, 0, sizeof *err);
}

static int ev_fail(struct ev_ctx *c, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records a bad_field error; the message gets the path in front so that it names the field
 * even when shown without the structured `field`. Always returns -1. */
static int ev_fail(struct ev_ctx *c, const char *path, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    errbuf_vset(what, sizeof what, fmt, ap);
    va_end(ap);
    feed_event_error_set(c->err, "bad_field", path, "%s %s", path, what);
    return -1;
}

static void ev_warn(struct ev_ctx *c, const char *code, const char *field, const char *message)
{
    json_t *w = json_pack("{s:s, s:s, s:s}", "code", code, "message", message, "field", field);
    if (w)
        json_array_append_new(c->warnings, w);
}

/* ---- string checks ---- */

/* Control characters (only reachable through \u escapes, raw ones are bad JSON) have no
 * business in identifiers, which end up in logs, URLs and crime references. */
static bool ev_has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            return true;
    return false;
}

static int ev_check_id(struct ev_ctx *c, json_t *v, const char *path, json_int_t max_chars)
{
    if (!json_is_string(v))
        return ev_fail(c, path, "must be a string");
    const char *s = json_string_value(v);
    size_t bytes = json_string_length(v);
    if (bytes == 0)
        return ev_fail(c, path, "must not be empty");
    if (max_chars > 0 && utf8_chars(s) > (size_t)max_chars)
        return ev_fail(c, path, "must be at most %lld characters long", (long long)max_chars);
    if (bytes > c->lim->max_string)
        return ev_fail(c, path, "is longer than the limit of %zu bytes", c->lim->max_string);
    if (ev_has_control(s))
        return ev_fail(c, path, "must not contain control characters");
    return 0;
}

static int ev_check_enum(struct ev_ctx *c, json_t *v, const char *path, const char *const *vocab)
{
    if (json_is_string(v)) {
        for (const char *const *w = vocab; *w; w++)
            if (strcmp(*w, json_string_value(v)) == 0)
                return 0;
    }
    char list[300] = "";
    size_t used = 0;
    for (const char *const *w = vocab; *w && used < sizeof list; w++) {
        int n = snprintf(list + used, sizeof list - used, "%s%s", w == vocab ? "" : ", ", *w);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return ev_fail(c, path, "must be one of: %s", list);
}

/* ---- field tables ---- */

static int ev_check_v(struct ev_ctx *c, json_t *v, const char *path)
{
    if (!json_is_integer(v))
        return ev_fail(c, path, "must be the integer 1");
    if (json_integer_value(v) != 1) {
        feed_event_error_set(c->err, "unsupported_version", path,
                        "v %lld is not supported: this is feed contract version 1",
                        (long long)json_integer_value(v));
        return -1;
    }
    return 0;
}

static int ev_check_type(struct ev_ctx *c, json_t *v, const char *path)
{
    if (ev_check_enum(c, v, path, ev_types) < 0)
        return -1;
    const char *s = json_string_value(v);
    c->type = strcmp(s, "incident.opened") == 0   ? FEED_EVENT_OPENED
              : strcmp(s, "incident.updated") == 0 ? FEED_EVENT_UPDATED
                                                   : FEED_EVENT_CLOSED;
    return 0;
}

static int ev_check_seq(struct ev_ctx *c, json_t *v, const char *path)
{
    if (!json_is_integer(v))
        return ev_fail(c, path, "must be an integer");
    json_int_t n = json_integer_value(v);
    if (n < 1 || n > EV_MAX_SEQ)
        return ev_fail(c, path, "must be between 1 and 9007199254740992");
    c->seq = n;
    return 0;
}

static int ev_check_at(struct ev_ctx *c, json_t *v, const char *path)
{
    if (!json_is_string(v) || !timefmt_parse(json_string_value(v), &c->at_ms))
        return ev_fail(c, path, "must be an RFC 3339 time with an offset, e.g. 2026-03-10T02:15:00Z");
    return 0;
}

static int ev_check_object(struct ev_ctx *c, json_t *obj, const char *path, const struct ev_field *fields,
                           size_t n_fields);

/* Appends s to the field path in dst (cap bytes, at used), cut short like snprintf would. A path
 * is built for every field checked, present or not, so this stays clear of printf's cost.
 * Returns the new length. */
static size_t ev_path_add(char *dst, size_t cap, size_t at, const char *s)
{
    while (*s && at + 1 < cap)
        dst[at++] = *s++;
    dst[at] = '\0';
    return at;
}

/* An array of at most max items, each handed to item(). */
static int ev_check_array(struct ev_ctx *c, json_t *v, const char *path, size_t max,
                          int (*item)(struct ev_ctx *c, json_t *v, const char *path))
{
    if (!json_is_array(v))
        return ev_fail(c, path, "must be an array");
    if (json_array_size(v) > max)
        return ev_fail(c, path, "has more than %zu entries", max);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        char p[EV_PATH_LEN], num[24];
        size_t k = sizeof num;
        num[--k] = '\0';
        num[--k] = ']';
        size_t n = i;
        do {
            num[--k] = (char)('0' + n % 10);
            n /= 10;
        } while (n);
        num[--k] = '[';
        ev_path_add(p, sizeof p, ev_path_add(p, sizeof p, 0, path), num + k);
        if (item(c, e, p) < 0)
            return -1;
    }
    return 0;
}

static int ev_check_token_item(struct ev_ctx *c, json_t *v, const char *path)
{
    return ev_check_id(c, v, path, 0);
}

static int ev_check_person_ref_item(struct ev_ctx *c, json_t *v, const char *path)
{
    return ev_check_id(c, v, path, 64);
}

static int ev_check_qualifiers(struct ev_ctx *c, json_t *v, const char *path)
{
    return ev_check_array(c, v, path, c->lim->max_array, ev_check_token_item);
}

static int ev_check_suspects(struct ev_ctx *c, json_t *v, const char *path)
{
    return ev_check_array(c, v, path, c->lim->max_array, ev_check_person_ref_item);
}

static const struct ev_field ev_relationship_fields[] = {
    {"to", EV_ID, EV_REQUIRED, 0, 64, NULL, NULL},
    {"kind", EV_ENUM, EV_REQUIRED, 0, 0, ev_relationship_kinds, NULL},
};

static int ev_check_relationship(struct ev_ctx *c, json_t *v, const char *path)
{
    return ev_check_object(c, v, path, ev_relationship_fields,
                           sizeof ev_relationship_fields / sizeof ev_relationship_fields[0]);
}

static int ev_check_relationships(struct ev_ctx *c, json_t *v, const char *path)
{
    return ev_check_array(c, v, path, c->lim->max_array, ev_check_relationship);
}

static const struct ev_field ev_person_fields[] = {
    {"id", EV_ID, EV_REQUIRED, 0, 64, NULL, NULL},
    {"role", EV_ENUM, EV_REQUIRED, 0, 0, ev_roles, NULL},
    {"kind", EV_ENUM, EV_OPTIONAL, 0, 0, ev_person_kinds, NULL},
    {"name", EV_TEXT, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"sex", EV_ENUM, EV_OPTIONAL, 0, 0, ev_sexes, NULL},
    {"age", EV_INT, EV_OPTIONAL, 0, 130, NULL, NULL},
    {"employer", EV_TEXT, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"vulnerable", EV_BOOL, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"confirms", EV_TRISTATE, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"traceable", EV_BOOL, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"wishes", EV_ENUM, EV_OPTIONAL, 0, 0, ev_wishes, NULL},
    {"ref", EV_TEXT, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"relationships", EV_CUSTOM, EV_OPTIONAL, 0, 0, NULL, ev_check_relationships},
};

static const struct ev_field ev_location_fields[] = {
    {"force_area", EV_ENUM, EV_REQUIRED, 0, 0, ev_force_areas, NULL},
    {"other_force", EV_TEXT, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"premises", EV_ENUM, EV_OPTIONAL, 0, 0, ev_premises, NULL},
};

static int ev_check_location(struct ev_ctx *c, json_t *v, const char *path)
{
    return ev_check_object(c, v, path, ev_location_fields,
                           sizeof ev_location_fields / sizeof ev_location_fields[0]);
}

/* The value of the property damaged or taken, in pounds: a number (pence allowed), never negative;
 * capped far above any real figure so that it stays an exact, comparable amount. */
static int ev_check_value_gbp(struct ev_ctx *c, json_t *v, const char *path)
{
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return ev_fail(c, path, "must be a number of pounds");
    if (json_number_value(v) < 0 || json_number_value(v) > 1e12)
        return ev_fail(c, path, "must be between 0 and 1000000000000 pounds");
    return 0;
}

static const struct ev_field ev_allegation_fields[] = {
    {"id", EV_ID, EV_REQUIRED, 0, 64, NULL, NULL},
    {"victim", EV_ID, EV_OPTIONAL, 0, 64, NULL, NULL},
    {"suspects", EV_CUSTOM, EV_OPTIONAL, 0, 0, NULL, ev_check_suspects},
    {"offence", EV_ID, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"conduct", EV_ID, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"occurred_at", EV_TIME, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"occasions", EV_INT, EV_OPTIONAL, 1, 10000, NULL, NULL},
    {"in_course_of", EV_ID, EV_OPTIONAL, 0, 64, NULL, NULL},
    {"location", EV_CUSTOM, EV_OPTIONAL, 0, 0, NULL, ev_check_location},
    {"points_proved", EV_BOOL, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"evidence_against", EV_BOOL, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"police_action_requested", EV_BOOL, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"withdrawn", EV_BOOL, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"retracted", EV_BOOL, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"note", EV_TEXT, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"value_gbp", EV_CUSTOM, EV_OPTIONAL, 0, 0, NULL, ev_check_value_gbp},
};

/* Entries of persons / allegations are keyed by id within the incident; two entries with one id
 * in the same event would make "the entry replaces its predecessor" ambiguous. */
static int ev_check_unique_ids(struct ev_ctx *c, json_t *arr, const char *path)
{
    size_t n = json_array_size(arr);
    for (size_t i = 1; i < n; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(arr, i), "id"));
        for (size_t j = 0; j < i; j++) {
            if (strcmp(id, json_string_value(json_object_get(json_array_get(arr, j), "id"))) == 0) {
                char p[EV_PATH_LEN];
                snprintf(p, sizeof p, "%s[%zu].id", path, i);
                return ev_fail(c, p, "repeats the id of %s[%zu] in the same event", path, j);
            }
        }
    }
    return 0;
}

static int ev_check_person(struct ev_ctx *c, json_t *v, const char *path)
{
    return ev_check_object(c, v, path, ev_person_fields, sizeof ev_person_fields / sizeof ev_person_fields[0]);
}

static int ev_check_persons(struct ev_ctx *c, json_t *v, const char *path)
{
    if (ev_check_array(c, v, path, c->lim->max_persons, ev_check_person) < 0)
        return -1;
    return ev_check_unique_ids(c, v, path);
}

static int ev_check_allegation(struct ev_ctx *c, json_t *v, const char *path)
{
    if (ev_check_object(c, v, path, ev_allegation_fields,
                        sizeof ev_allegation_fields / sizeof ev_allegation_fields[0]) < 0)
        return -1;
    char p[EV_PATH_LEN];
    if (!json_object_get(v, "offence") && !json_object_get(v, "conduct")) {
        snprintf(p, sizeof p, "%s.offence", path);
        return ev_fail(c, p, "is required (give an offence code, a conduct key, or both)");
    }
    json_t *ico = json_object_get(v, "in_course_of");
    if (ico && strcmp(json_string_value(ico), json_string_value(json_object_get(v, "id"))) == 0) {
        snprintf(p, sizeof p, "%s.in_course_of", path);
        return ev_fail(c, p, "must name another allegation, not this one");
    }
    return 0;
}

static int ev_check_allegations(struct ev_ctx *c, json_t *v, const char *path)
{
    if (ev_check_array(c, v, path, c->lim->max_allegations, ev_check_allegation) < 0)
        return -1;
    return ev_check_unique_ids(c, v, path);
}

static const struct ev_field ev_link_fields[] = {
    {"incident_id", EV_ID, EV_REQUIRED, 0, 64, NULL, NULL},
    {"relation", EV_ENUM, EV_REQUIRED, 0, 0, ev_relations, NULL},
};

static int ev_check_link(struct ev_ctx *c, json_t *v, const char *path)
{
    return ev_check_object(c, v, path, ev_link_fields, sizeof ev_link_fields / sizeof ev_link_fields[0]);
}

static int ev_check_links(struct ev_ctx *c, json_t *v, const char *path)
{
    return ev_check_array(c, v, path, c->lim->max_array, ev_check_link);
}

/* Identity fields come first so that an error further on can still echo them. */
static const struct ev_field ev_event_fields[] = {
    {"v", EV_CUSTOM, EV_REQUIRED, 0, 0, NULL, ev_check_v},
    {"event_id", EV_ID, EV_REQUIRED, 0, 128, NULL, NULL},
    {"incident_id", EV_ID, EV_REQUIRED, 0, 64, NULL, NULL},
    {"type", EV_CUSTOM, EV_REQUIRED, 0, 0, NULL, ev_check_type},
    {"seq", EV_CUSTOM, EV_REQUIRED, 0, 0, NULL, ev_check_seq},
    {"at", EV_CUSTOM, EV_REQUIRED, 0, 0, NULL, ev_check_at},
    {"force", EV_TEXT, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"handler", EV_TEXT, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"channel", EV_ENUM, EV_OPTIONAL, 0, 0, ev_channels, NULL},
    {"category", EV_ENUM, EV_REQUIRED_OPENED, 0, 0, ev_categories, NULL},
    {"opening_code", EV_TEXT, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"qualifiers", EV_CUSTOM, EV_OPTIONAL, 0, 0, NULL, ev_check_qualifiers},
    {"narrative", EV_NARRATIVE, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"reported_by", EV_ID, EV_OPTIONAL, 0, 64, NULL, NULL},
    {"persons", EV_CUSTOM, EV_OPTIONAL, 0, 0, NULL, ev_check_persons},
    {"allegations", EV_CUSTOM, EV_OPTIONAL, 0, 0, NULL, ev_check_allegations},
    {"links", EV_CUSTOM, EV_OPTIONAL, 0, 0, NULL, ev_check_links},
    {"closing_category", EV_ENUM, EV_REQUIRED_CLOSED, 0, 0, ev_closing_categories, NULL},
    {"closing_code", EV_TEXT, EV_OPTIONAL, 0, 0, NULL, NULL},
    {"closing_reason", EV_ENUM, EV_OPTIONAL, 0, 0, ev_closing_reasons, NULL},
};

#define EV_FITS(table) _Static_assert(sizeof table / sizeof table[0] <= EV_MAX_FIELDS, #table " has too many fields")
EV_FITS(ev_event_fields);
EV_FITS(ev_person_fields);
EV_FITS(ev_allegation_fields);
EV_FITS(ev_location_fields);
EV_FITS(ev_relationship_fields);
EV_FITS(ev_link_fields);

/* ---- the generic object walk ---- */

static int ev_check_value(struct ev_ctx *c, const struct ev_field *f, json_t *v, const char *path)
{
    switch (f->kind) {
    case EV_ID:
        return ev_check_id(c, v, path, f->max);
    case EV_TEXT:
        if (!json_is_string(v))
            return ev_fail(c, path, "must be a string");
        if (json_string_length(v) > c->lim->max_string)
            return ev_fail(c, path, "is longer than the limit of %zu bytes", c->lim->max_string);
        return 0;
    case EV_NARRATIVE:
        if (!json_is_string(v))
            return ev_fail(c, path, "must be a string");
        if (json_string_length(v) > c->lim->max_narrative)
            return ev_fail(c, path, "is longer than the limit of %zu bytes", c->lim->max_narrative);
        return 0;
    case EV_ENUM:
        return ev_check_enum(c, v, path, f->vocab);
    case EV_TIME:
        if (!json_is_string(v) || !timefmt_parse(json_string_value(v), &(int64_t){0}))
            return ev_fail(c, path, "must be an RFC 3339 time with an offset, e.g. 2026-03-10T02:15:00Z");
        return 0;
    case EV_INT:
        if (!json_is_integer(v))
            return ev_fail(c, path, "must be an integer");
        if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            return ev_fail(c, path, "must be between %lld and %lld", (long long)f->min, (long long)f->max);
        return 0;
    case EV_BOOL:
        if (!json_is_boolean(v))
            return ev_fail(c, path, "must be true or false");
        return 0;
    case EV_TRISTATE:
        if (!json_is_boolean(v) && !json_is_null(v))
            return ev_fail(c, path, "must be true, false or null");
        return 0;
    case EV_CUSTOM:
        return f->check(c, v, path);
    }
    return ev_fail(c, path, "has no known type"); /* unreachable: every kind is handled above */
}

static bool ev_needed(const struct ev_ctx *c, enum ev_need need)
{
    return need == EV_REQUIRED || (need == EV_REQUIRED_OPENED && c->type == FEED_EVENT_OPENED) ||
           (need == EV_REQUIRED_CLOSED && c->type == FEED_EVENT_CLOSED);
}

/* The field of the table that `key` names, or n_fields. (Keys hold no NUL: the parser refuses
 * \u0000.) */
static size_t ev_field_index(const struct ev_field *fields, size_t n_fields, const char *key)
{
    for (size_t i = 0; i < n_fields; i++)
        if (fields[i].name[0] == key[0] && strcmp(fields[i].name, key) == 0)
            return i;
    return n_fields;
}

/* Unknown fields are reported, not rejected: a newer sender may add fields before fcrd knows
 * them, and a report must never be lost for that. The field stays in the stored document, so
 * their total size is bounded: the field that takes it over max_unknown_bytes is bad_field. */
static int ev_report_unknown(struct ev_ctx *c, json_t *obj, const char *path, const struct ev_field *fields,
                             size_t n_fields)
{
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        const char *key = json_object_iter_key(it);
        if (ev_field_index(fields, n_fields, key) < n_fields)
            continue;
        c->unknown_seen++;
        size_t klen = strlen(key);
        /* json_dumpb with no buffer only measures: nothing of the value is copied */
        c->unknown_bytes += klen + json_dumpb(json_object_iter_value(it), NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
        bool over = c->unknown_bytes > c->lim->max_unknown_bytes;
        if (c->unknown_seen > FEED_EVENT_MAX_UNKNOWN_WARNINGS && !over)
            continue;
        bool cut = klen > EV_KEY_SHOWN;
        if (cut)
            klen = utf8_cut(key, EV_KEY_SHOWN);
        char field[EV_PATH_LEN + EV_KEY_SHOWN + 8], msg[EV_PATH_LEN + EV_KEY_SHOWN + 96];
        snprintf(field, sizeof field, "%s%s%.*s%s", path, *path ? "." : "", (int)klen, key, cut ? "..." : "");
        if (over)
            return ev_fail(c, field,
                           "%s is not a field of feed contract v1, and the event's unknown fields take more than "
                           "%zu bytes with it ([feed] max_unknown_bytes)",
                           field, c->lim->max_unknown_bytes);
        snprintf(msg, sizeof msg, "%s is not a field of feed contract v1; kept but ignored", field);
        ev_warn(c, "unknown_field", field, msg);
    }
    return 0;
}

/* The object's keys are read once and matched against the table; the fields are then checked in
 * the table's order, so that the first error reported does not depend on the sender's key order.
 * A path is built only for a field that is there or is missing when required. */
static int ev_check_object(struct ev_ctx *c, json_t *obj, const char *path, const struct ev_field *fields,
                           size_t n_fields)
{
    if (!json_is_object(obj))
        return ev_fail(c, *path ? path : "event", "must be an object");
    json_t *vals[EV_MAX_FIELDS] = {NULL};
    bool unknown = false;
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        size_t i = ev_field_index(fields, n_fields, json_object_iter_key(it));
        if (i < n_fields)
            vals[i] = json_object_iter_value(it);
        else
            unknown = true;
    }
    for (size_t i = 0; i < n_fields; i++) {
        const struct ev_field *f = &fields[i];
        json_t *v = vals[i];
        /* An optional field sent as null means the same as leaving it out; dropping it here
         * spares every reader of the document a second way of saying "absent". */
        if (v && json_is_null(v) && f->kind != EV_TRISTATE) {
            json_object_del(obj, f->name);
            v = NULL;
        }
        if (!v && !ev_needed(c, f->need))
            continue;
        char p[EV_PATH_LEN];
        ev_path_add(p, sizeof p, ev_path_add(p, sizeof p, ev_path_add(p, sizeof p, 0, path), *path ? "." : ""),
                    f->name);
        if (!v)
            return ev_fail(c, p, "is required%s",
                           f->need == EV_REQUIRED_OPENED   ? " when type is incident.opened"
                           : f->need == EV_REQUIRED_CLOSED ? " when type is incident.closed"
                                                           : "");
        if (ev_check_value(c, f, v, p) < 0)
            return -1;
    }
    if (unknown)
        return ev_report_unknown(c, obj, path, fields, n_fields);
    return 0;
}

/* ---- parsing ---- */

/* Bounds nesting before jansson's recursive descent sees the line: the contract needs five
 * levels, and a deep unknown field would otherwise cost stack in the parser and the encoder. */
static bool ev_too_deep(const char *line, size_t len)
{
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char ch = line[i];
        if (in_string) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_string = false;
        } else if (ch == '"') {
            in_string = true;
        } else if (ch == '{' || ch == '[') {
            if (++depth > FEED_EVENT_MAX_DEPTH)
                return true;
        } else if ((ch == '}' || ch == ']') && depth > 0) {
            depth--;
        }
    }
    return false;
}

size_t feed_event_tokens(const char *line, size_t len)
{
    size_t tokens = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char ch = line[i];
        if (in_string) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_string = false;
        } else if (ch == '"') {
            in_string = true;
            tokens++;
        } else if (ch == '{' || ch == '[' || ch == ',') {
            tokens++;
        }
    }
    return tokens;
}

/* Bytes per token charged: jansson's largest measured cost, an empty object (a hashtable each),
 * is near 120 bytes with glibc's allocator; strings and numbers cost 20 to 45. */
#define EV_TOKEN_COST 128
/* Charged once per event: the item, the event's ids, its warnings and its reply. */
#define EV_EVENT_COST 4096

size_t feed_event_cost(size_t len, size_t tokens)
{
    /* the document's text (in its strings), its canonical form, and the copy the batch keeps */
    return EV_EVENT_COST + 3 * len + EV_TOKEN_COST * tokens;
}

/* jansson's error text may quote the offending input; keep only printable ASCII of it so the
 * message is always a valid, harmless JSON string. */
static void ev_json_error(struct feed_event_error *err, const json_error_t *je)
{
    char text[JSON_ERROR_TEXT_LENGTH];
    size_t i;
    for (i = 0; i + 1 < sizeof text && je->text[i]; i++) {
        unsigned char ch = (unsigned char)je->text[i];
        text[i] = ch >= 0x20 && ch < 0x7F ? (char)ch : '?';
    }
    text[i] = '\0';
    const char *what;
    switch (json_error_code(je)) {
    case json_error_invalid_utf8:
        what = "the line is not valid UTF-8";
        break;
    case json_error_duplicate_key:
        what = "an object has the same key twice";
        break;
    case json_error_numeric_overflow:
        what = "a number is too large";
        break;
    case json_error_stack_overflow:
        what = "the line is nested too deeply";
        break;
    case json_error_null_character:
    case json_error_null_byte_in_key:
        what = "a string holds a NUL character";
        break;
    default:
        what = "the line is not valid JSON";
        break;
    }
    feed_event_error_set(err, "bad_json", "", "%s (%s, at byte %d)", what, text, je->position);
}

void feed_event_limits_default(struct feed_event_limits *lim)
{
    lim->max_narrative = 16384;
    lim->max_persons = 200;
    lim->max_allegations = 200;
    lim->max_array = 100;
    lim->max_string = 1024;
    lim->max_tokens = 16384;
    lim->max_unknown_bytes = 32768;
}

/* A copy of obj[key] when it is a well-formed identifier, for echoing in a rejection. */
static char *ev_echo_id(json_t *obj, const char *key, size_t max_chars, size_t max_bytes)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t bytes = json_string_length(v);
    if (bytes == 0 || bytes > max_bytes || utf8_chars(s) > max_chars || ev_has_control(s))
        return NULL;
    return strdup(s);
}

int feed_event_parse(const char *line, size_t len, const struct feed_event_limits *lim, struct feed_event *out,
                struct feed_event_error *err)
{
    struct feed_event_limits dflt;
    if (!lim) {
        feed_event_limits_default(&dflt);
        lim = &dflt;
    }
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);

    /* jansson would report a raw NUL as a syntax error somewhere; say what it is. */
    const char *nul = memchr(line, '\0', len);
    if (nul) {
        feed_event_error_set(err, "bad_json", "", "the line holds a NUL byte (at byte %zu)", (size_t)(nul - line));
        return -1;
    }
    if (ev_too_deep(line, len)) {
        feed_event_error_set(err, "bad_json", "", "the line is nested more than %d levels deep", FEED_EVENT_MAX_DEPTH);
        return -1;
    }
    /* Parsing costs up to some 120 bytes per token: a line dense with tiny values would cost
     * megabytes before it could be looked at. Counted first, parsed only within the bound. */
    size_t tokens = feed_event_tokens(line, len);
    if (tokens > lim->max_tokens) {
        feed_event_error_set(err, "too_many_tokens", "",
                             "the line holds %zu JSON tokens (objects, arrays, strings, commas), more than the limit "
                             "of %zu ([feed] max_tokens)",
                             tokens, lim->max_tokens);
        return -1;
    }
    json_error_t je;
    json_t *doc = jsonparse_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        if (json_error_code(&je) == json_error_out_of_memory) {
            feed_event_error_set(err, "overloaded", "", "out of memory while parsing the line");
            return -1;
        }
        ev_json_error(err, &je);
        return -1;
    }
    if (!json_is_object(doc)) {
        feed_event_error_set(err, "bad_json", "", "the line must be a JSON object, not %s",
                        json_is_array(doc) ? "an array" : "a bare value");
        json_decref(doc);
        return -1;
    }
    err->event_id = ev_echo_id(doc, "event_id", 128, lim->max_string);
    err->incident_id = ev_echo_id(doc, "incident_id", 64, lim->max_string);

    struct ev_ctx c = {.lim = lim, .err = err, .warnings = json_array()};
    if (!c.warnings) {
        json_decref(doc);
        feed_event_error_set(err, "overloaded", "", "out of memory while validating the line");
        return -1;
    }
    if (ev_check_object(&c, doc, "", ev_event_fields, sizeof ev_event_fields / sizeof ev_event_fields[0]) < 0) {
        json_decref(c.warnings);
        json_decref(doc);
        return -1;
    }
    if (c.unknown_seen > FEED_EVENT_MAX_UNKNOWN_WARNINGS) {
        char msg[128];
        snprintf(msg, sizeof msg, "%zu more unknown fields were kept but not listed",
                 c.unknown_seen - FEED_EVENT_MAX_UNKNOWN_WARNINGS);
        json_t *w = json_pack("{s:s, s:s}", "code", "unknown_field", "message", msg);
        if (w)
            json_array_append_new(c.warnings, w);
    }

    out->event_id = strdup(json_string_value(json_object_get(doc, "event_id")));
    out->incident_id = strdup(json_string_value(json_object_get(doc, "incident_id")));
    out->type = c.type;
    out->seq = (int64_t)c.seq;
    out->at_ms = c.at_ms;
    out->doc = doc;
    out->canon = jsonwrite_dumps(doc, JSONWRITE_SORT);
    out->warnings = c.warnings;
    out->bytes = feed_event_cost(len, tokens);
    if (!out->event_id || !out->incident_id || !out->canon) {
        feed_event_clear(out);
        feed_event_error_set(err, "overloaded", "", "out of memory while storing the event");
        return -1;
    }
    /* Success: nothing to echo in an error. */
    free(err->event_id);
    free(err->incident_id);
    err->event_id = err->incident_id = NULL;
    return 0;
}

void feed_event_clear(struct feed_event *ev)
{
    if (!ev)
        return;
    free(ev->event_id);
    free(ev->incident_id);
    json_decref(ev->doc);
    free(ev->canon);
    json_decref(ev->warnings);
    free(ev->source);
    memset(ev, 0, sizeof *ev);
}

const char *feed_event_type_name(enum feed_event_type t)
{
    switch (t) {
    case FEED_EVENT_OPENED:
        return "incident.opened";
    case FEED_EVENT_UPDATED:
        return "incident.updated";
    case FEED_EVENT_CLOSED:
        return "incident.closed";
    }
    return "unknown";
}
