/*
 * Writing to a pipe without SIGPIPE, and growing a pipe for big messages.
 *
 * A write to a pipe whose every reader is gone raises SIGPIPE, which kills
 * the process by default; a socket has MSG_NOSIGNAL, a pipe has nothing
 * alike.  A library may not change the process's disposition, so the
 * signal is blocked in the calling thread around the write: a SIGPIPE the
 * write raises is then left pending on the thread (the kernel directs it
 * at the writer), the write fails with EPIPE, and the pending signal is
 * taken back with a zero-timeout sigtimedwait before the old mask comes
 * back.  Two cheap system calls per write (no wake-up, no lock).
 *
 * Blocking: both ends of a pipe stay blocking, and a write that must not
 * block says so with RWF_NOWAIT (a kernel without it for pipes gets the fd
 * made O_NONBLOCK instead).  A thread that sends without a deadline then
 * writes the whole message in one blocking writev, as a plain blocking
 * write would: a full pipe costs no EAGAIN, poll and write again.  Only a
 * SIGPIPE this write raised is taken: if the thread had SIGPIPE blocked
 * already (its mask is left alone then) and one was pending before the
 * write, the pending one stays; a thread that had it unblocked had none
 * pending (it would have been delivered).
 *
 * Rejected: sending through a socket pair (the transport before this one):
 * a unix socket wake-up costs markedly more than a pipe wake-up, which is
 * most of a small message's round trip (docs/pipe.md, "Performance").
 *
 * Capacity: a pipe holds 64 KiB by default.  A message bigger than what
 * the pipe holds makes the writer wait for the reader once per pipeful, so
 * a send that finds the pipe full with more than its capacity still to
 * write grows it (F_SETPIPE_SZ) up to PIPE_GROW_MAX, capped by
 * /proc/sys/fs/pipe-max-size.  Only pipes that carry big messages grow:
 * pipe memory counts against the user's pipe-user-pages-soft, past which
 * the kernel makes every new pipe of that user tiny.  A failure to grow is
 * not an error; the pipe keeps its size and is not tried again.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../internal/blocking.h"
#include "conn-internal.h"

#define PIPE_GROW_MAX (1 << 20)

/* A write that does not block: RWF_NOWAIT on the blocking fd; where the
 * kernel refuses it, the fd is made O_NONBLOCK for good. */
static ssize_t writev_nowait(pc_conn *c, const struct iovec *iov, int n) {
    if (!c->wnonblock) {
        ssize_t r = pwritev2(c->wfd, iov, n, -1, RWF_NOWAIT);
        if (r >= 0 || (errno != EOPNOTSUPP && errno != EINVAL))
            return r;
        int fl = fcntl(c->wfd, F_GETFL);
        if (fl < 0 || fcntl(c->wfd, F_SETFL, fl | O_NONBLOCK) != 0)
            return -1;
        c->wnonblock = true;
    }
    return writev(c->wfd, iov, n);
}

ssize_t pc__conn_writev(pc_conn *c, const struct iovec *iov, int n, bool block) {
    if (c->wsock) {
        struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
        return sendmsg(c->wfd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    bool was_blocked = sigismember(&old, SIGPIPE) == 1;
    bool was_pending = was_blocked && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    ssize_t r;
    if (block && !c->wnonblock) {
        pc_gil *g = pc__blocking_begin();
        r = writev(c->wfd, iov, n);
        pc__blocking_end(g);
    } else {
        r = writev_nowait(c, iov, n);
    }
    int e = errno;
    if (r < 0 && e == EPIPE && !was_pending) {
        static const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    if (!was_blocked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return r;
}

static int grow_max;
static pthread_once_t grow_once = PTHREAD_ONCE_INIT;

static void grow_init(void) {
    grow_max = PIPE_GROW_MAX;
    FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
    int m;
    if (f && fscanf(f, "%d", &m) == 1 && m > 0 && m < grow_max)
        grow_max = m;
    if (f)
        fclose(f);
}

bool pc__conn_grow(pc_conn *c, size_t want) {
    if (c->wsock || c->wcap < 0)
        return false;
    if (c->wcap == 0) {
        c->wcap = fcntl(c->wfd, F_GETPIPE_SZ);
        if (c->wcap <= 0) {
            c->wcap = -1;
            return false;
        }
    }
    if (want <= (size_t)c->wcap)
        return false;
    pthread_once(&grow_once, grow_init);
    size_t to = (size_t)c->wcap;
    while (to < want && to < (size_t)grow_max)
        to *= 2;
    if (to > (size_t)grow_max)
        to = (size_t)grow_max;
    int got = to > (size_t)c->wcap ? fcntl(c->wfd, F_SETPIPE_SZ, (int)to) : -1;
    if (got <= c->wcap) {
        c->wcap = -1; /* at the cap, or refused: never try again */
        return false;
    }
    c->wcap = got;
    return true;
}
