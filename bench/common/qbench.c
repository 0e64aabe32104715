/*
 * The producer/consumer harness (see qbench.h).
 *
 * The end of a pass is signalled through the queue itself (one marker per
 * consumer, put after every producer finished) rather than by a shared
 * counter the consumers decrement: a counter would add a contended atomic
 * per item, the same for every implementation, and hide the differences
 * the benchmark is after.  Each thread counts into its own cache line.
 */
#include "qbench.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define END_MARK ((void *)UINTPTR_MAX)
enum { MAX_THREADS = 64 };

typedef struct side {
    const qbench_ops *ops;
    void *q;
    pthread_barrier_t *start;
    uintptr_t first, count; /* a producer's items: first..first+count-1 */
    uintptr_t sum, got;     /* a consumer's tally */
    bool check_order;       /* a consumer: verify FIFO order */
    bool bad_order;
    char pad[64];
} side;

static void *producer(void *arg) {
    side *s = arg;
    pthread_barrier_wait(s->start);
    for (uintptr_t i = 0; i < s->count; i++)
        s->ops->put(s->q, (void *)(s->first + i));
    return NULL;
}

static void *consumer(void *arg) {
    side *s = arg;
    uintptr_t sum = 0, got = 0, next = 1;
    pthread_barrier_wait(s->start);
    for (;;) {
        void *it = s->ops->get(s->q);
        if (it == END_MARK)
            break;
        if (s->check_order && (uintptr_t)it != next++)
            s->bad_order = true;
        sum += (uintptr_t)it;
        got++;
    }
    s->sum = sum;
    s->got = got;
    return NULL;
}

/* One pass; returns the seconds from the start barrier to the last consumer. */
static double pass(const qbench_ops *ops, void *q, int np, int nc, uintptr_t items) {
    pthread_barrier_t start;
    pthread_t tp[MAX_THREADS], tc[MAX_THREADS];
    side ps[MAX_THREADS], cs[MAX_THREADS];
    pthread_barrier_init(&start, NULL, (unsigned)(np + nc + 1));
    uintptr_t per = items / (uintptr_t)np;
    for (int i = 0; i < np; i++) {
        ps[i] = (side){.ops = ops, .q = q, .start = &start, .first = 1 + per * (uintptr_t)i};
        ps[i].count = i == np - 1 ? items - per * (uintptr_t)i : per;
        bench_thread(&tp[i], producer, &ps[i]);
    }
    for (int i = 0; i < nc; i++) {
        cs[i] = (side){.ops = ops, .q = q, .start = &start};
        cs[i].check_order = ops->fifo && np == 1 && nc == 1;
        bench_thread(&tc[i], consumer, &cs[i]);
    }
    pthread_barrier_wait(&start);
    int64_t t0 = bench_now_ns();
    for (int i = 0; i < np; i++)
        pthread_join(tp[i], NULL);
    for (int i = 0; i < nc; i++)
        ops->put(q, END_MARK);
    uintptr_t sum = 0, got = 0;
    bool bad_order = false;
    for (int i = 0; i < nc; i++) {
        pthread_join(tc[i], NULL);
        sum += cs[i].sum;
        got += cs[i].got;
        bad_order |= cs[i].bad_order;
    }
    int64_t t1 = bench_now_ns();
    pthread_barrier_destroy(&start);
    if (got != items || sum != items * (items + 1) / 2)
        bench_die("items lost or doubled: got %ju of %ju, sum %ju", (uintmax_t)got,
                  (uintmax_t)items, (uintmax_t)sum);
    if (bad_order)
        bench_die("items came out of order");
    return (double)(t1 - t0) * 1e-9;
}

int qbench_main(const qbench_ops *ops) {
    long np = bench_opt_long("producers", 1), nc = bench_opt_long("consumers", 1);
    long items = bench_opt_long("items", 4000000), maxsize = bench_opt_long("maxsize", 0);
    bench_opts_done();
    if (np < 1 || nc < 1 || np > MAX_THREADS || nc > MAX_THREADS || items < np * 10 || maxsize < 0)
        bench_die("bad --producers/--consumers/--items/--maxsize");
    void *q = ops->make(maxsize);
    pass(ops, q, (int)np, (int)nc, (uintptr_t)items / 10);
    double secs[99];
    int passes = bench_passes();
    for (int i = 0; i < passes; i++) {
        secs[i] = pass(ops, q, (int)np, (int)nc, (uintptr_t)items);
        printf("# pass %d: %.4g items/s\n", i + 1, (double)items / secs[i]);
    }
    double s = bench_median(secs, passes);
    ops->destroy(q);
    bench_metric("items", (double)items, "items");
    bench_metric("seconds", s, "s");
    bench_metric("items_per_s", (double)items / s, "items/s");
    bench_metric("ns_per_item", s * 1e9 / (double)items, "ns/item");
    return 0;
}
