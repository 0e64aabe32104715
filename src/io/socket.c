/*
 * Cooperative socket and pipe calls.  Each one tries the non-blocking
 * system call first; on EAGAIN it waits for readiness with pc_wait_fd
 * (which parks a coroutine, or polls in a plain thread) against a deadline
 * computed once, and tries again.  So a ready socket costs one system call
 * and never a switch.
 * Rejected: keeping a registry of fds with their own state (gevent's
 * socket objects).  Plain fds are what C code has; the loop registers an
 * fd only for the length of a wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

#include "../internal/clock.h"
#include "pyconc/io.h"
#include "pyconc/loop.h"

int pc_io_set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    int fd_fl = fcntl(fd, F_GETFD);
    if (fd_fl < 0 || fcntl(fd, F_SETFD, fd_fl | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

int pc_io_socket(int domain, int type, int protocol) {
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    return fd < 0 ? -errno : fd;
}

/* After a call failed with errno: 1 to retry, or a negative code to
 * return.  Waits for `events` on EAGAIN. */
static int wait_or_fail(int fd, int events, int64_t deadline) {
    if (errno == EINTR)
        return 1;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        return -errno;
    int r = pc_wait_fd(fd, events, pc__remaining(deadline));
    return r < 0 ? r : 1;
}

#define COOPERATIVE(fd, events, timeout, call)                                                     \
    do {                                                                                           \
        int64_t deadline_;                                                                         \
        if ((fd) < 0 || pc__deadline((timeout), &deadline_))                                       \
            return -EINVAL;                                                                        \
        for (;;) {                                                                                 \
            ssize_t n_ = (call);                                                                   \
            if (n_ >= 0)                                                                           \
                return n_;                                                                         \
            int w_ = wait_or_fail((fd), (events), deadline_);                                      \
            if (w_ < 0)                                                                            \
                return w_;                                                                         \
        }                                                                                          \
    } while (0)

ssize_t pc_io_recv(int fd, void *buf, size_t len, double timeout) {
    COOPERATIVE(fd, POLLIN, timeout, recv(fd, buf, len, MSG_DONTWAIT));
}

ssize_t pc_io_send(int fd, const void *buf, size_t len, double timeout) {
    COOPERATIVE(fd, POLLOUT, timeout, send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL));
}

ssize_t pc_io_recvfrom(int fd, void *buf, size_t len, struct sockaddr *from, socklen_t *fromlen,
                       double timeout) {
    COOPERATIVE(fd, POLLIN, timeout, recvfrom(fd, buf, len, MSG_DONTWAIT, from, fromlen));
}

ssize_t pc_io_sendto(int fd, const void *buf, size_t len, const struct sockaddr *to,
                     socklen_t tolen, double timeout) {
    COOPERATIVE(fd, POLLOUT, timeout, sendto(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, to, tolen));
}

ssize_t pc_io_read(int fd, void *buf, size_t len, double timeout) {
    COOPERATIVE(fd, POLLIN, timeout, read(fd, buf, len));
}

ssize_t pc_io_write(int fd, const void *buf, size_t len, double timeout) {
    COOPERATIVE(fd, POLLOUT, timeout, write(fd, buf, len));
}

int pc_io_accept(int fd, struct sockaddr *addr, socklen_t *len, double timeout) {
    COOPERATIVE(fd, POLLIN, timeout, accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

int pc_io_sendall(int fd, const void *buf, size_t len, double timeout) {
    int64_t deadline;
    if (fd < 0 || (!buf && len) || pc__deadline(timeout, &deadline))
        return -EINVAL;
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pc_io_send(fd, p, len, pc__remaining(deadline));
        if (n < 0)
            return (int)n;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int pc_io_connect(int fd, const struct sockaddr *addr, socklen_t len, double timeout) {
    int64_t deadline;
    if (fd < 0 || !addr || pc__deadline(timeout, &deadline))
        return -EINVAL;
    if (connect(fd, addr, len) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return -errno;
    int r = pc_wait_fd(fd, POLLOUT, pc__remaining(deadline));
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
    return pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0 ? 0 : -errno;
}

int pc_io_shutdown(int fd, int how) {
    return shutdown(fd, how) == 0 ? 0 : -errno;
}

int pc_io_close(int fd) {
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
