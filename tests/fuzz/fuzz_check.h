/* fuzz_check.h: the fuzz targets' assertion. A target defines FUZZ_NAME before including it; a
 * failed check prints the target, the condition and a message, then aborts, which libFuzzer
 * reports as a crash with the input that caused it. */
#ifndef FCRD_FUZZ_CHECK_H
#define FCRD_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                                                \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, FUZZ_NAME ": check failed: %s: ", #cond);                                       \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

#endif
