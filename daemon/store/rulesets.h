/* rulesets.h: the rule sets stored in PostgreSQL (sql/0010_rulesets.sql), as fcrd knows them. A
 * version names one content: a rule set whose version is stored (or known) with another hash is
 * refused. fcrd reads the stored versions once, at start-up, in a blocking step before the event
 * loop runs (rulesets_sync), and keeps them with every rule set it has loaded since, so that a
 * reload is checked against them (rulesets_check) without a round trip. A rule set loaded by a
 * reload is stored by the store, in the transaction of the first batch it decides (store_lane.c). */
#ifndef FCRD_RULESETS_H
#define FCRD_RULESETS_H

#include <stddef.h>

struct ruleset;

/* The known map: version -> sha256. */
struct rulesets;

/* rulesets_new: an empty map; NULL when out of memory. */
struct rulesets *rulesets_new(void);
/* rulesets_free: NULL-safe; returns NULL. */
struct rulesets *rulesets_free(struct rulesets *k);

/* rulesets_check: 0 when rs may be loaded: its version is unknown, or known with its own hash. -1
 * with a message naming the version and both hashes when the version is known with another hash.
 * k NULL: nothing is known, 0. */
int rulesets_check(const struct rulesets *k, const struct ruleset *rs, char *err, size_t errlen);

/* rulesets_add: rs's version and hash become known. 0, or -1 when out of memory. */
int rulesets_add(struct rulesets *k, const struct ruleset *rs);

/* rulesets_count: how many versions are known. */
size_t rulesets_count(const struct rulesets *k);

/* rulesets_sync: BLOCKING, for start-up only. Connects with conninfo (the serving role), reads
 * every stored version into k, refuses rs when its version is stored with another hash, and
 * stores rs when it is not stored (with this host's name). Returns 1 when rs was stored now, 0
 * when it was stored already, 2 with a message when the schema has no rulesets table (older than
 * this build: nothing could be recorded there), -1 with a message (the conflict, or the
 * database's reason). */
int rulesets_sync(struct rulesets *k, const char *conninfo, const struct ruleset *rs, char *err, size_t errlen);

/* rulesets_host: this host's name, as a stored rule set's loaded_by ("" when unknown). */
void rulesets_host(char *buf, size_t len);

#endif
