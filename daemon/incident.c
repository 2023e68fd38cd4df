/* incident.c: incident state views (to be written). */
#include "incident.h"
