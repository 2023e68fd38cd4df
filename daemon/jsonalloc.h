/* jsonalloc.h: jansson's allocator, with free lists by block size (see jsonalloc.c). */
#ifndef FCRD_JSONALLOC_H
#define FCRD_JSONALLOC_H

#include <stddef.h>

/* Most bytes of free blocks the lists keep; a block freed beyond it goes back to malloc. */
#define JSONALLOC_CACHE_BYTES (8u << 20)

/* jsonalloc_install: make the lists jansson's allocator. Call first thing in main, before any
 * JSON value exists (a value made before would later be freed as one of the lists' blocks). Does
 * nothing in a build with AddressSanitizer. */
void jsonalloc_install(void);

/* jsonalloc_release: give every cached free block back to malloc (at exit). */
void jsonalloc_release(void);

/* The allocator itself, for its tests. jsonalloc_free(NULL) does nothing. */
void *jsonalloc_malloc(size_t n);
void jsonalloc_free(void *p);
size_t jsonalloc_cached_bytes(void);

#endif
