/* Pipe and Connection: messages and their boundaries, directions, sizes,
 * poll, end of stream, close, handing an fd over. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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
    /* Even through the raw fds, nothing flows backwards. */
    int rfd, wfd;
    expect_rc(pc_conn_fds(r, &rfd, &wfd), 0);
    cr_assert_eq(wfd, -1);
    cr_assert_eq(rfd, pc_conn_fileno(r));
    cr_assert_lt(write(rfd, "x", 1), 0);
    expect_rc(pc_conn_fds(w, &rfd, &wfd), 0);
    cr_assert_eq(rfd, -1);
    cr_assert_eq(wfd, pc_conn_fileno(w));
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

static bool sigpipe_in(int how) {
    sigset_t s;
    if (how == 0)
        pthread_sigmask(SIG_BLOCK, NULL, &s);
    else
        sigpending(&s);
    return sigismember(&s, SIGPIPE) == 1;
}

Test(pipe_basic, send_to_a_closed_reader_is_epipe_not_sigpipe) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    pc_conn_free(r);
    expect_rc(pc_conn_send(w, "x", 1, 5.0), -EPIPE);
    expect_rc(pc_conn_send(w, "x", 1, PC_FOREVER), -EPIPE); /* the blocking write too */
    cr_assert(!sigpipe_in(0), "the mask was not restored");
    cr_assert(!sigpipe_in(1), "a SIGPIPE was left pending");
    pc_conn_free(w);
    /* Duplex: the peer gone. */
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, true), 0);
    pc_conn_free(b);
    expect_rc(pc_conn_send(a, "x", 1, 5.0), -EPIPE);
    pc_conn_free(a);
}

/* A thread that blocks SIGPIPE itself keeps its mask and what was pending
 * before the send: only the SIGPIPE the send raised is taken back. */
Test(pipe_basic, sigpipe_already_blocked_or_pending_is_left_alone) {
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    cr_assert_eq(pthread_sigmask(SIG_BLOCK, &pipe_set, &old), 0);
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    pc_conn_free(r);
    expect_rc(pc_conn_send(w, "x", 1, 5.0), -EPIPE);
    cr_assert(sigpipe_in(0), "the caller's block was undone");
    cr_assert(!sigpipe_in(1), "the send left its SIGPIPE pending");
    cr_assert_eq(pthread_kill(pthread_self(), SIGPIPE), 0); /* the caller's own */
    cr_assert(sigpipe_in(1));
    expect_rc(pc_conn_send(w, "x", 1, 5.0), -EPIPE);
    cr_assert(sigpipe_in(1), "the caller's pending SIGPIPE was taken");
    struct timespec zero = {0, 0};
    cr_assert_eq(sigtimedwait(&pipe_set, NULL, &zero), SIGPIPE);
    cr_assert_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
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

/* Pipes, close-on-exec and blocking (pyconc asks for a non-blocking read
 * or write with RWF_NOWAIT); a duplex end has a read and a write fd. */
Test(pipe_basic, fds_are_cloexec_pipes) {
    for (int duplex = 0; duplex < 2; duplex++) {
        pc_conn *a, *b;
        expect_rc(pc_pipe(&a, &b, duplex), 0);
        for (int i = 0; i < 2; i++) {
            int fd[2];
            expect_rc(pc_conn_fds(i ? b : a, &fd[0], &fd[1]), 0);
            for (int j = 0; j < 2; j++) {
                if (!duplex && j != i) {
                    cr_assert_eq(fd[j], -1);
                    continue;
                }
                struct stat st;
                cr_assert_eq(fstat(fd[j], &st), 0);
                cr_assert(S_ISFIFO(st.st_mode));
                cr_assert(fcntl(fd[j], F_GETFD) & FD_CLOEXEC);
                cr_assert_eq(fcntl(fd[j], F_GETFL) & (O_ACCMODE | O_NONBLOCK),
                             j ? O_WRONLY : O_RDONLY);
            }
            cr_assert_eq(pc_conn_fileno(i ? b : a), fd[duplex || !i ? 0 : 1]);
        }
        pc_conn_free(a);
        pc_conn_free(b);
    }
    expect_rc(pc_conn_fds(NULL, NULL, NULL), -EINVAL);
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
    expect_rc(pc_conn_from_fd(&c, p[0], PC_CONN_WRITE), -EINVAL);  /* wrong direction */
    expect_rc(pc_conn_from_fd(&c, p[1], PC_CONN_READ), -EINVAL);   /* wrong direction */
    expect_rc(pc_conn_from_fd(&c, p[0], PC_CONN_DUPLEX), -EINVAL); /* one pipe fd */
    expect_rc(pc_conn_from_fd(&c, 1000, PC_CONN_READ), -EBADF);
    expect_rc(pc_conn_from_fd(&c, -1, PC_CONN_READ), -EBADF);
    expect_rc(pc_conn_from_fd(&c, p[0], 0), -EINVAL);
    expect_rc(pc_conn_from_fd(&c, p[0], 4), -EINVAL);
    expect_rc(pc_conn_from_fd(NULL, p[0], PC_CONN_READ), -EINVAL);
    expect_rc(pc_conn_from_fds(&c, -1, -1), -EINVAL);
    expect_rc(pc_conn_from_fds(&c, -2, p[1]), -EBADF);
    expect_rc(pc_conn_from_fds(NULL, p[0], p[1]), -EINVAL);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    cr_assert_geq(devnull, 0);
    expect_rc(pc_conn_from_fds(&c, devnull, -1), -EINVAL); /* not a pipe */
    close(devnull);
    /* A plain pipe of the caller's is taken as it is. */
    pc_conn *cr, *cw;
    expect_rc(pc_conn_from_fd(&cr, p[0], PC_CONN_READ), 0);
    expect_rc(pc_conn_from_fds(&cw, -1, p[1]), 0);
    cr_assert_eq(pc_conn_flags(cw), PC_CONN_WRITE);
    send_str(cw, "plain");
    pc_conn_free(cw);
    expect_msg(cr, "plain");
    expect_rc(pc_conn_recv(cr, NULL, 0, &len, 5.0), -EPIPE);
    pc_conn_free(cr);
}

/* A duplex end handed to a new image: both fds at chosen numbers, as
 * pc_process_opts.pass_fds or a spawner's dup2 would, then
 * pc_conn_from_fds; it answers the parent's message. */
Test(pipe_basic, a_duplex_end_is_rebuilt_from_its_two_fds) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, true), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        pc_conn_free(a);
        int rfd, wfd;
        if (pc_conn_fds(b, &rfd, &wfd) != 0 || dup2(rfd, 60) != 60 || dup2(wfd, 61) != 61)
            _exit(3);
        pc_conn *c;
        if (pc_conn_from_fds(&c, 60, 61) != 0 || pc_conn_flags(c) != PC_CONN_DUPLEX)
            _exit(4);
        pc_conn_free(b); /* only the rebuilt copy is left */
        char buf[16];
        size_t len;
        if (pc_conn_recv(c, buf, sizeof buf, &len, 10.0) != 0 || len != 4 ||
            memcmp(buf, "ping", 4) != 0)
            _exit(5);
        _exit(pc_conn_send(c, "pong", 4, 10.0) == 0 ? 0 : 1);
    }
    pc_conn_free(b);
    send_str(a, "ping");
    expect_msg(a, "pong");
    size_t len;
    expect_rc(pc_conn_recv(a, NULL, 0, &len, 10.0), -EPIPE); /* every copy of b is gone */
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    pc_conn_free(a);
}

/* A unix stream socket is still a transport (the one before pipes). */
Test(pipe_basic, a_socket_is_a_duplex_connection_too) {
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pc_conn *a, *b;
    expect_rc(pc_conn_from_fd(&a, sv[0], PC_CONN_DUPLEX), 0);
    expect_rc(pc_conn_from_fds(&b, sv[1], sv[1]), 0);
    cr_assert_eq(pc_conn_flags(b), PC_CONN_DUPLEX);
    send_str(a, "there");
    expect_msg(b, "there");
    send_str(b, "back");
    expect_msg(a, "back");
    pc_conn_free(b);
    expect_rc(pc_conn_send(a, "x", 1, 5.0), -EPIPE);
    cr_assert(!sigpipe_in(1));
    size_t len;
    expect_rc(pc_conn_recv(a, NULL, 0, &len, 5.0), -EPIPE);
    pc_conn_free(a);
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
