/*
 * pyconc: yield round-robin.  --coros N (default 100) coroutines each
 * loop on pc_coro_yield() until the pass's budget of yields is spent;
 * the loop runs them in turn, so every yield is one switch from one
 * coroutine to the next through the loop.  A pass spawns the N, runs the
 * loop (pc_loop_run) until all have ended, and counts the yields made;
 * the N spawns and ends are in the pass but negligible beside its
 * millions of yields.  Figures: ns_per_switch (per yield) and
 * switches_per_s.  Peers: the bare ring `switch-bare --ring 100`, and
 * gevent.sleep(0) / asyncio.sleep(0) in coro/pyyield.py.
 */
#include <stdint.h>
#include <stdlib.h>

#include <pyconc/loop.h>

#include "bench.h"

#define YIELD_COROS_MAX 10000

static long ncoros;
static long budget; /* yields left in this pass (only the loop's thread) */
static long yields; /* yields made in this pass */
static pc_coro **coros;

static int yielder(void *arg, void **value) {
    (void)arg;
    (void)value;
    while (budget > 0) {
        budget--;
        bench_check(pc_coro_yield(), "pc_coro_yield");
        yields++;
    }
    return 0;
}

static double yield_loop(long n, void *arg) {
    (void)arg;
    budget = n;
    yields = 0;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < ncoros; i++)
        bench_check(pc_coro_spawn(&coros[i], yielder, NULL, NULL), "pc_coro_spawn");
    bench_check(pc_loop_run(pc_loop_current()), "pc_loop_run");
    double s = (double)(bench_now_ns() - t0) * 1e-9;
    for (long i = 0; i < ncoros; i++)
        pc_coro_free(coros[i]);
    if (yields != n)
        bench_die("%ld yields made, not %ld", yields, n);
    return s;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    ncoros = bench_opt_long("coros", 100);
    bench_opts_done();
    if (ncoros < 1 || ncoros > YIELD_COROS_MAX)
        bench_die("--coros must be 1..%d", YIELD_COROS_MAX);
    coros = calloc((size_t)ncoros, sizeof *coros);
    if (!coros)
        bench_die("out of memory");
    long n;
    double per = bench_per_op(yield_loop, NULL, &n);
    bench_metric("switches", (double)n, "switches");
    bench_metric("ns_per_switch", per * 1e9, "ns/switch");
    bench_metric("switches_per_s", 1 / per, "switches/s");
    free(coros);
    return 0;
}
