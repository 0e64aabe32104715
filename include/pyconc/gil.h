/*
 * pyconc/gil.h - a global interpreter lock, as CPython's, for C programs.
 *
 *   CPython                                 pyconc
 *   take / drop the GIL                     pc_gil_acquire / pc_gil_release
 *   the eval breaker, checked between       pc_gil_check (inline: one relaxed
 *     bytecodes                               load while nobody waits)
 *   sys.setswitchinterval(s)                pc_gil_set_switch_interval
 *   sys.setcheckinterval(n) (Python 2)      pc_gil_opts.check_interval
 *   Py_BEGIN/END_ALLOW_THREADS              pc_gil_save / pc_gil_restore
 *   a thread state bound to the interpreter pc_gil_attach / pc_gil_detach
 *
 * A GIL is a lock that every thread must hold to touch some state that is
 * not thread-safe — an embedded interpreter, a legacy library — so the
 * threads around it take turns.  Unlike a plain lock it keeps them taking
 * turns: once the holder's turn has lasted the switch interval (default
 * 5 ms) while another thread waits, the holder's next pc_gil_check() hands
 * the GIL over (forced switching: the dropping thread cannot take it
 * straight back, it queues behind the others).  The holder's check keeps
 * the time itself, so the switch does not wait for the waiter to be
 * scheduled.
 *
 * Order (bounded, no waiter starves): the GIL is handed to waiters first in
 * first out.  With PC_GIL_IO_PRIORITY, a thread coming back from a blocking
 * call (pc_gil_restore, and every pyconc blocking call of an attached
 * thread) queues ahead of the others and asks for the GIL at once (the
 * remedy proposed for CPython's convoy effect, bpo-7946); it may pass the
 * oldest ordinary waiter at most `max_bypass` times in a row.
 *
 * Ownership is per thread: coroutines of one thread share their thread's
 * GIL.  A wait for the GIL blocks the whole thread, coroutines included.
 * A thread that ends holding a GIL leaves it held.
 *
 * Attached threads (pc_gil_attach): every pyconc call that blocks the thread
 * — pc_sleep, lock, condition, semaphore, event, barrier, queue, join,
 * pc_wait_fd and the cooperative socket calls in a thread, and a loop
 * waiting in epoll — releases the GIL while it blocks and takes it back
 * before it returns, as CPython does around blocking system calls.  A
 * short wait that ends while the caller still spins keeps the GIL.
 *
 * Common return codes: 0 success; -EINVAL a NULL GIL or a bad argument;
 * -EDEADLK taking a GIL the caller holds; -EPERM releasing (or checking) a
 * GIL the caller does not hold; -ETIMEDOUT / -EAGAIN a timed / non-blocking
 * acquire that did not get it; -EBUSY freeing a GIL in use.
 *
 * Across fork(): only the forking thread exists in the child; call
 * pc_gil_after_fork() in the child before using a GIL there.
 */
#ifndef PYCONC_GIL_H
#define PYCONC_GIL_H

#include "base.h"
#include <stdatomic.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pc_gil pc_gil;

/* PC_GIL_IO_PRIORITY: a thread returning from a blocking call gets the GIL
 * at the holder's next pc_gil_check() (bpo-7946's remedy). */
#define PC_GIL_IO_PRIORITY 1u

typedef struct pc_gil_opts {
    /* Seconds a waiter lets the holder run before asking it to drop the
     * GIL; 0 = 0.005 (CPython's default). */
    double switch_interval;
    /* > 0: count-based instead (Python 2's check_interval): while a thread
     * waits, the holder drops the GIL at its check_interval-th
     * pc_gil_check(). */
    long check_interval;
    unsigned flags;      /* PC_GIL_* */
    unsigned max_bypass; /* PC_GIL_IO_PRIORITY: 0 = 4 */
    /* more fields may be added; zero means the default */
} pc_gil_opts;

/*
 * Make a GIL, free.  opts may be NULL (defaults).  new: 0, -EINVAL (NULL g,
 * a negative or NaN interval, a negative check_interval, unknown flags),
 * -ENOMEM.  free: 0, or -EBUSY (and nothing is freed) while the GIL is
 * held, waited for or has threads attached; free(NULL) returns 0.
 * new is thread-safe; free only once nobody else uses the GIL.
 */
PC_EXTERN int pc_gil_new(pc_gil **g, const pc_gil_opts *opts);
PC_EXTERN int pc_gil_free(pc_gil *g);

/*
 * Take the GIL for the calling thread, waiting up to `timeout` seconds.
 * 0; -EDEADLK when the caller holds it already; -EAGAIN (timeout 0) or
 * -ETIMEDOUT when another thread kept it; -EINVAL (NULL, NaN).
 * Waiters are served in the order the file comment gives.  Thread-safe;
 * from a coroutine it blocks the whole thread.  Not async-signal-safe.
 */
PC_EXTERN int pc_gil_acquire(pc_gil *g, double timeout);

/*
 * Give the GIL up: handed at once to the first waiter, if any.  0; -EPERM
 * when the calling thread does not hold it (nothing changes); -EINVAL.
 * Thread-safe.
 */
PC_EXTERN int pc_gil_release(pc_gil *g);

/* Whether the calling thread holds `g` (false for NULL).  Thread-safe. */
PC_EXTERN bool pc_gil_held(const pc_gil *g);

/* Private (the layout pc_gil_check reads; the rest of pc_gil is opaque). */
#define PC__GIL_DROP_DEADLINE 8u /* only an ordinary waiter: count to a clock read */
struct pc__gil_head {
    _Atomic uint32_t drop_request; /* drop request bits (gil.c); 0: nobody waits */
    /* checks until the holder's next clock read, with PC__GIL_DROP_DEADLINE;
     * written by the holder only (relaxed: a misusing non-holder may
     * disturb the count, never the GIL) */
    _Atomic int32_t clock_left;
};
PC_EXTERN int pc__gil_check_slow(pc_gil *g);

/*
 * The eval breaker: call it often (every few microseconds of work) while
 * holding the GIL.  While nobody waits for the GIL it is one relaxed load
 * and returns 0 without checking that the caller holds it.  While a thread
 * waits it also counts down to a clock read, which comes every few tens
 * of microseconds (an adaptive count of checks).  When the caller must
 * drop the GIL (its turn lasted the switch interval, the check count
 * passed, or a prioritized thread came back from a blocking call), it
 * hands the GIL over and waits its turn to take it back: returns 1 once it
 * holds it again.  -EPERM when the caller does not hold the GIL and the
 * check came to its slow path (a drop or a clock read due).
 * Thread-safe.  Not async-signal-safe.
 */
static inline int pc_gil_check(pc_gil *g) {
    struct pc__gil_head *h = (struct pc__gil_head *)(void *)g;
    /* relaxed: only a hint; the slow path re-reads it (acquire) */
    uint32_t r = atomic_load_explicit(&h->drop_request, memory_order_relaxed);
    if (__builtin_expect(r == 0, 1))
        return 0;
    if (r == PC__GIL_DROP_DEADLINE) {
        /* a load and a store, not an RMW: only the holder counts */
        int32_t left = atomic_load_explicit(&h->clock_left, memory_order_relaxed) - 1;
        atomic_store_explicit(&h->clock_left, left, memory_order_relaxed);
        if (left > 0)
            return 0;
    }
    return pc__gil_check_slow(g);
}

/*
 * Hand the GIL to the first waiter now and queue to take it back (what a
 * granted drop request does).  1 when it switched, 0 when nobody waited
 * (the caller keeps it), -EPERM when the caller does not hold it.
 */
PC_EXTERN int pc_gil_yield(pc_gil *g);

/* The switch interval in seconds.  set: 0, or -EINVAL for NULL, <= 0 or
 * NaN; waiters use the new value from their next wait.  get: -1 for NULL.
 * Thread-safe. */
PC_EXTERN int pc_gil_set_switch_interval(pc_gil *g, double seconds);
PC_EXTERN double pc_gil_switch_interval(const pc_gil *g);

/*
 * Attach the calling thread to `g` (it need not hold it): from now on its
 * pyconc blocking calls release `g` while they block (see above), a loop
 * it runs included.  0; -EBUSY when attached to another GIL (detach
 * first); attaching again to the same GIL is 0.  detach: 0, or -EPERM when
 * not attached to `g`; it leaves the GIL held or not as it is.
 * pc_gil_attached(): the calling thread's GIL or NULL.  Thread-safe; the
 * attachment is per thread and not inherited by new threads or children.
 * A thread that waits for other GIL threads while holding the GIL (a join,
 * a lock they hold) must be attached, or it deadlocks as in C code that
 * forgets Py_BEGIN_ALLOW_THREADS.
 */
PC_EXTERN int pc_gil_attach(pc_gil *g);
PC_EXTERN int pc_gil_detach(pc_gil *g);
PC_EXTERN pc_gil *pc_gil_attached(void);

/*
 * Py_BEGIN_ALLOW_THREADS / Py_END_ALLOW_THREADS for the caller's own
 * blocking calls: pc_gil_save() releases the attached GIL if the caller
 * holds it and returns it (else NULL, and does nothing); pc_gil_restore()
 * takes back what save returned (NULL: does nothing, 0), with priority
 * under PC_GIL_IO_PRIORITY.  restore: 0, or pc_gil_acquire's codes.
 * Nest freely: an inner save finds the GIL released and returns NULL.
 */
PC_EXTERN pc_gil *pc_gil_save(void);
PC_EXTERN int pc_gil_restore(pc_gil *saved);

typedef struct pc_gil_stats {
    uint64_t acquisitions;      /* times taken, retakes after a switch included */
    uint64_t waits;             /* acquisitions that had to wait */
    uint64_t switches;          /* hand-offs to another thread */
    uint64_t forced_switches;   /* of those, drops a waiter asked for */
    uint64_t priority_handoffs; /* hand-offs to a prioritized (returning) thread */
    uint64_t blocking_releases; /* releases around blocking calls (pc_gil_save) */
    double wait_total;          /* seconds spent waiting for the GIL */
    double wait_max;            /* the longest single wait, seconds */
    unsigned waiting;           /* threads waiting now (per GIL only) */
} pc_gil_stats;

/*
 * Statistics of one GIL (all threads), or of the calling thread (all GILs
 * it took; `waiting` is 0).  A snapshot: the counters are read one by
 * one, not as a whole.  0, or -EINVAL for NULL.  Thread-safe.
 */
PC_EXTERN int pc_gil_get_stats(pc_gil *g, pc_gil_stats *out);
PC_EXTERN int pc_gil_thread_stats(pc_gil_stats *out);

/*
 * In a fork child, before the GIL is used there: forget the threads that
 * waited in the parent (they do not exist here); the GIL stays held if the
 * forking thread held it, else it is free.  Attachments of the forking
 * thread are kept.  0 or -EINVAL.  Not thread-safe: call it while the child
 * has one thread.
 */
PC_EXTERN int pc_gil_after_fork(pc_gil *g);

#ifdef __cplusplus
}
#endif

#endif /* PYCONC_GIL_H */
