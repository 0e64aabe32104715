/*
 * pc_queue under contention: producers and consumers move numbered items;
 * every item must come out exactly once, per-producer order must hold for
 * FIFO kinds, and nobody may hang.  Small capacities force the blocking
 * paths (full and empty) all the time; the unbounded FIFO crosses many
 * segments, exercising their hand-over and reclamation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

#define PRODUCERS 3
#define CONSUMERS 3
#define PER_PRODUCER 60000

struct run {
    pc_queue *q;
    bool fifo;
    _Atomic int next_producer;
    unsigned char *seen; /* one byte per item, set by its consumer */
    long last[CONSUMERS][PRODUCERS];
    _Atomic int next_consumer;
    _Atomic long consumed;
};

static void *produce(void *arg) {
    struct run *r = arg;
    long p = atomic_fetch_add(&r->next_producer, 1);
    for (long i = 0; i < PER_PRODUCER; i++) {
        long v = p * PER_PRODUCER + i + 1; /* never NULL, to tell items apart */
        expect_rc(pc_queue_put(r->q, (void *)v, 30.0), 0);
    }
    return NULL;
}

static void *consume(void *arg) {
    struct run *r = arg;
    int c = atomic_fetch_add(&r->next_consumer, 1);
    for (int p = 0; p < PRODUCERS; p++)
        r->last[c][p] = -1;
    void *item;
    int rc;
    while ((rc = pc_queue_get(r->q, &item, 30.0)) == 0) {
        long v = (long)item - 1;
        cr_assert(v >= 0 && v < PRODUCERS * PER_PRODUCER, "bogus item %ld", v);
        cr_assert_eq(r->seen[v], 0, "item %ld delivered twice", v);
        r->seen[v] = 1;
        long p = v / PER_PRODUCER, i = v % PER_PRODUCER;
        if (r->fifo) /* one consumer sees one producer's items in order */
            cr_assert(i > r->last[c][p], "item %ld of producer %ld out of order", i, p);
        r->last[c][p] = i;
        atomic_fetch_add(&r->consumed, 1);
    }
    expect_rc(rc, -EPIPE);
    return NULL;
}

static void run_mpmc(pc_queue_opts opts, bool fifo) {
    struct run r = {.fifo = fifo};
    expect_rc(pc_queue_new(&r.q, &opts), 0);
    r.seen = calloc(PRODUCERS * PER_PRODUCER, 1);
    pthread_t p[PRODUCERS], c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        c[i] = start_pthread(consume, &r);
    for (int i = 0; i < PRODUCERS; i++)
        p[i] = start_pthread(produce, &r);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(p[i], NULL);
    expect_rc(pc_queue_shutdown(r.q, false), 0); /* consumers drain, then -EPIPE */
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(c[i], NULL);
    cr_assert_eq(atomic_load(&r.consumed), (long)PRODUCERS * PER_PRODUCER);
    for (long v = 0; v < PRODUCERS * PER_PRODUCER; v++)
        cr_assert(r.seen[v], "item %ld lost", v);
    free(r.seen);
    pc_queue_free(r.q);
}

static int cmp_long(const void *a, const void *b, void *arg) {
    (void)arg;
    return (long)a < (long)b ? -1 : (long)a > (long)b;
}

Test(queue_stress, ring_tiny_capacity, .timeout = 120) {
    run_mpmc((pc_queue_opts){.maxsize = 2}, true);
}
Test(queue_stress, ring_one_slot, .timeout = 120) {
    run_mpmc((pc_queue_opts){.maxsize = 1}, true);
}
Test(queue_stress, ring_1024, .timeout = 120) {
    run_mpmc((pc_queue_opts){.maxsize = 1024}, true);
}
Test(queue_stress, unbounded_segments, .timeout = 120) {
    run_mpmc((pc_queue_opts){.maxsize = 0}, true);
}
Test(queue_stress, simple, .timeout = 120) {
    run_mpmc((pc_queue_opts){.kind = PC_QUEUE_SIMPLE}, true);
}
Test(queue_stress, lifo_bounded, .timeout = 120) {
    run_mpmc((pc_queue_opts){.kind = PC_QUEUE_LIFO, .maxsize = 3}, false);
}
Test(queue_stress, priority_bounded, .timeout = 120) {
    run_mpmc((pc_queue_opts){.kind = PC_QUEUE_PRIORITY, .maxsize = 5, .cmp = cmp_long}, false);
}

/* Timeouts racing with puts: every item a put reported as accepted comes
 * out; a get that timed out took nothing. */
struct racer {
    pc_queue *q;
    _Atomic long accepted, received;
};

static void *timed_putter(void *arg) {
    struct racer *r = arg;
    for (int i = 0; i < 20000; i++)
        if (pc_queue_put(r->q, (void *)1, (i % 7) * 1e-6) == 0)
            atomic_fetch_add(&r->accepted, 1);
    return NULL;
}

static void *timed_getter(void *arg) {
    struct racer *r = arg;
    void *item;
    for (int i = 0; i < 20000; i++)
        if (pc_queue_get(r->q, &item, (i % 5) * 1e-6) == 0)
            atomic_fetch_add(&r->received, 1);
    return NULL;
}

Test(queue_stress, timeouts_lose_nothing, .timeout = 120) {
    struct racer r = {0};
    expect_rc(pc_queue_new(&r.q, &(pc_queue_opts){.maxsize = 4}), 0);
    pthread_t t[4];
    t[0] = start_pthread(timed_putter, &r);
    t[1] = start_pthread(timed_putter, &r);
    t[2] = start_pthread(timed_getter, &r);
    t[3] = start_pthread(timed_getter, &r);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&r.accepted), atomic_load(&r.received) + pc_queue_qsize(r.q));
    pc_queue_free(r.q);
}
