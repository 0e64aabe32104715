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
 *   loop.add_signal_handler(sig, cb, arg)    pc_loop_add_signal_handler(loop, sig, cb, arg)
 *   loop.remove_signal_handler(sig)          pc_loop_remove_signal_handler(loop, sig)
 *   gevent's monitor thread,                 pc_loop_set_watchdog(loop, threshold, fn, arg)
 *     max_blocking_time                        or PYCONC_WATCHDOG=<seconds>
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
/* Free the calling thread's loop, removing its signal handlers and its
 * watchdog; -EBUSY while coroutines live on it. */
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
 * Run cb(arg) on the loop's thread, at its next turn, when signal `signum`
 * arrives (asyncio's loop.add_signal_handler).  cb is an ordinary callback,
 * not a signal handler: it may spawn coroutines, set events, stop the
 * loop, add or remove signal handlers.  A signal that arrives several times
 * before the loop's turn may run cb once (deliveries coalesce, as the
 * kernel's own standard signals do); one that arrives after cb started
 * runs it again.  The signal may be sent to the process or to any thread
 * (kill, raise, pthread_kill): the handler is installed process-wide with
 * sigaction (SA_RESTART) and wakes every loop that handles the signal.
 * While a loop has a signal handler, pc_loop_run does not return for lack
 * of work nor report -EDEADLK: a signal can still wake it, as a waited fd
 * can (asyncio's run_forever keeps running too); cb ends it with
 * pc_loop_stop, or by removing the last handler.
 * Adding a handler for a signal this loop handles already replaces it.
 * The previous disposition is saved when the first loop takes the signal
 * and restored when the last one lets it go; changing the disposition
 * meanwhile with sigaction(2) is the caller's own business.
 * At most 64 loops handle signals at the same time.
 *
 * 0; -EINVAL: l or cb NULL, signum outside 1..64, SIGKILL, SIGSTOP, a
 * fault signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL: the faulting instruction
 * would run again before any turn), or one the C library keeps for itself;
 * -EPERM: not the loop's thread; -ENOMEM: no memory, or 64 loops handle
 * signals already; -EMFILE/-ENFILE: no descriptor for the loop's wake-up.
 * Loop thread only; coroutine-safe; not async-signal-safe.  Closing the
 * loop (pc_loop_close) or the end of its thread removes its handlers.
 * Across fork: the child inherits the dispositions; the loops of threads
 * other than the forking one lose their handlers there (restoring the
 * previous disposition of each signal no loop is left to handle); the
 * forking thread's loop keeps them, with the caveat of the whole loop
 * (docs/loop.md).
 */
PC_EXTERN int pc_loop_add_signal_handler(pc_loop *l, int signum, pc_callback cb, void *arg);
/*
 * Remove the loop's handler of `signum`; a delivery not yet run is
 * dropped with it.  When no loop handles the signal any more, its previous
 * disposition (from before the first pc_loop_add_signal_handler) is
 * restored.  0; -ENOENT: no handler; -EINVAL: l NULL or signum outside
 * 1..64; -EPERM: not the loop's thread.  Loop thread only (a handler may
 * remove itself); coroutine-safe.
 */
PC_EXTERN int pc_loop_remove_signal_handler(pc_loop *l, int signum);

/*
 * A watchdog's report: the loop `l` ran coroutine `coro_name` (NULL: a
 * callback or the loop's own work) for `blocked_s` seconds without
 * turning.  It runs on pyconc's monitor thread, not the loop's: it must be
 * thread-safe and short, and must neither call pc_loop_set_watchdog
 * (-EDEADLK) nor fork (it runs under the watchdog's lock).  `l` is valid during the call; use it to
 * tell loops apart, not to drive one (it belongs to its own thread).
 */
typedef void (*pc_watchdog_fn)(pc_loop *l, const char *coro_name, double blocked_s, void *arg);

/*
 * Watch the loop for a coroutine or callback that keeps it from turning
 * for `threshold` seconds or more (gevent's monitor thread and
 * max_blocking_time): report(l, name, blocked_s, arg) is called once per
 * blocking episode, between 1 and 1.25 thresholds into it, with the time
 * seen blocked so far (>= threshold).  A loop asleep in epoll, or not
 * inside pc_loop_run/_until, is never blocked.  NULL report: a line on
 * stderr, "pyconc: loop of thread NAME blocked for 0.25 s in coroutine
 * 'Coro-7'" (NAME: the thread's OS name, which pyconc threads share).
 * threshold 0: the default, 0.1 s; threshold < 0 (PC_FOREVER): off.
 * Calling it again changes the threshold and report.  Off by default; the
 * environment variable PYCONC_WATCHDOG=<seconds> (read once) turns it on
 * with the default report for every loop as it is made.
 * The loop's own cost is two plain stores per hand-over, no clock read: one
 * process-wide monitor thread, started on first use and ended when no loop
 * is watched, samples the loops; it is not a pyconc thread (not counted by
 * pc_thread_active_count) and blocks every signal.
 *
 * 0; -EINVAL: l NULL, threshold NaN; -EPERM: not the loop's thread;
 * -ENOMEM; -EAGAIN: the monitor thread could not start; -EDEADLK: called
 * from a report.  Loop thread only; coroutine-safe.  Closing the loop or
 * the end of its thread turns it off.  Across fork: off in the child for
 * every loop (the monitor thread is gone); turn it on again there.
 */
PC_EXTERN int pc_loop_set_watchdog(pc_loop *l, double threshold, pc_watchdog_fn report, void *arg);

/*
 * Park the calling coroutine until fd is ready for `events` (EPOLLIN,
 * EPOLLPRI, EPOLLRDHUP, EPOLLOUT: poll(2) bits) or the timeout: the
 * readiness bits that fired (with EPOLLERR / EPOLLHUP), -ETIMEDOUT,
 * -ECANCELED, -EBADF (pc_io_close closed fd meanwhile), -EBUSY (another
 * coroutine of this loop waits on fd in the same direction; a reader and
 * a writer may share an fd), -EPERM (fd cannot be polled: a regular
 * file), -EINVAL, -ENOMEM.  Level-triggered: it returns at once while fd
 * is ready, whether or not the caller read anything since the last call.
 * From a plain thread it polls the fd with poll(2).
 *
 * The loop keeps fd registered across waits (pyconc/io.h, "The fd
 * contract"); this call re-arms that registration each time (one
 * epoll_ctl), so it is correct for any fd however it was opened and
 * closed.  The pc_io calls use a faster internal path after EAGAIN.
 * Coroutine-safe; thread-safe (threads poll).  After fork(), see
 * pyconc/io.h.
 */
PC_EXTERN int pc_wait_fd(int fd, int events, double timeout);

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_LOOP_H */
