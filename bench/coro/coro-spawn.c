/*
 * pyconc: spawn + run to completion + join, with pooled stacks.  The
 * main thread (its loop's owner, outside any coroutine) spawns a
 * coroutine whose body returns at once, joins it - which runs the loop
 * until the coroutine has finished and given its stack back to the pool -
 * and frees it.  Default one at a time (pc_coro_spawn + pc_coro_join +
 * pc_coro_free); --batch B spawns B, then pc_coro_joinall, then frees
 * the B.  Stacks: the default size, from the thread's pool (the warm-up
 * fills it).  Figure: ns_per_coro.  Floor: `switch-bare --create 1`.
 */
#include <stdint.h>
#include <stdlib.h>

#include <pyconc/coro.h>

#include "bench.h"

#define SPAWN_BATCH_MAX 10000

static long batch;
static pc_coro **coros;
static long ran;

static int body(void *arg, void **value) {
    ran++;
    *value = arg;
    return 0;
}

static double spawn_loop(long n, void *arg) {
    (void)arg;
    int64_t t0 = bench_now_ns();
    for (long done = 0; done < n; done += batch) {
        int b = (int)(n - done < batch ? n - done : batch);
        for (int i = 0; i < b; i++)
            bench_check(pc_coro_spawn(&coros[i], body, coros, NULL), "pc_coro_spawn");
        if (b == 1)
            bench_check(pc_coro_join(coros[0], PC_FOREVER), "pc_coro_join");
        else
            bench_check(pc_coro_joinall(coros, b, PC_FOREVER), "pc_coro_joinall");
        for (int i = 0; i < b; i++)
            pc_coro_free(coros[i]);
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    batch = bench_opt_long("batch", 1);
    bench_opts_done();
    if (batch < 1 || batch > SPAWN_BATCH_MAX)
        bench_die("--batch must be 1..%d", SPAWN_BATCH_MAX);
    coros = calloc((size_t)batch, sizeof *coros);
    if (!coros)
        bench_die("out of memory");
    long n;
    ran = 0;
    double per = bench_per_op(spawn_loop, NULL, &n);
    if (ran < n)
        bench_die("%ld bodies ran, fewer than %ld", ran, n);
    bench_metric("coros", (double)n, "coros");
    bench_metric("ns_per_coro", per * 1e9, "ns/coro");
    free(coros);
    return 0;
}
