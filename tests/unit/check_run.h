/* check_run.h: the runner every unit test binary ends with: run the suite, exit with its verdict. */
#ifndef FCRD_CHECK_RUN_H
#define FCRD_CHECK_RUN_H

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* check_run: runs s (taking it) and returns EXIT_SUCCESS or EXIT_FAILURE for main. */
static inline int check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* check_short: FCRD_TEST_SHORT=1 asks the long randomised loops for a tenth of their rounds. The
 * valgrind pass of scripts/test sets it (valgrind runs code some fifty times slower); the plain and
 * sanitized builds run every round. Returns how many of `full` rounds to run. */
static inline long check_short(long full)
{
    const char *v = getenv("FCRD_TEST_SHORT");
    return v && strcmp(v, "1") == 0 ? full / 10 : full;
}

/* check_in_ci: CI=true marks the run that decides a merge: a test that needs the worked cases in
 * ../shared must fail there rather than skip. */
static inline bool check_in_ci(void)
{
    const char *ci = getenv("CI");
    return ci && strcasecmp(ci, "true") == 0;
}

#endif
