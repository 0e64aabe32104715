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
 * argument; 0 never waits (-ETIMEDOUT where it would).  In a coroutine it
 * parks only the coroutine until the fd is ready; in a plain thread it
 * waits in poll(2).  Byte counts are returned as ssize_t: the count, 0 at
 * end of stream for a receive, or a negative errno (-ETIMEDOUT,
 * -ECANCELED when the coroutine was killed, -EPIPE / -ECONNRESET from the
 * peer, -EBADF when pc_io_close closed the fd meanwhile, -EBUSY when
 * another coroutine of the same loop waits on the fd in the same
 * direction already; one reader and one writer may wait on one fd).
 *
 * The fd contract.  A loop registers an fd with its epoll once, at the
 * first wait, and keeps it registered (edge-triggered) across waits, as a
 * plain epoll server does.  For that to stay correct when numbers are
 * reused:
 *   - fds made by pc_io (pc_io_socket, pc_io_accept, pc_io_pipe,
 *     pc_io_listen_tcp, pc_io_connect_tcp) are closed with pc_io_close,
 *     never close(2) (nor dup2 over them): pc_io_close tells every loop
 *     that the number's file is gone.  Such fds get the fast path: a wait
 *     after EAGAIN costs no system call.
 *   - any other fd (made by socket(2), accept(2), open(2)...) may be used
 *     with these calls and closed either way; each of its waits then
 *     re-registers it (one epoll_ctl).
 * Closing a pc_io fd with close(2) and having the number taken by an fd
 * made elsewhere can leave a later wait on that number parked for good:
 * undetectable at a price worth paying on every wait, so not detected.
 * Across fork(): the child shares the parent's epoll instances; use
 * pyconc IO in the child on a loop of a thread started there.
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
/*
 * Close fd, telling every loop to forget it (see "The fd contract"
 * above): coroutines of the calling thread's loop waiting on fd get
 * -EBADF; waits on other threads' loops end at their timeout, as with a
 * plain close.  0, or -errno from close(2) (EINTR counts as closed).
 * Thread-safe; coroutine-safe.
 */
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
