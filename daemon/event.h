/* event.h: one feed event line, parsed and validated against feed contract v1 (proto/). */
#ifndef FCRD_EVENT_H
#define FCRD_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum event_type { EVENT_OPENED = 1, EVENT_UPDATED, EVENT_CLOSED };

/* A reason a line (or an event) was not accepted.
 * code: one of the contract's error codes ("bad_json", "bad_field", "unsupported_version",
 * "unknown_person", "too_long", "seq_conflict", "event_id_conflict", "db_unavailable", ...),
 * a static string. field: JSON path such as "allegations[1].victim" ("" when none).
 * event_id / incident_id: echoed in the reply when they could be read (owned, may be NULL). */
struct event_error {
    const char *code;
    char field[256];
    char message[512];
    char *event_id;
    char *incident_id;
};

/* Limits the validator enforces; event_limits_default() gives the contract's defaults. */
struct event_limits {
    size_t max_narrative;   /* bytes, default 16384 */
    size_t max_persons;     /* default 200 */
    size_t max_allegations; /* default 200 */
    size_t max_array;       /* any other array (qualifiers, suspects, links, relationships), default 100 */
    size_t max_string;      /* any other free string, default 1024 bytes */
};

struct event {
    char *event_id;    /* owned */
    char *incident_id; /* owned */
    enum event_type type;
    int64_t seq;
    int64_t at_ms;     /* `at`, ms since the epoch, UTC */
    json_t *doc;       /* the whole validated event object, one reference owned */
    char *canon;       /* canonical serialisation: sorted keys, compact; owned. Equal content <=> equal canon */
};

void event_limits_default(struct event_limits *lim);

/* event_parse: parse one line (without its newline; may hold a trailing '\r' already stripped)
 * and validate every field's type and limits, without looking at any incident state.
 * Returns 0 and fills *out (caller clears it with event_clear), or -1 and fills *err
 * (caller clears it with event_error_clear). Duplicate keys, invalid UTF-8 and NUL bytes are bad_json. */
int event_parse(const char *line, size_t len, const struct event_limits *lim, struct event *out,
                struct event_error *err);

void event_clear(struct event *ev);
void event_error_clear(struct event_error *err);

/* event_error_set: fill err (code static, field and printf-style message copied). */
void event_error_set(struct event_error *err, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

const char *event_type_name(enum event_type t);

#endif
