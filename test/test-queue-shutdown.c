/*
 * pc_queue_shutdown racing with puts, made deterministic.
 *
 * The unbounded FIFO allocates its next segment inside the put that takes
 * a segment's last slot, after the put checked for shutdown and before it
 * claims the slot.  An allocator hook that stops there holds a put in the
 * middle while the main thread shuts the queue down and gets: the window a
 * preempted putter would leave open.
 *
 * What must hold (Python's queue does all of it under one mutex): a put
 * that reports success is ordered before the shutdown, so a getter that
 * drains until -EPIPE sees its item; a put ordered after the shutdown
 * fails with -EPIPE and leaves nothing behind.
 */
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>

#include "held-alloc.h"

#define P(i) ((void *)(intptr_t)(i))

static void count_discard(void *item, void *arg) {
    (void)item;
    atomic_fetch_add((_Atomic int *)arg, 1);
}

struct putter {
    pc_queue *q;
    int rc;
};

static void *put_one(void *arg) {
    struct putter *p = arg;
    p->rc = pc_queue_put(p->q, P(42), PC_FOREVER);
    return NULL;
}

/* An empty queue whose next put allocates; that put is held in the
 * allocator when this returns. */
static pthread_t start_held_put(struct putter *p) {
    void *item;
    for (int i = 0; i < SEG_ITEMS - 1; i++) {
        expect_rc(pc_queue_put_nowait(p->q, P(i)), 0);
        expect_rc(pc_queue_get_nowait(p->q, &item), 0);
    }
    atomic_store(&hold_allocs, true);
    pthread_t t = start_pthread(put_one, p);
    cr_assert_eq(sem_wait(&in_alloc), 0);
    return t;
}

static const pc_queue_opts unbounded_kinds[] = {
    {.kind = PC_QUEUE_FIFO},
    {.kind = PC_QUEUE_SIMPLE},
    {.kind = PC_QUEUE_FIFO, .maxsize = 70000}, /* segments + admission */
};

/*
 * Shutdown, then a get finds the queue empty and reports -EPIPE ("shut
 * down and drained"), then the held put finishes.  Reporting success now
 * would be a put whose item no drainer ever sees.
 */
Test(queue_shutdown, put_in_flight_across_plain_shutdown, .init = setup, .fini = teardown,
     .timeout = 30) {
    for (size_t k = 0; k < 3; k++) {
        _Atomic int discarded = 0;
        pc_queue_opts o = unbounded_kinds[k];
        o.discard = count_discard;
        o.discard_arg = &discarded;
        struct putter p = {0};
        expect_rc(pc_queue_new(&p.q, &o), 0);
        pthread_t t = start_held_put(&p);
        expect_rc(pc_queue_shutdown(p.q, false), 0);
        void *item;
        int got = pc_queue_get_nowait(p.q, &item);
        cr_assert_eq(sem_post(&release_alloc), 0);
        pthread_join(t, NULL);
        if (p.rc == 0)
            cr_assert_eq(got, 0, "kind %zu: put succeeded after a get saw the queue drained", k);
        else
            expect_rc(p.rc, -EPIPE);
        expect_rc(pc_queue_get_nowait(p.q, &item), -EPIPE);
        pc_queue_free(p.q);
        cr_assert_eq(atomic_load(&discarded), 0);
    }
}

/* The same with an immediate shutdown: the put either fails, or succeeds
 * and its item is discarded; it is never left in the queue. */
Test(queue_shutdown, put_in_flight_across_immediate_shutdown, .init = setup, .fini = teardown,
     .timeout = 30) {
    for (size_t k = 0; k < 3; k++) {
        _Atomic int discarded = 0;
        pc_queue_opts o = unbounded_kinds[k];
        o.discard = count_discard;
        o.discard_arg = &discarded;
        struct putter p = {0};
        expect_rc(pc_queue_new(&p.q, &o), 0);
        pthread_t t = start_held_put(&p);
        expect_rc(pc_queue_shutdown(p.q, true), 0);
        cr_assert_eq(sem_post(&release_alloc), 0);
        pthread_join(t, NULL);
        void *item;
        expect_rc(pc_queue_get_nowait(p.q, &item), -EPIPE);
        cr_assert_eq(pc_queue_qsize(p.q), 0);
        if (p.rc == 0)
            cr_assert_eq(atomic_load(&discarded), 1, "an accepted item was not discarded");
        else
            expect_rc(p.rc, -EPIPE);
        pc_queue_free(p.q);
        cr_assert_eq(atomic_load(&discarded), p.rc == 0 ? 1 : 0);
    }
}
