/*
 * The forkserver start method.
 *
 * The server is this program run again (spawn.c's pc__exec_self with the
 * PYCONC_FORKSERVER_FD marker); its constructor (child.c) enters
 * pc__forkserver_main before main(), so it is single-threaded and has run
 * none of the application's code: a fork of it copies no lock some other
 * thread held.  One server per process, started at the first forkserver
 * start; its parent holds the control socket (SOCK_SEQPACKET).
 *
 * A request carries two new sockets as SCM_RIGHTS: the child's channel
 * (the same wire as spawn, so the child resolves its target by name: the
 * server's image has its own addresses) and a status socket.  The server
 * forks, answers with the child's pid and a pidfd of it, and when the
 * child ends it reaps it (it is the real parent: waitid works only there)
 * and writes the exit code on the status socket.  So in the parent the
 * pidfd is the sentinel and signals' target, and join reads the status
 * socket.  The server watches its children with a signalfd for SIGCHLD
 * (blocked in the server only: its own process, no application's
 * handler to take).  When the control socket reaches end of stream (the
 * parent exited or forked and closed it), the server terminates its
 * daemon children and exits; the others go on, as in Python.
 *
 * Rejected: forking the child with CLONE_PARENT so that the application
 * would be its real parent: glibc's fork is the only way to get a child
 * whose thread pointer, robust-mutex list and cached tid are right, and it
 * has no such flag; a raw clone would leave them stale.
 *
 * Client lock: fs_mu, held across one request and its answer (requests
 * from several threads are serialized; the channel handshake after it is
 * not under the lock).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../internal/alloc.h"
#include "process-internal.h"

struct fs_req {
    uint32_t magic;
    uint32_t daemon;
};
struct fs_reply {
    int32_t pid; /* or a negative errno */
};

/* ------------------------------------------------------------- server */

struct kid {
    pid_t pid;
    int status;
    bool daemon;
};

static struct kid *kids; /* the server's children; server only */
static int nkids, capkids;

static void __attribute__((noreturn)) server_exit(void) {
    for (int i = 0; i < nkids; i++)
        if (kids[i].daemon)
            kill(kids[i].pid, SIGTERM);
    _exit(0);
}

static void reap_kids(void) {
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        int32_t code = WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
        for (int i = 0; i < nkids; i++) {
            if (kids[i].pid != pid)
                continue;
            pc__write_all(kids[i].status, &code, sizeof code);
            close(kids[i].status);
            kids[i] = kids[--nkids];
            break;
        }
    }
}

static void serve_one(int ctl, int sfd, const sigset_t *old, void (*old_int)(int)) {
    struct fs_req req;
    int fds[2], nfds = 0;
    ssize_t n = pc__recv_fds(ctl, &req, sizeof req, fds, 2, &nfds);
    if (n == 0 || (n < 0 && n != -EINTR && n != -EMFILE))
        server_exit();
    if (n != (ssize_t)sizeof req || req.magic != PC__WIRE_MAGIC || nfds != 2) {
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        struct fs_reply bad = {.pid = n == -EMFILE ? -EMFILE : -EPROTO};
        pc__send_fds(ctl, &bad, sizeof bad, NULL, 0);
        return;
    }
    struct fs_reply rep;
    int pidfd = -1;
    if (nkids == capkids) {
        int cap = capkids ? 2 * capkids : 16;
        struct kid *k = pc__realloc(kids, (size_t)cap * sizeof *k);
        if (!k) {
            rep.pid = -ENOMEM;
            goto reply;
        }
        kids = k;
        capkids = cap;
    }
    pid_t me = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(ctl);
        close(sfd);
        close(fds[1]);
        for (int i = 0; i < nkids; i++)
            close(kids[i].status);
        signal(SIGINT, old_int);
        sigprocmask(SIG_SETMASK, old, NULL);
        pc__child_main(fds[0], me);
    }
    if (pid < 0) {
        rep.pid = -errno;
        goto reply;
    }
    kids[nkids++] = (struct kid){.pid = pid, .status = fds[1], .daemon = req.daemon};
    fds[1] = -1;
    rep.pid = pid;
    pidfd = pc__pidfd_open(pid);
    if (pidfd < 0)
        rep.pid = pidfd; /* the child then reads end of stream and exits */
reply:
    close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    pc__send_fds(ctl, &rep, sizeof rep, &pidfd, pidfd >= 0);
    if (pidfd >= 0)
        close(pidfd);
}

void pc__forkserver_main(int ctl) {
    signal(SIGCHLD, SIG_DFL); /* an ignored SIGCHLD, kept across exec, would reap for us */
    /* Ctrl-C at a terminal signals the whole process group: it is for the
     * application and its children, not for the server */
    void (*old_int)(int) = signal(SIGINT, SIG_IGN);
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        _exit(1);
    /* the parent's end: our stdin/stdout stay for the children */
    for (;;) {
        struct pollfd p[2] = {{.fd = ctl, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0) {
            }
            reap_kids();
        }
        if (p[0].revents)
            serve_one(ctl, sfd, &old, old_int);
    }
}

/* ------------------------------------------------------------- client */

static pthread_mutex_t fs_mu = PTHREAD_MUTEX_INITIALIZER;
static int fs_ctl = -1; /* guarded by fs_mu */
static pid_t fs_pid;    /* guarded by fs_mu */

void pc__forkserver_forget(void) {
    /* fork child: the server is the parent's */
    if (fs_ctl >= 0)
        close(fs_ctl);
    fs_ctl = -1;
    fs_pid = 0;
    fs_mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
}

static void server_lost(void) {
    close(fs_ctl);
    fs_ctl = -1;
    /* it was our child: reap it */
    while (waitpid(fs_pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

void pc__forkserver_stop(void) {
    pthread_mutex_lock(&fs_mu);
    if (fs_ctl >= 0)
        server_lost(); /* end of stream: it exits */
    pthread_mutex_unlock(&fs_mu);
}

/* One request; *pidfd and the sockets' parent ends on success. */
static int request(bool daemon, int *chan, int *status, pid_t *pid, int *pidfd) {
    int c[2], s[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c) != 0)
        return -errno;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) != 0) {
        int e = -errno;
        close(c[0]);
        close(c[1]);
        return e;
    }
    struct fs_req req = {.magic = PC__WIRE_MAGIC, .daemon = daemon};
    int give[2] = {c[1], s[1]};
    int rc = pc__send_fds(fs_ctl, &req, sizeof req, give, 2);
    close(c[1]);
    close(s[1]);
    struct fs_reply rep;
    int nfds = 0;
    if (rc == 0) {
        ssize_t n = pc__recv_fds(fs_ctl, &rep, sizeof rep, pidfd, 1, &nfds);
        rc = n < 0 ? (int)n : n != (ssize_t)sizeof rep ? -EPIPE : rep.pid < 0 ? rep.pid : 0;
        if (rc == 0 && nfds != 1)
            rc = -EPROTO;
        if (rc < 0 && nfds == 1)
            close(*pidfd);
    }
    if (rc < 0) {
        close(c[0]);
        close(s[0]);
        return rc;
    }
    *chan = c[0];
    *status = s[0];
    *pid = rep.pid;
    return 0;
}

int pc__forkserver_start(pc__process_rec *r, pc_process *p) {
    int chan = -1, status = -1, pidfd = -1, rc;
    pid_t pid = 0;
    pthread_mutex_lock(&fs_mu);
    for (int attempt = 0;; attempt++) {
        if (fs_ctl < 0) {
            rc = pc__exec_self(PC__ENV_SERVER, SOCK_SEQPACKET, &fs_ctl, &fs_pid);
            if (rc < 0) {
                fs_ctl = -1;
                break;
            }
        }
        rc = request(r->daemon, &chan, &status, &pid, &pidfd);
        /* a server that died (killed, or out of memory) is replaced once */
        if (rc == -EPIPE || rc == -ECONNRESET) {
            server_lost();
            if (attempt == 0)
                continue;
            rc = -ENOEXEC; /* twice: the program is no pyconc forkserver */
        }
        break;
    }
    pthread_mutex_unlock(&fs_mu);
    if (rc < 0)
        return rc;
    rc = pc__wire_send(chan, r, p);
    close(chan);
    if (rc < 0) {
        /* the server reaps it; wait for that so no report is left over */
        pc__pidfd_signal(pidfd, SIGKILL);
        int32_t code;
        pc__read_all(status, &code, sizeof code);
        close(status);
        close(pidfd);
        return rc;
    }
    r->pid = pid;
    r->pidfd = pidfd;
    r->statusfd = status;
    return 0;
}
