/* The round-trip harness (see pingpong.h). */
#include "pingpong.h"

#include "bench.h"

typedef struct pp {
    const pingpong_ops *ops;
    void *ping, *pong;
    long n;
    pthread_barrier_t start;
} pp;

static void *partner(void *arg) {
    pp *p = arg;
    pthread_barrier_wait(&p->start);
    for (long i = 0; i < p->n; i++) {
        p->ops->wait(p->ping);
        p->ops->signal(p->pong);
    }
    return NULL;
}

static double loop(long n, void *arg) {
    pp *p = arg;
    pthread_t t;
    p->n = n;
    bench_thread(&t, partner, p);
    pthread_barrier_wait(&p->start);
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        p->ops->signal(p->ping);
        p->ops->wait(p->pong);
    }
    int64_t t1 = bench_now_ns();
    pthread_join(t, NULL);
    return (double)(t1 - t0) * 1e-9;
}

int pingpong_main(const pingpong_ops *ops) {
    bench_opts_done();
    pp p = {.ops = ops, .ping = ops->make(), .pong = ops->make()};
    pthread_barrier_init(&p.start, NULL, 2);
    long n;
    double per = bench_per_op(loop, &p, &n);
    pthread_barrier_destroy(&p.start);
    ops->destroy(p.ping);
    ops->destroy(p.pong);
    bench_metric("roundtrips", (double)n, "roundtrips");
    bench_metric("ns_per_roundtrip", per * 1e9, "ns/roundtrip");
    return 0;
}
