/*
 * pc_gil: a thread attached to a GIL releases it while a pyconc call
 * blocks it (sleep, lock, semaphore, event, queue, join, pc_wait_fd, a
 * loop waiting in epoll) and holds it again when the call returns.
 *
 * Each test: thread T attaches, takes the GIL and blocks in one call.  The
 * main thread then takes the GIL (possible only if T released it), sets
 * `mark` under it, unblocks T and releases.  T checks, right after its
 * call returned, that it holds the GIL and sees `mark`: it came back only
 * through the GIL.
 */
#include <poll.h>
#include <unistd.h>

#include "gil-helpers.h"

struct blk {
    pc_gil *g;
    pc_event *ready;
    int mark; /* guarded by g */
    int (*op)(struct blk *b);
    int (*unblock)(struct blk *b);
    /* what the ops use */
    pc_event *ev;
    pc_lock lock;
    pc_sem *sem;
    pc_queue *q;
    pc_thread *other;
    int fds[2];
    /* what T saw */
    int op_rc, held, saw_mark;
    uint64_t blocking_releases;
};

static void *t_main(void *arg) {
    struct blk *b = arg;
    if ((b->op_rc = pc_gil_attach(b->g)) || (b->op_rc = pc_gil_acquire(b->g, 10.0)))
        return NULL;
    pc_event_set(b->ready);
    b->op_rc = b->op(b);
    b->held = pc_gil_held(b->g);
    b->saw_mark = b->mark;
    pc_gil_stats ts;
    pc_gil_thread_stats(&ts);
    b->blocking_releases = ts.blocking_releases;
    pc_gil_release(b->g);
    pc_gil_detach(b->g);
    return NULL;
}

static void run_blocking(struct blk *b) {
    expect_rc(pc_gil_new(&b->g, NULL), 0);
    expect_rc(pc_event_new(&b->ready), 0);
    pthread_t t = start_pthread(t_main, b);
    expect_rc(pc_event_wait(b->ready, 10.0), 0);
    expect_rc(pc_gil_acquire(b->g, 0.3), 0); /* T released it while it blocks */
    b->mark = 1;
    expect_rc(b->unblock(b), 0);
    expect_rc(pc_gil_release(b->g), 0);
    pthread_join(t, NULL);
    cr_assert_eq(b->op_rc, 0, "op: %s", pc_strerror(b->op_rc));
    cr_assert(b->held, "returned without the GIL");
    cr_assert(b->saw_mark, "returned before the main thread released the GIL");
    cr_assert_geq(b->blocking_releases, 1);
    pc_gil_stats st;
    expect_rc(pc_gil_get_stats(b->g, &st), 0);
    cr_assert_geq(st.blocking_releases, 1);
    expect_rc(pc_gil_free(b->g), 0);
    pc_event_free(b->ready);
}

static int nothing(struct blk *b) {
    (void)b;
    return 0;
}

/* ------------------------------------------------------------------ ops */

static int op_sleep(struct blk *b) {
    (void)b;
    return pc_sleep(0.6);
}

Test(gil_blocking, sleep, .timeout = 30) {
    struct blk b = {.op = op_sleep, .unblock = nothing};
    run_blocking(&b);
}

static int op_event(struct blk *b) {
    return pc_event_wait(b->ev, 10.0);
}
static int un_event(struct blk *b) {
    return pc_event_set(b->ev);
}

Test(gil_blocking, event_wait, .timeout = 30) {
    struct blk b = {.op = op_event, .unblock = un_event};
    expect_rc(pc_event_new(&b.ev), 0);
    run_blocking(&b);
    pc_event_free(b.ev);
}

static int op_lock(struct blk *b) {
    int r = pc_lock_acquire(&b->lock, true, 10.0);
    return r ? r : pc_lock_release(&b->lock);
}
static int un_lock(struct blk *b) {
    return pc_lock_release(&b->lock);
}

/* The deadlock the GIL would cause without the release: T holds the GIL and
 * waits for a lock whose holder needs the GIL to go on. */
Test(gil_blocking, lock_acquire, .timeout = 30) {
    struct blk b = {.op = op_lock, .unblock = un_lock};
    expect_rc(pc_lock_init(&b.lock), 0);
    expect_rc(pc_lock_acquire(&b.lock, true, PC_FOREVER), 0);
    run_blocking(&b);
}

static int op_sem(struct blk *b) {
    return pc_sem_acquire(b->sem, true, 10.0);
}
static int un_sem(struct blk *b) {
    return pc_sem_release(b->sem, 1);
}

Test(gil_blocking, semaphore, .timeout = 30) {
    struct blk b = {.op = op_sem, .unblock = un_sem};
    expect_rc(pc_sem_new(&b.sem, 0), 0);
    run_blocking(&b);
    pc_sem_free(b.sem);
}

static int op_queue(struct blk *b) {
    void *item;
    int r = pc_queue_get(b->q, &item, 10.0);
    return r ? r : item == (void *)b ? 0 : -EIO;
}
static int un_queue(struct blk *b) {
    return pc_queue_put(b->q, b, 0);
}

Test(gil_blocking, queue_get, .timeout = 30) {
    struct blk b = {.op = op_queue, .unblock = un_queue};
    expect_rc(pc_queue_new(&b.q, NULL), 0);
    run_blocking(&b);
    pc_queue_free(b.q);
}

static void *wait_ev(void *arg) {
    pc_event_wait(arg, 30.0);
    return NULL;
}
static int op_join(struct blk *b) {
    return pc_thread_join(b->other, 10.0);
}

Test(gil_blocking, thread_join, .timeout = 30) {
    struct blk b = {.op = op_join, .unblock = un_event};
    expect_rc(pc_event_new(&b.ev), 0);
    expect_rc(pc_thread_new(&b.other, wait_ev, b.ev, NULL), 0);
    expect_rc(pc_thread_start(b.other), 0);
    run_blocking(&b);
    pc_thread_free(b.other);
    pc_event_free(b.ev);
}

static int op_fd(struct blk *b) {
    int r = pc_wait_fd(b->fds[0], POLLIN, 10.0);
    return r < 0 ? r : (r & POLLIN) ? 0 : -EIO;
}
static int un_fd(struct blk *b) {
    return write(b->fds[1], "x", 1) == 1 ? 0 : -errno;
}

Test(gil_blocking, wait_fd_in_a_thread, .timeout = 30) {
    struct blk b = {.op = op_fd, .unblock = un_fd};
    cr_assert_eq(pipe(b.fds), 0);
    run_blocking(&b);
    close(b.fds[0]);
    close(b.fds[1]);
}

/* A loop attached to the GIL: its coroutine waits for the pipe, the loop
 * waits in epoll without the GIL. */
static int coro_fd(void *arg, void **value) {
    (void)value;
    return op_fd(arg);
}
static int op_loop(struct blk *b) {
    pc_coro *c;
    int r = pc_coro_spawn(&c, coro_fd, b, NULL);
    if (r)
        return r;
    r = pc_loop_run_until(pc_loop_current(), c, 10.0);
    if (!r)
        r = pc_coro_error(c);
    pc_coro_free(c);
    return r;
}

Test(gil_blocking, loop_waiting_in_epoll, .timeout = 30) {
    struct blk b = {.op = op_loop, .unblock = un_fd};
    cr_assert_eq(pipe(b.fds), 0);
    run_blocking(&b);
    close(b.fds[0]);
    close(b.fds[1]);
}

static int coro_sleep(void *arg, void **value) {
    (void)arg;
    (void)value;
    return pc_coro_sleep(0.6);
}
static int op_loop_sleep(struct blk *b) {
    (void)b;
    pc_coro *c;
    int r = pc_coro_spawn(&c, coro_sleep, NULL, NULL);
    if (r)
        return r;
    r = pc_loop_run_until(pc_loop_current(), c, 10.0);
    if (!r)
        r = pc_coro_error(c);
    pc_coro_free(c);
    return r;
}

Test(gil_blocking, loop_sleeping_on_a_timer, .timeout = 30) {
    struct blk b = {.op = op_loop_sleep, .unblock = nothing};
    run_blocking(&b);
}
