/* feed_reply.h: feed reply objects (feed contract v1 "Reply") and their wire form. */
#ifndef FCRD_FEED_REPLY_H
#define FCRD_FEED_REPLY_H

#include <jansson.h>

#include "feed/feed_event.h"

/* feed_reply_error: {v, event_id, status, error: {code, message, field?}, incident_id}; status is
 * "rejected" or "retry". event_id / incident_id may be NULL (JSON null). New reference. */
json_t *feed_reply_error(const char *status, const char *event_id, const char *incident_id, const char *code,
                    const char *message, const char *field);

/* feed_reply_from_error: feed_reply_error("rejected" or, for retry codes, "retry") from an event_error. */
json_t *feed_reply_from_error(const struct feed_event_error *err);

/* feed_reply_outcome: {v, event_id, status, incident_id, crimes, decisions, pending, warnings, rules}
 * from a stored or fresh outcome body. The arrays and rules are shared with `body` (referenced, not
 * copied): neither is changed once built. New reference. */
json_t *feed_reply_outcome(const char *status, const char *event_id, const char *incident_id, const json_t *body);

/* feed_reply_line: compact serialisation ended by '\n'; malloc'd, caller frees; *len set. */
char *feed_reply_line(const json_t *reply, size_t *len);

#endif
