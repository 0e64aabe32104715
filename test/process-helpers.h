/* Shared by the test-process-*.c files: a test written once and run under
 * each start method, and child targets used by several files. */
#ifndef PC_TEST_PROCESS_HELPERS_H
#define PC_TEST_PROCESS_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* PROC_TEST(name, opts...) { body using `m` } defines the test three
 * times, as suite process_fork / process_spawn / process_forkserver. */
#define PROC_TEST(name, ...)                                                                       \
    static void name##_body(pc_start_method m);                                                    \
    Test(process_fork, name, __VA_ARGS__) {                                                        \
        name##_body(PC_START_FORK);                                                                \
    }                                                                                              \
    Test(process_spawn, name, __VA_ARGS__) {                                                       \
        name##_body(PC_START_SPAWN);                                                               \
    }                                                                                              \
    Test(process_forkserver, name, __VA_ARGS__) {                                                  \
        name##_body(PC_START_FORKSERVER);                                                          \
    }                                                                                              \
    static void name##_body(pc_start_method m)

static inline pc_process_opts with_method(pc_start_method m) {
    return (pc_process_opts){.method = m};
}

/* A close-on-exec pipe: a child sees only the ends passed to it. */
static inline void cloexec_pipe(int fds[2]) {
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
}

/* Start target(arg) under m, passing fds; returns the object. */
static inline pc_process *start_fn(pc_start_method m, pc_process_fn target, const void *arg,
                                   size_t len, const int *fds, int nfds) {
    pc_process_opts o = with_method(m);
    o.pass_fds = fds;
    o.n_pass_fds = nfds;
    pc_process *p;
    expect_rc(pc_process_new(&p, target, arg, len, &o), 0);
    expect_rc(pc_process_start(p), 0);
    return p;
}

static inline int join_code(pc_process *p) {
    expect_rc(pc_process_join(p, 30), 0);
    int code = 12345;
    expect_rc(pc_process_exitcode(p, &code), 0);
    return code;
}

/* Child target: exit with the int it was given. */
static inline int exit_with(void *arg, size_t len) {
    return len == sizeof(int) ? *(int *)arg : 99;
}

/* Child target: read one byte from fd (the int argument), exit with it;
 * 0 at end of stream.  Blocks the child until the test lets it go. */
static inline int wait_on_fd(void *arg, size_t len) {
    if (len != sizeof(int))
        return 99;
    char c = 0;
    ssize_t n = read(*(int *)arg, &c, 1);
    return n == 1 ? c : n == 0 ? 0 : 98;
}

#endif
