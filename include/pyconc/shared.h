/*
 * pyconc/shared.h - memory shared between processes: the shared heap and
 * references to it (multiprocessing.sharedctypes / shared_memory).
 *
 *   Python                                   pyconc
 *   shared_memory.SharedMemory(size=n)       pc_shared_alloc(n, &p)
 *   shm.name (passed to another process)     pc_shared_ref_of(p, &ref)
 *   SharedMemory(name=...)                   pc_shared_deref(ref, &p)
 *   shm.close(); shm.unlink()                pc_shared_free(p)
 *
 * The shared heap.  Every process tree has one heap of shared memory
 * (a memfd mapped MAP_SHARED, reserved at PC_SHARED_HEAP_MAX bytes, its
 * pages allocated only when touched).  The first process of the tree that
 * allocates creates it; every child started after that shares it, under
 * every start method: a fork child inherits the mapping, a spawn or
 * forkserver child receives the memfd at start and maps it when first
 * used.  A child allocates in the same heap, so a block made by a child
 * is visible to its parent too.
 *
 * Bytes cross processes, pointers don't.  A block sits at a different
 * address in each process that maps the heap (except after fork), so a
 * pointer into the heap is not sent to another process; its reference is:
 * pc_shared_ref turns a block into a pc_shared_ref, 16 plain bytes to copy
 * into a process's argument, a class process's fields, a pipe message or a
 * queue item; pc_shared_deref turns it back into a pointer in the calling
 * process.  Values, arrays, locks and process queues (shared.h, mpqueue.h)
 * are blocks of this heap and travel the same way.
 *
 * Lifetime: a block lives until pc_shared_free, whichever process calls
 * it; the heap lives while any process maps it.  Allocation and free are
 * thread-safe and process-safe (a robust lock: a process killed in the
 * middle of one leaves the heap usable).
 */
#ifndef PYCONC_SHARED_H
#define PYCONC_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The heap's reserved size: the total of live blocks, their headers and
 * rounding included, cannot exceed it. */
#define PC_SHARED_HEAP_MAX ((uint64_t)4 << 30)

/* A reference to a block of the shared heap: plain bytes, valid in every
 * process of the tree.  The zero value refers to nothing. */
typedef struct pc_shared_ref {
    uint64_t heap; /* the heap's identity */
    uint64_t off;  /* the block's offset in it */
} pc_shared_ref;

/*
 * Allocate `size` bytes (> 0) of shared memory, zeroed, aligned to 64
 * bytes, into *out.  0; -EINVAL (size 0, out NULL); -ENOMEM (heap full,
 * or the memfd could not be made: the kernel's errno is not kept).
 * Thread-safe, coroutine-safe (does not block on other coroutines), fork:
 * the child shares every block.
 */
PC_EXTERN int pc_shared_alloc(size_t size, void **out);

/* Free a block from pc_shared_alloc, in any process of the tree.  0;
 * -EINVAL (NULL, not a live block of this heap: a double free is caught
 * here).  Every process must stop using the block first. */
PC_EXTERN int pc_shared_free(void *block);

/* The usable size of a block (at least what was asked).  0 if `block` is
 * not a live block. */
PC_EXTERN size_t pc_shared_size(const void *block);

/* The reference of a block.  0; -EINVAL (not a live block). */
PC_EXTERN int pc_shared_ref_of(const void *block, pc_shared_ref *out);

/*
 * The block `ref` refers to, as a pointer in the calling process (mapping
 * the heap on first use in a spawn or forkserver child).  0; -EINVAL (the
 * zero reference, or no live block there: freed, or garbage); -ENXIO (a
 * heap this process does not share: made by an unrelated process, or by a
 * parent after this child started); -ENOMEM (the mapping failed).
 */
PC_EXTERN int pc_shared_deref(pc_shared_ref ref, void **out);

/* =================================================== Shared objects
 *
 * Process-shared synchronization and values: multiprocessing's Lock,
 * RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier, Value,
 * Array, RawValue and RawArray.  Naming: the thread version's name
 * (sync.h) with `sh` for shared: pc_lock -> pc_shlock, pc_sem -> pc_shsem,
 * and so on; values are pc_shvalue and pc_sharray.
 *
 *   Python (multiprocessing)           pyconc
 *   Lock()                             pc_shlock_new(&l)
 *   RLock()                            pc_shrlock_new(&r)
 *   Semaphore(n) / BoundedSemaphore(n) pc_shsem_new(&s, n) / pc_shsem_new_bounded(&s, n)
 *   Event()                            pc_shevent_new(&e)
 *   Condition(lock=None)               pc_shcond_new(&c, NULL, NULL)
 *   Barrier(n, timeout=None)           pc_shbarrier_new(&b, n)
 *   x.acquire(timeout=t)               pc_shlock_acquire(l, t)  (0: try once)
 *   Value('l', 0)                      pc_shvalue_new(&v, PC_SH_LONG, 0, NULL)
 *   Value('i', 0, lock=lk)             pc_shvalue_new(&v, PC_SH_INT, 0, lk)
 *   RawValue('d')                      pc_shvalue_new_raw(&v, PC_SH_DOUBLE, 0)
 *   Array('i', n) / RawArray('i', n)   pc_sharray_new(&a, PC_SH_INT, 0, n, NULL) / _new_raw
 *   v.get_lock()                       pc_shvalue_get_lock(v)
 *   v.value / v.value = x              pc_shvalue_get_long(v, &x) / pc_shvalue_set_long(v, x)
 *   with v.get_lock(): v.value += 1    pc_shvalue_lock(v, PC_FOREVER); (*(long *)
 *                                      pc_shvalue_ptr(v))++; pc_shvalue_unlock(v)
 *
 * Every object is a block of the shared heap: pass it to another process
 * by reference (pc_shared_ref_of on the object, pc_shared_deref in the
 * other process), under every start method; after fork the pointer is
 * valid too.  Each _free is called once, by any one process, when no
 * process uses the object any more.
 *
 * Waiting: a thread sleeps on a futex of the shared memory (and releases
 * a GIL it is attached to meanwhile); a coroutine parks only itself, its
 * loop runs the others.  Signals do not make a wait fail: it goes on
 * until its deadline.  Every blocking call takes `double timeout` in
 * seconds last: PC_FOREVER (any negative) waits without limit, 0 tries
 * once.
 *
 * Robustness: a lock (Lock, RLock, a Condition's lock, a Value's lock)
 * whose holder dies - its thread or its whole process, by SIGKILL or any
 * end - passes to the next acquirer, which gets -EOWNERDEAD: the lock is
 * now held by the caller, and the data it guards may be half-updated.
 * A waiter notices the death within 50 ms (it checks /proc each time its
 * sleep slice ends; see docs/shared.md).  Semaphores, Events and Barriers
 * have no owner: a process that dies before releasing or setting them
 * leaves the waiters to their timeout (a Barrier's timeout breaks it).
 *
 * Common return codes: 0 success; -EINVAL a NULL or wrong-type object (an
 * object of another kind, a freed one), a NaN timeout; -EBUSY a try
 * (timeout 0) that found the object taken; -ETIMEDOUT the timeout passed;
 * -ECANCELED a coroutine's wait cancelled (pc_task_cancel, a scope's
 * timeout); -ENOMEM the heap is full.  Every call is thread-safe,
 * process-safe and coroutine-safe, none is async-signal-safe.  Across
 * fork(): the child shares the objects (they are not copied).
 */

/* -------------------------------------------------------------- Lock */

typedef struct pc_shlock pc_shlock;

/* A non-recursive lock in shared memory (multiprocessing.Lock).
 * new: 0, -EINVAL, -ENOMEM.  free: 0; -EINVAL; -EBUSY while a live thread
 * holds it (nothing is freed). */
PC_EXTERN int pc_shlock_new(pc_shlock **l);
PC_EXTERN int pc_shlock_free(pc_shlock *l);
/* Acquire: 0; -EOWNERDEAD (acquired; the previous holder died holding
 * it); -EBUSY (timeout 0 and held); -ETIMEDOUT; -ECANCELED; -EINVAL.
 * Acquiring it again from the holding thread waits (as in Python). */
PC_EXTERN int pc_shlock_acquire(pc_shlock *l, double timeout);
/* Release: 0; -EPERM when not held.  Any thread of any process may
 * release it, as in Python. */
PC_EXTERN int pc_shlock_release(pc_shlock *l);
/* Whether it is held (a snapshot); false for NULL. */
PC_EXTERN bool pc_shlock_locked(const pc_shlock *l);

/* ------------------------------------------------------------- RLock */

typedef struct pc_shrlock pc_shrlock;

/* A recursive lock in shared memory (multiprocessing.RLock).  Its owner
 * is the calling coroutine of a thread (two coroutines of one thread are
 * two owners), else the thread.  new/free as pc_shlock. */
PC_EXTERN int pc_shrlock_new(pc_shrlock **r);
PC_EXTERN int pc_shrlock_free(pc_shrlock *r);
/* Acquire (again, by the owner: the count goes up, 0 at once).  Codes as
 * pc_shlock_acquire; after -EOWNERDEAD the count is 1. */
PC_EXTERN int pc_shrlock_acquire(pc_shrlock *r, double timeout);
/* Release once: 0; -EPERM when the caller is not the owner. */
PC_EXTERN int pc_shrlock_release(pc_shrlock *r);
/* The owner's count (0 when free, a snapshot); whether the caller owns
 * it.  0 / false for NULL. */
PC_EXTERN unsigned long pc_shrlock_count(const pc_shrlock *r);
PC_EXTERN bool pc_shrlock_is_owned(const pc_shrlock *r);

/* --------------------------------------------------------- Semaphore */

typedef struct pc_shsem pc_shsem;

/* A counting semaphore with initial `value` (>= 0); a bounded one refuses
 * to be released above its initial value.  0, -EINVAL, -ENOMEM. */
PC_EXTERN int pc_shsem_new(pc_shsem **s, long value);
PC_EXTERN int pc_shsem_new_bounded(pc_shsem **s, long value);
/* 0; -EINVAL; -EBUSY while waiters wait (a waiter that died waiting
 * keeps counting as one: free it anyway only when you know). */
PC_EXTERN int pc_shsem_free(pc_shsem *s);
/* Take one unit: 0; -EBUSY (timeout 0, none left); -ETIMEDOUT;
 * -ECANCELED; -EINVAL.  Not fair: any waiter may win a released unit. */
PC_EXTERN int pc_shsem_acquire(pc_shsem *s, double timeout);
/* Give back n units (n >= 1, else -EINVAL): 0; -EOVERFLOW, changing
 * nothing, above a bounded semaphore's initial value or past LONG_MAX. */
PC_EXTERN int pc_shsem_release(pc_shsem *s, long n);
/* The value (a snapshot); -EINVAL for NULL. */
PC_EXTERN long pc_shsem_value(const pc_shsem *s);

/* ------------------------------------------------------------- Event */

typedef struct pc_shevent pc_shevent;

/* A flag that processes wait for (multiprocessing.Event).  new: 0,
 * -EINVAL, -ENOMEM; free: 0, -EINVAL, -EBUSY while waiters wait. */
PC_EXTERN int pc_shevent_new(pc_shevent **e);
PC_EXTERN int pc_shevent_free(pc_shevent *e);
/* Set the flag and wake every waiter (`set(); clear()` still releases
 * the waiters already waiting).  0 or -EINVAL. */
PC_EXTERN int pc_shevent_set(pc_shevent *e);
PC_EXTERN int pc_shevent_clear(pc_shevent *e);
PC_EXTERN bool pc_shevent_is_set(const pc_shevent *e);
/* Wait for the flag: 0 once set (at once if set); -ETIMEDOUT (timeout 0
 * included); -ECANCELED; -EINVAL. */
PC_EXTERN int pc_shevent_wait(pc_shevent *e, double timeout);

/* --------------------------------------------------------- Condition */

typedef struct pc_shcond pc_shcond;

/* A condition variable (multiprocessing.Condition) over a shared lock:
 * `lock`, or `rlock`, or (both NULL) a new RLock of its own, freed with
 * it.  Both given: -EINVAL.  0, -EINVAL, -ENOMEM.  free: 0, -EINVAL,
 * -EBUSY while waiters wait or its own lock is held. */
PC_EXTERN int pc_shcond_new(pc_shcond **c, pc_shlock *lock, pc_shrlock *rlock);
PC_EXTERN int pc_shcond_free(pc_shcond *c);
/* Its lock, as given or its own (a pc_shlock * or a pc_shrlock *);
 * whether that is an RLock.  NULL / false for NULL. */
PC_EXTERN void *pc_shcond_lock_of(const pc_shcond *c);
PC_EXTERN bool pc_shcond_lock_is_recursive(const pc_shcond *c);
/* Acquire / release its lock; codes as pc_shlock_* / pc_shrlock_*. */
PC_EXTERN int pc_shcond_acquire(pc_shcond *c, double timeout);
PC_EXTERN int pc_shcond_release(pc_shcond *c);
/*
 * Release the lock (all levels of an RLock), wait for a notify or the
 * timeout, re-acquire the lock (without limit: a dead holder is taken
 * over) and restore its level.  0 notified; -ETIMEDOUT; -EOWNERDEAD
 * (notified or not: while waiting for the lock again its holder died; the
 * lock is held); -EPERM the caller does not hold the lock (for a Lock:
 * the calling thread); -ECANCELED (the lock is NOT held then); -EINVAL.
 * notify(n) wakes the n oldest waiters; one that timed out is skipped,
 * unless the notify came between its timeout and its re-acquiring the
 * lock: that wait then returns 0.
 */
PC_EXTERN int pc_shcond_wait(pc_shcond *c, double timeout);
/* Wait until pred(arg) is true (checked under the lock first): 0; the
 * last wait's error. */
PC_EXTERN int pc_shcond_wait_for(pc_shcond *c, bool (*pred)(void *arg), void *arg, double timeout);
/* Wake up to n (>= 0) of the current waiters / all of them.  The caller
 * holds the lock: 0, -EPERM, -EINVAL. */
PC_EXTERN int pc_shcond_notify(pc_shcond *c, int n);
PC_EXTERN int pc_shcond_notify_all(pc_shcond *c);

/* ----------------------------------------------------------- Barrier */

typedef struct pc_shbarrier pc_shbarrier;

/* A cyclic barrier for `parties` (>= 1) callers of any processes
 * (multiprocessing.Barrier, without an action: a function pointer does
 * not cross spawn).  new: 0, -EINVAL, -ENOMEM; free: 0, -EINVAL, -EBUSY
 * while waiters wait. */
PC_EXTERN int pc_shbarrier_new(pc_shbarrier **b, int parties);
PC_EXTERN int pc_shbarrier_free(pc_shbarrier *b);
/*
 * Wait until `parties` callers have called it: a distinct index in
 * 0..parties-1 (the last to arrive gets parties-1).  -ETIMEDOUT: this
 * caller's timeout passed, which breaks the barrier (timeout 0: unless the
 * caller is the last); PC_EBROKEN: broken (abort, reset while waiting,
 * another waiter's timeout, a process that died inside a barrier call);
 * -ECANCELED (breaks it too); -EINVAL.  A party that dies before arriving
 * is not detected: the others wait until their timeout.
 */
PC_EXTERN int pc_shbarrier_wait(pc_shbarrier *b, double timeout);
/* Break it: current and later waiters get PC_EBROKEN until reset. */
PC_EXTERN int pc_shbarrier_abort(pc_shbarrier *b);
/* Empty and unbroken again; current waiters get PC_EBROKEN. */
PC_EXTERN int pc_shbarrier_reset(pc_shbarrier *b);
/* parties; callers waiting now (a snapshot); broken.  -EINVAL / false
 * for NULL. */
PC_EXTERN int pc_shbarrier_parties(const pc_shbarrier *b);
PC_EXTERN int pc_shbarrier_n_waiting(const pc_shbarrier *b);
PC_EXTERN bool pc_shbarrier_broken(const pc_shbarrier *b);

/* ----------------------------------------------------- Value / Array */

/* Element types: ctypes' 'i', 'l', 'd', 'c', and a struct of a given size. */
typedef enum pc_shtype {
    PC_SH_INT = 1, /* int */
    PC_SH_LONG,    /* long */
    PC_SH_DOUBLE,  /* double */
    PC_SH_CHAR,    /* char */
    PC_SH_STRUCT,  /* `size` bytes, copied as they are */
} pc_shtype;

typedef struct pc_shvalue pc_shvalue;
typedef struct pc_sharray pc_sharray;

/*
 * A value of `type` in shared memory, zeroed.  `size` is the struct's
 * size for PC_SH_STRUCT (>= 1), else 0 (or the type's size).  `lock`: NULL
 * for an RLock of its own (Python's default, freed with the value), or a
 * pc_shlock * / pc_shrlock * to share (not freed with it).  _raw: no lock
 * at all (RawValue).  0; -EINVAL (bad type, size, or a lock that is no
 * shared lock); -ENOMEM.
 */
PC_EXTERN int pc_shvalue_new(pc_shvalue **v, pc_shtype type, size_t size, void *lock);
PC_EXTERN int pc_shvalue_new_raw(pc_shvalue **v, pc_shtype type, size_t size);
/* 0; -EINVAL; -EBUSY while its own lock is held by a live thread. */
PC_EXTERN int pc_shvalue_free(pc_shvalue *v);
/* The raw storage (the value's bytes; use under the lock); NULL for NULL. */
PC_EXTERN void *pc_shvalue_ptr(pc_shvalue *v);
/* get_lock: the lock (pc_shlock * or pc_shrlock *), NULL for a raw value. */
PC_EXTERN void *pc_shvalue_get_lock(const pc_shvalue *v);
/* Acquire / release its lock: codes as pc_shrlock_acquire / _release;
 * -EINVAL for a raw value. */
PC_EXTERN int pc_shvalue_lock(pc_shvalue *v, double timeout);
PC_EXTERN int pc_shvalue_unlock(pc_shvalue *v);
/*
 * Read or write the whole value under its lock, if any (v.value): each
 * call takes the lock without a time limit (the lock cannot be left held
 * forever: a dead holder is taken over) and releases it.  0;
 * -EOWNERDEAD (done; the previous holder of the lock died holding it);
 * -ECANCELED (a coroutine cancelled while waiting for the lock: nothing
 * copied); -EINVAL (NULL, or the typed form of another type).  Calling it while
 * holding a plain pc_shlock given as the lock waits forever, as in Python.
 */
PC_EXTERN int pc_shvalue_get(pc_shvalue *v, void *out);
PC_EXTERN int pc_shvalue_set(pc_shvalue *v, const void *in);
PC_EXTERN int pc_shvalue_get_int(pc_shvalue *v, int *out);
PC_EXTERN int pc_shvalue_set_int(pc_shvalue *v, int x);
PC_EXTERN int pc_shvalue_get_long(pc_shvalue *v, long *out);
PC_EXTERN int pc_shvalue_set_long(pc_shvalue *v, long x);
PC_EXTERN int pc_shvalue_get_double(pc_shvalue *v, double *out);
PC_EXTERN int pc_shvalue_set_double(pc_shvalue *v, double x);
PC_EXTERN int pc_shvalue_get_char(pc_shvalue *v, char *out);
PC_EXTERN int pc_shvalue_set_char(pc_shvalue *v, char x);

/* An array of n (>= 1) elements of `type`; size, lock as for values. */
PC_EXTERN int pc_sharray_new(pc_sharray **a, pc_shtype type, size_t size, size_t n, void *lock);
PC_EXTERN int pc_sharray_new_raw(pc_sharray **a, pc_shtype type, size_t size, size_t n);
PC_EXTERN int pc_sharray_free(pc_sharray *a);
/* The elements; their number; one element's size.  NULL / 0 for NULL. */
PC_EXTERN void *pc_sharray_ptr(pc_sharray *a);
PC_EXTERN size_t pc_sharray_len(const pc_sharray *a);
PC_EXTERN size_t pc_sharray_elem_size(const pc_sharray *a);
PC_EXTERN void *pc_sharray_get_lock(const pc_sharray *a);
PC_EXTERN int pc_sharray_lock(pc_sharray *a, double timeout);
PC_EXTERN int pc_sharray_unlock(pc_sharray *a);
/* Element i under the lock, as pc_shvalue_get/set; -ERANGE for i >= len. */
PC_EXTERN int pc_sharray_get(pc_sharray *a, size_t i, void *out);
PC_EXTERN int pc_sharray_set(pc_sharray *a, size_t i, const void *in);
PC_EXTERN int pc_sharray_get_long(pc_sharray *a, size_t i, long *out);
PC_EXTERN int pc_sharray_set_long(pc_sharray *a, size_t i, long x);
PC_EXTERN int pc_sharray_get_int(pc_sharray *a, size_t i, int *out);
PC_EXTERN int pc_sharray_set_int(pc_sharray *a, size_t i, int x);
PC_EXTERN int pc_sharray_get_double(pc_sharray *a, size_t i, double *out);
PC_EXTERN int pc_sharray_set_double(pc_sharray *a, size_t i, double x);

#ifdef __cplusplus
}
#endif

#endif
