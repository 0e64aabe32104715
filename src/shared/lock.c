/*
 * pc_shlock and pc_shrlock (pyconc/shared.h): locks in the shared heap.
 *
 * Both are a pc__shmutex (shmutex.c) in a heap block: the holder's tid in
 * the word, waiters sleeping in slices and taking over from a dead holder
 * with -EOWNERDEAD.  The Lock adds nothing but Python's rule that any
 * thread may release it (pc__shmutex_unlock_any).
 *
 * The RLock's owner is (tid, pc__self_id()): the tid lives in the mutex
 * word, the coroutine-or-thread identity in `self`, so two coroutines of
 * one thread are two owners.  `self` and `count` are written only by the
 * owner while it holds mu; a caller reads them only after it has seen its
 * own tid in the word, i.e. they are its own writes (or stale values that
 * cannot match its identity: `self` is cleared before mu is released).
 * A take-over from a dead owner starts a fresh count of 1.
 *
 * Rejected: the kernel's robust futex list (owned by the C library for
 * its own mutexes; see shmutex.c), and a process-shared robust pthread
 * mutex (its waiters block the whole thread: a coroutine must park alone).
 */
#include <errno.h>

#include "../internal/waiter.h"
#include "shared-internal.h"

int pc__sh_alloc(size_t size, uint32_t magic, void **out) {
    if (!out)
        return -EINVAL;
    void *p;
    int rc = pc_shared_alloc(size, &p);
    if (rc < 0)
        return rc;
    atomic_store_explicit((_Atomic uint32_t *)p, magic, memory_order_relaxed);
    *out = p;
    return 0;
}

int pc__sh_free(void *obj) {
    atomic_store_explicit((_Atomic uint32_t *)obj, 0, memory_order_relaxed);
    return pc_shared_free(obj);
}

static int lock_with_deadline(pc__shmutex *m, int64_t deadline) {
    if (deadline != PC__NO_DEADLINE && deadline <= pc__mono_ns()) {
        int rc = pc__shmutex_trylock(m);
        return rc == -EAGAIN ? -EBUSY : rc;
    }
    return pc__shmutex_lock(m, deadline);
}

/* ---- Lock ---- */

int pc_shlock_new(pc_shlock **l) {
    return pc__sh_alloc(sizeof **l, PC__SH_LOCK, (void **)l);
}

int pc_shlock_free(pc_shlock *l) {
    if (pc__sh_kind(l) != PC__SH_LOCK)
        return -EINVAL;
    if (!pc__shany_freeable(l))
        return -EBUSY;
    return pc__sh_free(l);
}

int pc_shlock_acquire(pc_shlock *l, double timeout) {
    int64_t deadline;
    if (pc__sh_kind(l) != PC__SH_LOCK || pc__deadline(timeout, &deadline) < 0)
        return -EINVAL;
    return lock_with_deadline(&l->mu, deadline);
}

int pc_shlock_release(pc_shlock *l) {
    if (pc__sh_kind(l) != PC__SH_LOCK)
        return -EINVAL;
    return pc__shmutex_unlock_any(&l->mu);
}

bool pc_shlock_locked(const pc_shlock *l) {
    return pc__sh_kind(l) == PC__SH_LOCK && pc__shmutex_holder((pc__shmutex *)&l->mu) != 0;
}

/* ---- RLock ---- */

static inline uint32_t cnt(const pc_shrlock *r) {
    return atomic_load_explicit((_Atomic uint32_t *)&r->count, memory_order_relaxed);
}
static inline void cnt_set(pc_shrlock *r, uint32_t n) {
    atomic_store_explicit(&r->count, n, memory_order_relaxed);
}

static bool rlock_mine(const pc_shrlock *r) {
    return pc__shmutex_holder((pc__shmutex *)&r->mu) == pc__tid() &&
           atomic_load_explicit(&r->self, memory_order_relaxed) == pc__self_id();
}

int pc_shrlock_new(pc_shrlock **r) {
    return pc__sh_alloc(sizeof **r, PC__SH_RLOCK, (void **)r);
}

int pc_shrlock_free(pc_shrlock *r) {
    if (pc__sh_kind(r) != PC__SH_RLOCK)
        return -EINVAL;
    if (!pc__shany_freeable(r))
        return -EBUSY;
    return pc__sh_free(r);
}

static int rlock_take(pc_shrlock *r, int64_t deadline, uint32_t count) {
    int rc = lock_with_deadline(&r->mu, deadline);
    if (rc == 0 || rc == -EOWNERDEAD) {
        atomic_store_explicit(&r->self, pc__self_id(), memory_order_relaxed);
        cnt_set(r, rc == -EOWNERDEAD ? 1 : count);
    }
    return rc;
}

int pc_shrlock_acquire(pc_shrlock *r, double timeout) {
    int64_t deadline;
    if (pc__sh_kind(r) != PC__SH_RLOCK || pc__deadline(timeout, &deadline) < 0)
        return -EINVAL;
    if (rlock_mine(r)) {
        if (cnt(r) == UINT32_MAX)
            return -EOVERFLOW;
        cnt_set(r, cnt(r) + 1);
        return 0;
    }
    return rlock_take(r, deadline, 1);
}

int pc_shrlock_release(pc_shrlock *r) {
    if (pc__sh_kind(r) != PC__SH_RLOCK)
        return -EINVAL;
    if (!rlock_mine(r))
        return -EPERM;
    cnt_set(r, cnt(r) - 1);
    if (cnt(r) > 0)
        return 0;
    atomic_store_explicit(&r->self, 0, memory_order_relaxed);
    return pc__shmutex_unlock(&r->mu);
}

unsigned long pc_shrlock_count(const pc_shrlock *r) {
    if (pc__sh_kind(r) != PC__SH_RLOCK || pc__shmutex_holder((pc__shmutex *)&r->mu) == 0)
        return 0;
    return cnt(r);
}

bool pc_shrlock_is_owned(const pc_shrlock *r) {
    return pc__sh_kind(r) == PC__SH_RLOCK && rlock_mine(r);
}

/* ---- any shared lock ---- */

int pc__shany_acquire(void *lock, int64_t deadline) {
    switch (pc__sh_kind(lock)) {
    case PC__SH_LOCK: return lock_with_deadline(&((pc_shlock *)lock)->mu, deadline);
    case PC__SH_RLOCK: {
        pc_shrlock *r = lock;
        if (rlock_mine(r)) {
            cnt_set(r, cnt(r) + 1);
            return 0;
        }
        return rlock_take(r, deadline, 1);
    }
    default: return -EINVAL;
    }
}

int pc__shany_release(void *lock) {
    switch (pc__sh_kind(lock)) {
    case PC__SH_LOCK: return pc_shlock_release(lock);
    case PC__SH_RLOCK: return pc_shrlock_release(lock);
    default: return -EINVAL;
    }
}

bool pc__shany_owned(void *lock) {
    switch (pc__sh_kind(lock)) {
    case PC__SH_LOCK: return pc__shmutex_holder(&((pc_shlock *)lock)->mu) == pc__tid();
    case PC__SH_RLOCK: return rlock_mine(lock);
    default: return false;
    }
}

int pc__shany_release_all(void *lock, uint32_t *saved) {
    if (pc__sh_kind(lock) == PC__SH_RLOCK) {
        pc_shrlock *r = lock;
        if (!rlock_mine(r))
            return -EPERM;
        *saved = cnt(r);
        cnt_set(r, 0);
        atomic_store_explicit(&r->self, 0, memory_order_relaxed);
        return pc__shmutex_unlock(&r->mu);
    }
    *saved = 1;
    return pc__shany_release(lock);
}

int pc__shany_restore(void *lock, uint32_t saved) {
    if (pc__sh_kind(lock) == PC__SH_RLOCK) {
        pc_shrlock *r = lock;
        int rc = rlock_take(r, PC__NO_DEADLINE, saved);
        if (rc == -EOWNERDEAD)
            cnt_set(r, saved);
        return rc;
    }
    return pc__shany_acquire(lock, PC__NO_DEADLINE);
}

bool pc__shany_freeable(void *lock) {
    pc__shmutex *m =
        pc__sh_kind(lock) == PC__SH_LOCK ? &((pc_shlock *)lock)->mu : &((pc_shrlock *)lock)->mu;
    pid_t holder = pc__shmutex_holder(m);
    return holder == 0 || pc__tid_ended(holder);
}

int pc__sh_nwait(const void *obj) {
    switch (pc__sh_kind(obj)) {
    case PC__SH_SEM: return pc__sem_nwait(obj);
    case PC__SH_EVENT: return pc__event_nwait(obj);
    case PC__SH_COND: return pc__cond_nwait(obj);
    case PC__SH_BARRIER: return pc__barrier_nwait(obj);
    default: return -EINVAL;
    }
}
