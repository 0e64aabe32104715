/*
 * Receiving a message: its 8-byte length, then exactly its bytes, under
 * the receive lock.  The connection never reads past the message it is
 * receiving (two system calls per message rather than a read-ahead
 * buffer), so nothing of the stream lives in the object between messages
 * and the fd can be handed to another process at any message boundary.
 *
 * Timeouts lose nothing: a partial length stays in c->hdr, a partial body
 * in c->part (copied out of the caller's buffer, or the buffer that
 * pc_conn_recv_alloc is filling), and the next receive goes on with them.
 * A message bigger than the caller's buffer is reported once its length is
 * known (-EMSGSIZE) and stays for the next call.  End of stream between
 * messages is -EPIPE; in the middle of one (the writer died) it is
 * -ECONNRESET and the partial message is dropped.  A unix socket whose
 * peer closed with unread data reports ECONNRESET after the queued bytes:
 * at a message boundary that is an ordinary end of stream.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "conn-internal.h"

/* One recv into p, waiting for data first if there is none: > 0 bytes,
 * 0 at end of stream, or -1 with the reason in *wait_err (-ETIMEDOUT,
 * -ECANCELED, -errno). */
static ssize_t recv_some(pc_conn *c, void *p, size_t n, int64_t deadline, int *wait_err) {
    for (;;) {
        ssize_t got = recv(c->fd, p, n, MSG_DONTWAIT);
        if (got >= 0)
            return got;
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET)
            return 0;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            *wait_err = -errno;
            return -1;
        }
        int r = pc__conn_wait(c, &c->rwfd, POLLIN, deadline);
        if (r < 0) {
            *wait_err = r;
            return -1;
        }
    }
}

/* The stream ended: between messages -EPIPE, inside one -ECONNRESET. */
static int end_of_stream(pc_conn *c) {
    bool cut = c->hdr_have > 0;
    c->eof = true;
    c->hdr_have = 0;
    pc__free(c->part);
    c->part = NULL;
    c->part_len = 0;
    return cut ? -ECONNRESET : -EPIPE;
}

static int recv_locked(pc_conn *c, void *dst, size_t cap, void **out, size_t *len,
                       int64_t deadline) {
    if (c->fd < 0)
        return -EBADF;
    if (c->eof)
        return -EPIPE;
    int err = 0;
    while (c->hdr_have < PC__CONN_HDR) {
        ssize_t n = recv_some(c, c->hdr + c->hdr_have, PC__CONN_HDR - c->hdr_have, deadline, &err);
        if (n < 0)
            return err;
        if (n == 0)
            return end_of_stream(c);
        c->hdr_have += (size_t)n;
    }
    uint64_t l64;
    memcpy(&l64, c->hdr, sizeof l64);
    if (l64 > SIZE_MAX) {
        *len = SIZE_MAX;
        return -EMSGSIZE;
    }
    size_t want = (size_t)l64;
    unsigned char *body;
    if (out) {
        body = pc__realloc(c->part, want ? want : 1);
        if (!body)
            return -ENOMEM;
        c->part = body;
    } else {
        if (want > cap) {
            *len = want;
            return -EMSGSIZE;
        }
        body = dst;
        if (c->part_len)
            memcpy(body, c->part, c->part_len);
        pc__free(c->part);
        c->part = NULL;
    }
    size_t have = c->part_len;
    while (have < want) {
        ssize_t n = recv_some(c, body + have, want - have, deadline, &err);
        if (n > 0) {
            have += (size_t)n;
            continue;
        }
        if (n == 0)
            return end_of_stream(c);
        /* Timed out or cancelled: keep what came for the next call. */
        if (!out && have) {
            c->part = pc__malloc(have);
            if (!c->part) {
                end_of_stream(c);
                return -ENOMEM;
            }
            memcpy(c->part, body, have);
        }
        c->part_len = have;
        return err;
    }
    c->hdr_have = 0;
    c->part_len = 0;
    if (out) {
        *out = body;
        c->part = NULL;
    }
    *len = want;
    return 0;
}

static int recv_common(pc_conn *c, void *dst, size_t cap, void **out, size_t *len, double timeout) {
    int64_t deadline;
    if (!c || !len || pc__deadline(timeout, &deadline))
        return -EINVAL;
    if (!(c->flags & PC_CONN_READ))
        return -EPERM;
    int r = pc_lock_acquire(&c->rlock, true, pc__remaining(deadline));
    if (r < 0)
        return r;
    r = recv_locked(c, dst, cap, out, len, deadline);
    pc_lock_release(&c->rlock);
    return r;
}

int pc_conn_recv(pc_conn *c, void *buf, size_t cap, size_t *len, double timeout) {
    if (!buf && cap)
        return -EINVAL;
    return recv_common(c, buf, cap, NULL, len, timeout);
}

int pc_conn_recv_alloc(pc_conn *c, void **buf, size_t *len, double timeout) {
    if (!buf)
        return -EINVAL;
    return recv_common(c, NULL, 0, buf, len, timeout);
}

int pc_conn_poll(pc_conn *c, double timeout) {
    int64_t deadline;
    if (!c || pc__deadline(timeout, &deadline))
        return -EINVAL;
    if (!(c->flags & PC_CONN_READ))
        return -EPERM;
    int r = pc_lock_acquire(&c->rlock, true, pc__remaining(deadline));
    if (r == -ETIMEDOUT)
        return 0;
    if (r < 0)
        return r;
    if (c->fd < 0) {
        r = -EBADF;
    } else if (c->eof) {
        r = 1;
    } else {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0) {
            r = 1;
        } else if (timeout == 0) {
            r = 0;
        } else {
            r = pc__conn_wait(c, &c->rwfd, POLLIN, deadline);
            r = r > 0 ? 1 : r == -ETIMEDOUT ? 0 : r;
        }
    }
    pc_lock_release(&c->rlock);
    return r;
}
