/*
 * Internals of the shared module, used by shared objects (shared.h) and
 * process queues (mpqueue.h):
 *   heap.c     the shared heap; the fd handed to spawn/forkserver children
 *   shmutex.c  a robust lock in shared memory that threads and coroutines wait on
 */
#ifndef PC_SHARED_INTERNAL_H
#define PC_SHARED_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../internal/clock.h"

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
/* The holder's tid, 0 when free. */
static inline pid_t pc__shmutex_holder(pc__shmutex *m) {
    return (pid_t)(atomic_load_explicit(&m->word, memory_order_relaxed) & PC__SHM_TID_MASK);
}

#endif
