/*
 * pc_event: threading.Event.
 *
 * A flag and a wait queue under a guard.  A waiter checks the flag and
 * queues itself under the guard; set() stores the flag, then takes the
 * guard and dequeues every waiter.  Since the waiter's check and push and
 * the setter's pop happen under the guard, a waiter either sees the flag
 * or is dequeued by the set: no lost wake-up.  Being dequeued *is* the
 * wake-up (waiter.h), so `set(); clear()` still releases every thread that
 * was waiting, as Python promises, and a waiter that times out at the same
 * moment as a set reports success.
 *
 * The flag is read without the guard on the fast paths (is_set, a wait on
 * a set event): the store in set() is release, those loads acquire, so a
 * waiter that returns sees what the setter wrote before set().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../internal/alloc.h"
#include "../internal/waiter.h"
#include "pyconc/sync.h"

struct pc_event {
    _Atomic uint32_t flag; /* 1 when set; written under guard, read anywhere */
    pc__guard guard;
    pc__waitq waiters; /* guarded by guard */
};

int pc_event_new(pc_event **e) {
    if (!e)
        return -EINVAL;
    pc_event *n = pc__calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    *e = n;
    return 0;
}

void pc_event_free(pc_event *e) {
    if (!e)
        return;
    /* Unguarded: a waiter racing with free is the very error checked.  A
     * waiter's timeout would later write into freed memory: refuse. */
    if (e->waiters.head) {
        fputs("pyconc: pc_event_free of an event with waiters\n", stderr);
        abort();
    }
    pc__free(e);
}

int pc_event_set(pc_event *e) {
    if (!e)
        return -EINVAL;
    pc__guard_lock(&e->guard);
    /* release; pairs with the acquire loads in pc_event_wait()/is_set() */
    atomic_store_explicit(&e->flag, 1, memory_order_release);
    pc__waiter *chain = pc__waitq_take_all(&e->waiters, 0, NULL);
    pc__guard_unlock(&e->guard);
    pc__waiter_wake_chain(chain);
    return 0;
}

int pc_event_clear(pc_event *e) {
    if (!e)
        return -EINVAL;
    pc__guard_lock(&e->guard);
    atomic_store_explicit(&e->flag, 0, memory_order_relaxed);
    pc__guard_unlock(&e->guard);
    return 0;
}

bool pc_event_is_set(const pc_event *e) {
    /* acquire; pairs with the release store in pc_event_set() */
    return e && atomic_load_explicit(&((pc_event *)e)->flag, memory_order_acquire);
}

int pc_event_wait(pc_event *e, double timeout) {
    if (!e)
        return -EINVAL;
    int64_t deadline;
    if (pc__deadline(timeout, &deadline))
        return -EINVAL;
    if (pc_event_is_set(e))
        return 0;
    pc__guard_lock(&e->guard);
    if (atomic_load_explicit(&e->flag, memory_order_relaxed)) {
        pc__guard_unlock(&e->guard);
        return 0;
    }
    if (timeout == 0) {
        pc__guard_unlock(&e->guard);
        return -ETIMEDOUT;
    }
    pc__waiter w;
    pc__waiter_init(&w);
    pc__waitq_push(&e->waiters, &w);
    return pc__wait(&e->guard, &e->waiters, &w, deadline);
}
