/* The Linux futex, behind two calls.  Private (process-local) futexes;
 * deadlines are absolute CLOCK_MONOTONIC nanoseconds (FUTEX_WAIT_BITSET
 * takes an absolute time, so a retried wait never stretches the timeout). */
#ifndef PC_PLATFORM_FUTEX_H
#define PC_PLATFORM_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../internal/clock.h"

/*
 * Sleep while *addr == val, until woken or `deadline` (PC__NO_DEADLINE for
 * none).  Returns 0 when woken or when *addr no longer held val (also on a
 * spurious wake-up or a signal: the caller re-checks), -ETIMEDOUT.
 */
static inline int pc__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline) {
    struct timespec ts, *tsp = NULL;
    if (deadline != PC__NO_DEADLINE) {
        if (deadline <= 0)
            deadline = 1;
        ts = pc__ns_to_timespec(deadline);
        tsp = &ts;
    }
    long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, tsp,
                     NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT)
        return -ETIMEDOUT;
    return 0;
}

/* Wake up to n sleepers on addr. */
static inline void pc__futex_wake(_Atomic uint32_t *addr, int n) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

/* The pause of a spin loop: tells the core (and a hyperthread sibling)
 * that we are waiting. */
static inline void pc__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
