/* One way to wait: pyconc's thread primitives park coroutines, not threads. */
#include <errno.h>

#include "helpers.h"

#define CONSUMERS 1000
#define ITEMS 20000

struct feed {
    pc_queue *q;
    _Atomic long got;
};

static void *producer(void *arg) {
    struct feed *f = arg;
    for (long i = 0; i < ITEMS; i++)
        expect_rc(pc_queue_put(f->q, (void *)(i + 1), 30.0), 0);
    expect_rc(pc_queue_shutdown(f->q, false), 0);
    return NULL;
}

static int consumer(void *arg, void **value) {
    (void)value;
    struct feed *f = arg;
    void *item;
    int r;
    while ((r = pc_queue_get(f->q, &item, 30.0)) == 0)
        atomic_fetch_add(&f->got, 1);
    return r == -EPIPE ? 0 : r;
}

Test(coro_wait, thread_feeds_a_queue_that_1000_coroutines_consume, .timeout = 60) {
    struct feed f = {0};
    expect_rc(pc_queue_new(&f.q, &(pc_queue_opts){.maxsize = 64}), 0);
    static pc_coro *c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        expect_rc(pc_coro_spawn(&c[i], consumer, &f, &(pc_coro_opts){.stack_size = 16384}), 0);
    pc_thread *t;
    expect_rc(pc_thread_new(&t, producer, &f, NULL), 0);
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_coro_joinall(c, CONSUMERS, 30.0), 0);
    expect_rc(pc_thread_join(t, 30.0), 0);
    cr_assert_eq(atomic_load(&f.got), ITEMS);
    for (int i = 0; i < CONSUMERS; i++) {
        expect_rc(pc_coro_error(c[i]), 0);
        pc_coro_free(c[i]);
    }
    pc_thread_free(t);
    pc_queue_free(f.q);
}

static pc_lock held = PC_LOCK_INIT;
static int ticks;

static int blocked_on_lock(void *arg, void **value) {
    (void)arg;
    (void)value;
    return pc_lock_acquire(&held, true, 5.0) == 0 ? pc_lock_release(&held) : -ETIMEDOUT;
}

static int ticker(void *arg, void **value) {
    (void)value;
    for (int i = 0; i < 5; i++) {
        ticks++;
        pc_coro_sleep(0.01);
    }
    return pc_lock_release(arg); /* let the blocked one go */
}

Test(coro_wait, a_coroutine_blocked_in_a_lock_does_not_stop_the_others, .timeout = 30) {
    pc_coro *b, *t;
    expect_rc(pc_lock_acquire(&held, true, 0), 0);
    expect_rc(pc_coro_spawn(&b, blocked_on_lock, NULL, NULL), 0);
    expect_rc(pc_coro_spawn(&t, ticker, &held, NULL), 0);
    expect_rc(pc_coro_join(b, 10), 0);
    cr_assert_eq(ticks, 5);
    expect_rc(pc_coro_error(b), 0);
    expect_rc(pc_coro_error(t), 0);
    pc_coro_free(b);
    pc_coro_free(t);
}

/* Coroutines on two threads' loops ping-pong through two events. */
struct pingpong {
    pc_event *ping, *pong;
};

static int pinger(void *arg, void **value) {
    (void)value;
    struct pingpong *p = arg;
    for (int i = 0; i < 200; i++) {
        expect_rc(pc_event_set(p->ping), 0);
        expect_rc(pc_event_wait(p->pong, 10.0), 0);
        expect_rc(pc_event_clear(p->pong), 0);
    }
    return 0;
}

static int ponger(void *arg, void **value) {
    (void)value;
    struct pingpong *p = arg;
    for (int i = 0; i < 200; i++) {
        expect_rc(pc_event_wait(p->ping, 10.0), 0);
        expect_rc(pc_event_clear(p->ping), 0);
        expect_rc(pc_event_set(p->pong), 0);
    }
    return 0;
}

static void *other_loop(void *arg) {
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, ponger, arg, NULL), 0);
    expect_rc(pc_coro_join(c, 30.0), 0);
    expect_rc(pc_coro_error(c), 0);
    pc_coro_free(c);
    expect_rc(pc_loop_close(), 0);
    return NULL;
}

Test(coro_wait, coroutines_on_two_loops_ping_pong_through_events, .timeout = 60) {
    struct pingpong p;
    expect_rc(pc_event_new(&p.ping), 0);
    expect_rc(pc_event_new(&p.pong), 0);
    pc_thread *t;
    expect_rc(pc_thread_new(&t, other_loop, &p, NULL), 0);
    expect_rc(pc_thread_start(t), 0);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, pinger, &p, NULL), 0);
    expect_rc(pc_coro_join(c, 30.0), 0);
    expect_rc(pc_coro_error(c), 0);
    expect_rc(pc_thread_join(t, 30.0), 0);
    pc_coro_free(c);
    pc_thread_free(t);
    pc_event_free(p.ping);
    pc_event_free(p.pong);
}

static int times_out(void *arg, void **value) {
    (void)value;
    void *item;
    double t0 = pc_now();
    int r = pc_queue_get(arg, &item, 0.2);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5, "waited %.3f", dt);
    return r;
}

Test(coro_wait, timeouts_work_as_in_threads) {
    pc_queue *q;
    pc_coro *c;
    expect_rc(pc_queue_new(&q, NULL), 0);
    expect_rc(pc_coro_spawn(&c, times_out, q, NULL), 0);
    expect_rc(pc_coro_join(c, 10), 0);
    expect_rc(pc_coro_error(c), -ETIMEDOUT);
    pc_coro_free(c);
    pc_queue_free(q);
}

/* A thread wakes a coroutine; the coroutine ends and its loop is closed at
 * once, while the waking thread may still be inside the loop's wake-up
 * path.  The loop must outlive the waker (loop.c, remote_wakers): ASan and
 * TSan report a use after free otherwise. */
#define CLOSE_ROUNDS 2000

struct closing {
    pc_sem *ready;
    pc_event *go;
};

static void *waker(void *arg) {
    struct closing *k = arg;
    for (int i = 0; i < CLOSE_ROUNDS; i++) {
        expect_rc(pc_sem_acquire(k->ready, true, 30.0), 0);
        expect_rc(pc_event_set(k->go), 0);
    }
    return NULL;
}

static int waits_for_go(void *arg, void **value) {
    (void)value;
    struct closing *k = arg;
    expect_rc(pc_sem_release(k->ready, 1), 0);
    return pc_event_wait(k->go, 30.0);
}

Test(coro_wait, a_loop_closed_right_after_a_remote_wake_outlives_the_waker, .timeout = 120) {
    struct closing k;
    expect_rc(pc_sem_new(&k.ready, 0), 0);
    expect_rc(pc_event_new(&k.go), 0);
    pc_thread *t;
    expect_rc(pc_thread_new(&t, waker, &k, NULL), 0);
    expect_rc(pc_thread_start(t), 0);
    for (int i = 0; i < CLOSE_ROUNDS; i++) {
        expect_rc(pc_event_clear(k.go), 0);
        pc_coro *c;
        expect_rc(pc_coro_spawn(&c, waits_for_go, &k, NULL), 0);
        expect_rc(pc_coro_join(c, 30.0), 0);
        expect_rc(pc_coro_error(c), 0);
        pc_coro_free(c);
        expect_rc(pc_loop_close(), 0);
    }
    expect_rc(pc_thread_join(t, 30.0), 0);
    pc_thread_free(t);
    pc_event_free(k.go);
    pc_sem_free(k.ready);
}
