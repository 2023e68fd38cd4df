/* textfold.h: free text folded for phrase matching: lower case beyond ASCII, typographic marks as
 * their ASCII forms. */
#ifndef FCRD_TEXTFOLD_H
#define FCRD_TEXTFOLD_H

#include <stddef.h>

/* textfold_text: writes into out (at least len + 1 bytes) the folded form of s[0..len) and
 * returns its length; out is NUL-terminated and never longer than the input. Folding:
 * - ASCII letters to lower case;
 * - Latin-1 (U+00C0-U+00DE), Latin Extended-A (U+0100-U+017F), Greek (U+0391-U+03AB) and
 *   Cyrillic (U+0400-U+042F) capitals to their small letters; U+0130 (I with dot) to "i",
 *   U+017F (long s) to "s", U+1E9E (capital sharp s) to U+00DF;
 * - typographic apostrophes and primes (U+2018, U+2019, U+201A, U+201B, U+2032, U+02BC, U+FF07)
 *   to "'"; typographic quotes (U+201C-U+201F, U+2033, U+00AB, U+00BB, U+FF02) to '"';
 *   hyphens and dashes (U+2010-U+2015, U+2212) to "-"; no-break and typographic spaces
 *   (U+00A0, U+2000-U+200A, U+202F, U+205F, U+3000) to " "; the ellipsis U+2026 to "...".
 * Everything else, malformed UTF-8 included, is copied as it is. */
size_t textfold_text(const char *s, size_t len, char *out);

/* textfold_char: the folded form of one code point that folds to one code point (the case and
 * mark table above without the ellipsis), or cp itself. */
unsigned textfold_char(unsigned cp);

#endif
