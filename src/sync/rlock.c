/*
 * pc_rlock: threading.RLock.
 *
 * An embedded pc_lock does all the waiting; on top of it sit the owner's
 * identity (pc__self_id(): the thread, or the running coroutine) and the
 * recursion count.  Only the owner ever touches the count, and only while
 * it holds the inner lock, so the count needs no synchronization of its
 * own; the owner field is read by everyone (to ask "is it me?") and so is
 * atomic.
 *
 * Invariants:
 *  - _owner != 0 iff the inner lock is held by a call of this file, and
 *    then _count >= 1.  _owner is stored after the inner lock is taken and
 *    cleared before it is released.
 *  - A caller compares _owner only with its own identity.  Only the owner
 *    stores its identity there, and it clears it before it lets go, so a
 *    caller reads its own identity iff it is the owner.  This needs only
 *    coherence (a thread sees its own last store or a later one), never an
 *    ordering with other data: _owner is accessed relaxed and pairs with
 *    nothing; the inner lock's acquire/release carry the happens-before.
 *
 * Rejected: a separate count of waiters or a guard of its own, as CPython's
 * C RLock has none either: the inner lock already queues the contenders
 * fairly enough and parks them through the one waiter interface.
 *
 * An identity can be reused: a thread that exits holding an RLock leaves
 * it held by an identity (a thread-local address) that a later thread may
 * get.  Python's get_ident() has the same property.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>

#include "../internal/alloc.h"
#include "../internal/waiter.h"
#include "rlock.h"

/* relaxed; see "Invariants": pairs with nothing */
static inline uintptr_t owner_of(const pc_rlock *r) {
    return atomic_load_explicit(&((pc_rlock *)r)->_owner, memory_order_relaxed);
}

static inline void set_owner(pc_rlock *r, uintptr_t id) {
    atomic_store_explicit(&r->_owner, id, memory_order_relaxed);
}

int pc_rlock_init(pc_rlock *r) {
    if (!r)
        return -EINVAL;
    pc_lock_init(&r->_lock);
    atomic_init(&r->_owner, 0);
    r->_count = 0;
    return 0;
}

int pc_rlock_destroy(pc_rlock *r) {
    if (!r)
        return -EINVAL;
    return pc_lock_destroy(&r->_lock);
}

int pc_rlock_new(pc_rlock **r) {
    if (!r)
        return -EINVAL;
    pc_rlock *n = pc__malloc(sizeof *n);
    if (!n)
        return -ENOMEM;
    pc_rlock_init(n);
    *r = n;
    return 0;
}

void pc_rlock_free(pc_rlock *r) {
    pc__free(r);
}

int pc_rlock_acquire(pc_rlock *r, bool blocking, double timeout) {
    if (!r || isnan(timeout) || (!blocking && timeout >= 0))
        return -EINVAL;
    uintptr_t me = pc__self_id();
    if (owner_of(r) == me) {
        if (r->_count == ULONG_MAX)
            return -EOVERFLOW;
        r->_count++;
        return 0;
    }
    int rc = pc_lock_acquire(&r->_lock, blocking, timeout);
    if (rc != 0)
        return rc;
    set_owner(r, me);
    r->_count = 1;
    return 0;
}

int pc_rlock_release(pc_rlock *r) {
    if (!r)
        return -EINVAL;
    if (owner_of(r) != pc__self_id())
        return -EPERM;
    if (--r->_count > 0)
        return 0;
    set_owner(r, 0);
    return pc_lock_release(&r->_lock);
}

unsigned long pc_rlock_count(const pc_rlock *r) {
    return pc_rlock_is_owned(r) ? r->_count : 0;
}

bool pc_rlock_is_owned(const pc_rlock *r) {
    return r && owner_of(r) == pc__self_id();
}

unsigned long pc__rlock_release_save(pc_rlock *r) {
    unsigned long count = r->_count;
    r->_count = 0;
    set_owner(r, 0);
    pc_lock_release(&r->_lock);
    return count;
}

void pc__rlock_acquire_restore(pc_rlock *r, unsigned long count) {
    /* Without limit, it can only fail if a coroutine is cancelled; the
     * caller must own the lock on return all the same. */
    while (pc_lock_acquire(&r->_lock, true, PC_FOREVER) != 0) {
    }
    set_owner(r, pc__self_id());
    r->_count = count;
}
