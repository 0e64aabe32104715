/*
 * Peer: a plain epoll HTTP/1.1 keep-alive "hello world" server, the way a
 * competent C programmer writes one: one thread, level-triggered epoll,
 * each fd registered once, and per request one read(2) and one write(2)
 * (a write that cannot take the whole reply keeps the rest and waits for
 * EPOLLOUT; wrk's small replies never need it).  Parsing as in
 * examples/http_server.c (see http-reply.h).
 *
 *   http-epoll --port P        serve 127.0.0.1:P until killed
 *
 * Run by httpbench.py, which prints the figures; it prints none itself.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "http-reply.h"

typedef struct conn {
    size_t have;    /* bytes of an unfinished request in buf */
    size_t out_off; /* reply bytes not yet written (rare) */
    size_t out_len;
    char *out;       /* what is left to write, NULL when nothing */
    int close_after; /* drop once out is written */
    char buf[HTTP_BUF];
} conn;

static conn **conns;
static int nconns;

static conn *conn_of(int fd) {
    if (fd >= nconns) {
        int n = nconns ? nconns : 64;
        while (n <= fd)
            n *= 2;
        conns = realloc(conns, (size_t)n * sizeof *conns);
        if (!conns)
            bench_die("out of memory");
        memset(conns + nconns, 0, (size_t)(n - nconns) * sizeof *conns);
        nconns = n;
    }
    if (!conns[fd] && !(conns[fd] = calloc(1, sizeof(conn))))
        bench_die("out of memory");
    return conns[fd];
}

static void drop(int fd) {
    close(fd); /* which also ends its epoll registration */
    conn *c = conns[fd];
    free(c->out);
    c->out = NULL;
    c->have = 0;
}

/* Answer every complete request in c->buf: the replies go out in one
 * write.  0 to keep the connection, -1 to drop it. */
static int answer(int ep, int fd, conn *c) {
    static char out[64 * (sizeof http_reply - 1)];
    size_t nout = 0;
    int close_after = 0;
    char *end;
    c->buf[c->have] = '\0';
    while (!close_after && (end = strstr(c->buf, "\r\n\r\n")) != NULL) {
        *end = '\0';
        close_after = strstr(c->buf, "Connection: close") != NULL;
        if (nout + sizeof http_reply - 1 > sizeof out)
            break; /* more than 64 pipelined: the rest on the next event */
        memcpy(out + nout, http_reply, sizeof http_reply - 1);
        nout += sizeof http_reply - 1;
        size_t used = (size_t)(end + 4 - c->buf);
        memmove(c->buf, end + 4, c->have - used + 1);
        c->have -= used;
    }
    if (nout) {
        ssize_t w = write(fd, out, nout);
        if (w < 0 && errno != EAGAIN)
            return -1;
        if (w < 0)
            w = 0;
        if ((size_t)w < nout) { /* keep the rest for EPOLLOUT */
            c->out_len = nout - (size_t)w;
            c->out_off = 0;
            if (!(c->out = malloc(c->out_len)))
                return -1;
            memcpy(c->out, out + w, c->out_len);
            struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
            epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
            c->close_after = close_after;
            return 0;
        }
    }
    if (close_after)
        return -1;
    if (c->have == HTTP_BUF - 1)
        return -1; /* headers too long */
    return 0;
}

static void on_writable(int ep, int fd, conn *c) {
    ssize_t w = write(fd, c->out + c->out_off, c->out_len - c->out_off);
    if (w < 0 && errno != EAGAIN) {
        drop(fd);
        return;
    }
    if (w > 0)
        c->out_off += (size_t)w;
    if (c->out_off == c->out_len) {
        free(c->out);
        c->out = NULL;
        if (c->close_after) {
            drop(fd);
            return;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    }
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    int port = (int)bench_opt_long("port", 8080);
    bench_opts_done();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 1024) < 0)
        bench_die("listen on port %d: %s", port, strerror(errno));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR)
            bench_die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    *conn_of(cfd) = (conn){.have = 0};
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            conn *c = conns[fd];
            if (c->out) {
                on_writable(ep, fd, c);
                continue;
            }
            ssize_t r = read(fd, c->buf + c->have, HTTP_BUF - 1 - c->have);
            if (r < 0 && errno == EAGAIN)
                continue;
            if (r <= 0) {
                drop(fd);
                continue;
            }
            c->have += (size_t)r;
            if (answer(ep, fd, c) < 0)
                drop(fd);
        }
    }
}
