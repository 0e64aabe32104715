/*
 * pyconc/future.h - concurrent.futures.Future and multiprocessing's AsyncResult.
 *
 *   Python                                   pyconc
 *   f = Future()                             pc_future_new(&f)
 *   f.set_running_or_notify_cancel()         pc_future_set_running(f)
 *   f.set_result(x)                          pc_future_set_result(f, bytes, len)  (bytes, copied)
 *                                            pc_future_set_value(f, ptr)          (a pointer)
 *   f.set_exception(e)                       pc_future_set_error(f, -EIO, "message")
 *   f.result(timeout)                        pc_future_result(f, &bytes, &len, timeout)
 *                                            pc_future_value(f, &ptr, timeout)
 *   f.exception() / AsyncResult.successful() pc_future_error(f) / pc_future_successful(f)
 *   f.cancel() / cancelled() / running()     pc_future_cancel / _cancelled / _running
 *   f.done() / AsyncResult.ready()           pc_future_done(f)
 *   f.add_done_callback(cb)                  pc_future_add_done_callback(f, cb, arg)
 *   concurrent.futures.wait(fs, t, mode)     pc_future_wait(fs, n, mode, done, t)
 *   concurrent.futures.as_completed(fs, t)   pc_future_as_completed_new / _next / _free
 *   loop.run_in_executor(None, fn, arg)      pc_loop_run_in_executor(loop, fn, arg, &f)
 *
 * States: PENDING -> RUNNING -> FINISHED, and PENDING -> CANCELLED.  A
 * future may also go from PENDING straight to FINISHED (set without
 * set_running).  FINISHED and CANCELLED are final; both are "done".
 *
 * The outcome.  A future finishes with one of:
 *   - bytes (pc_future_set_result): copied into the future, which owns
 *     them; what a process pool delivers, since bytes cross process
 *     boundaries and pointers don't (ARCHITECTURE.md, decision 4);
 *   - a pointer (pc_future_set_value): stored as is, for work done by a
 *     thread of this process; the future never looks at what it points to;
 *   - an error (pc_future_set_error): a negative code and an optional
 *     message, copied: a task that failed carries both to its caller.
 * Asking for bytes of a future that finished with a pointer, or the other
 * way round, is -ENOMSG (no result of the desired kind).
 *
 * Error codes of the waiting calls: the task's own negative code when it
 * failed; -ECANCELED when the future was cancelled, or when the waiting
 * coroutine was killed (pc_coro_kill); -ETIMEDOUT when the timeout passed
 * (0 included) with the future not done.  A task whose own code is
 * -ETIMEDOUT or -ECANCELED is told apart with pc_future_done() and
 * pc_future_error(), which never wait.
 *
 * Ownership.  A future is shared by its submitter, the worker that
 * completes it and its callbacks: pc_future_new gives one reference,
 * pc_future_retain adds one, pc_future_release drops one and the last
 * frees it.  Every caller of a pyconc future call must hold a reference
 * for the call's whole duration (a waiter too); the bytes, the message and
 * the pointers returned stay valid while the caller holds it.
 *
 * Every call is thread-safe and coroutine-safe: a coroutine that waits
 * parks only itself (ARCHITECTURE.md, decision 1), a thread blocks.  A
 * plain thread that waits blocks its loop too: do not wait, on a loop's
 * thread outside its coroutines, for a future that only that loop's
 * coroutines complete.
 *
 * Across fork(): a future is copied as it is.  A thread that waited on it
 * in the parent does not exist in the child; use a future in the child
 * only if no other thread touched it at the moment of the fork.  Work
 * queued on the default executor (pc_loop_run_in_executor) before a fork
 * never runs in the child: its futures never complete there.
 */
#ifndef PYCONC_FUTURE_H
#define PYCONC_FUTURE_H

#include "aio.h" /* the wait modes: PC_FIRST_COMPLETED, PC_FIRST_EXCEPTION, PC_ALL_COMPLETED */
#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pc_future pc_future;

typedef enum pc_future_state {
    PC_FUTURE_PENDING = 0,
    PC_FUTURE_RUNNING = 1,
    PC_FUTURE_FINISHED = 2,
    PC_FUTURE_CANCELLED = 3,
} pc_future_state;

/* A done callback: called once with the future and the argument given. */
typedef void (*pc_future_done_fn)(pc_future *f, void *arg);

/* A new PENDING future with one reference.  0, -EINVAL, -ENOMEM. */
PC_EXTERN int pc_future_new(pc_future **f);
/* Add a reference; returns f (NULL stays NULL). */
PC_EXTERN pc_future *pc_future_retain(pc_future *f);
/* Drop a reference; the last one frees the future and its outcome, and
 * drops the callbacks it never ran.  Releasing the last reference while
 * a caller waits on the future is a programmer error that aborts with a
 * message (the waiter must hold a reference).  NULL is harmless. */
PC_EXTERN void pc_future_release(pc_future *f);

/*
 * The worker takes the future: PENDING -> RUNNING, after which cancel
 * fails.  0; -ECANCELED when it was cancelled (skip the work: waiters
 * were told already); -EALREADY when it is running or finished already;
 * -EINVAL.
 */
PC_EXTERN int pc_future_set_running(pc_future *f);

/*
 * Finish with a copy of `len` bytes at `bytes` (NULL allowed when len is
 * 0).  The copy is followed by a NUL byte not counted in len, so a text
 * result reads as a C string.  Wakes every waiter, then runs the done
 * callbacks on the calling thread, in the order they were added.
 * 0; -EALREADY when finished already (a result is set once); -ECANCELED
 * when the future was cancelled (the result is dropped); -ENOMEM (the
 * future is then unchanged: set an error instead; a result of at most
 * 31 bytes is kept inside the future and never fails for memory);
 * -EINVAL.
 */
PC_EXTERN int pc_future_set_result(pc_future *f, const void *bytes, size_t len);
/* Finish with the pointer `value` (stored, never followed).  As
 * pc_future_set_result, without -ENOMEM. */
PC_EXTERN int pc_future_set_value(pc_future *f, void *value);
/*
 * Finish with the task's error `err` (negative) and a copy of `message`
 * (may be NULL).  Never fails for memory: when the message cannot be
 * copied, the future finishes without one.  0; -EALREADY; -ECANCELED;
 * -EINVAL (err >= 0, NULL f).
 */
PC_EXTERN int pc_future_set_error(pc_future *f, int err, const char *message);

/*
 * Cancel a PENDING future: it becomes CANCELLED, waiters wake with
 * -ECANCELED and the done callbacks run on the calling thread.  0 (also
 * when it was cancelled before, as Python returns True); -EBUSY when it
 * is running; -EALREADY when it finished; -EINVAL.
 */
PC_EXTERN int pc_future_cancel(pc_future *f);

/*
 * Wait up to `timeout` for the future, then give its bytes: 0 with
 * *bytes and *len (either may be NULL) pointing into the future; the
 * task's error code when it failed; -ECANCELED (cancelled, or the waiting
 * coroutine killed); -ETIMEDOUT; -ENOMSG when it finished with a pointer;
 * -EINVAL (NULL f, NaN timeout).
 */
PC_EXTERN int pc_future_result(pc_future *f, const void **bytes, size_t *len, double timeout);
/* As pc_future_result, for a future that finished with a pointer: 0 and
 * *value (may be NULL); -ENOMSG when it finished with bytes. */
PC_EXTERN int pc_future_value(pc_future *f, void **value, double timeout);

/* The state now, PC_FUTURE_*; PENDING for NULL.  Never waits. */
PC_EXTERN pc_future_state pc_future_get_state(const pc_future *f);
/* FINISHED or CANCELLED (AsyncResult.ready()). */
PC_EXTERN bool pc_future_done(const pc_future *f);
PC_EXTERN bool pc_future_running(const pc_future *f);
PC_EXTERN bool pc_future_cancelled(const pc_future *f);
/*
 * AsyncResult.successful(): 1 when finished with a result (bytes or
 * pointer), 0 when it failed or was cancelled; -EAGAIN when not done yet
 * (asking before it is ready is an error, as Python's ValueError);
 * -EINVAL for NULL.
 */
PC_EXTERN int pc_future_successful(const pc_future *f);
/* The outcome's code, never waiting: 0 (a result), the task's error,
 * -ECANCELED when cancelled; -EAGAIN while not done; -EINVAL for NULL. */
PC_EXTERN int pc_future_error(const pc_future *f);
/* The message given with the error, or NULL (no error, no message, not
 * done yet). */
PC_EXTERN const char *pc_future_error_message(const pc_future *f);

/*
 * Call cb(f, arg) once the future is done.  Callbacks added before it is
 * done run on the thread that completes it (set_result, set_value,
 * set_error or cancel), after the waiters are woken, in the order they
 * were added; added when it is done already, cb runs at once on the
 * calling thread.  Each runs exactly once; whatever one does (add more
 * callbacks, cancel other futures, release a reference it owned) the
 * others still run.  A callback must not wait for something only the
 * completing thread would do.  A future freed while pending drops its
 * callbacks unrun.  0; -ENOMEM (the callback will not run); -EINVAL.
 */
PC_EXTERN int pc_future_add_done_callback(pc_future *f, pc_future_done_fn cb, void *arg);

/*
 * concurrent.futures.wait: wait until `mode` holds for the `n` futures
 * (duplicates tolerated; n == 0 holds at once): PC_FIRST_COMPLETED (any
 * one done), PC_FIRST_EXCEPTION (any one finished with an error - a
 * cancellation is not one - or all done), PC_ALL_COMPLETED (all done).
 * done (may be NULL) gets done[i] = whether fs[i] was done when the call
 * returned, whatever it returns.  0 when the mode held; -ETIMEDOUT;
 * -ECANCELED when the waiting coroutine was killed; -EINVAL (NULL array
 * or element, n < 0, unknown mode, NaN); -ENOMEM.
 */
PC_EXTERN int pc_future_wait(pc_future *const *fs, int n, int mode, bool *done, double timeout);

/* as_completed: an iterator yielding futures in the order they are done. */
typedef struct pc_future_as_completed pc_future_as_completed;

/*
 * An iterator over `n` futures (a future given twice is yielded once)
 * with one overall timeout counted from now, as Python's.  Those done
 * already are yielded first, in argument order, then the others as they
 * get done.  The iterator holds a reference on each future until it is
 * freed.  0, -EINVAL, -ENOMEM.
 */
PC_EXTERN int pc_future_as_completed_new(pc_future_as_completed **it, pc_future *const *fs, int n,
                                         double timeout);
/*
 * The next done future in *f (borrowed: valid while the iterator lives).
 * 0; -ENOENT when every future was yielded; -ETIMEDOUT once the overall
 * timeout passed with futures left (later calls return it again unless
 * one got done meanwhile); -ECANCELED when the waiting coroutine was
 * killed; -EINVAL.  One caller at a time.
 */
PC_EXTERN int pc_future_as_completed_next(pc_future_as_completed *it, pc_future **f);
/* Free the iterator and its references.  NULL is harmless. */
PC_EXTERN void pc_future_as_completed_free(pc_future_as_completed *it);

/*
 * Shut the default executor down (the pool behind
 * pc_loop_run_in_executor, see pyconc/loop.h): work queued so far still
 * runs, then its threads end.  timeout 0 returns at once (Python's
 * wait=False); otherwise waits up to `timeout` for the threads to end.  A
 * later pc_loop_run_in_executor starts a fresh pool.  0; -ETIMEDOUT (the
 * threads end on their own later); -EINVAL (NaN).  Thread-safe.
 */
PC_EXTERN int pc_executor_shutdown(double timeout);

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_FUTURE_H */
