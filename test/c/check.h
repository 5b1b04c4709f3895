/* check.h - the C unit tests' tiny harness: CHECK records a failure and
 * goes on; each test binary prints "N passed, N failed" and exits non-zero
 * on any failure. */
#ifndef CN_CHECK_H
#define CN_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (cond) {                                                          \
            check_passed++;                                                  \
        } else {                                                             \
            check_failed++;                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
        }                                                                    \
    } while (0)

#define CHECK_DONE(name)                                                     \
    (printf("%s: %d passed, %d failed\n", name, check_passed, check_failed), \
     check_failed ? 1 : 0)

#endif
