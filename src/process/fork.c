/*
 * The fork start method, and the process module across any fork().
 *
 * Start: stdout and stderr are flushed first (Python does the same), so
 * that text the parent buffered is not printed twice; then fork(), and
 * the child runs the object in its copy of the process (child.c).  The
 * parent opens a pidfd of the child right after: the child cannot be
 * reaped (and its pid reused) before that, since only this process may
 * reap it.  No handshake: the target is a valid pointer in the copy, so
 * there is nothing the child could fail to find.
 *
 * Rejected: clone3 with CLONE_PIDFD to get the pidfd with the fork: glibc
 * does not expose it, and a raw clone skips glibc's atfork handlers and
 * its own reset of the child (locks, tid), which fork() does for us.
 *
 * Any fork (ours or the application's): the child is not the parent of
 * its parent's children; the registry is emptied (the objects stay valid,
 * and say -ECHILD), and the forkserver connection is dropped (closed in
 * the child only).  prepare takes the registry and forkserver locks so the
 * child finds them consistent; each is then reset in the child.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process-internal.h"

int pc__fork_start(pc__process_rec *r, pc_process *p) {
    fflush(stdout);
    fflush(stderr);
    /* known here, not in the child: there the forking thread is the main one */
    r->pdeathsig = gettid() == getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0)
        pc__child_run_forked(r, p);
    int pidfd = pc__pidfd_open(pid);
    if (pidfd == -ESRCH) {
        /* it ended and someone reaped it already (SIGCHLD ignored, or a
         * handler): started, and its status is lost */
        r->pid = pid;
        return 0;
    }
    if (pidfd < 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        return pidfd;
    }
    r->pid = pid;
    r->pidfd = pidfd;
    return 0;
}

static void prepare(void) {
    pthread_mutex_lock(&pc__reg_mu);
}

static void parent(void) {
    pthread_mutex_unlock(&pc__reg_mu);
}

static void child(void) {
    pc__proc_registry_reset();
    pc__forkserver_forget();
    pc__child_reset_after_fork();
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void install(void) {
    pthread_atfork(prepare, parent, child);
}

void pc__process_fork_handlers(void) {
    pthread_once(&once, install);
}
