/*
 * pyconc/sync.h - threading's synchronization primitives.
 *
 *   Python                          pyconc
 *   threading.Lock()                pc_lock_new / pc_lock_init / PC_LOCK_INIT
 *   threading.RLock()               pc_rlock_new / pc_rlock_init / PC_RLOCK_INIT
 *   threading.Condition(lock)       pc_cond_new
 *   threading.Semaphore(n)          pc_sem_new
 *   threading.BoundedSemaphore(n)   pc_sem_new_bounded
 *   threading.Event()               pc_event_new
 *   threading.Barrier(n, action)    pc_barrier_new
 *   (the seed's `num += n` fix)     pc_atomic_long
 *
 * Every blocking call parks its caller through pyconc's one waiter
 * interface: a thread sleeps on a futex after a short bounded spin; a
 * coroutine (once the coroutine module runs one on this thread) parks in its
 * loop instead.  Wakers on any thread wake either kind.
 *
 * Common return codes: 0 success; -EINVAL a NULL object or a NaN timeout;
 * -ETIMEDOUT the timeout passed; -EBUSY a non-blocking acquire found the
 * primitive taken; -EPERM releasing what the caller may not release.
 *
 * Across fork(): a primitive is copied in whatever state it had.  One held
 * by a thread that does not exist in the child stays held; initialize a new
 * one in the child instead.
 */
#ifndef PYCONC_SYNC_H
#define PYCONC_SYNC_H

#include "base.h"
#include <stdatomic.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ Lock */

/*
 * A non-recursive lock.  As in Python, any thread may release it, not only
 * the one that acquired it.  Not fair: a thread that releases and re-acquires
 * at once may win over a waiter (that keeps throughput high).
 * Caller storage: embed it and use PC_LOCK_INIT or pc_lock_init; the fields
 * are private.
 */
typedef struct pc_lock {
    _Atomic uint32_t _state; /* private: PC__LOCKED | PC__WAITERS bits */
    _Atomic uint32_t _guard; /* private: guards _waiters */
    pc__waitq _waiters;      /* private: parked acquirers */
} pc_lock;

#define PC_LOCK_INIT                                                                               \
    {                                                                                              \
        0, 0, {                                                                                    \
            NULL, NULL                                                                             \
        }                                                                                          \
    }

/* Initialize caller storage / release it.  init returns 0 or -EINVAL.
 * destroy of a held lock or one with waiters is a programmer error and
 * returns -EBUSY, leaving the lock intact. */
PC_EXTERN int pc_lock_init(pc_lock *l);
PC_EXTERN int pc_lock_destroy(pc_lock *l);
/* A library-allocated lock.  new: 0, -EINVAL, -ENOMEM.  free(NULL) is a no-op. */
PC_EXTERN int pc_lock_new(pc_lock **l);
PC_EXTERN void pc_lock_free(pc_lock *l);

/*
 * Acquire.  blocking=false tries once: 0 or -EBUSY (timeout must then be
 * PC_FOREVER, as Python insists, else -EINVAL).  blocking=true waits up to
 * `timeout` seconds: 0 or -ETIMEDOUT (a timeout of 0 tries once and
 * reports -ETIMEDOUT).  Acquiring a lock the caller already holds waits
 * (deadlocks without a timeout) exactly as in Python.
 * Thread-safe, coroutine-safe.  Not async-signal-safe.
 */
PC_EXTERN int pc_lock_acquire(pc_lock *l, bool blocking, double timeout);
/* Release.  0, or -EPERM when the lock is not held.  Any thread may release.
 * Thread-safe, coroutine-safe. */
PC_EXTERN int pc_lock_release(pc_lock *l);
/* Whether the lock is held by anyone (a snapshot).  false for NULL. */
PC_EXTERN bool pc_lock_locked(const pc_lock *l);

/* ----------------------------------------------------------------- RLock */

/*
 * A re-entrant lock: the owner may acquire it again; it is free once the
 * owner released it as often as it acquired it.  The owner is the calling
 * thread (or the calling coroutine, once coroutines exist).  Only the owner
 * may release it (unlike a Lock).  A thread that exits holding it leaves
 * it held for good, as in Python.
 * Thread-safe, coroutine-safe.  Not async-signal-safe.
 */
typedef struct pc_rlock {
    pc_lock _lock;            /* private */
    _Atomic uintptr_t _owner; /* private: owner identity, 0 when free */
    unsigned long _count;     /* private: guarded by _lock */
} pc_rlock;

#define PC_RLOCK_INIT                                                                              \
    { PC_LOCK_INIT, 0, 0 }

/* As the pc_lock ones: init 0 or -EINVAL; destroy 0, -EINVAL, or -EBUSY
 * while held or waited for; new 0, -EINVAL, -ENOMEM; free(NULL) no-op. */
PC_EXTERN int pc_rlock_init(pc_rlock *r);
PC_EXTERN int pc_rlock_destroy(pc_rlock *r);
PC_EXTERN int pc_rlock_new(pc_rlock **r);
PC_EXTERN void pc_rlock_free(pc_rlock *r);
/* As pc_lock_acquire; the owner re-acquires at once (count + 1).
 * -EOVERFLOW if the count would overflow. */
PC_EXTERN int pc_rlock_acquire(pc_rlock *r, bool blocking, double timeout);
/* 0, -EINVAL for NULL, or -EPERM when the caller is not the owner (or the
 * lock is free); a failed release changes nothing. */
PC_EXTERN int pc_rlock_release(pc_rlock *r);
/* How many times the caller holds `r` (0 when it is not the owner). */
PC_EXTERN unsigned long pc_rlock_count(const pc_rlock *r);
/* Whether the caller owns `r` (Python's _is_owned). */
PC_EXTERN bool pc_rlock_is_owned(const pc_rlock *r);

/* ------------------------------------------------------------- Condition */

typedef struct pc_cond pc_cond;

/*
 * A condition variable bound to one lock, as threading.Condition(lock):
 * pass a pc_lock or a pc_rlock (at most one; the other NULL), or neither to
 * get a private RLock (Python's default).  The lock must outlive the
 * condition.  Returns 0, -EINVAL (NULL c, or both locks given), -ENOMEM.
 * All calls on a condition are thread-safe and coroutine-safe, not
 * async-signal-safe.  Across fork(): copied as is, waiters included; use
 * it in the child only if no other thread waited on it at the fork.
 */
PC_EXTERN int pc_cond_new(pc_cond **c, pc_lock *lock, pc_rlock *rlock);
/* Free a condition nobody waits on.  free(NULL) is a no-op.  Freeing one
 * with waiters is a programmer error: it prints a message and aborts. */
PC_EXTERN void pc_cond_free(pc_cond *c);
/* Acquire / release the condition's lock (as `with cond:`): the codes of
 * pc_lock_acquire/release or pc_rlock_acquire/release; -EINVAL for NULL. */
PC_EXTERN int pc_cond_acquire(pc_cond *c, bool blocking, double timeout);
PC_EXTERN int pc_cond_release(pc_cond *c);
/*
 * Release the lock, wait for a notify or the timeout, re-acquire the lock
 * (always, even after a timeout; an RLock gets its full count back).
 * 0 notified, -ETIMEDOUT, -EPERM when the caller does not hold the lock
 * (for a plain pc_lock only "not locked at all" can be seen, as in
 * Python), -EINVAL for NULL or a NaN timeout.  Spurious wake-ups do not
 * happen: 0 means a notify chose this waiter.  A timeout of 0 does not
 * wait for a notify, but taking the lock back may wait.
 */
PC_EXTERN int pc_cond_wait(pc_cond *c, double timeout);
/*
 * Wait until pred(arg) returns true, re-checking after every notify; the
 * timeout covers the whole wait.  Returns 0 when the predicate held,
 * -ETIMEDOUT when it still did not at the deadline (it is checked once
 * more after the last wait), -EPERM as above, -EINVAL for NULL c or pred
 * or a NaN timeout.  pred runs with the lock held.
 */
PC_EXTERN int pc_cond_wait_for(pc_cond *c, bool (*pred)(void *arg), void *arg, double timeout);
/* Wake up to `n` waiters (n >= 0), longest waiting first.  Returns how many
 * were woken, -EPERM without the lock, -EINVAL for n < 0. */
PC_EXTERN int pc_cond_notify(pc_cond *c, int n);
PC_EXTERN int pc_cond_notify_all(pc_cond *c);

/* ------------------------------------------------------------- Semaphore */

typedef struct pc_sem pc_sem;

/* A counting semaphore with initial `value` (>= 0, else -EINVAL).  A bounded
 * one refuses to be released above its initial value.  0, -EINVAL, -ENOMEM.
 * All calls on a semaphore are thread-safe and coroutine-safe, not
 * async-signal-safe.  Across fork(): copied as is, value and waiters. */
PC_EXTERN int pc_sem_new(pc_sem **s, long value);
PC_EXTERN int pc_sem_new_bounded(pc_sem **s, long value);
/* free(NULL) is a no-op; freeing one with waiters prints and aborts. */
PC_EXTERN void pc_sem_free(pc_sem *s);
/* Take one unit.  Waiters are served first come, first served.  Same
 * blocking/timeout contract and codes as pc_lock_acquire. */
PC_EXTERN int pc_sem_acquire(pc_sem *s, bool blocking, double timeout);
/* Give back n units (n >= 1, else -EINVAL), first to the waiters, oldest
 * first, each of which gets its unit at once (a waiter timing out at that
 * moment reports success, so no unit is lost).  A bounded semaphore
 * returns -EOVERFLOW, changing nothing, when that would exceed its initial
 * value; any semaphore does so past LONG_MAX. */
PC_EXTERN int pc_sem_release(pc_sem *s, long n);
/* The current value (a snapshot); -EINVAL for NULL. */
PC_EXTERN long pc_sem_value(const pc_sem *s);

/* ----------------------------------------------------------------- Event */

typedef struct pc_event pc_event;

PC_EXTERN int pc_event_new(pc_event **e);
/* Free an event nobody waits on; freeing one with waiters is a programmer
 * error that aborts with a message.  free(NULL) is a no-op. */
PC_EXTERN void pc_event_free(pc_event *e);
/* Set the flag and wake every waiter.  `set(); clear()` still releases the
 * waiters that were already waiting.  0 or -EINVAL. */
PC_EXTERN int pc_event_set(pc_event *e);
PC_EXTERN int pc_event_clear(pc_event *e);
PC_EXTERN bool pc_event_is_set(const pc_event *e);
/* Wait for the flag: 0 once set (at once if already set), -ETIMEDOUT. */
PC_EXTERN int pc_event_wait(pc_event *e, double timeout);

/* --------------------------------------------------------------- Barrier */

typedef struct pc_barrier pc_barrier;

/*
 * A cyclic barrier for `parties` (>= 1) callers.  `action`, if not NULL, is
 * run exactly once per cycle by the last caller to arrive, before anyone is
 * released; a nonzero return breaks the barrier.  0, -EINVAL, -ENOMEM.
 * All calls on a barrier are thread-safe and coroutine-safe, not
 * async-signal-safe.  Across fork(): copied as is, waiters included.
 */
PC_EXTERN int pc_barrier_new(pc_barrier **b, int parties, int (*action)(void *arg), void *arg);
/* free(NULL) is a no-op; freeing one with waiters prints and aborts. */
PC_EXTERN void pc_barrier_free(pc_barrier *b);
/*
 * Wait until `parties` callers have called it.  Returns each caller a
 * distinct index in 0..parties-1 (the last to arrive gets parties-1).
 * -ETIMEDOUT: this caller's timeout passed, which breaks the barrier;
 * PC_EBROKEN: the barrier is or became broken (abort, reset while waiting,
 * another waiter's timeout, a failing action); the action's own nonzero
 * code goes to the caller that ran it (a positive code as its negation,
 * so `return EIO;` and `return -EIO;` both give -EIO).  -EINVAL for NULL
 * or a NaN timeout.  A timeout of 0 never blocks (and breaks the barrier
 * unless the caller is the last to arrive).
 */
PC_EXTERN int pc_barrier_wait(pc_barrier *b, double timeout);
/* Put the barrier in the broken state; current and future waiters get
 * PC_EBROKEN until pc_barrier_reset.  0 or -EINVAL. */
PC_EXTERN int pc_barrier_abort(pc_barrier *b);
/* Return to the empty state; current waiters get PC_EBROKEN.  0 or -EINVAL. */
PC_EXTERN int pc_barrier_reset(pc_barrier *b);
/* parties; how many callers are waiting in the current cycle (a snapshot);
 * whether it is broken.  -EINVAL (false) for NULL. */
PC_EXTERN int pc_barrier_parties(const pc_barrier *b);
PC_EXTERN int pc_barrier_n_waiting(const pc_barrier *b);
PC_EXTERN bool pc_barrier_broken(const pc_barrier *b);

/* ------------------------------------------------------- Atomic counters */

/*
 * A long that threads update without a lock: the fix for the seed's
 * `num += n; num -= n` race.  All operations are sequentially consistent.
 * Caller storage; PC_ATOMIC_LONG_INIT(v) or pc_atomic_long_init.
 * Thread-safe, coroutine-safe, async-signal-safe (lock-free on x86-64 and
 * aarch64).
 */
typedef struct pc_atomic_long {
    _Atomic long _v; /* private */
} pc_atomic_long;

#define PC_ATOMIC_LONG_INIT(v)                                                                     \
    { (v) }

static inline void pc_atomic_long_init(pc_atomic_long *a, long v) {
    atomic_init(&a->_v, v);
}
static inline long pc_atomic_long_load(const pc_atomic_long *a) {
    return atomic_load((_Atomic long *)&a->_v);
}
static inline void pc_atomic_long_store(pc_atomic_long *a, long v) {
    atomic_store(&a->_v, v);
}
/* Add n; returns the new value (as `num += n` leaves it). */
static inline long pc_atomic_long_add(pc_atomic_long *a, long n) {
    return atomic_fetch_add(&a->_v, n) + n;
}
/* Subtract n; returns the new value. */
static inline long pc_atomic_long_sub(pc_atomic_long *a, long n) {
    return atomic_fetch_sub(&a->_v, n) - n;
}
/* If the value equals *expected, store desired and return true; otherwise
 * copy the current value into *expected and return false. */
static inline bool pc_atomic_long_cas(pc_atomic_long *a, long *expected, long desired) {
    return atomic_compare_exchange_strong(&a->_v, expected, desired);
}

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_SYNC_H */
