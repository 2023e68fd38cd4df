/* check_run.h: the runner every unit test binary ends with: run the suite, exit with its verdict. */
#ifndef FCRD_CHECK_RUN_H
#define FCRD_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

/* check_run: runs s (taking it) and returns EXIT_SUCCESS or EXIT_FAILURE for main. */
static inline int check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
