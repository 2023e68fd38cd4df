/* ruleset.h: a versioned recording rule set (offence table, conduct lexicon, exceptions,
 * indicators, flags, deadlines) loaded from JSON. Immutable once loaded; a reload swaps it. */
#ifndef FCRD_RULESET_H
#define FCRD_RULESET_H

#include <stddef.h>

struct ruleset;

/* ruleset_load: parse -> validate (every code referenced exists, every lexicon key maps, every
 * rule id is known) -> build. Returns 0 and *out, or -1 with a message in err naming what is wrong. */
int ruleset_load(const char *path, struct ruleset **out, char *err, size_t errlen);

/* ruleset_free: NULL-safe; returns NULL. */
struct ruleset *ruleset_free(struct ruleset *rs);

/* ruleset_version: e.g. "hocr-2025.1"; borrowed. */
const char *ruleset_version(const struct ruleset *rs);

#endif
