/* Coroutines: spawn, run, sleep, yield, join, kill, value and error. */
#include <errno.h>

#include "helpers.h"

static char trace[64];
static int tlen;

static int sleeper(void *arg, void **value) {
    trace[tlen++] = (char)('a' + (int)(intptr_t)arg);
    int r = pc_coro_sleep(0.1);
    if (r)
        return r;
    trace[tlen++] = (char)('A' + (int)(intptr_t)arg);
    *value = arg;
    return 0;
}

Test(coro, three_sleepers_finish_together) {
    pc_coro *c[3];
    tlen = 0;
    for (int i = 0; i < 3; i++)
        expect_rc(pc_coro_spawn(&c[i], sleeper, (void *)(intptr_t)i, NULL), 0);
    double t0 = pc_now();
    expect_rc(pc_coro_joinall(c, 3, 10.0), 0);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.09 && dt < 0.25, "three 0.1 s sleeps took %.3f s", dt);
    trace[tlen] = 0;
    cr_assert_str_eq(trace, "abcABC");
    for (int i = 0; i < 3; i++) {
        cr_assert(pc_coro_successful(c[i]));
        cr_assert_eq(pc_coro_value(c[i]), (void *)(intptr_t)i);
        pc_coro_free(c[i]);
    }
    expect_rc(pc_loop_close(), 0);
}

static int yielder(void *arg, void **value) {
    (void)value;
    for (int i = 0; i < 3; i++) {
        trace[tlen++] = (char)('0' + (int)(intptr_t)arg);
        pc_coro_yield();
    }
    return 0;
}

Test(coro, yield_round_robin) {
    pc_coro *c[2];
    tlen = 0;
    expect_rc(pc_coro_spawn(&c[0], yielder, (void *)1, NULL), 0);
    expect_rc(pc_coro_spawn(&c[1], yielder, (void *)2, NULL), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    trace[tlen] = 0;
    cr_assert_str_eq(trace, "121212");
    pc_coro_free(c[0]);
    pc_coro_free(c[1]);
}

static int fails(void *arg, void **value) {
    (void)arg;
    (void)value;
    return -EIO;
}

static int waits_forever(void *arg, void **value) {
    (void)value;
    return pc_event_wait(arg, PC_FOREVER);
}

Test(coro, error_and_kill) {
    pc_coro *f, *w, *never;
    pc_event *e;
    expect_rc(pc_event_new(&e), 0);
    expect_rc(pc_coro_spawn(&f, fails, NULL, NULL), 0);
    expect_rc(pc_coro_spawn(&w, waits_forever, e, NULL), 0);
    expect_rc(pc_coro_spawn(&never, sleeper, (void *)0, &(pc_coro_opts){.start_later = true}), 0);
    expect_rc(pc_coro_join(f, 5), 0);
    expect_rc(pc_coro_error(f), -EIO);
    cr_assert(!pc_coro_successful(f));
    cr_assert(pc_coro_started(w) && !pc_coro_ready(w));
    expect_rc(pc_coro_kill(w), 0);
    expect_rc(pc_coro_kill(w), 0); /* twice: harmless */
    expect_rc(pc_coro_join(w, 5), 0);
    expect_rc(pc_coro_error(w), -ECANCELED);
    tlen = 0;
    expect_rc(pc_coro_kill(never), 0); /* killed before it ran: never runs */
    expect_rc(pc_coro_join(never, 5), 0);
    expect_rc(pc_coro_error(never), -ECANCELED);
    cr_assert_eq(tlen, 0);
    pc_coro_free(f);
    pc_coro_free(w);
    pc_coro_free(never);
    pc_event_free(e);
}

static int lone_waiter(void *arg, void **value) {
    (void)value;
    return pc_event_wait(arg, PC_FOREVER);
}

Test(coro, loop_exit_instead_of_hang) {
    pc_coro *c;
    pc_event *e;
    expect_rc(pc_event_new(&e), 0);
    expect_rc(pc_coro_spawn(&c, lone_waiter, e, NULL), 0);
    expect_rc(pc_loop_run(pc_loop_current()), -EDEADLK);
    expect_rc(pc_coro_kill(c), 0);
    expect_rc(pc_coro_join(c, 5), 0);
    pc_coro_free(c);
    pc_event_free(e);
}
