/* Shared by the test-shared-*.c files: waiting for a sleeper to be
 * asleep, timing, and a thread that sends signals. */
#ifndef PC_TEST_SHARED_HELPERS_H
#define PC_TEST_SHARED_HELPERS_H

#include <pthread.h>
#include <pyconc.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "../src/shared/shared-internal.h"
#include "process-helpers.h"

static inline double now_s(void) {
    return (double)pc__mono_ns() / 1e9;
}

/* Until n callers sleep on obj (a semaphore, event, condition, barrier). */
static inline void wait_sleepers(const void *obj, int n) {
    while (pc__sh_nwait(obj) < n)
        usleep(1000);
}

/* Until someone waits on the lock (its word has the waiters bit). */
static inline void wait_lock_waiter(pc__shmutex *mu) {
    while (!(atomic_load(&mu->word) & PC__SHM_WAITERS))
        usleep(1000);
}

static inline void on_sigusr1(int sig) {
    (void)sig;
}

/* Install a no-op SIGUSR1 handler without SA_RESTART: a system call the
 * signal interrupts fails with EINTR, which a wait must absorb. */
static inline void install_sigusr1(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
}

/* Send `n` SIGUSR1 to thread t, a millisecond apart. */
static inline void pester(pthread_t t, int n) {
    for (int i = 0; i < n; i++) {
        pthread_kill(t, SIGUSR1);
        usleep(1000);
    }
}

static inline pc_shared_ref ref_of(const void *obj) {
    pc_shared_ref r;
    expect_rc(pc_shared_ref_of(obj, &r), 0);
    return r;
}

static inline void *deref(pc_shared_ref r) {
    void *p = NULL;
    return pc_shared_deref(r, &p) == 0 ? p : NULL;
}

#endif
