/*
 * Processes under each start method: targets, arguments and class objects
 * copied into the child, exit codes and signals, passed descriptors, the
 * child's identity, is_alive / exitcode / sentinel, active_children.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "process-helpers.h"

PROC_TEST(exit_codes_are_the_targets_return_values, .timeout = 60) {
    int codes[] = {0, 1, 7, 255};
    for (int i = 0; i < 4; i++) {
        pc_process *p = start_fn(m, exit_with, &codes[i], sizeof codes[i], NULL, 0);
        cr_assert_eq(pc_process_start_method(p), m);
        cr_assert_eq(join_code(p), codes[i]);
        pc_process_free(p);
    }
}

static int raise_it(void *arg, size_t len) {
    (void)len;
    signal(*(int *)arg, SIG_DFL);
    raise(*(int *)arg);
    return 50;
}

PROC_TEST(a_signal_gives_minus_its_number, .timeout = 60) {
    int sigs[] = {SIGKILL, SIGTERM, SIGUSR1};
    for (int i = 0; i < 3; i++) {
        pc_process *p = start_fn(m, raise_it, &sigs[i], sizeof sigs[i], NULL, 0);
        cr_assert_eq(join_code(p), -sigs[i]);
        pc_process_free(p);
    }
}

PROC_TEST(terminate_and_kill, .timeout = 60) {
    int fds[2];
    cloexec_pipe(fds);
    pc_process *a = start_fn(m, wait_on_fd, &fds[0], sizeof fds[0], &fds[0], 1);
    pc_process *b = start_fn(m, wait_on_fd, &fds[0], sizeof fds[0], &fds[0], 1);
    cr_assert(pc_process_is_alive(a));
    int code;
    expect_rc(pc_process_exitcode(a, &code), -EAGAIN);
    expect_rc(pc_process_join(a, 0), -ETIMEDOUT);
    double t0 = pc_now();
    expect_rc(pc_process_join(a, 0.2), -ETIMEDOUT);
    cr_assert_geq(pc_now() - t0, 0.18);
    expect_rc(pc_process_terminate(a), 0);
    expect_rc(pc_process_kill(b), 0);
    cr_assert_eq(join_code(a), -SIGTERM);
    cr_assert_eq(join_code(b), -SIGKILL);
    cr_assert(!pc_process_is_alive(a));
    /* harmless once it ended */
    expect_rc(pc_process_terminate(a), 0);
    expect_rc(pc_process_kill(a), 0);
    pc_process_free(a);
    pc_process_free(b);
    close(fds[0]);
    close(fds[1]);
}

/* The argument is the child's copy of the bytes given at creation. */
static int check_arg(void *arg, size_t len) {
    return len == 10 && memcmp(arg, "hello bob", 10) == 0 ? 42 : 1;
}

static int no_arg(void *arg, size_t len) {
    return arg == NULL && len == 0 ? 43 : 1;
}

PROC_TEST(the_argument_is_copied, .timeout = 60) {
    char buf[10] = "hello bob";
    pc_process *p;
    pc_process_opts o = with_method(m);
    expect_rc(pc_process_new(&p, check_arg, buf, sizeof buf, &o), 0);
    memcpy(buf, "HELLO BOB", 10); /* after new: the child must not see it */
    expect_rc(pc_process_start(p), 0);
    cr_assert_eq(join_code(p), 42);
    pc_process_free(p);
    p = start_fn(m, no_arg, NULL, 0, NULL, 0);
    cr_assert_eq(join_code(p), 43);
    pc_process_free(p);
}

/* A "class": the child runs run() on its copy of the whole object. */
struct counter {
    pc_process base;
    int start, step;
    char label[16];
};

static int counter_run(pc_process *self) {
    struct counter *c = (struct counter *)self;
    if (strcmp(c->label, "clock") != 0 || pc_process_current() != self)
        return 1;
    return c->start + 3 * c->step;
}

PROC_TEST(a_class_object_runs_on_its_copy, .timeout = 60) {
    struct counter c = {.start = 10, .step = 4, .label = "clock"};
    pc_process_opts o = with_method(m);
    o.name = "Clock";
    expect_rc(pc_process_init(&c.base, counter_run, sizeof c, &o), 0);
    cr_assert_str_eq(pc_process_name(&c.base), "Clock");
    expect_rc(pc_process_start(&c.base), 0);
    cr_assert_gt(pc_process_pid(&c.base), 0);
    cr_assert_eq(join_code(&c.base), 22);
    expect_rc(pc_process_destroy(&c.base), 0);
}

/* The child reports who it is on the descriptor it was passed. */
static int report(void *arg, size_t len) {
    (void)len;
    int fd = *(int *)arg;
    if (fcntl(fd, F_GETFD) != 0) /* open, and inheritable */
        return 2;
    pc_process *me = pc_process_current(), *parent = pc_process_parent();
    if (!parent)
        return 3;
    dprintf(fd, "%s|%d|%s|%d|%d|%d\n", pc_process_name(me), (int)pc_process_pid(me),
            pc_process_name(parent), (int)pc_process_pid(parent), (int)getppid(),
            pc_process_is_alive(parent));
    /* children of a child are named after it */
    pc_process *q;
    expect_rc(pc_process_new(&q, exit_with, NULL, 0, NULL), 0);
    dprintf(fd, "%s\n", pc_process_name(q));
    pc_process_free(q);
    return 0;
}

PROC_TEST(passed_fds_and_the_childs_identity, .timeout = 60) {
    int fds[2];
    cloexec_pipe(fds);
    /* at a number of our choosing, as the child will see it */
    int high = fcntl(fds[1], F_DUPFD_CLOEXEC, 40);
    cr_assert_geq(high, 40);
    pc_process *p = start_fn(m, report, &high, sizeof high, &high, 1);
    close(high);
    close(fds[1]);
    cr_assert_eq(join_code(p), 0);
    char buf[256] = {0};
    cr_assert_gt(read(fds[0], buf, sizeof buf - 1), 0);
    close(fds[0]);
    char name[64], pname[64], sub[64];
    int pid, ppid, real_ppid, alive;
    cr_assert_eq(sscanf(buf, "%63[^|]|%d|%63[^|]|%d|%d|%d\n%63s", name, &pid, pname, &ppid,
                        &real_ppid, &alive, sub),
                 7, "%s", buf);
    cr_assert_str_eq(name, pc_process_name(p));
    cr_assert_eq(strncmp(name, "Process-", 8), 0, "%s", name);
    cr_assert_eq(pid, (int)pc_process_pid(p));
    cr_assert_str_eq(pname, "MainProcess");
    cr_assert_eq(ppid, (int)getpid());
    if (m != PC_START_FORKSERVER) /* the server is the real parent there */
        cr_assert_eq(real_ppid, (int)getpid());
    cr_assert_eq(alive, 1);
    char want[80];
    snprintf(want, sizeof want, "%s:1", name);
    cr_assert_str_eq(sub, want);
    pc_process_free(p);
}

PROC_TEST(sentinel_is_readable_when_the_child_ends, .timeout = 60) {
    int fds[2];
    cloexec_pipe(fds);
    pc_process *p = start_fn(m, wait_on_fd, &fds[0], sizeof fds[0], &fds[0], 1);
    int s = pc_process_sentinel(p);
    cr_assert_geq(s, 0);
    struct pollfd pf = {.fd = s, .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, 0), 0);
    cr_assert_eq(write(fds[1], "\x05", 1), 1);
    cr_assert_eq(poll(&pf, 1, 30000), 1);
    cr_assert_eq(join_code(p), 5);
    pc_process_free(p);
    close(fds[0]);
    close(fds[1]);
}

PROC_TEST(active_children_lists_the_running_and_reaps_the_rest, .timeout = 60) {
    int fds[2];
    cloexec_pipe(fds);
    pc_process *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = start_fn(m, wait_on_fd, &fds[0], sizeof fds[0], &fds[0], 1);
    pc_process *out[8];
    cr_assert_eq(pc_active_children(out, 8), 3);
    for (int i = 0; i < 3; i++)
        cr_assert(out[i] == p[0] || out[i] == p[1] || out[i] == p[2]);
    cr_assert_eq(pc_active_children(NULL, 0), 3);
    cr_assert_eq(write(fds[1], "\x01", 1), 1); /* one of them ends */
    int left = 3;
    for (double t0 = pc_now(); left == 3 && pc_now() - t0 < 30; pc_sleep(0.01))
        left = pc_active_children(out, 8);
    cr_assert_eq(left, 2);
    /* a freed running child is reaped, not listed */
    pc_process_free(out[0]);
    cr_assert_eq(pc_active_children(NULL, 0), 1);
    /* (a write, not a close: a fork child holds the write end too) */
    cr_assert_eq(write(fds[1], "\x01\x01", 2), 2);
    for (double t0 = pc_now(); left > 0 && pc_now() - t0 < 30; pc_sleep(0.01))
        left = pc_active_children(NULL, 0);
    cr_assert_eq(left, 0);
    for (int i = 0; i < 3; i++)
        if (p[i] != out[0])
            pc_process_free(p[i]);
    close(fds[0]);
    close(fds[1]);
}

Test(process, the_main_process) {
    pc_process *me = pc_process_current();
    cr_assert_str_eq(pc_process_name(me), "MainProcess");
    cr_assert_eq(pc_process_pid(me), getpid());
    cr_assert(pc_process_is_alive(me));
    cr_assert_null(pc_process_parent());
    expect_rc(pc_process_join(me, 1), -EDEADLK);
    expect_rc(pc_process_start(me), -EALREADY);
}

Test(process, start_methods_and_contexts) {
    cr_assert_eq(pc_get_start_method(), PC_START_FORKSERVER);
    cr_assert_str_eq(pc_start_method_name(PC_START_SPAWN), "spawn");
    cr_assert_eq(pc_context_start_method(pc_get_context(PC_START_FORK)), PC_START_FORK);
    cr_assert_null(pc_get_context((pc_start_method)17));
    expect_rc(pc_set_start_method((pc_start_method)17, false), -EINVAL);
    expect_rc(pc_set_start_method(PC_START_SPAWN, false), 0);
    /* an object made through a context uses its method */
    pc_process *p;
    int code = 9;
    expect_rc(pc_process_new(&p, exit_with, &code, sizeof code,
                             &(pc_process_opts){.context = pc_get_context(PC_START_FORK)}),
              0);
    expect_rc(pc_process_start(p), 0);
    cr_assert_eq(pc_process_start_method(p), PC_START_FORK);
    cr_assert_eq(join_code(p), 9);
    pc_process_free(p);
    /* the default is used, and then fixed */
    expect_rc(pc_process_new(&p, exit_with, &code, sizeof code, NULL), 0);
    expect_rc(pc_process_start(p), 0);
    cr_assert_eq(pc_process_start_method(p), PC_START_SPAWN);
    cr_assert_eq(join_code(p), 9);
    pc_process_free(p);
    expect_rc(pc_set_start_method(PC_START_FORK, false), -EBUSY);
    expect_rc(pc_set_start_method(PC_START_FORK, true), 0);
}

/* A large argument crosses intact (under spawn and forkserver it streams
 * through the channel while the child reads it). */
static int check_big(void *arg, size_t len) {
    const unsigned char *b = arg;
    if (len != 4u << 20)
        return 1;
    for (size_t i = 0; i < len; i++)
        if (b[i] != (unsigned char)(i * 7 + (i >> 12)))
            return 2;
    return 0;
}

PROC_TEST(a_large_argument_crosses_intact, .timeout = 60) {
    size_t len = 4u << 20;
    unsigned char *b = malloc(len);
    cr_assert_not_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char)(i * 7 + (i >> 12));
    pc_process *p = start_fn(m, check_big, b, len, NULL, 0);
    free(b);
    cr_assert_eq(join_code(p), 0);
    pc_process_free(p);
}

/* Any function of a loaded library is a target: one of libc (linked), and
 * one of a library this process loaded with dlopen, which a spawn or
 * forkserver child loads by path.  Both take no arguments: the two the
 * child passes are ignored by the ABI. */
static pc_process_fn as_target(void *fn) {
    return (pc_process_fn)(void (*)(void))fn;
}

PROC_TEST(library_functions_are_targets, .timeout = 60) {
    void *z = dlopen("libz.so.1", RTLD_NOW);
    if (!z) {
        cr_log_info("libz.so.1 not found: skipped");
        return;
    }
    unsigned long (*flags)(void) = (unsigned long (*)(void))dlsym(z, "zlibCompileFlags");
    cr_assert_not_null(flags);
    pc_process *p = start_fn(m, as_target((void *)flags), NULL, 0, NULL, 0);
    cr_assert_eq(join_code(p), (int)(flags() & 0xff));
    pc_process_free(p);
    if (m != PC_START_FORKSERVER) { /* there the server is the real parent */
        p = start_fn(m, as_target((void *)getppid), NULL, 0, NULL, 0);
        cr_assert_eq(join_code(p), getpid() & 0xff);
        pc_process_free(p);
    }
}

/* Threads start and join children at once: every one gets its own exit
 * code back (the forkserver's requests are serialized, the registry
 * shared). */
struct starter {
    pc_start_method m;
    int base;
    int bad;
};

static void *start_many(void *arg) {
    struct starter *s = arg;
    for (int i = 0; i < 8; i++) {
        int code = s->base + i;
        pc_process *p;
        pc_process_opts o = with_method(s->m);
        if (pc_process_new(&p, exit_with, &code, sizeof code, &o) || pc_process_start(p) ||
            pc_process_join(p, 30)) {
            s->bad++;
            continue;
        }
        int got = -1;
        if (pc_process_exitcode(p, &got) || got != code)
            s->bad++;
        pc_process_free(p);
    }
    return NULL;
}

PROC_TEST(threads_start_children_at_once, .timeout = 120) {
    struct starter s[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (struct starter){.m = m, .base = 10 * (i + 1)};
        t[i] = start_pthread(start_many, &s[i]);
    }
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pthread_join(t[i], NULL), 0);
        cr_assert_eq(s[i].bad, 0, "thread %d: %d failures", i, s[i].bad);
    }
    cr_assert_eq(pc_active_children(NULL, 0), 0);
}

/* SIGCHLD stays the application's: its handler is left in place and still
 * called for pyconc's children (fork and spawn; the forkserver's children
 * signal the server). */
static volatile sig_atomic_t chld_seen;
static void on_chld(int sig) {
    (void)sig;
    chld_seen = 1;
}

PROC_TEST(sigchld_stays_the_applications, .timeout = 60) {
    struct sigaction sa = {.sa_handler = on_chld, .sa_flags = SA_RESTART}, now;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGCHLD, &sa, NULL), 0);
    int code = 3;
    pc_process *p = start_fn(m, exit_with, &code, sizeof code, NULL, 0);
    cr_assert_eq(join_code(p), 3);
    pc_process_free(p);
    cr_assert_eq(sigaction(SIGCHLD, NULL, &now), 0);
    cr_assert(now.sa_handler == on_chld);
    if (m != PC_START_FORKSERVER)
        cr_assert_eq(chld_seen, 1);
}
