/*
 * pyconc/coro.h - coroutines: gevent's greenlets and asyncio's tasks.
 *
 *   Python                                   pyconc
 *   g = gevent.spawn(f, x)                   pc_coro_spawn(&g, f, x, NULL)
 *   asyncio.create_task(f(x))                pc_coro_spawn(&g, f, x, NULL)
 *   g.join(timeout) / await task             pc_coro_join(g, timeout)
 *   gevent.joinall([...], timeout)           pc_coro_joinall(gs, n, timeout)
 *   g.kill() / task.cancel()                 pc_coro_kill(g)
 *   gevent.sleep(s) / await asyncio.sleep(s) pc_coro_sleep(s)
 *   gevent.sleep(0)                          pc_coro_yield()
 *   gevent.getcurrent()                      pc_coro_current()
 *   g.value / g.exception                    pc_coro_value(g) / pc_coro_error(g)
 *   g.started / g.ready() / g.successful()   pc_coro_started / pc_coro_ready / pc_coro_successful
 *   g.link(cb)                               pc_coro_link(g, cb, arg)
 *
 * A coroutine is a function with a stack of its own that runs on the
 * calling thread's loop (pyconc/loop.h) and switches only where it blocks.
 * Every blocking pyconc call made in a coroutine - a lock, a queue, an
 * event, a thread join, a sleep, socket IO - parks only that coroutine;
 * its thread goes on running the others.  Wakers on any thread wake it.
 *
 * The body returns 0 with a value, or a negative error code:
 *
 *     static int fetch(void *arg, void **value) { ...; *value = page; return 0; }
 *
 * Cancellation (pc_coro_kill) is delivered at the coroutine's next
 * blocking point, which then returns -ECANCELED; a coroutine killed before
 * it ran never runs its body.
 *
 * Coroutines belong to the thread that spawned them; their objects may be
 * read, joined and killed from any thread.  Across fork(): the child
 * keeps only the forking thread's loop and coroutines.
 */
#ifndef PYCONC_CORO_H
#define PYCONC_CORO_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pc_coro pc_coro;
typedef struct pc_loop pc_loop;

/* A coroutine body: 0 and a value in *value, or a negative error code. */
typedef int (*pc_coro_fn)(void *arg, void **value);

typedef struct pc_coro_opts {
    const char *name;  /* NULL: "Coro-N" */
    size_t stack_size; /* usable bytes; 0: 256 KiB, mapped lazily */
    bool start_later;  /* true: wait for pc_coro_start (gevent's Greenlet()) */
    pc_loop *loop;     /* NULL: the calling thread's loop */
    /* more fields may be added */
} pc_coro_opts;

/*
 * Make a coroutine that will run fn(arg) on its loop, scheduled to start
 * at the loop's next turn (unless start_later).  The caller holds one
 * reference: release it with pc_coro_free (the coroutine runs on).
 * 0, -EINVAL, -ENOMEM.
 */
PC_EXTERN int pc_coro_spawn(pc_coro **c, pc_coro_fn fn, void *arg, const pc_coro_opts *opts);
/* Schedule a start_later coroutine.  0, -EALREADY. */
PC_EXTERN int pc_coro_start(pc_coro *c);
/* Drop the caller's reference. */
PC_EXTERN void pc_coro_free(pc_coro *c);

/*
 * Wait until the coroutine finished (its body returned or it was killed).
 * 0; -ETIMEDOUT; -EDEADLK when a coroutine joins itself.  From a plain
 * thread it blocks the thread (and, on the coroutine's own thread, runs
 * the loop until done); from a coroutine it parks.  Returns the join's
 * status, not the coroutine's: see pc_coro_error.
 */
PC_EXTERN int pc_coro_join(pc_coro *c, double timeout);
/* Join all `n` (duplicates tolerated) within one timeout.  0, -ETIMEDOUT. */
PC_EXTERN int pc_coro_joinall(pc_coro *const *cs, int n, double timeout);
/* Cancel: -ECANCELED at its next blocking point; harmless when finished
 * or killed already.  0, -EINVAL. */
PC_EXTERN int pc_coro_kill(pc_coro *c);

/* Park the calling coroutine for `seconds` (0: let the others run).  From
 * a plain thread: pc_sleep.  0, -ECANCELED, -EINVAL (NaN). */
PC_EXTERN int pc_coro_sleep(double seconds);
PC_EXTERN int pc_coro_yield(void);
/* The running coroutine, or NULL in a plain thread. */
PC_EXTERN pc_coro *pc_coro_current(void);

PC_EXTERN const char *pc_coro_name(const pc_coro *c);
PC_EXTERN bool pc_coro_started(const pc_coro *c);
/* Finished: returned, failed or killed. */
PC_EXTERN bool pc_coro_ready(const pc_coro *c);
/* Finished with 0. */
PC_EXTERN bool pc_coro_successful(const pc_coro *c);
/* The body's value once it returned 0 (NULL before). */
PC_EXTERN void *pc_coro_value(const pc_coro *c);
/* The body's error once finished: 0, its negative code, or -ECANCELED
 * when killed; -EAGAIN while not finished. */
PC_EXTERN int pc_coro_error(const pc_coro *c);

/* Call cb(c, arg) on the coroutine's loop once it finishes (at once, at
 * the next turn, if it already has); callbacks run in the order added.
 * 0, -EINVAL, -ENOMEM. */
PC_EXTERN int pc_coro_link(pc_coro *c, void (*cb)(pc_coro *c, void *arg), void *arg);

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_CORO_H */
