/*
 * Peer: raw pthread_create + pthread_join with default attributes, the
 * thread function returning at once.  Figure: ns_per_op.
 */
#include "bench.h"

static void *target(void *arg) {
    return arg;
}

static double loop(long n, void *arg) {
    (void)arg;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        pthread_t t;
        bench_thread(&t, target, NULL);
        bench_check(pthread_join(t, NULL), "pthread_join");
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
