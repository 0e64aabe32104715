/*
 * pc__shmutex (shared-internal.h): a robust lock in shared memory.
 *
 * The kernel's robust futexes would tell a waiter at once that a holder
 * died, but their list is registered per thread by the C library for its
 * own mutexes, and we cannot add entries of ours without owning that list.
 * So a waiter checks: it sleeps on the word in slices (2 ms, doubling to
 * 50 ms) and after each asks /proc whether the holder's thread has ended
 * (gone, or a zombie: a process killed by a signal is a zombie until its
 * parent reaps it).  The holder's death is noticed within a slice; nothing
 * costs more while the holder lives than a wake-up per slice per waiter.
 *
 * The word: 0 free, else holder tid | PC__SHM_WAITERS.  WAITERS is set by
 * a waiter before it sleeps and kept by whoever takes the lock after
 * sleeping (it cannot know whether others still sleep), so an unlock that
 * may leave sleepers always wakes one (Drepper's "futexes are tricky",
 * mutex 3).  A take-over replaces a dead holder's tid with ours by CAS on
 * the exact word the check was made for, so two waiters that both saw the
 * death cannot both take it.
 *
 * Memory order: taking (CAS to our tid) is acquire, pairing with the
 * release of the unlock's exchange, so the guarded data written by the
 * previous holder is visible.  A take-over after a death acquires too; the
 * dead holder's half-written data is whatever reached memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../internal/shwait.h"
#include "../internal/waiter.h"
#include "../platform/futex.h"
#include "shared-internal.h"

enum { SLICE_FIRST_NS = 2000000, SLICE_MAX_NS = 50000000 };

/* pc__tid's cache: a fork child's thread has a new tid, so the child bumps
 * the generation and every cached tid is read again. */
static _Atomic unsigned fork_gen;
static _Thread_local struct {
    unsigned gen;
    pid_t tid;
} tid_cache;

static void tid_fork_child(void) {
    atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
}

__attribute__((constructor)) static void tid_init(void) {
    pthread_atfork(NULL, NULL, tid_fork_child);
}

pid_t pc__tid(void) {
    unsigned g = atomic_load_explicit(&fork_gen, memory_order_relaxed);
    if (tid_cache.tid == 0 || tid_cache.gen != g) {
        tid_cache.tid = gettid();
        tid_cache.gen = g;
    }
    return tid_cache.tid;
}

bool pc__tid_ended(pid_t tid) {
    char path[40], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return n == 0 || errno == ESRCH;
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); /* the name may hold ')' and spaces */
    if (!paren || paren[1] != ' ')
        return false;
    return paren[2] == 'Z' || paren[2] == 'X';
}

static inline bool take(pc__shmutex *m, uint32_t from, uint32_t to) {
    return atomic_compare_exchange_strong_explicit(&m->word, &from, to, memory_order_acquire,
                                                   memory_order_relaxed);
}

/* Take the lock from the dead holder in `seen` if it is still that word. */
static int take_over(pc__shmutex *m, uint32_t seen, uint32_t me) {
    if (pc__tid_ended((pid_t)(seen & PC__SHM_TID_MASK)) && take(m, seen, me | PC__SHM_WAITERS))
        return -EOWNERDEAD;
    return 0;
}

int pc__shmutex_trylock(pc__shmutex *m) {
    uint32_t me = (uint32_t)pc__tid();
    uint32_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
    if (w == 0 && take(m, 0, me))
        return 0;
    if (w != 0 && take_over(m, w, me) == -EOWNERDEAD)
        return -EOWNERDEAD;
    return -EAGAIN;
}

int pc__shmutex_lock(pc__shmutex *m, int64_t deadline) {
    uint32_t me = (uint32_t)pc__tid();
    if (take(m, 0, me))
        return 0;
    for (int i = pc__spin_limit(); i > 0; i--) {
        pc__cpu_relax();
        if (atomic_load_explicit(&m->word, memory_order_relaxed) == 0 && take(m, 0, me))
            return 0;
    }
    int64_t slice = SLICE_FIRST_NS;
    for (;;) {
        uint32_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
        if (w == 0) {
            if (take(m, 0, me | PC__SHM_WAITERS))
                return 0;
            continue;
        }
        if (!(w & PC__SHM_WAITERS)) {
            if (!atomic_compare_exchange_weak_explicit(&m->word, &w, w | PC__SHM_WAITERS,
                                                       memory_order_relaxed, memory_order_relaxed))
                continue;
            w |= PC__SHM_WAITERS;
        }
        int64_t now = pc__mono_ns();
        int64_t until = deadline - now > slice ? now + slice : deadline;
        int r = now < deadline ? pc__shwait(&m->word, w, until) : -ETIMEDOUT;
        if (r == -ECANCELED)
            return r;
        if (r == -ETIMEDOUT) {
            if (atomic_load_explicit(&m->word, memory_order_relaxed) == w &&
                take_over(m, w, me) == -EOWNERDEAD)
                return -EOWNERDEAD;
            if (pc__mono_ns() >= deadline)
                return -ETIMEDOUT;
            slice = slice * 2 < SLICE_MAX_NS ? slice * 2 : SLICE_MAX_NS;
        }
    }
}

int pc__shmutex_unlock(pc__shmutex *m) {
    uint32_t me = (uint32_t)pc__tid();
    uint32_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
    if ((w & PC__SHM_TID_MASK) != me)
        return -EPERM;
    w = atomic_exchange_explicit(&m->word, 0, memory_order_release); /* pairs with take() */
    if (w & PC__SHM_WAITERS)
        pc__shwake(&m->word, 1);
    return 0;
}

int pc__shmutex_unlock_any(pc__shmutex *m) {
    uint32_t w =
        atomic_exchange_explicit(&m->word, 0, memory_order_release); /* pairs with take() */
    if (w == 0)
        return -EPERM;
    if (w & PC__SHM_WAITERS)
        pc__shwake(&m->word, 1);
    return 0;
}
