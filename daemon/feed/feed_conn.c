/* feed_conn.c: the table of a feed connection's allowed state transitions, and the one function
 * that moves a connection from one state to another. */
#include "feed/feed_conn.h"

#include "util/log.h"

static const char *const names[FEED_CONN_NSTATES] = {
    [FEED_CONN_HANDSHAKE] = "handshake", [FEED_CONN_READING] = "reading", [FEED_CONN_PAUSED] = "paused",
    [FEED_CONN_CLOSING] = "closing",     [FEED_CONN_CLOSED] = "closed",
};

/* allowed[from][to]. Why each one exists:
 *   handshake -> reading   the TLS handshake completed
 *   handshake -> closed    it failed, timed out, or the peer left first; or no complete line
 *                          came within [feed] first_line_timeout_s
 *   reading   -> paused    the in-flight or unsent-output limit was reached
 *   paused    -> reading   replies went out and made room again
 *   reading   -> closing   the peer finished sending
 *   paused    -> closing   the same, seen while paused: a TLS close_notify met on a write
 *   reading, paused, closing -> closed
 *                          a socket error, out of memory, fcrd shutting down, or (closing) the
 *                          last reply written; (reading) a peer refused as it is identified,
 *                          before any line is read: no [sources] entry names it, or its source
 *                          holds its limit of connections; no complete line in time
 * Nothing leaves closed: the connection only awaits the reaper. Nothing returns to handshake,
 * and a closing connection never reads again, so it is never paused: it frames what is
 * buffered as room allows (see feed.c). */
static const bool allowed[FEED_CONN_NSTATES][FEED_CONN_NSTATES] = {
    [FEED_CONN_HANDSHAKE] = {[FEED_CONN_READING] = true, [FEED_CONN_CLOSED] = true},
    [FEED_CONN_READING] = {[FEED_CONN_PAUSED] = true, [FEED_CONN_CLOSING] = true, [FEED_CONN_CLOSED] = true},
    [FEED_CONN_PAUSED] = {[FEED_CONN_READING] = true, [FEED_CONN_CLOSING] = true, [FEED_CONN_CLOSED] = true},
    [FEED_CONN_CLOSING] = {[FEED_CONN_CLOSED] = true},
    [FEED_CONN_CLOSED] = {0},
};

static bool valid(enum feed_conn_state s)
{
    return (int)s >= 0 && (int)s < FEED_CONN_NSTATES;
}

const char *feed_conn_state_name(enum feed_conn_state s)
{
    return valid(s) ? names[s] : "?";
}

bool feed_conn_state_allowed(enum feed_conn_state from, enum feed_conn_state to)
{
    return valid(from) && valid(to) && allowed[from][to];
}

int feed_conn_set_state(enum feed_conn_state *state, enum feed_conn_state to, unsigned long id)
{
    if (!feed_conn_state_allowed(*state, to)) {
        /* A bug in feed.c, not something a peer can cause: say so loudly, and keep the state the
         * connection's resources actually reflect. */
        log_error("feed: connection %lu: refused state change %s -> %s", id, feed_conn_state_name(*state),
                  feed_conn_state_name(to));
        return -1;
    }
    *state = to;
    return 0;
}
