/*
 * Sending a message: its 8-byte length and its bytes in one writev where
 * the pipe has room (pc__conn_writev: never a SIGPIPE), under the send
 * lock so that two senders never mix their bytes.  A message of up to
 * PIPE_BUF bytes, length included, goes in whole or not at all.
 *
 * A message is all or nothing for the caller: until its first byte is in
 * the pipe, a timeout leaves the stream as it was (-ETIMEDOUT, retry is
 * safe); after that, the unsent rest is copied into the connection (the
 * "tail") and the send reports success, since the message will arrive.  The
 * tail goes out before any later message.  Rejected: marking the
 * connection broken on a timeout mid-message (what Python's Connection
 * amounts to) - a full pipe and a timeout are ordinary, and a broken
 * stream is a lost peer.  Rejected too: returning -ETIMEDOUT with the rest
 * committed - a caller would retry and send the message twice.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "conn-internal.h"
#include "pyconc/coro.h"

/* The pipe capacity a message of n bytes asks for: a few messages' worth,
 * so that the writer and the reader do not take turns (pc__conn_grow caps
 * it). */
#define GROW_FOR(n) ((n) < SIZE_MAX / 4 ? 4 * (n) : SIZE_MAX)

/* Whether a send may block in writev itself: a thread without a deadline
 * (a coroutine must park through its loop). */
static bool may_block(int64_t deadline) {
    return deadline == PC__NO_DEADLINE && !pc_coro_current();
}

/* Write out the tail of an earlier message.  0 when none is left. */
static int flush_locked(pc_conn *c, int64_t deadline) {
    bool block = c->tail && may_block(deadline);
    while (c->tail) {
        struct iovec iov = {c->tail + c->tail_off, c->tail_len - c->tail_off};
        ssize_t n = pc__conn_writev(c, &iov, 1, block);
        if (n > 0) {
            c->tail_off += (size_t)n;
            if (c->tail_off == c->tail_len) {
                pc__free(c->tail);
                c->tail = NULL;
                c->tail_len = c->tail_off = 0;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            int e = errno == ECONNRESET ? EPIPE : errno;
            if (e == EPIPE) { /* nobody will read it */
                pc__free(c->tail);
                c->tail = NULL;
                c->tail_len = c->tail_off = 0;
            }
            return -e;
        }
        if (pc__conn_grow(c, GROW_FOR(c->tail_len)))
            continue;
        int r = pc__conn_wait(c->wfd, &c->swfd, POLLOUT, deadline);
        if (r < 0)
            return r;
    }
    return 0;
}

/* No more sending after a failed commit: the reader sees the message cut
 * (a socket is shut down for all its copies; a pipe's write end is closed
 * in this process, so the reader sees the cut once every other copy of it
 * is closed too). */
static void shut_send(pc_conn *c) {
    c->send_shut = true;
    if (c->wsock) {
        shutdown(c->wfd, SHUT_WR);
        return;
    }
    close(c->wfd);
    if (c->swfd >= 0)
        close(c->swfd);
    c->wfd = c->swfd = -1;
}

/* The message was cut at `sent` bytes of hdr+buf: keep the rest.  Returns
 * what the send reports: 0 for a timeout (the message is committed), the
 * error otherwise, -ENOMEM (and the sending side shut down) if the rest
 * cannot be held. */
static int keep_rest(pc_conn *c, const unsigned char *hdr, const unsigned char *buf, size_t len,
                     size_t sent, int why) {
    size_t total = PC__CONN_HDR + len, rest = total - sent;
    unsigned char *t = pc__malloc(rest);
    if (!t) {
        shut_send(c);
        return -ENOMEM;
    }
    size_t h = sent < PC__CONN_HDR ? PC__CONN_HDR - sent : 0;
    memcpy(t, hdr + (PC__CONN_HDR - h), h);
    memcpy(t + h, buf + (len - (rest - h)), rest - h);
    c->tail = t;
    c->tail_len = rest;
    c->tail_off = 0;
    return why == -ETIMEDOUT ? 0 : why;
}

static int send_locked(pc_conn *c, const unsigned char *buf, size_t len, int64_t deadline) {
    if (c->closed)
        return -EBADF;
    if (c->send_shut)
        return -EPIPE;
    int r = flush_locked(c, deadline);
    if (r < 0)
        return r;
    uint64_t n64 = len;
    unsigned char hdr[PC__CONN_HDR];
    memcpy(hdr, &n64, sizeof hdr);
    size_t total = PC__CONN_HDR + len, sent = 0;
    bool block = may_block(deadline);
    if (total > PIPE_BUF)
        pc__conn_grow(c, GROW_FOR(total));
    for (;;) {
        struct iovec iov[2];
        int niov = 1;
        if (sent < PC__CONN_HDR) {
            iov[0] = (struct iovec){hdr + sent, PC__CONN_HDR - sent};
            iov[1] = (struct iovec){(void *)buf, len};
            niov = len ? 2 : 1;
        } else {
            iov[0] = (struct iovec){(void *)(buf + (sent - PC__CONN_HDR)), total - sent};
        }
        ssize_t n = pc__conn_writev(c, iov, niov, block);
        if (n > 0) {
            sent += (size_t)n;
            if (sent == total)
                return 0;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            return -EPIPE;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            r = -errno;
        else if (pc__conn_grow(c, GROW_FOR(total)))
            continue;
        else
            r = pc__conn_wait(c->wfd, &c->swfd, POLLOUT, deadline);
        if (r >= 0)
            continue;
        return sent == 0 ? r : keep_rest(c, hdr, buf, len, sent, r);
    }
}

int pc_conn_send(pc_conn *c, const void *buf, size_t len, double timeout) {
    int64_t deadline;
    if (!c || (!buf && len) || pc__deadline(timeout, &deadline))
        return -EINVAL;
    if (!(c->flags & PC_CONN_WRITE))
        return -EPERM;
    int r = pc_lock_acquire(&c->slock, true, pc__remaining(deadline));
    if (r < 0)
        return r;
    r = send_locked(c, buf, len, deadline);
    pc_lock_release(&c->slock);
    return r;
}

int pc_conn_flush(pc_conn *c, double timeout) {
    int64_t deadline;
    if (!c || pc__deadline(timeout, &deadline))
        return -EINVAL;
    if (!(c->flags & PC_CONN_WRITE))
        return -EPERM;
    int r = pc_lock_acquire(&c->slock, true, pc__remaining(deadline));
    if (r < 0)
        return r;
    r = c->closed ? -EBADF : flush_locked(c, deadline);
    pc_lock_release(&c->slock);
    return r;
}
