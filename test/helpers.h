/* Shared helpers of the test suite. */
#ifndef PC_TEST_HELPERS_H
#define PC_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <pthread.h>

#include "pyconc.h"

/* Tests that race on purpose (negative controls) are off under TSan,
 * which would rightly report them. */
#ifdef __SANITIZE_THREAD__
#define PC_UNDER_TSAN 1
#else
#define PC_UNDER_TSAN 0
#endif

/* Under ASan a fault becomes a report and a nonzero exit, not a signal. */
#ifdef __SANITIZE_ADDRESS__
#define PC_UNDER_ASAN 1
#else
#define PC_UNDER_ASAN 0
#endif

/* Assert that a pyconc call returned `want`, printing both codes' text. */
#define expect_rc(call, want)                                                                      \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        cr_assert_eq(rc_, (want), "%s: got %d (%s), want %d (%s)", #call, rc_, pc_strerror(rc_),   \
                     (int)(want), pc_strerror(want));                                              \
    } while (0)

/* Start a plain pthread (tests of pyconc threads use those too). */
static inline pthread_t start_pthread(void *(*fn)(void *), void *arg) {
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
    return t;
}

#endif
