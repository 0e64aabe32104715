/* The bigger examples: the echo and HTTP servers answer real clients. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

struct server {
    pid_t pid;
    char port[16];
};

/* Start examples/<name> on a free port; read the port from its banner. */
static void start(struct server *s, const char *name) {
    int out[2];
    cr_assert_eq(pipe(out), 0);
    fflush(NULL);
    s->pid = fork();
    cr_assert(s->pid >= 0);
    if (s->pid == 0) {
        dup2(out[1], 1);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", PC_EXAMPLES_BIN_DIR, name);
        execl(path, name, "0", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char banner[256] = {0};
    size_t have = 0;
    ssize_t n;
    while (have < sizeof banner - 1 && !strchr(banner, '\n') &&
           (n = read(out[0], banner + have, sizeof banner - 1 - have)) > 0)
        have += (size_t)n;
    close(out[0]);
    char *colon = strrchr(banner, ':');
    cr_assert_not_null(colon, "banner: %s", banner);
    snprintf(s->port, sizeof s->port, "%d", atoi(colon + 1));
}

static void stop(struct server *s) {
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
}

static void recv_exactly(int fd, char *buf, size_t len) {
    size_t have = 0;
    while (have < len) {
        ssize_t n = pc_io_recv(fd, buf + have, len - have, 10.0);
        cr_assert(n > 0, "recv: %zd", n);
        have += (size_t)n;
    }
}

Test(examples, echo_server, .timeout = 30) {
    struct server s;
    start(&s, "echo_server");
    int fd = pc_io_connect_tcp("127.0.0.1", s.port, 10.0);
    cr_assert(fd >= 0, "connect: %s", pc_strerror(fd));
    char buf[64];
    expect_rc(pc_io_sendall(fd, "hello, echo", 11, 5.0), 0);
    recv_exactly(fd, buf, 11);
    cr_assert(memcmp(buf, "hello, echo", 11) == 0);
    pc_io_close(fd);
    stop(&s);
}

Test(examples, http_keep_alive_and_pipelining, .timeout = 30) {
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                "Content-Length: 13\r\n\r\nHello, world!";
    struct server s;
    start(&s, "http_server");
    int fd = pc_io_connect_tcp("127.0.0.1", s.port, 10.0);
    cr_assert(fd >= 0, "connect: %s", pc_strerror(fd));
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[512];
    for (int i = 0; i < 3; i++) { /* one connection, three requests */
        expect_rc(pc_io_sendall(fd, req, strlen(req), 5.0), 0);
        recv_exactly(fd, buf, sizeof reply - 1);
        cr_assert(memcmp(buf, reply, sizeof reply - 1) == 0);
    }
    char two[256]; /* two pipelined in one write */
    snprintf(two, sizeof two, "%s%s", req, req);
    expect_rc(pc_io_sendall(fd, two, strlen(two), 5.0), 0);
    recv_exactly(fd, buf, 2 * (sizeof reply - 1));
    const char *bye = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    expect_rc(pc_io_sendall(fd, bye, strlen(bye), 5.0), 0);
    recv_exactly(fd, buf, sizeof reply - 1);
    cr_assert_eq(pc_io_recv(fd, buf, 1, 5.0), 0, "the server closes after Connection: close");
    pc_io_close(fd);
    stop(&s);
}
