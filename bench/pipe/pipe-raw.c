/*
 * Peer: raw file descriptors between two processes (bench/pipe/pipebench.h),
 * blocking read(2)/write(2), no framing.  --kind pipe (default): two
 * pipe2() pipes, one each way (the raw pipe round trip); --kind
 * socket: one unix SOCK_STREAM socket pair (the raw socketpair
 * throughput).  A receive reads until it has the bytes asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "pipebench.h"

static int fd[2][2]; /* [side][0 = read, 1 = write] */
static int spare[2][2];
static const char *kind;

static void make(void) {
    if (strcmp(kind, "socket") == 0) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            bench_die("socketpair");
        fd[0][0] = fd[0][1] = sv[0];
        fd[1][0] = fd[1][1] = sv[1];
        spare[0][0] = spare[0][1] = sv[1];
        spare[1][0] = spare[1][1] = sv[0];
    } else if (strcmp(kind, "pipe") == 0) {
        int up[2], down[2];
        if (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0)
            bench_die("pipe2");
        fd[0][0] = up[0], fd[0][1] = down[1];
        fd[1][0] = down[0], fd[1][1] = up[1];
        spare[0][0] = down[0], spare[0][1] = up[1];
        spare[1][0] = up[0], spare[1][1] = down[1];
    } else {
        bench_die("--kind pipe or socket");
    }
}

static void send_(int side, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd[side][1], p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            bench_die("write");
        p += n;
        len -= (size_t)n;
    }
}

static void recv_(int side, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd[side][0], p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            bench_die("read");
        p += n;
        len -= (size_t)n;
    }
}

static void close_spare(int side) {
    close(spare[side][0]);
    if (spare[side][1] != spare[side][0])
        close(spare[side][1]);
}

static void child_setup(void) {
    close_spare(1);
}

static void parent_setup(void) {
    close_spare(0);
}

static void extra_opts(void) {
    kind = bench_opt_str("kind", "pipe");
}

int main(int argc, char **argv) {
    static const pipebench_ops ops = {send_, recv_, child_setup, parent_setup};
    return pipebench_main(argc, argv, &ops, extra_opts, make);
}
