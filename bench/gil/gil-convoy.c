/*
 * The convoy effect (bpo-7946): one thread does short blocking waits (1 ms
 * sleeps) while CPU-bound threads run under the same GIL.  Latency: how
 * long after its sleep was due the waiting thread holds the GIL again.
 * Figures, in switch intervals: p50_intervals and p99_intervals (the whole
 * lateness: the kernel's wake-up and the GIL's, what CPython's script can
 * see), gil_p50_intervals and gil_p99_intervals (the GIL's share alone:
 * from the sleep's return to holding the GIL).
 *   --priority 1      PC_GIL_IO_PRIORITY (bpo-7946's remedy)
 *   --cpu 1           CPU-bound threads
 *   --waits 200       sleeps of the IO thread
 *   --interval-ms 5   the switch interval
 *   --budget X        print X as gil_p99_intervals (see gilbench.h)
 * bench/gil/pyconvoy.py measures the same on CPython.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "gilbench.h"
#include "pyconc/base.h"
#include "pyconc/gil.h"

static pc_gil *g;
static _Atomic bool stop;

static void *cpu_main(void *arg) {
    (void)arg;
    bench_check(pc_gil_acquire(g, PC_FOREVER), "pc_gil_acquire");
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (volatile int i = 0; i < 100; i++)
            ;
        bench_check(pc_gil_check(g) < 0, "pc_gil_check");
    }
    bench_check(pc_gil_release(g), "pc_gil_release");
    return NULL;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    gilbench_budget("gil_p99_intervals", "intervals");
    bool prio = bench_opt_long("priority", 0) != 0;
    long ncpu = bench_opt_long("cpu", 1), waits = bench_opt_long("waits", 200);
    double interval = (double)bench_opt_long("interval-ms", 5) / 1e3;
    bench_opts_done();
    if (ncpu < 1 || ncpu > 64 || waits < 10)
        bench_die("--cpu 1..64, --waits >= 10");
    pc_gil_opts o = {.switch_interval = interval, .flags = prio ? PC_GIL_IO_PRIORITY : 0};
    bench_check(pc_gil_new(&g, &o), "pc_gil_new");
    pthread_t t[64];
    for (long i = 0; i < ncpu; i++)
        bench_thread(&t[i], cpu_main, NULL);
    /* this thread is the IO thread */
    bench_check(pc_gil_attach(g), "pc_gil_attach");
    bench_check(pc_gil_acquire(g, PC_FOREVER), "pc_gil_acquire");
    double *lat = malloc(sizeof *lat * (size_t)waits), *gil = malloc(sizeof *gil * (size_t)waits);
    if (!lat || !gil)
        bench_die("no memory");
    for (long i = 0; i < waits; i++) {
        /* what pc_sleep(0.001) does for an attached thread, spelled out
         * to time the two parts: the kernel's wake-up, the GIL's */
        int64_t t0 = bench_now_ns();
        pc_gil *saved = pc_gil_save();
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        int64_t t1 = bench_now_ns();
        bench_check(pc_gil_restore(saved), "pc_gil_restore");
        int64_t t2 = bench_now_ns();
        lat[i] = ((double)(t2 - t0) / 1e9 - 0.001) / interval;
        gil[i] = (double)(t2 - t1) / 1e9 / interval;
    }
    bench_check(pc_gil_release(g), "pc_gil_release");
    atomic_store(&stop, true);
    for (long i = 0; i < ncpu; i++)
        pthread_join(t[i], NULL);
    int n = (int)waits;
    gilbench_quantile(lat, n, 0.5); /* sorts: lat[n - 1] is the longest */
    printf("# latency in ms: p50 %.3f p90 %.3f p99 %.3f max %.3f\n",
           gilbench_quantile(lat, n, 0.5) * interval * 1e3,
           gilbench_quantile(lat, n, 0.9) * interval * 1e3,
           gilbench_quantile(lat, n, 0.99) * interval * 1e3, lat[n - 1] * interval * 1e3);
    bench_metric("p50_intervals", gilbench_quantile(lat, n, 0.5), "intervals");
    bench_metric("p99_intervals", gilbench_quantile(lat, n, 0.99), "intervals");
    bench_metric("gil_p50_intervals", gilbench_quantile(gil, n, 0.5), "intervals");
    bench_metric("gil_p99_intervals", gilbench_quantile(gil, n, 0.99), "intervals");
    free(lat);
    free(gil);
    bench_check(pc_gil_detach(g), "pc_gil_detach");
    pc_gil_free(g);
    return 0;
}
