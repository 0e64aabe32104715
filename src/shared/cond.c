/*
 * pc_shcond (pyconc/shared.h): a condition variable in the shared heap.
 *
 * Tickets: a waiter, holding the lock, takes ticket `entered++`; a notify
 * of n, holding the lock, moves `released` forward by n but never past
 * `entered`.  A waiter whose ticket is below `released` has been notified.
 * Both counters are written only under the condition's lock, so notify(n)
 * wakes exactly the n oldest waiters present; they are read outside it by
 * the sleepers (relaxed atomics; the lock's own acquire/release orders
 * the data).  Sleepers sleep on an eventcount that every notify bumps;
 * those not yet released sleep again (a small herd, few waiters across
 * processes).
 *
 * A waiter that times out takes the lock again and then, if no notify
 * reached its ticket meanwhile, records the ticket as departed (up to
 * MAX_DEPARTED at once; beyond that a later notify may count it and wake
 * one waiter fewer), and notify skips departed tickets.  A notify that
 * reaches a ticket between its waiter's timeout and its re-acquisition
 * counts: that wait returns 0, as Python's can return after a notify
 * racing its timeout.
 *
 * The lock is another heap object, kept by reference and dereferenced on
 * each call (pointers differ between processes).  Its holder's death is
 * reported by the re-acquisition at the end of a wait: -EOWNERDEAD.
 */
#include <errno.h>

#include "shared-internal.h"

enum { MAX_DEPARTED = 32 };

struct pc_shcond {
    _Atomic uint32_t magic;
    uint32_t own_lock;               /* the lock was made with it; fixed */
    pc_shared_ref lock;              /* fixed at creation */
    _Atomic uint64_t entered;        /* written under the lock */
    _Atomic uint64_t released;       /* written under the lock; <= entered */
    pc__shec ec;                     /* notified by notify */
    uint32_t ndeparted;              /* guarded by the lock */
    uint64_t departed[MAX_DEPARTED]; /* timed-out tickets >= released; guarded by the lock */
    _Atomic uint32_t nwait;          /* sleepers now (for free) */
};

static void *lock_of(const pc_shcond *c) {
    void *l;
    return pc_shared_deref(c->lock, &l) == 0 ? l : NULL;
}

int pc_shcond_new(pc_shcond **c, pc_shlock *lock, pc_shrlock *rlock) {
    if (!c || (lock && rlock) || (lock && pc__sh_kind(lock) != PC__SH_LOCK) ||
        (rlock && pc__sh_kind(rlock) != PC__SH_RLOCK))
        return -EINVAL;
    void *l = lock ? (void *)lock : (void *)rlock;
    bool own = !l;
    int rc;
    if (own && (rc = pc_shrlock_new((pc_shrlock **)&l)) < 0)
        return rc;
    pc_shcond *n;
    if ((rc = pc__sh_alloc(sizeof *n, PC__SH_COND, (void **)&n)) < 0) {
        if (own)
            pc_shrlock_free(l);
        return rc;
    }
    n->own_lock = own;
    pc_shared_ref_of(l, &n->lock);
    *c = n;
    return 0;
}

int pc_shcond_free(pc_shcond *c) {
    if (pc__sh_kind(c) != PC__SH_COND)
        return -EINVAL;
    void *l = lock_of(c);
    if (atomic_load_explicit(&c->nwait, memory_order_relaxed) != 0 ||
        (c->own_lock && l && !pc__shany_freeable(l)))
        return -EBUSY;
    if (c->own_lock && l)
        pc_shrlock_free(l);
    return pc__sh_free(c);
}

void *pc_shcond_lock_of(const pc_shcond *c) {
    return pc__sh_kind(c) == PC__SH_COND ? lock_of(c) : NULL;
}

bool pc_shcond_lock_is_recursive(const pc_shcond *c) {
    return pc__sh_kind(pc_shcond_lock_of(c)) == PC__SH_RLOCK;
}

int pc_shcond_acquire(pc_shcond *c, double timeout) {
    int64_t deadline;
    void *l = pc_shcond_lock_of(c);
    if (!l || pc__deadline(timeout, &deadline) < 0)
        return -EINVAL;
    return pc__shany_acquire(l, deadline);
}

int pc_shcond_release(pc_shcond *c) {
    void *l = pc_shcond_lock_of(c);
    return l ? pc__shany_release(l) : -EINVAL;
}

/* Under the lock: remove `ticket` from the departed set, if there. */
static bool take_departed(pc_shcond *c, uint64_t ticket) {
    for (uint32_t i = 0; i < c->ndeparted; i++)
        if (c->departed[i] == ticket) {
            c->departed[i] = c->departed[--c->ndeparted];
            return true;
        }
    return false;
}

/* Under the lock: a waiter leaves without a notify. */
static void depart(pc_shcond *c, uint64_t ticket) {
    if (ticket + 1 == atomic_load_explicit(&c->entered, memory_order_relaxed))
        atomic_store_explicit(&c->entered, ticket, memory_order_relaxed); /* the newest */
    else if (c->ndeparted < MAX_DEPARTED)
        c->departed[c->ndeparted++] = ticket;
}

static bool notified(pc_shcond *c, uint64_t ticket) {
    return atomic_load_explicit(&c->released, memory_order_relaxed) > ticket;
}

int pc_shcond_wait(pc_shcond *c, double timeout) {
    int64_t deadline;
    void *l = pc_shcond_lock_of(c);
    if (!l || pc__deadline(timeout, &deadline) < 0)
        return -EINVAL;
    if (!pc__shany_owned(l))
        return -EPERM;
    uint64_t ticket = atomic_fetch_add_explicit(&c->entered, 1, memory_order_relaxed);
    uint32_t t = pc__shec_prepare(&c->ec); /* before the lock goes: no notify is missed */
    uint32_t saved;
    pc__shany_release_all(l, &saved);
    int rc = 0;
    while (!notified(c, ticket)) {
        rc = pc__sh_sleep(&c->ec, t, &c->nwait, deadline);
        if (rc < 0)
            break;
        t = pc__shec_prepare(&c->ec);
    }
    int lrc = pc__shany_restore(l, saved);
    if (lrc == -ECANCELED)
        return lrc; /* the lock is not ours: the ticket stays (a notify may count it) */
    if (rc < 0 && notified(c, ticket))
        rc = 0;
    else if (rc < 0)
        depart(c, ticket);
    return lrc == -EOWNERDEAD ? lrc : rc;
}

int pc_shcond_wait_for(pc_shcond *c, bool (*pred)(void *arg), void *arg, double timeout) {
    int64_t deadline;
    if (!pred || pc__deadline(timeout, &deadline) < 0)
        return -EINVAL;
    while (!pred(arg)) {
        int rc = pc_shcond_wait(c, pc__remaining(deadline));
        if (rc < 0 && !pred(arg))
            return rc;
    }
    return 0;
}

int pc_shcond_notify(pc_shcond *c, int n) {
    void *l = pc_shcond_lock_of(c);
    if (!l || n < 0)
        return -EINVAL;
    if (!pc__shany_owned(l))
        return -EPERM;
    uint64_t e = atomic_load_explicit(&c->entered, memory_order_relaxed);
    uint64_t r = atomic_load_explicit(&c->released, memory_order_relaxed);
    uint64_t to = r;
    for (int woke = 0; woke < n && to < e; to++)
        if (!take_departed(c, to))
            woke++;
    if (to != r) {
        atomic_store_explicit(&c->released, to, memory_order_relaxed);
        pc__shec_notify(&c->ec);
    }
    return 0;
}

int pc_shcond_notify_all(pc_shcond *c) {
    return pc_shcond_notify(c, INT32_MAX);
}

int pc__cond_nwait(const void *obj) {
    return (int)atomic_load_explicit(&((pc_shcond *)obj)->nwait, memory_order_relaxed);
}
