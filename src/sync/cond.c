/*
 * pc_cond: threading.Condition.
 *
 * The condition keeps its own wait queue under its own guard, apart from
 * the user's lock.  wait() queues a stack waiter, then releases the user's
 * lock completely (an RLock's whole count is saved), parks, and takes the
 * lock back whatever happened.  notify(n) pops up to n waiters, oldest
 * first, under the guard: being popped *is* being notified (waiter.h), so a
 * waiter that times out at the moment it is notified still reports 0, and
 * a waiter that reports 0 was chosen by a notify: there are no spurious
 * wake-ups, unlike pthread_cond_wait.
 *
 * No lost notify: the waiter is queued before it releases the user's lock,
 * and notify runs with that lock held, so every notify that happens after
 * the waiter's wait() began (in the lock's order) finds it queued.
 *
 * Lock order: user lock -> c->guard -> (the user lock's own guard, inside
 * pc_lock_release).  The guard is never held across a park or user code.
 *
 * Misuse: wait/notify without the lock returns -EPERM.  For an RLock that
 * is exact (ownership); for a plain pc_lock, which has no owner, only "not
 * locked at all" can be seen, as in Python.
 *
 * Rejected: one waiter chain per notify "generation" (glibc's condvar
 * design), which exists to keep pthread_cond's no-allocation contract
 * across process-shared memory; with a stack waiter per caller and
 * hand-off wake-ups a plain FIFO is exact and simpler.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "../internal/alloc.h"
#include "../internal/waiter.h"
#include "rlock.h"

struct pc_cond {
    pc_lock *lock;   /* fixed at creation; exactly one of lock, rlock */
    pc_rlock *rlock; /* fixed at creation; may point to own */
    pc_rlock own;    /* the private RLock when none was given */
    pc__guard guard;
    pc__waitq waiters; /* guarded by guard */
};

int pc_cond_new(pc_cond **c, pc_lock *lock, pc_rlock *rlock) {
    if (!c || (lock && rlock))
        return -EINVAL;
    pc_cond *n = pc__calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    pc_rlock_init(&n->own);
    n->lock = lock;
    n->rlock = lock ? NULL : rlock ? rlock : &n->own;
    *c = n;
    return 0;
}

void pc_cond_free(pc_cond *c) {
    if (!c)
        return;
    /* Unguarded: a waiter racing with free is the very error checked. */
    if (c->waiters.head) {
        fputs("pyconc: pc_cond_free of a condition with waiters\n", stderr);
        abort();
    }
    pc__free(c);
}

int pc_cond_acquire(pc_cond *c, bool blocking, double timeout) {
    if (!c)
        return -EINVAL;
    return c->lock ? pc_lock_acquire(c->lock, blocking, timeout)
                   : pc_rlock_acquire(c->rlock, blocking, timeout);
}

int pc_cond_release(pc_cond *c) {
    if (!c)
        return -EINVAL;
    return c->lock ? pc_lock_release(c->lock) : pc_rlock_release(c->rlock);
}

static bool owned(const pc_cond *c) {
    return c->lock ? pc_lock_locked(c->lock) : pc_rlock_is_owned(c->rlock);
}

/* Give the user's lock up entirely; returns what restore() needs. */
static unsigned long save(pc_cond *c) {
    if (c->rlock)
        return pc__rlock_release_save(c->rlock);
    pc_lock_release(c->lock);
    return 0;
}

static void restore(pc_cond *c, unsigned long count) {
    if (c->rlock) {
        pc__rlock_acquire_restore(c->rlock, count);
        return;
    }
    /* Without limit, it fails only on a coroutine's cancellation; the
     * caller holds the lock on return all the same, as Python promises. */
    while (pc_lock_acquire(c->lock, true, PC_FOREVER) != 0) {
    }
}

/* wait() with an absolute deadline; the caller holds the lock. */
static int wait_until(pc_cond *c, int64_t deadline) {
    pc__waiter w;
    pc__waiter_init(&w);
    pc__guard_lock(&c->guard);
    pc__waitq_push(&c->waiters, &w);
    pc__guard_unlock(&c->guard);
    unsigned long count = save(c);
    pc__guard_lock(&c->guard);
    int r = pc__wait(&c->guard, &c->waiters, &w, deadline);
    restore(c, count);
    return r;
}

int pc_cond_wait(pc_cond *c, double timeout) {
    int64_t deadline;
    if (!c || pc__deadline(timeout, &deadline))
        return -EINVAL;
    if (!owned(c))
        return -EPERM;
    return wait_until(c, deadline);
}

int pc_cond_wait_for(pc_cond *c, bool (*pred)(void *arg), void *arg, double timeout) {
    int64_t deadline;
    if (!c || !pred || pc__deadline(timeout, &deadline))
        return -EINVAL;
    if (!owned(c))
        return -EPERM;
    while (!pred(arg)) {
        if (deadline != PC__NO_DEADLINE && pc__mono_ns() >= deadline)
            return -ETIMEDOUT;
        wait_until(c, deadline);
    }
    return 0;
}

int pc_cond_notify(pc_cond *c, int n) {
    if (!c || n < 0)
        return -EINVAL;
    if (!owned(c))
        return -EPERM;
    pc__waiter *chain = NULL, **tail = &chain;
    int woken = 0;
    pc__guard_lock(&c->guard);
    for (; woken < n; woken++) {
        pc__waiter *w = pc__waitq_pop(&c->waiters);
        if (!w)
            break;
        w->result = 0;
        *tail = w; /* pop left w->next NULL: the chain stays terminated */
        tail = &w->next;
    }
    pc__guard_unlock(&c->guard);
    pc__waiter_wake_chain(chain);
    return woken;
}

int pc_cond_notify_all(pc_cond *c) {
    return pc_cond_notify(c, INT_MAX);
}
