/* pgtext.h: PostgreSQL's text formats as the write path builds them: elements of array literals
 * and fields of the tab-separated lines its statements split (see store/store_sql.h). */
#ifndef FCRD_PGTEXT_H
#define FCRD_PGTEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/jsonwrite.h"

/* One element of a PostgreSQL array literal: s quoted, with " and \ escaped (any other character
 * is literal inside the quotes). */
void pgtext_array_elem(struct jsonwrite_buf *b, const char *s, size_t n);

/* A value that can go as a field of a tab-separated line, as it is: null (an empty field), or a
 * non-empty string free of control characters (so of tabs and newlines). */
bool pgtext_field_plain(const json_t *v);
bool pgtext_plain(const char *s, size_t n); /* non-empty, no control characters */

#endif
