/*
 * The unbounded FIFO's segment boundary under concurrency, made
 * deterministic.  The put that takes a segment's last slot allocates the
 * next segment first (before its claim); an allocator hook stops it there
 * while the main thread puts, and pc_alloc_fail_nth() makes the main
 * thread's own allocation fail.  What must hold: a put that fails with
 * -ENOMEM changed nothing; a put that allocated in vain (another took the
 * last slot meanwhile) gives the segment back and lands in the next one;
 * items come out once each, in order; ASan sees no leak.
 */
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>

#include "held-alloc.h"

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

struct putter {
    pc_queue *q;
    void *item;
    int rc;
};

static void *put_one(void *arg) {
    struct putter *p = arg;
    p->rc = pc_queue_put(p->q, p->item, PC_FOREVER);
    return NULL;
}

/* Move an empty queue's tail to the last slot of its segment. */
static void to_last_slot(pc_queue *q) {
    void *item;
    for (int i = 0; i < SEG_ITEMS - 1; i++) {
        expect_rc(pc_queue_put_nowait(q, P(-1)), 0);
        expect_rc(pc_queue_get_nowait(q, &item), 0);
    }
}

/* Start a put of `item` and return once it is stopped in its allocation. */
static pthread_t start_held_put(struct putter *p, pc_queue *q, void *item) {
    *p = (struct putter){.q = q, .item = item, .rc = 1};
    atomic_store(&hold_allocs, true);
    pthread_t t = start_pthread(put_one, p);
    cr_assert_eq(sem_wait(&in_alloc), 0);
    return t;
}

static void finish_held_put(pthread_t t) {
    cr_assert_eq(sem_post(&release_alloc), 0);
    pthread_join(t, NULL);
}

/* Get everything left; it must be exactly want[0..n). */
static void expect_contents(pc_queue *q, const int *want, int n) {
    void *item;
    for (int i = 0; i < n; i++) {
        expect_rc(pc_queue_get_nowait(q, &item), 0);
        cr_assert_eq(I(item), want[i], "item %d: got %d, want %d", i, I(item), want[i]);
    }
    expect_rc(pc_queue_get_nowait(q, &item), -EAGAIN);
}

/* Segments still work after: many puts across boundaries, in order. */
static void expect_healthy(pc_queue *q) {
    for (int i = 0; i < 5 * SEG_ITEMS; i++)
        expect_rc(pc_queue_put_nowait(q, P(1000 + i)), 0);
    void *item;
    for (int i = 0; i < 5 * SEG_ITEMS; i++) {
        expect_rc(pc_queue_get_nowait(q, &item), 0);
        cr_assert_eq(I(item), 1000 + i);
    }
}

/* A holds the boundary in its allocation; B's allocation fails: B's put
 * reports -ENOMEM and leaves nothing; A then lands. */
Test(queue_segment, failed_allocation_beside_a_held_one_changes_nothing, .init = setup,
     .fini = teardown, .timeout = 30) {
    pc_queue *q;
    expect_rc(pc_queue_new(&q, NULL), 0);
    to_last_slot(q);
    struct putter a;
    pthread_t t = start_held_put(&a, q, P(1));
    pc_alloc_fail_nth(1);
    expect_rc(pc_queue_put_nowait(q, P(2)), -ENOMEM);
    pc_alloc_fail_nth(0);
    cr_assert_eq(pc_queue_qsize(q), 0);
    void *item;
    expect_rc(pc_queue_get_nowait(q, &item), -EAGAIN);
    finish_held_put(t);
    expect_rc(a.rc, 0);
    expect_contents(q, (int[]){1}, 1);
    expect_healthy(q);
    pc_queue_free(q);
}

/* A holds the boundary in its allocation; B allocates too and takes the
 * last slot, C puts into the new segment; A's allocation was in vain: it
 * gives it back and lands after C. */
Test(queue_segment, allocation_in_vain_is_given_back, .init = setup, .fini = teardown,
     .timeout = 30) {
    pc_queue *q;
    expect_rc(pc_queue_new(&q, NULL), 0);
    to_last_slot(q);
    struct putter a;
    pthread_t t = start_held_put(&a, q, P(1));
    expect_rc(pc_queue_put_nowait(q, P(2)), 0); /* the last slot */
    expect_rc(pc_queue_put_nowait(q, P(3)), 0); /* the next segment's first */
    finish_held_put(t);
    expect_rc(a.rc, 0);
    cr_assert_eq(pc_queue_qsize(q), 3);
    expect_contents(q, (int[]){2, 3, 1}, 3);
    expect_healthy(q);
    pc_queue_free(q); /* ASan: the segment A gave back is not leaked */
}

/* A consumed segment is kept as the spare and reused: the next boundary
 * allocates nothing, so an allocation failure armed there is not hit. */
Test(queue_segment, the_spare_segment_is_reused, .init = setup, .fini = teardown, .timeout = 30) {
    pc_queue *q;
    void *item;
    expect_rc(pc_queue_new(&q, NULL), 0);
    for (int i = 0; i < SEG_ITEMS; i++) /* fill segment 0; allocates segment 1 */
        expect_rc(pc_queue_put_nowait(q, P(i)), 0);
    for (int i = 0; i < SEG_ITEMS; i++) /* empty it: segment 0 becomes the spare */
        expect_rc(pc_queue_get_nowait(q, &item), 0);
    for (int i = 0; i < SEG_ITEMS - 1; i++)
        expect_rc(pc_queue_put_nowait(q, P(i)), 0);
    long before = pc_alloc_count();
    pc_alloc_fail_nth(1);
    expect_rc(pc_queue_put_nowait(q, P(SEG_ITEMS - 1)), 0); /* takes the spare */
    pc_alloc_fail_nth(0);
    cr_assert_eq(pc_alloc_count(), before, "the boundary allocated despite a spare");
    for (int i = 0; i < SEG_ITEMS; i++) {
        expect_rc(pc_queue_get_nowait(q, &item), 0);
        cr_assert_eq(I(item), i);
    }
    expect_healthy(q);
    pc_queue_free(q);
}
