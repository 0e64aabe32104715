/*
 * Pipe and Connection: making, handing over and closing connections.
 *
 * A connection is the read end of one pipe and the write end of another
 * (a duplex end: four fds for a pair), or one end of one pipe (a one-way
 * pipe: two fds).  Messages are framed by an 8-byte length (send.c,
 * recv.c); writes never raise SIGPIPE (pipe-linux.c).  Pipes were chosen
 * over the alternatives:
 *  - a unix SOCK_STREAM socket pair (the transport before): one fd a
 *    duplex end and MSG_NOSIGNAL, but a socket wake-up costs much more
 *    than a pipe wake-up, which is most of a small message's round trip.
 *    pc_conn_from_fds still takes a unix stream socket (rfd == wfd), so a
 *    connection made over one elsewhere keeps working.
 *  - SOCK_SEQPACKET: keeps boundaries by itself, but a record must fit the
 *    socket buffer (big messages need fragments and a second framing) and
 *    a unix datagram queue holds only net.unix.max_dgram_qlen (10) records
 *    before the sender blocks, which costs small messages a wake-up every
 *    ten.
 * The fds are non-blocking; a blocking call waits with pc_wait_fd, which
 * parks a coroutine in its loop and polls in a thread.
 *
 * Fork: every live connection is on a list; the atfork child handler
 * resets their locks (a thread that held one in the parent does not exist
 * in the child).  The list mutex is taken only when a connection is made
 * or freed, never on a send or a receive.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "conn-internal.h"
#include "pyconc/loop.h"

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pc_conn *reg_head; /* guarded by reg_mu */
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void) {
    pthread_mutex_lock(&reg_mu);
}

static void atfork_parent(void) {
    pthread_mutex_unlock(&reg_mu);
}

static void atfork_child(void) {
    pthread_mutex_init(&reg_mu, NULL);
    for (pc_conn *c = reg_head; c; c = c->next) {
        pc_lock_init(&c->slock);
        pc_lock_init(&c->rlock);
    }
}

static void reg_init(void) {
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void reg_add(pc_conn *c) {
    pthread_once(&reg_once, reg_init);
    pthread_mutex_lock(&reg_mu);
    c->prev = NULL;
    c->next = reg_head;
    if (reg_head)
        reg_head->prev = c;
    reg_head = c;
    pthread_mutex_unlock(&reg_mu);
}

static void reg_remove(pc_conn *c) {
    pthread_mutex_lock(&reg_mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        reg_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&reg_mu);
}

static pc_conn *conn_alloc(void) {
    pc_conn *c = pc__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->rfd = c->wfd = c->swfd = c->rwfd = -1;
    pc_lock_init(&c->slock);
    pc_lock_init(&c->rlock);
    return c;
}

static void conn_start(pc_conn *c, int rfd, int wfd, bool wsock, bool nonblock) {
    c->rfd = rfd;
    c->wfd = wfd;
    c->wsock = wsock;
    c->rnonblock = c->wnonblock = nonblock;
    c->flags = (rfd >= 0 ? PC_CONN_READ : 0) | (wfd >= 0 ? PC_CONN_WRITE : 0);
    reg_add(c);
}

static void close_fds(const int *fd, int n) {
    for (int i = 0; i < n; i++)
        close(fd[i]);
}

int pc_pipe(pc_conn **a, pc_conn **b, bool duplex) {
    if (!a || !b)
        return -EINVAL;
    pc_conn *ca = conn_alloc(), *cb = conn_alloc();
    if (!ca || !cb) {
        pc__free(ca);
        pc__free(cb);
        return -ENOMEM;
    }
    /* p[0..1]: b writes, a reads; p[2..3]: a writes, b reads (duplex).
     * Blocking fds: see recv.c and pipe-linux.c. */
    int p[4], made = 0, e = 0;
    for (; made < (duplex ? 4 : 2); made += 2) {
        if (pipe2(p + made, O_CLOEXEC) != 0) {
            e = errno;
            break;
        }
    }
    if (e) {
        close_fds(p, made);
        pc__free(ca);
        pc__free(cb);
        return -e;
    }
    conn_start(ca, p[0], duplex ? p[3] : -1, false, false);
    conn_start(cb, duplex ? p[2] : -1, p[1], false, false);
    *a = ca;
    *b = cb;
    return 0;
}

/* What an fd handed to pc_conn_from_fds is: 1 a unix stream socket, 0 a
 * pipe open for `acc` (O_RDONLY or O_WRONLY; a FIFO opened O_RDWR does
 * for both), or -EBADF / -EINVAL. */
static int fd_kind(int fd, int acc) {
    struct stat st;
    if (fstat(fd, &st) != 0)
        return errno == EBADF ? -EBADF : -EINVAL;
    if (S_ISFIFO(st.st_mode)) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            return -errno;
        return (fl & O_ACCMODE) == acc || (fl & O_ACCMODE) == O_RDWR ? 0 : -EINVAL;
    }
    int type = 0, domain = 0;
    socklen_t tl = sizeof type, dl = sizeof domain;
    if (!S_ISSOCK(st.st_mode) || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dl) != 0)
        return -EINVAL;
    return type == SOCK_STREAM && domain == AF_UNIX ? 1 : -EINVAL;
}

/* Make fd close-on-exec, and non-blocking or blocking (the pipe's ends
 * stay blocking: recv.c and pipe-linux.c use RWF_NOWAIT or block on
 * purpose). */
static int fd_adopt(int fd, bool nonblock) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    fl = nonblock ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    if (fcntl(fd, F_SETFL, fl) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return -errno;
    return 0;
}

int pc_conn_from_fds(pc_conn **c, int rfd, int wfd) {
    if (!c)
        return -EINVAL;
    if (rfd < -1 || wfd < -1)
        return -EBADF;
    if (rfd < 0 && wfd < 0)
        return -EINVAL;
    int rk = rfd >= 0 ? fd_kind(rfd, O_RDONLY) : 0;
    int wk = wfd >= 0 ? fd_kind(wfd, O_WRONLY) : 0;
    if (rk < 0 || wk < 0)
        return rk == -EBADF || wk == -EBADF ? -EBADF : -EINVAL;
    if (rfd == wfd && rk != 1)
        return -EINVAL; /* one pipe fd cannot carry both directions */
    /* A socket stays non-blocking (the transport before pipes), and so does
     * a FIFO open for both directions (O_RDWR). */
    bool nonblock = rk == 1 || wk == 1 ||
                    (rfd >= 0 && (fcntl(rfd, F_GETFL) & O_ACCMODE) == O_RDWR) ||
                    (wfd >= 0 && (fcntl(wfd, F_GETFL) & O_ACCMODE) == O_RDWR);
    pc_conn *n = conn_alloc();
    if (!n)
        return -ENOMEM;
    int r = 0;
    if (rfd >= 0)
        r = fd_adopt(rfd, nonblock);
    if (r == 0 && wfd >= 0 && wfd != rfd)
        r = fd_adopt(wfd, nonblock);
    if (r < 0) {
        pc__free(n);
        return r;
    }
    conn_start(n, rfd, wfd, wk == 1, nonblock);
    *c = n;
    return 0;
}

int pc_conn_from_fd(pc_conn **c, int fd, unsigned flags) {
    if (!c || !flags || (flags & ~PC_CONN_DUPLEX))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    return pc_conn_from_fds(c, (flags & PC_CONN_READ) ? fd : -1, (flags & PC_CONN_WRITE) ? fd : -1);
}

int pc_conn_fileno(const pc_conn *c) {
    if (!c)
        return -EINVAL;
    if (c->closed)
        return -EBADF;
    int fd = (c->flags & PC_CONN_READ) ? c->rfd : c->wfd;
    return fd >= 0 ? fd : -EBADF;
}

int pc_conn_fds(const pc_conn *c, int *rfd, int *wfd) {
    if (!c)
        return -EINVAL;
    if (c->closed)
        return -EBADF;
    if (rfd)
        *rfd = c->rfd;
    if (wfd)
        *wfd = c->wfd;
    return 0;
}

unsigned pc_conn_flags(const pc_conn *c) {
    return c ? c->flags : 0;
}

/*
 * The loop allows one waiter per fd and direction (another gets -EBUSY):
 * a coroutine of this loop may already wait on the same fd (one that the
 * caller also waits on itself, or a socket whose two directions are one
 * fd).  The direction then gets its own dup of the fd, made on the first
 * clash and kept (an epoll registration is per fd number, so the dup is
 * independent).  Threads poll and never clash.
 */
int pc__conn_wait(int fd, int *wfd, int events, int64_t deadline) {
    int r = pc_wait_fd(*wfd >= 0 ? *wfd : fd, events, pc__remaining(deadline));
    if (r != -EBUSY || *wfd >= 0)
        return r;
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0)
        return -errno;
    *wfd = d;
    return pc_wait_fd(d, events, pc__remaining(deadline));
}

int pc_conn_close(pc_conn *c) {
    if (!c)
        return -EINVAL;
    if (pc_lock_acquire(&c->slock, false, PC_FOREVER) != 0)
        return -EBUSY;
    if (pc_lock_acquire(&c->rlock, false, PC_FOREVER) != 0) {
        pc_lock_release(&c->slock);
        return -EBUSY;
    }
    if (!c->closed) {
        int fds[4] = {c->rfd, c->wfd != c->rfd ? c->wfd : -1, c->swfd, c->rwfd};
        for (int i = 0; i < 4; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        c->rfd = c->wfd = c->swfd = c->rwfd = -1;
        c->closed = true;
        pc__free(c->tail);
        pc__free(c->part);
        c->tail = c->part = NULL;
        c->tail_len = c->tail_off = c->part_len = c->hdr_have = 0;
    }
    pc_lock_release(&c->rlock);
    pc_lock_release(&c->slock);
    return 0;
}

void pc_conn_free(pc_conn *c) {
    if (!c)
        return;
    if (pc_conn_close(c) != 0) {
        fprintf(stderr, "pyconc: pc_conn_free of a connection in use by another call\n");
        abort();
    }
    reg_remove(c);
    pc__free(c);
}

void pc_conn_buf_free(void *buf) {
    pc__free(buf);
}
