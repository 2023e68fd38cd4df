/* feed_event.h: one feed event line, parsed and validated against feed contract v1 (proto/). */
#ifndef FCRD_FEED_EVENT_H
#define FCRD_FEED_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum feed_event_type { FEED_EVENT_OPENED = 1, FEED_EVENT_UPDATED, FEED_EVENT_CLOSED };

/* A reason a line (or an event) was not accepted.
 * code: one of the contract's error codes ("bad_json", "bad_field", "unsupported_version",
 * "unknown_person", "too_long", "seq_conflict", "event_id_conflict", "db_unavailable", ...),
 * a static string. field: JSON path such as "allegations[1].victim" ("" when none).
 * event_id / incident_id: echoed in the reply when they could be read (owned, may be NULL). */
struct feed_event_error {
    const char *code;
    char field[256];
    char message[512];
    char *event_id;
    char *incident_id;
};

/* Nesting deeper than this is bad_json before the JSON parser runs: the contract itself needs
 * five levels (event > persons > person > relationships > relationship). */
#define FEED_EVENT_MAX_DEPTH 32

/* At most this many unknown_field warnings are listed per event; one more warning counts the rest. */
#define FEED_EVENT_MAX_UNKNOWN_WARNINGS 16

/* Limits the validator enforces; feed_event_limits_default() gives the contract's defaults. */
struct feed_event_limits {
    size_t max_narrative;   /* bytes, default 16384 */
    size_t max_persons;     /* default 200 */
    size_t max_allegations; /* default 200 */
    size_t max_array;       /* any other array (qualifiers, suspects, links, relationships), default 100 */
    size_t max_string;      /* any other free string, default 1024 bytes */
    size_t max_tokens;      /* JSON tokens a line may hold before it is parsed ([feed] max_tokens), default 16384 */
    size_t max_unknown_bytes; /* unknown fields' total size ([feed] max_unknown_bytes), default 32768 */
};

struct feed_event {
    char *event_id;    /* owned */
    char *incident_id; /* owned */
    enum feed_event_type type;
    int64_t seq;
    int64_t at_ms;     /* `at`, ms since the epoch, UTC */
    json_t *doc;       /* the whole validated event object, one reference owned */
    char *canon;       /* canonical serialisation: sorted keys, compact; owned. Equal content <=> equal canon */
    json_t *warnings;  /* non-fatal findings of validation, array of {code, message, field}; owned, never NULL */
    size_t bytes;      /* what the parsed event holds in memory, estimated (feed_event_cost): charged to the
                          memory bound while it waits for the database */
    char *source;      /* the [sources] name of the connection it came by (service/sources.h), set by the
                          feed after parsing; owned; NULL stands for "default" */
};

void feed_event_limits_default(struct feed_event_limits *lim);

/* feed_event_tokens: the JSON tokens of a line as [feed] max_tokens counts them: objects, arrays,
 * strings (keys included) and the commas between values, found by one scan that parses nothing.
 * Every value but the first follows a comma or opens an object or array, or is a key's value, so
 * a line's values are at most twice this: what parsing will build is bounded by it. */
size_t feed_event_tokens(const char *line, size_t len);

/* feed_event_cost: the memory a parsed event of a line of len bytes holding `tokens` tokens is
 * charged: the document's values (jansson spends 20 to 120 bytes per token, empty objects the
 * most: measured), its canonical text and the copies the reply and the batch make, as a bound
 * rather than a guess, so that what is charged is never less than what is held. */
size_t feed_event_cost(size_t len, size_t tokens);

/* feed_event_parse: parse one line (without its newline; may hold a trailing '\r' already stripped)
 * and validate every field's type and limits, without looking at any incident state.
 * lim may be NULL (the defaults apply).
 *
 * Returns 0 and fills *out (caller clears it with feed_event_clear), or -1 and fills *err
 * (caller clears it with feed_event_error_clear). Both are overwritten on entry, so a reused one must
 * have been cleared first. The first problem found wins; err->code is then
 *   "bad_json"            not JSON, not an object, duplicate keys, invalid UTF-8, a NUL byte,
 *                         a number jansson cannot hold, nesting deeper than FEED_EVENT_MAX_DEPTH;
 *   "unsupported_version" v is an integer other than 1;
 *   "bad_field"           a field missing, of the wrong type, outside its limits or vocabulary,
 *                         or a time that does not parse; err->field is its JSON path;
 *   "too_many_tokens"     the line holds more than lim->max_tokens tokens (feed_event_tokens);
 *                         it is not parsed;
 *   "overloaded"          out of memory (not the sender's fault: worth a retry).
 * err->event_id / err->incident_id are filled whenever the line has them as well-formed ids.
 *
 * On success out->doc is the event as sent, except that optional fields sent as null are
 * removed (null means absent), persons[].confirms excepted: there null is kept and means
 * "not yet asked". Unknown fields stay in doc and each gets an "unknown_field" warning, as long as
 * together they take no more than lim->max_unknown_bytes (each one's name plus its compact JSON):
 * the one that goes over is "bad_field", named in err->field. out->bytes is feed_event_cost's.
 * Person and allegation ids are not resolved here (they may name entries of earlier events). */
int feed_event_parse(const char *line, size_t len, const struct feed_event_limits *lim, struct feed_event *out,
                struct feed_event_error *err);

void feed_event_clear(struct feed_event *ev);
void feed_event_error_clear(struct feed_event_error *err);

/* feed_event_error_set: fill err (code static, field and printf-style message copied). */
void feed_event_error_set(struct feed_event_error *err, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

const char *feed_event_type_name(enum feed_event_type t);

#endif
