/*
 * Name resolution and the TCP helpers built on it.  getaddrinfo() blocks
 * (it may ask a DNS server), so it runs on the default executor
 * (pc_loop_run_in_executor); the caller waits on the future, which parks
 * a coroutine instead of its loop.  A caller that times out leaves the
 * lookup to finish on its own: the request is shared by the caller and
 * the task, and the last of them frees it.
 * Rejected: a resolver of our own over UDP.  It would skip
 * /etc/nsswitch.conf, /etc/hosts and every other source getaddrinfo knows.
 */
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "pyconc/future.h"
#include "pyconc/io.h"
#include "pyconc/loop.h"

typedef struct lookup {
    _Atomic int refs; /* the caller's and the thread's */
    char *host, *port;
    int socktype;
    int rc;
    struct addrinfo *res;
} lookup;

static void lookup_release(lookup *l) {
    if (atomic_fetch_sub(&l->refs, 1) == 1) {
        if (l->res)
            freeaddrinfo(l->res);
        pc__free(l->host);
        pc__free(l->port);
        pc__free(l);
    }
}

static int gai_to_errno(int rc) {
    switch (rc) {
    case 0: return 0;
    case EAI_AGAIN: return -EAGAIN;
    case EAI_MEMORY: return -ENOMEM;
    case EAI_SYSTEM: return -errno;
    case EAI_NONAME:
    case EAI_NODATA: return -ENOENT;
    default: return -EINVAL;
    }
}

static int lookup_task(void *arg, void **value) {
    (void)value;
    lookup *l = arg;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = l->socktype, .ai_flags = l->host ? 0 : AI_PASSIVE};
    l->rc = gai_to_errno(getaddrinfo(l->host, l->port, &hints, &l->res));
    lookup_release(l);
    return 0;
}

int pc_io_resolve(const char *host, const char *port, int socktype, struct addrinfo **res,
                  double timeout) {
    if ((!host && !port) || !res || timeout != timeout)
        return -EINVAL;
    lookup *l = pc__calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    atomic_init(&l->refs, 2);
    l->socktype = socktype;
    if ((host && !(l->host = pc__strdup(host))) || (port && !(l->port = pc__strdup(port)))) {
        atomic_store(&l->refs, 1);
        lookup_release(l);
        return -ENOMEM;
    }
    pc_future *f;
    int r = pc_loop_run_in_executor(NULL, lookup_task, l, &f);
    if (r) {
        atomic_store(&l->refs, 1);
        lookup_release(l);
        return r;
    }
    /* the task's writes to l are ordered before the future's settle */
    r = pc_future_value(f, NULL, timeout);
    pc_future_release(f);
    if (r == 0) {
        r = l->rc;
        if (r == 0) {
            *res = l->res;
            l->res = NULL;
        }
    }
    lookup_release(l);
    return r;
}

int pc_io_listen_tcp(const char *host, const char *port, int backlog) {
    struct addrinfo *res;
    int r = pc_io_resolve(host, port ? port : "0", SOCK_STREAM, &res, PC_FOREVER);
    if (r)
        return r;
    r = -EADDRNOTAVAIL;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = pc_io_socket(a->ai_family, SOCK_STREAM, 0);
        if (fd < 0) {
            r = fd;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
            listen(fd, backlog > 0 ? backlog : 128) == 0) {
            freeaddrinfo(res);
            return fd;
        }
        r = -errno;
        pc_io_close(fd);
    }
    freeaddrinfo(res);
    return r;
}

int pc_io_connect_tcp(const char *host, const char *port, double timeout) {
    int64_t deadline;
    if (!host || !port || pc__deadline(timeout, &deadline))
        return -EINVAL;
    struct addrinfo *res;
    int r = pc_io_resolve(host, port, SOCK_STREAM, &res, timeout);
    if (r)
        return r;
    r = -ECONNREFUSED;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = pc_io_socket(a->ai_family, SOCK_STREAM, 0);
        if (fd < 0) {
            r = fd;
            continue;
        }
        r = pc_io_connect(fd, a->ai_addr, a->ai_addrlen, pc__remaining(deadline));
        if (r == 0) {
            freeaddrinfo(res);
            return fd;
        }
        pc_io_close(fd);
        if (r == -ETIMEDOUT || r == -ECANCELED)
            break;
    }
    freeaddrinfo(res);
    return r;
}
