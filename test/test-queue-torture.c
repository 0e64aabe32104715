/*
 * pc_queue torture: producers and consumers hammer every kind of queue
 * with every form of put and get (blocking, timed, non-blocking) and an
 * auditor checks the outcome:
 *  - a ledger counts each item's deliveries (to a getter or to discard):
 *    every accepted put exactly once, a refused put never, per-producer
 *    order kept by FIFO kinds;
 *  - task_done/join balance at the end, immediate shutdown included;
 *  - in rounds where every put has a matching get, a waiter still parked
 *    long after the round should have ended, beside items (or room) it
 *    waits for, is a lost wake-up.
 * Shutdown arrives while the producers still put, plain or immediate.
 * Fault injection makes segment allocations fail under way (-ENOMEM must
 * change nothing).
 *
 * Negative controls prove the checks can fail: a consumer that drops
 * items, one that records an item twice, a discard callback that forgets,
 * a waiter parked where no put can reach it.
 *
 * Each run lasts PC_TORTURE_SECONDS (default 0.2 s); long runs are opt-in.
 * A test makes one run per configuration (11): keep PC_TORTURE_SECONDS
 * under 20 for the tests' time limits.
 */
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>
#include <time.h>

#include "sync-helpers.h"

/* ------------------------------------------------------------- ledger */

#define MAXP 4
#define LEDGER_CAP (1L << 18) /* items per producer */

struct ledger {
    int producers;
    _Atomic unsigned char *count[MAXP]; /* deliveries of each item */
    _Atomic long accepted[MAXP];        /* items 0..accepted-1 got in */
};

struct verdict {
    long lost, dup, ghost; /* accepted and never out; out twice; refused and out */
};

static void *item_of(int p, long seq) {
    return (void *)((((uintptr_t)p << 32) | (uintptr_t)seq) + 1);
}

static void decode(const struct ledger *l, void *item, int *p, long *seq) {
    uintptr_t v = (uintptr_t)item - 1;
    *p = (int)(v >> 32);
    *seq = (long)(v & 0xffffffffu);
    cr_assert(*p < l->producers && *seq < LEDGER_CAP, "bogus item %p", item);
}

static void record(struct ledger *l, void *item) {
    int p;
    long seq;
    decode(l, item, &p, &seq);
    atomic_fetch_add(&l->count[p][seq], 1);
}

static void ledger_init(struct ledger *l, int producers) {
    l->producers = producers;
    for (int p = 0; p < producers; p++) {
        l->count[p] = calloc(LEDGER_CAP, 1);
        cr_assert_not_null(l->count[p]);
        atomic_init(&l->accepted[p], 0);
    }
}

static struct verdict audit(struct ledger *l) {
    struct verdict v = {0};
    for (int p = 0; p < l->producers; p++) {
        long acc = atomic_load(&l->accepted[p]);
        for (long i = 0; i < LEDGER_CAP; i++) {
            unsigned c = atomic_load(&l->count[p][i]);
            if (i < acc && c == 0)
                v.lost++;
            else if (c > 1)
                v.dup++;
            else if (i >= acc && c > 0)
                v.ghost++;
        }
        free(l->count[p]);
    }
    return v;
}

/* ------------------------------------------------------------ configs */

struct config {
    pc_queue_kind kind;
    long maxsize;
    const char *what;
};

static int cmp_ptr(const void *a, const void *b, void *arg) {
    (void)arg;
    return (uintptr_t)a < (uintptr_t)b ? -1 : (uintptr_t)a > (uintptr_t)b;
}

static const struct config configs[] = {
    {PC_QUEUE_FIFO, 0, "unbounded fifo"}, {PC_QUEUE_SIMPLE, 0, "simple"},
    {PC_QUEUE_FIFO, 1, "fifo 1"},         {PC_QUEUE_FIFO, 2, "fifo 2 (ring)"},
    {PC_QUEUE_FIFO, 3, "fifo 3 (ring)"},  {PC_QUEUE_FIFO, 64, "fifo 64 (ring)"},
    {PC_QUEUE_FIFO, 70000, "fifo 70000"}, {PC_QUEUE_LIFO, 0, "lifo"},
    {PC_QUEUE_LIFO, 2, "lifo 2"},         {PC_QUEUE_PRIORITY, 0, "priority"},
    {PC_QUEUE_PRIORITY, 3, "priority 3"},
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

static bool is_fifo(const struct config *c) {
    return c->kind == PC_QUEUE_FIFO || c->kind == PC_QUEUE_SIMPLE;
}

/* ------------------------------------------------- producers/consumers */

enum ending { PRODUCERS_STOP, SHUTDOWN_RACES, IMMEDIATE_RACES };

struct run {
    const struct config *c;
    pc_queue *q;
    struct ledger led;
    double until;
    int producers, consumers;
    _Atomic int next_producer;
    bool tasks;     /* consumers call task_done */
    bool inject;    /* producers make allocations fail now and then */
    int drop_every; /* control: a consumer drops every Nth item unrecorded */
    int dup_every;  /* control: a consumer records every Nth item twice */
    bool forgetful; /* control: discard does not record */
    _Atomic long got, enomem, discarded;
};

static void discard_item(void *item, void *arg) {
    struct run *r = arg;
    atomic_fetch_add(&r->discarded, 1);
    if (!r->forgetful)
        record(&r->led, item);
}

/* One put in one of five forms, retried until it gets in; 0 or -EPIPE. */
static int put_somehow(struct run *r, void *item, unsigned n) {
    for (;;) {
        if (r->inject && n % 16 == 0)
            pc_alloc_fail_nth(1); /* whichever thread allocates next fails */
        int rc;
        switch (n++ % 5) {
        case 0: rc = pc_queue_put(r->q, item, PC_FOREVER); break;
        case 1: rc = pc_queue_put_nowait(r->q, item); break;
        case 2: rc = pc_queue_put(r->q, item, 0); break;
        default: rc = pc_queue_put(r->q, item, (n % 7) * 1e-6); break;
        }
        if (rc == 0 || rc == -EPIPE)
            return rc;
        if (rc == -ENOMEM)
            atomic_fetch_add(&r->enomem, 1);
        else
            cr_assert(rc == -EAGAIN || rc == -ETIMEDOUT, "put: %d", rc);
    }
}

/* Items each producer puts at least, and the consumers get at least
 * before a shutdown ends the run. */
#define MIN_ITEMS 2000

static void *producer(void *arg) {
    struct run *r = arg;
    int p = atomic_fetch_add(&r->next_producer, 1);
    for (long seq = 0; seq < LEDGER_CAP; seq++) {
        /* a minimum of work, not only of time: on a loaded machine a
         * producer may get no CPU before the run's end */
        if (seq >= MIN_ITEMS && pc_now() >= r->until)
            break;
        if (put_somehow(r, item_of(p, seq), (unsigned)seq) == -EPIPE)
            break;
        atomic_store(&r->led.accepted[p], seq + 1);
    }
    return NULL;
}

static int get_somehow(struct run *r, void **item, unsigned n) {
    switch (n % 4) {
    case 0: return pc_queue_get(r->q, item, PC_FOREVER);
    case 1: return pc_queue_get_nowait(r->q, item);
    case 2: return pc_queue_get(r->q, item, 0);
    default: return pc_queue_get(r->q, item, (n % 5) * 1e-6);
    }
}

static void *consumer(void *arg) {
    struct run *r = arg;
    long last[MAXP];
    for (int p = 0; p < MAXP; p++)
        last[p] = -1;
    for (unsigned n = 0;; n++) {
        void *item;
        int rc = get_somehow(r, &item, n);
        if (rc == -EPIPE)
            break;
        if (rc == -EAGAIN || rc == -ETIMEDOUT)
            continue;
        expect_rc(rc, 0);
        long k = atomic_fetch_add(&r->got, 1) + 1;
        int p;
        long seq;
        decode(&r->led, item, &p, &seq);
        if (is_fifo(r->c)) /* one consumer sees one producer's items in order */
            cr_assert(seq > last[p], "%s: producer %d's item %ld after %ld", r->c->what, p, seq,
                      last[p]);
        last[p] = seq;
        if (!(r->drop_every && k % r->drop_every == 0))
            record(&r->led, item);
        if (r->dup_every && k % r->dup_every == 0)
            record(&r->led, item);
        if (r->tasks)
            expect_rc(pc_queue_task_done(r->q), 0);
    }
    return NULL;
}

/* Run producers and consumers for the torture time; end as told. */
static struct verdict run(struct run *r, enum ending ending) {
    r->tasks = r->c->kind != PC_QUEUE_SIMPLE;
    expect_rc(pc_queue_new(&r->q, &(pc_queue_opts){.kind = r->c->kind,
                                                   .maxsize = r->c->maxsize,
                                                   .cmp = cmp_ptr,
                                                   .discard = discard_item,
                                                   .discard_arg = r}),
              0);
    ledger_init(&r->led, r->producers);
    pthread_t pt[MAXP], ct[MAXP];
    for (int i = 0; i < r->consumers; i++)
        ct[i] = start_pthread(consumer, r);
    double secs = torture_seconds(0.2);
    r->until = pc_now() + (ending == PRODUCERS_STOP ? secs : 1e9);
    for (int i = 0; i < r->producers; i++)
        pt[i] = start_pthread(producer, r);
    if (ending != PRODUCERS_STOP) {
        pc_sleep(secs); /* the run's length, not an ordering */
        /* and some work moved, however loaded the machine (bounded) */
        for (double give_up = pc_now() + 20;
             r->consumers && atomic_load(&r->got) < MIN_ITEMS && pc_now() < give_up;)
            pc_sleep(0.01);
        expect_rc(pc_queue_shutdown(r->q, ending == IMMEDIATE_RACES), 0);
    }
    for (int i = 0; i < r->producers; i++)
        pthread_join(pt[i], NULL);
    if (ending == PRODUCERS_STOP)
        expect_rc(pc_queue_shutdown(r->q, false), 0);
    for (int i = 0; i < r->consumers; i++)
        pthread_join(ct[i], NULL);
    cr_assert(pc_queue_is_shutdown(r->q));
    cr_assert_eq(pc_queue_qsize(r->q), 0, "%s: items left after the drain", r->c->what);
    if (r->tasks) { /* every task done or discarded: join is free */
        expect_rc(pc_queue_join(r->q, 0), 0);
        expect_rc(pc_queue_task_done(r->q), -EOVERFLOW);
    }
    pc_queue_free(r->q);
    return audit(&r->led);
}

static void expect_clean(const struct config *c, enum ending ending) {
    struct run r = {.c = c, .producers = 3, .consumers = 3};
    struct verdict v = run(&r, ending);
    cr_assert(v.lost == 0 && v.dup == 0 && v.ghost == 0,
              "%s, ending %d: %ld lost, %ld twice, %ld refused yet delivered", c->what, ending,
              v.lost, v.dup, v.ghost);
    cr_assert(atomic_load(&r.got) > 0, "%s: nothing moved", c->what);
    if (ending != IMMEDIATE_RACES)
        cr_assert_eq(atomic_load(&r.discarded), 0);
}

Test(queue_torture, exactly_once_when_producers_stop, .timeout = 280) {
    for (size_t i = 0; i < N_CONFIGS; i++)
        expect_clean(&configs[i], PRODUCERS_STOP);
}

Test(queue_torture, exactly_once_across_a_racing_shutdown, .timeout = 280) {
    for (size_t i = 0; i < N_CONFIGS; i++)
        expect_clean(&configs[i], SHUTDOWN_RACES);
}

Test(queue_torture, exactly_once_across_a_racing_immediate_shutdown, .timeout = 280) {
    for (size_t i = 0; i < N_CONFIGS; i++)
        expect_clean(&configs[i], IMMEDIATE_RACES);
}

/* Segment allocations fail under way: a put that reports -ENOMEM changed
 * nothing (retried, its item comes out once, in order). */
Test(queue_torture, allocation_failures_change_nothing, .timeout = 120) {
    const struct config cs[] = {{PC_QUEUE_FIFO, 0, "unbounded fifo"},
                                {PC_QUEUE_FIFO, 70000, "fifo 70000"},
                                {PC_QUEUE_LIFO, 0, "lifo"},
                                {PC_QUEUE_PRIORITY, 0, "priority"}};
    for (size_t i = 0; i < 4; i++) {
        /* One consumer for three producers: the queue grows and allocates. */
        struct run r = {.c = &cs[i], .producers = 3, .consumers = 1, .inject = true};
        struct verdict v = run(&r, PRODUCERS_STOP);
        pc_alloc_fail_nth(0);
        cr_assert(v.lost == 0 && v.dup == 0 && v.ghost == 0, "%s: %ld lost, %ld twice, %ld ghosts",
                  cs[i].what, v.lost, v.dup, v.ghost);
        if (cs[i].kind == PC_QUEUE_FIFO)
            cr_assert(atomic_load(&r.enomem) > 0, "%s: no allocation failed", cs[i].what);
    }
}

/* ---------------------------------------------------- negative controls */

Test(queue_torture, control_a_dropping_consumer_is_caught, .timeout = 60) {
    struct run r = {.c = &configs[0], .producers = 2, .consumers = 2, .drop_every = 997};
    struct verdict v = run(&r, PRODUCERS_STOP);
    cr_assert(atomic_load(&r.got) >= 997, "too few items to drop one");
    cr_assert(v.lost > 0, "the audit cannot see a lost item");
}

Test(queue_torture, control_a_duplicating_consumer_is_caught, .timeout = 60) {
    struct run r = {.c = &configs[3], .producers = 2, .consumers = 2, .dup_every = 997};
    struct verdict v = run(&r, PRODUCERS_STOP);
    cr_assert(atomic_load(&r.got) >= 997, "too few items to duplicate one");
    cr_assert(v.dup > 0, "the audit cannot see a duplicate");
}

/* Immediate shutdown of a queue still full of items, with a discard
 * callback that forgets them: the audit must see them lost. */
Test(queue_torture, control_a_forgetful_discard_is_caught, .timeout = 60) {
    struct run r = {.c = &configs[0], .producers = 2, .consumers = 0, .forgetful = true};
    struct verdict v = run(&r, IMMEDIATE_RACES);
    cr_assert(atomic_load(&r.discarded) > 0);
    cr_assert_eq(v.lost, atomic_load(&r.discarded), "the audit cannot see forgotten items");
}

/* ------------------------------------------------------ lost wake-ups */

/*
 * Rounds: each of 2 producers puts ITEMS items, each of 2 consumers gets
 * ITEMS (blocking, so they park when the queue is empty), and a joiner
 * waits for the round's task_done calls.  Every round must end; one that
 * has not ended after ROUND_LIMIT seconds while its waiters' items (or
 * room) are there is a lost wake-up.
 */
#define ITEMS 3
#define WORKERS 5 /* 2 producers, 2 consumers, 1 joiner */
#define ROUND_LIMIT 10.0

struct rounds {
    pc_queue *q;    /* the one the workers use */
    pc_queue *feed; /* where producers put: q, but not in the control */
    bool tasks;
    pthread_barrier_t start;
    sem_t done;
    _Atomic bool stop;
    _Atomic int next_role;
};

static void *round_worker(void *arg) {
    struct rounds *s = arg;
    int role = atomic_fetch_add(&s->next_role, 1);
    for (long round = 0;; round++) {
        pthread_barrier_wait(&s->start);
        if (atomic_load(&s->stop))
            return NULL;
        void *item;
        for (int i = 0; i < ITEMS; i++) {
            if (role < 2) {
                expect_rc(pc_queue_put(s->feed, item_of(role, round * ITEMS + i), PC_FOREVER), 0);
            } else if (role < 4) {
                expect_rc(pc_queue_get(s->q, &item, PC_FOREVER), 0);
                if (s->tasks)
                    expect_rc(pc_queue_task_done(s->q), 0);
            }
        }
        if (role == 4 && s->tasks)
            expect_rc(pc_queue_join(s->q, PC_FOREVER), 0);
        cr_assert_eq(sem_post(&s->done), 0);
    }
}

/* How many of `n` workers finished their round within `limit` seconds. */
static int round_wait(struct rounds *s, int n, double limit) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)((limit - (long)limit) * 1e9);
    ts.tv_sec += (time_t)limit + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    for (int i = 0; i < n; i++) {
        int r;
        while ((r = sem_timedwait(&s->done, &ts)) != 0 && errno == EINTR) {
        }
        if (r != 0)
            return i;
    }
    return n;
}

static void rounds_start(struct rounds *s, pc_queue *q, pc_queue *feed, bool tasks) {
    *s = (struct rounds){.q = q, .feed = feed, .tasks = tasks};
    cr_assert_eq(pthread_barrier_init(&s->start, NULL, WORKERS + 1), 0);
    cr_assert_eq(sem_init(&s->done, 0, 0), 0);
}

Test(queue_torture, no_round_loses_a_wake_up, .timeout = 280) {
    for (size_t c = 0; c < N_CONFIGS; c++) {
        pc_queue *q;
        expect_rc(pc_queue_new(&q, &(pc_queue_opts){.kind = configs[c].kind,
                                                    .maxsize = configs[c].maxsize,
                                                    .cmp = cmp_ptr}),
                  0);
        struct rounds s;
        rounds_start(&s, q, q, configs[c].kind != PC_QUEUE_SIMPLE);
        pthread_t t[WORKERS];
        for (int i = 0; i < WORKERS; i++)
            t[i] = start_pthread(round_worker, &s);
        double until = pc_now() + torture_seconds(0.2);
        long rounds = 0;
        do {
            pthread_barrier_wait(&s.start);
            cr_assert(round_wait(&s, WORKERS, ROUND_LIMIT) == WORKERS,
                      "%s: round %ld still running after %.0f s with %ld items in: a lost wake-up",
                      configs[c].what, rounds, ROUND_LIMIT, pc_queue_qsize(q));
            cr_assert(pc_queue_empty(q));
            rounds++;
        } while (pc_now() < until);
        atomic_store(&s.stop, true);
        pthread_barrier_wait(&s.start);
        for (int i = 0; i < WORKERS; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&s.start);
        sem_destroy(&s.done);
        pc_queue_free(q);
    }
}

/* Control: the producers feed a queue the consumers do not wait on, as if
 * every wake-up were lost; the round check must notice. */
Test(queue_torture, control_an_unreachable_waiter_is_caught, .timeout = 60) {
    pc_queue *q, *elsewhere;
    expect_rc(pc_queue_new(&q, NULL), 0);
    expect_rc(pc_queue_new(&elsewhere, NULL), 0);
    struct rounds s;
    rounds_start(&s, q, elsewhere, false);
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        t[i] = start_pthread(round_worker, &s);
    pthread_barrier_wait(&s.start);
    int ended = round_wait(&s, WORKERS, 0.2);
    cr_assert(ended < WORKERS, "the round check cannot see parked consumers");
    cr_assert_eq(pc_queue_qsize(elsewhere), 2 * ITEMS);
    /* Release the consumers. */
    for (int i = 0; i < 2 * ITEMS; i++)
        expect_rc(pc_queue_put(q, NULL, 0), 0);
    cr_assert_eq(round_wait(&s, WORKERS - ended, ROUND_LIMIT), WORKERS - ended);
    atomic_store(&s.stop, true);
    pthread_barrier_wait(&s.start);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&s.start);
    sem_destroy(&s.done);
    pc_queue_free(q);
    pc_queue_free(elsewhere);
}
