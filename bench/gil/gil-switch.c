/*
 * Two CPU-bound threads under one GIL: how long each keeps it before a
 * forced switch.  Each thread does a little work between checks and
 * notes the time of its last check before a switch.  Figure: turn_ms, the
 * median turn (the first turn of each thread, begun before the other
 * waited, left out); the target is the switch interval.
 *   --interval-ms 5   the switch interval
 *   --seconds 1       how long both threads run
 *   --budget X        print X (see gilbench.h)
 */
#include <stdatomic.h>
#include <stdio.h>

#include "gilbench.h"
#include "pyconc/gil.h"

#define MAXT 100000

struct cpu {
    pc_gil *g;
    _Atomic bool *stop;
    double *turns;
    int n;
};

static double now_s(void) {
    return (double)bench_now_ns() / 1e9;
}

static void *cpu_main(void *arg) {
    struct cpu *c = arg;
    bench_check(pc_gil_acquire(c->g, PC_FOREVER), "pc_gil_acquire");
    double start = now_s(), last = start;
    bool first = true;
    while (!atomic_load_explicit(c->stop, memory_order_relaxed)) {
        for (volatile int i = 0; i < 100; i++) /* about a bytecode's worth */
            ;
        last = now_s();
        int r = pc_gil_check(c->g);
        bench_check(r < 0, "pc_gil_check");
        if (r) {
            if (!first && c->n < MAXT)
                c->turns[c->n++] = last - start;
            first = false;
            start = now_s();
        }
    }
    bench_check(pc_gil_release(c->g), "pc_gil_release");
    return NULL;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    gilbench_budget("turn_ms", "ms");
    double interval = (double)bench_opt_long("interval-ms", 5) / 1e3;
    double seconds = (double)bench_opt_long("seconds", 1);
    bench_opts_done();
    pc_gil *g;
    pc_gil_opts o = {.switch_interval = interval};
    bench_check(pc_gil_new(&g, &o), "pc_gil_new");
    _Atomic bool stop = false;
    static double turns[2][MAXT], all[2 * MAXT];
    struct cpu c[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        c[i] = (struct cpu){.g = g, .stop = &stop, .turns = turns[i]};
        bench_thread(&t[i], cpu_main, &c[i]);
    }
    struct timespec ts = {(time_t)seconds, 0};
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    int n = 0;
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        for (int j = 0; j < c[i].n; j++)
            all[n++] = turns[i][j] * 1e3;
    }
    if (n < 10)
        bench_die("only %d turns", n);
    printf("# %d turns: p10 %.3f ms, p90 %.3f ms\n", n, gilbench_quantile(all, n, 0.1),
           gilbench_quantile(all, n, 0.9));
    bench_metric("turns", n, "turns");
    bench_metric("turn_ms", gilbench_quantile(all, n, 0.5), "ms");
    pc_gil_free(g);
    return 0;
}
