/*
 * The ring storage (src/queue/ring.c) from the inside: this file compiles
 * ring.c itself, so a test can leave a producer or consumer stopped between
 * its claim (the CAS on tail or head) and its publication (the store of
 * the slot's seq), the window a preempted thread leaves open.
 *
 * The ring must not answer "empty" while a claimed put is unfinished, nor
 * "full" while a claimed get is: it waits for the step, spinning and then
 * calling sched_yield().  This file's sched_yield() is where the stopped
 * thread gets to finish: one thread, no timing, and an answer given
 * without waiting (the bug) is seen at once.
 *
 * The last tests run the whole blocking layer over such a ring: this file
 * compiles queue.c too.  The linker takes an archive member only for a
 * symbol still undefined, so the library's own queue.c and ring.c objects
 * are not linked in beside these copies.
 */
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../src/queue/queue.c"
#include "../src/queue/ring.c"
#include "probe.h"

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

/* A claimed step left unfinished, finished by the next sched_yield(). */
static struct stalled {
    ring *r;
    size_t pos;
    void *item;
    bool is_put; /* a producer's publication, else a consumer's release */
    pc_queue *q; /* when set, finish as put_once()/get_once() would: wake */
    bool report; /* write a probe report once finished */
    _Atomic bool pending;
} stalled;
static _Atomic int yields;

static void finish_stalled(void) {
    slot *s = slot_of(stalled.r, stalled.pos);
    if (stalled.is_put) {
        s->item = stalled.item;
        atomic_store_explicit(&s->seq, holding(stalled.pos), memory_order_release);
    } else {
        atomic_store_explicit(&s->seq, free_for(stalled.pos + stalled.r->cap),
                              memory_order_release);
    }
    if (stalled.q && stalled.is_put)
        wake_one(stalled.q, &stalled.q->getters, &stalled.q->getters_waiting);
    else if (stalled.q)
        wake_one(stalled.q, &stalled.q->putters, &stalled.q->putters_waiting);
    if (stalled.report) {
        char c = 1;
        cr_assert_eq(write(probe_fd[1], &c, 1), 1);
    }
}

int sched_yield(void) {
    atomic_fetch_add(&yields, 1);
    if (atomic_exchange(&stalled.pending, false))
        finish_stalled();
    return (int)syscall(SYS_sched_yield);
}

static ring *make_ring(long cap) {
    void *r;
    expect_rc(pc__ring_new(&r, cap), 0);
    return r;
}

/* Claim the next put position and leave it unpublished. */
static void stall_put(ring *r, void *item) {
    size_t pos = atomic_fetch_add(&r->tail, 1);
    stalled = (struct stalled){.r = r, .pos = pos, .item = item, .is_put = true};
    atomic_store(&stalled.pending, true);
}

/* Claim the next get position, take its item, leave its slot unreleased. */
static void *stall_get(ring *r) {
    size_t pos = atomic_fetch_add(&r->head, 1);
    slot *s = slot_of(r, pos);
    cr_assert_eq(atomic_load(&s->seq), holding(pos), "stall_get on an unproduced slot");
    stalled = (struct stalled){.r = r, .pos = pos};
    atomic_store(&stalled.pending, true);
    return s->item;
}

/* Move the ring `laps` times around (and then some), so the positions
 * below are not the slots' first ones. */
static void turn(ring *r, long laps) {
    void *item;
    for (long i = 0; i < laps * (long)r->cap + 1; i++) {
        expect_rc(ring_try_put(r, P(-1)), 0);
        expect_rc(ring_try_get(r, &item), 0);
    }
}

static const long caps[] = {2, 3, 5, 8};
#define N_CAPS (sizeof caps / sizeof caps[0])

/*
 * P1 claimed position p and stopped; P2 published p + 1.  A get must wait
 * for p (it answered "empty" before: the lost wake-up of ring.c's note),
 * then the next get takes p + 1.
 */
Test(queue_ring, get_waits_for_a_claimed_put, .timeout = 30) {
    for (size_t c = 0; c < N_CAPS; c++) {
        for (long laps = 0; laps < 3; laps++) {
            ring *r = make_ring(caps[c]);
            turn(r, laps);
            void *item;
            stall_put(r, P(1));
            expect_rc(ring_try_put(r, P(2)), 0);
            atomic_store(&yields, 0);
            int rc = ring_try_get(r, &item);
            cr_assert_eq(rc, 0, "cap %ld: get answered %d with a put claimed and one done", caps[c],
                         rc);
            cr_assert_eq(item, P(1));
            cr_assert(atomic_load(&yields) > 0 && !atomic_load(&stalled.pending));
            expect_rc(ring_try_get(r, &item), 0);
            cr_assert_eq(item, P(2));
            expect_rc(ring_try_get(r, &item), -EAGAIN);
            ring_destroy(r);
        }
    }
}

/* A full ring whose oldest item a consumer claimed but whose slot it has
 * not freed yet: a put must wait for the slot, not answer "full". */
Test(queue_ring, put_waits_for_a_claimed_get, .timeout = 30) {
    for (size_t c = 0; c < N_CAPS; c++) {
        for (long laps = 0; laps < 3; laps++) {
            long cap = caps[c];
            ring *r = make_ring(cap);
            turn(r, laps);
            for (long i = 0; i < cap; i++)
                expect_rc(ring_try_put(r, P(10 + i)), 0);
            cr_assert_eq(stall_get(r), P(10));
            atomic_store(&yields, 0);
            int rc = ring_try_put(r, P(99));
            cr_assert_eq(rc, 0, "cap %ld: put answered %d with a get claimed", cap, rc);
            cr_assert(atomic_load(&yields) > 0 && !atomic_load(&stalled.pending));
            expect_rc(ring_try_put(r, P(100)), -EAGAIN); /* now full for real */
            void *item;
            for (long i = 1; i < cap; i++) {
                expect_rc(ring_try_get(r, &item), 0);
                cr_assert_eq(item, P(10 + i));
            }
            expect_rc(ring_try_get(r, &item), 0);
            cr_assert_eq(item, P(99));
            ring_destroy(r);
        }
    }
}

/* Truly empty and truly full answer at once: nothing to wait for. */
Test(queue_ring, empty_and_full_answer_without_waiting, .timeout = 30) {
    for (size_t c = 0; c < N_CAPS; c++) {
        ring *r = make_ring(caps[c]);
        turn(r, 1);
        void *item;
        atomic_store(&yields, 0);
        expect_rc(ring_try_get(r, &item), -EAGAIN);
        for (long i = 0; i < caps[c]; i++)
            expect_rc(ring_try_put(r, P(i)), 0);
        expect_rc(ring_try_put(r, P(-1)), -EAGAIN);
        cr_assert_eq(atomic_load(&yields), 0);
        cr_assert_eq(ring_size(r), caps[c]);
        ring_destroy(r);
    }
}

/*
 * close(): later puts fail; the items in, and a put claimed before the
 * close, still come out; then gets answer -EPIPE.  size and puts ignore
 * the CLOSED bit.
 */
Test(queue_ring, close_refuses_puts_and_drains, .timeout = 30) {
    for (size_t c = 0; c < N_CAPS; c++) {
        ring *r = make_ring(caps[c]);
        turn(r, 2);
        unsigned long puts0 = ring_puts(r);
        void *item;
        stall_put(r, P(1));
        ring_close(r);
        ring_close(r); /* idempotent */
        expect_rc(ring_try_put(r, P(2)), -EPIPE);
        cr_assert_eq(ring_size(r), 1);
        cr_assert_eq(ring_puts(r), puts0 + 1);
        expect_rc(ring_try_get(r, &item), 0);
        cr_assert_eq(item, P(1));
        expect_rc(ring_try_get(r, &item), -EPIPE);
        expect_rc(ring_try_put(r, P(3)), -EPIPE);
        cr_assert_eq(ring_size(r), 0);
        ring_destroy(r);
    }
}

/* ------------------------------------------- the blocking layer on top */

struct waiter_op {
    pc_queue *q;
    bool put;
    void *item;
    _Atomic int rc;
    pthread_t t;
};

static void *run_waiter(void *arg) {
    struct waiter_op *o = arg;
    probe_install();
    int rc =
        o->put ? pc_queue_put(o->q, o->item, PC_FOREVER) : pc_queue_get(o->q, &o->item, PC_FOREVER);
    atomic_store(&o->rc, rc);
    return NULL;
}

static void start_waiter(struct waiter_op *o, pc_queue *q, bool put, void *item) {
    *o = (struct waiter_op){.q = q, .put = put, .item = item, .rc = 1};
    o->t = start_pthread(run_waiter, o);
}

/* Join o, which must return within 10 s: a lost wake-up parks it for good. */
static int finish(struct waiter_op *o) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    cr_assert_eq(pthread_timedjoin_np(o->t, NULL, &ts), 0,
                 "a waiter is still parked after 10 s: a lost wake-up");
    return atomic_load(&o->rc);
}

/* Once the woken waiter re-checked: it either parked again, or waited for
 * the stalled step (and our sched_yield() finished it).  Finish it here if
 * nobody did, as the stalled thread itself would. */
static void let_stalled_step_land(void) {
    probe_wait_parked(1);
    if (atomic_exchange(&stalled.pending, false))
        finish_stalled();
}

/*
 * ring.c's note, step by step: G1 and G2 park; P1 claims position 0 and
 * stops; P2 puts position 1 and wakes G1.  G1 must not park again on
 * "position 0 not produced"; whatever it does, when P1 lands both getters
 * must come back, one with each item.
 */
Test(queue_ring, getters_lose_no_wake_up_to_a_claimed_put, .timeout = 60) {
    for (size_t c = 0; c < N_CAPS; c++) {
        probe_init();
        pc_queue *q;
        expect_rc(pc_queue_new(&q, &(pc_queue_opts){.maxsize = caps[c]}), 0);
        struct waiter_op g1, g2;
        start_waiter(&g1, q, false, NULL);
        probe_wait_parked(1);
        start_waiter(&g2, q, false, NULL);
        probe_wait_parked(1);
        stall_put(q->store, P(1));
        stalled.q = q;
        stalled.report = true;
        expect_rc(pc_queue_put(q, P(2), 0), 0); /* wakes G1 */
        let_stalled_step_land();
        expect_rc(finish(&g1), 0);
        expect_rc(finish(&g2), 0);
        cr_assert(I(g1.item) + I(g2.item) == 3 && g1.item != g2.item, "cap %ld", caps[c]);
        cr_assert(pc_queue_empty(q));
        pc_queue_free(q);
        close(probe_fd[0]);
        close(probe_fd[1]);
    }
}

/* The same for putters: the oldest item's consumer claimed it and stopped,
 * the next get frees a slot and wakes P1; both putters must get in. */
Test(queue_ring, putters_lose_no_wake_up_to_a_claimed_get, .timeout = 60) {
    for (size_t c = 0; c < N_CAPS; c++) {
        probe_init();
        long cap = caps[c];
        pc_queue *q;
        expect_rc(pc_queue_new(&q, &(pc_queue_opts){.maxsize = cap}), 0);
        for (long i = 0; i < cap; i++)
            expect_rc(pc_queue_put(q, P(10 + i), 0), 0);
        struct waiter_op p1, p2;
        start_waiter(&p1, q, true, P(1));
        probe_wait_parked(1);
        start_waiter(&p2, q, true, P(2));
        probe_wait_parked(1);
        cr_assert_eq(stall_get(q->store), P(10));
        stalled.q = q;
        stalled.report = true;
        void *item;
        expect_rc(pc_queue_get(q, &item, 0), 0); /* wakes P1 */
        cr_assert_eq(item, P(11));
        let_stalled_step_land();
        expect_rc(finish(&p1), 0);
        expect_rc(finish(&p2), 0);
        cr_assert_eq(pc_queue_qsize(q), cap);
        pc_queue_free(q);
        close(probe_fd[0]);
        close(probe_fd[1]);
    }
}
