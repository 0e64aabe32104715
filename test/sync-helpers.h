/* Helpers of the sync tests: the park probe, a check that a call aborts,
 * and the stress duration. */
#ifndef PC_TEST_SYNC_HELPERS_H
#define PC_TEST_SYNC_HELPERS_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

/*
 * Run fn(arg) in a forked child and assert that it aborts (SIGABRT): for
 * programmer errors the library refuses to survive.  The child has only
 * the forking thread, but a copy of every object, waiters queued included.
 * (Criterion's .signal option would do, but the sanitizer builds' stand-in
 * runner lacks it.)
 */
static inline void expect_child_aborts(void (*fn)(void *), void *arg) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "child status %#x", status);
}

/* How long a stress test runs: PC_TORTURE_SECONDS if set (long runs are
 * opt-in, as for test-lock-torture), else `dflt`. */
static inline double torture_seconds(double dflt) {
    const char *e = getenv("PC_TORTURE_SECONDS");
    return e && atof(e) > 0 ? atof(e) : dflt;
}

#endif
