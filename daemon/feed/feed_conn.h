/* feed_conn.h: the states of a feed connection and the transitions allowed between them. Pure:
 * no sockets, so that the table can be tested on its own; feed.c acts on each change. */
#ifndef FCRD_FEED_CONN_H
#define FCRD_FEED_CONN_H

#include <stdbool.h>

/* Where a connection is in its life. Each state says what the connection does with its input:
 *
 *   HANDSHAKE -> READING <-> PAUSED
 *       |           |          |
 *       |           v          v
 *       |        CLOSING <-----'
 *       |           |
 *       '---------> CLOSED <- (READING and PAUSED too: an error, or fcrd shutting down)
 *
 * Two facts about a connection are deliberately not states, because they hold in several
 * states at once and would otherwise double them:
 *   - being inside an over-long line (its bytes dropped up to the newline, then one too_long
 *     reply): such a line spans reads, so it can straddle a pause and the peer's EOF;
 *   - fcrd draining for shutdown: the whole feed answers each new line "retry", on every
 *     connection alike, which goes on reading, pausing and closing as before. */
enum feed_conn_state {
    FEED_CONN_HANDSHAKE = 0, /* TLS: the handshake is under way; no line can arrive yet */
    FEED_CONN_READING,       /* reading input and framing lines */
    FEED_CONN_PAUSED,        /* reading stopped: too many lines await a reply, or too many reply bytes
                                await the peer; resumed as replies go out */
    FEED_CONN_CLOSING,       /* the peer finished sending (EOF): the lines still buffered are framed
                                as room allows, and the connection closes once every reply is out */
    FEED_CONN_CLOSED,        /* closed: no more input or output; freed by the feed's reaper */
};

#define FEED_CONN_NSTATES ((int)FEED_CONN_CLOSED + 1)

/* feed_conn_state_name: "handshake", "reading", ...; "?" for a value outside the enum. The
 * string is static. */
const char *feed_conn_state_name(enum feed_conn_state s);

/* feed_conn_state_allowed: whether a connection may go from one state to the other. Staying in
 * the same state is not a transition and is refused, as is anything involving a value outside
 * the enum. */
bool feed_conn_state_allowed(enum feed_conn_state from, enum feed_conn_state to);

/* feed_conn_set_state: the one way a connection's state changes. Moves *state to `to` and
 * returns 0, or, for a transition the table does not allow, logs it (naming connection id)
 * and returns -1 with *state unchanged. */
int feed_conn_set_state(enum feed_conn_state *state, enum feed_conn_state to, unsigned long id);

#endif
