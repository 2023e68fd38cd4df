/* fuzz_jsonparse.c: libFuzzer target for jsonparse, the fast JSON reader, against jansson itself.
 *
 * For any input and both flag sets the reader takes (0 and JSON_REJECT_DUPLICATES): whenever
 * jsonparse_fast gives a value, json_loadb must accept the same text and give an equal value that
 * prints the same in insertion order (so the same keys, in the same order, integers as integers);
 * and jsonparse_loadb must answer exactly as json_loadb does, value or error text. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonparse.h"

#define FUZZ_NAME "fuzz_jsonparse"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *fuzz_jsonr_print(const json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t flag_sets[2] = {0, JSON_REJECT_DUPLICATES};
    const char *text = (const char *)data;
    for (int f = 0; f < 2; f++) {
        json_error_t want_err, got_err;
        json_t *want = json_loadb(text, size, flag_sets[f], &want_err);
        json_t *fast = jsonparse_fast(text, size, flag_sets[f]);
        if (fast) {
            FUZZ_CHECK(want != NULL, "jsonparse took text jansson rejects: %s", want_err.text);
            FUZZ_CHECK(json_equal(fast, want), "values differ");
        }
        json_t *got = jsonparse_loadb(text, size, flag_sets[f], &got_err);
        FUZZ_CHECK((got == NULL) == (want == NULL), "jsonparse_loadb %s, jansson %s", got ? "took it" : "did not",
                   want ? "did" : "did not");
        if (want) {
            char *a = fuzz_jsonr_print(got), *b = fuzz_jsonr_print(want);
            FUZZ_CHECK(a && b && strcmp(a, b) == 0, "printed differently:\n jsonparse   %s\n jansson %s", a, b);
            free(a);
            free(b);
        } else {
            FUZZ_CHECK(strcmp(got_err.text, want_err.text) == 0, "errors differ: %s / %s", got_err.text,
                       want_err.text);
        }
        json_decref(fast);
        json_decref(got);
        json_decref(want);
    }
    return 0;
}
