/* Coroutines: spawn, run, sleep, yield, join, kill, value and error. */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <unistd.h>

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

/* ------------------------------------------------ hand-over and turns */

static int busy_until_set(void *arg, void **value) {
    (void)value;
    _Atomic bool *done = arg;
    for (long i = 0; i < 10000000 && !atomic_load(done); i++)
        pc_coro_yield();
    return atomic_load(done) ? 0 : -ETIMEDOUT;
}

static int pipe_reader(void *arg, void **value) {
    (void)value;
    int *fds = arg;
    int r = pc_wait_fd(fds[0], POLLIN, 10.0);
    return r > 0 ? 0 : r;
}

struct reader_and_flag {
    pc_coro *reader;
    _Atomic bool done;
};

static void set_done(pc_coro *c, void *arg) {
    (void)c;
    atomic_store(&((struct reader_and_flag *)arg)->done, true);
}

/* A coroutine that only yields keeps coroutines ready at every turn; the
 * loop must still poll the fds, or the reader never wakes. */
Test(coro, busy_yielders_do_not_starve_fds, .timeout = 30) {
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    struct reader_and_flag rf = {0};
    pc_coro *busy;
    expect_rc(pc_coro_spawn(&rf.reader, pipe_reader, fds, NULL), 0);
    expect_rc(pc_coro_link(rf.reader, set_done, &rf), 0);
    expect_rc(pc_coro_spawn(&busy, busy_until_set, &rf.done, NULL), 0);
    cr_assert_eq(write(fds[1], "x", 1), 1);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    expect_rc(pc_coro_error(rf.reader), 0);
    expect_rc(pc_coro_error(busy), 0);
    pc_coro_free(rf.reader);
    pc_coro_free(busy);
    close(fds[0]);
    close(fds[1]);
}

static void trace_callback(void *arg) {
    trace[tlen++] = (char)(intptr_t)arg;
}

static int yields_around_call_soon(void *arg, void **value) {
    (void)arg, (void)value;
    trace[tlen++] = '1';
    expect_rc(pc_loop_call_soon(pc_loop_current(), trace_callback, (void *)'c'), 0);
    pc_coro_yield();
    trace[tlen++] = '2';
    pc_coro_yield();
    trace[tlen++] = '3';
    return 0;
}

/* Coroutines hand over among themselves, but a callback queued in one
 * turn still runs before the coroutines of the next. */
Test(coro, a_callback_runs_between_turns) {
    pc_coro *c;
    tlen = 0;
    expect_rc(pc_coro_spawn(&c, yields_around_call_soon, NULL, NULL), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    trace[tlen] = 0;
    cr_assert_str_eq(trace, "1c23");
    pc_coro_free(c);
}

static int yields_three_times(void *arg, void **value) {
    (void)arg, (void)value;
    for (int i = 0; i < 3; i++)
        pc_coro_yield();
    return 0;
}

/* run_until returns once its coroutine ends, even while another keeps
 * coroutines ready (the hand-over between them must notice). */
Test(coro, run_until_stops_at_its_coroutine_among_busy_ones, .timeout = 30) {
    _Atomic bool done = false;
    pc_coro *busy, *short_one;
    expect_rc(pc_coro_spawn(&busy, busy_until_set, &done, NULL), 0);
    expect_rc(pc_coro_spawn(&short_one, yields_three_times, NULL, NULL), 0);
    pc_loop *l = pc_loop_current();
    expect_rc(pc_loop_run_until(l, short_one, 10.0), 0);
    cr_assert(pc_coro_ready(short_one));
    cr_assert(!pc_coro_ready(busy));
    atomic_store(&done, true);
    expect_rc(pc_loop_run(l), 0);
    expect_rc(pc_coro_error(busy), 0);
    pc_coro_free(busy);
    pc_coro_free(short_one);
}

static void never_runs(pc_coro *c, void *arg) {
    (void)c;
    (*(int *)arg)++;
}

/* A loop closed while a finished coroutine's link callback is still
 * queued drops the callback and the reference it holds (the leak checker
 * of the ASan build fails this test otherwise). */
Test(coro, closing_the_loop_drops_queued_links) {
    pc_coro *c;
    int ran = 0;
    expect_rc(pc_coro_spawn(&c, yields_three_times, NULL, NULL), 0);
    expect_rc(pc_coro_link(c, never_runs, &ran), 0);
    expect_rc(pc_loop_run_until(pc_loop_current(), c, 10.0), 0); /* returns as c ends */
    pc_coro_free(c);
    expect_rc(pc_loop_close(), 0);
    cr_assert_eq(ran, 0);
}
