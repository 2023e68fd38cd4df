/* jsonparse.h: JSON text into jansson values, faster than json_loadb for the text fcrd reads most (feed
 * lines and stored incident states), with the very same result.
 *
 * jansson's parser reads its input a character at a time through a stream and copies every token
 * into a growable buffer; on a feed line that was most of the time parsing took, and building the
 * values only a sixth of it. jsonparse scans the text in place and builds the same values with the same
 * jansson calls. It accepts only text that json_loadb accepts, and gives the value json_loadb would
 * give (tests/unit/test_jsonparse.c and tests/fuzz/fuzz_jsonparse.c compare the two). Anything it is not
 * sure of (an error of any kind, a duplicate key, a number that does not fit, deep nesting,
 * another flag) it leaves to jansson, so every error and its message is jansson's. */
#ifndef FCRD_JSONPARSE_H
#define FCRD_JSONPARSE_H

#include <jansson.h>
#include <stddef.h>

/* As json_loadb(text, len, flags, err). flags: 0 or JSON_REJECT_DUPLICATES take the fast path;
 * any other flag goes to jansson as it is. err is filled only when NULL is returned. New
 * reference. */
json_t *jsonparse_loadb(const char *text, size_t len, size_t flags, json_error_t *err);

/* The fast path alone: the value, or NULL when it leaves the text to jansson (never an answer of
 * its own that the text is bad). For tests. */
json_t *jsonparse_fast(const char *text, size_t len, size_t flags);

#endif
