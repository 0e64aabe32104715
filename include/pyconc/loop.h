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
