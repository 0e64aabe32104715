/*
 * pc__shwait / pc__shwake (shwait.h).
 *
 * Threads: a shared futex (no FUTEX_PRIVATE_FLAG: the kernel keys the word
 * by its page, so waiters and wakers of every process meet), the sleep
 * wrapped in pc__blocking_begin/end for an attached GIL.
 *
 * Coroutines: parked through their parker in slices of at most
 * SLICE_NS, re-reading the word after each.  (A per-process watcher
 * thread on futex_waitv replaces the polling; see the file's history.)
 */
#include "shwait.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "blocking.h"
#include "clock.h"
#include "waiter.h"

enum { SLICE_NS = 1000000 };

static int thread_wait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline) {
    struct timespec ts, *tsp = NULL;
    if (deadline != PC__NO_DEADLINE) {
        ts = pc__ns_to_timespec(deadline > 0 ? deadline : 1);
        tsp = &ts;
    }
    pc_gil *g = pc__blocking_begin();
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expected, tsp, NULL,
                     FUTEX_BITSET_MATCH_ANY);
    int e = errno;
    pc__blocking_end(g);
    return r == -1 && e == ETIMEDOUT ? -ETIMEDOUT : 0;
}

static int coro_wait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline) {
    while (atomic_load_explicit(word, memory_order_acquire) == expected) {
        int64_t now = pc__mono_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        int64_t until = deadline - now > SLICE_NS ? now + SLICE_NS : deadline;
        pc__waiter w;
        pc__waiter_init(&w);
        int r = w.parker->park(&w, until); /* nobody wakes it: a sleep */
        if (r == -ECANCELED)
            return r;
    }
    return 0;
}

int pc__shwait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline) {
    if (pc__tls_parker)
        return coro_wait(word, expected, deadline);
    return thread_wait(word, expected, deadline);
}

void pc__shwake(_Atomic uint32_t *word, int n) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}
