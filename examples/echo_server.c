/*
 * A TCP echo server, one coroutine per connection (gevent's StreamServer).
 *
 *   echo_server [PORT]          serve on 127.0.0.1:PORT (default 7000)
 *
 * Every connection's handler reads and writes as if it had a thread of its
 * own; each read that would block parks only its coroutine, so one thread
 * serves every client.
 */
#include <pyconc.h>
#include <stdio.h>
#include <stdlib.h>

static int echo(int conn, void *arg) {
    (void)arg;
    char buf[4096];
    ssize_t n;
    while ((n = pc_io_recv(conn, buf, sizeof buf, 60.0)) > 0) /* idle clients: 60 s */
        if (pc_io_sendall(conn, buf, (size_t)n, 10.0) != 0)
            break;
    return 0; /* the server closes conn */
}

int main(int argc, char **argv) {
    const char *port = argc > 1 ? argv[1] : "7000";
    int fd = pc_io_listen_tcp("127.0.0.1", port, 128);
    if (fd < 0) {
        fprintf(stderr, "listen on port %s: %s\n", port, pc_strerror(fd));
        return 1;
    }
    printf("echo server on 127.0.0.1:%d\n", pc_io_local_port(fd));
    fflush(stdout);
    pc_io_server *srv;
    int r = pc_io_serve(&srv, fd, echo, NULL);
    if (r == 0)
        r = pc_loop_run(pc_loop_current()); /* serves until killed */
    fprintf(stderr, "echo server: %s\n", pc_strerror(r));
    return r ? 1 : 0;
}
