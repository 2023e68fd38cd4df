/* textfold.c: folds free text for phrase matching (case beyond ASCII, typographic marks). A small
 * table written for the scripts narratives are typed in, rather than a Unicode library: ICU's
 * full folding is far more than matching a rule set's English phrases needs. */
#include "util/textfold.h"

#include <stdbool.h>
#include <stdint.h>

#include "util/utf8.h"

unsigned textfold_char(unsigned cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return cp + 32;
    if (cp < 0x80)
        return cp;
    /* Latin-1 capitals, except the multiplication sign. */
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
        return cp + 32;
    /* Latin Extended-A: capital and small letters alternate, with three runs of pairs and a few
     * letters that have no pair. */
    if (cp >= 0x100 && cp <= 0x17F) {
        if (cp == 0x130)
            return 'i';
        if (cp == 0x17F)
            return 's';
        if (cp == 0x178)
            return 0xFF;
        if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177))
            return cp | 1u;
        if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
            return (cp & 1u) ? cp + 1 : cp;
        return cp;
    }
    if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2)
        return cp + 32;
    if (cp >= 0x410 && cp <= 0x42F)
        return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F)
        return cp + 80;
    if (cp == 0x1E9E)
        return 0xDF;
    switch (cp) {
    case 0x2018: case 0x2019: case 0x201A: case 0x201B: case 0x2032: case 0x02BC: case 0xFF07:
        return '\'';
    case 0x201C: case 0x201D: case 0x201E: case 0x201F: case 0x2033: case 0xAB: case 0xBB: case 0xFF02:
        return '"';
    case 0x2212:
        return '-';
    case 0xA0: case 0x202F: case 0x205F: case 0x3000:
        return ' ';
    default:
        break;
    }
    if (cp >= 0x2010 && cp <= 0x2015)
        return '-';
    if (cp >= 0x2000 && cp <= 0x200A)
        return ' ';
    return cp;
}

static unsigned textfold_decode(const unsigned char *p, size_t n)
{
    if (n == 2)
        return ((unsigned)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    if (n == 3)
        return ((unsigned)(p[0] & 0x0F) << 12) | ((unsigned)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    return ((unsigned)(p[0] & 0x07) << 18) | ((unsigned)(p[1] & 0x3F) << 12) | ((unsigned)(p[2] & 0x3F) << 6) |
           (p[3] & 0x3F);
}

static size_t textfold_encode(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t textfold_text(const char *s, size_t len, char *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        unsigned char b = p[i];
        if (b < 0x80) {
            out[o++] = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
            i++;
            continue;
        }
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0) {
            out[o++] = (char)b; /* not UTF-8: the byte as it is */
            i++;
            continue;
        }
        unsigned cp = textfold_decode(p + i, n);
        if (cp == 0x2026) {
            out[o++] = '.';
            out[o++] = '.';
            out[o++] = '.';
        } else {
            /* Every fold in the table is no longer than what it folds (checked by the unit test),
             * so out never outgrows the input. */
            unsigned f = textfold_char(cp);
            size_t m = f == cp ? 0 : textfold_encode(f, out + o);
            if (m == 0 || m > n) {
                for (size_t k = 0; k < n; k++)
                    out[o + k] = (char)p[i + k];
                m = n;
            }
            o += m;
        }
        i += n;
    }
    out[o] = '\0';
    return o;
}
