/* check.h - the C unit tests' tiny harness: CHECK records a failure and
 * goes on; each test binary prints "N passed, N failed" and exits non-zero
 * on any failure. */
#ifndef CN_CHECK_H
#define CN_CHECK_H

#include <stdio.h>
#include <string.h>

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

/* Hex text (as erl's binary:encode_hex prints it) to bytes; returns the
 * count. */
static inline size_t unhex(const char *h, char *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    return n;
}

#define CHECK_DONE(name)                                                     \
    (printf("%s: %d passed, %d failed\n", name, check_passed, check_failed), \
     check_failed ? 1 : 0)

#endif
