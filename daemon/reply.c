/* reply.c: (to be written). */
#include <stdio.h>
