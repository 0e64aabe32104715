/* Shared by the GIL tests: threads that queue on a GIL in a known order. */
#ifndef PC_TEST_GIL_HELPERS_H
#define PC_TEST_GIL_HELPERS_H

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "helpers.h"

/* Wait (bounded) until `n` threads wait for g: the queue order is then
 * the order in which the test started them. */
static inline void wait_for_waiters(pc_gil *g, unsigned n) {
    pc_gil_stats st;
    for (int i = 0; i < 10000; i++) {
        expect_rc(pc_gil_get_stats(g, &st), 0);
        if (st.waiting >= n)
            return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL); /* not pc_sleep: the caller may be attached */
    }
    cr_assert_fail("%u waiters never came (%u)", n, st.waiting);
}

/* A thread that takes the GIL (with priority: through pc_gil_restore),
 * appends its tag to `order` while it holds it, and releases it. */
struct grab {
    pc_gil *g;
    int tag;
    bool prio;
    int *order; /* guarded by g */
    int *n;     /* guarded by g */
    int rc;
};

static inline void *grab_main(void *arg) {
    struct grab *a = arg;
    a->rc = a->prio ? pc_gil_restore(a->g) : pc_gil_acquire(a->g, 30.0);
    if (a->rc)
        return NULL;
    a->order[(*a->n)++] = a->tag;
    a->rc = pc_gil_release(a->g);
    return NULL;
}

static inline double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
