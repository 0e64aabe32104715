/*
 * pc_wait_fd: park the calling coroutine until an fd is ready.
 *
 * The fd is registered with EPOLLONESHOT for this one wait and removed
 * after; the epoll event carries the waiter, and the loop wakes it with
 * the fired events in w->data (loop.c).  One coroutine per fd and
 * direction at a time: a second waiter on the same fd gets -EBUSY (gevent
 * refuses the same: "already used by another greenlet").
 * Rejected for now: keeping fds registered across waits.  It saves two
 * system calls per wait and is the next step for the IO module.
 */
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>

#include "../internal/blocking.h"
#include "loop-internal.h"

static int wait_fd_thread(int fd, int events, double timeout) {
    int64_t deadline = PC__NO_DEADLINE;
    pc__deadline(timeout, &deadline);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = (short)events};
        pc_gil *gil = pc__blocking_begin(); /* an attached thread polls without its GIL */
        int n = poll(&p, 1, pc__remaining_ms(deadline));
        pc__blocking_end(gil);
        if (n > 0)
            return p.revents & POLLNVAL ? -EBADF : p.revents;
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

int pc_wait_fd(int fd, int events, double timeout) {
    if (fd < 0 || timeout != timeout)
        return -EINVAL;
    pc_coro *c = pc__tls_coro;
    if (!c)
        return wait_fd_thread(fd, events, timeout);
    int64_t deadline = PC__NO_DEADLINE;
    pc__deadline(timeout, &deadline);
    pc_loop *l = c->loop;
    pc__waiter w;
    pc__waiter_init(&w);
    struct epoll_event ev = {.events = (uint32_t)events | EPOLLONESHOT, .data.ptr = &w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return errno == EEXIST ? -EBUSY : -errno;
    l->fd_waits++;
    int r = pc__coro_parker.park(&w, deadline);
    l->fd_waits--;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    return r == 0 ? (int)w.data : r;
}
