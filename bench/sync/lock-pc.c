/*
 * pc_lock, uncontended: one thread acquires and releases a free lock in a
 * loop.  Figure: ns_per_op, one acquire + release.
 */
#include "bench.h"
#include "pyconc/sync.h"

static double loop(long n, void *arg) {
    pc_lock *l = arg;
    int bad = 0;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        bad |= pc_lock_acquire(l, true, PC_FOREVER);
        bad |= pc_lock_release(l);
    }
    int64_t t1 = bench_now_ns();
    bench_check(bad, "pc_lock_acquire/release");
    return (double)(t1 - t0) * 1e-9;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    bench_opts_done();
    bench_go_multithreaded();
    pc_lock l = PC_LOCK_INIT;
    long n;
    double per = bench_per_op(loop, &l, &n);
    bench_metric("ops", (double)n, "ops");
    bench_metric("ns_per_op", per * 1e9, "ns/op");
    return 0;
}
