/*
 * pc_sem: threading.Semaphore and threading.BoundedSemaphore.
 *
 * One atomic word, `state`, is the value when >= 0; CONTENDED (-1) means
 * "the value is 0 and threads may be queued: go through the guard".  The
 * fast paths are single CASes that run only while state >= 0: acquire
 * takes a unit when state > 0, release adds units.  Everything that
 * involves waiters runs under the guard, and there units are *handed* to
 * waiters: release pops the oldest waiter and the unit is its own the
 * moment it is dequeued (waiter.h), so the value never rises while anyone
 * waits, a late-comer cannot overtake a waiter (first come, first served,
 * as the header promises), and a waiter that times out just as it is
 * handed a unit reports success: no unit is ever lost.
 *
 * Invariants:
 *  - state == CONTENDED whenever the queue is non-empty.  It is set to
 *    CONTENDED only under the guard, and set back to a value >= 0 only
 *    under the guard when the queue is empty.  It may be CONTENDED with an
 *    empty queue for a moment (a waiter that timed out and has not yet
 *    tidied up); the value is then 0, and the next release or acquire that
 *    goes through the guard fixes it.
 *  - While state == CONTENDED, only guard holders write it: both fast-path
 *    CASes expect a value >= 0, and so fail.  The guard holder may then
 *    store plainly.
 *
 * No lost wake-up: a waiter queues itself only after it made state
 * CONTENDED (or saw it so) under the guard, by a CAS from 0.  A release's
 * fast CAS acts on the same word: either it came first (the waiter's CAS
 * fails, it sees the unit and takes it) or the waiter's came first (the
 * release's CAS fails, and it takes the guard and finds the waiter).
 *
 * Memory order: the fast acquire CAS is acquire, the fast release CAS is
 * release, and they pair with each other; a unit handed to a waiter
 * travels under the guard and through the waiter's wake-up (release
 * exchange / acquire load in waiter.c).
 *
 * Rejected: a counter that goes negative by the number of waiters (the
 * classic "value < 0 means -value waiters" semaphore).  A waiter that
 * times out must then give its -1 back, and that races with a release
 * that already counted it: it needs a pending-wake-up count and is hard to
 * get right; the CONTENDED state keeps every decision about waiters under
 * the guard at the price of a guard round trip per release while there
 * are waiters, when a wake-up costs far more anyway.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../internal/alloc.h"
#include "../internal/waiter.h"
#include "pyconc/sync.h"

#define CONTENDED (-1L)

struct pc_sem {
    _Atomic long state; /* the value, or CONTENDED; see the design note */
    long bound;         /* fixed at creation: the highest value allowed */
    pc__guard guard;
    pc__waitq waiters; /* guarded by guard */
};

static int make(pc_sem **s, long value, long bound) {
    if (!s || value < 0)
        return -EINVAL;
    pc_sem *n = pc__calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    atomic_init(&n->state, value);
    n->bound = bound;
    *s = n;
    return 0;
}

int pc_sem_new(pc_sem **s, long value) {
    return make(s, value, LONG_MAX);
}

int pc_sem_new_bounded(pc_sem **s, long value) {
    return make(s, value, value);
}

void pc_sem_free(pc_sem *s) {
    if (!s)
        return;
    /* Unguarded: a waiter racing with free is the very error checked. */
    if (s->waiters.head) {
        fputs("pyconc: pc_sem_free of a semaphore with waiters\n", stderr);
        abort();
    }
    pc__free(s);
}

long pc_sem_value(const pc_sem *s) {
    if (!s)
        return -EINVAL;
    /* relaxed: a snapshot that orders nothing */
    long v = atomic_load_explicit(&((pc_sem *)s)->state, memory_order_relaxed);
    return v < 0 ? 0 : v;
}

/* Take a unit if state > 0.  false when the value is 0 or CONTENDED. */
static bool try_take(pc_sem *s) {
    long v = atomic_load_explicit(&s->state, memory_order_relaxed);
    while (v > 0) {
        /* acquire; pairs with the release CAS in pc_sem_release() */
        if (atomic_compare_exchange_weak_explicit(&s->state, &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

/* Under the guard: take a unit (0), or mark the state CONTENDED (1) so
 * the caller may queue itself. */
static int take_or_contend(pc_sem *s) {
    long v = atomic_load_explicit(&s->state, memory_order_relaxed);
    for (;;) {
        if (v == CONTENDED)
            return 1;
        /* acquire (taking a unit); pairs with the release CAS in
         * pc_sem_release().  Setting CONTENDED needs no order: the guard
         * orders what follows. */
        if (atomic_compare_exchange_weak_explicit(&s->state, &v, v > 0 ? v - 1 : CONTENDED,
                                                  memory_order_acquire, memory_order_relaxed))
            return v > 0 ? 0 : 1;
    }
}

/* A waiter gave up: if it was the last one, leave the CONTENDED state. */
static void tidy(pc_sem *s) {
    pc__guard_lock(&s->guard);
    if (pc__waitq_empty(&s->waiters) &&
        atomic_load_explicit(&s->state, memory_order_relaxed) == CONTENDED)
        atomic_store_explicit(&s->state, 0, memory_order_relaxed);
    pc__guard_unlock(&s->guard);
}

int pc_sem_acquire(pc_sem *s, bool blocking, double timeout) {
    int64_t deadline;
    if (!s || pc__deadline(timeout, &deadline) || (!blocking && timeout >= 0))
        return -EINVAL;
    if (try_take(s))
        return 0;
    if (!blocking)
        return -EBUSY;
    if (timeout == 0)
        return -ETIMEDOUT;
    pc__guard_lock(&s->guard);
    if (take_or_contend(s) == 0) {
        pc__guard_unlock(&s->guard);
        return 0;
    }
    pc__waiter w;
    pc__waiter_init(&w);
    pc__waitq_push(&s->waiters, &w);
    int r = pc__wait(&s->guard, &s->waiters, &w, deadline);
    if (r != 0)
        tidy(s);
    return r;
}

/* Under the guard, state CONTENDED: hand units to waiters, keep the rest.
 * Returns the chain of waiters to wake. */
static pc__waiter *hand_off(pc_sem *s, long n) {
    pc__waiter *chain = NULL, **tail = &chain;
    for (; n > 0; n--) {
        pc__waiter *w = pc__waitq_pop(&s->waiters);
        if (!w)
            break;
        w->result = 0;
        *tail = w; /* pop left w->next NULL: the chain stays terminated */
        tail = &w->next;
    }
    if (pc__waitq_empty(&s->waiters))
        /* release; pairs with the acquire CASes of try_take()/take_or_contend(),
         * which may take the units left over without the guard */
        atomic_store_explicit(&s->state, n, memory_order_release);
    return chain;
}

int pc_sem_release(pc_sem *s, long n) {
    if (!s || n < 1)
        return -EINVAL;
    for (;;) {
        long v = atomic_load_explicit(&s->state, memory_order_relaxed);
        while (v != CONTENDED) {
            if (n > s->bound - v)
                return -EOVERFLOW;
            /* release; pairs with the acquire CASes of try_take()/take_or_contend() */
            if (atomic_compare_exchange_weak_explicit(&s->state, &v, v + n, memory_order_release,
                                                      memory_order_relaxed))
                return 0;
        }
        pc__guard_lock(&s->guard);
        if (atomic_load_explicit(&s->state, memory_order_relaxed) == CONTENDED)
            break;
        pc__guard_unlock(&s->guard); /* the last waiter left meanwhile: retry */
    }
    if (n > s->bound) { /* the value is 0 while CONTENDED */
        pc__guard_unlock(&s->guard);
        return -EOVERFLOW;
    }
    pc__waiter *chain = hand_off(s, n);
    pc__guard_unlock(&s->guard);
    pc__waiter_wake_chain(chain);
    return 0;
}
