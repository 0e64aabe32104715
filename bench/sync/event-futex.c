/*
 * Peer: the raw futex round trip (common/pingpong.h), what a wake-up costs
 * without a library.  A signal stores 1 and calls FUTEX_WAKE; a wait
 * sleeps in FUTEX_WAIT while the word is 0, then stores 0.  No spinning,
 * no waiter count: the plainest correct futex hand-off.
 */
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"
#include "pingpong.h"

static void *make(void) {
    _Atomic uint32_t *w = calloc(1, 64); /* a cache line of its own */
    if (!w)
        bench_die("out of memory");
    return w;
}

static void signal_(void *p) {
    _Atomic uint32_t *w = p;
    /* release; pairs with the acquire load in wait_() */
    atomic_store_explicit(w, 1, memory_order_release);
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void wait_(void *p) {
    _Atomic uint32_t *w = p;
    /* acquire; pairs with the release store in signal_() */
    while (atomic_load_explicit(w, memory_order_acquire) == 0)
        syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    /* relaxed: the release store of the signal_() this thread gives next
     * orders it before the partner can signal w again */
    atomic_store_explicit(w, 0, memory_order_relaxed);
}

static void destroy(void *p) {
    free(p);
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    return pingpong_main(&(pingpong_ops){make, signal_, wait_, destroy});
}
