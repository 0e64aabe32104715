/*
 * Total throughput of N CPU-bound threads under one GIL beside one thread
 * doing all the work: the cost of switching.  The work is a fixed number
 * of chunks (about 20 us each); the threads take chunks from a counter
 * guarded by the GIL itself and check the eval breaker after each one.
 * Figure: chunks_per_s (the median of the passes).
 *   --threads 1   threads sharing the work
 *   --chunks N    chunks per pass (default: about 0.25 s of work)
 */
#include <stdio.h>

#include "bench.h"
#include "pyconc/gil.h"

static pc_gil *g;
static long left; /* guarded by g */
static volatile unsigned long sink;

static void chunk(void) {
    unsigned long x = sink;
    for (int i = 0; i < 20000; i++)
        x = x * 6364136223846793005UL + 1442695040888963407UL;
    sink = x;
}

static void *worker(void *arg) {
    (void)arg;
    bench_check(pc_gil_acquire(g, PC_FOREVER), "pc_gil_acquire");
    while (left > 0) {
        left--;
        chunk();
        bench_check(pc_gil_check(g) < 0, "pc_gil_check");
    }
    bench_check(pc_gil_release(g), "pc_gil_release");
    return NULL;
}

static double pass(long threads, long chunks) {
    left = chunks;
    int64_t t0 = bench_now_ns();
    pthread_t t[64];
    for (long i = 0; i < threads; i++)
        bench_thread(&t[i], worker, NULL);
    for (long i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return (double)chunks / ((double)(bench_now_ns() - t0) / 1e9);
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    long threads = bench_opt_long("threads", 1), chunks = bench_opt_long("chunks", 0);
    bench_opts_done();
    if (threads < 1 || threads > 64)
        bench_die("--threads 1..64");
    bench_check(pc_gil_new(&g, NULL), "pc_gil_new");
    if (chunks <= 0) { /* calibrate on one thread */
        int64_t t0 = bench_now_ns();
        for (int i = 0; i < 100; i++)
            chunk();
        double per = (double)(bench_now_ns() - t0) / 1e9 / 100;
        chunks = (long)(bench_target_s() / per);
        if (chunks < 100)
            chunks = 100;
    }
    int passes = bench_passes();
    double v[64];
    for (int i = 0; i < passes && i < 64; i++) {
        v[i] = pass(threads, chunks);
        printf("# pass %d: %.0f chunks/s\n", i, v[i]);
    }
    bench_metric("chunks", (double)chunks, "chunks");
    bench_metric("chunks_per_s", bench_median(v, passes < 64 ? passes : 64), "chunks/s");
    pc_gil_free(g);
    return 0;
}
