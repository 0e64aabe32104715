/*
 * The eval breaker when nobody waits: pc_gil_check() on a held GIL in a
 * loop.  Figure: ns_per_check (the loop's own counting included).
 *   --floor 1     the same loop around a bare relaxed load of an atomic
 *                 flag and a branch: what a check cannot beat
 *   --waiting 1   a thread waits for the GIL meanwhile (switch interval
 *                 100 s, so no switch): the check counts down to its
 *                 clock reads
 *   --budget X    print X (the 1 ns target; see gilbench.h)
 */
#include <stdatomic.h>
#include <time.h>

#include "gilbench.h"
#include "pyconc/gil.h"

static _Atomic uint32_t flag;
static long tripped;

static void *waiter_main(void *arg) {
    pc_gil *g = arg;
    bench_check(pc_gil_acquire(g, PC_FOREVER), "pc_gil_acquire");
    bench_check(pc_gil_release(g), "pc_gil_release");
    return NULL;
}

static void trip(void) {
    tripped++;
}

static double check_loop(long n, void *arg) {
    pc_gil *g = arg;
    int bad = 0;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        bad |= pc_gil_check(g);
    int64_t t1 = bench_now_ns();
    bench_check(bad, "pc_gil_check");
    return (double)(t1 - t0) * 1e-9;
}

static double floor_loop(long n, void *arg) {
    (void)arg;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        if (__builtin_expect(atomic_load_explicit(&flag, memory_order_relaxed) != 0, 0))
            trip();
    int64_t t1 = bench_now_ns();
    return (double)(t1 - t0) * 1e-9;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    gilbench_budget("ns_per_check", "ns");
    bool floor_ = bench_opt_long("floor", 0) != 0;
    bool waiting = bench_opt_long("waiting", 0) != 0;
    bench_opts_done();
    bench_go_multithreaded();
    pc_gil *g;
    pc_gil_opts o = {.switch_interval = waiting ? 100.0 : 0};
    bench_check(pc_gil_new(&g, &o), "pc_gil_new");
    bench_check(pc_gil_acquire(g, 0), "pc_gil_acquire");
    pthread_t w;
    if (waiting) {
        bench_thread(&w, waiter_main, g);
        pc_gil_stats st;
        do {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            bench_check(pc_gil_get_stats(g, &st), "pc_gil_get_stats");
        } while (st.waiting == 0);
    }
    long n;
    double per = bench_per_op(floor_ ? floor_loop : check_loop, g, &n);
    bench_metric("checks", (double)n, "checks");
    bench_metric("ns_per_check", per * 1e9, "ns");
    pc_gil_release(g);
    if (waiting)
        pthread_join(w, NULL);
    pc_gil_free(g);
    return tripped != 0;
}
