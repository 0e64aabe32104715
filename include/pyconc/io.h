/*
 * pyconc/io.h - cooperative IO: gevent's sockets, for coroutines and threads.
 *
 *   Python (gevent.socket / asyncio)        pyconc
 *   socket.create_connection((h, p), t)     pc_io_connect_tcp(h, p, t)
 *   server = socket(); bind; listen         pc_io_listen_tcp(h, p, backlog)
 *   conn, addr = s.accept()                 pc_io_accept(fd, &addr, &len, timeout)
 *   s.recv(n) / s.send(b) / s.sendall(b)    pc_io_recv / pc_io_send / pc_io_sendall
 *   s.recvfrom(n) / s.sendto(b, addr)       pc_io_recvfrom / pc_io_sendto
 *   s.shutdown(how) / s.close()             pc_io_shutdown / pc_io_close
 *   os.pipe()                               pc_io_pipe (non-blocking ends)
 *   socket.getaddrinfo(...)                 pc_io_resolve
 *   gevent.server.StreamServer(addr, h)     pc_io_serve
 *
 * Sockets are plain file descriptors, non-blocking and close-on-exec when
 * pyconc makes them (pc_io_set_nonblocking prepares one made elsewhere).
 * Each blocking call takes a timeout (seconds, PC_FOREVER, 0) as its last
 * argument.  In a coroutine it parks only the coroutine until the fd is
 * ready (pc_wait_fd); in a plain thread it waits in poll(2).  Byte counts
 * are returned as ssize_t: the count, 0 at end of stream for a receive, or
 * a negative errno (-ETIMEDOUT, -ECANCELED when the coroutine was killed,
 * -EPIPE / -ECONNRESET from the peer, -EBUSY when another coroutine waits
 * on the same fd already).
 */
#ifndef PYCONC_IO_H
#define PYCONC_IO_H

#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "base.h"
#include "coro.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Make an fd non-blocking (and close-on-exec).  0 or -errno. */
PC_EXTERN int pc_io_set_nonblocking(int fd);

/* socket(2), non-blocking and close-on-exec: the fd or -errno. */
PC_EXTERN int pc_io_socket(int domain, int type, int protocol);

/*
 * Resolve host and port (service) to addresses, without blocking the
 * loop: the lookup runs on the default executor (pc_loop_run_in_executor)
 * and the caller waits on its future (a coroutine parks meanwhile).  *res is freed with
 * freeaddrinfo().  0; -ENOENT (no such host), -EAGAIN (temporary failure), -ETIMEDOUT, -ECANCELED
 * (the waiting coroutine was killed), -ENOMEM, -EINVAL.
 */
PC_EXTERN int pc_io_resolve(const char *host, const char *port, int socktype, struct addrinfo **res,
                            double timeout);

/* A listening TCP socket bound to host:port (host NULL: every address;
 * port "0": any free port, see pc_io_local_port).  The fd or -errno. */
PC_EXTERN int pc_io_listen_tcp(const char *host, const char *port, int backlog);
/* The local port a socket is bound to, or -errno. */
PC_EXTERN int pc_io_local_port(int fd);

/* Connect fd to addr, waiting up to timeout.  0 or -errno (-ETIMEDOUT,
 * -ECONNREFUSED, ...). */
PC_EXTERN int pc_io_connect(int fd, const struct sockaddr *addr, socklen_t len, double timeout);
/* Resolve and connect, trying each address within one timeout: the
 * connected fd or -errno. */
PC_EXTERN int pc_io_connect_tcp(const char *host, const char *port, double timeout);

/* Accept a connection: the new fd (non-blocking, close-on-exec) or -errno.
 * addr/len may be NULL. */
PC_EXTERN int pc_io_accept(int fd, struct sockaddr *addr, socklen_t *len, double timeout);

PC_EXTERN ssize_t pc_io_recv(int fd, void *buf, size_t len, double timeout);
PC_EXTERN ssize_t pc_io_send(int fd, const void *buf, size_t len, double timeout);
/* Send all of buf within one timeout: 0, or -errno (what was sent before
 * an error stays sent, as with Python's sendall). */
PC_EXTERN int pc_io_sendall(int fd, const void *buf, size_t len, double timeout);
PC_EXTERN ssize_t pc_io_recvfrom(int fd, void *buf, size_t len, struct sockaddr *from,
                                 socklen_t *fromlen, double timeout);
PC_EXTERN ssize_t pc_io_sendto(int fd, const void *buf, size_t len, const struct sockaddr *to,
                               socklen_t tolen, double timeout);
/* read(2)/write(2) for pipes and other fds, cooperatively. */
PC_EXTERN ssize_t pc_io_read(int fd, void *buf, size_t len, double timeout);
PC_EXTERN ssize_t pc_io_write(int fd, const void *buf, size_t len, double timeout);
/* A pipe with both ends non-blocking and close-on-exec.  0 or -errno. */
PC_EXTERN int pc_io_pipe(int fds[2]);

PC_EXTERN int pc_io_shutdown(int fd, int how);
PC_EXTERN int pc_io_close(int fd);

/* ---------------------------------------------------------- stream server */

typedef struct pc_io_server pc_io_server;

/* A connection handler: runs in a coroutine of its own; owns conn_fd (the
 * server closes it after the handler returns). */
typedef int (*pc_io_handler)(int conn_fd, void *arg);

/*
 * gevent's StreamServer: accept on listen_fd in a coroutine of the calling
 * thread's loop and run handler(conn, arg) in a new coroutine per
 * connection.  Runs until pc_io_server_stop.  0, -EINVAL, -ENOMEM.
 */
PC_EXTERN int pc_io_serve(pc_io_server **s, int listen_fd, pc_io_handler handler, void *arg);
/* Stop accepting (running handlers go on) and free the server once its
 * accept coroutine has ended.  Call on the server's loop thread. */
PC_EXTERN int pc_io_server_stop(pc_io_server *s);

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_IO_H */
