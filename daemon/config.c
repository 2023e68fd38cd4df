/* config.c: INI configuration loader (to be written). */
#include "config.h"
