/* event.c: event parsing and validation (to be written). */
#include "event.h"
