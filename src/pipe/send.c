/*
 * Sending a message: its 8-byte length and its bytes in one sendmsg where
 * the socket buffer has room, under the send lock so that two senders
 * never mix their bytes.
 *
 * A message is all or nothing for the caller: until its first byte is in
 * the socket, a timeout leaves the stream as it was (-ETIMEDOUT, retry is
 * safe); after that, the unsent rest is copied into the connection (the
 * "tail") and the send reports success, since the message will arrive.  The
 * tail goes out before any later message.  Rejected: marking the
 * connection broken on a timeout mid-message (what Python's Connection
 * amounts to) - a full pipe and a timeout are ordinary, and a broken
 * stream is a lost peer.  Rejected too: returning -ETIMEDOUT with the rest
 * committed - a caller would retry and send the message twice.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "conn-internal.h"

#define SEND_FLAGS (MSG_NOSIGNAL | MSG_DONTWAIT)

/* Write out the tail of an earlier message.  0 when none is left. */
static int flush_locked(pc_conn *c, int64_t deadline) {
    while (c->tail) {
        ssize_t n = send(c->fd, c->tail + c->tail_off, c->tail_len - c->tail_off, SEND_FLAGS);
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
        int r = pc__conn_wait(c, &c->swfd, POLLOUT, deadline);
        if (r < 0)
            return r;
    }
    return 0;
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
        shutdown(c->fd, SHUT_WR);
        c->send_shut = true;
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
    if (c->fd < 0)
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
    for (;;) {
        struct iovec iov[2];
        struct msghdr m = {.msg_iov = iov};
        if (sent < PC__CONN_HDR) {
            iov[0] = (struct iovec){hdr + sent, PC__CONN_HDR - sent};
            iov[1] = (struct iovec){(void *)buf, len};
            m.msg_iovlen = len ? 2 : 1;
        } else {
            iov[0] = (struct iovec){(void *)(buf + (sent - PC__CONN_HDR)), total - sent};
            m.msg_iovlen = 1;
        }
        ssize_t n = sendmsg(c->fd, &m, SEND_FLAGS);
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
        r = n < 0 && errno != EAGAIN && errno != EWOULDBLOCK
                ? -errno
                : pc__conn_wait(c, &c->swfd, POLLOUT, deadline);
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
    r = c->fd < 0 ? -EBADF : flush_locked(c, deadline);
    pc_lock_release(&c->slock);
    return r;
}
