/*
 * Pipe and Connection: making, handing over and closing connections.
 *
 * A connection is one end of a unix SOCK_STREAM socket pair.  Messages are
 * framed by an 8-byte length (send.c, recv.c).  A stream pair with the
 * length prefix was chosen over the alternatives:
 *  - pipe2(): no MSG_NOSIGNAL, so a write to a pipe whose reader is gone
 *    raises SIGPIPE unless the library blocks the signal around every
 *    write (two more system calls) or changes the process's disposition
 *    (not a library's to change).  A one-way Pipe is a socket pair shut
 *    down one way instead, so both kinds share one code path.
 *  - SOCK_SEQPACKET: keeps boundaries by itself, but a record must fit the
 *    socket buffer (big messages need fragments and a second framing) and
 *    a unix datagram queue holds only net.unix.max_dgram_qlen (10) records
 *    before the sender blocks, which costs small messages a wake-up every
 *    ten.
 * The fd is non-blocking; a blocking call waits with pc_wait_fd, which
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
    c->fd = c->swfd = c->rwfd = -1;
    pc_lock_init(&c->slock);
    pc_lock_init(&c->rlock);
    return c;
}

static void conn_start(pc_conn *c, int fd, unsigned flags) {
    c->fd = fd;
    c->flags = flags;
    reg_add(c);
}

int pc_pipe(pc_conn **a, pc_conn **b, bool duplex) {
    if (!a || !b)
        return -EINVAL;
    pc_conn *ca = conn_alloc(), *cb = conn_alloc();
    int sv[2];
    if (!ca || !cb) {
        pc__free(ca);
        pc__free(cb);
        return -ENOMEM;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        int e = errno;
        pc__free(ca);
        pc__free(cb);
        return -e;
    }
    if (!duplex && (shutdown(sv[0], SHUT_WR) != 0 || shutdown(sv[1], SHUT_RD) != 0)) {
        int e = errno;
        close(sv[0]);
        close(sv[1]);
        pc__free(ca);
        pc__free(cb);
        return -e;
    }
    conn_start(ca, sv[0], duplex ? PC_CONN_DUPLEX : PC_CONN_READ);
    conn_start(cb, sv[1], duplex ? PC_CONN_DUPLEX : PC_CONN_WRITE);
    *a = ca;
    *b = cb;
    return 0;
}

int pc_conn_from_fd(pc_conn **c, int fd, unsigned flags) {
    if (!c || !flags || (flags & ~PC_CONN_DUPLEX))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    int type = 0, domain = 0;
    socklen_t tl = sizeof type, dl = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0)
        return errno == EBADF ? -EBADF : -EINVAL;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dl) != 0)
        return -EINVAL;
    if (type != SOCK_STREAM || domain != AF_UNIX)
        return -EINVAL;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return -errno;
    pc_conn *n = conn_alloc();
    if (!n)
        return -ENOMEM;
    conn_start(n, fd, flags);
    *c = n;
    return 0;
}

int pc_conn_fileno(const pc_conn *c) {
    if (!c)
        return -EINVAL;
    return c->fd >= 0 ? c->fd : -EBADF;
}

unsigned pc_conn_flags(const pc_conn *c) {
    return c ? c->flags : 0;
}

/*
 * The loop allows one waiter per fd (a second gets -EBUSY): a coroutine
 * receiving and one sending on the same duplex fd of one loop would clash.
 * Each direction then gets its own dup of the fd, made on the first clash
 * and kept (an epoll registration is per fd number, so the dup is
 * independent).  Threads poll and never clash.
 */
int pc__conn_wait(pc_conn *c, int *wfd, int events, int64_t deadline) {
    int r = pc_wait_fd(*wfd >= 0 ? *wfd : c->fd, events, pc__remaining(deadline));
    if (r != -EBUSY || *wfd >= 0)
        return r;
    int d = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
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
    if (c->fd >= 0) {
        close(c->fd);
        if (c->swfd >= 0)
            close(c->swfd);
        if (c->rwfd >= 0)
            close(c->rwfd);
        c->fd = c->swfd = c->rwfd = -1;
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
