/*
 * The spawn start method, and what it shares with the forkserver: running
 * this program again with a marker in its environment, and the wire that
 * tells the new image what to run.
 *
 * The image is started with posix_spawn (glibc uses CLONE_VFORK: no copy
 * of a large parent's page tables, and an exec failure comes back as
 * posix_spawn's own return value, so start reports it).  The child end of
 * a close-on-exec socketpair is the one descriptor made inheritable (a
 * dup2 onto itself in the file actions clears its FD_CLOEXEC in the child
 * only, so no other thread's fork can leak it); its number is the value of
 * the marker variable.  The constructor in child.c finds it before main()
 * (see child.c), reads the wire, resolves the target, answers "ready" (or
 * why not) and runs it.  Start waits for that answer, so a child that
 * cannot run its target is start's error, not an odd exit code later.
 *
 * Rejected: vfork + exec by hand (the same cost as glibc's posix_spawn,
 * with the signal-mask care done twice); fork + exec (copies the parent's
 * page tables: slow for a large parent, the reason spawn exists).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../internal/alloc.h"
#include "../shared/shared-internal.h"
#include "process-internal.h"
#include "pyconc/loop.h"

extern char **environ;

static char *executable; /* guarded by: set before processes start (pc_set_executable) */

int pc_set_executable(const char *path) {
    char *copy = NULL;
    if (path && !(copy = pc__strdup(path)))
        return -ENOMEM;
    pc__free(executable);
    executable = copy;
    pc__forkserver_stop(); /* the next forkserver start runs the new program */
    return 0;
}

int pc__pidfd_open(pid_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd; /* pidfds are always close-on-exec */
}

int pc__pidfd_signal(int pidfd, int sig) {
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0)
        return 0;
    return -errno;
}

int pc__write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int pc__read_all(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n == 0)
            return -EPIPE;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int pc__send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds) {
    union {
        char buf[CMSG_SPACE(sizeof(int) * (PC_PROCESS_MAX_FDS + 2))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&u, 0, sizeof u);
        m.msg_control = u.buf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do
        n = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    /* the fds went with the first byte; the rest is plain data */
    return (size_t)n < len ? pc__write_all(sock, (const char *)buf + n, len - (size_t)n) : 0;
}

ssize_t pc__recv_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds) {
    union {
        char buf[CMSG_SPACE(sizeof(int) * (PC_PROCESS_MAX_FDS + 2))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    *nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *got = (int *)CMSG_DATA(c);
        for (int i = 0; i < k; i++) {
            if (*nfds < maxfds)
                fds[(*nfds)++] = got[i];
            else
                close(got[i]);
        }
    }
    if (m.msg_flags & MSG_CTRUNC)
        return -EMFILE; /* the kernel dropped fds: the receiver is out of them */
    return n;
}

/* environ without our markers, plus "var=fd". */
static char **child_env(const char *var, int fd) {
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = pc__malloc((n + 2) * sizeof *env + 64);
    if (!env)
        return NULL;
    char *mark = (char *)(env + n + 2);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "PYCONC_CHILD_FD=", 16) &&
            strncmp(environ[i], "PYCONC_FORKSERVER_FD=", 21))
            env[k++] = environ[i];
    snprintf(mark, 64, "%s=%d", var, fd);
    env[k++] = mark;
    env[k] = NULL;
    return env;
}

int pc__exec_self(const char *var, int type, int *chan, pid_t *pid) {
    int sv[2];
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0)
        return -errno;
    int rc = -ENOMEM;
    char **env = child_env(var, sv[1]);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_ok = false, attr_ok = false;
    if (!env)
        goto out;
    if ((rc = -posix_spawn_file_actions_init(&fa)) != 0)
        goto out;
    fa_ok = true;
    if ((rc = -posix_spawn_file_actions_adddup2(&fa, sv[1], sv[1])) != 0)
        goto out;
    if ((rc = -posix_spawnattr_init(&attr)) != 0)
        goto out;
    attr_ok = true;
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    const char *exe = executable ? executable : "/proc/self/exe";
    char *argv[] = {program_invocation_name, NULL};
    rc = -posix_spawn(pid, exe, &fa, &attr, argv, env);
out:
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    pc__free(env);
    close(sv[1]);
    if (rc != 0)
        close(sv[0]);
    else
        *chan = sv[0];
    return rc;
}

int pc__wire_send(int chan, pc__process_rec *r, pc_process *p) {
    pc__wire w = {.magic = PC__WIRE_MAGIC, .daemon = r->daemon, .parent_pid = getpid()};
    pc__fn_name fn;
    const void *payload;
    if (p->_run) {
        w.is_class = 1;
        payload = p;
        w.len = p->_size;
    } else {
        payload = r->arg;
        w.len = r->len;
    }
    int rc = pc__fn_name_of(p->_run ? (const void *)p->_run : (const void *)r->target, &fn);
    if (rc < 0)
        return rc;
    w.off = fn.off;
    w.code_len = fn.code_len;
    memcpy(w.code, fn.code, sizeof w.code);
    pc_process *cur = pc_process_current();
    const char *pname = pc_process_name(cur);
    w.path_len = (uint32_t)strlen(fn.path);
    w.name_len = (uint32_t)strlen(r->name);
    w.parent_name_len = (uint32_t)strlen(pname);
    w.pdeathsig = r->method == PC_START_FORKSERVER || gettid() == getpid();
    w.nfds = r->nfds;
    int fds[PC_PROCESS_MAX_FDS + 1];
    for (int i = 0; i < r->nfds; i++)
        w.fds[i] = fds[i] = r->fds[i];
    int heap_fd = pc__shared_heap_fd(); /* the child shares our shared heap */
    if (heap_fd >= 0)
        fds[w.has_heap = 1, r->nfds] = heap_fd;
    if ((rc = pc__send_fds(chan, &w, sizeof w, fds, r->nfds + (int)w.has_heap)) < 0 ||
        (rc = pc__write_all(chan, fn.path, w.path_len)) < 0 ||
        (rc = pc__write_all(chan, r->name, w.name_len)) < 0 ||
        (rc = pc__write_all(chan, pname, w.parent_name_len)) < 0 ||
        (rc = pc__write_all(chan, payload, w.len)) < 0) {
        /* the child died before reading it all: its answer says why */
        if (rc != -EPIPE && rc != -ECONNRESET)
            return rc;
    }
    /* the child's start takes a while (an exec, under spawn): a coroutine
     * parks meanwhile; no lock is held here */
    int32_t ready;
    rc = pc_wait_fd(chan, POLLIN, r->start_timeout); /* -ETIMEDOUT: the caller kills it */
    if (rc < 0 && rc != -EBUSY)
        return rc;
    rc = pc__read_all(chan, &ready, sizeof ready);
    if (rc < 0)
        return rc == -EPIPE || rc == -ECONNRESET ? -ENOEXEC : rc;
    return ready;
}

/* Reap a child that failed to start, so no zombie remains. */
static void reap_failed(pid_t pid) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

int pc__spawn_start(pc__process_rec *r, pc_process *p) {
    int chan;
    pid_t pid;
    int rc = pc__exec_self(PC__ENV_CHILD, SOCK_STREAM, &chan, &pid);
    if (rc < 0)
        return rc;
    int pidfd = pc__pidfd_open(pid);
    if (pidfd < 0) {
        kill(pid, SIGKILL);
        reap_failed(pid);
        close(chan);
        return pidfd;
    }
    rc = pc__wire_send(chan, r, p);
    close(chan);
    if (rc < 0) {
        pc__pidfd_signal(pidfd, SIGKILL);
        reap_failed(pid);
        close(pidfd);
        return rc;
    }
    r->pid = pid;
    r->pidfd = pidfd;
    return 0;
}
