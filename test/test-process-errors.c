/*
 * What goes wrong, under each start method: misuse (start twice, join
 * before start, join self, close while running, a closed object), exec
 * failures reported by start, a fork child that is not the parent, bad
 * options, cpu_count.
 */
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "process-helpers.h"

int pc__cpu_quota_parse(const char *text);

PROC_TEST(misuse_gets_distinct_errors, .timeout = 60) {
    int fds[2];
    cloexec_pipe(fds);
    pc_process_opts o = with_method(m);
    o.pass_fds = &fds[0];
    o.n_pass_fds = 1;
    pc_process *p;
    expect_rc(pc_process_new(&p, wait_on_fd, &fds[0], sizeof fds[0], &o), 0);
    int code;
    expect_rc(pc_process_join(p, 1), -ESRCH);
    expect_rc(pc_process_exitcode(p, &code), -ESRCH);
    expect_rc(pc_process_terminate(p), -ESRCH);
    expect_rc(pc_process_sentinel(p), -ESRCH);
    cr_assert(!pc_process_is_alive(p));
    cr_assert_eq(pc_process_pid(p), 0);
    expect_rc(pc_process_close(p), 0); /* nothing to close yet: fine */
    expect_rc(pc_process_start(p), -EINVAL);
    pc_process_free(p);

    expect_rc(pc_process_new(&p, wait_on_fd, &fds[0], sizeof fds[0], &o), 0);
    expect_rc(pc_process_set_daemon(p, false), 0);
    expect_rc(pc_process_start(p), 0);
    expect_rc(pc_process_start(p), -EALREADY);
    expect_rc(pc_process_set_daemon(p, true), -EBUSY);
    expect_rc(pc_process_close(p), -EBUSY);
    expect_rc(pc_process_join(p, NAN), -EINVAL);
    cr_assert_eq(write(fds[1], "\x03", 1), 1);
    cr_assert_eq(join_code(p), 3);
    expect_rc(pc_process_close(p), 0);
    expect_rc(pc_process_close(p), 0);
    expect_rc(pc_process_join(p, 1), -EINVAL);
    expect_rc(pc_process_exitcode(p, &code), -EINVAL);
    expect_rc(pc_process_kill(p), -EINVAL);
    expect_rc(pc_process_start(p), -EINVAL);
    cr_assert(!pc_process_is_alive(p));
    cr_assert_gt(pc_process_pid(p), 0);
    pc_process_free(p);
    close(fds[0]);
    close(fds[1]);
}

static int join_self(void *arg, size_t len) {
    (void)arg;
    (void)len;
    pc_process *me = pc_process_current();
    if (pc_process_join(me, 1) != -EDEADLK || pc_process_start(me) != -EALREADY)
        return 1;
    if (pc_process_join(pc_process_parent(), 0) != -ETIMEDOUT)
        return 2;
    return 0;
}

PROC_TEST(a_child_joining_itself_or_its_parent, .timeout = 60) {
    pc_process *p = start_fn(m, join_self, NULL, 0, NULL, 0);
    cr_assert_eq(join_code(p), 0);
    pc_process_free(p);
}

PROC_TEST(a_forked_child_is_not_the_parent_of_its_siblings, .timeout = 60) {
    int fds[2];
    cloexec_pipe(fds);
    pc_process *p = start_fn(m, wait_on_fd, &fds[0], sizeof fds[0], &fds[0], 1);
    pid_t pid = fork();
    if (pid == 0) {
        int code;
        bool ok = pc_process_join(p, 0) == -ECHILD && pc_process_exitcode(p, &code) == -ECHILD &&
                  pc_process_kill(p) == -ECHILD && pc_active_children(NULL, 0) == 0;
        _exit(ok ? 0 : 1);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%#x", st);
    cr_assert_eq(write(fds[1], "\x04", 1), 1);
    cr_assert_eq(join_code(p), 4);
    pc_process_free(p);
    close(fds[0]);
    close(fds[1]);
}

/* Spawn and the forkserver exec a program: failures come back from start. */
static void exec_failures(pc_start_method m) {
    int zero = 0;
    pc_process *p;
    pc_process_opts o = with_method(m);
    expect_rc(pc_set_executable("/nonexistent/program"), 0);
    expect_rc(pc_process_new(&p, exit_with, &zero, sizeof zero, &o), 0);
    expect_rc(pc_process_start(p), -ENOENT);
    cr_assert(!pc_process_is_alive(p));
    expect_rc(pc_process_join(p, 0), -ESRCH);
    /* a program that is not linked with pyconc never answers */
    expect_rc(pc_set_executable("/bin/true"), 0);
    expect_rc(pc_process_start(p), -ENOEXEC);
    /* another pyconc program: the target's code is not where it was */
    char other[1024];
    snprintf(other, sizeof other, "%s/test-process-coro", PC_TEST_BIN_DIR);
    if (access(other, X_OK) == 0) {
        expect_rc(pc_set_executable(other), 0);
        expect_rc(pc_process_start(p), -ENOEXEC);
    } else {
        cr_log_info("%s not built: the other-program case skipped", other);
    }
    expect_rc(pc_set_executable(NULL), 0);
    expect_rc(pc_process_start(p), 0); /* a failed start may be retried */
    cr_assert_eq(join_code(p), 0);
    pc_process_free(p);
    cr_assert_eq(pc_active_children(NULL, 0), 0);
}

Test(process_spawn, exec_failure_is_starts_error, .timeout = 60) {
    exec_failures(PC_START_SPAWN);
}

Test(process_forkserver, exec_failure_is_starts_error, .timeout = 60) {
    exec_failures(PC_START_FORKSERVER);
}

/* A spawn child that hangs before it answers (as one whose shared
 * library's constructor blocks would): this constructor runs before
 * pyconc's child entry (priority 101) and stops the child for good when the
 * test asks for it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wprio-ctor-dtor"
__attribute__((constructor(100))) static void stall_child_on_request(void) {
    if (getenv("PYCONC_CHILD_FD") && getenv("PYCONC_TEST_STALL_CHILD"))
        for (;;)
            pause();
}
#pragma GCC diagnostic pop

Test(process_spawn, a_child_that_never_answers_is_starts_timeout, .timeout = 60) {
    int zero = 0;
    pc_process *p;
    pc_process_opts o = with_method(PC_START_SPAWN);
    o.start_timeout = 0.3;
    expect_rc(pc_process_new(&p, exit_with, &zero, sizeof zero, &o), 0);
    cr_assert_eq(setenv("PYCONC_TEST_STALL_CHILD", "1", 1), 0);
    double t0 = pc_now();
    expect_rc(pc_process_start(p), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.25 && dt < 10, "start gave up after %.3f s", dt);
    cr_assert(!pc_process_is_alive(p));
    cr_assert_eq(pc_active_children(NULL, 0), 0); /* killed and reaped */
    cr_assert_eq(unsetenv("PYCONC_TEST_STALL_CHILD"), 0);
    expect_rc(pc_process_start(p), 0); /* a failed start may be retried */
    cr_assert_eq(join_code(p), 0);
    pc_process_free(p);
}

static int run_nothing(pc_process *self) {
    (void)self;
    return 0;
}

Test(process, bad_options) {
    pc_process *p;
    int fd = 1000;
    expect_rc(pc_process_new(NULL, exit_with, NULL, 0, NULL), -EINVAL);
    expect_rc(pc_process_new(&p, NULL, NULL, 0, NULL), -EINVAL);
    expect_rc(pc_process_new(&p, exit_with, NULL, 4, NULL), -EINVAL);
    expect_rc(pc_process_new(&p, exit_with, NULL, 0, &(pc_process_opts){.method = 9}), -EINVAL);
    expect_rc(pc_process_new(&p, exit_with, NULL, 0,
                             &(pc_process_opts){.name = "0123456789012345678901234567890123456789"
                                                        "0123456789012345678901234"}),
              -EINVAL);
    expect_rc(pc_process_new(&p, exit_with, NULL, 0,
                             &(pc_process_opts){.pass_fds = &fd, .n_pass_fds = 1}),
              -EINVAL);
    expect_rc(pc_process_new(&p, exit_with, NULL, 0, &(pc_process_opts){.start_timeout = NAN}),
              -EINVAL);
    pc_process c;
    expect_rc(pc_process_init(&c, NULL, sizeof c, NULL), -EINVAL);
    expect_rc(pc_process_init(&c, run_nothing, 4, NULL), -EINVAL);
    expect_rc(pc_process_join(NULL, 1), -EINVAL);
    expect_rc(pc_process_start(NULL), -EINVAL);
    cr_assert_str_eq(pc_process_name(NULL), "");
    pc_process_free(NULL);
}

Test(process, allocation_failures_are_reported) {
    pc_process *p;
    int n = 0;
    for (long k = 1;; k++) {
        pc_alloc_fail_nth(k);
        int rc = pc_process_new(&p, exit_with, &n, sizeof n, NULL);
        pc_alloc_fail_nth(0);
        if (rc == 0) {
            pc_process_free(p);
            break;
        }
        expect_rc(rc, -ENOMEM);
        cr_assert_lt(k, 10);
    }
}

Test(process, cpu_count) {
    int n = pc_cpu_count();
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    cr_assert_geq(n, 1);
    cr_assert_leq(n, CPU_COUNT(&set));
    pid_t pid = fork();
    if (pid == 0) {
        CPU_ZERO(&set);
        CPU_SET(sched_getcpu(), &set);
        _exit(sched_setaffinity(0, sizeof set, &set) == 0 && pc_cpu_count() == 1 ? 0 : 1);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(pc__cpu_quota_parse("max 100000\n"), 0);
    cr_assert_eq(pc__cpu_quota_parse("50000 100000\n"), 1);
    cr_assert_eq(pc__cpu_quota_parse("150000 100000"), 2);
    cr_assert_eq(pc__cpu_quota_parse("200000 100000"), 2);
    cr_assert_eq(pc__cpu_quota_parse("garbage"), 0);
    cr_assert_eq(pc__cpu_quota_parse("100 0"), 0);
}

/* Out of descriptors: start says so, leaves no child or descriptor
 * behind, and works once descriptors are free again.  In a forked helper,
 * whose limit we may lower. */
PROC_TEST(out_of_descriptors_is_emfile, .timeout = 60) {
    pid_t pid = fork();
    if (pid == 0) {
        int zero = 0;
        pc_process *p;
        pc_process_opts o = with_method(m);
        if (pc_process_new(&p, exit_with, &zero, sizeof zero, &o))
            _exit(10);
        int limit = 0;
        for (int fd = 0; fd < 4096; fd++)
            if (fcntl(fd, F_GETFD) >= 0)
                limit = fd + 1;
        /* fill the holes below it, so that no new descriptor fits */
        int fillers[4096], nf = 0, f;
        while ((f = fcntl(0, F_DUPFD_CLOEXEC, 0)) >= 0 && f < limit)
            fillers[nf++] = f;
        if (f >= 0)
            close(f);
        struct rlimit old, rl;
        getrlimit(RLIMIT_NOFILE, &old);
        rl = old;
        rl.rlim_cur = (rlim_t)limit; /* no new descriptor fits */
        if (setrlimit(RLIMIT_NOFILE, &rl))
            _exit(11);
        int rc = pc_process_start(p);
        if (rc != -EMFILE)
            _exit(12);
        if (pc_active_children(NULL, 0) != 0 || pc_process_is_alive(p))
            _exit(13);
        setrlimit(RLIMIT_NOFILE, &old);
        for (int i = 0; i < nf; i++)
            close(fillers[i]);
        for (int fd = limit; fd < 4096; fd++) /* nothing leaked */
            if (fcntl(fd, F_GETFD) >= 0)
                _exit(14);
        if (pc_process_start(p) || pc_process_join(p, 30))
            _exit(15);
        int code = 1;
        if (pc_process_exitcode(p, &code) || code != 0)
            _exit(16);
        pc_process_free(p);
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

/* An application that ignores SIGCHLD has the kernel reap its children:
 * the exit status is gone (join: -ECHILD), but nothing hangs; the
 * forkserver's own children keep theirs. */
PROC_TEST(an_ignored_sigchld_loses_the_status_but_never_hangs, .timeout = 60) {
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGCHLD, SIG_IGN);
        int seven = 7, code = 0;
        pc_process *p;
        pc_process_opts o = with_method(m);
        if (pc_process_new(&p, exit_with, &seven, sizeof seven, &o) || pc_process_start(p))
            _exit(10);
        int rc = pc_process_join(p, 30);
        if (m == PC_START_FORKSERVER)
            _exit(rc == 0 && pc_process_exitcode(p, &code) == 0 && code == 7 ? 0 : 11);
        _exit(rc == -ECHILD && !pc_process_is_alive(p) ? 0 : 12);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

/* A storm of signals (a handler without SA_RESTART, every 200 us) breaks
 * no start, join or handshake: every system call is retried on EINTR. */
static int no_payload_check(void *arg, size_t len) {
    (void)arg;
    return len == 1u << 20 ? 0 : 1;
}

static void on_alarm(int sig) {
    (void)sig;
}

PROC_TEST(eintr_storms_break_nothing, .timeout = 120) {
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
    struct itimerval it = {.it_interval = {0, 200}, .it_value = {0, 200}};
    cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
    size_t len = 1u << 20; /* long enough a handshake to be interrupted */
    char *big = calloc(1, len);
    cr_assert_not_null(big);
    for (int i = 0; i < 5; i++) {
        pc_process *p = start_fn(m, exit_with, &i, sizeof i, NULL, 0);
        cr_assert_eq(join_code(p), i);
        pc_process_free(p);
        p = start_fn(m, no_payload_check, big, len, NULL, 0);
        cr_assert_eq(join_code(p), 0);
        pc_process_free(p);
    }
    free(big);
    it = (struct itimerval){0};
    setitimer(ITIMER_REAL, &it, NULL);
}
