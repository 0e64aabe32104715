/*
 * Orientation: a bare test-and-set spinlock, uncontended: one atomic
 * exchange to take it, one release store to drop it.  Its lock and unlock
 * are out-of-line calls, as pc_lock's and pthread_mutex's are, so the
 * figure is the floor a one-word lock can approach, not an inlined loop
 * the compiler may fold.  Figure: ns_per_op.
 */
#include <stdatomic.h>

#include "bench.h"

__attribute__((noinline)) static void spin_lock(atomic_int *s) {
    /* acquire; pairs with the release store in spin_unlock() */
    while (atomic_exchange_explicit(s, 1, memory_order_acquire))
        while (atomic_load_explicit(s, memory_order_relaxed))
            ;
}

__attribute__((noinline)) static void spin_unlock(atomic_int *s) {
    /* release; pairs with the acquire exchange in spin_lock() */
    atomic_store_explicit(s, 0, memory_order_release);
}

static double loop(long n, void *arg) {
    atomic_int *s = arg;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        spin_lock(s);
        spin_unlock(s);
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    bench_opts_done();
    bench_go_multithreaded();
    atomic_int s = 0;
    long n;
    double per = bench_per_op(loop, &s, &n);
    bench_metric("ops", (double)n, "ops");
    bench_metric("ns_per_op", per * 1e9, "ns/op");
    return 0;
}
