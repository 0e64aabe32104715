/*
 * The loop's fd registrations, as cooperative IO (src/io) uses them.
 * Implemented in src/loop/fdwait.c, whose design note states the
 * invariants; pyconc/loop.h and pyconc/io.h state the contract users see.
 *
 * Directions: `events` is EPOLLIN-side (EPOLLIN, EPOLLPRI, EPOLLRDHUP) or
 * EPOLLOUT, as poll(2) bits.
 */
#ifndef PC_INTERNAL_FDREG_H
#define PC_INTERNAL_FDREG_H

#include <stdbool.h>
#include <stdint.h>

/* pc__fd_made kinds */
enum { PC__FD_OTHER = 0, PC__FD_STREAM = 1 };

/* pc_io made fd (socket, accept, pipe): forget whatever any loop knew of
 * an earlier file with its number.  `kind`: PC__FD_STREAM when a short
 * transfer proves the buffer drained (stream sockets, pipes).  Any thread. */
void pc__fd_made(int fd, int kind);
/* The kind pc__fd_made recorded for a pc_io fd that is still open, else
 * -1 (an fd made elsewhere). */
int pc__fd_kind(int fd);
/* pc_io_close is about to close fd: every loop forgets its registration;
 * coroutines of the calling thread's loop that wait on it get -EBADF.
 * Any thread. */
void pc__fd_closing(int fd);

/* The caller just saw `events` not ready on fd (EAGAIN, EINPROGRESS): wait
 * until it may be, or until the absolute deadline.  A coroutine parks (on
 * a registration it trusts, without a system call); a thread polls.  The
 * readiness bits that fired, -ETIMEDOUT, -ECANCELED, -EBADF (closed by
 * pc_io_close meanwhile), -EBUSY (another coroutine waits in that
 * direction), -ENOMEM, or epoll_ctl's error. */
int pc__fd_wait_io(int fd, int events, int64_t deadline);
/* True when the calling coroutine's loop knows that fd is not ready for
 * `events` (it saw it drained and no event came since): the caller waits
 * before it tries the system call.  False in a thread. */
bool pc__fd_known_idle(int fd, int events);
/* A transfer on fd moved less than asked: on a stream made by pc_io the
 * buffer is drained (epoll(7)), so the direction counts as not ready. */
void pc__fd_short(int fd, int events);

#endif
