/*
 * One way to wait: a coroutine joining a process parks only itself; the
 * other coroutines of its thread go on running, under each start method.
 */
#include "process-helpers.h"

struct scene {
    pc_process *p;
    int wfd;
    int ticks;         /* the ticker's progress; one thread */
    int ticks_at_join; /* what it was when the join returned */
    int joined;
};

static int joiner(void *arg, void **value) {
    (void)value;
    struct scene *s = arg;
    int rc = pc_process_join(s->p, 30);
    s->ticks_at_join = s->ticks;
    s->joined++;
    return rc;
}

static int ticker(void *arg, void **value) {
    (void)value;
    struct scene *s = arg;
    for (int i = 0; i < 5; i++) {
        s->ticks++;
        pc_coro_sleep(0.01);
    }
    /* only now let the child end */
    return write(s->wfd, "\x06", 1) == 1 ? 0 : -EIO;
}

PROC_TEST(a_coroutine_joining_parks_only_itself, .timeout = 60) {
    int fds[2];
    cloexec_pipe(fds);
    struct scene s = {.wfd = fds[1]};
    s.p = start_fn(m, wait_on_fd, &fds[0], sizeof fds[0], &fds[0], 1);
    pc_coro *j1, *j2, *t;
    expect_rc(pc_coro_spawn(&j1, joiner, &s, NULL), 0);
    expect_rc(pc_coro_spawn(&j2, joiner, &s, NULL), 0); /* two joiners, one child */
    expect_rc(pc_coro_spawn(&t, ticker, &s, NULL), 0);
    expect_rc(pc_coro_join(j1, 30), 0);
    expect_rc(pc_coro_join(j2, 30), 0);
    expect_rc(pc_coro_join(t, 30), 0);
    expect_rc(pc_coro_error(j1), 0);
    expect_rc(pc_coro_error(j2), 0);
    expect_rc(pc_coro_error(t), 0);
    cr_assert_eq(s.joined, 2);
    cr_assert_eq(s.ticks_at_join, 5);
    int code;
    expect_rc(pc_process_exitcode(s.p, &code), 0);
    cr_assert_eq(code, 6);
    pc_coro_free(j1);
    pc_coro_free(j2);
    pc_coro_free(t);
    pc_process_free(s.p);
    expect_rc(pc_loop_close(), 0);
    close(fds[0]);
    close(fds[1]);
}

static int join_briefly(void *arg, void **value) {
    (void)value;
    return pc_process_join(arg, 0.1);
}

PROC_TEST(a_coroutine_join_times_out, .timeout = 60) {
    int fds[2];
    cloexec_pipe(fds);
    pc_process *p = start_fn(m, wait_on_fd, &fds[0], sizeof fds[0], &fds[0], 1);
    pc_coro *c;
    double t0 = pc_now();
    expect_rc(pc_coro_spawn(&c, join_briefly, p, NULL), 0);
    expect_rc(pc_coro_join(c, 30), 0);
    expect_rc(pc_coro_error(c), -ETIMEDOUT);
    cr_assert_geq(pc_now() - t0, 0.09);
    pc_coro_free(c);
    expect_rc(pc_process_kill(p), 0);
    cr_assert_eq(join_code(p), -SIGKILL);
    pc_process_free(p);
    expect_rc(pc_loop_close(), 0);
    close(fds[0]);
    close(fds[1]);
}

static int starter(void *arg, void **value) {
    (void)value;
    pc_start_method m = *(pc_start_method *)arg;
    int code = 11;
    pc_process *p;
    pc_process_opts o = with_method(m);
    int rc = pc_process_new(&p, exit_with, &code, sizeof code, &o);
    if (rc == 0 && (rc = pc_process_start(p)) == 0 && (rc = pc_process_join(p, 30)) == 0) {
        rc = pc_process_exitcode(p, &code);
        if (rc == 0 && code != 11)
            rc = -EPROTO;
    }
    pc_process_free(p);
    return rc;
}

PROC_TEST(coroutines_start_and_join_children, .timeout = 60) {
    pc_coro *c[4];
    for (int i = 0; i < 4; i++)
        expect_rc(pc_coro_spawn(&c[i], starter, &m, NULL), 0);
    for (int i = 0; i < 4; i++) {
        expect_rc(pc_coro_join(c[i], 30), 0);
        expect_rc(pc_coro_error(c[i]), 0);
        pc_coro_free(c[i]);
    }
    expect_rc(pc_loop_close(), 0);
}
