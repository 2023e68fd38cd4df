/* pgtext.c: quoting and checks for the PostgreSQL text the write path sends (array literals,
 * tab-separated fields). */
#include "util/pgtext.h"

void pgtext_array_elem(struct jsonwrite_buf *b, const char *s, size_t n)
{
    jsonwrite_char(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            jsonwrite_char(b, '\\');
        jsonwrite_char(b, s[i]);
    }
    jsonwrite_char(b, '"');
}

bool pgtext_plain(const char *s, size_t n)
{
    if (!s || n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return false;
    return true;
}

bool pgtext_field_plain(const json_t *v)
{
    if (!v || json_is_null(v))
        return true;
    return json_is_string(v) && pgtext_plain(json_string_value(v), json_string_length(v));
}
