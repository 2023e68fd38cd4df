/* fcrctl_table.h: readable output: aligned tables and "key: value" lines made from JSON, with
 * everything the server sent made safe for a terminal. */
#ifndef FCRCTL_TABLE_H
#define FCRCTL_TABLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

struct fcrctl_table;

/* A column: its heading, and the item key its cells come from (NULL when the caller makes the
 * cells itself with fcrctl_table_add_row). */
struct fcrctl_table_column {
    const char *heading;
    const char *key;
};

/* fcrctl_table_new: a table of n columns; the array is borrowed and must outlive the table.
 * NULL if out of memory. */
struct fcrctl_table *fcrctl_table_new(const struct fcrctl_table_column *cols, size_t n);
struct fcrctl_table *fcrctl_table_free(struct fcrctl_table *t); /* NULL-safe, returns NULL */

/* fcrctl_table_add_row: one row of n cells (copied, made safe). Returns 0 or -1. */
int fcrctl_table_add_row(struct fcrctl_table *t, const char *const *cells);

/* fcrctl_table_add_item: one row from a JSON object, each cell from its column's key. */
int fcrctl_table_add_item(struct fcrctl_table *t, const json_t *item);

size_t fcrctl_table_rows(const struct fcrctl_table *t);

/* fcrctl_table_print: headings and rows, columns two spaces apart, no trailing blanks. */
void fcrctl_table_print(const struct fcrctl_table *t, FILE *out);

/* fcrctl_table_cell: how a JSON value reads in a cell: strings as they are, null or absent as
 * "-", true/false as yes/no, reals with up to three decimals, arrays of scalars joined by
 * commas, anything else as compact JSON. Made safe; malloc'd; NULL if out of memory. */
char *fcrctl_table_cell(const json_t *v);

/* fcrctl_table_safe: a copy of s in which control characters (C0, DEL, C1) and bytes that are
 * not UTF-8 read as '?', so that text from the feed cannot move the cursor or change colours.
 * Malloc'd; NULL if out of memory. */
char *fcrctl_table_safe(const char *s);

/* fcrctl_table_width: columns s takes on a terminal: one per UTF-8 character. */
size_t fcrctl_table_width(const char *s);

/* fcrctl_table_print_fields: "key: value" lines for the members of obj, in its order, except
 * those named in skip (a NULL-terminated list, may be NULL). Nested objects give
 * "key.member: value" lines, one level deep. */
void fcrctl_table_print_fields(const json_t *obj, const char *const *skip, FILE *out);

#endif
