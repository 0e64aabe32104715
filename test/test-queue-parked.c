/*
 * pc_queue's blocking paths, made deterministic: a probe parker (see
 * probe.h) tells the main thread that a getter, putter or joiner is queued
 * and parked, so the test acts only once it is, without sleeping.
 *
 * The probe here also has a gate: a thread can be stopped at its Nth call
 * of park(), before the real park or after it returned, while the main
 * thread puts, gets or shuts down.  That pins down the interleavings that
 * matter: a call settled by the re-check a waiter makes once it is queued,
 * a wake-up racing with a timeout.  A second gate stops a thread where it
 * is about to register (pc__queue_register_hook).
 *
 * Only parks with a deadline other than 0 are reported without a gate.
 */
#include <errno.h>
#include <semaphore.h>
#include <time.h>

#include "../src/queue/queue-internal.h"
#include "probe.h"
#include "sync-helpers.h"

#define P(i) ((void *)(intptr_t)(i))
#define I(p) ((int)(intptr_t)(p))

/* --------------------------------------------------------- gated probe */

static sem_t gate;
static _Thread_local int tl_gate_at; /* stop at this park() call, 1-based; 0: never */
static _Thread_local bool tl_gate_after;
static _Thread_local int tl_parks;

static void report_park(void) {
    char c = 1;
    cr_assert_eq(write(probe_fd[1], &c, 1), 1);
}

static int gated_park(pc__waiter *w, int64_t deadline) {
    bool gated = ++tl_parks == tl_gate_at;
    if (deadline != 0 || gated)
        report_park();
    if (gated && !tl_gate_after)
        cr_assert_eq(sem_wait(&gate), 0);
    int r = pc__thread_parker.park(w, deadline);
    if (gated && tl_gate_after) {
        report_park();
        cr_assert_eq(sem_wait(&gate), 0);
    }
    return r;
}

static const pc__parker gated_parker = {gated_park, probe_wake};

/* The register gate: a thread whose `tl_hold_register` is set stops once,
 * reported like a park, where it is about to register as a waiter (its
 * attempt failed and it is not queued yet), until the main thread opens
 * `register_gate`. */
static sem_t register_gate;
static _Thread_local bool tl_hold_register;

static void hold_at_register(void) {
    if (!tl_hold_register)
        return;
    tl_hold_register = false;
    report_park();
    cr_assert_eq(sem_wait(&register_gate), 0);
}

static void setup(void) {
    probe_init();
    cr_assert_eq(sem_init(&gate, 0, 0), 0);
    cr_assert_eq(sem_init(&register_gate, 0, 0), 0);
    pc__queue_register_hook = hold_at_register;
}

static void open_gate(void) {
    cr_assert_eq(sem_post(&gate), 0);
}

/* Read the reports nobody waits for (a timed-out waiter that lost the race
 * to a waker parks once more); call once the reporting threads are joined. */
static void drain_reports(void) {
    while (probe_pending()) {
        char buf[64];
        cr_assert(read(probe_fd[0], buf, sizeof buf) > 0);
    }
}

/* ------------------------------------------------ calls in other threads */

enum op_kind { GET, PUT, JOIN };

struct op {
    pc_queue *q;
    enum op_kind kind;
    void *item; /* PUT: what to put; GET: what came out */
    double timeout;
    int gate_at;
    bool gate_after;
    bool hold_register; /* stop at the register gate once */
    _Atomic int rc;     /* 1 while the call runs */
    pthread_t t;
};

static void *run_op(void *arg) {
    struct op *o = arg;
    tl_gate_at = o->gate_at;
    tl_gate_after = o->gate_after;
    tl_hold_register = o->hold_register;
    pc__tls_parker = &gated_parker;
    int rc;
    switch (o->kind) {
    case GET: rc = pc_queue_get(o->q, &o->item, o->timeout); break;
    case PUT: rc = pc_queue_put(o->q, o->item, o->timeout); break;
    default: rc = pc_queue_join(o->q, o->timeout); break;
    }
    atomic_store(&o->rc, rc);
    return NULL;
}

static void start(struct op *o, pc_queue *q, enum op_kind kind, void *item, double timeout) {
    *o = (struct op){.q = q, .kind = kind, .item = item, .timeout = timeout, .rc = 1};
    o->t = start_pthread(run_op, o);
}

static void start_gated(struct op *o, pc_queue *q, enum op_kind kind, void *item, double timeout,
                        int gate_at, bool after, bool hold_register) {
    *o = (struct op){.q = q,
                     .kind = kind,
                     .item = item,
                     .timeout = timeout,
                     .gate_at = gate_at,
                     .gate_after = after,
                     .hold_register = hold_register,
                     .rc = 1};
    o->t = start_pthread(run_op, o);
}

static bool running(struct op *o) {
    return atomic_load(&o->rc) == 1;
}

/* Join o, which must return within `secs` (a lost wake-up would park it
 * for good); its return code. */
static int finish(struct op *o, double secs) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)secs;
    int r = pthread_timedjoin_np(o->t, NULL, &ts);
    cr_assert_eq(r, 0, "a waiter is still parked after %.0f s: a lost wake-up", secs);
    return atomic_load(&o->rc);
}

/* ------------------------------------------------------------- configs */

struct config {
    pc_queue_kind kind;
    long maxsize;
    const char *what;
};

static int cmp_int(const void *a, const void *b, void *arg) {
    (void)arg;
    return I(a) - I(b);
}

static pc_queue *make(const struct config *c) {
    pc_queue *q;
    expect_rc(
        pc_queue_new(&q, &(pc_queue_opts){.kind = c->kind, .maxsize = c->maxsize, .cmp = cmp_int}),
        0);
    return q;
}

/* Every storage and every bounding path of queue.c. */
static const struct config all_kinds[] = {
    {PC_QUEUE_FIFO, 0, "unbounded fifo (segments)"},
    {PC_QUEUE_SIMPLE, 0, "simple queue"},
    {PC_QUEUE_FIFO, 1, "fifo maxsize 1 (a one-slot ring)"},
    {PC_QUEUE_FIFO, 2, "fifo maxsize 2 (ring)"},
    {PC_QUEUE_FIFO, 3, "fifo maxsize 3 (ring, not a power of two)"},
    {PC_QUEUE_FIFO, 70000, "fifo maxsize 70000 (segments + admission)"},
    {PC_QUEUE_LIFO, 0, "lifo"},
    {PC_QUEUE_LIFO, 1, "lifo maxsize 1"},
    {PC_QUEUE_PRIORITY, 0, "priority"},
    {PC_QUEUE_PRIORITY, 2, "priority maxsize 2"},
};
#define N_KINDS (sizeof all_kinds / sizeof all_kinds[0])

/* The bounded ones, kept small enough to fill in a test. */
static const struct config bounded_kinds[] = {
    {PC_QUEUE_FIFO, 1, "fifo maxsize 1 (a one-slot ring)"},
    {PC_QUEUE_FIFO, 2, "fifo maxsize 2 (ring)"},
    {PC_QUEUE_FIFO, 3, "fifo maxsize 3 (ring, not a power of two)"},
    {PC_QUEUE_FIFO, 65536, "fifo maxsize 65536 (the largest ring)"},
    {PC_QUEUE_FIFO, 65537, "fifo maxsize 65537 (segments + admission)"},
    {PC_QUEUE_LIFO, 1, "lifo maxsize 1"},
    {PC_QUEUE_LIFO, 4, "lifo maxsize 4"},
    {PC_QUEUE_PRIORITY, 2, "priority maxsize 2"},
};
#define N_BOUNDED (sizeof bounded_kinds / sizeof bounded_kinds[0])

/* Fill a bounded queue with items 1..maxsize. */
static void fill(pc_queue *q) {
    long n = pc_queue_maxsize(q);
    for (long i = 1; i <= n; i++)
        expect_rc(pc_queue_put_nowait(q, P(i)), 0);
    cr_assert(pc_queue_full(q));
    expect_rc(pc_queue_put_nowait(q, P(-1)), -EAGAIN);
}

/* ---------------------------------------------------- getters, putters */

Test(queue_parked, getter_on_empty_is_woken_by_put, .init = setup, .timeout = 60) {
    for (size_t k = 0; k < N_KINDS; k++) {
        pc_queue *q = make(&all_kinds[k]);
        struct op g;
        start(&g, q, GET, NULL, PC_FOREVER);
        probe_wait_parked(1);
        cr_assert(running(&g), "%s: get returned from an empty queue", all_kinds[k].what);
        expect_rc(pc_queue_put(q, P(7), 0), 0);
        expect_rc(finish(&g, 10), 0);
        cr_assert_eq(g.item, P(7), "%s", all_kinds[k].what);
        cr_assert(pc_queue_empty(q));
        pc_queue_free(q);
        drain_reports();
    }
}

/* N parked getters, N puts: each put wakes one, and each getter gets one
 * item, none twice. */
Test(queue_parked, each_put_wakes_one_of_many_getters, .init = setup, .timeout = 60) {
    enum { N = 4 };
    for (size_t k = 0; k < N_KINDS; k++) {
        pc_queue *q = make(&all_kinds[k]);
        struct op g[N];
        for (int i = 0; i < N; i++) {
            start(&g[i], q, GET, NULL, PC_FOREVER);
            probe_wait_parked(1);
        }
        int mask = 0;
        for (int i = 0; i < N; i++)
            expect_rc(pc_queue_put(q, P(1 << i), PC_FOREVER), 0);
        for (int i = 0; i < N; i++) {
            expect_rc(finish(&g[i], 10), 0);
            cr_assert(!(mask & I(g[i].item)), "%s: an item came out twice", all_kinds[k].what);
            mask |= I(g[i].item);
        }
        cr_assert_eq(mask, (1 << N) - 1);
        pc_queue_free(q);
        drain_reports();
    }
}

Test(queue_parked, putter_on_full_is_woken_by_get, .init = setup, .timeout = 60) {
    for (size_t k = 0; k < N_BOUNDED; k++) {
        pc_queue *q = make(&bounded_kinds[k]);
        long n = pc_queue_maxsize(q);
        fill(q);
        struct op p;
        start(&p, q, PUT, P(n + 1), PC_FOREVER);
        probe_wait_parked(1);
        cr_assert(running(&p), "%s: put returned on a full queue", bounded_kinds[k].what);
        void *item;
        expect_rc(pc_queue_get_nowait(q, &item), 0);
        expect_rc(finish(&p, 10), 0);
        cr_assert(pc_queue_full(q));
        /* Every item but the one taken is there once, the new one included. */
        long sum = 0;
        for (long i = 0; i < n; i++) {
            void *x;
            expect_rc(pc_queue_get_nowait(q, &x), 0);
            sum += (long)(intptr_t)x;
        }
        expect_rc(pc_queue_get_nowait(q, &item), -EAGAIN);
        cr_assert_eq(sum, (n + 1) * (n + 2) / 2 - (long)(intptr_t)item, "%s",
                     bounded_kinds[k].what);
        pc_queue_free(q);
        drain_reports();
    }
}

/* ----------------------------------------------------------- shutdown */

static void count_discard(void *item, void *arg) {
    (void)item;
    atomic_fetch_add((_Atomic int *)arg, 1);
}

/*
 * Three getters parked on an empty queue and three putters parked on a
 * full one, all known to be parked: shutdown wakes every one with -EPIPE
 * (there is no race left to excuse anything else).  A plain shutdown
 * leaves the full queue's items for getters; an immediate one discards
 * them.
 */
Test(queue_parked, shutdown_wakes_parked_getters_and_putters, .init = setup, .timeout = 60) {
    enum { N = 3 };
    for (size_t k = 0; k < N_BOUNDED; k++) {
        for (int immediate = 0; immediate < 2; immediate++) {
            const struct config *c = &bounded_kinds[k];
            _Atomic int discarded = 0;
            pc_queue *empty = make(c), *full;
            expect_rc(pc_queue_new(&full, &(pc_queue_opts){.kind = c->kind,
                                                           .maxsize = c->maxsize,
                                                           .cmp = cmp_int,
                                                           .discard = count_discard,
                                                           .discard_arg = &discarded}),
                      0);
            fill(full);
            struct op g[N], p[N];
            for (int i = 0; i < N; i++) {
                start(&g[i], empty, GET, NULL, PC_FOREVER);
                start(&p[i], full, PUT, P(100 + i), PC_FOREVER);
            }
            probe_wait_parked(2 * N);
            expect_rc(pc_queue_shutdown(empty, immediate), 0);
            expect_rc(pc_queue_shutdown(full, immediate), 0);
            for (int i = 0; i < N; i++) {
                expect_rc(finish(&g[i], 10), -EPIPE);
                expect_rc(finish(&p[i], 10), -EPIPE);
            }
            long n = c->maxsize;
            if (immediate) {
                cr_assert_eq(atomic_load(&discarded), n, "%s", c->what);
                cr_assert_eq(pc_queue_qsize(full), 0);
            } else {
                cr_assert_eq(atomic_load(&discarded), 0);
                for (long i = 0; i < n; i++) {
                    void *item;
                    expect_rc(pc_queue_get(full, &item, PC_FOREVER), 0);
                }
            }
            void *item;
            expect_rc(pc_queue_get(full, &item, PC_FOREVER), -EPIPE);
            expect_rc(pc_queue_put(full, P(1), PC_FOREVER), -EPIPE);
            pc_queue_free(empty);
            pc_queue_free(full);
            drain_reports();
        }
    }
}

/* ------------------------------------------------------ task_done/join */

Test(queue_parked, join_waits_for_the_last_task_done, .init = setup, .timeout = 60) {
    const struct config kinds[] = {{PC_QUEUE_FIFO, 0, "segments"},
                                   {PC_QUEUE_FIFO, 4, "ring"},
                                   {PC_QUEUE_LIFO, 0, "lifo"},
                                   {PC_QUEUE_PRIORITY, 0, "priority"}};
    for (size_t k = 0; k < 4; k++) {
        pc_queue *q = make(&kinds[k]);
        void *item;
        for (int i = 1; i <= 3; i++)
            expect_rc(pc_queue_put(q, P(i), 0), 0);
        for (int i = 1; i <= 3; i++)
            expect_rc(pc_queue_get(q, &item, 0), 0);
        struct op j[2];
        for (int i = 0; i < 2; i++) {
            start(&j[i], q, JOIN, NULL, PC_FOREVER);
            probe_wait_parked(1);
        }
        expect_rc(pc_queue_task_done(q), 0);
        expect_rc(pc_queue_task_done(q), 0);
        /* A joiner woken now would find a task outstanding and park again;
         * one that returned is the bug this checks. */
        cr_assert(running(&j[0]) && running(&j[1]), "%s: join returned early", kinds[k].what);
        expect_rc(pc_queue_task_done(q), 0);
        expect_rc(finish(&j[0], 10), 0);
        expect_rc(finish(&j[1], 10), 0);
        expect_rc(pc_queue_task_done(q), -EOVERFLOW);
        pc_queue_free(q);
        drain_reports();
    }
}

/* Immediate shutdown counts the items it removes as done: a joiner waits
 * only for the item a getter took. */
Test(queue_parked, immediate_shutdown_credits_removed_items_to_join, .init = setup, .timeout = 60) {
    for (int taken = 0; taken < 2; taken++) {
        pc_queue *q;
        _Atomic int discarded = 0;
        expect_rc(pc_queue_new(&q, &(pc_queue_opts){.maxsize = 8,
                                                    .discard = count_discard,
                                                    .discard_arg = &discarded}),
                  0);
        void *item;
        for (int i = 1; i <= 5; i++)
            expect_rc(pc_queue_put(q, P(i), 0), 0);
        for (int i = 0; i < taken; i++)
            expect_rc(pc_queue_get(q, &item, 0), 0);
        struct op j;
        start(&j, q, JOIN, NULL, PC_FOREVER);
        probe_wait_parked(1);
        expect_rc(pc_queue_shutdown(q, true), 0);
        cr_assert_eq(atomic_load(&discarded), 5 - taken);
        if (taken) {
            cr_assert(running(&j), "join returned with a taken task not done");
            expect_rc(pc_queue_task_done(q), 0);
        }
        expect_rc(finish(&j, 10), 0);
        expect_rc(pc_queue_task_done(q), -EOVERFLOW);
        expect_rc(pc_queue_join(q, 0), 0);
        pc_queue_free(q);
        drain_reports();
    }
}

/* ----------------------------------------- wake-ups that meet a re-check */

/*
 * W1 finds the queue empty and, stopped at the register gate, is not yet
 * queued when put A lands (so A wakes nobody).  W1 then registers and its
 * re-check takes A: it must leave the queue with A, so that W2, which
 * parks next, is the one that put B wakes.  A W1 left queued would take
 * B's wake-up and W2 would sleep beside B for good.
 */
Test(queue_parked, getter_settled_by_its_recheck_leaves_the_queue, .init = setup, .timeout = 120) {
    for (size_t k = 0; k < N_KINDS; k++) {
        const struct config *c = &all_kinds[k];
        pc_queue *q = make(c);
        struct op w1, w2;
        start_gated(&w1, q, GET, NULL, PC_FOREVER, 0, false, true);
        probe_wait_parked(1); /* W1 at the register gate */
        expect_rc(pc_queue_put(q, P(1), 0), 0);
        cr_assert_eq(sem_post(&register_gate), 0);
        expect_rc(finish(&w1, 10), 0);
        cr_assert_eq(w1.item, P(1), "%s", c->what);
        start(&w2, q, GET, NULL, PC_FOREVER);
        probe_wait_parked(1);
        expect_rc(pc_queue_put(q, P(2), 0), 0);
        expect_rc(finish(&w2, 10), 0);
        cr_assert_eq(w2.item, P(2), "%s", c->what);
        pc_queue_free(q);
        drain_reports();
    }
}

/* The same for putters: P1's re-check puts its item into the room a get
 * made before P1 registered; the next get's wake-up must reach P2. */
Test(queue_parked, putter_settled_by_its_recheck_leaves_the_queue, .init = setup, .timeout = 120) {
    for (size_t k = 0; k < N_BOUNDED; k++) {
        const struct config *c = &bounded_kinds[k];
        pc_queue *q = make(c);
        long n = c->maxsize;
        void *item;
        fill(q);
        struct op p1, p2;
        start_gated(&p1, q, PUT, P(n + 1), PC_FOREVER, 0, false, true);
        probe_wait_parked(1); /* P1 at the register gate */
        expect_rc(pc_queue_get_nowait(q, &item), 0);
        cr_assert_eq(sem_post(&register_gate), 0);
        expect_rc(finish(&p1, 10), 0);
        cr_assert(pc_queue_full(q));
        start(&p2, q, PUT, P(n + 2), PC_FOREVER);
        probe_wait_parked(1);
        expect_rc(pc_queue_get_nowait(q, &item), 0);
        expect_rc(finish(&p2, 10), 0);
        cr_assert(pc_queue_full(q), "%s", c->what);
        pc_queue_free(q);
        drain_reports();
    }
}

/* ------------------------------------------------- timeouts vs wake-ups */

/*
 * A getter's park times out; before it takes the guard to withdraw, a put
 * dequeues it (the gate holds it there).  The wake-up won: the getter must
 * come back with the item, and the queue must be empty, not hold the item
 * while the get reports a timeout.
 */
Test(queue_parked, get_timeout_racing_a_put_loses_nothing, .init = setup, .timeout = 60) {
    for (size_t k = 0; k < N_KINDS; k++) {
        pc_queue *q = make(&all_kinds[k]);
        struct op g;
        start_gated(&g, q, GET, NULL, 0.05, 1, true, false);
        probe_wait_parked(2); /* parked, then timed out, at the gate */
        expect_rc(pc_queue_put(q, P(5), 0), 0);
        open_gate();
        expect_rc(finish(&g, 10), 0);
        cr_assert_eq(g.item, P(5), "%s", all_kinds[k].what);
        cr_assert(pc_queue_empty(q), "%s", all_kinds[k].what);
        pc_queue_free(q);
        drain_reports();
    }
}

/* A putter's park times out while a get makes room and dequeues it: the
 * putter must report its item accepted, and the item be there. */
Test(queue_parked, put_timeout_racing_a_get_loses_nothing, .init = setup, .timeout = 60) {
    for (size_t k = 0; k < N_BOUNDED; k++) {
        pc_queue *q = make(&bounded_kinds[k]);
        long n = bounded_kinds[k].maxsize;
        fill(q);
        struct op p;
        start_gated(&p, q, PUT, P(n + 1), 0.05, 1, true, false);
        probe_wait_parked(2);
        void *item;
        expect_rc(pc_queue_get_nowait(q, &item), 0);
        open_gate();
        expect_rc(finish(&p, 10), 0);
        cr_assert(pc_queue_full(q), "%s", bounded_kinds[k].what);
        pc_queue_free(q);
        drain_reports();
    }
}

/* A getter that timed out and withdrew took nothing: the item put after
 * stays for the next get. */
Test(queue_parked, timed_out_getter_takes_nothing, .init = setup, .timeout = 60) {
    for (size_t k = 0; k < N_KINDS; k++) {
        pc_queue *q = make(&all_kinds[k]);
        struct op g;
        start(&g, q, GET, P(-1), 0.05);
        probe_wait_parked(1);
        expect_rc(finish(&g, 10), -ETIMEDOUT);
        cr_assert_eq(g.item, P(-1), "a timed-out get wrote its out pointer");
        expect_rc(pc_queue_put(q, P(3), 0), 0);
        void *item;
        expect_rc(pc_queue_get_nowait(q, &item), 0);
        cr_assert_eq(item, P(3));
        pc_queue_free(q);
        drain_reports();
    }
}

static void *lone_getter(void *arg) {
    probe_install();
    void *item;
    pc_queue_get(arg, &item, 30.0);
    return NULL;
}

static void free_queue(void *q) {
    pc_queue_free(q);
}

Test(queue_parked, free_with_a_blocked_getter_aborts, .timeout = 30) {
    pc_queue *q;
    probe_init();
    expect_rc(pc_queue_new(&q, NULL), 0);
    pthread_t t = start_pthread(lone_getter, q);
    probe_wait_parked(1);
    expect_child_aborts(free_queue, q);
    expect_rc(pc_queue_put(q, NULL, 0), 0);
    pthread_join(t, NULL);
    pc_queue_free(q); /* nobody waits now: no abort */
}
