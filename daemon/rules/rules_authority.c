/* rules_authority.c: the authority table applied: the direction of a reclassification and the
 * least role an action needs for an offence's group. */
#include "rules/rules_authority.h"

#include <string.h>

bool rules_authority_is_down(const struct ruleset *rs, const struct ruleset_offence *from,
                             const struct ruleset_offence *to)
{
    if (!from || !to)
        return true;
    if (to->rank_days < from->rank_days)
        return true;
    const struct ruleset_group *g = ruleset_group(rs, from->group);
    return g && g->reserved && strcmp(from->group, to->group) != 0;
}

const char *rules_authority_role(const struct ruleset *rs, enum ruleset_action act, const struct ruleset_offence *off)
{
    if ((unsigned)act >= RULESET_ACT_COUNT)
        return "fcr";
    const struct ruleset_group *g = off ? ruleset_group(rs, off->group) : NULL;
    if (g)
        return g->roles[act];
    /* Unknown: whoever the table trusts most with this action anywhere. */
    const char *most = NULL;
    for (size_t i = 0; i < ruleset_group_count(rs); i++) {
        const char *r = ruleset_group_at(rs, i)->roles[act];
        if (!most || ruleset_role_rank(r) > ruleset_role_rank(most))
            most = r;
    }
    return most ? most : "fcr";
}

bool rules_authority_allows(const char *role, const char *needed)
{
    int have = ruleset_role_rank(role), need = ruleset_role_rank(needed);
    return have >= 0 && need >= 0 && have >= need;
}
