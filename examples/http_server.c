/*
 * An HTTP/1.1 keep-alive "hello world" server, one coroutine per
 * connection.
 *
 *   http_server [PORT]          serve on 127.0.0.1:PORT (default 8080)
 *   wrk -c 50 -d 10 http://127.0.0.1:8080/
 *
 * Each handler reads requests (up to the blank line that ends the
 * headers), answers each with a fixed body, and keeps the connection open
 * until the client closes it or says "Connection: close".
 */
#include <pyconc.h>
#include <stdio.h>
#include <string.h>

static const char reply[] = "HTTP/1.1 200 OK\r\n"
                            "Content-Type: text/plain\r\n"
                            "Content-Length: 13\r\n"
                            "\r\n"
                            "Hello, world!";

static int serve(int conn, void *arg) {
    (void)arg;
    char buf[8192];
    size_t have = 0;
    for (;;) {
        ssize_t n = pc_io_recv(conn, buf + have, sizeof buf - have - 1, 30.0);
        if (n <= 0)
            return 0; /* closed, idle too long, or an error: drop the connection */
        have += (size_t)n;
        buf[have] = '\0';
        char *end; /* answer every complete request in the buffer (pipelining) */
        while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
            *end = '\0';
            int close_after = strstr(buf, "Connection: close") != NULL;
            if (pc_io_sendall(conn, reply, sizeof reply - 1, 10.0) != 0 || close_after)
                return 0;
            size_t used = (size_t)(end + 4 - buf);
            memmove(buf, end + 4, have - used + 1);
            have -= used;
        }
        if (have == sizeof buf - 1)
            return 0; /* headers too long */
    }
}

int main(int argc, char **argv) {
    const char *port = argc > 1 ? argv[1] : "8080";
    int fd = pc_io_listen_tcp("127.0.0.1", port, 1024);
    if (fd < 0) {
        fprintf(stderr, "listen on port %s: %s\n", port, pc_strerror(fd));
        return 1;
    }
    printf("http server on http://127.0.0.1:%d/\n", pc_io_local_port(fd));
    fflush(stdout);
    pc_io_server *srv;
    int r = pc_io_serve(&srv, fd, serve, NULL);
    if (r == 0)
        r = pc_loop_run(pc_loop_current());
    fprintf(stderr, "http server: %s\n", pc_strerror(r));
    return r ? 1 : 0;
}
