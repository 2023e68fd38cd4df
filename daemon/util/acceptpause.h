/* acceptpause.h: a listener that fails to accept (out of file descriptors: EMFILE, ENFILE, or
 * out of memory) stops accepting for a moment instead of being woken again at once. */
#ifndef FCRD_ACCEPTPAUSE_H
#define FCRD_ACCEPTPAUSE_H

#include <event2/listener.h>

struct acceptpause;

/* Told of every pause (err: the accept's errno), e.g. to count it. */
typedef void (*acceptpause_fn)(void *arg, int err);

/* acceptpause_new: watches lev (borrowed; free this first): on an accept error the listener is
 * disabled for pause_ms, then enabled again; a line is logged at most once a second, naming
 * `name` (copied). fn may be NULL. Returns NULL when out of memory (lev is then left as it was). */
struct acceptpause *acceptpause_new(struct evconnlistener *lev, const char *name, int pause_ms, acceptpause_fn fn,
                                    void *arg);
/* acceptpause_free: NULL-safe; the listener keeps its state (enabled or not). */
struct acceptpause *acceptpause_free(struct acceptpause *p);

/* acceptpause_count: how many pauses there have been. */
unsigned long acceptpause_count(const struct acceptpause *p);

#endif
