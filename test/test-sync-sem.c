/* pc_sem: threading.Semaphore / BoundedSemaphore: counting, FIFO hand-off,
 * timeouts, over-release, and a stress test that counts every unit. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "sync-helpers.h"

Test(sem, counts_units) {
    pc_sem *s;
    expect_rc(pc_sem_new(&s, 2), 0);
    cr_assert_eq(pc_sem_value(s), 2);
    expect_rc(pc_sem_acquire(s, true, PC_FOREVER), 0);
    expect_rc(pc_sem_acquire(s, false, PC_FOREVER), 0);
    cr_assert_eq(pc_sem_value(s), 0);
    expect_rc(pc_sem_acquire(s, false, PC_FOREVER), -EBUSY);
    expect_rc(pc_sem_acquire(s, true, 0), -ETIMEDOUT);
    expect_rc(pc_sem_release(s, 5), 0); /* unbounded: above the start value */
    cr_assert_eq(pc_sem_value(s), 5);
    expect_rc(pc_sem_acquire(s, true, 0), 0); /* 0 takes a free unit */
    cr_assert_eq(pc_sem_value(s), 4);
    pc_sem_free(s);
    expect_rc(pc_sem_new(&s, 0), 0);
    expect_rc(pc_sem_acquire(s, false, PC_FOREVER), -EBUSY);
    pc_sem_free(s);
}

Test(sem, bad_input) {
    pc_sem *s;
    expect_rc(pc_sem_new(NULL, 1), -EINVAL);
    expect_rc(pc_sem_new(&s, -1), -EINVAL);
    expect_rc(pc_sem_new_bounded(&s, -1), -EINVAL);
    expect_rc(pc_sem_new(&s, LONG_MIN), -EINVAL);
    expect_rc(pc_sem_acquire(NULL, true, PC_FOREVER), -EINVAL);
    expect_rc(pc_sem_release(NULL, 1), -EINVAL);
    cr_assert_eq(pc_sem_value(NULL), -EINVAL);
    pc_sem_free(NULL);
    expect_rc(pc_sem_new(&s, 1), 0);
    expect_rc(pc_sem_acquire(s, true, NAN), -EINVAL);
    expect_rc(pc_sem_acquire(s, false, NAN), -EINVAL);
    expect_rc(pc_sem_acquire(s, false, 0), -EINVAL); /* Python: ValueError */
    expect_rc(pc_sem_acquire(s, false, 2.0), -EINVAL);
    expect_rc(pc_sem_release(s, 0), -EINVAL);
    expect_rc(pc_sem_release(s, -3), -EINVAL);
    cr_assert_eq(pc_sem_value(s), 1); /* nothing above took or gave a unit */
    pc_sem_free(s);
}

Test(sem, alloc_failure) {
    pc_sem *s;
    pc_alloc_fail_nth(1);
    expect_rc(pc_sem_new(&s, 1), -ENOMEM);
    pc_alloc_fail_nth(1);
    expect_rc(pc_sem_new_bounded(&s, 1), -ENOMEM);
    expect_rc(pc_sem_new_bounded(&s, 1), 0);
    pc_sem_free(s);
}

Test(sem, bounded_over_release_changes_nothing) {
    pc_sem *s;
    expect_rc(pc_sem_new_bounded(&s, 2), 0);
    expect_rc(pc_sem_release(s, 1), -EOVERFLOW);
    cr_assert_eq(pc_sem_value(s), 2);
    expect_rc(pc_sem_acquire(s, true, PC_FOREVER), 0);
    expect_rc(pc_sem_release(s, 2), -EOVERFLOW); /* 1 + 2 > 2: all or nothing */
    cr_assert_eq(pc_sem_value(s), 1);
    expect_rc(pc_sem_release(s, 1), 0);
    cr_assert_eq(pc_sem_value(s), 2);
    pc_sem_free(s);
    expect_rc(pc_sem_new_bounded(&s, 0), 0); /* a bound of 0: never released */
    expect_rc(pc_sem_release(s, 1), -EOVERFLOW);
    pc_sem_free(s);
    expect_rc(pc_sem_new(&s, LONG_MAX), 0); /* unbounded still has long's end */
    expect_rc(pc_sem_release(s, 1), -EOVERFLOW);
    cr_assert_eq(pc_sem_value(s), LONG_MAX);
    pc_sem_free(s);
}

Test(sem, timeout_is_honoured) {
    pc_sem *s;
    expect_rc(pc_sem_new(&s, 0), 0);
    double t0 = pc_now();
    expect_rc(pc_sem_acquire(s, true, 0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5.0, "waited %.3f s", dt);
    cr_assert_eq(pc_sem_value(s), 0);
    expect_rc(pc_sem_release(s, 1), 0); /* the timed-out waiter left no trace */
    cr_assert_eq(pc_sem_value(s), 1);
    pc_sem_free(s);
}

/* K waiters queued in a known order (the probe tells when each is). */
#define K 4
struct line {
    pc_sem *s;
    pthread_t t[K];
    int rc[K];
    pc_atomic_long served;
    int order[K];
};

struct spot {
    struct line *ln;
    int id;
};
static struct spot spots[K];

static void *line_waiter(void *arg) {
    struct spot *sp = arg;
    probe_install();
    sp->ln->rc[sp->id] = pc_sem_acquire(sp->ln->s, true, 30.0);
    sp->ln->order[pc_atomic_long_add(&sp->ln->served, 1) - 1] = sp->id;
    return NULL;
}

static void line_up(struct line *ln, pc_sem *s) {
    probe_init();
    ln->s = s;
    pc_atomic_long_init(&ln->served, 0);
    for (int i = 0; i < K; i++) {
        spots[i] = (struct spot){ln, i};
        ln->rc[i] = 1;
        ln->t[i] = start_pthread(line_waiter, &spots[i]);
        probe_wait_parked(1);
    }
}

Test(sem, waiters_are_served_in_arrival_order, .timeout = 30) {
    pc_sem *s;
    struct line ln;
    expect_rc(pc_sem_new(&s, 0), 0);
    line_up(&ln, s);
    for (int i = 0; i < K; i++) {
        expect_rc(pc_sem_release(s, 1), 0);
        cr_assert_eq(pc_sem_value(s), 0); /* handed over, not left in the value */
        expect_rc(pc_sem_acquire(s, false, PC_FOREVER), -EBUSY); /* no barging */
        pthread_join(ln.t[i], NULL);
        expect_rc(ln.rc[i], 0);
        cr_assert_eq(pc_atomic_long_load(&ln.served), i + 1);
        cr_assert_eq(ln.order[i], i);
    }
    pc_sem_free(s);
}

Test(sem, release_n_serves_n_and_keeps_the_rest, .timeout = 30) {
    pc_sem *s;
    struct line ln;
    expect_rc(pc_sem_new(&s, 0), 0);
    line_up(&ln, s);
    expect_rc(pc_sem_release(s, 2), 0);
    pthread_join(ln.t[0], NULL);
    pthread_join(ln.t[1], NULL);
    cr_assert_eq(pc_sem_value(s), 0);
    expect_rc(pc_sem_release(s, K - 2 + 3), 0);
    for (int i = 2; i < K; i++)
        pthread_join(ln.t[i], NULL);
    for (int i = 0; i < K; i++)
        expect_rc(ln.rc[i], 0);
    cr_assert_eq(pc_sem_value(s), 3);
    pc_sem_free(s);
}

Test(sem, bounded_with_waiters, .timeout = 30) {
    pc_sem *s;
    struct line ln;
    expect_rc(pc_sem_new_bounded(&s, 1), 0);
    expect_rc(pc_sem_acquire(s, true, PC_FOREVER), 0);
    line_up(&ln, s);
    expect_rc(pc_sem_release(s, 2), -EOVERFLOW); /* 0 + 2 > 1 */
    cr_assert_eq(pc_atomic_long_load(&ln.served), 0);
    cr_assert(!probe_pending());
    for (int i = 0; i < K; i++) {
        expect_rc(pc_sem_release(s, 1), 0);
        pthread_join(ln.t[i], NULL);
        expect_rc(ln.rc[i], 0);
    }
    expect_rc(pc_sem_release(s, 1), 0);
    expect_rc(pc_sem_release(s, 1), -EOVERFLOW);
    pc_sem_free(s);
}

static void *lone_waiter(void *arg) {
    probe_install();
    pc_sem_acquire(arg, true, 30.0);
    return NULL;
}

static void free_sem(void *s) {
    pc_sem_free(s);
}

Test(sem, free_with_waiters_aborts, .timeout = 30) {
    pc_sem *s;
    probe_init();
    expect_rc(pc_sem_new(&s, 0), 0);
    pthread_t t = start_pthread(lone_waiter, s);
    probe_wait_parked(1);
    expect_child_aborts(free_sem, s);
    expect_rc(pc_sem_release(s, 1), 0);
    pthread_join(t, NULL);
    pc_sem_free(s); /* nobody waits now: no abort */
}

/*
 * Stress: threads take and give back units with random timeouts, many of
 * them about as long as a wake-up, so releases hand units to waiters just
 * as their deadlines pass.  At the end the value must be exactly where it
 * started (no unit lost or made up) and never more than VALUE holders at
 * once.  Waits without a timeout make a lost wake-up hang (the test's
 * timeout fails it).
 *
 * The busted variant is the negative control: its acquire reports a
 * timeout when the unit arrived after the deadline, without giving the
 * unit back: exactly the bug a hand-off semaphore must not have.  The
 * same checks must catch it.
 */
#define VALUE 2
#define THREADS 4
struct stress {
    pc_sem *s;
    bool busted;
    double until;
    pc_atomic_long holders, max_holders, late, took;
    int bad_rc;
};

static int stress_acquire(struct stress *st, double timeout) {
    double t0 = pc_now();
    int rc = pc_sem_acquire(st->s, true, timeout);
    if (rc == 0 && timeout >= 0 && pc_now() - t0 > timeout) {
        /* success after the deadline: a hand-off racing the timeout, or a late wake-up */
        pc_atomic_long_add(&st->late, 1);
        if (st->busted)
            return -ETIMEDOUT; /* and the unit is lost */
    }
    return rc;
}

static void *stress_thread(void *arg) {
    struct stress *st = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    while (pc_now() < st->until) {
        int pick = rand_r(&seed) % 16;
        double timeout = pick == 0   ? 0
                         : pick == 1 ? (st->busted ? 0.01 : PC_FOREVER)
                                     : (rand_r(&seed) % 200) * 1e-6;
        int rc = stress_acquire(st, timeout);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc != 0) {
            st->bad_rc = rc;
            break;
        }
        long h = pc_atomic_long_add(&st->holders, 1);
        long m = pc_atomic_long_load(&st->max_holders);
        while (h > m && !pc_atomic_long_cas(&st->max_holders, &m, h)) {
        }
        pc_atomic_long_add(&st->took, 1);
        pc_atomic_long_sub(&st->holders, 1);
        rc = pc_sem_release(st->s, 1);
        if (rc != 0) {
            st->bad_rc = rc;
            break;
        }
    }
    return NULL;
}

/* Runs the stress for `seconds`; returns how many units went missing. */
static long run_stress(struct stress *st, bool busted, double seconds) {
    *st = (struct stress){.busted = busted, .until = pc_now() + seconds};
    cr_assert_eq(pc_sem_new_bounded(&st->s, VALUE), 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        t[i] = start_pthread(stress_thread, st);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    long missing = VALUE - pc_sem_value(st->s);
    pc_sem_free(st->s);
    cr_log_info("busted=%d: %ld acquired, %ld returned after their deadline, %ld missing", busted,
                pc_atomic_long_load(&st->took), pc_atomic_long_load(&st->late), missing);
    return missing;
}

Test(sem, stress_no_unit_lost, .timeout = 60) {
    struct stress st;
    long missing = run_stress(&st, false, torture_seconds(0.5));
    expect_rc(st.bad_rc, 0);
    cr_assert_eq(missing, 0, "%ld units lost", missing);
    cr_assert(pc_atomic_long_load(&st.max_holders) <= VALUE);
    cr_assert(pc_atomic_long_load(&st.took) > 0);
}

Test(sem, stress_catches_a_busted_semaphore, .timeout = 60) {
    struct stress st;
    long missing = 0;
    for (int round = 0; round < 10 && missing == 0; round++)
        missing = run_stress(&st, true, torture_seconds(0.5));
    cr_assert(missing > 0, "the stress test did not notice lost units");
}
