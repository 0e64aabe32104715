/*
 * The guard: a tiny futex mutex (Drepper's three-state design) that protects
 * a primitive's wait queue for a few instructions at a time.  It is held
 * only around list operations, never across a park, so a coroutine may take
 * it too.  States: 0 free, 1 held, 2 held with sleepers.
 */
#ifndef PC_INTERNAL_GUARD_H
#define PC_INTERNAL_GUARD_H

#include <stdatomic.h>
#include <stdint.h>

#include "../platform/futex.h"

typedef _Atomic uint32_t pc__guard;

void pc__guard_lock_slow(pc__guard *g);

static inline void pc__guard_lock(pc__guard *g) {
    uint32_t free_ = 0;
    /* acquire; pairs with the release exchange in pc__guard_unlock() */
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(g, &free_, 1, memory_order_acquire,
                                                                 memory_order_relaxed),
                         1))
        return;
    pc__guard_lock_slow(g);
}

static inline void pc__guard_unlock(pc__guard *g) {
    /* release; pairs with the acquire CAS/exchange in pc__guard_lock*() */
    if (atomic_exchange_explicit(g, 0, memory_order_release) == 2)
        pc__futex_wake(g, 1);
}

#endif
