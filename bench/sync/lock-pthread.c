/*
 * Peer: a default pthread_mutex, uncontended, as lock-pc.c measures
 * pc_lock.  Figure: ns_per_op, one lock + unlock.
 */
#include "bench.h"

static double loop(long n, void *arg) {
    pthread_mutex_t *m = arg;
    int bad = 0;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        bad |= pthread_mutex_lock(m);
        bad |= pthread_mutex_unlock(m);
    }
    int64_t t1 = bench_now_ns();
    bench_check(bad, "pthread_mutex_lock/unlock");
    return (double)(t1 - t0) * 1e-9;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    bench_opts_done();
    bench_go_multithreaded();
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    long n;
    double per = bench_per_op(loop, &m, &n);
    bench_metric("ops", (double)n, "ops");
    bench_metric("ns_per_op", per * 1e9, "ns/op");
    return 0;
}
