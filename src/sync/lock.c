/*
 * pc_lock: threading.Lock.
 *
 * One state word holds two bits: LOCKED, and WAITERS ("someone is queued
 * under the guard, a release must look").  Uncontended, acquire is one CAS
 * and release one CAS; the guard and the wait queue are touched only when
 * WAITERS is set.
 *
 * Invariants:
 *  - WAITERS is set only under the guard, and only cleared under the guard
 *    when the queue is empty; the CASes outside the guard preserve it.  It
 *    may be stale-set with an empty queue (a waiter that timed out); the
 *    next release then finds nobody and clears it.
 *  - A waiter sets WAITERS with a CAS that also observed LOCKED; a release
 *    clears LOCKED with a CAS.  Both act on one variable, so either the
 *    waiter sees the lock free (and takes it) or the release sees WAITERS
 *    (and wakes someone): no lost wake-up.
 *  - A woken waiter is not handed the lock; it competes again (barging),
 *    as CPython's lock does.  A waiter that cannot take the lock after a
 *    wake-up knows someone holds it, whose release will wake the next one.
 *
 * Rejected: handing the lock to the woken waiter (FIFO fairness).  It
 * makes every contended release wait for a sleeping thread to wake up (a
 * "lock convoy"), cutting throughput several times; Python's Lock makes no
 * fairness promise either.  Semaphores, which do promise FIFO, hand off.
 *
 * Memory order: a successful acquire CAS is acquire, a release CAS is
 * release; they pair with each other and carry the critical sections'
 * happens-before.  The guard orders the queue.
 */
#include <errno.h>
#include <math.h>

#include "../internal/alloc.h"
#include "../internal/waiter.h"
#include "pyconc/sync.h"

enum { LOCKED = 1u, WAITERS = 2u };

int pc_lock_init(pc_lock *l) {
    if (!l)
        return -EINVAL;
    atomic_init(&l->_state, 0);
    atomic_init(&l->_guard, 0);
    l->_waiters.head = l->_waiters.tail = NULL;
    return 0;
}

int pc_lock_destroy(pc_lock *l) {
    if (!l)
        return -EINVAL;
    if ((atomic_load(&l->_state) & LOCKED) || l->_waiters.head)
        return -EBUSY;
    return 0;
}

int pc_lock_new(pc_lock **l) {
    if (!l)
        return -EINVAL;
    pc_lock *n = pc__malloc(sizeof *n);
    if (!n)
        return -ENOMEM;
    pc_lock_init(n);
    *l = n;
    return 0;
}

void pc_lock_free(pc_lock *l) {
    pc__free(l);
}

/* One attempt: take the lock if it is free, keeping the WAITERS bit. */
static inline bool try_take(pc_lock *l) {
    uint32_t s = atomic_load_explicit(&l->_state, memory_order_relaxed);
    while (!(s & LOCKED)) {
        /* acquire; pairs with the release CAS in pc_lock_release() */
        if (atomic_compare_exchange_weak_explicit(&l->_state, &s, s | LOCKED, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

static int acquire_slow(pc_lock *l, int64_t deadline) {
    pc__waitq *q = &l->_waiters;
    int spins = pc__tls_parker_ctx ? 0 : pc__spin_limit(); /* see queue.c */
    for (;;) {
        for (int i = 0; i < spins; i++) {
            if (try_take(l))
                return 0;
            pc__cpu_relax();
        }
        pc__guard_lock(&l->_guard);
        uint32_t s = atomic_load_explicit(&l->_state, memory_order_relaxed);
        for (;;) {
            if (!(s & LOCKED)) {
                if (atomic_compare_exchange_weak_explicit(
                        &l->_state, &s, s | LOCKED, memory_order_acquire, memory_order_relaxed)) {
                    pc__guard_unlock(&l->_guard);
                    return 0;
                }
            } else if ((s & WAITERS) || atomic_compare_exchange_weak_explicit(
                                            &l->_state, &s, s | WAITERS, memory_order_relaxed,
                                            memory_order_relaxed)) {
                break;
            }
        }
        pc__waiter w;
        pc__waiter_init(&w);
        pc__waitq_push(q, &w);
        int r = pc__wait(&l->_guard, q, &w, deadline);
        if (r != 0)
            return r;
        if (try_take(l))
            return 0;
        if (deadline != PC__NO_DEADLINE && pc__mono_ns() >= deadline)
            return -ETIMEDOUT;
    }
}

/* Everything but the uncontended case, kept out of line so that the fast
 * path of pc_lock_acquire() needs no stack frame (measured: the inlined
 * slow path made the uncontended acquire save six registers). */
__attribute__((noinline)) static int acquire_contended(pc_lock *l, bool blocking, double timeout) {
    if (!l || isnan(timeout) || (!blocking && timeout >= 0))
        return -EINVAL;
    if (try_take(l))
        return 0;
    if (!blocking)
        return -EBUSY;
    if (timeout == 0)
        return -ETIMEDOUT;
    int64_t deadline;
    pc__deadline(timeout, &deadline);
    return acquire_slow(l, deadline);
}

int pc_lock_acquire(pc_lock *l, bool blocking, double timeout) {
    uint32_t free_ = 0;
    /* The checks of acquire_contended(), in the order that fails fastest;
     * acquire; pairs with the release CAS in pc_lock_release() */
    if (__builtin_expect(l && (blocking ? timeout == timeout : timeout < 0), 1) &&
        __builtin_expect(atomic_compare_exchange_strong_explicit(&l->_state, &free_, LOCKED,
                                                                 memory_order_acquire,
                                                                 memory_order_relaxed),
                         1))
        return 0;
    return acquire_contended(l, blocking, timeout);
}

/* Release with the WAITERS bit set, or misuse: out of line, see above. */
__attribute__((noinline)) static int release_contended(pc_lock *l, uint32_t s) {
    if (!l)
        return -EINVAL;
    do {
        if (!(s & LOCKED))
            return -EPERM;
    } while (!atomic_compare_exchange_weak_explicit(&l->_state, &s, s & ~LOCKED,
                                                    memory_order_release, memory_order_relaxed));
    if (!(s & WAITERS))
        return 0;
    pc__guard_lock(&l->_guard);
    pc__waiter *w = pc__waitq_pop(&l->_waiters);
    if (pc__waitq_empty(&l->_waiters))
        atomic_fetch_and_explicit(&l->_state, ~WAITERS, memory_order_relaxed);
    pc__guard_unlock(&l->_guard);
    if (w)
        pc__waiter_wake(w);
    return 0;
}

int pc_lock_release(pc_lock *l) {
    uint32_t s = LOCKED;
    /* release; pairs with the acquire CASes of pc_lock_acquire()/try_take() */
    if (__builtin_expect(l != NULL, 1) &&
        __builtin_expect(atomic_compare_exchange_strong_explicit(
                             &l->_state, &s, 0, memory_order_release, memory_order_relaxed),
                         1))
        return 0;
    return release_contended(l, s);
}

bool pc_lock_locked(const pc_lock *l) {
    return l && (atomic_load_explicit(&((pc_lock *)l)->_state, memory_order_relaxed) & LOCKED);
}
