/* tokens.c: API tokens file (to be written). */
#include "tokens.h"
