/* pc_barrier: threading.Barrier: indices, the action, timeouts, abort,
 * reset, a failing action. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "sync-helpers.h"

Test(barrier, bad_input_and_getters) {
    pc_barrier *b;
    expect_rc(pc_barrier_new(NULL, 1, NULL, NULL), -EINVAL);
    expect_rc(pc_barrier_new(&b, 0, NULL, NULL), -EINVAL);
    expect_rc(pc_barrier_new(&b, -2, NULL, NULL), -EINVAL);
    expect_rc(pc_barrier_wait(NULL, 1.0), -EINVAL);
    expect_rc(pc_barrier_abort(NULL), -EINVAL);
    expect_rc(pc_barrier_reset(NULL), -EINVAL);
    expect_rc(pc_barrier_parties(NULL), -EINVAL);
    expect_rc(pc_barrier_n_waiting(NULL), -EINVAL);
    cr_assert(!pc_barrier_broken(NULL));
    pc_barrier_free(NULL);
    expect_rc(pc_barrier_new(&b, 3, NULL, NULL), 0);
    expect_rc(pc_barrier_wait(b, NAN), -EINVAL);
    expect_rc(pc_barrier_parties(b), 3);
    expect_rc(pc_barrier_n_waiting(b), 0);
    cr_assert(!pc_barrier_broken(b));
    pc_barrier_free(b);
}

Test(barrier, alloc_failure) {
    pc_barrier *b;
    pc_alloc_fail_nth(1);
    expect_rc(pc_barrier_new(&b, 2, NULL, NULL), -ENOMEM);
    expect_rc(pc_barrier_new(&b, 2, NULL, NULL), 0);
    pc_barrier_free(b);
}

static int count_action(void *arg) {
    (*(int *)arg)++;
    return 0;
}

Test(barrier, one_party_never_waits) {
    pc_barrier *b;
    int runs = 0;
    expect_rc(pc_barrier_new(&b, 1, count_action, &runs), 0);
    for (int i = 0; i < 3; i++)
        expect_rc(pc_barrier_wait(b, 0), 0); /* index parties - 1 = 0 */
    expect_rc(pc_barrier_wait(b, PC_FOREVER), 0);
    cr_assert_eq(runs, 4);
    pc_barrier_free(b);
}

/* A thread that waits once on a barrier and keeps the result. */
struct waiter {
    pc_barrier *b;
    double timeout;
    int rc;
    pthread_t t;
};

static void *wait_once(void *arg) {
    struct waiter *w = arg;
    probe_install();
    w->rc = pc_barrier_wait(w->b, w->timeout);
    return NULL;
}

/* Start n waiters and return once all n are queued. */
static void start_waiters(struct waiter *w, int n, pc_barrier *b) {
    for (int i = 0; i < n; i++) {
        w[i] = (struct waiter){.b = b, .timeout = 30.0, .rc = 1};
        w[i].t = start_pthread(wait_once, &w[i]);
    }
    probe_wait_parked(n);
}

static void join_waiters(struct waiter *w, int n, int want) {
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].t, NULL);
        expect_rc(w[i].rc, want);
    }
}

Test(barrier, indices_follow_arrival_order, .timeout = 30) {
    pc_barrier *b;
    struct waiter w[3];
    probe_init();
    expect_rc(pc_barrier_new(&b, 4, NULL, NULL), 0);
    for (int i = 0; i < 3; i++) {
        start_waiters(&w[i], 1, b);
        expect_rc(pc_barrier_n_waiting(b), i + 1);
    }
    expect_rc(pc_barrier_wait(b, 30.0), 3); /* the last arrival gets parties - 1 */
    for (int i = 0; i < 3; i++) {
        pthread_join(w[i].t, NULL);
        expect_rc(w[i].rc, i);
    }
    expect_rc(pc_barrier_n_waiting(b), 0);
    pc_barrier_free(b);
}

/*
 * Many cycles of PARTIES threads that re-enter at once.  Each cycle's
 * indices must be 0..PARTIES-1 exactly once; the action must run once per
 * cycle, after all PARTIES arrived and before any of them is released.
 */
#define PARTIES 4
#define CYCLES 1000
struct cycles {
    pc_barrier *b;
    pc_atomic_long arrivals, actions, bad;
    _Atomic unsigned seen[CYCLES];
};

static int cycle_action(void *arg) {
    struct cycles *cy = arg;
    long n = pc_atomic_long_add(&cy->actions, 1);
    if (pc_atomic_long_load(&cy->arrivals) != n * PARTIES) /* all here, none early */
        pc_atomic_long_add(&cy->bad, 1);
    if (pc_barrier_n_waiting(cy->b) != 0) /* the cycle has ended; no deadlock */
        pc_atomic_long_add(&cy->bad, 1);
    return 0;
}

static void *cycle_thread(void *arg) {
    struct cycles *cy = arg;
    for (int c = 0; c < CYCLES; c++) {
        pc_atomic_long_add(&cy->arrivals, 1);
        int idx = pc_barrier_wait(cy->b, 30.0);
        if (idx < 0 || idx >= PARTIES) {
            pc_atomic_long_add(&cy->bad, 1);
            break;
        }
        if (atomic_fetch_or(&cy->seen[c], 1u << idx) & (1u << idx))
            pc_atomic_long_add(&cy->bad, 1); /* this index was given twice */
        if (pc_atomic_long_load(&cy->actions) < c + 1)
            pc_atomic_long_add(&cy->bad, 1); /* released before the action */
    }
    return NULL;
}

Test(barrier, many_cycles_distinct_indices_one_action_each, .timeout = 60) {
    static struct cycles cy;
    expect_rc(pc_barrier_new(&cy.b, PARTIES, cycle_action, &cy), 0);
    pthread_t t[PARTIES];
    for (int i = 0; i < PARTIES; i++)
        t[i] = start_pthread(cycle_thread, &cy);
    for (int i = 0; i < PARTIES; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(pc_atomic_long_load(&cy.bad), 0);
    cr_assert_eq(pc_atomic_long_load(&cy.actions), CYCLES);
    for (int c = 0; c < CYCLES; c++)
        cr_assert_eq(cy.seen[c], (1u << PARTIES) - 1, "cycle %d: indices %#x", c, cy.seen[c]);
    pc_barrier_free(cy.b);
}

/* After a break, a reset makes the barrier whole again: a full cycle. */
static void expect_fresh_cycle(pc_barrier *b) {
    cr_assert(!pc_barrier_broken(b));
    struct waiter w[2];
    start_waiters(w, 2, b);
    expect_rc(pc_barrier_wait(b, 30.0), 2);
    pthread_join(w[0].t, NULL);
    pthread_join(w[1].t, NULL);
    cr_assert(w[0].rc + w[1].rc == 1 && w[0].rc * w[1].rc == 0, "indices %d, %d", w[0].rc, w[1].rc);
}

Test(barrier, timeout_breaks_it, .timeout = 30) {
    pc_barrier *b;
    struct waiter w[1];
    probe_init();
    expect_rc(pc_barrier_new(&b, 3, NULL, NULL), 0);
    start_waiters(w, 1, b);
    double t0 = pc_now();
    expect_rc(pc_barrier_wait(b, 0.2), -ETIMEDOUT); /* the one that timed out */
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5.0, "waited %.3f s", dt);
    join_waiters(w, 1, PC_EBROKEN); /* the others */
    cr_assert(pc_barrier_broken(b));
    expect_rc(pc_barrier_wait(b, PC_FOREVER), PC_EBROKEN); /* at once */
    expect_rc(pc_barrier_wait(b, 0), PC_EBROKEN);
    expect_rc(pc_barrier_n_waiting(b), 0);
    expect_rc(pc_barrier_reset(b), 0);
    expect_fresh_cycle(b);
    pc_barrier_free(b);
}

Test(barrier, timeout_zero_never_blocks, .timeout = 30) {
    pc_barrier *b;
    struct waiter w[2];
    probe_init();
    expect_rc(pc_barrier_new(&b, 3, NULL, NULL), 0);
    start_waiters(w, 1, b);
    expect_rc(pc_barrier_wait(b, 0), -ETIMEDOUT); /* not the last: breaks it */
    join_waiters(w, 1, PC_EBROKEN);
    expect_rc(pc_barrier_reset(b), 0);
    start_waiters(w, 2, b);
    expect_rc(pc_barrier_wait(b, 0), 2); /* the last one does not wait */
    pthread_join(w[0].t, NULL);
    pthread_join(w[1].t, NULL);
    cr_assert_eq(w[0].rc + w[1].rc, 1);
    pc_barrier_free(b);
}

Test(barrier, abort_breaks_until_reset, .timeout = 30) {
    pc_barrier *b;
    struct waiter w[2];
    probe_init();
    expect_rc(pc_barrier_new(&b, 3, NULL, NULL), 0);
    start_waiters(w, 2, b);
    expect_rc(pc_barrier_n_waiting(b), 2);
    expect_rc(pc_barrier_abort(b), 0);
    join_waiters(w, 2, PC_EBROKEN);
    cr_assert(pc_barrier_broken(b));
    expect_rc(pc_barrier_wait(b, 30.0), PC_EBROKEN);
    expect_rc(pc_barrier_abort(b), 0); /* twice is harmless */
    expect_rc(pc_barrier_reset(b), 0);
    expect_fresh_cycle(b);
    pc_barrier_free(b);
}

Test(barrier, reset_releases_waiters_broken_and_starts_afresh, .timeout = 30) {
    pc_barrier *b;
    struct waiter w[2];
    probe_init();
    expect_rc(pc_barrier_new(&b, 3, NULL, NULL), 0);
    start_waiters(w, 2, b);
    expect_rc(pc_barrier_reset(b), 0);
    join_waiters(w, 2, PC_EBROKEN);
    cr_assert(!pc_barrier_broken(b));
    expect_rc(pc_barrier_n_waiting(b), 0);
    expect_fresh_cycle(b); /* the two old arrivals no longer count */
    expect_fresh_cycle(b);
    pc_barrier_free(b);
}

/* The action fails on its second cycle (with a negative, then a positive
 * code): its runner gets the code, the others PC_EBROKEN. */
struct failing {
    int runs;
    int code;
};

static int failing_action(void *arg) {
    struct failing *f = arg;
    return ++f->runs == 2 ? f->code : 0;
}

static void check_failing_action(int code, int want) {
    pc_barrier *b;
    struct failing f = {0, code};
    struct waiter w[2];
    expect_rc(pc_barrier_new(&b, 3, failing_action, &f), 0);
    start_waiters(w, 2, b);
    expect_rc(pc_barrier_wait(b, 30.0), 2); /* first cycle: fine */
    pthread_join(w[0].t, NULL);
    pthread_join(w[1].t, NULL);
    start_waiters(w, 2, b);
    expect_rc(pc_barrier_wait(b, 30.0), want);
    join_waiters(w, 2, PC_EBROKEN);
    cr_assert(pc_barrier_broken(b));
    cr_assert_eq(f.runs, 2);
    expect_rc(pc_barrier_wait(b, 30.0), PC_EBROKEN);
    cr_assert_eq(f.runs, 2);
    pc_barrier_free(b);
}

Test(barrier, failing_action_breaks_it, .timeout = 30) {
    probe_init();
    check_failing_action(-EIO, -EIO);
    check_failing_action(EIO, -EIO); /* a positive code reads as its negation */
}

/*
 * Stress: one thread more than the parties, random timeouts about as long
 * as a wake-up (so timeouts race cycle ends), and resets after breaks.
 * Whatever happens, every completed cycle (one action each) must have
 * handed out each index exactly once: per index, as many successes as
 * actions.  A cycle that completed with a party missing (a waiter that
 * timed out but was still counted) or gave an index twice would show.
 */
#define SP 3
struct storm {
    pc_barrier *b;
    double until;
    pc_atomic_long actions, per_index[SP], timeouts, broken, bad;
};

static int storm_action(void *arg) {
    pc_atomic_long_add(&((struct storm *)arg)->actions, 1);
    return 0;
}

static void *storm_thread(void *arg) {
    struct storm *st = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    while (pc_now() < st->until) {
        double timeout = (rand_r(&seed) % 300) * 1e-6;
        int rc = pc_barrier_wait(st->b, timeout);
        if (rc >= 0 && rc < SP) {
            pc_atomic_long_add(&st->per_index[rc], 1);
        } else if (rc == -ETIMEDOUT || rc == PC_EBROKEN) {
            pc_atomic_long_add(rc == PC_EBROKEN ? &st->broken : &st->timeouts, 1);
            if (rand_r(&seed) % 4 == 0 && pc_barrier_broken(st->b))
                pc_barrier_reset(st->b);
        } else {
            pc_atomic_long_add(&st->bad, 1);
        }
    }
    return NULL;
}

Test(barrier, stress_timeouts_resets_and_an_extra_thread, .timeout = 60) {
    static struct storm st;
    st.until = pc_now() + torture_seconds(0.5);
    expect_rc(pc_barrier_new(&st.b, SP, storm_action, &st), 0);
    pthread_t t[SP + 1];
    for (int i = 0; i < SP + 1; i++)
        t[i] = start_pthread(storm_thread, &st);
    for (int i = 0; i < SP + 1; i++)
        pthread_join(t[i], NULL);
    long actions = pc_atomic_long_load(&st.actions);
    cr_log_info("%ld cycles, %ld timeouts, %ld broken", actions, pc_atomic_long_load(&st.timeouts),
                pc_atomic_long_load(&st.broken));
    cr_assert_eq(pc_atomic_long_load(&st.bad), 0);
    cr_assert(actions > 0);
    for (int i = 0; i < SP; i++)
        cr_assert_eq(pc_atomic_long_load(&st.per_index[i]), actions, "index %d: %ld of %ld", i,
                     pc_atomic_long_load(&st.per_index[i]), actions);
    pc_barrier_free(st.b);
}

static void *lone_waiter(void *arg) {
    probe_install();
    pc_barrier_wait(arg, 30.0);
    return NULL;
}

static void free_barrier(void *b) {
    pc_barrier_free(b);
}

Test(barrier, free_with_waiters_aborts, .timeout = 30) {
    pc_barrier *b;
    probe_init();
    expect_rc(pc_barrier_new(&b, 3, NULL, NULL), 0);
    pthread_t t = start_pthread(lone_waiter, b);
    probe_wait_parked(1);
    expect_child_aborts(free_barrier, b);
    expect_rc(pc_barrier_abort(b), 0);
    pthread_join(t, NULL);
    pc_barrier_free(b); /* nobody waits now: no abort */
}
