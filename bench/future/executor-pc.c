/*
 * pyconc: loop.run_in_executor round trip.  A coroutine submits a task
 * that returns at once (pc_loop_run_in_executor) and waits for its
 * future (pc_future_value), which parks the coroutine until an executor
 * thread has run the task; n such round trips one after the other.
 * --from thread does the same from the plain main thread (the future's
 * wait blocks the thread).  Figure: ns_per_roundtrip.  Peer: asyncio's
 * `await loop.run_in_executor(None, f)` (bench/future/pyexecutor.py).
 */
#include <string.h>

#include <pyconc.h>

#include "bench.h"

static int task(void *arg, void **value) {
    *value = arg;
    return 0;
}

static int token;

static void round_trips(long n) {
    for (long i = 0; i < n; i++) {
        pc_future *f;
        void *v = NULL;
        bench_check(pc_loop_run_in_executor(NULL, task, &token, &f), "pc_loop_run_in_executor");
        bench_check(pc_future_value(f, &v, PC_FOREVER), "pc_future_value");
        if (v != &token)
            bench_die("wrong value");
        pc_future_release(f);
    }
}

static int coro_body(void *arg, void **value) {
    (void)value;
    round_trips(*(long *)arg);
    return 0;
}

static double in_coro(long n, void *arg) {
    (void)arg;
    int64_t t0 = bench_now_ns();
    pc_coro *c;
    bench_check(pc_coro_spawn(&c, coro_body, &n, NULL), "pc_coro_spawn");
    bench_check(pc_coro_join(c, PC_FOREVER), "pc_coro_join");
    bench_check(pc_coro_error(c), "the coroutine");
    pc_coro_free(c);
    return (double)(bench_now_ns() - t0) * 1e-9;
}

static double in_thread(long n, void *arg) {
    (void)arg;
    int64_t t0 = bench_now_ns();
    round_trips(n);
    return (double)(bench_now_ns() - t0) * 1e-9;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    const char *from = bench_opt_str("from", "coro");
    bench_opts_done();
    bench_loop_fn fn;
    if (strcmp(from, "coro") == 0)
        fn = in_coro;
    else if (strcmp(from, "thread") == 0)
        fn = in_thread;
    else
        bench_die("--from must be coro or thread");
    long n;
    double per = bench_per_op(fn, NULL, &n);
    bench_metric("ns_per_roundtrip", per * 1e9, "ns");
    return 0;
}
