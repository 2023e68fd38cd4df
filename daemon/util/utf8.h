/* utf8.h: the few UTF-8 checks the feed and the API need on text jansson or evhttp hand over. */
#ifndef FCRD_UTF8_H
#define FCRD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* utf8_seq: the length of the well-formed UTF-8 sequence at p (1 for ASCII, 2 to 4 otherwise),
 * reading at most avail bytes, or 0 when there is none: an overlong form, a surrogate, a code
 * point past U+10FFFF, a stray or missing continuation byte. */
size_t utf8_seq(const unsigned char *p, size_t avail);
/* utf8_valid: well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF). */
bool utf8_valid(const char *s);

/* utf8_chars: the number of characters (code points) of valid UTF-8 text. */
size_t utf8_chars(const char *s);

/* utf8_cut: len cut back so that s[0..len) does not end inside a UTF-8 sequence (for text cut to
 * fit a buffer, which jansson would otherwise refuse as invalid UTF-8). */
size_t utf8_cut(const char *s, size_t len);

#endif
