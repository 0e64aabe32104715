/*
 * Lock torture, after the kernel's locktorture: threads hammer a lock and
 * check, inside the critical section, that nobody else is in it.  A
 * deliberately broken lock ("busted", as locktorture's lock_busted) must be
 * caught, which proves the torture can fail.  PC_TORTURE_SECONDS (default
 * 0.3) sets the duration of each run; long runs are opt-in.
 */
#include <errno.h>
#include <stdlib.h>

#include "helpers.h"

typedef struct lock_ops {
    int (*acquire)(void *l);
    int (*release)(void *l);
} lock_ops;

static int real_acquire(void *l) {
    /* Mix every acquire form: blocking, timed (retried), non-blocking. */
    static _Thread_local unsigned n;
    switch (n++ % 3) {
    case 0: return pc_lock_acquire(l, true, PC_FOREVER);
    case 1:
        for (;;) {
            int r = pc_lock_acquire(l, true, 1e-5);
            if (r != -ETIMEDOUT)
                return r;
        }
    default:
        for (;;) {
            int r = pc_lock_acquire(l, false, PC_FOREVER);
            if (r != -EBUSY)
                return r;
        }
    }
}
static int real_release(void *l) {
    return pc_lock_release(l);
}
static int busted_acquire(void *l) {
    (void)l; /* forgets to exclude anyone */
    return 0;
}
static int busted_release(void *l) {
    (void)l;
    return 0;
}

static const lock_ops real = {real_acquire, real_release};
static const lock_ops busted = {busted_acquire, busted_release};

struct torture {
    const lock_ops *ops;
    void *lock;
    double until;
    _Atomic int inside;
    _Atomic long violations, rounds;
    long plain_counter; /* guarded by the lock under test */
};

static void *hammer(void *arg) {
    struct torture *t = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    long mine = 0;
    while (pc_now() < t->until) {
        cr_assert_eq(t->ops->acquire(t->lock), 0);
        if (atomic_fetch_add(&t->inside, 1) != 0)
            atomic_fetch_add(&t->violations, 1);
        long v = t->plain_counter;
        for (int spin = rand_r(&seed) % 64; spin > 0; spin--)
            __asm__ __volatile__("" ::: "memory");
        t->plain_counter = v + 1;
        atomic_fetch_sub(&t->inside, 1);
        cr_assert_eq(t->ops->release(t->lock), 0);
        mine++;
    }
    atomic_fetch_add(&t->rounds, mine);
    return NULL;
}

static long torture(const lock_ops *ops, void *lock, int threads) {
    const char *env = getenv("PC_TORTURE_SECONDS");
    struct torture t = {.ops = ops, .lock = lock};
    t.until = pc_now() + (env ? atof(env) : 0.3);
    pthread_t tid[8];
    for (int i = 0; i < threads; i++)
        tid[i] = start_pthread(hammer, &t);
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    cr_assert(atomic_load(&t.rounds) > 0);
    return atomic_load(&t.violations);
}

Test(lock_torture, real_lock_excludes, .timeout = 120) {
    pc_lock l = PC_LOCK_INIT;
    cr_assert_eq(torture(&real, &l, 4), 0, "mutual exclusion violated");
    cr_assert(!pc_lock_locked(&l));
}

/* The busted lock races on purpose: off under TSan, which would report it. */
Test(lock_torture, busted_lock_is_caught, .timeout = 120, .disabled = PC_UNDER_TSAN) {
    int dummy;
    cr_assert(torture(&busted, &dummy, 4) > 0, "the torture test cannot see a broken lock");
}
