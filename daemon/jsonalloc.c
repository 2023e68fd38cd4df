/* jsonalloc.c: jansson's memory, kept on free lists by size so that the many small blocks every
 * event's JSON trees take and give back (objects, their tables, keys, strings) are reused at once
 * instead of going through malloc and free each time. With glibc's default of seven cached blocks
 * per size, the allocator spent as many instructions on those blocks as fcrd spent on deciding.
 *
 * Ownership: jsonalloc_install() makes this file's lists jansson's allocator for the life of the
 * process (call it before the first JSON value is made; fcrd is single-threaded, so the lists
 * need no lock). The lists hold at most JSONALLOC_CACHE_BYTES of free blocks; beyond that a freed
 * block goes back to malloc. Built with AddressSanitizer, blocks go straight to malloc and free
 * so that a use after free is still caught. */
#include "jsonalloc.h"

#include <jansson.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define JSONALLOC_PASS_THROUGH 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JSONALLOC_PASS_THROUGH 1
#endif
#endif

#define CLASS_BYTES 16 /* block sizes are multiples of this */
#define CLASSES 32     /* blocks up to 512 bytes are kept; larger ones go to malloc every time */

/* In front of every block: its size class (0: a large block, malloc'd alone). */
union header {
    size_t cls;
    max_align_t align;
};

/* A free block's first bytes point to the next free block of its class. */
struct free_block {
    struct free_block *next;
};

static struct {
    struct free_block *free[CLASSES + 1];
    size_t cached_bytes;
} lists;

void *jsonalloc_malloc(size_t n)
{
    size_t cls = n == 0 ? 1 : (n + CLASS_BYTES - 1) / CLASS_BYTES;
    if (cls > CLASSES)
        cls = 0;
    struct free_block *f = cls ? lists.free[cls] : NULL;
    union header *h;
    if (f) {
        lists.free[cls] = f->next;
        lists.cached_bytes -= cls * CLASS_BYTES;
        h = (union header *)f - 1;
    } else {
        h = malloc(sizeof(*h) + (cls ? cls * CLASS_BYTES : n));
        if (!h)
            return NULL;
        h->cls = cls;
    }
    return h + 1;
}

void jsonalloc_free(void *p)
{
    if (!p)
        return;
    union header *h = (union header *)p - 1;
    size_t bytes = h->cls * CLASS_BYTES;
    if (h->cls == 0 || lists.cached_bytes + bytes > JSONALLOC_CACHE_BYTES) {
        free(h);
        return;
    }
    struct free_block *f = p;
    f->next = lists.free[h->cls];
    lists.free[h->cls] = f;
    lists.cached_bytes += bytes;
}

size_t jsonalloc_cached_bytes(void)
{
    return lists.cached_bytes;
}

void jsonalloc_install(void)
{
#ifndef JSONALLOC_PASS_THROUGH
    json_set_alloc_funcs(jsonalloc_malloc, jsonalloc_free);
#endif
}

void jsonalloc_release(void)
{
    for (size_t c = 1; c <= CLASSES; c++) {
        while (lists.free[c]) {
            struct free_block *f = lists.free[c];
            lists.free[c] = f->next;
            free((union header *)f - 1);
        }
    }
    lists.cached_bytes = 0;
}
