/* The connection object shared by the files of src/pipe/. */
#ifndef PC_PIPE_CONN_INTERNAL_H
#define PC_PIPE_CONN_INTERNAL_H

#include <stdint.h>

#include "pyconc/pipe.h"
#include "pyconc/sync.h"

/* The length prefix of every message on the wire: a native-endian 64-bit
 * count (both ends are on the same machine). */
#define PC__CONN_HDR 8

struct pc_conn {
    /* Set at creation; set to -1 by pc_conn_close with both locks held, so
     * either lock suffices to read it (unlocked in pc_conn_fileno only). */
    int fd;
    unsigned flags; /* PC_CONN_READ | PC_CONN_WRITE; immutable */

    /* Lock order: slock before rlock (only pc_conn_close takes both). */
    pc_lock slock; /* one sender at a time */
    pc_lock rlock; /* one receiver (or poller) at a time */

    /* Send side, all guarded by slock. */
    int swfd;            /* a dup of fd that send waits on (see conn_wait), or -1 */
    bool send_shut;      /* shut down for sending after a failed commit */
    unsigned char *tail; /* the committed rest of a message, or NULL */
    size_t tail_len;     /* its size */
    size_t tail_off;     /* how much of it went out */

    /* Receive side, all guarded by rlock. */
    int rwfd;                        /* dup of fd that recv/poll wait on, or -1 */
    bool eof;                        /* end of stream seen: sticky */
    unsigned char hdr[PC__CONN_HDR]; /* the length of the message being received */
    size_t hdr_have;                 /* bytes of hdr read so far */
    unsigned char *part;             /* body bytes read before a timeout, or NULL */
    size_t part_len;                 /* how many of them */

    /* The list of live connections for the atfork child handler; guarded
     * by the registry mutex of conn.c. */
    struct pc_conn *prev, *next;
};

/* Wait until the connection's fd is ready for `events` (POLLIN/POLLOUT)
 * or the deadline passes: > 0, or -ETIMEDOUT, -ECANCELED, -errno.  *wfd is
 * the direction's private dup (guarded by that direction's lock). */
int pc__conn_wait(pc_conn *c, int *wfd, int events, int64_t deadline);

#endif
