/*
 * Daemon children: terminated when their parent exits (through exit()) or
 * dies (SIGKILL: the kernel's parent-death signal, or the forkserver);
 * a daemon cannot start children.  Under each start method.
 *
 * A middle process (a plain fork of the test) starts the daemon, reports
 * its pid on a pipe, then exits or waits to be killed; the test watches
 * the daemon through a pidfd of its own.
 */
#include <sys/syscall.h>
#include <sys/wait.h>

#include "process-helpers.h"

static int read4(int fd, int32_t *v) {
    char *p = (char *)v;
    size_t got = 0;
    while (got < sizeof *v) {
        ssize_t n = read(fd, p + got, sizeof *v - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static int daemon_body(void *arg, size_t len) {
    (void)len;
    int fd = *(int *)arg;
    pc_process *q;
    int rc = pc_process_new(&q, exit_with, NULL, 0, NULL);
    if (rc == 0) {
        rc = pc_process_start(q);
        pc_process_free(q);
    }
    int32_t r = rc;
    if (write(fd, &r, sizeof r) != sizeof r)
        return 1;
    close(fd);
    for (;;)
        pause();
}

/* Fork a middle process that starts a daemon under m; returns the daemon's
 * pidfd (opened by us) and the middle's pid. */
static int start_middle(pc_start_method m, bool then_exit, pid_t *middle, int *from_daemon) {
    int rep[2], go[2];
    cloexec_pipe(rep);
    cloexec_pipe(go);
    pid_t pid = fork();
    if (pid == 0) {
        close(rep[0]);
        close(go[1]);
        pc_process_opts o = with_method(m);
        o.daemon = true;
        o.pass_fds = &rep[1];
        o.n_pass_fds = 1;
        pc_process *p;
        if (pc_process_new(&p, daemon_body, &rep[1], sizeof rep[1], &o) || pc_process_start(p))
            _exit(3);
        int32_t dpid = pc_process_pid(p);
        if (write(rep[1], &dpid, sizeof dpid) != sizeof dpid)
            _exit(4);
        char c;
        if (read(go[0], &c, 1) < 0)
            _exit(5);
        if (then_exit)
            exit(0); /* runs the at-exit termination */
        for (;;)
            pause();
    }
    close(rep[1]);
    close(go[0]);
    *middle = pid;
    int32_t dpid, dres;
    /* the daemon's answer about its own child, and the middle's report */
    int32_t a, b;
    cr_assert_eq(read4(rep[0], &a), 0);
    cr_assert_eq(read4(rep[0], &b), 0);
    /* the pid is positive, the start result is <= 0 */
    dpid = a > 0 ? a : b;
    dres = a > 0 ? b : a;
    *from_daemon = dres;
    int pidfd = (int)syscall(SYS_pidfd_open, dpid, 0);
    cr_assert_geq(pidfd, 0);
    close(rep[0]);
    cr_assert_eq(write(go[1], "x", 1), 1);
    close(go[1]);
    return pidfd;
}

static void daemon_ends(pc_start_method m, bool then_exit) {
    pid_t middle;
    int from_daemon;
    int pidfd = start_middle(m, then_exit, &middle, &from_daemon);
    expect_rc(from_daemon, -EPERM);
    if (!then_exit)
        cr_assert_eq(kill(middle, SIGKILL), 0);
    int st;
    cr_assert_eq(waitpid(middle, &st, 0), middle);
    if (then_exit)
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%#x", st);
    struct pollfd pf = {.fd = pidfd, .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, 20000), 1, "the daemon outlived its parent");
    close(pidfd);
}

PROC_TEST(a_daemon_ends_when_its_parent_exits, .timeout = 60) {
    daemon_ends(m, true);
}

PROC_TEST(a_daemon_ends_when_its_parent_is_killed, .timeout = 60) {
    daemon_ends(m, false);
}

/* A daemon started by a thread that then ends lives on (the kernel's
 * parent-death signal follows the starting thread, so pyconc sets it only
 * for the main thread's children), and still ends at its parent's exit. */
struct from_thread {
    pc_start_method m;
    int fd;
    pid_t pid;
};

static void *start_daemon_thread(void *arg) {
    struct from_thread *f = arg;
    pc_process_opts o = with_method(f->m);
    o.daemon = true;
    o.pass_fds = &f->fd;
    o.n_pass_fds = 1;
    pc_process *p;
    if (pc_process_new(&p, daemon_body, &f->fd, sizeof f->fd, &o) == 0 && pc_process_start(p) == 0)
        f->pid = pc_process_pid(p);
    return NULL; /* p stays: the at-exit handler still knows the child */
}

/* Not under TSan: the forked middle process starts a thread, which TSan's
 * runtime does not support after a fork of a multi-threaded process (it
 * hangs there). */
PROC_TEST(a_daemon_outlives_the_thread_that_started_it, .timeout = 60, .disabled = PC_UNDER_TSAN) {
    int rep[2], go[2];
    cloexec_pipe(rep);
    cloexec_pipe(go);
    pid_t middle = fork();
    if (middle == 0) {
        struct from_thread f = {.m = m, .fd = rep[1]};
        pthread_t t;
        if (pthread_create(&t, NULL, start_daemon_thread, &f) || pthread_join(t, NULL) || !f.pid)
            _exit(3);
        int32_t dpid = f.pid;
        if (write(rep[1], &dpid, sizeof dpid) != sizeof dpid)
            _exit(4);
        /* wait until the test has seen the daemon alive after the thread ended */
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(5);
        exit(0);
    }
    int32_t a, b;
    cr_assert_eq(read4(rep[0], &a), 0);
    cr_assert_eq(read4(rep[0], &b), 0);
    int32_t dpid = a > 0 ? a : b;
    expect_rc(a > 0 ? b : a, -EPERM); /* and it cannot start children */
    int pidfd = (int)syscall(SYS_pidfd_open, dpid, 0);
    cr_assert_geq(pidfd, 0);
    struct pollfd pf = {.fd = pidfd, .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, 200), 0, "the daemon died with its starting thread");
    cr_assert_eq(write(go[1], "x", 1), 1);
    int st;
    cr_assert_eq(waitpid(middle, &st, 0), middle);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%#x", st);
    cr_assert_eq(poll(&pf, 1, 20000), 1, "the daemon outlived its parent");
    close(pidfd);
    close(rep[0]);
    close(rep[1]);
    close(go[0]);
    close(go[1]);
}
