/*
 * pyconc: thread pool throughput, submit + result of a trivial task.
 * Batches of --batch tasks: each submitted with pc_pool_apply_async (its
 * argument copied in, a future out), then every future's result read
 * (pc_future_result) and the future released.  --workers threads.
 * Figure: tasks_per_s.  Peer: GLib's GThreadPool pushing the same work
 * (bench/pool/pool-gthreadpool.c).
 */
#include <stdlib.h>
#include <string.h>

#include <pyconc.h>

#include "bench.h"

static int add_one(const void *arg, size_t len, pc_task_result *out) {
    long x;
    (void)len;
    memcpy(&x, arg, sizeof x);
    x++;
    return pc_task_return(out, &x, sizeof x);
}

typedef struct run_arg {
    pc_pool *p;
    long batch;
    pc_future **fs;
} run_arg;

static double run(long n, void *arg) {
    run_arg *a = arg;
    int64_t t0 = bench_now_ns();
    for (long done = 0; done < n;) {
        long k = n - done < a->batch ? n - done : a->batch;
        for (long i = 0; i < k; i++) {
            long x = done + i;
            bench_check(pc_pool_apply_async(a->p, add_one, &x, sizeof x, NULL, &a->fs[i]),
                        "pc_pool_apply_async");
        }
        for (long i = 0; i < k; i++) {
            const void *b;
            size_t len;
            bench_check(pc_future_result(a->fs[i], &b, &len, PC_FOREVER), "pc_future_result");
            long y;
            memcpy(&y, b, sizeof y);
            if (len != sizeof y || y != done + i + 1)
                bench_die("wrong result");
            pc_future_release(a->fs[i]);
        }
        done += k;
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    long workers = bench_opt_long("workers", 2);
    long batch = bench_opt_long("batch", 256);
    bench_opts_done();
    if (workers < 1 || batch < 1)
        bench_die("--workers and --batch must be positive");
    run_arg a = {NULL, batch, NULL};
    bench_check(pc_pool_new(&a.p, &(pc_pool_opts){.workers = (int)workers}), "pc_pool_new");
    a.fs = calloc((size_t)batch, sizeof *a.fs);
    if (!a.fs)
        bench_die("no memory");
    long n;
    double per = bench_per_op(run, &a, &n);
    bench_metric("tasks_per_s", 1.0 / per, "tasks/s");
    pc_pool_close(a.p);
    bench_check(pc_pool_join(a.p, PC_FOREVER), "pc_pool_join");
    pc_pool_free(a.p);
    free(a.fs);
    return 0;
}
