/* fuzz_event.c: libFuzzer target for one feed line: parsing and validation (feed_event_parse) and the
 * reply built from its outcome. No I/O.
 *
 * Besides "no crash, no sanitizer report", it checks what the feed relies on:
 *   - a rejection carries a code, and its reply serialises to one line of valid JSON with an
 *     error object (messages and paths quote the input, so they must stay valid UTF-8);
 *   - an accepted line has ids, a seq in range and a canonical text; parsing that canonical text
 *     again is accepted and gives the same canonical text (the store compares canon to tell a
 *     resend from an event_id conflict, so it must be a fixed point). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed/feed_event.h"
#include "feed/feed_reply.h"

#define FUZZ_NAME "fuzz_event"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reply line must be JSON, one line, holding `status` and (for errors) `error.code`. */
static void fuzz_event_check_reply(const json_t *reply, const char *want_status)
{
    size_t len = 0;
    char *line = feed_reply_line(reply, &len);
    FUZZ_CHECK(line != NULL, "feed_reply_line failed");
    FUZZ_CHECK(len > 1 && line[len - 1] == '\n' && memchr(line, '\n', len - 1) == NULL, "not one line");
    json_error_t je;
    json_t *back = json_loadb(line, len - 1, JSON_REJECT_DUPLICATES, &je);
    FUZZ_CHECK(back != NULL, "reply is not JSON: %s", je.text);
    const char *status = json_string_value(json_object_get(back, "status"));
    FUZZ_CHECK(status && strcmp(status, want_status) == 0, "status %s, want %s", status ? status : "(none)",
               want_status);
    if (strcmp(want_status, "rejected") == 0 || strcmp(want_status, "retry") == 0) {
        json_t *e = json_object_get(back, "error");
        FUZZ_CHECK(json_is_string(json_object_get(e, "code")), "error without a code");
        FUZZ_CHECK(json_is_string(json_object_get(e, "message")), "error without a message");
    }
    json_decref(back);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The feed hands over a line without its newline, NUL-terminated (feed.c copies it). */
    char *line = malloc(size + 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';

    struct feed_event ev;
    struct feed_event_error err;
    if (feed_event_parse(line, size, NULL, &ev, &err) != 0) {
        FUZZ_CHECK(err.code != NULL, "rejection without a code");
        json_t *r = feed_reply_from_error(&err);
        FUZZ_CHECK(r != NULL, "no reply for %s", err.code);
        fuzz_event_check_reply(r, strcmp(err.code, "overloaded") == 0 ? "retry" : "rejected");
        json_decref(r);
        feed_event_error_clear(&err);
        free(line);
        return 0;
    }
    FUZZ_CHECK(ev.event_id && *ev.event_id && ev.incident_id && *ev.incident_id, "accepted without ids");
    FUZZ_CHECK(ev.seq >= 1 && ev.seq <= 9007199254740992LL, "seq %lld out of range", (long long)ev.seq);
    FUZZ_CHECK(ev.type >= FEED_EVENT_OPENED && ev.type <= FEED_EVENT_CLOSED, "type %d", (int)ev.type);
    FUZZ_CHECK(ev.canon != NULL && json_is_object(ev.doc) && json_is_array(ev.warnings), "incomplete event");

    struct feed_event again;
    struct feed_event_error err2;
    int rc = feed_event_parse(ev.canon, strlen(ev.canon), NULL, &again, &err2);
    FUZZ_CHECK(rc == 0, "the canonical text is rejected: %s %s %s", err2.code, err2.field, err2.message);
    FUZZ_CHECK(strcmp(again.canon, ev.canon) == 0, "canonical text is not a fixed point:\n%s\n%s", ev.canon,
               again.canon);
    FUZZ_CHECK(strcmp(again.event_id, ev.event_id) == 0 && again.seq == ev.seq && again.at_ms == ev.at_ms,
               "the canonical text means something else");
    feed_event_clear(&again);

    json_t *body = json_pack("{s:[], s:[], s:[], s:O, s:s}", "crimes", "decisions", "pending", "warnings",
                             ev.warnings, "rules", "fuzz");
    json_t *r = feed_reply_outcome("accepted", ev.event_id, ev.incident_id, body);
    fuzz_event_check_reply(r, "accepted");
    json_decref(r);
    json_decref(body);
    feed_event_clear(&ev);
    free(line);
    return 0;
}
