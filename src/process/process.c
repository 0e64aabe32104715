/*
 * Process objects: creation, start, join and reaping, signals, close, the
 * registry of children (active_children, daemons at exit), start methods.
 *
 * A record (pc__process_rec) holds what the object's methods need; a
 * "class" object embeds pc_process and points to its record, a function
 * object is library memory holding the same.  The child's exit is seen on
 * its pidfd (readable once it ended) and collected with
 * waitid(P_PIDFD, WNOHANG): no SIGCHLD handler, and never another
 * process's status, as waitpid(-1) would take.  Under forkserver the
 * server is the real parent and reaps; its report arrives on the record's
 * status socket, which join waits on instead.
 *
 * Waiting: join waits on that descriptor with pc_wait_fd, so a coroutine
 * parks only itself in its loop and a thread polls (docs/waiting.md).  No
 * lock is held across the wait: after each wake-up the record's mu is
 * taken for the non-blocking reap.  Two coroutines of one loop may join
 * the same child: the loop takes one waiter per descriptor, so the second
 * waits on a dup of it.
 *
 * Registry: started children of this process, for pc_active_children and
 * the at-exit termination of daemons.  A record leaves it when it is known
 * to have ended (reaped) or is closed; a freed-while-running function
 * object's record stays until reaped, then is freed by the reaper.
 *
 * Rejected: a SIGCHLD handler or a reaper thread (the application owns
 * SIGCHLD; a hidden thread makes every later fork a fork with threads).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "process-internal.h"
#include "pyconc/loop.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

pthread_mutex_t pc__reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pc__process_rec *reg_head; /* guarded by pc__reg_mu */

static _Atomic int default_method = PC_START_FORKSERVER;
static atomic_bool default_used;

struct pc_mp_context {
    pc_start_method method;
};
static const pc_mp_context contexts[] = {
    {PC_START_DEFAULT}, {PC_START_FORK}, {PC_START_SPAWN}, {PC_START_FORKSERVER}};

static bool valid_method(pc_start_method m) {
    return m >= PC_START_DEFAULT && m <= PC_START_FORKSERVER;
}

const char *pc_start_method_name(pc_start_method m) {
    switch (m) {
    case PC_START_DEFAULT: return "default";
    case PC_START_FORK: return "fork";
    case PC_START_SPAWN: return "spawn";
    case PC_START_FORKSERVER: return "forkserver";
    }
    return "?";
}

int pc_set_start_method(pc_start_method m, bool force) {
    if (!valid_method(m) || m == PC_START_DEFAULT)
        return -EINVAL;
    if (!force && atomic_load(&default_used) && atomic_load(&default_method) != (int)m)
        return -EBUSY;
    atomic_store(&default_method, m);
    return 0;
}

pc_start_method pc_get_start_method(void) {
    return atomic_load(&default_method);
}

const pc_mp_context *pc_get_context(pc_start_method m) {
    return valid_method(m) ? &contexts[m] : NULL;
}

pc_start_method pc_context_start_method(const pc_mp_context *ctx) {
    if (!ctx)
        return PC_START_DEFAULT;
    return ctx->method == PC_START_DEFAULT ? pc_get_start_method() : ctx->method;
}

/* ------------------------------------------------------------ records */

pc__process_rec *pc__proc_rec_new(const pc_process_opts *opts, int *err) {
    static const pc_process_opts none;
    if (!opts)
        opts = &none;
    *err = -EINVAL;
    if (!valid_method(opts->method) || opts->n_pass_fds < 0 ||
        opts->n_pass_fds > PC_PROCESS_MAX_FDS || (opts->n_pass_fds && !opts->pass_fds) ||
        (opts->name && strlen(opts->name) > 63) || isnan(opts->start_timeout))
        return NULL;
    for (int i = 0; i < opts->n_pass_fds; i++)
        if (opts->pass_fds[i] < 0 || fcntl(opts->pass_fds[i], F_GETFD) < 0)
            return NULL;
    pc__process_fork_handlers();
    pc__process_rec *r = pc__calloc(1, sizeof *r);
    if (!r) {
        *err = -ENOMEM;
        return NULL;
    }
    if (opts->name)
        strcpy(r->name, opts->name);
    else
        pc__child_next_name(r->name, sizeof r->name);
    r->method = opts->method    ? opts->method
                : opts->context ? opts->context->method
                                : PC_START_DEFAULT;
    r->daemon = opts->daemon;
    r->start_timeout = opts->start_timeout == 0 ? PC_PROCESS_START_TIMEOUT : opts->start_timeout;
    r->pidfd = r->statusfd = -1;
    r->nfds = opts->n_pass_fds;
    for (int i = 0; i < r->nfds; i++)
        r->fds[i] = opts->pass_fds[i];
    pthread_mutex_init(&r->mu, NULL);
    *err = 0;
    return r;
}

static void close_fds(pc__process_rec *r) {
    if (r->pidfd >= 0)
        close(r->pidfd);
    if (r->statusfd >= 0)
        close(r->statusfd);
    r->pidfd = r->statusfd = -1;
}

void pc__proc_rec_free(pc__process_rec *r) {
    close_fds(r);
    pthread_mutex_destroy(&r->mu);
    pc__free(r->arg);
    pc__free(r);
}

static void reg_add(pc__process_rec *r) {
    pthread_mutex_lock(&pc__reg_mu);
    r->prev = NULL;
    r->next = reg_head;
    if (reg_head)
        reg_head->prev = r;
    reg_head = r;
    r->listed = true;
    pthread_mutex_unlock(&pc__reg_mu);
}

/* Caller holds pc__reg_mu. */
static void reg_remove_locked(pc__process_rec *r) {
    if (!r->listed)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        reg_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->listed = false;
}

void pc__proc_registry_reset(void) {
    for (pc__process_rec *r = reg_head; r; r = r->next)
        r->listed = false;
    reg_head = NULL;
    pc__reg_mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
}

/* ------------------------------------------------------------ reaping */

/* Collect the child's end without waiting; caller holds r->mu.  true once
 * it has ended (exitcode set, or lost). */
static bool reap_locked(pc__process_rec *r) {
    if (r->state == PC__P_FINISHED)
        return true;
    if (r->state != PC__P_STARTED || r->self)
        return false;
    if (r->foreign) {
        struct pollfd p = {.fd = r->pidfd, .events = POLLIN};
        if (r->pidfd >= 0 ? poll(&p, 1, 0) == 1 : kill(r->pid, 0) != 0) {
            r->state = PC__P_FINISHED;
            r->lost = true;
        }
        return r->state == PC__P_FINISHED;
    }
    if (r->statusfd >= 0) {
        int32_t code;
        ssize_t n = recv(r->statusfd, &code, sizeof code, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return false;
        if (n == (ssize_t)sizeof code)
            r->exitcode = code;
        else
            r->lost = true; /* the server died */
        r->state = PC__P_FINISHED;
        return true;
    }
    if (r->pidfd < 0) { /* reaped by someone else before we saw it */
        r->lost = true;
        r->state = PC__P_FINISHED;
        return true;
    }
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid((idtype_t)P_PIDFD, (id_t)r->pidfd, &si, WEXITED | WNOHANG) != 0) {
        if (errno == EINTR)
            return false;
        r->lost = true; /* ECHILD: someone reaped it */
    } else if (si.si_pid == 0) {
        return false;
    } else {
        r->exitcode = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
    }
    r->state = PC__P_FINISHED;
    return true;
}

static bool reap(pc__process_rec *r) {
    pthread_mutex_lock(&r->mu);
    bool done = reap_locked(r);
    pthread_mutex_unlock(&r->mu);
    return done;
}

/* The checks every method on a started child shares. */
static int check_child(const pc_process *p) {
    if (!p || !p->_rec)
        return -EINVAL;
    pc__process_rec *r = p->_rec;
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    if (r->closed)
        rc = -EINVAL;
    else if (r->state == PC__P_INIT || r->state == PC__P_STARTING)
        rc = -ESRCH;
    else if (!r->self && !r->foreign && r->owner != getpid())
        rc = -ECHILD;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* ------------------------------------------------------------- objects */

int pc_process_init(pc_process *p, pc_process_run_fn run, size_t size,
                    const pc_process_opts *opts) {
    if (!p || !run || size < sizeof *p)
        return -EINVAL;
    int err;
    pc__process_rec *r = pc__proc_rec_new(opts, &err);
    if (!r)
        return err;
    p->_run = run;
    p->_size = size;
    p->_rec = r;
    r->obj = p;
    return 0;
}

int pc_process_new(pc_process **out, pc_process_fn target, const void *arg, size_t len,
                   const pc_process_opts *opts) {
    if (!out || !target || (len && !arg))
        return -EINVAL;
    int err;
    pc__process_rec *r = pc__proc_rec_new(opts, &err);
    if (!r)
        return err;
    pc_process *p = pc__calloc(1, sizeof *p);
    if (!p || (len && !(r->arg = pc__malloc(len)))) {
        pc__free(p);
        pc__proc_rec_free(r);
        return -ENOMEM;
    }
    if (len)
        memcpy(r->arg, arg, len);
    r->len = len;
    r->target = target;
    r->owned = true;
    r->obj = p;
    p->_rec = r;
    *out = p;
    return 0;
}

static bool running(pc__process_rec *r) {
    pthread_mutex_lock(&r->mu);
    bool run =
        r->state == PC__P_STARTING || (r->state == PC__P_STARTED && !r->self && !r->foreign &&
                                       r->owner == getpid() && !reap_locked(r));
    pthread_mutex_unlock(&r->mu);
    return run;
}

void pc_process_free(pc_process *p) {
    if (!p || !p->_rec || !p->_rec->owned || p->_rec->self)
        return;
    pc__process_rec *r = p->_rec;
    pthread_mutex_lock(&pc__reg_mu);
    if (r->listed && running(r)) {
        r->obj = NULL; /* pc_active_children reaps and frees it */
        pthread_mutex_unlock(&pc__reg_mu);
        pc__free(p);
        return;
    }
    reg_remove_locked(r);
    pthread_mutex_unlock(&pc__reg_mu);
    pc__proc_rec_free(r);
    pc__free(p);
}

int pc_process_destroy(pc_process *p) {
    if (!p || !p->_rec || p->_rec->owned || p->_rec->self)
        return -EINVAL;
    int rc = pc_process_close(p);
    if (rc < 0 && rc != -EINVAL)
        return rc;
    pc__proc_rec_free(p->_rec);
    p->_rec = NULL;
    return 0;
}

static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;
static void install_atexit(void) {
    atexit(pc__process_atexit);
}

int pc_process_start(pc_process *p) {
    if (!p || !p->_rec)
        return -EINVAL;
    pc__process_rec *r = p->_rec;
    if (r->self || r->foreign)
        return -EALREADY;
    if (pc__child_is_daemon())
        return -EPERM;
    pthread_mutex_lock(&r->mu);
    int rc = r->closed ? -EINVAL : r->state != PC__P_INIT ? -EALREADY : 0;
    if (rc == 0)
        r->state = PC__P_STARTING;
    pthread_mutex_unlock(&r->mu);
    if (rc < 0)
        return rc;
    if (r->method == PC_START_DEFAULT) {
        atomic_store(&default_used, true);
        r->method = pc_get_start_method();
    }
    if (r->daemon)
        pthread_once(&atexit_once, install_atexit);
    switch (r->method) {
    case PC_START_FORK: rc = pc__fork_start(r, p); break;
    case PC_START_SPAWN: rc = pc__spawn_start(r, p); break;
    default: rc = pc__forkserver_start(r, p); break;
    }
    pthread_mutex_lock(&r->mu);
    if (rc == 0)
        r->owner = getpid();
    r->state = rc == 0 ? PC__P_STARTED : PC__P_INIT;
    pthread_mutex_unlock(&r->mu);
    if (rc == 0)
        reg_add(r);
    return rc;
}

int pc_process_join(pc_process *p, double timeout) {
    if (p == pc_process_current())
        return p ? -EDEADLK : -EINVAL;
    int rc = check_child(p);
    if (rc < 0)
        return rc;
    int64_t deadline;
    if (pc__deadline(timeout, &deadline) < 0)
        return -EINVAL;
    pc__process_rec *r = p->_rec;
    int fd = r->statusfd >= 0 ? r->statusfd : r->pidfd;
    int dupfd = -1;
    for (;;) {
        if (reap(r)) {
            rc = 0;
            break;
        }
        if (fd < 0) { /* a parent object without a pidfd */
            rc = pc_sleep(0.01);
            if (pc__remaining(deadline) == 0) {
                rc = -ETIMEDOUT;
                break;
            }
            continue;
        }
        rc = pc_wait_fd(dupfd >= 0 ? dupfd : fd, POLLIN, pc__remaining(deadline));
        if (rc == -EBUSY && dupfd < 0) {
            /* another coroutine of this loop waits on it */
            if ((dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
                rc = -errno;
                break;
            }
            continue;
        }
        if (rc == -ETIMEDOUT) {
            rc = reap(r) ? 0 : -ETIMEDOUT;
            break;
        }
        if (rc < 0)
            break;
    }
    if (dupfd >= 0)
        close(dupfd);
    if (rc == 0 && r->lost && !r->foreign)
        rc = -ECHILD;
    return rc;
}

int pc_process_exitcode(pc_process *p, int *code) {
    int rc = check_child(p);
    if (rc < 0)
        return rc;
    pc__process_rec *r = p->_rec;
    if (!code || r->self)
        return r->self ? -EAGAIN : -EINVAL;
    pthread_mutex_lock(&r->mu);
    if (!reap_locked(r))
        rc = -EAGAIN;
    else if (r->lost)
        rc = -ECHILD;
    else
        *code = r->exitcode;
    pthread_mutex_unlock(&r->mu);
    return rc;
}

bool pc_process_is_alive(pc_process *p) {
    if (!p || !p->_rec)
        return false;
    pc__process_rec *r = p->_rec;
    if (r->self)
        return true;
    if (check_child(p) < 0)
        return false;
    return !reap(r);
}

static int send_signal(pc_process *p, int sig) {
    int rc = check_child(p);
    if (rc < 0)
        return rc;
    pc__process_rec *r = p->_rec;
    if (r->foreign || r->self)
        return -ECHILD;
    pthread_mutex_lock(&r->mu);
    if (r->state == PC__P_STARTED && r->pidfd >= 0) {
        rc = pc__pidfd_signal(r->pidfd, sig);
        if (rc == -ESRCH)
            rc = 0; /* it ended */
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int pc_process_terminate(pc_process *p) {
    return send_signal(p, SIGTERM);
}

int pc_process_kill(pc_process *p) {
    return send_signal(p, SIGKILL);
}

int pc_process_close(pc_process *p) {
    if (!p || !p->_rec)
        return -EINVAL;
    pc__process_rec *r = p->_rec;
    if (r->self || r->foreign)
        return -EINVAL;
    pthread_mutex_lock(&pc__reg_mu);
    if (running(r)) {
        pthread_mutex_unlock(&pc__reg_mu);
        return -EBUSY;
    }
    reg_remove_locked(r);
    pthread_mutex_unlock(&pc__reg_mu);
    pthread_mutex_lock(&r->mu);
    close_fds(r);
    r->closed = true;
    pthread_mutex_unlock(&r->mu);
    return 0;
}

const char *pc_process_name(const pc_process *p) {
    return p && p->_rec ? p->_rec->name : "";
}

int pc_process_set_name(pc_process *p, const char *name) {
    if (!p || !p->_rec || !name || strlen(name) > 63)
        return -EINVAL;
    strcpy(p->_rec->name, name);
    return 0;
}

pid_t pc_process_pid(const pc_process *p) {
    if (!p || !p->_rec)
        return 0;
    pc__process_rec *r = p->_rec;
    if (r->self)
        return getpid();
    pthread_mutex_lock(&r->mu);
    pid_t pid = r->state >= PC__P_STARTED ? r->pid : 0;
    pthread_mutex_unlock(&r->mu);
    return pid;
}

bool pc_process_is_daemon(const pc_process *p) {
    return p && p->_rec && p->_rec->daemon;
}

int pc_process_set_daemon(pc_process *p, bool daemon) {
    if (!p || !p->_rec)
        return -EINVAL;
    if (p->_rec->state != PC__P_INIT || p->_rec->self || p->_rec->foreign)
        return -EBUSY;
    p->_rec->daemon = daemon;
    return 0;
}

pc_start_method pc_process_start_method(const pc_process *p) {
    return p && p->_rec ? p->_rec->method : PC_START_DEFAULT;
}

int pc_process_sentinel(const pc_process *p) {
    int rc = check_child(p);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&p->_rec->mu);
    rc = p->_rec->pidfd >= 0 ? p->_rec->pidfd : -ESRCH;
    pthread_mutex_unlock(&p->_rec->mu);
    return rc;
}

/* ----------------------------------------------------------- registry */

int pc_active_children(pc_process **out, int cap) {
    if (cap < 0 || (cap > 0 && !out))
        return -EINVAL;
    int n = 0;
    pc__process_rec *dead = NULL;
    pthread_mutex_lock(&pc__reg_mu);
    for (pc__process_rec *r = reg_head, *next; r; r = next) {
        next = r->next;
        if (reap(r)) {
            reg_remove_locked(r);
            if (!r->obj) { /* freed while running: ours to free, after the lock */
                r->next = dead;
                dead = r;
            }
            continue;
        }
        if (!r->obj)
            continue;
        if (n < cap)
            out[n] = r->obj;
        n++;
    }
    pthread_mutex_unlock(&pc__reg_mu);
    while (dead) {
        pc__process_rec *r = dead;
        dead = r->next;
        pc__proc_rec_free(r);
    }
    return n;
}

/* Python's exit: daemon children are terminated, then joined (killed if
 * they outlive SIGTERM by 5 s). */
void pc__process_atexit(void) {
    enum { MAX = 256 };
    pc__process_rec *d[MAX];
    int n = 0;
    pthread_mutex_lock(&pc__reg_mu);
    for (pc__process_rec *r = reg_head; r && n < MAX; r = r->next)
        if (r->daemon && r->owner == getpid() && !reap(r))
            d[n++] = r;
    for (int i = 0; i < n; i++)
        pc__pidfd_signal(d[i]->pidfd, SIGTERM);
    for (int i = 0; i < n; i++) {
        int fd = d[i]->statusfd >= 0 ? d[i]->statusfd : d[i]->pidfd;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 5000) == 0)
            pc__pidfd_signal(d[i]->pidfd, SIGKILL);
        poll(&pf, 1, -1);
        reap(d[i]);
    }
    pthread_mutex_unlock(&pc__reg_mu);
}
