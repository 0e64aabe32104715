/* Pipe and Connection: messages and their boundaries, directions, sizes,
 * poll, end of stream, close, handing an fd over. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static void send_str(pc_conn *c, const char *s) {
    expect_rc(pc_conn_send(c, s, strlen(s), 5.0), 0);
}

static void expect_msg(pc_conn *c, const char *want) {
    char buf[256];
    size_t len = 12345;
    expect_rc(pc_conn_recv(c, buf, sizeof buf, &len, 5.0), 0);
    cr_assert_eq(len, strlen(want), "got %zu bytes, want \"%s\"", len, want);
    cr_assert_eq(memcmp(buf, want, len), 0);
}

Test(pipe_basic, boundaries_are_kept_and_empty_messages_count) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, true), 0);
    send_str(a, "a");
    send_str(a, "b");
    send_str(a, "");
    send_str(a, "cd");
    send_str(a, "");
    expect_msg(b, "a");
    expect_msg(b, "b");
    expect_msg(b, "");
    expect_msg(b, "cd");
    expect_msg(b, "");
    size_t len;
    char buf[4];
    expect_rc(pc_conn_recv(b, buf, sizeof buf, &len, 0), -ETIMEDOUT);
    pc_conn_free(a);
    pc_conn_free(b);
}

Test(pipe_basic, duplex_both_ways) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, true), 0);
    cr_assert_eq(pc_conn_flags(a), PC_CONN_DUPLEX);
    cr_assert_eq(pc_conn_flags(b), PC_CONN_DUPLEX);
    send_str(a, "ping");
    expect_msg(b, "ping");
    send_str(b, "pong");
    expect_msg(a, "pong");
    pc_conn_free(a);
    pc_conn_free(b);
}

Test(pipe_basic, one_way_refuses_the_wrong_direction) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    cr_assert_eq(pc_conn_flags(r), PC_CONN_READ);
    cr_assert_eq(pc_conn_flags(w), PC_CONN_WRITE);
    size_t len;
    char buf[8];
    expect_rc(pc_conn_send(r, "x", 1, 1.0), -EPERM);
    expect_rc(pc_conn_flush(r, 1.0), -EPERM);
    expect_rc(pc_conn_recv(w, buf, sizeof buf, &len, 1.0), -EPERM);
    expect_rc(pc_conn_poll(w, 0), -EPERM);
    void *p;
    expect_rc(pc_conn_recv_alloc(w, &p, &len, 1.0), -EPERM);
    /* Even through the raw fd, nothing flows backwards. */
    cr_assert_lt(send(pc_conn_fileno(r), "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT), 0);
    send_str(w, "one way");
    expect_msg(r, "one way");
    pc_conn_free(r);
    pc_conn_free(w);
}

Test(pipe_basic, too_small_a_buffer_keeps_the_message) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, false), 0);
    send_str(b, "hello, world");
    send_str(b, "next");
    char small[4], big[64];
    size_t len = 0;
    expect_rc(pc_conn_recv(a, small, sizeof small, &len, 5.0), -EMSGSIZE);
    cr_assert_eq(len, 12);
    len = 0;
    expect_rc(pc_conn_recv(a, NULL, 0, &len, 0), -EMSGSIZE); /* ask for the size */
    cr_assert_eq(len, 12);
    expect_rc(pc_conn_recv(a, big, sizeof big, &len, 5.0), 0);
    cr_assert_eq(len, 12);
    cr_assert_eq(memcmp(big, "hello, world", 12), 0);
    expect_msg(a, "next");
    pc_conn_free(a);
    pc_conn_free(b);
}

Test(pipe_basic, recv_alloc) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, true), 0);
    send_str(a, "");
    static char big[300000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    /* Bigger than the socket buffer: the reader drains while it is sent. */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        _exit(pc_conn_send(a, big, sizeof big, 10.0) == 0 ? 0 : 1);
    }
    void *p = NULL;
    size_t len = 99;
    expect_rc(pc_conn_recv_alloc(b, &p, &len, 5.0), 0);
    cr_assert_not_null(p);
    cr_assert_eq(len, 0);
    pc_conn_buf_free(p);
    expect_rc(pc_conn_recv_alloc(b, &p, &len, 10.0), 0);
    cr_assert_eq(len, sizeof big);
    cr_assert_eq(memcmp(p, big, sizeof big), 0);
    pc_conn_buf_free(p);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    pc_conn_free(a);
    pc_conn_free(b);
}

Test(pipe_basic, poll_with_timeout) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, true), 0);
    expect_rc(pc_conn_poll(b, 0), 0);
    double t0 = pc_now();
    expect_rc(pc_conn_poll(b, 0.2), 0);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5, "poll waited %.3f s", dt);
    send_str(a, "");
    expect_rc(pc_conn_poll(b, 0), 1);
    expect_rc(pc_conn_poll(b, 1.0), 1); /* consumes nothing */
    expect_msg(b, "");
    expect_rc(pc_conn_poll(b, 0), 0);
    pc_conn_close(a);
    expect_rc(pc_conn_poll(b, 1.0), 1); /* end of stream is something to receive */
    pc_conn_free(a);
    pc_conn_free(b);
}

Test(pipe_basic, recv_timeout_is_kept) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, true), 0);
    char buf[8];
    size_t len;
    double t0 = pc_now();
    expect_rc(pc_conn_recv(b, buf, sizeof buf, &len, 0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5, "recv waited %.3f s", dt);
    pc_conn_free(a);
    pc_conn_free(b);
}

Test(pipe_basic, end_of_stream_once_every_writer_is_closed) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) { /* holds a copy of w until told to go */
        char x;
        pc_conn_free(r);
        close(go[1]);
        if (read(go[0], &x, 1) != 1)
            _exit(2);
        _exit(pc_conn_send(w, "from child", 10, 5.0) == 0 ? 0 : 1);
    }
    close(go[0]);
    send_str(w, "from parent");
    pc_conn_free(w);
    expect_msg(r, "from parent");
    /* The child still holds a writer: no end of stream yet. */
    size_t len;
    char buf[32];
    expect_rc(pc_conn_recv(r, buf, sizeof buf, &len, 0.1), -ETIMEDOUT);
    cr_assert_eq(write(go[1], "g", 1), 1);
    expect_msg(r, "from child");
    expect_rc(pc_conn_recv(r, buf, sizeof buf, &len, 10.0), -EPIPE);
    expect_rc(pc_conn_recv(r, buf, sizeof buf, &len, 10.0), -EPIPE); /* sticky */
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(go[1]);
    pc_conn_free(r);
}

Test(pipe_basic, end_of_stream_with_unread_data_on_the_other_side) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, true), 0);
    send_str(b, "unread by a");
    send_str(a, "last");
    pc_conn_free(a); /* closes with data unread: b's socket sees a reset */
    expect_msg(b, "last");
    char buf[8];
    size_t len;
    expect_rc(pc_conn_recv(b, buf, sizeof buf, &len, 5.0), -EPIPE);
    expect_rc(pc_conn_send(b, "x", 1, 5.0), -EPIPE);
    pc_conn_free(b);
}

Test(pipe_basic, send_to_a_closed_reader_is_epipe_not_sigpipe) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    pc_conn_free(r);
    expect_rc(pc_conn_send(w, "x", 1, 5.0), -EPIPE);
    pc_conn_free(w);
}

Test(pipe_basic, close_then_calls_are_ebadf) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, true), 0);
    expect_rc(pc_conn_close(a), 0);
    expect_rc(pc_conn_close(a), 0);
    char buf[4];
    size_t len;
    expect_rc(pc_conn_send(a, "x", 1, 1.0), -EBADF);
    expect_rc(pc_conn_flush(a, 1.0), -EBADF);
    expect_rc(pc_conn_recv(a, buf, sizeof buf, &len, 1.0), -EBADF);
    expect_rc(pc_conn_poll(a, 1.0), -EBADF);
    expect_rc(pc_conn_fileno(a), -EBADF);
    expect_rc(pc_conn_recv(b, buf, sizeof buf, &len, 1.0), -EPIPE);
    pc_conn_free(a);
    pc_conn_free(b);
    pc_conn_free(NULL);
}

Test(pipe_basic, invalid_arguments) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(NULL, &b, true), -EINVAL);
    expect_rc(pc_pipe(&a, NULL, true), -EINVAL);
    expect_rc(pc_pipe(&a, &b, true), 0);
    size_t len;
    char buf[4];
    void *p;
    expect_rc(pc_conn_send(NULL, "x", 1, 1.0), -EINVAL);
    expect_rc(pc_conn_send(a, NULL, 1, 1.0), -EINVAL);
    expect_rc(pc_conn_send(a, "x", 1, 0.0 / 0.0), -EINVAL);
    expect_rc(pc_conn_send(a, NULL, 0, 1.0), 0); /* an empty message */
    expect_rc(pc_conn_recv(b, NULL, 4, &len, 1.0), -EINVAL);
    expect_rc(pc_conn_recv(b, buf, sizeof buf, NULL, 1.0), -EINVAL);
    expect_rc(pc_conn_recv(NULL, buf, sizeof buf, &len, 1.0), -EINVAL);
    expect_rc(pc_conn_recv_alloc(b, NULL, &len, 1.0), -EINVAL);
    expect_rc(pc_conn_recv_alloc(b, &p, NULL, 1.0), -EINVAL);
    expect_rc(pc_conn_poll(NULL, 1.0), -EINVAL);
    expect_rc(pc_conn_poll(b, 0.0 / 0.0), -EINVAL);
    expect_rc(pc_conn_flush(NULL, 1.0), -EINVAL);
    expect_rc(pc_conn_close(NULL), -EINVAL);
    expect_rc(pc_conn_fileno(NULL), -EINVAL);
    cr_assert_eq(pc_conn_flags(NULL), 0);
    expect_rc(pc_conn_recv(b, NULL, 0, &len, 1.0), 0);
    cr_assert_eq(len, 0);
    pc_conn_free(a);
    pc_conn_free(b);
}

Test(pipe_basic, fds_are_cloexec_and_nonblocking) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, false), 0);
    for (int i = 0; i < 2; i++) {
        int fd = pc_conn_fileno(i ? b : a);
        cr_assert_geq(fd, 0);
        cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        cr_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    }
    pc_conn_free(a);
    pc_conn_free(b);
}

/* A child that runs a new image gets the fd by number; here the child
 * rebuilds the connection from a dup2'd fd without CLOEXEC, as a spawned
 * program would after exec. */
Test(pipe_basic, from_fd_rebuilds_a_connection) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fd = dup2(pc_conn_fileno(w), 50); /* the spawner's dup2: no CLOEXEC */
        if (fd != 50 || (fcntl(fd, F_GETFD) & FD_CLOEXEC))
            _exit(3);
        pc_conn *c;
        if (pc_conn_from_fd(&c, 50, PC_CONN_WRITE) != 0)
            _exit(4);
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC) || pc_conn_fileno(c) != 50)
            _exit(5);
        _exit(pc_conn_send(c, "rebuilt", 7, 5.0) == 0 ? 0 : 1);
    }
    pc_conn_free(w);
    expect_msg(r, "rebuilt");
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    size_t len;
    expect_rc(pc_conn_recv(r, NULL, 0, &len, 5.0), -EPIPE);
    pc_conn_free(r);

    pc_conn *c;
    int p[2];
    cr_assert_eq(pipe(p), 0);
    expect_rc(pc_conn_from_fd(&c, p[0], PC_CONN_READ), -EINVAL); /* not a socket */
    expect_rc(pc_conn_from_fd(&c, 1000, PC_CONN_READ), -EBADF);
    expect_rc(pc_conn_from_fd(&c, -1, PC_CONN_READ), -EBADF);
    expect_rc(pc_conn_from_fd(&c, p[0], 0), -EINVAL);
    expect_rc(pc_conn_from_fd(&c, p[0], 4), -EINVAL);
    expect_rc(pc_conn_from_fd(NULL, p[0], PC_CONN_READ), -EINVAL);
    close(p[0]);
    close(p[1]);
}

/* The seed's son_process, with a plain fork: 1000 messages, then the end
 * of stream ends the child's loop. */
Test(pipe_basic, a_thousand_messages_to_a_child_until_end_of_stream) {
    pc_conn *out, *in;
    expect_rc(pc_pipe(&out, &in, true), 0);
    int res[2];
    cr_assert_eq(pipe(res), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        pc_conn_free(in);
        close(res[0]);
        long sum = 0, n = 0;
        int i, r;
        size_t len;
        while ((r = pc_conn_recv(out, &i, sizeof i, &len, 10.0)) == 0) {
            if (len != sizeof i || i != n)
                _exit(1);
            sum += i;
            n++;
        }
        if (r != -EPIPE)
            _exit(2);
        _exit(write(res[1], &sum, sizeof sum) == sizeof sum ? 0 : 3);
    }
    close(res[1]);
    pc_conn_free(out);
    for (int i = 0; i < 1000; i++)
        expect_rc(pc_conn_send(in, &i, sizeof i, 10.0), 0);
    pc_conn_free(in);
    long sum = 0;
    cr_assert_eq(read(res[0], &sum, sizeof sum), (ssize_t)sizeof sum);
    cr_assert_eq(sum, 999L * 1000 / 2);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    close(res[0]);
}
