/* Cancellation and misuse: a kill reaches a coroutine blocked in any
 * primitive as -ECANCELED, and leaves the primitive as it was. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static pc_lock lock = PC_LOCK_INIT;

static int in_lock(void *arg, void **value) {
    (void)arg;
    (void)value;
    return pc_lock_acquire(&lock, true, PC_FOREVER);
}

static int in_queue(void *arg, void **value) {
    return pc_queue_get(arg, value, PC_FOREVER);
}

static int in_sem(void *arg, void **value) {
    (void)value;
    return pc_sem_acquire(arg, true, 30.0);
}

static int in_sleep(void *arg, void **value) {
    (void)arg;
    (void)value;
    return pc_coro_sleep(30.0);
}

static int in_join(void *arg, void **value) {
    (void)value;
    return pc_coro_join(arg, PC_FOREVER);
}

Test(coro_cancel, kill_reaches_every_blocking_call, .timeout = 30) {
    pc_queue *q;
    pc_sem *s;
    pc_coro *sleeper, *c[5];
    expect_rc(pc_queue_new(&q, NULL), 0);
    expect_rc(pc_sem_new(&s, 0), 0);
    expect_rc(pc_lock_acquire(&lock, true, 0), 0);
    expect_rc(pc_coro_spawn(&sleeper, in_sleep, NULL, NULL), 0);
    expect_rc(pc_coro_spawn(&c[0], in_lock, NULL, NULL), 0);
    expect_rc(pc_coro_spawn(&c[1], in_queue, q, NULL), 0);
    expect_rc(pc_coro_spawn(&c[2], in_sem, s, NULL), 0);
    expect_rc(pc_coro_spawn(&c[3], in_sleep, NULL, NULL), 0);
    expect_rc(pc_coro_spawn(&c[4], in_join, sleeper, NULL), 0);
    /* let them all block: a zero-timeout run turns the loop until idle */
    expect_rc(pc_loop_run_until(pc_loop_current(), c[3], 0.05), -ETIMEDOUT);
    for (int i = 0; i < 5; i++) {
        cr_assert(pc_coro_started(c[i]) && !pc_coro_ready(c[i]), "coroutine %d not blocked", i);
        expect_rc(pc_coro_kill(c[i]), 0);
    }
    for (int i = 0; i < 5; i++) {
        expect_rc(pc_coro_join(c[i], 10.0), 0);
        expect_rc(pc_coro_error(c[i]), -ECANCELED);
        pc_coro_free(c[i]);
    }
    cr_assert(pc_lock_locked(&lock), "the killed acquirer must not hold the lock");
    expect_rc(pc_lock_release(&lock), 0);
    expect_rc(pc_sem_value(s), 0);
    expect_rc(pc_queue_put(q, (void *)1, 0), 0); /* nobody is left to take it */
    cr_assert_eq(pc_queue_qsize(q), 1);
    expect_rc(pc_coro_kill(sleeper), 0);
    expect_rc(pc_coro_join(sleeper, 10.0), 0);
    pc_coro_free(sleeper);
    pc_queue_free(q);
    pc_sem_free(s);
}

static int join_self(void *arg, void **value) {
    (void)arg;
    (void)value;
    return pc_coro_join(pc_coro_current(), 1.0);
}

Test(coro_cancel, misuse) {
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, join_self, NULL, NULL), 0);
    expect_rc(pc_coro_join(c, 10.0), 0);
    expect_rc(pc_coro_error(c), -EDEADLK);
    expect_rc(pc_coro_start(c), -EALREADY);
    expect_rc(pc_coro_kill(c), 0); /* finished: harmless */
    pc_coro_free(c);
    expect_rc(pc_coro_spawn(NULL, join_self, NULL, NULL), -EINVAL);
    expect_rc(pc_coro_spawn(&c, NULL, NULL, NULL), -EINVAL);
    expect_rc(pc_coro_join(NULL, 1), -EINVAL);
    expect_rc(pc_coro_kill(NULL), -EINVAL);
    expect_rc(pc_coro_sleep(NAN), -EINVAL);
    cr_assert_null(pc_coro_current());
    /* blocking calls outside any coroutine block the thread, as in Python */
    double t0 = pc_now();
    expect_rc(pc_coro_sleep(0.05), 0);
    cr_assert(pc_now() - t0 >= 0.045);
    expect_rc(pc_coro_yield(), 0);
    expect_rc(pc_coro_error(NULL), -EINVAL);
    cr_assert(!pc_coro_ready(NULL));
}

static int never_started_target(void *arg, void **value) {
    (void)arg;
    (void)value;
    return 0;
}

Test(coro_cancel, joining_a_coroutine_that_was_never_started) {
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, never_started_target, NULL, &(pc_coro_opts){.start_later = true}),
              0);
    expect_rc(pc_coro_join(c, 1.0), -EDEADLK);
    expect_rc(pc_coro_start(c), 0);
    expect_rc(pc_coro_join(c, 1.0), 0);
    expect_rc(pc_coro_error(c), 0);
    pc_coro_free(c);
}

/* Recurses until the stack runs out (the depth is a run-time value the
 * compiler cannot see through). */
static volatile int depth_limit = 1 << 30;
static int recurse(int n) {
    volatile char pad[1024];
    pad[0] = (char)n;
    return n < depth_limit ? recurse(n + 1) + pad[0] : 0;
}

static int overflow(void *arg, void **value) {
    (void)arg;
    (void)value;
    return recurse(0);
}

/* A coroutine that overflows its stack hits the guard (a fault), in a
 * child process: no memory beyond its stack is written. */
Test(coro_cancel, stack_overflow_faults_in_the_guard, .timeout = 30, .disabled = PC_UNDER_TSAN) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        pc_coro *c;
        if (pc_coro_spawn(&c, overflow, NULL, &(pc_coro_opts){.stack_size = 65536}) == 0)
            pc_coro_join(c, 10.0);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    if (PC_UNDER_ASAN) /* ASan reports the overflow and exits nonzero */
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0, "child status %#x", status);
    else
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "child status %#x", status);
}
