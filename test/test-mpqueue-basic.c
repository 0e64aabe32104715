/*
 * Process queues (pyconc/mpqueue.h) within one process: messages and
 * their boundaries, sizes, the non-blocking and timed forms, close,
 * task_done/join, references and misuse.  Across processes:
 * test-mpqueue-procs.c; deaths and signals: test-mpqueue-fault.c.
 */
#include <errno.h>
#include <pyconc.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static pc_mpqueue *make(pc_mpqueue_kind kind, long maxsize, size_t capacity) {
    pc_mpqueue *q;
    pc_mpqueue_opts o = {.kind = kind, .maxsize = maxsize, .capacity = capacity};
    expect_rc(pc_mpqueue_new(&q, &o), 0);
    return q;
}

static void put_str(pc_mpqueue *q, const char *s) {
    expect_rc(pc_mpqueue_put(q, s, strlen(s), 0), 0);
}

static void get_str(pc_mpqueue *q, const char *want) {
    char buf[256];
    size_t len = 999;
    expect_rc(pc_mpqueue_get(q, buf, sizeof buf, &len, 0), 0);
    cr_assert_eq(len, strlen(want));
    cr_assert_eq(memcmp(buf, want, len), 0, "got %.*s, want %s", (int)len, buf, want);
}

Test(mpqueue, messages_keep_their_boundaries_and_order) {
    pc_mpqueue *q;
    expect_rc(pc_mpqueue_new(&q, NULL), 0);
    cr_assert(pc_mpqueue_empty(q));
    put_str(q, "a");
    put_str(q, "b");
    put_str(q, "");
    put_str(q, "cd");
    cr_assert_eq(pc_mpqueue_qsize(q), 4);
    cr_assert(!pc_mpqueue_empty(q));
    cr_assert(!pc_mpqueue_full(q)); /* unbounded */
    get_str(q, "a");
    get_str(q, "b");
    get_str(q, "");
    get_str(q, "cd");
    cr_assert(pc_mpqueue_empty(q));
    cr_assert_eq(pc_mpqueue_capacity(q), PC_MPQUEUE_DEFAULT_CAPACITY);
    expect_rc(pc_mpqueue_free(q), 0);
}

Test(mpqueue, messages_wrap_around_the_ring_intact) {
    pc_mpqueue *q = make(PC_MPQUEUE_QUEUE, 0, 4096);
    unsigned char msg[1000], got[1000];
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(round * 37) % sizeof msg; /* odd sizes: records straddle the end */
        for (size_t i = 0; i < n; i++)
            msg[i] = (unsigned char)(round + i);
        expect_rc(pc_mpqueue_put(q, msg, n, 0), 0);
        if (round % 3 == 0)
            expect_rc(pc_mpqueue_put(q, msg, n, 0), 0);
        size_t len;
        expect_rc(pc_mpqueue_get(q, got, sizeof got, &len, 0), 0);
        cr_assert_eq(len, n);
        cr_assert_eq(memcmp(got, msg, n), 0, "round %d", round);
        if (round % 3 == 0) {
            expect_rc(pc_mpqueue_get(q, got, sizeof got, &len, 0), 0);
            cr_assert_eq(memcmp(got, msg, n), 0);
        }
    }
    expect_rc(pc_mpqueue_free(q), 0);
}

Test(mpqueue, a_small_buffer_gets_emsgsize_and_the_message_stays) {
    pc_mpqueue *q = make(PC_MPQUEUE_QUEUE, 0, 0);
    put_str(q, "hello world");
    put_str(q, "next");
    char buf[4];
    size_t len = 0;
    expect_rc(pc_mpqueue_get(q, buf, sizeof buf, &len, 0), -EMSGSIZE);
    cr_assert_eq(len, 11);
    expect_rc(pc_mpqueue_get(q, NULL, 0, &len, 0), -EMSGSIZE); /* asks the size */
    cr_assert_eq(len, 11);
    cr_assert_eq(pc_mpqueue_qsize(q), 2);
    get_str(q, "hello world");
    void *p;
    expect_rc(pc_mpqueue_get_alloc(q, &p, &len, 0), 0);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(p, "next", 4), 0);
    pc_mpqueue_buf_free(p);
    put_str(q, "");
    expect_rc(pc_mpqueue_get_alloc(q, &p, &len, 0), 0);
    cr_assert_not_null(p);
    cr_assert_eq(len, 0);
    pc_mpqueue_buf_free(p);
    pc_mpqueue_buf_free(NULL);
    expect_rc(pc_mpqueue_free(q), 0);
}

Test(mpqueue, a_message_bigger_than_the_ring_is_emsgsize_at_put) {
    pc_mpqueue *q = make(PC_MPQUEUE_QUEUE, 0, 4096);
    char *big = calloc(1, 8192);
    cr_assert_not_null(big);
    expect_rc(pc_mpqueue_put(q, big, 4096 - 8 + 1, PC_FOREVER), -EMSGSIZE);
    expect_rc(pc_mpqueue_put(q, big, 4096 - 8, 0), 0); /* exactly the ring */
    expect_rc(pc_mpqueue_put(q, big, 1, 0), -EAGAIN);  /* no room left */
    size_t len;
    expect_rc(pc_mpqueue_get(q, big, 8192, &len, 0), 0);
    cr_assert_eq(len, 4096 - 8);
    free(big);
    expect_rc(pc_mpqueue_free(q), 0);
}

Test(mpqueue, nonblocking_and_timed_forms) {
    pc_mpqueue *q = make(PC_MPQUEUE_QUEUE, 2, 0);
    char buf[8];
    size_t len;
    expect_rc(pc_mpqueue_get(q, buf, sizeof buf, &len, 0), -EAGAIN);
    double t0 = pc_now();
    expect_rc(pc_mpqueue_get(q, buf, sizeof buf, &len, 0.2), -ETIMEDOUT);
    double waited = pc_now() - t0;
    cr_assert(waited >= 0.18 && waited < 5, "waited %f", waited);
    put_str(q, "1");
    cr_assert(!pc_mpqueue_full(q));
    put_str(q, "2");
    cr_assert(pc_mpqueue_full(q));
    cr_assert_eq(pc_mpqueue_maxsize(q), 2);
    expect_rc(pc_mpqueue_put(q, "3", 1, 0), -EAGAIN);
    t0 = pc_now();
    expect_rc(pc_mpqueue_put(q, "3", 1, 0.2), -ETIMEDOUT);
    waited = pc_now() - t0;
    cr_assert(waited >= 0.18 && waited < 5, "waited %f", waited);
    get_str(q, "1");
    put_str(q, "3");
    get_str(q, "2");
    get_str(q, "3");
    expect_rc(pc_mpqueue_free(q), 0);
}

Test(mpqueue, close_drains_then_epipe) {
    pc_mpqueue *q = make(PC_MPQUEUE_QUEUE, 0, 0);
    put_str(q, "last");
    cr_assert(!pc_mpqueue_is_closed(q));
    expect_rc(pc_mpqueue_close(q), 0);
    expect_rc(pc_mpqueue_close(q), 0);
    cr_assert(pc_mpqueue_is_closed(q));
    expect_rc(pc_mpqueue_put(q, "x", 1, PC_FOREVER), -EPIPE);
    get_str(q, "last");
    char buf[8];
    size_t len;
    expect_rc(pc_mpqueue_get(q, buf, sizeof buf, &len, PC_FOREVER), -EPIPE);
    expect_rc(pc_mpqueue_get(q, buf, sizeof buf, &len, 0), -EPIPE);
    expect_rc(pc_mpqueue_free(q), 0);
}

Test(mpqueue, simple_queue_has_no_maxsize_and_no_tasks) {
    pc_mpqueue *q = make(PC_MPQUEUE_SIMPLE, 1, 0);
    cr_assert_eq(pc_mpqueue_maxsize(q), 0);
    put_str(q, "a");
    put_str(q, "b");
    get_str(q, "a");
    expect_rc(pc_mpqueue_task_done(q), -ENOTSUP);
    expect_rc(pc_mpqueue_join(q, 0), -ENOTSUP);
    expect_rc(pc_mpqueue_free(q), 0);
    q = make(PC_MPQUEUE_QUEUE, 0, 0);
    expect_rc(pc_mpqueue_task_done(q), -ENOTSUP);
    expect_rc(pc_mpqueue_free(q), 0);
}

Test(mpqueue, joinable_counts_tasks_and_refuses_too_many) {
    pc_mpqueue *q = make(PC_MPQUEUE_JOINABLE, 0, 0);
    expect_rc(pc_mpqueue_join(q, 0), 0);
    expect_rc(pc_mpqueue_task_done(q), -EOVERFLOW);
    put_str(q, "a");
    put_str(q, "b");
    expect_rc(pc_mpqueue_join(q, 0), -EAGAIN);
    expect_rc(pc_mpqueue_join(q, 0.05), -ETIMEDOUT);
    get_str(q, "a");
    expect_rc(pc_mpqueue_task_done(q), 0);
    get_str(q, "b");
    expect_rc(pc_mpqueue_join(q, 0), -EAGAIN);
    expect_rc(pc_mpqueue_task_done(q), 0);
    expect_rc(pc_mpqueue_join(q, 0), 0);
    expect_rc(pc_mpqueue_join(q, PC_FOREVER), 0);
    expect_rc(pc_mpqueue_task_done(q), -EOVERFLOW);
    expect_rc(pc_mpqueue_free(q), 0);
}

Test(mpqueue, references_and_misuse) {
    pc_mpqueue *q = make(PC_MPQUEUE_QUEUE, 0, 5000);
    cr_assert_eq(pc_mpqueue_capacity(q), 8192); /* rounded up to a power of two */
    pc_shared_ref r;
    expect_rc(pc_mpqueue_ref(q, &r), 0);
    pc_mpqueue *back;
    expect_rc(pc_mpqueue_from_ref(r, &back), 0);
    cr_assert_eq(back, q);
    void *other;
    expect_rc(pc_shared_alloc(64, &other), 0);
    pc_shared_ref ro;
    expect_rc(pc_shared_ref_of(other, &ro), 0);
    expect_rc(pc_mpqueue_from_ref(ro, &back), -EINVAL); /* not a queue */
    expect_rc(pc_mpqueue_from_ref((pc_shared_ref){0, 0}, &back), -EINVAL);
    expect_rc(pc_mpqueue_from_ref(r, NULL), -EINVAL);
    expect_rc(pc_shared_free(other), 0);

    char buf[4];
    size_t len;
    expect_rc(pc_mpqueue_new(NULL, NULL), -EINVAL);
    expect_rc(pc_mpqueue_new(&back, &(pc_mpqueue_opts){.kind = 7}), -EINVAL);
    expect_rc(pc_mpqueue_new(&back, &(pc_mpqueue_opts){.capacity = (size_t)2 << 30}), -EINVAL);
    expect_rc(pc_mpqueue_put(NULL, "a", 1, 0), -EINVAL);
    expect_rc(pc_mpqueue_put(q, NULL, 1, 0), -EINVAL);
    expect_rc(pc_mpqueue_put(q, NULL, 0, 0), 0); /* an empty message needs no buffer */
    expect_rc(pc_mpqueue_put(q, "a", 1, 0.0 / 0.0), -EINVAL);
    expect_rc(pc_mpqueue_get(NULL, buf, 4, &len, 0), -EINVAL);
    expect_rc(pc_mpqueue_get(q, buf, 4, NULL, 0), -EINVAL);
    expect_rc(pc_mpqueue_get(q, NULL, 4, &len, 0), -EINVAL);
    expect_rc(pc_mpqueue_get_alloc(q, NULL, &len, 0), -EINVAL);
    expect_rc(pc_mpqueue_get(q, NULL, 0, &len, 0), 0); /* the empty message */
    expect_rc(pc_mpqueue_close(NULL), -EINVAL);
    expect_rc(pc_mpqueue_task_done(NULL), -EINVAL);
    expect_rc(pc_mpqueue_join(NULL, 0), -EINVAL);
    cr_assert_eq(pc_mpqueue_qsize(NULL), -EINVAL);
    cr_assert(pc_mpqueue_empty(NULL));
    cr_assert(!pc_mpqueue_full(NULL));
    expect_rc(pc_mpqueue_ref(NULL, &r), -EINVAL);
    expect_rc(pc_mpqueue_free(NULL), -EINVAL);
    expect_rc(pc_mpqueue_free(q), 0);
    expect_rc(pc_mpqueue_free(q), -EINVAL); /* double free */
    expect_rc(pc_mpqueue_from_ref(r, &back), -EINVAL);
}

/* Threads of one process: several producers and consumers, every message
 * delivered once. */
struct mt {
    pc_mpqueue *q;
    long per;
    _Atomic long sum, count;
};

static void *producer(void *arg) {
    struct mt *s = arg;
    for (long i = 1; i <= s->per; i++)
        if (pc_mpqueue_put(s->q, &i, sizeof i, PC_FOREVER) != 0)
            return (void *)1;
    return NULL;
}

static void *consumer(void *arg) {
    struct mt *s = arg;
    for (;;) {
        long v;
        size_t len;
        int r = pc_mpqueue_get(s->q, &v, sizeof v, &len, PC_FOREVER);
        if (r == -EPIPE)
            return NULL;
        if (r != 0 || len != sizeof v)
            return (void *)1;
        atomic_fetch_add(&s->sum, v);
        atomic_fetch_add(&s->count, 1);
    }
}

Test(mpqueue, threads_put_and_get_every_message_once, .timeout = 60) {
    struct mt s = {.q = make(PC_MPQUEUE_QUEUE, 16, 4096), .per = 20000};
    pthread_t p[3], c[3];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pthread_create(&p[i], NULL, producer, &s), 0);
        cr_assert_eq(pthread_create(&c[i], NULL, consumer, &s), 0);
    }
    void *rv;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pthread_join(p[i], &rv), 0);
        cr_assert_null(rv);
    }
    expect_rc(pc_mpqueue_close(s.q), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(pthread_join(c[i], &rv), 0);
        cr_assert_null(rv);
    }
    cr_assert_eq(s.count, 3 * s.per);
    cr_assert_eq(s.sum, 3 * s.per * (s.per + 1) / 2);
    expect_rc(pc_mpqueue_free(s.q), 0);
}

/* A coroutine killed while it waits in a get or a put: -ECANCELED, and
 * the queue goes on as if it had never waited. */
static int coro_get(void *arg, void **value) {
    (void)value;
    char c;
    size_t len;
    return pc_mpqueue_get(arg, &c, 1, &len, 30);
}

static int coro_put(void *arg, void **value) {
    (void)value;
    return pc_mpqueue_put(arg, "p", 1, 30);
}

Test(mpqueue, a_coroutine_killed_while_waiting_gets_ecanceled, .timeout = 60) {
    pc_mpqueue *empty = make(PC_MPQUEUE_QUEUE, 0, 0), *full = make(PC_MPQUEUE_QUEUE, 1, 0);
    put_str(full, "f");
    pc_coro *g, *p;
    expect_rc(pc_coro_spawn(&g, coro_get, empty, NULL), 0);
    expect_rc(pc_coro_spawn(&p, coro_put, full, NULL), 0);
    expect_rc(pc_loop_run_until(pc_loop_current(), g, 0.05), -ETIMEDOUT);
    cr_assert(pc_coro_started(g) && !pc_coro_ready(g));
    cr_assert(pc_coro_started(p) && !pc_coro_ready(p));
    expect_rc(pc_coro_kill(g), 0);
    expect_rc(pc_coro_kill(p), 0);
    expect_rc(pc_coro_join(g, 10), 0);
    expect_rc(pc_coro_join(p, 10), 0);
    expect_rc(pc_coro_error(g), -ECANCELED);
    expect_rc(pc_coro_error(p), -ECANCELED);
    put_str(empty, "e");
    get_str(empty, "e");
    get_str(full, "f");
    cr_assert(pc_mpqueue_empty(full));
    pc_coro_free(g);
    pc_coro_free(p);
    expect_rc(pc_loop_close(), 0);
    expect_rc(pc_mpqueue_free(empty), 0);
    expect_rc(pc_mpqueue_free(full), 0);
}
