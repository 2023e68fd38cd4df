/* rules.c: rules engine (to be written). */
#include "rules.h"
