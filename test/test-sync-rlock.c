/* pc_rlock: threading.RLock semantics: recursion, ownership, misuse. */
#include <errno.h>
#include <limits.h>
#include <math.h>

#include "sync-helpers.h"

Test(rlock, recursion_counts_and_ownership) {
    pc_rlock r = PC_RLOCK_INIT;
    cr_assert(!pc_rlock_is_owned(&r));
    cr_assert_eq(pc_rlock_count(&r), 0);
    for (unsigned long i = 1; i <= 3; i++) {
        expect_rc(pc_rlock_acquire(&r, true, PC_FOREVER), 0);
        cr_assert_eq(pc_rlock_count(&r), i);
    }
    cr_assert(pc_rlock_is_owned(&r));
    expect_rc(pc_rlock_acquire(&r, false, PC_FOREVER), 0); /* the owner never waits */
    expect_rc(pc_rlock_acquire(&r, true, 0), 0);
    cr_assert_eq(pc_rlock_count(&r), 5);
    expect_rc(pc_rlock_destroy(&r), -EBUSY);
    for (unsigned long i = 5; i >= 1; i--) {
        cr_assert_eq(pc_rlock_count(&r), i);
        expect_rc(pc_rlock_release(&r), 0);
    }
    cr_assert(!pc_rlock_is_owned(&r));
    expect_rc(pc_rlock_release(&r), -EPERM); /* released more often than acquired */
    expect_rc(pc_rlock_destroy(&r), 0);
}

Test(rlock, bad_input) {
    pc_rlock r;
    expect_rc(pc_rlock_init(NULL), -EINVAL);
    expect_rc(pc_rlock_destroy(NULL), -EINVAL);
    expect_rc(pc_rlock_new(NULL), -EINVAL);
    expect_rc(pc_rlock_acquire(NULL, true, PC_FOREVER), -EINVAL);
    expect_rc(pc_rlock_release(NULL), -EINVAL);
    cr_assert_eq(pc_rlock_count(NULL), 0);
    cr_assert(!pc_rlock_is_owned(NULL));
    pc_rlock_free(NULL);
    expect_rc(pc_rlock_init(&r), 0);
    expect_rc(pc_rlock_acquire(&r, true, NAN), -EINVAL);
    expect_rc(pc_rlock_acquire(&r, false, 0), -EINVAL); /* Python: ValueError */
    expect_rc(pc_rlock_acquire(&r, false, 1.0), -EINVAL);
    expect_rc(pc_rlock_release(&r), -EPERM); /* never acquired */
    /* the owner's re-acquire validates its arguments too */
    expect_rc(pc_rlock_acquire(&r, true, PC_FOREVER), 0);
    expect_rc(pc_rlock_acquire(&r, true, NAN), -EINVAL);
    cr_assert_eq(pc_rlock_count(&r), 1);
    expect_rc(pc_rlock_release(&r), 0);
    expect_rc(pc_rlock_destroy(&r), 0);
}

Test(rlock, new_free_and_alloc_failure) {
    pc_rlock *r;
    pc_alloc_fail_nth(1);
    expect_rc(pc_rlock_new(&r), -ENOMEM);
    expect_rc(pc_rlock_new(&r), 0);
    expect_rc(pc_rlock_acquire(r, true, PC_FOREVER), 0);
    expect_rc(pc_rlock_acquire(r, true, PC_FOREVER), 0);
    cr_assert_eq(pc_rlock_count(r), 2);
    expect_rc(pc_rlock_release(r), 0);
    expect_rc(pc_rlock_release(r), 0);
    pc_rlock_free(r);
}

Test(rlock, count_overflow) {
    pc_rlock r = PC_RLOCK_INIT;
    expect_rc(pc_rlock_acquire(&r, true, PC_FOREVER), 0);
    r._count = ULONG_MAX; /* white box: 2^64 acquires would take too long */
    expect_rc(pc_rlock_acquire(&r, true, PC_FOREVER), -EOVERFLOW);
    cr_assert_eq(pc_rlock_count(&r), ULONG_MAX);
    r._count = 1;
    expect_rc(pc_rlock_release(&r), 0);
}

/* What another thread sees and may do while the main thread owns it. */
struct other {
    pc_rlock *r;
    int release_rc, try_rc, zero_rc, timed_rc;
    unsigned long count;
    bool owned;
    double waited;
};

static void *other_thread(void *arg) {
    struct other *o = arg;
    o->release_rc = pc_rlock_release(o->r);
    o->count = pc_rlock_count(o->r);
    o->owned = pc_rlock_is_owned(o->r);
    o->try_rc = pc_rlock_acquire(o->r, false, PC_FOREVER);
    o->zero_rc = pc_rlock_acquire(o->r, true, 0);
    double t0 = pc_now();
    o->timed_rc = pc_rlock_acquire(o->r, true, 0.2);
    o->waited = pc_now() - t0;
    return NULL;
}

Test(rlock, other_thread_cannot_release_or_take) {
    pc_rlock r = PC_RLOCK_INIT;
    expect_rc(pc_rlock_acquire(&r, true, PC_FOREVER), 0);
    expect_rc(pc_rlock_acquire(&r, true, PC_FOREVER), 0);
    struct other o = {.r = &r};
    pthread_join(start_pthread(other_thread, &o), NULL);
    expect_rc(o.release_rc, -EPERM);
    cr_assert_eq(o.count, 0);
    cr_assert(!o.owned);
    expect_rc(o.try_rc, -EBUSY);
    expect_rc(o.zero_rc, -ETIMEDOUT);
    expect_rc(o.timed_rc, -ETIMEDOUT);
    cr_assert(o.waited >= 0.18 && o.waited < 5.0, "waited %.3f s", o.waited);
    cr_assert_eq(pc_rlock_count(&r), 2); /* untouched by the failed release */
    expect_rc(pc_rlock_release(&r), 0);
    expect_rc(pc_rlock_release(&r), 0);
}

Test(rlock, unowned_release_from_another_thread) {
    pc_rlock r = PC_RLOCK_INIT;
    struct other o = {.r = &r};
    pthread_join(start_pthread(other_thread, &o), NULL);
    expect_rc(o.release_rc, -EPERM); /* free: nobody may release it */
    expect_rc(o.try_rc, 0);          /* then it took it (and exited holding it) */
    cr_assert(!pc_rlock_is_owned(&r));
    expect_rc(pc_rlock_release(&r), -EPERM);
}

/* A waiter gets the lock only once the owner released it fully. */
struct waiter_arg {
    pc_rlock *r;
    int rc;
    unsigned long count;
};

static void *blocked_acquirer(void *arg) {
    struct waiter_arg *a = arg;
    probe_install();
    a->rc = pc_rlock_acquire(a->r, true, 30.0);
    a->count = pc_rlock_count(a->r);
    pc_rlock_release(a->r);
    return NULL;
}

static void *try_once(void *arg) {
    return (void *)(intptr_t)pc_rlock_acquire(arg, false, PC_FOREVER);
}

Test(rlock, waiter_wakes_after_the_last_release) {
    pc_rlock r = PC_RLOCK_INIT;
    probe_init();
    expect_rc(pc_rlock_acquire(&r, true, PC_FOREVER), 0);
    expect_rc(pc_rlock_acquire(&r, true, PC_FOREVER), 0);
    struct waiter_arg a = {.r = &r, .rc = 1};
    pthread_t t = start_pthread(blocked_acquirer, &a);
    probe_wait_parked(1);
    expect_rc(pc_rlock_release(&r), 0); /* count 2 -> 1: still held */
    void *rc;
    pthread_join(start_pthread(try_once, &r), &rc);
    expect_rc((int)(intptr_t)rc, -EBUSY);
    expect_rc(pc_rlock_release(&r), 0);
    pthread_join(t, NULL);
    expect_rc(a.rc, 0);
    cr_assert_eq(a.count, 1);
}

/* Mutual exclusion with nested acquires from four threads. */
#define ROUNDS 50000
static pc_rlock counter_lock = PC_RLOCK_INIT;
static long counter;

static void *count_up(void *arg) {
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        pc_rlock_acquire(&counter_lock, true, PC_FOREVER);
        pc_rlock_acquire(&counter_lock, true, PC_FOREVER);
        counter++;
        pc_rlock_release(&counter_lock);
        counter++;
        pc_rlock_release(&counter_lock);
    }
    return NULL;
}

Test(rlock, mutual_exclusion_with_recursion, .timeout = 60) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = start_pthread(count_up, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(counter, 4L * 2 * ROUNDS);
}
