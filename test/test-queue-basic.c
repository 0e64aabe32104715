/* pc_queue: the semantics of each kind, single-threaded, and bad input. */
#include <errno.h>
#include <math.h>

#include "helpers.h"

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

static pc_queue *make(pc_queue_kind kind, long maxsize) {
    pc_queue *q;
    expect_rc(pc_queue_new(&q, &(pc_queue_opts){.kind = kind, .maxsize = maxsize}), 0);
    return q;
}

/* FIFO order through every storage: ring (pow2 and not), unbounded
 * segments (crossing many segments), big bounded (segments + admission). */
static void check_fifo(pc_queue *q, int n) {
    for (int i = 0; i < n; i++)
        expect_rc(pc_queue_put(q, P(i), PC_FOREVER), 0);
    cr_assert_eq(pc_queue_qsize(q), n);
    for (int i = 0; i < n; i++) {
        void *item;
        expect_rc(pc_queue_get(q, &item, PC_FOREVER), 0);
        cr_assert_eq(I(item), i);
    }
    cr_assert(pc_queue_empty(q));
    pc_queue_free(q);
}

Test(queue, fifo_order_every_storage) {
    check_fifo(make(PC_QUEUE_FIFO, 8), 8);
    check_fifo(make(PC_QUEUE_FIFO, 7), 7);
    check_fifo(make(PC_QUEUE_FIFO, 1), 1);
    check_fifo(make(PC_QUEUE_FIFO, 0), 1000);
    check_fifo(make(PC_QUEUE_FIFO, -5), 1000);
    check_fifo(make(PC_QUEUE_SIMPLE, 3), 1000); /* SimpleQueue ignores maxsize */
    check_fifo(make(PC_QUEUE_FIFO, 70000), 70000);
}

Test(queue, ring_wraps_many_laps) {
    pc_queue *q = make(PC_QUEUE_FIFO, 3);
    for (int i = 0; i < 1000; i++) {
        void *item;
        expect_rc(pc_queue_put_nowait(q, P(i)), 0);
        expect_rc(pc_queue_put_nowait(q, P(i + 1)), 0);
        expect_rc(pc_queue_get_nowait(q, &item), 0);
        cr_assert_eq(I(item), i);
        expect_rc(pc_queue_get_nowait(q, &item), 0);
        cr_assert_eq(I(item), i + 1);
    }
    pc_queue_free(q);
}

Test(queue, lifo_order) {
    pc_queue *q = make(PC_QUEUE_LIFO, 0);
    for (int i = 0; i < 100; i++)
        expect_rc(pc_queue_put(q, P(i), PC_FOREVER), 0);
    for (int i = 99; i >= 0; i--) {
        void *item;
        expect_rc(pc_queue_get(q, &item, 0), 0);
        cr_assert_eq(I(item), i);
    }
    pc_queue_free(q);
}

struct prio {
    int key, seq;
};
static int by_key(const void *a, const void *b, void *arg) {
    (void)arg;
    return ((const struct prio *)a)->key - ((const struct prio *)b)->key;
}

Test(queue, priority_smallest_first_fifo_among_equals) {
    pc_queue *q;
    expect_rc(pc_queue_new(&q, &(pc_queue_opts){.kind = PC_QUEUE_PRIORITY, .cmp = by_key}), 0);
    struct prio items[200];
    for (int i = 0; i < 200; i++) {
        items[i] = (struct prio){.key = (i * 37) % 10, .seq = i};
        expect_rc(pc_queue_put(q, &items[i], PC_FOREVER), 0);
    }
    struct prio *prev = NULL;
    for (int i = 0; i < 200; i++) {
        void *item;
        expect_rc(pc_queue_get(q, &item, 0), 0);
        struct prio *p = item;
        if (prev) {
            cr_assert(prev->key <= p->key);
            if (prev->key == p->key)
                cr_assert(prev->seq < p->seq, "equal keys must keep put order");
        }
        prev = p;
    }
    pc_queue_free(q);
}

Test(queue, bounded_full_and_nonblocking_codes) {
    pc_queue_kind kinds[] = {PC_QUEUE_FIFO, PC_QUEUE_LIFO};
    for (int k = 0; k < 2; k++) {
        pc_queue *q = make(kinds[k], 2);
        void *item;
        cr_assert_eq(pc_queue_maxsize(q), 2);
        expect_rc(pc_queue_get_nowait(q, &item), -EAGAIN);
        expect_rc(pc_queue_get(q, &item, 0), -ETIMEDOUT);
        expect_rc(pc_queue_put_nowait(q, P(1)), 0);
        expect_rc(pc_queue_put(q, NULL, 0), 0); /* NULL is an item */
        cr_assert(pc_queue_full(q));
        expect_rc(pc_queue_put_nowait(q, P(3)), -EAGAIN);
        expect_rc(pc_queue_put(q, P(3), 0), -ETIMEDOUT);
        double t0 = pc_now();
        expect_rc(pc_queue_put(q, P(3), 0.2), -ETIMEDOUT);
        double dt = pc_now() - t0;
        cr_assert(dt >= 0.18 && dt < 5, "waited %.3f", dt);
        expect_rc(pc_queue_get_nowait(q, &item), 0);
        cr_assert(!pc_queue_full(q));
        pc_queue_free(q);
    }
}

Test(queue, maxsize_one_holds_one) {
    pc_queue_kind kinds[] = {PC_QUEUE_FIFO, PC_QUEUE_LIFO};
    for (int k = 0; k < 2; k++) {
        pc_queue *q = make(kinds[k], 1);
        void *item;
        for (int i = 0; i < 3; i++) {
            expect_rc(pc_queue_put_nowait(q, P(i)), 0);
            cr_assert(pc_queue_full(q));
            expect_rc(pc_queue_put_nowait(q, P(9)), -EAGAIN);
            expect_rc(pc_queue_get_nowait(q, &item), 0);
            cr_assert_eq(I(item), i);
            expect_rc(pc_queue_get_nowait(q, &item), -EAGAIN);
        }
        pc_queue_free(q);
    }
}

Test(queue, get_timeout_is_honoured) {
    pc_queue *q = make(PC_QUEUE_FIFO, 0);
    void *item;
    double t0 = pc_now();
    expect_rc(pc_queue_get(q, &item, 0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5, "waited %.3f", dt);
    pc_queue_free(q);
}

Test(queue, bad_input) {
    pc_queue *q;
    void *item;
    expect_rc(pc_queue_new(NULL, NULL), -EINVAL);
    expect_rc(pc_queue_new(&q, &(pc_queue_opts){.kind = PC_QUEUE_PRIORITY}), -EINVAL);
    expect_rc(pc_queue_new(&q, &(pc_queue_opts){.kind = (pc_queue_kind)99}), -EINVAL);
    expect_rc(pc_queue_put(NULL, NULL, 1), -EINVAL);
    expect_rc(pc_queue_get(NULL, &item, 1), -EINVAL);
    expect_rc(pc_queue_put_nowait(NULL, NULL), -EINVAL);
    expect_rc(pc_queue_get_nowait(NULL, &item), -EINVAL);
    expect_rc(pc_queue_task_done(NULL), -EINVAL);
    expect_rc(pc_queue_join(NULL, 1), -EINVAL);
    expect_rc(pc_queue_shutdown(NULL, false), -EINVAL);
    cr_assert_eq(pc_queue_qsize(NULL), -EINVAL);
    cr_assert_eq(pc_queue_maxsize(NULL), -EINVAL);
    cr_assert(pc_queue_empty(NULL));
    cr_assert(!pc_queue_full(NULL));
    cr_assert(!pc_queue_is_shutdown(NULL));
    pc_queue_free(NULL);
    expect_rc(pc_queue_new(&q, NULL), 0); /* NULL opts: unbounded FIFO */
    expect_rc(pc_queue_get(q, NULL, 1), -EINVAL);
    expect_rc(pc_queue_get(q, &item, NAN), -EINVAL);
    expect_rc(pc_queue_put(q, NULL, NAN), -EINVAL);
    expect_rc(pc_queue_put(q, P(1), -3.0), 0); /* any negative is forever */
    expect_rc(pc_queue_get(q, &item, -0.5), 0);
    cr_assert_eq(pc_queue_maxsize(q), 0);
    cr_assert(!pc_queue_full(q));
    pc_queue_free(q);
}

Test(queue, allocation_failures) {
    pc_queue_kind kinds[] = {PC_QUEUE_FIFO, PC_QUEUE_FIFO, PC_QUEUE_LIFO, PC_QUEUE_PRIORITY};
    long sizes[] = {16, 0, 0, 0};
    for (int k = 0; k < 4; k++) {
        pc_queue_opts o = {.kind = kinds[k], .maxsize = sizes[k], .cmp = by_key};
        pc_queue *q = NULL;
        int n = 1;
        for (;; n++) { /* fail each allocation of pc_queue_new in turn */
            pc_alloc_fail_nth(n);
            int r = pc_queue_new(&q, &o);
            if (r == 0)
                break;
            expect_rc(r, -ENOMEM);
        }
        pc_alloc_fail_nth(0);
        cr_assert(n > 1, "pc_queue_new allocates");
        pc_queue_free(q);
    }
    /* A put that needs memory reports -ENOMEM and loses nothing. */
    pc_queue *q = make(PC_QUEUE_FIFO, 0);
    int failed = 0;
    for (int i = 0; i < 300; i++) {
        pc_alloc_fail_nth(1);
        int r = pc_queue_put(q, P(i), 0);
        pc_alloc_fail_nth(0);
        if (r == -ENOMEM) {
            failed++;
            expect_rc(pc_queue_put(q, P(i), 0), 0);
        } else {
            expect_rc(r, 0);
        }
    }
    cr_assert(failed > 0, "the unbounded FIFO allocates segments as it grows");
    for (int i = 0; i < 300; i++) {
        void *item;
        expect_rc(pc_queue_get_nowait(q, &item), 0);
        cr_assert_eq(I(item), i);
    }
    pc_queue_free(q);
}

static int discarded;
static void count_discard(void *item, void *arg) {
    (void)item;
    (*(int *)arg)++;
}

Test(queue, free_discards_leftovers) {
    pc_queue *q;
    discarded = 0;
    expect_rc(
        pc_queue_new(&q, &(pc_queue_opts){.discard = count_discard, .discard_arg = &discarded}), 0);
    for (int i = 0; i < 500; i++)
        expect_rc(pc_queue_put_nowait(q, P(i)), 0);
    pc_queue_free(q);
    cr_assert_eq(discarded, 500);
}
