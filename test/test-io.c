/* Cooperative IO: sockets and pipes switch coroutines instead of blocking. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

static int echo(int fd, void *arg) {
    (void)arg;
    char buf[512];
    ssize_t n;
    while ((n = pc_io_recv(fd, buf, sizeof buf, 10.0)) > 0)
        if (pc_io_sendall(fd, buf, (size_t)n, 10.0))
            return -EIO;
    return (int)n;
}

static char port[16];

static int client(void *arg, void **value) {
    (void)value;
    int id = (int)(intptr_t)arg;
    int fd = pc_io_connect_tcp("127.0.0.1", port, 10.0);
    if (fd < 0)
        return fd;
    for (int i = 0; i < 20; i++) {
        char msg[64], got[64];
        int len = snprintf(msg, sizeof msg, "client %d message %d", id, i);
        expect_rc(pc_io_sendall(fd, msg, (size_t)len, 10.0), 0);
        int have = 0;
        while (have < len) {
            ssize_t n = pc_io_recv(fd, got + have, sizeof got - (size_t)have, 10.0);
            cr_assert(n > 0, "recv: %zd", n);
            have += (int)n;
        }
        cr_assert(have == len && memcmp(msg, got, (size_t)len) == 0);
    }
    pc_io_close(fd);
    return 0;
}

Test(io, echo_server_with_a_coroutine_per_connection, .timeout = 30) {
    int lfd = pc_io_listen_tcp("127.0.0.1", "0", 64);
    cr_assert(lfd >= 0, "listen: %s", pc_strerror(lfd));
    snprintf(port, sizeof port, "%d", pc_io_local_port(lfd));
    pc_io_server *srv;
    expect_rc(pc_io_serve(&srv, lfd, echo, NULL), 0);
    pc_coro *c[20];
    for (int i = 0; i < 20; i++)
        expect_rc(pc_coro_spawn(&c[i], client, (void *)(intptr_t)i, NULL), 0);
    expect_rc(pc_coro_joinall(c, 20, 20.0), 0);
    for (int i = 0; i < 20; i++) {
        expect_rc(pc_coro_error(c[i]), 0);
        pc_coro_free(c[i]);
    }
    expect_rc(pc_io_server_stop(srv), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0); /* the acceptor ends */
    pc_io_close(lfd);
}

static int reader(void *arg, void **value) {
    int fd = (int)(intptr_t)arg;
    char buf[16];
    long total = 0;
    ssize_t n;
    while ((n = pc_io_read(fd, buf, sizeof buf, 10.0)) > 0)
        total += n;
    *value = (void *)total;
    return (int)n; /* 0 at end of stream */
}

static int writer(void *arg, void **value) {
    (void)value;
    int fd = (int)(intptr_t)arg;
    char block[4096] = {0};
    for (int i = 0; i < 64; i++) /* far more than the pipe holds: the writer must park */
        if (pc_io_write(fd, block, sizeof block, 10.0) != (ssize_t)sizeof block)
            return -EIO;
    pc_io_close(fd);
    return 0;
}

Test(io, pipe_between_coroutines_until_end_of_stream, .timeout = 30) {
    int fds[2];
    expect_rc(pc_io_pipe(fds), 0);
    pc_coro *r, *w;
    expect_rc(pc_coro_spawn(&r, reader, (void *)(intptr_t)fds[0], NULL), 0);
    expect_rc(pc_coro_spawn(&w, writer, (void *)(intptr_t)fds[1], NULL), 0);
    expect_rc(pc_coro_join(r, 20.0), 0);
    expect_rc(pc_coro_error(w), 0);
    expect_rc(pc_coro_error(r), 0);
    cr_assert_eq((long)pc_coro_value(r), 64L * 4096);
    pc_coro_free(r);
    pc_coro_free(w);
    pc_io_close(fds[0]);
}

static int recv_with_timeout(void *arg, void **value) {
    (void)value;
    char b;
    double t0 = pc_now();
    ssize_t n = pc_io_recv((int)(intptr_t)arg, &b, 1, 0.2);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5, "waited %.3f", dt);
    return (int)n;
}

Test(io, timeouts_in_coroutines_and_threads, .timeout = 30) {
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, recv_with_timeout, (void *)(intptr_t)sv[0], NULL), 0);
    expect_rc(pc_coro_join(c, 10.0), 0);
    expect_rc(pc_coro_error(c), -ETIMEDOUT);
    pc_coro_free(c);
    char b;
    double t0 = pc_now();
    cr_assert_eq(pc_io_recv(sv[0], &b, 1, 0.2), -ETIMEDOUT); /* a plain thread: poll */
    cr_assert(pc_now() - t0 >= 0.18);
    cr_assert_eq(pc_io_recv(sv[0], &b, 1, 0), -ETIMEDOUT);
    cr_assert_eq(pc_io_send(sv[1], "x", 1, 0), 1);
    cr_assert_eq(pc_io_recv(sv[0], &b, 1, 0), 1);
    close(sv[0]);
    close(sv[1]);
}

static int blocked_recv(void *arg, void **value) {
    (void)value;
    char b;
    return (int)pc_io_recv((int)(intptr_t)arg, &b, 1, PC_FOREVER);
}

Test(io, kill_reaches_a_coroutine_blocked_in_recv, .timeout = 30) {
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, blocked_recv, (void *)(intptr_t)sv[0], NULL), 0);
    expect_rc(pc_loop_run_until(pc_loop_current(), c, 0.05), -ETIMEDOUT);
    expect_rc(pc_coro_kill(c), 0);
    expect_rc(pc_coro_join(c, 10.0), 0);
    expect_rc(pc_coro_error(c), -ECANCELED);
    pc_coro_free(c);
    close(sv[0]);
    close(sv[1]);
}

static int udp_pong(void *arg, void **value) {
    (void)value;
    int fd = (int)(intptr_t)arg;
    char buf[32];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n = pc_io_recvfrom(fd, buf, sizeof buf, (struct sockaddr *)&from, &fl, 10.0);
    if (n < 0)
        return (int)n;
    return pc_io_sendto(fd, buf, (size_t)n, (struct sockaddr *)&from, fl, 10.0) == n ? 0 : -EIO;
}

Test(io, udp_ping_pong_and_resolve, .timeout = 30) {
    struct addrinfo *res;
    expect_rc(pc_io_resolve("localhost", "0", SOCK_DGRAM, &res, 10.0), 0);
    freeaddrinfo(res);
    cr_assert_eq(pc_io_resolve("no-such-host.invalid", "80", SOCK_STREAM, &res, 10.0), -ENOENT);
    int a = pc_io_socket(AF_INET, SOCK_DGRAM, 0), b = pc_io_socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(a, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t al = sizeof addr;
    getsockname(a, (struct sockaddr *)&addr, &al);
    pc_coro *p;
    expect_rc(pc_coro_spawn(&p, udp_pong, (void *)(intptr_t)a, NULL), 0);
    cr_assert_eq(pc_io_sendto(b, "ping", 4, (struct sockaddr *)&addr, sizeof addr, 1.0), 4);
    expect_rc(pc_coro_join(p, 10.0), 0);
    expect_rc(pc_coro_error(p), 0);
    char buf[8];
    cr_assert_eq(pc_io_recv(b, buf, sizeof buf, 5.0), 4);
    cr_assert(memcmp(buf, "ping", 4) == 0);
    pc_coro_free(p);
    close(a);
    close(b);
}

Test(io, connect_refused_and_bad_input) {
    int lfd = pc_io_listen_tcp("127.0.0.1", "0", 1);
    char p[16];
    snprintf(p, sizeof p, "%d", pc_io_local_port(lfd));
    pc_io_close(lfd); /* nobody listens there now */
    cr_assert_eq(pc_io_connect_tcp("127.0.0.1", p, 5.0), -ECONNREFUSED);
    cr_assert_eq(pc_io_recv(-1, p, 1, 1), -EINVAL);
    cr_assert_eq(pc_io_connect_tcp(NULL, p, 1), -EINVAL);
    cr_assert_eq(pc_io_pipe(NULL), -EINVAL);
    cr_assert_eq(pc_io_serve(NULL, 0, NULL, NULL), -EINVAL);
}
