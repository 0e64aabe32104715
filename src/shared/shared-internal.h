/*
 * Internals of the shared module, used by shared objects (shared.h) and
 * process queues (mpqueue.h):
 *   heap.c     the shared heap; the fd handed to spawn/forkserver children
 *   shmutex.c  a robust lock in shared memory that threads and coroutines wait on
 *   lock.c     pc_shlock, pc_shrlock and the "any shared lock" calls below
 *   sem.c, event.c, cond.c, barrier.c, value.c   the other shared objects
 *
 * Every shared object is one heap block that starts with a magic word
 * naming its kind: a call given an object of another kind (or a freed
 * one: _free clears the magic) returns -EINVAL.
 */
#ifndef PC_SHARED_INTERNAL_H
#define PC_SHARED_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../internal/clock.h"
#include "../internal/shwait.h"
#include "pyconc/shared.h"

/* heap.c: the heap's memfd, -1 while this process has none mapped; and,
 * in a spawn/forkserver child, the memfd its parent sent (owned from then
 * on; mapped at first use). */
int pc__shared_heap_fd(void);
void pc__shared_adopt(int fd);

/* The kernel thread id of the caller, cached per thread (and refreshed in
 * a fork child). */
pid_t pc__tid(void);

/* Whether the thread `tid` (of any process in our pid namespace) has
 * ended: gone, or a zombie.  A recycled tid reads as alive. */
bool pc__tid_ended(pid_t tid);

/*
 * pc__shmutex: a lock in shared memory, robust against its holder's death.
 *
 * word = holder's tid | PC__SHM_WAITERS, or 0 when free.  Waiters sleep on
 * the word through pc__shwait (threads on the futex, coroutines parked);
 * while they wait they look, every few milliseconds (doubling up to 50 ms),
 * whether the holder's thread has ended, and if so take the lock over.
 * Ownership is by thread: coroutines of one thread are one holder to it.
 */
#define PC__SHM_WAITERS 0x80000000u
#define PC__SHM_TID_MASK 0x3fffffffu

typedef struct pc__shmutex {
    _Atomic uint32_t word;
} pc__shmutex;

/* 0: taken; -EOWNERDEAD: taken, and the previous holder died holding it
 * (the data it guards may be half-updated); -ETIMEDOUT at the absolute
 * deadline; -ECANCELED (a coroutine killed or timed out by a scope). */
int pc__shmutex_lock(pc__shmutex *m, int64_t deadline);
/* 0; -EOWNERDEAD (as above); -EAGAIN (held by a live thread). */
int pc__shmutex_trylock(pc__shmutex *m);
/* 0; -EPERM (not held by the calling thread: nothing changes). */
int pc__shmutex_unlock(pc__shmutex *m);
/* Unlock whoever holds it (Python's Lock: any thread may release).
 * 0; -EPERM (free). */
int pc__shmutex_unlock_any(pc__shmutex *m);
/* The holder's tid, 0 when free. */
static inline pid_t pc__shmutex_holder(pc__shmutex *m) {
    return (pid_t)(atomic_load_explicit(&m->word, memory_order_relaxed) & PC__SHM_TID_MASK);
}

/* ---- shared objects ---- */

enum {
    PC__SH_LOCK = 0x4b434c50u,    /* "PLCK" */
    PC__SH_RLOCK = 0x4b4c5250u,   /* "PRLK" */
    PC__SH_SEM = 0x4d455350u,     /* "PSEM" */
    PC__SH_EVENT = 0x54564550u,   /* "PEVT" */
    PC__SH_COND = 0x444e4350u,    /* "PCND" */
    PC__SH_BARRIER = 0x52414250u, /* "PBAR" */
    PC__SH_VALUE = 0x4c415650u,   /* "PVAL" */
    PC__SH_ARRAY = 0x52524150u,   /* "PARR" */
};

/* The kind of a shared object; 0 for NULL. */
static inline uint32_t pc__sh_kind(const void *o) {
    return o ? atomic_load_explicit((_Atomic uint32_t *)o, memory_order_relaxed) : 0;
}

struct pc_shlock {
    _Atomic uint32_t magic;
    pc__shmutex mu;
};

struct pc_shrlock {
    _Atomic uint32_t magic;
    pc__shmutex mu;         /* the owner's thread */
    _Atomic uint32_t count; /* written by the owner under mu; relaxed: others read snapshots */
    _Atomic uint64_t self;  /* the owner's pc__self_id (with mu's tid); written under mu */
};

/* A heap block of `size` bytes whose first word is `magic`: 0, -EINVAL, -ENOMEM. */
int pc__sh_alloc(size_t size, uint32_t magic, void **out);
/* Clear the magic and free the block. */
int pc__sh_free(void *obj);

/* Sleep on `ec` past `ticket` (pc__shec_wait), counting the caller in
 * *nwait meanwhile (so that _free can refuse an object with waiters). */
static inline int pc__sh_sleep(pc__shec *ec, uint32_t ticket, _Atomic uint32_t *nwait,
                               int64_t deadline) {
    atomic_fetch_add_explicit(nwait, 1, memory_order_relaxed);
    int rc = pc__shec_wait(ec, ticket, deadline);
    atomic_fetch_sub_explicit(nwait, 1, memory_order_relaxed);
    return rc;
}

/* How many callers sleep on a semaphore, event, condition or barrier
 * now (a snapshot, for tests and _free); -EINVAL for another object. */
int pc__sh_nwait(const void *obj);
int pc__sem_nwait(const void *obj); /* each file's own, behind pc__sh_nwait */
int pc__event_nwait(const void *obj);
int pc__cond_nwait(const void *obj);
int pc__barrier_nwait(const void *obj);

/* Any shared lock (a pc_shlock or a pc_shrlock), as Conditions and Values
 * use theirs.  acquire: as pc_shlock_acquire with an absolute deadline;
 * owned: whether the caller holds it (a Lock: the calling thread). */
int pc__shany_acquire(void *lock, int64_t deadline);
int pc__shany_release(void *lock);
bool pc__shany_owned(void *lock);
/* Release every level (an RLock's count into *saved) / take it back
 * without limit and restore the level: 0 or -EOWNERDEAD (or -ECANCELED). */
int pc__shany_release_all(void *lock, uint32_t *saved);
int pc__shany_restore(void *lock, uint32_t saved);
/* A pc_shlock or pc_shrlock that is free or held by a dead thread. */
bool pc__shany_freeable(void *lock);

#endif
