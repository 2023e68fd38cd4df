/* ruleset.c: rule set loader (to be written). */
#include "ruleset.h"
