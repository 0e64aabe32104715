/*
 * pyconc: Process start+join of a target that returns at once, under one
 * start method (--method fork|spawn|forkserver).  Figure: ns_per_op.
 */
#include <string.h>

#include <pyconc.h>

#include "bench.h"

static int target(void *arg, size_t len) {
    (void)arg;
    (void)len;
    return 0;
}

static double loop(long n, void *arg) {
    pc_start_method m = *(pc_start_method *)arg;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        pc_process *p;
        bench_check(pc_process_new(&p, target, NULL, 0, &(pc_process_opts){.method = m}), "new");
        bench_check(pc_process_start(p), "pc_process_start");
        bench_check(pc_process_join(p, PC_FOREVER), "pc_process_join");
        pc_process_free(p);
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    const char *name = bench_opt_str("method", "fork");
    bench_opts_done();
    pc_start_method m = !strcmp(name, "fork")         ? PC_START_FORK
                        : !strcmp(name, "spawn")      ? PC_START_SPAWN
                        : !strcmp(name, "forkserver") ? PC_START_FORKSERVER
                                                      : (bench_die("bad --method %s", name), 0);
    long n;
    double per = bench_per_op(loop, &m, &n);
    bench_metric("ops", (double)n, "ops");
    bench_metric("ns_per_op", per * 1e9, "ns/op");
    return 0;
}
