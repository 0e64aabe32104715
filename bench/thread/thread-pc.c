/*
 * pc_thread start + join: one thread made, started, joined and freed per
 * operation (pc_thread_new, pc_thread_start, pc_thread_join,
 * pc_thread_free); its target returns at once.  Figure: ns_per_op.
 */
#include "bench.h"
#include "pyconc/thread.h"

static void *target(void *arg) {
    return arg;
}

static double loop(long n, void *arg) {
    (void)arg;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        pc_thread *t;
        bench_check(pc_thread_new(&t, target, NULL, NULL), "pc_thread_new");
        bench_check(pc_thread_start(t), "pc_thread_start");
        bench_check(pc_thread_join(t, PC_FOREVER), "pc_thread_join");
        pc_thread_free(t);
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    bench_opts_done();
    long n;
    double per = bench_per_op(loop, NULL, &n);
    bench_metric("ops", (double)n, "ops");
    bench_metric("ns_per_op", per * 1e9, "ns/op");
    return 0;
}
