/*
 * Orientation peer: the textbook bounded queue, a ring of maxsize slots
 * under one pthread mutex with two condition variables (not empty, not
 * full), signalled on every put and get.  What a C programmer writes
 * without a library.
 */
#include <stdlib.h>

#include "bench.h"
#include "qbench.h"

typedef struct ring {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    size_t cap, head, len; /* guarded by mu */
    void **slot;           /* guarded by mu */
} ring;

static void *make(long maxsize) {
    if (maxsize <= 0)
        bench_die("the ring needs --maxsize > 0");
    ring *r = calloc(1, sizeof *r);
    if (!r || !(r->slot = calloc((size_t)maxsize, sizeof *r->slot)))
        bench_die("out of memory");
    r->cap = (size_t)maxsize;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->not_empty, NULL);
    pthread_cond_init(&r->not_full, NULL);
    return r;
}

static void put(void *q, void *item) {
    ring *r = q;
    pthread_mutex_lock(&r->mu);
    while (r->len == r->cap)
        pthread_cond_wait(&r->not_full, &r->mu);
    r->slot[(r->head + r->len++) % r->cap] = item;
    pthread_cond_signal(&r->not_empty);
    pthread_mutex_unlock(&r->mu);
}

static void *get(void *q) {
    ring *r = q;
    pthread_mutex_lock(&r->mu);
    while (r->len == 0)
        pthread_cond_wait(&r->not_empty, &r->mu);
    void *item = r->slot[r->head];
    r->head = (r->head + 1) % r->cap;
    r->len--;
    pthread_cond_signal(&r->not_full);
    pthread_mutex_unlock(&r->mu);
    return item;
}

static void destroy(void *q) {
    ring *r = q;
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->not_empty);
    pthread_cond_destroy(&r->not_full);
    free(r->slot);
    free(r);
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    return qbench_main(&(qbench_ops){make, put, get, destroy, .fifo = true});
}
