/*
 * pyconc/aio.h - asyncio's combinators over coroutines (pyconc/coro.h).
 *
 *   Python                                   pyconc
 *   await asyncio.gather(*cs)                pc_aio_gather(cs, n, values, timeout)
 *   await asyncio.wait(cs, return_when=...)  pc_aio_wait(cs, n, mode, done, timeout)
 *   await asyncio.wait_for(c, timeout)       pc_aio_wait_for(c, &value, timeout)
 *   for c in asyncio.as_completed(cs, ...)   pc_as_completed_new / _next / _free
 *   async with asyncio.timeout(s)            pc_timeout_scope_enter / _exit
 *   gevent.Timeout(s)                        (the same)
 *   async with asyncio.TaskGroup() as g      pc_taskgroup_new / _spawn / _wait / _free
 *
 * Every waiting call here parks when called from a coroutine.  From a
 * plain thread: when a coroutine it waits for lives on the calling
 * thread's own loop, the call runs the loop until it is done (as
 * pc_coro_join does; -EDEADLK from a loop callback, where the loop runs
 * already); otherwise it blocks the thread while the other loops run.
 * Cancellation (pc_coro_kill of the caller) reaches these waits as
 * -ECANCELED, with the effects each call documents.
 *
 * Objects made here (iterators, groups, scopes) belong to their creator;
 * none may be used across fork().
 */
#ifndef PYCONC_AIO_H
#define PYCONC_AIO_H

#include "base.h"
#include "coro.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Wait for all `n` coroutines (duplicates tolerated), then store each
 * one's value in values[i] in argument order (NULL for one that failed;
 * values may be NULL).  Returns 0 when all succeeded, else the error of
 * the first failed coroutine in argument order (not in time order);
 * -ETIMEDOUT when the timeout passed first (the coroutines run on; values
 * holds those that finished); -ECANCELED when the caller was killed
 * meanwhile: then every unfinished coroutine is killed too (cancelling the
 * gather cancels the unfinished), without waiting for them; -EINVAL (NULL
 * array or element, n < 0, NaN timeout); -EDEADLK (see the top).
 * Thread-safe.
 */
PC_EXTERN int pc_aio_gather(pc_coro *const *cs, int n, void **values, double timeout);

enum pc_aio_wait_mode {
    PC_FIRST_COMPLETED = 1, /* any one finished */
    PC_FIRST_EXCEPTION = 2, /* any one failed (an error other than -ECANCELED), or all finished */
    PC_ALL_COMPLETED = 3,   /* all finished */
};

/*
 * Wait until `mode` holds for the `n` coroutines (duplicates tolerated;
 * n == 0 holds at once).  done (may be NULL) gets done[i] = whether cs[i]
 * had finished when the call returned, whatever it returns.  0 when the
 * mode held; -ETIMEDOUT; -ECANCELED when the caller was killed (the
 * coroutines run on, as asyncio.wait leaves them); -EINVAL (bad array,
 * mode, n < 0, NaN); -ENOMEM; -EDEADLK.  Never kills.  Thread-safe.
 */
PC_EXTERN int pc_aio_wait(pc_coro *const *cs, int n, int mode, bool *done, double timeout);

/*
 * Wait for `c` within the timeout; when it passes, kill `c` and wait
 * (without limit) until it has finished unwinding.  A result produced
 * during the cancellation wins: if `c` ends with 0 anyway, that is
 * returned with its value.  Returns 0 (value, when not NULL, gets its
 * value); c's own error when it failed (an error other than the kill's
 * -ECANCELED, also during the unwinding); -ETIMEDOUT when the timeout
 * killed it; -ECANCELED when the caller was killed: `c` is killed and
 * waited for, as asyncio does; -EINVAL; -EDEADLK (joining oneself, or see
 * the top).  Thread-safe.
 */
PC_EXTERN int pc_aio_wait_for(pc_coro *c, void **value, double timeout);

/* as_completed: an iterator yielding coroutines in the order they finish. */
typedef struct pc_as_completed pc_as_completed;

/*
 * Make an iterator over `n` coroutines (duplicates are yielded once) with
 * one overall timeout, counted from now.  Those finished already are
 * yielded first, in argument order.  The iterator holds a reference on
 * each coroutine until it is freed.  0, -EINVAL, -ENOMEM.  Loop thread of
 * the coroutines or any other thread.
 */
PC_EXTERN int pc_as_completed_new(pc_as_completed **it, pc_coro *const *cs, int n, double timeout);
/*
 * The next finished coroutine in *c (a borrowed pointer).  0; -ENOENT
 * when every coroutine was yielded; -ETIMEDOUT once the overall timeout
 * passed (asyncio raises TimeoutError: later calls keep returning it
 * unless a coroutine finished meanwhile); -ECANCELED when the caller was
 * killed; -EINVAL; -EDEADLK.  One caller at a time.
 */
PC_EXTERN int pc_as_completed_next(pc_as_completed *it, pc_coro **c);
/* Free the iterator (the coroutines run on).  NULL is harmless. */
PC_EXTERN void pc_as_completed_free(pc_as_completed *it);

/*
 * A timeout scope: asyncio.timeout / gevent.Timeout.  Between enter and
 * exit, in one coroutine, the first blocking call that is still blocked
 * (or begins) after the deadline returns -ECANCELED (the scope kills the
 * coroutine at the deadline); exit turns that cancellation into
 * -ETIMEDOUT and consumes it if it was not delivered yet.  Scopes nest.
 */
typedef struct pc_timeout_scope {
    struct pc__tscope *impl; /* private */
} pc_timeout_scope;

/*
 * Enter a scope of `seconds` (negative: no deadline; 0: expires at the
 * next blocking point).  Must be exited, by the same coroutine, before it
 * returns.  0; -EINVAL (NULL, NaN); -EPERM outside a coroutine (only a
 * coroutine can be cancelled); -ENOMEM.
 */
PC_EXTERN int pc_timeout_scope_enter(pc_timeout_scope *s, double seconds);
/*
 * Leave the scope.  0 when it did not expire; -ETIMEDOUT when it expired
 * (its cancellation is consumed, delivered or not); -ECANCELED when it
 * expired but the coroutine was also killed by someone else meanwhile
 * (that cancellation is not swallowed: it stays pending if undelivered);
 * -EINVAL (NULL or not entered); -EPERM from another coroutine than the
 * one that entered (the scope stays entered).
 */
PC_EXTERN int pc_timeout_scope_exit(pc_timeout_scope *s);

/* A task group: asyncio.TaskGroup.  Belongs to the loop of the thread
 * that made it; used on that thread only. */
typedef struct pc_taskgroup pc_taskgroup;

/* 0, -EINVAL, -ENOMEM. */
PC_EXTERN int pc_taskgroup_new(pc_taskgroup **g);
/*
 * Spawn fn(arg) into the group (pc_coro_spawn's opts; c may be NULL, else
 * it gets a new reference to free).  A child that fails (an error other
 * than -ECANCELED) kills its siblings; the group remembers the first such
 * error.  0; -ECANCELED when the group failed already (nothing spawned);
 * -EINVAL; -ENOMEM; -EPERM off the loop's thread.
 */
PC_EXTERN int pc_taskgroup_spawn(pc_taskgroup *g, pc_coro **c, pc_coro_fn fn, void *arg,
                                 const pc_coro_opts *opts);
/*
 * Wait until every child finished.  0, or the first failed child's error;
 * -ETIMEDOUT (the children run on; wait again later); -ECANCELED when the
 * caller was killed: every child is killed and waited for first; -EINVAL;
 * -EPERM off the loop's thread; -EDEADLK (see the top).
 */
PC_EXTERN int pc_taskgroup_wait(pc_taskgroup *g, double timeout);
/* Kill the unfinished children and drop the group.  NULL is harmless. */
PC_EXTERN void pc_taskgroup_free(pc_taskgroup *g);

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_AIO_H */
