/*
 * pc_gil, uncontended: one thread takes and gives back a free GIL in a
 * loop (the peer is bench/sync/lock-pthread.c).  Figure: ns_per_op, one
 * acquire + release.
 */
#include "bench.h"
#include "pyconc/gil.h"

static double loop(long n, void *arg) {
    pc_gil *g = arg;
    int bad = 0;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        bad |= pc_gil_acquire(g, PC_FOREVER);
        bad |= pc_gil_release(g);
    }
    int64_t t1 = bench_now_ns();
    bench_check(bad, "pc_gil_acquire/release");
    return (double)(t1 - t0) * 1e-9;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    bench_opts_done();
    bench_go_multithreaded();
    pc_gil *g;
    bench_check(pc_gil_new(&g, NULL), "pc_gil_new");
    long n;
    double per = bench_per_op(loop, g, &n);
    bench_metric("ops", (double)n, "ops");
    bench_metric("ns_per_op", per * 1e9, "ns/op");
    pc_gil_free(g);
    return 0;
}
