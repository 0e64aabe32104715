/*
 * pc_io_serve: gevent's StreamServer.  One accept coroutine per server;
 * one coroutine per connection, running the handler and closing the
 * connection after it.  The server object is shared by its owner (until
 * pc_io_server_stop) and the accept coroutine (until it ends).
 */
#include <errno.h>
#include <stdatomic.h>

#include "../internal/alloc.h"
#include "pyconc/io.h"

struct pc_io_server {
    _Atomic int refs; /* the owner's and the accept coroutine's */
    int listen_fd;
    pc_io_handler handler;
    void *arg;
    pc_coro *acceptor;
};

typedef struct conn {
    int fd;
    pc_io_handler handler;
    void *arg;
} conn;

static void server_release(pc_io_server *s) {
    if (atomic_fetch_sub(&s->refs, 1) == 1)
        pc__free(s);
}

static int serve_conn(void *arg, void **value) {
    (void)value;
    conn c = *(conn *)arg;
    pc__free(arg);
    int r = c.handler(c.fd, c.arg);
    pc_io_close(c.fd);
    return r;
}

static int accept_loop(void *arg, void **value) {
    (void)value;
    pc_io_server *s = arg;
    int r;
    for (;;) {
        int fd = pc_io_accept(s->listen_fd, NULL, NULL, PC_FOREVER);
        if (fd == -ECANCELED) {
            r = 0;
            break;
        }
        if (fd < 0) {
            if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM || fd == -ENOBUFS) {
                pc_coro_sleep(0.01); /* out of resources: let handlers finish */
                continue;
            }
            if (fd == -ECONNABORTED || fd == -EINTR)
                continue;
            r = fd;
            break;
        }
        conn *c = pc__malloc(sizeof *c);
        pc_coro *h = NULL;
        if (c) {
            *c = (conn){fd, s->handler, s->arg};
            if (pc_coro_spawn(&h, serve_conn, c, NULL) == 0) {
                pc_coro_free(h); /* it runs on; nobody joins it */
                continue;
            }
            pc__free(c);
        }
        pc_io_close(fd); /* no memory for this connection: refuse it */
    }
    server_release(s);
    return r;
}

int pc_io_serve(pc_io_server **out, int listen_fd, pc_io_handler handler, void *arg) {
    if (!out || listen_fd < 0 || !handler)
        return -EINVAL;
    pc_io_server *s = pc__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    atomic_init(&s->refs, 2);
    s->listen_fd = listen_fd;
    s->handler = handler;
    s->arg = arg;
    int r = pc_coro_spawn(&s->acceptor, accept_loop, s, NULL);
    if (r) {
        pc__free(s);
        return r;
    }
    *out = s;
    return 0;
}

int pc_io_server_stop(pc_io_server *s) {
    if (!s)
        return -EINVAL;
    int r = pc_coro_kill(s->acceptor);
    pc_coro_free(s->acceptor);
    server_release(s);
    return r;
}
