/* config_keys.h: the key table's index of a key by its "section.key" name, for the tests that
 * compare or render single keys. */
#ifndef FCRD_TEST_CONFIG_KEYS_H
#define FCRD_TEST_CONFIG_KEYS_H

#include <check.h>
#include <string.h>

#include "service/config.h"

static inline size_t key_index(const char *want)
{
    for (size_t i = 0; i < config_keys_count(); i++) {
        const char *name;
        config_key_render(NULL, i, &name, NULL, NULL, 0);
        if (strcmp(name, want) == 0)
            return i;
    }
    ck_abort_msg("no key %s", want);
    return 0;
}

#endif
