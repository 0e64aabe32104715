/* The connection object shared by the files of src/pipe/. */
#ifndef PC_PIPE_CONN_INTERNAL_H
#define PC_PIPE_CONN_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "pyconc/pipe.h"
#include "pyconc/sync.h"

/* The length prefix of every message on the wire: a native-endian 64-bit
 * count (both ends are on the same machine). */
#define PC__CONN_HDR 8

struct pc_conn {
    /* The read end (rfd) and the write end (wfd) of the pipes, -1 for a
     * direction the connection lacks.  Both are the same fd for a socket
     * (pc_conn_from_fds).  Set at creation; set to -1 by pc_conn_close with
     * both locks held, so either lock suffices to read them (unlocked in
     * pc_conn_fileno/pc_conn_fds only); wfd also by a failed commit
     * (keep_rest in send.c) with slock held, on a write-only end. */
    int rfd, wfd;
    bool closed;    /* pc_conn_close ran; same guard as rfd */
    bool wsock;     /* wfd is a socket: send with MSG_NOSIGNAL; immutable */
    unsigned flags; /* PC_CONN_READ | PC_CONN_WRITE; immutable */

    /* Lock order: slock before rlock (only pc_conn_close takes both). */
    pc_lock slock; /* one sender at a time */
    pc_lock rlock; /* one receiver (or poller) at a time */

    /* Send side, all guarded by slock. */
    int swfd;            /* a dup of wfd that send waits on (see conn_wait), or -1 */
    bool send_shut;      /* shut down for sending after a failed commit */
    int wcap;            /* the capacity of wfd's pipe as last seen (0: unknown) */
    bool wnonblock;      /* wfd is O_NONBLOCK (see pipe-linux.c) */
    unsigned char *tail; /* the committed rest of a message, or NULL */
    size_t tail_len;     /* its size */
    size_t tail_off;     /* how much of it went out */

    /* Receive side, all guarded by rlock. */
    int rwfd;                        /* dup of rfd that recv/poll wait on, or -1 */
    bool rnonblock;                  /* rfd is O_NONBLOCK (see recv.c) */
    bool eof;                        /* end of stream seen: sticky */
    unsigned char hdr[PC__CONN_HDR]; /* the length of the message being received */
    size_t hdr_have;                 /* bytes of hdr read so far */
    unsigned char *part;             /* body bytes read before a timeout, or NULL */
    size_t part_len;                 /* how many of them */

    /* The list of live connections for the atfork child handler; guarded
     * by the registry mutex of conn.c. */
    struct pc_conn *prev, *next;
};

/* Wait until fd (the connection's rfd or wfd) is ready for `events`
 * (POLLIN/POLLOUT) or the deadline passes: > 0, or -ETIMEDOUT, -ECANCELED,
 * -errno.  *wfd is the direction's private dup (guarded by that
 * direction's lock). */
int pc__conn_wait(int fd, int *wfd, int events, int64_t deadline);

/* writev(2) on c->wfd that never raises SIGPIPE in the process: -1 and
 * errno EPIPE when no reader is left (pipe-linux.c).  Blocks only if
 * `block` (a thread without a deadline), else -1 and EAGAIN when full.
 * Called with slock held. */
ssize_t pc__conn_writev(pc_conn *c, const struct iovec *iov, int n, bool block);

/* Grow wfd's pipe towards `want` bytes (capped), best effort: true when
 * it grew (pipe-linux.c).  Called with slock held. */
bool pc__conn_grow(pc_conn *c, size_t want);

#endif
