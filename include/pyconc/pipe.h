/*
 * pyconc/pipe.h - multiprocessing's Pipe and Connection: message pipes
 * between processes, threads and coroutines.
 *
 *   Python                                   pyconc
 *   a, b = multiprocessing.Pipe()            pc_pipe(&a, &b, true)
 *   r, w = multiprocessing.Pipe(False)       pc_pipe(&r, &w, false)
 *   conn.send_bytes(buf)                     pc_conn_send(conn, buf, len, timeout)
 *   conn.recv_bytes_into(buf)                pc_conn_recv(conn, buf, cap, &len, timeout)
 *   conn.recv_bytes()                        pc_conn_recv_alloc(conn, &buf, &len, timeout)
 *   conn.poll(timeout)                       pc_conn_poll(conn, timeout)
 *   conn.fileno()                            pc_conn_fileno(conn)
 *   conn.close()                             pc_conn_close(conn) (pc_conn_free frees)
 *   EOFError                                 -EPIPE from a receive
 *
 * A connection carries byte messages with their boundaries: every send is
 * one message, zero-length ones included, and a receive returns exactly one
 * message.  Messages may be of any size (64-bit length; tested up to 1 GiB).
 * Bytes cross processes, pointers don't: send plain data.
 *
 * Underneath is a unix SOCK_STREAM socket pair, non-blocking and
 * close-on-exec; a one-way pipe is the same pair shut down one way (a
 * socket sends with MSG_NOSIGNAL, so a reader that went away is -EPIPE,
 * never a SIGPIPE).  Each message is an 8-byte length followed by its
 * bytes.  The connection never reads ahead past the message it is
 * receiving, so its fd can be handed to another process between messages.
 *
 * Waiting: every blocking call takes a timeout (seconds; PC_FOREVER; 0
 * tries once) as its last argument.  A coroutine parks only itself while it
 * waits (for the fd, or for another sender or receiver of the same
 * connection); a thread polls.  Signals never make a call fail (EINTR is
 * retried against the same deadline).
 *
 * Concurrency: sends on one connection are serialized by a send lock and
 * receives by a receive lock, so the bytes of two messages never mix;
 * a sender and a receiver run in parallel.  Every call is thread-safe and
 * coroutine-safe, except pc_conn_close/pc_conn_free (not while another call
 * on the same connection runs: -EBUSY) and none is async-signal-safe.
 *
 * Across fork(): the child gets a copy of every connection, fd included,
 * and can use it at once (its locks are reset in the child by an atfork
 * handler).  As in Python, end of stream arrives only once every copy of
 * the peer's end is closed: after a fork each process closes the ends it
 * does not use.  Across exec: pass pc_conn_fileno() to the new image (the
 * fd is O_CLOEXEC: dup2 it onto a chosen number, which clears the flag, e.g.
 * with posix_spawn_file_actions_adddup2) and rebuild the connection there
 * with pc_conn_from_fd().
 */
#ifndef PYCONC_PIPE_H
#define PYCONC_PIPE_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pc_conn pc_conn;

/* Directions of a connection (pc_conn_from_fd, pc_conn_flags). */
#define PC_CONN_READ 1u
#define PC_CONN_WRITE 2u
#define PC_CONN_DUPLEX (PC_CONN_READ | PC_CONN_WRITE)

/*
 * Python's Pipe(duplex): two connected ends.  duplex: both ends send and
 * receive.  One-way: *a only receives and *b only sends (Python's
 * `r, w = Pipe(False)`).  0; -EINVAL (a NULL pointer); -EMFILE / -ENFILE
 * (out of file descriptors); -ENOMEM.  On failure nothing is left open or
 * allocated and *a, *b are untouched.  Thread-safe.
 */
PC_EXTERN int pc_pipe(pc_conn **a, pc_conn **b, bool duplex);

/*
 * Make a connection of an fd that is one end of a pyconc pipe, typically
 * in a process started with exec that inherited it.  The connection owns
 * the fd from then on (closes it); the fd is made non-blocking and
 * close-on-exec.  flags: PC_CONN_READ, PC_CONN_WRITE or both (the
 * directions the end was made for).  0; -EINVAL (NULL c, no direction,
 * unknown flags, or fd not a stream socket: the fd stays the caller's);
 * -EBADF (not an open fd); -ENOMEM.  Thread-safe.
 */
PC_EXTERN int pc_conn_from_fd(pc_conn **c, int fd, unsigned flags);

/* The connection's fd (for poll(2)/epoll or to hand it to another process),
 * or -EBADF once closed, -EINVAL for NULL.  The connection still owns it. */
PC_EXTERN int pc_conn_fileno(const pc_conn *c);
/* Its directions (PC_CONN_READ | PC_CONN_WRITE); 0 for NULL. */
PC_EXTERN unsigned pc_conn_flags(const pc_conn *c);

/*
 * Send one message of `len` bytes (len 0 is a message).  Returns 0 once the
 * whole message is committed: written, or - see below - its rest held by
 * the connection.  Errors:
 *   -ETIMEDOUT  the timeout passed before the first byte went out: nothing
 *               of the message was sent (safe to retry); also when another
 *               sender held the connection for the whole timeout;
 *   -EPIPE      no reader is left (every copy of the peer's end is closed);
 *   -EPERM      the connection is the read end of a one-way pipe;
 *   -EBADF      the connection was closed;
 *   -ECANCELED  the calling coroutine was killed (nothing sent, or the
 *               message had started and its rest is committed as below);
 *   -ENOMEM     its rest could not be held (below); the connection is shut
 *               down for sending: the peer sees a truncated message;
 *   -EINVAL     NULL c, NULL buf with len > 0, NaN timeout.
 * A timeout in the middle of a message (a big message, a full pipe) never
 * cuts it: once the first byte is in the pipe, the unsent rest is copied
 * into the connection and the call returns 0.  That rest goes out before
 * anything else, on the next pc_conn_send or pc_conn_flush; a send that
 * cannot finish it in its own timeout fails with -ETIMEDOUT, its own
 * message unsent.  pc_conn_close drops an unsent rest (the peer then sees a
 * truncated message): flush first.
 * Thread-safe and coroutine-safe (a send lock keeps whole messages apart).
 */
PC_EXTERN int pc_conn_send(pc_conn *c, const void *buf, size_t len, double timeout);

/*
 * Write out the rest of a message that an earlier send committed (above).
 * 0 when nothing is left; -ETIMEDOUT, -EPIPE, -EBADF, -EPERM, -ECANCELED,
 * -EINVAL as for pc_conn_send.  Thread-safe, coroutine-safe.
 */
PC_EXTERN int pc_conn_flush(pc_conn *c, double timeout);

/*
 * Receive one message into buf (cap bytes).  0 and *len = its size; or:
 *   -EMSGSIZE   the message is bigger than cap; *len = its size.  The
 *               message stays: receive it again with a buffer that big
 *               (cap 0 and buf NULL ask for the size of the next message);
 *   -EPIPE      end of stream: every copy of the peer's end is closed and
 *               every message was received (Python's EOFError); sticky;
 *   -ECONNRESET the peer went away in the middle of a message (killed
 *               while writing it): the partial message is dropped, nothing
 *               of it is delivered; the next receive reports -EPIPE;
 *   -ETIMEDOUT  no whole message within the timeout.  Nothing is lost: the
 *               part of a message that did arrive is kept by the
 *               connection and the next receive goes on with it;
 *   -EPERM      the connection is the write end of a one-way pipe;
 *   -EBADF      closed;  -ECANCELED  the calling coroutine was killed
 *               (as -ETIMEDOUT, nothing is lost);
 *   -ENOMEM     a partial message could not be kept at a timeout; the
 *               connection is then at end of stream (-EPIPE after);
 *   -EINVAL     NULL c or len, NULL buf with cap > 0, NaN timeout.
 * Thread-safe and coroutine-safe (a receive lock: one message per caller).
 */
PC_EXTERN int pc_conn_recv(pc_conn *c, void *buf, size_t cap, size_t *len, double timeout);

/*
 * Receive one message into a buffer the call allocates (never NULL, even
 * for a zero-length message); free it with pc_conn_buf_free.  0, *buf and
 * *len set; the errors of pc_conn_recv except -EMSGSIZE; -ENOMEM when the
 * buffer cannot be had (the message stays).
 */
PC_EXTERN int pc_conn_recv_alloc(pc_conn *c, void **buf, size_t *len, double timeout);
/* Free a buffer of pc_conn_recv_alloc (NULL is a no-op). */
PC_EXTERN void pc_conn_buf_free(void *buf);

/*
 * Whether there is something to receive: 1 when bytes of a message or the
 * end of stream are there (a receive may still wait for the rest of a long
 * message), 0 when nothing came within the timeout.  -EPERM (write end of a
 * one-way pipe), -EBADF, -ECANCELED, -EINVAL.  Consumes nothing.
 * Thread-safe, coroutine-safe; it waits behind a receiver in progress.
 */
PC_EXTERN int pc_conn_poll(pc_conn *c, double timeout);

/*
 * Close the fd (only this process's copy of it).  Further calls return
 * -EBADF.  0; -EBUSY while another thread or coroutine is inside a call
 * on the connection (nothing changes); -EINVAL for NULL.  Closing twice is
 * harmless (0).  Drops the rest of a message a send left (see
 * pc_conn_send) and a partial received one.  Thread-safe.
 */
PC_EXTERN int pc_conn_close(pc_conn *c);
/* Close (if still open) and free.  NULL is a no-op.  Must not race with
 * other calls on c. */
PC_EXTERN void pc_conn_free(pc_conn *c);

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_PIPE_H */
