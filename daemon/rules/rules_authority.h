/* rules_authority.h: the rule set's authority table applied to one action: which action a change of
 * offence is, and which least role it needs. Pure; every pointer returned is borrowed from the rule
 * set. */
#ifndef FCRD_RULES_AUTHORITY_H
#define FCRD_RULES_AUTHORITY_H

#include <stdbool.h>

#include "rules/ruleset.h"

/* rules_authority_is_down: whether moving a crime from `from` to `to` is a downgrade: `to` ranks
 * lower in the principal-crime table, or `from` is in a reserved group that `to` is not in. An
 * offence the rule set does not know (NULL) counts as a downgrade either way, so that nothing
 * unknown slips through as an upgrade. */
bool rules_authority_is_down(const struct ruleset *rs, const struct ruleset_offence *from,
                             const struct ruleset_offence *to);

/* rules_authority_role: the least role the table names for act on an offence; off NULL (the
 * offence is not known) gives the most demanding role any group names for act. */
const char *rules_authority_role(const struct ruleset *rs, enum ruleset_action act, const struct ruleset_offence *off);

/* rules_authority_allows: whether role ranks at least as high as needed (both as in
 * ruleset_role_rank); a role that ranks nowhere is allowed nothing. */
bool rules_authority_allows(const char *role, const char *needed);

#endif
