/* pc_queue: task_done/join and Python 3.13's shutdown. */
#include <errno.h>
#include <semaphore.h>

#include "helpers.h"

#define P(i) ((void *)(intptr_t)(i))

Test(queue_tasks, task_done_and_join) {
    pc_queue *q;
    void *item;
    expect_rc(pc_queue_new(&q, &(pc_queue_opts){.maxsize = 4}), 0);
    expect_rc(pc_queue_join(q, 0), 0); /* nothing outstanding */
    expect_rc(pc_queue_task_done(q), -EOVERFLOW);
    expect_rc(pc_queue_put(q, P(1), 0), 0);
    expect_rc(pc_queue_put(q, P(2), 0), 0);
    expect_rc(pc_queue_join(q, 0), -ETIMEDOUT);
    expect_rc(pc_queue_get(q, &item, 0), 0);
    expect_rc(pc_queue_task_done(q), 0);
    expect_rc(pc_queue_join(q, 0.05), -ETIMEDOUT);
    expect_rc(pc_queue_get(q, &item, 0), 0);
    expect_rc(pc_queue_task_done(q), 0);
    expect_rc(pc_queue_task_done(q), -EOVERFLOW); /* Python: ValueError */
    expect_rc(pc_queue_join(q, 0), 0);
    expect_rc(pc_queue_join(q, 0), 0); /* and again */
    pc_queue_free(q);
}

Test(queue_tasks, simple_queue_has_no_task_tracking) {
    pc_queue *q;
    expect_rc(pc_queue_new(&q, &(pc_queue_opts){.kind = PC_QUEUE_SIMPLE}), 0);
    expect_rc(pc_queue_task_done(q), -ENOTSUP);
    expect_rc(pc_queue_join(q, 0), -ENOTSUP);
    pc_queue_free(q);
}

/* Workers mark tasks done; the main thread's join wakes when the last is. */
struct pool {
    pc_queue *q;
    int handled;
    pc_lock lock;
};

static void *worker(void *arg) {
    struct pool *p = arg;
    void *item;
    while (pc_queue_get(p->q, &item, PC_FOREVER) == 0) {
        pc_lock_acquire(&p->lock, true, PC_FOREVER);
        p->handled++;
        pc_lock_release(&p->lock);
        expect_rc(pc_queue_task_done(p->q), 0);
    }
    return NULL;
}

Test(queue_tasks, join_wakes_when_workers_finish, .timeout = 30) {
    struct pool p = {.lock = PC_LOCK_INIT};
    expect_rc(pc_queue_new(&p.q, &(pc_queue_opts){.maxsize = 8}), 0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        t[i] = start_pthread(worker, &p);
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 20; i++)
            expect_rc(pc_queue_put(p.q, P(i), PC_FOREVER), 0);
        expect_rc(pc_queue_join(p.q, 20.0), 0);
        pc_lock_acquire(&p.lock, true, PC_FOREVER);
        cr_assert_eq(p.handled, (round + 1) * 20, "join returned before every task was done");
        pc_lock_release(&p.lock);
    }
    expect_rc(pc_queue_shutdown(p.q, false), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    pc_queue_free(p.q);
}

Test(queue_tasks, shutdown_drains_then_epipe) {
    pc_queue *q;
    void *item;
    expect_rc(pc_queue_new(&q, &(pc_queue_opts){.maxsize = 4}), 0);
    expect_rc(pc_queue_put(q, P(1), 0), 0);
    expect_rc(pc_queue_put(q, P(2), 0), 0);
    expect_rc(pc_queue_shutdown(q, false), 0);
    cr_assert(pc_queue_is_shutdown(q));
    expect_rc(pc_queue_put(q, P(3), 0), -EPIPE);
    expect_rc(pc_queue_put_nowait(q, P(3)), -EPIPE);
    expect_rc(pc_queue_get(q, &item, 0), 0);
    cr_assert_eq(item, P(1));
    expect_rc(pc_queue_get_nowait(q, &item), 0);
    cr_assert_eq(item, P(2));
    expect_rc(pc_queue_get(q, &item, PC_FOREVER), -EPIPE); /* no hang */
    expect_rc(pc_queue_get_nowait(q, &item), -EPIPE);
    expect_rc(pc_queue_shutdown(q, false), 0); /* again: harmless */
    /* join still waits for the outstanding task_done calls */
    expect_rc(pc_queue_join(q, 0), -ETIMEDOUT);
    expect_rc(pc_queue_task_done(q), 0);
    expect_rc(pc_queue_task_done(q), 0);
    expect_rc(pc_queue_join(q, 0), 0);
    pc_queue_free(q);
}

static void count_discard(void *item, void *arg) {
    (void)item;
    (*(int *)arg)++;
}

Test(queue_tasks, immediate_shutdown_removes_items_and_releases_join) {
    pc_queue *q;
    void *item;
    int discarded = 0;
    expect_rc(
        pc_queue_new(&q, &(pc_queue_opts){.discard = count_discard, .discard_arg = &discarded}), 0);
    for (int i = 0; i < 5; i++)
        expect_rc(pc_queue_put(q, P(i), 0), 0);
    expect_rc(pc_queue_get(q, &item, 0), 0); /* one taken, not yet done */
    expect_rc(pc_queue_shutdown(q, true), 0);
    cr_assert_eq(discarded, 4);
    cr_assert_eq(pc_queue_qsize(q), 0);
    expect_rc(pc_queue_get(q, &item, PC_FOREVER), -EPIPE);
    expect_rc(pc_queue_join(q, 0), -ETIMEDOUT); /* the taken one is outstanding */
    expect_rc(pc_queue_task_done(q), 0);
    expect_rc(pc_queue_join(q, 0), 0);
    pc_queue_free(q);
}

/* Blocked getters and putters are woken by shutdown with -EPIPE. */
struct blocked {
    pc_queue *q;
    sem_t *ready;
    int rc;
};

static void *blocked_get(void *arg) {
    struct blocked *b = arg;
    void *item;
    sem_post(b->ready);
    b->rc = pc_queue_get(b->q, &item, 30.0);
    return NULL;
}

static void *blocked_put(void *arg) {
    struct blocked *b = arg;
    sem_post(b->ready);
    b->rc = pc_queue_put(b->q, P(9), 30.0);
    return NULL;
}

static void wait_until_blocked(sem_t *ready, int n) {
    for (int i = 0; i < n; i++)
        cr_assert_eq(sem_wait(ready), 0);
}

static void count_discard_atomic(void *item, void *arg) {
    (void)item;
    atomic_fetch_add((_Atomic int *)arg, 1);
}

/*
 * The threads announce themselves just before blocking; whether each has
 * parked by the time of the shutdown or not, it must end with -EPIPE.  The
 * one exception is documented: a put racing with an immediate shutdown may
 * be accepted just before it, and then its item is discarded by it.
 */
Test(queue_tasks, shutdown_wakes_blocked_getters_and_putters, .timeout = 30) {
    for (int immediate = 0; immediate < 2; immediate++) {
        pc_queue *empty, *full;
        sem_t ready_sem, *ready = &ready_sem;
        _Atomic int discarded = 0;
        sem_init(ready, 0, 0);
        expect_rc(pc_queue_new(&empty, &(pc_queue_opts){.maxsize = 1}), 0);
        expect_rc(pc_queue_new(&full, &(pc_queue_opts){.maxsize = 1,
                                                       .discard = count_discard_atomic,
                                                       .discard_arg = &discarded}),
                  0);
        expect_rc(pc_queue_put(full, P(1), 0), 0);
        struct blocked g[3], p[3];
        pthread_t tg[3], tp[3];
        for (int i = 0; i < 3; i++) {
            g[i] = (struct blocked){.q = empty, .ready = ready, .rc = 1};
            p[i] = (struct blocked){.q = full, .ready = ready, .rc = 1};
            tg[i] = start_pthread(blocked_get, &g[i]);
            tp[i] = start_pthread(blocked_put, &p[i]);
        }
        wait_until_blocked(ready, 6);
        expect_rc(pc_queue_shutdown(empty, immediate), 0);
        expect_rc(pc_queue_shutdown(full, immediate), 0);
        int accepted = 0;
        for (int i = 0; i < 3; i++) {
            pthread_join(tg[i], NULL);
            pthread_join(tp[i], NULL);
            expect_rc(g[i].rc, -EPIPE);
            if (immediate && p[i].rc == 0)
                accepted++;
            else
                expect_rc(p[i].rc, -EPIPE);
        }
        if (immediate) {
            cr_assert_eq(pc_queue_qsize(full), 0);
            cr_assert_eq(atomic_load(&discarded), 1 + accepted, "an accepted item went missing");
        }
        pc_queue_free(empty);
        pc_queue_free(full);
        sem_destroy(ready);
    }
}
