/*
 * The child's side: entering a spawned image before main(), reading the
 * wire, and the calling process's own identity (current, parent, name
 * counter, daemon flag).
 *
 * Entry.  A constructor of the library (high priority, so before the
 * program's own constructors at default priority) looks for the marker
 * variables that spawn.c puts in the environment.  Found, it removes them
 * (so the target's own children, e.g. through system(), do not inherit
 * them) and never returns: a spawn child runs its target and _exit()s;
 * the forkserver serves until its parent goes.  So any program linked
 * with pyconc is a spawn child without a change to its main(); static
 * links keep this file because process.c calls into it.
 * Rejected: an argv marker checked by a pc_process_main(argc, argv) call
 * at the top of main (Python's freeze_support): every program would have
 * to call it, and code main() runs before it would run in every child.
 *
 * The end of a child: its stdio is flushed, its own daemon children are
 * terminated (pc__process_atexit), then _exit(status): the parent's
 * atexit handlers, copied by fork, must not run twice.
 *
 * State here is written once by the setup of the child, before the target
 * runs and before any other thread of the child exists, then only read.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../internal/alloc.h"
#include "../shared/shared-internal.h"
#include "process-internal.h"

static pc_process *current;   /* NULL: the main process (see pc_process_current) */
static pc_process parent_obj; /* the parent, in a child */
static pc__process_rec parent_rec;
static bool is_child, is_daemon;
static atomic_int name_counter; /* relaxed: only a counter */

static pc__process_rec main_rec = {.name = "MainProcess",
                                   .self = true,
                                   .state = PC__P_STARTED,
                                   .pidfd = -1,
                                   .statusfd = -1,
                                   .mu = PTHREAD_MUTEX_INITIALIZER};
static pc_process main_obj = {._rec = &main_rec};

pc_process *pc_process_current(void) {
    /* main_rec.pid stays 0: pc_process_pid() of a process's own object
     * is getpid(), right also in a plain fork() child */
    return current ? current : &main_obj;
}

pc_process *pc_process_parent(void) {
    return is_child ? &parent_obj : NULL;
}

bool pc__child_is_daemon(void) {
    return is_daemon;
}

void pc__child_next_name(char *buf, size_t cap) {
    int n = atomic_fetch_add_explicit(&name_counter, 1, memory_order_relaxed) + 1;
    if (is_child)
        snprintf(buf, cap, "%.40s:%d", pc_process_name(current), n);
    else
        snprintf(buf, cap, "Process-%d", n);
}

void pc__child_reset_after_fork(void) {
    /* a plain fork of this process (not a pyconc start): the same
     * identity, but it has no children yet */
    atomic_store_explicit(&name_counter, 0, memory_order_relaxed);
    main_rec.mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
}

/* Who we are, who our parent is; then the daemon's parent-death signal. */
static void become(pc_process *self, pc__process_rec *r, pid_t parent, const char *parent_name,
                   bool daemon, bool pdeathsig, pid_t real_parent) {
    r->self = true;
    r->state = PC__P_STARTED;
    r->pid = getpid();
    r->owner = parent;
    r->pidfd = r->statusfd = -1;
    r->mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    current = self;
    is_child = true;
    is_daemon = daemon;
    atomic_store_explicit(&name_counter, 0, memory_order_relaxed);
    parent_rec = (pc__process_rec){.foreign = true,
                                   .state = PC__P_STARTED,
                                   .pid = parent,
                                   .pidfd = -1,
                                   .statusfd = -1,
                                   .mu = PTHREAD_MUTEX_INITIALIZER};
    snprintf(parent_rec.name, sizeof parent_rec.name, "%s", parent_name);
    parent_obj._rec = &parent_rec;
    if (daemon && pdeathsig) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != real_parent) /* it died before the prctl */
            _exit(128 + SIGTERM);
    }
    /* a pidfd of the parent while it surely is that process: it is our real
     * parent still, or (forkserver) it waits for our answer */
    if (real_parent != parent || getppid() == parent)
        parent_rec.pidfd = pc__pidfd_open(parent);
}

static void __attribute__((noreturn)) finish(int status) {
    fflush(NULL);
    pc__process_atexit();
    _exit(status & 0xff);
}

void pc__child_run_forked(pc__process_rec *r, pc_process *p) {
    pid_t parent = getppid();
    for (int i = 0; i < r->nfds; i++) /* inheritable, as under the other methods */
        fcntl(r->fds[i], F_SETFD, 0);
    become(p, r, parent, pc_process_name(pc_process_current()), r->daemon, r->pdeathsig, parent);
    finish(p->_run ? p->_run(p) : r->target(r->arg, r->len));
}

/* Put the received fds at the numbers the parent asked for: first move
 * them and the channel above every wanted number, then dup2 down (which
 * leaves them inheritable, as pass_fds promises). */
static int place_fds(int *got, const int32_t *want, int n, int *chan) {
    int top = 2;
    for (int i = 0; i < n; i++)
        if (want[i] > top)
            top = want[i];
    int moved = fcntl(*chan, F_DUPFD_CLOEXEC, top + 1);
    if (moved < 0)
        return -errno;
    close(*chan);
    *chan = moved;
    for (int i = 0; i < n; i++) {
        int m = fcntl(got[i], F_DUPFD_CLOEXEC, top + 1);
        if (m < 0)
            return -errno;
        close(got[i]);
        got[i] = m;
    }
    for (int i = 0; i < n; i++) {
        if (dup2(got[i], want[i]) < 0)
            return -errno;
        close(got[i]);
    }
    return 0;
}

static char *read_str(int chan, uint32_t len, int *rc) {
    char *s = pc__malloc((size_t)len + 1);
    if (!s) {
        *rc = -ENOMEM;
        return NULL;
    }
    if ((*rc = pc__read_all(chan, s, len)) < 0) {
        pc__free(s);
        return NULL;
    }
    s[len] = '\0';
    return s;
}

static void answer(int chan, int32_t rc) {
    pc__write_all(chan, &rc, sizeof rc);
}

/* Read the wire and set up; 0 and the object to run, or the error the
 * parent's start will return. */
static int setup(int chan, pc_process **self, pc__process_rec **rec, pid_t server) {
    bool from_server = server != 0;
    pc__wire w;
    int fds[PC_PROCESS_MAX_FDS + 1], nfds = 0;
    ssize_t got = pc__recv_fds(chan, &w, sizeof w, fds, PC_PROCESS_MAX_FDS + 1, &nfds);
    if (got < 0)
        return (int)got;
    if (got == 0)
        return -EPIPE;
    int rc =
        (size_t)got < sizeof w ? pc__read_all(chan, (char *)&w + got, sizeof w - (size_t)got) : 0;
    if (rc < 0)
        return rc;
    if (w.magic != PC__WIRE_MAGIC || w.nfds + (int)!!w.has_heap != nfds ||
        w.path_len >= sizeof(((pc__fn_name *)0)->path) || w.code_len > sizeof w.code)
        return -EPROTO;
    pc__fn_name *fn = pc__calloc(1, sizeof *fn);
    char *name = NULL, *pname = NULL, *path = NULL;
    pc__process_rec *r = pc__calloc(1, sizeof *r);
    void *payload = w.len ? pc__malloc(w.len) : NULL;
    rc = -ENOMEM;
    if (!fn || !r || (w.len && !payload))
        goto fail;
    if (!(path = read_str(chan, w.path_len, &rc)) || !(name = read_str(chan, w.name_len, &rc)) ||
        !(pname = read_str(chan, w.parent_name_len, &rc)))
        goto fail;
    if (w.len && (rc = pc__read_all(chan, payload, w.len)) < 0)
        goto fail;
    strcpy(fn->path, path);
    fn->off = w.off;
    fn->code_len = w.code_len;
    memcpy(fn->code, w.code, sizeof w.code);
    void *target;
    if ((rc = pc__fn_resolve(fn, &target)) < 0)
        goto fail;
    if (w.has_heap) { /* out of the way of the numbers place_fds fills */
        int top = 2;
        for (int i = 0; i < w.nfds; i++)
            top = w.fds[i] > top ? w.fds[i] : top;
        int moved = fcntl(fds[w.nfds], F_DUPFD_CLOEXEC, top + 1);
        if (moved < 0) {
            rc = -errno;
            goto fail;
        }
        close(fds[w.nfds]);
        fds[w.nfds] = moved;
    }
    if ((rc = place_fds(fds, w.fds, w.nfds, &chan)) < 0)
        goto fail;
    if (w.has_heap) { /* the parent's shared heap, mapped at first use */
        pc__shared_adopt(fds[w.nfds]);
        nfds = w.nfds; /* adopted: not ours to close any more */
    }
    snprintf(r->name, sizeof r->name, "%s", name);
    r->daemon = w.daemon;
    r->method = from_server ? PC_START_FORKSERVER : PC_START_SPAWN;
    pc_process *p;
    if (w.is_class) {
        if (w.len < sizeof(pc_process)) {
            rc = -EPROTO;
            goto fail;
        }
        p = payload;
        p->_run = (pc_process_run_fn)target;
        p->_size = w.len;
    } else {
        p = pc__calloc(1, sizeof *p);
        if (!p) {
            rc = -ENOMEM;
            goto fail;
        }
        r->target = (pc_process_fn)target;
        r->arg = payload;
        r->len = w.len;
        r->owned = true;
    }
    p->_rec = r;
    r->obj = p;
    become(p, r, w.parent_pid, pname, w.daemon, w.pdeathsig, from_server ? server : w.parent_pid);
    pc__free(fn);
    pc__free(path);
    pc__free(name);
    pc__free(pname);
    *self = p;
    *rec = r;
    answer(chan, 0);
    close(chan);
    return 0;
fail:
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    pc__free(fn);
    pc__free(path);
    pc__free(name);
    pc__free(pname);
    pc__free(payload);
    pc__free(r);
    return rc;
}

void pc__child_main(int chan, pid_t server) {
    pc_process *p;
    pc__process_rec *r;
    int rc = setup(chan, &p, &r, server);
    if (rc < 0) {
        answer(chan, rc);
        _exit(127);
    }
    finish(p->_run ? p->_run(p) : r->target(r->arg, r->len));
}

static int env_fd(const char *var) {
    const char *s = getenv(var);
    if (!s)
        return -1;
    char *end;
    long fd = strtol(s, &end, 10);
    unsetenv(var);
    if (*end || fd < 0 || fd > 1 << 30 || fcntl((int)fd, F_GETFD) < 0)
        return -1;
    fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return (int)fd;
}

__attribute__((constructor(101))) static void pc__child_entry(void) {
    int fd = env_fd(PC__ENV_CHILD);
    if (fd >= 0)
        pc__child_main(fd, 0);
    fd = env_fd(PC__ENV_SERVER);
    if (fd >= 0)
        pc__forkserver_main(fd);
}
