/*
 * pyconc/loop.h - the event loop: asyncio's loop, gevent's hub.
 *
 *   Python                                   pyconc
 *   asyncio.get_event_loop()                 pc_loop_current()
 *   loop.run_until_complete(task)            pc_loop_run_until(loop, coro, timeout)
 *   loop.run_forever() / loop.stop()         pc_loop_run(loop) / pc_loop_stop(loop)
 *   loop.call_soon(cb, arg)                  pc_loop_call_soon(loop, cb, arg)
 *   loop.call_later(delay, cb, arg)          pc_loop_call_later(loop, delay, cb, arg)
 *   loop.call_soon_threadsafe(cb, arg)       pc_loop_call_soon_threadsafe(loop, cb, arg)
 *   gevent.hub.LoopExit                      -EDEADLK from pc_loop_run
 *   loop.run_in_executor(None, fn, arg)      pc_loop_run_in_executor(loop, fn, arg, &f)
 *
 * One loop per thread, made on first use.  A loop runs callbacks, timers,
 * fd readiness and coroutines; it sleeps in epoll when nothing is ready.
 * Only its own thread runs it; call_soon_threadsafe is the one entry that
 * other threads (and signal-safe code) may use, and it wakes the loop.
 */
#ifndef PYCONC_LOOP_H
#define PYCONC_LOOP_H

#include "base.h"
#include "coro.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*pc_callback)(void *arg);
typedef struct pc_future pc_future; /* pyconc/future.h */

/* The calling thread's loop, made on first use; NULL only when memory ran
 * out. */
PC_EXTERN pc_loop *pc_loop_current(void);
/* Free the calling thread's loop; -EBUSY while coroutines live on it. */
PC_EXTERN int pc_loop_close(void);

/*
 * Run until nothing is left (no ready coroutine, callback, timer or
 * waited fd) or pc_loop_stop.  0; -EDEADLK when coroutines remain but all
 * wait with nothing that could wake them: no timer, no fd, and no other
 * pyconc thread alive (gevent's LoopExit; a thread not made by pyconc that
 * wakes coroutines makes itself known by calling pc_thread_current()
 * once); -EPERM from another thread than the loop's, or when the loop is
 * running already (from a coroutine or a callback).
 */
PC_EXTERN int pc_loop_run(pc_loop *l);
/* Run until `c` finishes or the timeout passes: 0, -ETIMEDOUT, -EDEADLK,
 * -EPERM. */
PC_EXTERN int pc_loop_run_until(pc_loop *l, pc_coro *c, double timeout);
/* Make pc_loop_run return after the current turn.  Thread-safe. */
PC_EXTERN int pc_loop_stop(pc_loop *l);

/* Run cb(arg) at the next turn, on the loop's thread.  Loop thread only.
 * 0, -EINVAL, -ENOMEM. */
PC_EXTERN int pc_loop_call_soon(pc_loop *l, pc_callback cb, void *arg);
/* Run cb(arg) after `delay` seconds.  Loop thread only. */
PC_EXTERN int pc_loop_call_later(pc_loop *l, double delay, pc_callback cb, void *arg);
/* call_soon from any thread; wakes the loop.  0, -EINVAL, -ENOMEM. */
PC_EXTERN int pc_loop_call_soon_threadsafe(pc_loop *l, pc_callback cb, void *arg);

/*
 * Run fn(arg, &value) on the default executor, a pool of pyconc threads,
 * for work that cannot be made non-blocking (file IO, DNS lookups).  *out
 * gets a future (one reference, the caller's: pc_future_release it) that
 * finishes with the pointer `value` when fn returns 0 (pc_future_value),
 * or with fn's negative return code as its error (a positive one becomes
 * -EINVAL).  A coroutine waiting on it with pc_future_value parks only
 * itself.  Cancelling the future before a thread took it skips fn.
 *
 * The pool is one per process (`l` is accepted for asyncio's shape and
 * may be NULL), made on first use: up to min(32, cpus + 4) daemon threads,
 * started as work arrives, idle ones reused; pc_executor_shutdown ends it.
 * Idle executor threads do not keep a loop from reporting -EDEADLK
 * (LoopExit): they cannot wake anyone; busy ones do.  In a fork child the
 * pool starts afresh; work queued before the fork never runs there.
 * 0; -EINVAL (NULL fn or out); -ENOMEM; -EAGAIN (no thread could be
 * started and none is running); -EPIPE (raced with pc_executor_shutdown).
 * Thread-safe, coroutine-safe.
 */
PC_EXTERN int pc_loop_run_in_executor(pc_loop *l, pc_coro_fn fn, void *arg, pc_future **out);

/*
 * Park the calling coroutine until fd is ready for `events` (EPOLLIN,
 * EPOLLOUT: poll(2) bits) or the timeout: the readiness bits that fired,
 * -ETIMEDOUT, -ECANCELED.  From a plain thread it polls the fd with
 * poll(2).  The primitive under cooperative IO (pyconc/io.h).
 */
PC_EXTERN int pc_wait_fd(int fd, int events, double timeout);

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_LOOP_H */
