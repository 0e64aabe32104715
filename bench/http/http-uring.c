/*
 * Peer (orientation): the server of http-epoll.c written on io_uring with
 * liburing, to see whether an io_uring backend would beat epoll here.
 *
 *   http-uring --port P [--mode recv|poll]
 *
 * --mode recv (default): completion-based.  Multishot accept; per
 *   connection one recv operation outstanding into its buffer; each
 *   completion is parsed and answered with a send operation of the static
 *   reply, and the next recv queued.  Submissions and completions of a
 *   turn share one io_uring_enter.  This is what a completion backend of
 *   the loop would do (a coroutine's recv/send become ring operations).
 * --mode poll: readiness-based, io_uring standing in for epoll: a
 *   multishot poll per connection, then read(2) and write(2) system
 *   calls as in http-epoll.c.  This is what a readiness backend would do.
 *
 * The ring is single-issuer with deferred task running (the cheapest
 * setup for one thread).  Parsing as in http-reply.h.  Prints nothing:
 * httpbench.py measures it.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "http-reply.h"

enum { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_POLL };

typedef struct conn {
    int fd;
    int dead; /* --mode poll: closed, its multishot poll being removed */
    size_t have;
    char buf[HTTP_BUF];
} conn;

static struct io_uring ring;
static char out[64 * (sizeof http_reply - 1)];

static struct io_uring_sqe *sqe_get(void) {
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    if (!s) {
        io_uring_submit(&ring);
        s = io_uring_get_sqe(&ring);
        if (!s)
            bench_die("no submission entry");
    }
    return s;
}

static void *tag(void *p, int op) {
    return (void *)((uintptr_t)p | (uintptr_t)op);
}

static void queue_recv(conn *c) {
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_recv(s, c->fd, c->buf + c->have, HTTP_BUF - 1 - c->have, 0);
    io_uring_sqe_set_data(s, tag(c, OP_RECV));
}

static void queue_poll(conn *c) {
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_poll_multishot(s, c->fd, POLLIN);
    io_uring_sqe_set_data(s, tag(c, OP_POLL));
}

static void drop(conn *c) {
    close(c->fd);
    free(c);
}

/* --mode poll: the ring holds the file while a multishot poll lives, so
 * the poll is removed and the conn freed with the poll's last completion.
 * `last`: this completion ended the poll already. */
static void drop_polled(conn *c, int last) {
    close(c->fd);
    if (last) {
        free(c);
        return;
    }
    c->dead = 1;
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_poll_remove(s, (__u64)(uintptr_t)tag(c, OP_POLL));
    io_uring_sqe_set_data(s, tag(NULL, OP_SEND));
}

/* Parse what c->buf holds; the number of reply bytes put in `out`, or -1
 * to drop the connection after them (-1 - n: n bytes then drop). */
static long parse(conn *c, int *close_after) {
    size_t nout = 0;
    char *end;
    *close_after = 0;
    c->buf[c->have] = '\0';
    while (!*close_after && (end = strstr(c->buf, "\r\n\r\n")) != NULL) {
        *end = '\0';
        *close_after = strstr(c->buf, "Connection: close") != NULL;
        if (nout + sizeof http_reply - 1 > sizeof out)
            break;
        memcpy(out + nout, http_reply, sizeof http_reply - 1);
        nout += sizeof http_reply - 1;
        size_t used = (size_t)(end + 4 - c->buf);
        memmove(c->buf, end + 4, c->have - used + 1);
        c->have -= used;
    }
    if (c->have == HTTP_BUF - 1)
        *close_after = 1;
    return (long)nout;
}

/* Send path of --mode recv: the static reply when one request came (the
 * common case), a copy when several were pipelined. */
static struct io_uring_sqe *queue_send(conn *c, size_t nout) {
    const char *src = out;
    if (nout == sizeof http_reply - 1)
        src = http_reply;
    else {
        char *copy = malloc(nout); /* freed on its completion */
        if (!copy)
            bench_die("out of memory");
        memcpy(copy, out, nout);
        src = copy;
    }
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_send(s, c->fd, src, nout, MSG_NOSIGNAL);
    io_uring_sqe_set_data(s, tag(src == http_reply ? NULL : (void *)src, OP_SEND));
    return s;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    int port = (int)bench_opt_long("port", 8080);
    const char *mode = bench_opt_str("mode", "recv");
    bench_opts_done();
    int poll_mode = strcmp(mode, "poll") == 0;
    if (!poll_mode && strcmp(mode, "recv") != 0)
        bench_die("--mode recv or poll, not %s", mode);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 1024) < 0)
        bench_die("listen on port %d: %s", port, strerror(errno));

    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                                         IORING_SETUP_COOP_TASKRUN};
    int r = io_uring_queue_init_params(1024, &ring, &p);
    if (r < 0)
        bench_die("io_uring_queue_init: %s", strerror(-r));
    struct io_uring_sqe *s = sqe_get();
    io_uring_prep_multishot_accept(s, lfd, NULL, NULL,
                                   SOCK_CLOEXEC | (poll_mode ? SOCK_NONBLOCK : 0));
    io_uring_sqe_set_data(s, tag(NULL, OP_ACCEPT));

    for (;;) {
        r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR)
            bench_die("io_uring_submit_and_wait: %s", strerror(-r));
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uintptr_t d = (uintptr_t)io_uring_cqe_get_data(cqe);
            int op = (int)(d & 7);
            void *ptr = (void *)(d & ~(uintptr_t)7);
            int res = cqe->res;
            if (op == OP_ACCEPT) {
                if (res >= 0) {
                    conn *c = calloc(1, sizeof *c);
                    if (!c)
                        bench_die("out of memory");
                    c->fd = res;
                    poll_mode ? queue_poll(c) : queue_recv(c);
                }
                if (!(cqe->flags & IORING_CQE_F_MORE)) { /* re-arm */
                    struct io_uring_sqe *as = sqe_get();
                    io_uring_prep_multishot_accept(as, lfd, NULL, NULL,
                                                   SOCK_CLOEXEC | (poll_mode ? SOCK_NONBLOCK : 0));
                    io_uring_sqe_set_data(as, tag(NULL, OP_ACCEPT));
                }
            } else if (op == OP_SEND) {
                free(ptr); /* a pipelined copy, or NULL */
            } else if (op == OP_RECV) {
                conn *c = ptr;
                if (res <= 0) {
                    drop(c);
                    continue;
                }
                c->have += (size_t)res;
                int close_after;
                long nout = parse(c, &close_after);
                struct io_uring_sqe *ss = nout ? queue_send(c, (size_t)nout) : NULL;
                if (close_after) {
                    if (ss) /* close after the send: linked */
                        ss->flags |= IOSQE_IO_LINK;
                    struct io_uring_sqe *cs = sqe_get();
                    io_uring_prep_close(cs, c->fd);
                    io_uring_sqe_set_data(cs, tag(NULL, OP_SEND));
                    free(c);
                    continue;
                }
                queue_recv(c);
            } else { /* OP_POLL */
                conn *c = ptr;
                int rearm = !(cqe->flags & IORING_CQE_F_MORE);
                if (c->dead) {
                    if (rearm)
                        free(c);
                    continue;
                }
                ssize_t n = read(c->fd, c->buf + c->have, HTTP_BUF - 1 - c->have);
                if (n < 0 && errno == EAGAIN) {
                    if (rearm)
                        queue_poll(c);
                    continue;
                }
                if (n <= 0) {
                    drop_polled(c, rearm);
                    continue;
                }
                c->have += (size_t)n;
                int close_after;
                long nout = parse(c, &close_after);
                if (nout && write(c->fd, out, (size_t)nout) != nout)
                    close_after = 1; /* wrk's replies always fit: treat as an error */
                if (close_after) {
                    drop_polled(c, rearm);
                    continue;
                }
                if (rearm)
                    queue_poll(c);
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}
