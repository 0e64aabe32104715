/*
 * The park probe: lets a test know, without sleeping, that a thread has
 * queued itself on a primitive and gone to wait.
 *
 * It installs, on the waiting thread, a parker that wraps the thread parker
 * of src/internal/waiter.c.  pc__wait() calls park() only after the waiter
 * was queued under the primitive's guard, so each byte the probe writes to
 * its pipe proves "one more thread is queued".  The main thread reads those
 * bytes (probe_wait_parked), then acts (set, notify, release...) knowing the
 * waiters are in the queue.  A timed-out wait that lost the race to a waker
 * parks a second time: tests that count parks wait without timeouts.
 */
#ifndef PC_TEST_PROBE_H
#define PC_TEST_PROBE_H

#include <poll.h>
#include <unistd.h>

#include "../src/internal/waiter.h"
#include "helpers.h"

static int probe_fd[2] = {-1, -1};

static int probe_park(pc__waiter *w, int64_t deadline) {
    char c = 1;
    cr_assert_eq(write(probe_fd[1], &c, 1), 1);
    return pc__thread_parker.park(w, deadline);
}

static void probe_wake(pc__waiter *w) {
    pc__thread_parker.wake(w);
}

static const pc__parker probe_parker = {probe_park, probe_wake};

/* Once per test, in the main thread, before the waiters start. */
static inline void probe_init(void) {
    cr_assert_eq(pipe(probe_fd), 0);
}

/* In a waiting thread: report its parks from now on. */
static inline void probe_install(void) {
    pc__tls_parker = &probe_parker;
}

/* Block until `n` more parks were reported (fails after 30 s). */
static inline void probe_wait_parked(int n) {
    while (n > 0) {
        struct pollfd p = {.fd = probe_fd[0], .events = POLLIN};
        cr_assert_eq(poll(&p, 1, 30000), 1, "no park within 30 s");
        char buf[64];
        ssize_t got = read(probe_fd[0], buf, n < 64 ? (size_t)n : 64);
        cr_assert(got > 0);
        n -= (int)got;
    }
}

/* Whether any park was reported that nobody read yet (never blocks). */
static inline bool probe_pending(void) {
    struct pollfd p = {.fd = probe_fd[0], .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

#endif
