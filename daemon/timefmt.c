/* timefmt.c: RFC 3339 times (to be written). */
#include "timefmt.h"
