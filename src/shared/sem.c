/*
 * pc_shsem (pyconc/shared.h): a counting semaphore in the shared heap.
 *
 * The value is one atomic long; acquire takes a unit by CAS, and when
 * none is left sleeps on an eventcount (pc__shec, shwait.h) that every
 * release notifies.  The eventcount's prepare / re-check / wait closes the
 * gap between "saw 0" and "sleep": a release in between bumps the
 * sequence, so the sleep returns at once.  A release wakes every sleeper
 * and they race for the units: simple, not fair (Python's multiprocessing
 * semaphore is not fair either), and with few waiters across processes
 * the herd is small.
 *
 * Memory order: the acquiring CAS is acquire, pairing with the release of
 * the releasing CAS, so what a releaser wrote before releasing is seen by
 * the process that takes the unit.
 *
 * A semaphore has no owner: a process that dies without releasing cannot
 * be told from one that is slow; waiters rely on their timeout.
 */
#include <errno.h>
#include <limits.h>

#include "shared-internal.h"

struct pc_shsem {
    _Atomic uint32_t magic;
    uint32_t bounded;       /* fixed at creation */
    long max;               /* the initial value; fixed at creation */
    _Atomic long value;     /* lock-free */
    pc__shec ec;            /* notified by every release */
    _Atomic uint32_t nwait; /* sleepers now (for free) */
};

static int sem_new(pc_shsem **s, long value, bool bounded) {
    if (!s || value < 0)
        return -EINVAL;
    int rc = pc__sh_alloc(sizeof **s, PC__SH_SEM, (void **)s);
    if (rc < 0)
        return rc;
    (*s)->bounded = bounded;
    (*s)->max = value;
    atomic_store_explicit(&(*s)->value, value, memory_order_release); /* published with the ref */
    return 0;
}

int pc_shsem_new(pc_shsem **s, long value) {
    return sem_new(s, value, false);
}

int pc_shsem_new_bounded(pc_shsem **s, long value) {
    return sem_new(s, value, true);
}

int pc_shsem_free(pc_shsem *s) {
    if (pc__sh_kind(s) != PC__SH_SEM)
        return -EINVAL;
    if (atomic_load_explicit(&s->nwait, memory_order_relaxed) != 0)
        return -EBUSY;
    return pc__sh_free(s);
}

static bool try_take(pc_shsem *s) {
    long v = atomic_load_explicit(&s->value, memory_order_relaxed);
    while (v > 0)
        if (atomic_compare_exchange_weak_explicit(&s->value, &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed)) /* pairs with release */
            return true;
    return false;
}

int pc_shsem_acquire(pc_shsem *s, double timeout) {
    int64_t deadline;
    if (pc__sh_kind(s) != PC__SH_SEM || pc__deadline(timeout, &deadline) < 0)
        return -EINVAL;
    if (try_take(s))
        return 0;
    if (timeout == 0)
        return -EBUSY;
    for (;;) {
        uint32_t t = pc__shec_prepare(&s->ec);
        if (try_take(s))
            return 0;
        int rc = pc__sh_sleep(&s->ec, t, &s->nwait, deadline);
        if (rc == -ECANCELED)
            return rc;
        if (rc == -ETIMEDOUT)
            return try_take(s) ? 0 : -ETIMEDOUT;
    }
}

int pc_shsem_release(pc_shsem *s, long n) {
    if (pc__sh_kind(s) != PC__SH_SEM || n < 1)
        return -EINVAL;
    long v = atomic_load_explicit(&s->value, memory_order_relaxed);
    do {
        if (v > LONG_MAX - n || (s->bounded && v + n > s->max))
            return -EOVERFLOW;
    } while (
        !atomic_compare_exchange_weak_explicit(&s->value, &v, v + n, memory_order_release,
                                               memory_order_relaxed)); /* pairs with try_take */
    pc__shec_notify(&s->ec);
    return 0;
}

long pc_shsem_value(const pc_shsem *s) {
    if (pc__sh_kind(s) != PC__SH_SEM)
        return -EINVAL;
    return atomic_load_explicit((_Atomic long *)&s->value, memory_order_relaxed);
}

int pc__sem_nwait(const void *obj) {
    return (int)atomic_load_explicit(&((pc_shsem *)obj)->nwait, memory_order_relaxed);
}
