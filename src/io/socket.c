/*
 * Cooperative socket and pipe calls.  Each one tries the non-blocking
 * system call first; on EAGAIN it waits for readiness (pc__fd_wait_io:
 * a coroutine parks, a plain thread polls) and tries again.  So a ready
 * socket costs one system call and never a switch.
 *
 * With the loop's registration cache (src/loop/fdwait.c) a coroutine's
 * wait after EAGAIN costs no system call on an fd pc_io made, and when
 * the loop knows the fd idle (it saw EAGAIN or a short transfer on a
 * stream, and no event came since) the doomed first try is skipped: a
 * keep-alive server's read then costs one recv per request, as in a plain
 * epoll server.  Hence fds made here are announced (pc__fd_made) and
 * pc_io_close announces the close (pc__fd_closing).
 *
 * Deadlines: the timeout is turned into a deadline once, at the first
 * wait, so a call that does not wait reads no clock.  Timeout 0 never
 * waits (-ETIMEDOUT on EAGAIN, as before) and never skips the try.
 *
 * Rejected: keeping a registry of fds with their own state (gevent's
 * socket objects).  Plain fds are what C code has; what the loop caches
 * is keyed by fd number and generation, and every cached fact is only a
 * hint that an event or a retry corrects.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include "../internal/clock.h"
#include "../internal/fdreg.h"
#include "pyconc/io.h"
#include "pyconc/loop.h"

#define DEADLINE_UNSET INT64_MIN

int pc_io_set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    int fd_fl = fcntl(fd, F_GETFD);
    if (fd_fl < 0 || fcntl(fd, F_SETFD, fd_fl | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

/* TCP and pipes drain on a short transfer (epoll(7)); Unix stream sockets
 * may stop early (credentials, passed fds), datagrams always do. */
static int kind_of(int domain, int type, int protocol) {
    type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if ((domain == AF_INET || domain == AF_INET6) && type == SOCK_STREAM &&
        (protocol == 0 || protocol == IPPROTO_TCP))
        return PC__FD_STREAM;
    return PC__FD_OTHER;
}

int pc_io_socket(int domain, int type, int protocol) {
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return -errno;
    pc__fd_made(fd, kind_of(domain, type, protocol));
    return fd;
}

/* The wait after the call saw `events` not ready: 0 to retry, or a
 * negative code to return.  The deadline is computed at the first wait. */
static int wait_io(int fd, int events, double timeout, int64_t *deadline) {
    if (timeout == 0)
        return -ETIMEDOUT;
    if (*deadline == DEADLINE_UNSET)
        pc__deadline(timeout, deadline);
    int r = pc__fd_wait_io(fd, events, *deadline);
    return r < 0 ? r : 0;
}

static inline void note_count(int fd, int events, ssize_t n, size_t len) {
    if ((size_t)n < len)
        pc__fd_short(fd, events);
}

/* Try `call` unless the loop knows the fd idle; return its count (noting a
 * short one), or wait and try again.  `len`: what was asked (0: no count
 * to compare, e.g. accept). */
#define COOPERATIVE(fd, events, timeout, len, call)                                                \
    do {                                                                                           \
        int64_t deadline_ = DEADLINE_UNSET;                                                        \
        if ((fd) < 0 || (timeout) != (timeout))                                                    \
            return -EINVAL;                                                                        \
        for (;;) {                                                                                 \
            if ((timeout) == 0 || !pc__fd_known_idle((fd), (events))) {                            \
                ssize_t n_ = (call);                                                               \
                if (n_ >= 0) {                                                                     \
                    note_count((fd), (events), n_, (len));                                         \
                    return n_;                                                                     \
                }                                                                                  \
                if (errno == EINTR)                                                                \
                    continue;                                                                      \
                if (errno != EAGAIN && errno != EWOULDBLOCK)                                       \
                    return -errno;                                                                 \
            }                                                                                      \
            int w_ = wait_io((fd), (events), (timeout), &deadline_);                               \
            if (w_ < 0)                                                                            \
                return w_;                                                                         \
        }                                                                                          \
    } while (0)

ssize_t pc_io_recv(int fd, void *buf, size_t len, double timeout) {
    COOPERATIVE(fd, POLLIN, timeout, len, recv(fd, buf, len, MSG_DONTWAIT));
}

ssize_t pc_io_send(int fd, const void *buf, size_t len, double timeout) {
    COOPERATIVE(fd, POLLOUT, timeout, len, send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL));
}

/* Datagram calls: a short count proves nothing, so len 0. */
ssize_t pc_io_recvfrom(int fd, void *buf, size_t len, struct sockaddr *from, socklen_t *fromlen,
                       double timeout) {
    COOPERATIVE(fd, POLLIN, timeout, 0, recvfrom(fd, buf, len, MSG_DONTWAIT, from, fromlen));
}

ssize_t pc_io_sendto(int fd, const void *buf, size_t len, const struct sockaddr *to,
                     socklen_t tolen, double timeout) {
    COOPERATIVE(fd, POLLOUT, timeout, 0,
                sendto(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, to, tolen));
}

ssize_t pc_io_read(int fd, void *buf, size_t len, double timeout) {
    COOPERATIVE(fd, POLLIN, timeout, len, read(fd, buf, len));
}

ssize_t pc_io_write(int fd, const void *buf, size_t len, double timeout) {
    COOPERATIVE(fd, POLLOUT, timeout, len, write(fd, buf, len));
}

static int accept_once(int fd, struct sockaddr *addr, socklen_t *len, double timeout) {
    COOPERATIVE(fd, POLLIN, timeout, 0, accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

int pc_io_accept(int fd, struct sockaddr *addr, socklen_t *len, double timeout) {
    int c = accept_once(fd, addr, len, timeout);
    if (c >= 0) /* a connection of a TCP listener pc_io made is TCP too */
        pc__fd_made(c, pc__fd_kind(fd) == PC__FD_STREAM ? PC__FD_STREAM : PC__FD_OTHER);
    return c;
}

/* One send loop under one deadline, computed at the first wait. */
static int send_all(int fd, const char *p, size_t len, double timeout) {
    int64_t deadline = DEADLINE_UNSET;
    while (len > 0) {
        if (timeout == 0 || !pc__fd_known_idle(fd, POLLOUT)) {
            ssize_t n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n >= 0) {
                p += n;
                len -= (size_t)n;
                if (len > 0)
                    pc__fd_short(fd, POLLOUT);
                continue;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -errno;
        }
        int w = wait_io(fd, POLLOUT, timeout, &deadline);
        if (w < 0)
            return w;
    }
    return 0;
}

int pc_io_sendall(int fd, const void *buf, size_t len, double timeout) {
    if (fd < 0 || (!buf && len) || timeout != timeout)
        return -EINVAL;
    return send_all(fd, buf, len, timeout);
}

int pc_io_connect(int fd, const struct sockaddr *addr, socklen_t len, double timeout) {
    int64_t deadline;
    if (fd < 0 || !addr || pc__deadline(timeout, &deadline))
        return -EINVAL;
    if (connect(fd, addr, len) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return -errno;
    int r = pc__fd_wait_io(fd, POLLOUT, deadline); /* not writable until connected */
    if (r < 0)
        return r;
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        return -errno;
    return -err;
}

int pc_io_pipe(int fds[2]) {
    if (!fds)
        return -EINVAL;
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return -errno;
    pc__fd_made(fds[0], PC__FD_STREAM);
    pc__fd_made(fds[1], PC__FD_STREAM);
    return 0;
}

int pc_io_shutdown(int fd, int how) {
    return shutdown(fd, how) == 0 ? 0 : -errno;
}

int pc_io_close(int fd) {
    if (fd < 0)
        return -EBADF;
    pc__fd_closing(fd); /* before close(): the number is free after it */
    return close(fd) == 0 || errno == EINTR ? 0 : -errno;
}

int pc_io_local_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}
