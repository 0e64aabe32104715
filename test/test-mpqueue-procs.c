/*
 * Process queues between processes, under each start method: order,
 * many producers and consumers, a putter that exits at once, bounded puts
 * that wait for another process, JoinableQueue's join across processes,
 * and coroutines that park only themselves on a queue.
 */
#include <errno.h>
#include <pyconc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "process-helpers.h"

/* What a child is given: plain bytes. */
struct job {
    pc_shared_ref q;
    pc_shared_ref res; /* a struct results, where the test has one */
    long n;
    int id;
    int fd; /* a pipe's read end, where the test has one */
};

struct results {
    _Atomic long count, sum;
};

static pc_mpqueue *make(pc_mpqueue_kind kind, long maxsize, size_t capacity) {
    pc_mpqueue *q;
    pc_mpqueue_opts o = {.kind = kind, .maxsize = maxsize, .capacity = capacity};
    expect_rc(pc_mpqueue_new(&q, &o), 0);
    return q;
}

static struct job job_for(pc_mpqueue *q, long n) {
    struct job j = {.n = n, .fd = -1};
    expect_rc(pc_mpqueue_ref(q, &j.q), 0);
    return j;
}

/* Child: put the longs 1..n. */
static int put_numbers(void *arg, size_t len) {
    struct job *j = arg;
    pc_mpqueue *q;
    if (len != sizeof *j || pc_mpqueue_from_ref(j->q, &q) < 0)
        return 90;
    for (long i = 1; i <= j->n; i++) {
        long v = (long)j->id * 1000000 + i;
        if (pc_mpqueue_put(q, &v, sizeof v, 30) != 0)
            return 91;
    }
    return 0;
}

PROC_TEST(fifo_order_across_processes, .timeout = 60) {
    pc_mpqueue *q = make(PC_MPQUEUE_QUEUE, 64, 4096); /* small: the putter waits often */
    struct job j = job_for(q, 20000);
    pc_process *p = start_fn(m, put_numbers, &j, sizeof j, NULL, 0);
    for (long i = 1; i <= j.n; i++) {
        long v;
        size_t len;
        expect_rc(pc_mpqueue_get(q, &v, sizeof v, &len, 30), 0);
        cr_assert_eq(len, sizeof v);
        cr_assert_eq(v, i);
    }
    cr_assert_eq(join_code(p), 0);
    cr_assert(pc_mpqueue_empty(q));
    pc_process_free(p);
    expect_rc(pc_mpqueue_free(q), 0);
}

/* Child: put n messages and leave at once, without any cleanup. */
static int put_and_exit(void *arg, size_t len) {
    struct job *j = arg;
    pc_mpqueue *q;
    if (len != sizeof *j || pc_mpqueue_from_ref(j->q, &q) < 0)
        _exit(90);
    for (long i = 1; i <= j->n; i++)
        if (pc_mpqueue_put(q, &i, sizeof i, 0) != 0)
            _exit(91);
    _exit(0);
}

PROC_TEST(a_put_that_returned_is_never_lost_when_the_putter_exits_at_once, .timeout = 60) {
    pc_mpqueue *q = make(PC_MPQUEUE_QUEUE, 0, 0);
    struct job j = job_for(q, 5000);
    pc_process *p = start_fn(m, put_and_exit, &j, sizeof j, NULL, 0);
    cr_assert_eq(join_code(p), 0); /* gone before anything is read */
    cr_assert_eq(pc_mpqueue_qsize(q), j.n);
    for (long i = 1; i <= j.n; i++) {
        long v;
        size_t len;
        expect_rc(pc_mpqueue_get(q, &v, sizeof v, &len, 0), 0);
        cr_assert_eq(v, i);
    }
    pc_process_free(p);
    expect_rc(pc_mpqueue_free(q), 0);
}

/* Child: get longs until an empty message, adding them up in res. */
static int sum_numbers(void *arg, size_t len) {
    struct job *j = arg;
    pc_mpqueue *q;
    struct results *r;
    if (len != sizeof *j || pc_mpqueue_from_ref(j->q, &q) < 0 ||
        pc_shared_deref(j->res, (void **)&r) < 0)
        return 90;
    for (;;) {
        long v;
        size_t got;
        if (pc_mpqueue_get(q, &v, sizeof v, &got, 30) != 0)
            return 91;
        if (got == 0)
            return 0;
        atomic_fetch_add(&r->count, 1);
        atomic_fetch_add(&r->sum, v);
    }
}

PROC_TEST(many_producers_and_consumers_deliver_every_message_once, .timeout = 120) {
    enum { P = 3, C = 2, PER = 5000 };
    pc_mpqueue *q = make(PC_MPQUEUE_QUEUE, 100, 8192);
    struct results *r;
    expect_rc(pc_shared_alloc(sizeof *r, (void **)&r), 0);
    struct job j = job_for(q, PER);
    expect_rc(pc_shared_ref_of(r, &j.res), 0);
    pc_process *prod[P], *cons[C];
    for (int i = 0; i < C; i++)
        cons[i] = start_fn(m, sum_numbers, &j, sizeof j, NULL, 0);
    long want = 0;
    for (int i = 0; i < P; i++) {
        j.id = i + 1;
        prod[i] = start_fn(m, put_numbers, &j, sizeof j, NULL, 0);
        want += (long)(i + 1) * 1000000 * PER + (long)PER * (PER + 1) / 2;
    }
    for (int i = 0; i < P; i++) {
        cr_assert_eq(join_code(prod[i]), 0);
        pc_process_free(prod[i]);
    }
    for (int i = 0; i < C; i++)
        expect_rc(pc_mpqueue_put(q, "", 0, 30), 0); /* one end mark per consumer */
    for (int i = 0; i < C; i++) {
        cr_assert_eq(join_code(cons[i]), 0);
        pc_process_free(cons[i]);
    }
    cr_assert_eq(r->count, (long)P * PER);
    cr_assert_eq(r->sum, want);
    cr_assert(pc_mpqueue_empty(q));
    expect_rc(pc_shared_free(r), 0);
    expect_rc(pc_mpqueue_free(q), 0);
}

/* Child: get one message (30 s at most), then task_done it n times. */
static int get_one(void *arg, size_t len) {
    struct job *j = arg;
    pc_mpqueue *q;
    if (len != sizeof *j || pc_mpqueue_from_ref(j->q, &q) < 0)
        return 90;
    char buf[16];
    size_t got;
    if (pc_mpqueue_get(q, buf, sizeof buf, &got, 30) != 0)
        return 91;
    for (long i = 0; i < j->n; i++)
        if (pc_mpqueue_task_done(q) != 0)
            return 92;
    return buf[0];
}

PROC_TEST(a_bounded_put_waits_for_a_get_in_another_process, .timeout = 60) {
    pc_mpqueue *q = make(PC_MPQUEUE_QUEUE, 1, 0);
    expect_rc(pc_mpqueue_put(q, "a", 1, 0), 0);
    expect_rc(pc_mpqueue_put(q, "b", 1, 0), -EAGAIN);
    expect_rc(pc_mpqueue_put(q, "b", 1, 0.05), -ETIMEDOUT);
    struct job j = job_for(q, 0);
    pc_process *p = start_fn(m, get_one, &j, sizeof j, NULL, 0);
    expect_rc(pc_mpqueue_put(q, "b", 1, 30), 0); /* room once the child got "a" */
    cr_assert_eq(join_code(p), 'a');
    char c;
    size_t len;
    expect_rc(pc_mpqueue_get(q, &c, 1, &len, 0), 0);
    cr_assert_eq(c, 'b');
    pc_process_free(p);
    expect_rc(pc_mpqueue_free(q), 0);
}

/* Child: get every message and mark each done. */
static int worker(void *arg, size_t len) {
    struct job *j = arg;
    pc_mpqueue *q;
    if (len != sizeof *j || pc_mpqueue_from_ref(j->q, &q) < 0)
        return 90;
    for (long i = 0; i < j->n; i++) {
        long v;
        size_t got;
        if (pc_mpqueue_get(q, &v, sizeof v, &got, 30) != 0)
            return 91;
        if (pc_mpqueue_task_done(q) != 0)
            return 92;
    }
    return 0;
}

PROC_TEST(joinable_join_waits_for_task_done_in_other_processes, .timeout = 60) {
    pc_mpqueue *q = make(PC_MPQUEUE_JOINABLE, 0, 0);
    for (long i = 0; i < 100; i++)
        expect_rc(pc_mpqueue_put(q, &i, sizeof i, 0), 0);
    expect_rc(pc_mpqueue_join(q, 0), -EAGAIN);
    struct job j = job_for(q, 50);
    pc_process *w1 = start_fn(m, worker, &j, sizeof j, NULL, 0);
    pc_process *w2 = start_fn(m, worker, &j, sizeof j, NULL, 0);
    expect_rc(pc_mpqueue_join(q, 30), 0);
    cr_assert(pc_mpqueue_empty(q));
    cr_assert_eq(join_code(w1), 0);
    cr_assert_eq(join_code(w2), 0);
    expect_rc(pc_mpqueue_task_done(q), -EOVERFLOW);
    /* one task marked done twice by another process: the second is refused */
    expect_rc(pc_mpqueue_put(q, "x", 1, 0), 0);
    j.n = 2;
    pc_process *p = start_fn(m, get_one, &j, sizeof j, NULL, 0);
    cr_assert_eq(join_code(p), 92);
    expect_rc(pc_mpqueue_join(q, 0), 0);
    pc_process_free(p);
    pc_process_free(w1);
    pc_process_free(w2);
    expect_rc(pc_mpqueue_free(q), 0);
}

/* ---- coroutines ---- */

/* Child: wait for the test's go (a byte on fd), then get one message (n
 * 1) or put one (n 0). */
static int put_on_go(void *arg, size_t len) {
    struct job *j = arg;
    pc_mpqueue *q;
    if (len != sizeof *j || pc_mpqueue_from_ref(j->q, &q) < 0)
        return 90;
    char c;
    if (read(j->fd, &c, 1) != 1)
        return 91;
    if (j->n) {
        size_t got;
        return pc_mpqueue_get(q, &c, 1, &got, 30) == 0 && c == 'a' ? 0 : 92;
    }
    return pc_mpqueue_put(q, "c", 1, 30) == 0 ? 0 : 93;
}

struct scene {
    pc_mpqueue *q;
    int wfd;
    int ticks, ticks_at_done;
};

static int coro_getter(void *arg, void **value) {
    (void)value;
    struct scene *s = arg;
    char c = 0;
    size_t len;
    int rc = pc_mpqueue_get(s->q, &c, 1, &len, 30);
    s->ticks_at_done = s->ticks;
    return rc == 0 && c == 'c' ? 0 : rc ? rc : -EBADMSG;
}

static int coro_putter(void *arg, void **value) {
    (void)value;
    struct scene *s = arg;
    int rc = pc_mpqueue_put(s->q, "b", 1, 30); /* the queue is full */
    s->ticks_at_done = s->ticks;
    return rc;
}

static int ticker(void *arg, void **value) {
    (void)value;
    struct scene *s = arg;
    for (int i = 0; i < 5; i++) {
        s->ticks++;
        pc_coro_sleep(0.01);
    }
    return write(s->wfd, "g", 1) == 1 ? 0 : -EIO; /* only now may the child act */
}

static void parks_only_itself(pc_start_method m, bool putter) {
    int fds[2];
    cloexec_pipe(fds);
    pc_mpqueue *q = make(PC_MPQUEUE_QUEUE, putter ? 1 : 0, 0);
    if (putter)
        expect_rc(pc_mpqueue_put(q, "a", 1, 0), 0);
    struct job j = job_for(q, putter);
    j.fd = fds[0];
    pc_process *p = start_fn(m, put_on_go, &j, sizeof j, &fds[0], 1);
    struct scene s = {.q = q, .wfd = fds[1]};
    pc_coro *w, *t;
    expect_rc(pc_coro_spawn(&w, putter ? coro_putter : coro_getter, &s, NULL), 0);
    expect_rc(pc_coro_spawn(&t, ticker, &s, NULL), 0);
    expect_rc(pc_coro_join(w, 30), 0);
    expect_rc(pc_coro_join(t, 30), 0);
    expect_rc(pc_coro_error(w), 0);
    expect_rc(pc_coro_error(t), 0);
    cr_assert_eq(s.ticks_at_done, 5, "the waiting coroutine blocked its thread");
    cr_assert_eq(join_code(p), 0);
    if (putter) {
        char c;
        size_t len;
        expect_rc(pc_mpqueue_get(q, &c, 1, &len, 0), 0);
        cr_assert_eq(c, 'b');
    }
    cr_assert(pc_mpqueue_empty(q));
    pc_coro_free(w);
    pc_coro_free(t);
    expect_rc(pc_loop_close(), 0);
    pc_process_free(p);
    close(fds[0]);
    close(fds[1]);
    expect_rc(pc_mpqueue_free(q), 0);
}

PROC_TEST(a_coroutine_getter_parks_only_itself, .timeout = 60) {
    parks_only_itself(m, false);
}

PROC_TEST(a_coroutine_putter_on_a_full_queue_parks_only_itself, .timeout = 60) {
    parks_only_itself(m, true);
}
