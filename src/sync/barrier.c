/*
 * pc_barrier: threading.Barrier.
 *
 * Everything is decided under one guard; barriers are not a hot path.
 * A caller that is not the last of its cycle queues a stack waiter; the
 * last one pops the whole queue, which ends the cycle at once (count back
 * to 0, generation + 1), runs the action with no guard held, and only
 * then wakes the popped waiters, handing each its index (or PC_EBROKEN if
 * the action failed) in w->result.  Being popped is the release
 * (waiter.h): a popped waiter touches nothing of the barrier's but the
 * guard, so a thread that re-enters wait() at once simply joins the next
 * cycle and cannot be confused with the one it left.
 *
 * Indices are given in arrival order (0 for the first queued, parties - 1
 * to the last arrival) when the cycle ends, so they are distinct.
 *
 * Invariants (all under guard):
 *  - count is the number of callers that entered the current cycle and
 *    have not been released; a waiter that timed out has left the queue
 *    but is still counted until it takes the guard again and breaks the
 *    barrier.  So a cycle ends only when the last arrival finds
 *    count == parties *and* parties - 1 waiters really queued: a cycle
 *    never completes with fewer than `parties` callers present.
 *  - broken: arrivals return PC_EBROKEN at once and nobody is queued.
 *  - gen changes when a cycle ends and on reset.  A waiter that timed out
 *    breaks the barrier only if gen is still the one it joined and the
 *    barrier is not broken yet: a reset meanwhile makes its timeout
 *    harmless to the fresh barrier.
 *
 * The action runs outside the guard, after its cycle has ended: callers
 * that arrive meanwhile start the next cycle (the action's own parties
 * are all still parked, so only extra threads can), and abort/reset
 * meanwhile act on that next cycle, just as in Python, where they would
 * wait for the action and then find its cycle released.
 *
 * Rejected: Python's draining state (woken waiters decrement the count on
 * their way out and new arrivals wait for them).  It exists because
 * Python's waiters must wake up and look at the barrier to learn their
 * fate; hand-off wake-ups carry the fate in the waiter, so nothing needs
 * to drain.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../internal/alloc.h"
#include "../internal/waiter.h"
#include "pyconc/sync.h"

struct pc_barrier {
    int parties;           /* fixed at creation */
    int (*action)(void *); /* fixed at creation */
    void *arg;             /* fixed at creation */
    pc__guard guard;
    int count;         /* guarded by guard */
    bool broken;       /* guarded by guard */
    unsigned long gen; /* guarded by guard */
    pc__waitq waiters; /* guarded by guard */
};

int pc_barrier_new(pc_barrier **b, int parties, int (*action)(void *arg), void *arg) {
    if (!b || parties < 1)
        return -EINVAL;
    pc_barrier *n = pc__calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    n->parties = parties;
    n->action = action;
    n->arg = arg;
    *b = n;
    return 0;
}

void pc_barrier_free(pc_barrier *b) {
    if (!b)
        return;
    /* Unguarded: a waiter racing with free is the very error checked. */
    if (b->waiters.head) {
        fputs("pyconc: pc_barrier_free of a barrier with waiters\n", stderr);
        abort();
    }
    pc__free(b);
}

/* Under the guard: pop every waiter, giving it `result`; returns them
 * chained in arrival order.  With result < 0 the results are all alike;
 * otherwise they count up from `result` (the indices). */
static pc__waiter *pop_all(pc_barrier *b, int result) {
    pc__waiter *chain = NULL, **tail = &chain;
    pc__waiter *w;
    while ((w = pc__waitq_pop(&b->waiters))) {
        w->result = result;
        if (result >= 0)
            result++;
        *tail = w; /* pop left w->next NULL: the chain stays terminated */
        tail = &w->next;
    }
    return chain;
}

/* Under the guard: break the barrier; returns the waiters to wake. */
static pc__waiter *break_locked(pc_barrier *b) {
    b->broken = true;
    b->count = 0;
    return pop_all(b, PC_EBROKEN);
}

static int queued_count(const pc_barrier *b) {
    int n = 0;
    for (const pc__waiter *w = b->waiters.head; w; w = w->next)
        n++;
    return n;
}

/* The last arrival, guard held: end the cycle, run the action, release. */
static int complete_cycle(pc_barrier *b) {
    pc__waiter *released = pop_all(b, 0);
    b->count = 0;
    b->gen++;
    pc__guard_unlock(&b->guard);
    int rc = b->action ? b->action(b->arg) : 0;
    if (rc != 0) {
        if (rc > 0)
            rc = -rc;
        for (pc__waiter *w = released; w; w = w->next)
            w->result = PC_EBROKEN;
        pc__guard_lock(&b->guard);
        pc__waiter *more = break_locked(b);
        pc__guard_unlock(&b->guard);
        pc__waiter_wake_chain(more);
    }
    pc__waiter_wake_chain(released);
    return rc != 0 ? rc : b->parties - 1;
}

/* A waiter gave up (timeout, or a coroutine's cancellation): break its
 * cycle unless something else ended it meanwhile.  Returns `why`. */
static int gave_up(pc_barrier *b, unsigned long gen, int why) {
    pc__guard_lock(&b->guard);
    pc__waiter *chain = NULL;
    if (b->gen == gen && !b->broken)
        chain = break_locked(b);
    pc__guard_unlock(&b->guard);
    pc__waiter_wake_chain(chain);
    return why;
}

int pc_barrier_wait(pc_barrier *b, double timeout) {
    int64_t deadline;
    if (!b || pc__deadline(timeout, &deadline))
        return -EINVAL;
    pc__guard_lock(&b->guard);
    if (b->broken) {
        pc__guard_unlock(&b->guard);
        return PC_EBROKEN;
    }
    b->count++;
    if (b->count == b->parties && queued_count(b) == b->parties - 1)
        return complete_cycle(b);
    unsigned long gen = b->gen;
    pc__waiter w;
    pc__waiter_init(&w);
    pc__waitq_push(&b->waiters, &w);
    int r = pc__wait(&b->guard, &b->waiters, &w, deadline);
    return r != 0 ? gave_up(b, gen, r) : w.result;
}

int pc_barrier_abort(pc_barrier *b) {
    if (!b)
        return -EINVAL;
    pc__guard_lock(&b->guard);
    pc__waiter *chain = break_locked(b);
    pc__guard_unlock(&b->guard);
    pc__waiter_wake_chain(chain);
    return 0;
}

int pc_barrier_reset(pc_barrier *b) {
    if (!b)
        return -EINVAL;
    pc__guard_lock(&b->guard);
    pc__waiter *chain = pop_all(b, PC_EBROKEN);
    b->broken = false;
    b->count = 0;
    b->gen++;
    pc__guard_unlock(&b->guard);
    pc__waiter_wake_chain(chain);
    return 0;
}

int pc_barrier_parties(const pc_barrier *b) {
    return b ? b->parties : -EINVAL;
}

int pc_barrier_n_waiting(const pc_barrier *b) {
    if (!b)
        return -EINVAL;
    pc_barrier *m = (pc_barrier *)b; /* the guard is not part of the value */
    pc__guard_lock(&m->guard);
    int n = queued_count(m);
    pc__guard_unlock(&m->guard);
    return n;
}

bool pc_barrier_broken(const pc_barrier *b) {
    if (!b)
        return false;
    pc_barrier *m = (pc_barrier *)b;
    pc__guard_lock(&m->guard);
    bool broken = m->broken;
    pc__guard_unlock(&m->guard);
    return broken;
}
