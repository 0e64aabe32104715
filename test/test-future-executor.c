/* pc_loop_run_in_executor: the default executor, its futures, its size,
 * LoopExit with its threads around, shutdown and fork. */
#include <errno.h>
#include <netdb.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static int token;

static int return_token(void *arg, void **value) {
    (void)arg;
    const char *name = pc_thread_name(pc_thread_current());
    if (strncmp(name, "pc-executor-", 12) != 0)
        return -ESRCH; /* not on an executor thread */
    *value = &token;
    return 0;
}

static int fail_with(void *arg, void **value) {
    (void)value;
    return (int)(long)arg;
}

static int submit_and_wait(void *arg, void **value) {
    pc_future *f;
    int r = pc_loop_run_in_executor(pc_loop_current(), arg, NULL, &f);
    if (r)
        return r;
    r = pc_future_value(f, value, 30.0);
    pc_future_release(f);
    return r;
}

Test(executor, round_trip_from_a_coroutine, .timeout = 30) {
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, submit_and_wait, (void *)return_token, NULL), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    expect_rc(pc_coro_error(c), 0);
    cr_assert_eq(pc_coro_value(c), &token);
    pc_coro_free(c);
}

Test(executor, round_trip_from_a_thread, .timeout = 30) {
    pc_future *f;
    expect_rc(pc_loop_run_in_executor(NULL, return_token, NULL, &f), 0);
    void *v = NULL;
    expect_rc(pc_future_value(f, &v, 30.0), 0);
    cr_assert_eq(v, &token);
    cr_assert(pc_future_done(f) && !pc_future_cancelled(f));
    pc_future_release(f);
}

Test(executor, errors_reach_the_waiter, .timeout = 30) {
    pc_future *f;
    expect_rc(pc_loop_run_in_executor(NULL, fail_with, (void *)(long)-EIO, &f), 0);
    expect_rc(pc_future_value(f, NULL, 30.0), -EIO);
    expect_rc(pc_future_error(f), -EIO);
    pc_future_release(f);
    expect_rc(pc_loop_run_in_executor(NULL, fail_with, (void *)5L, &f), 0);
    expect_rc(pc_future_value(f, NULL, 30.0), -EINVAL); /* a positive code is no code */
    pc_future_release(f);
}

Test(executor, bad_input_and_alloc_failure, .timeout = 30) {
    pc_future *f;
    expect_rc(pc_loop_run_in_executor(NULL, NULL, NULL, &f), -EINVAL);
    expect_rc(pc_loop_run_in_executor(NULL, return_token, NULL, NULL), -EINVAL);
    /* every allocation of a first submission (the pool, its queue, its
     * first thread) and of later ones */
    int ok = 0;
    for (long nth = 1; nth <= 40; nth++) {
        pc_alloc_fail_nth(nth);
        int r = pc_loop_run_in_executor(NULL, return_token, NULL, &f);
        pc_alloc_fail_nth(0);
        cr_assert(r == 0 || r == -ENOMEM || r == -EAGAIN, "nth %ld: %d", nth, r);
        if (r == 0) {
            expect_rc(pc_future_value(f, NULL, 30.0), 0);
            pc_future_release(f);
            ok++;
        }
    }
    cr_assert(ok > 0);
}

/* A done callback added before the work ends runs on the executor
 * thread that completed it; added afterwards, at once on the adder. */
struct where {
    pc_event *release, *noted;
    pc_thread *ran_on;
};

static int wait_release(void *arg, void **value) {
    (void)value;
    return pc_event_wait(((struct where *)arg)->release, 30.0);
}

static void note_thread(pc_future *f, void *arg) {
    (void)f;
    struct where *w = arg;
    w->ran_on = pc_thread_current();
    expect_rc(pc_event_set(w->noted), 0);
}

Test(executor, callbacks_run_on_the_completing_thread, .timeout = 30) {
    struct where w = {0};
    expect_rc(pc_event_new(&w.release), 0);
    expect_rc(pc_event_new(&w.noted), 0);
    pc_future *f;
    expect_rc(pc_loop_run_in_executor(NULL, wait_release, &w, &f), 0);
    expect_rc(pc_future_add_done_callback(f, note_thread, &w), 0); /* not done yet */
    expect_rc(pc_event_set(w.release), 0);
    expect_rc(pc_future_value(f, NULL, 30.0), 0);
    /* the callback runs after the waiters are woken: wait for it */
    expect_rc(pc_event_wait(w.noted, 30.0), 0);
    cr_assert_not_null(w.ran_on);
    cr_assert_neq(w.ran_on, pc_thread_current());
    cr_assert(strncmp(pc_thread_name(w.ran_on), "pc-executor-", 12) == 0);
    expect_rc(pc_future_add_done_callback(f, note_thread, &w), 0); /* done: at once, here */
    cr_assert_eq(w.ran_on, pc_thread_current());
    pc_future_release(f);
    pc_event_free(w.release);
    pc_event_free(w.noted);
}

/* Sequential work reuses the idle thread instead of starting another. */
static int record_thread(void *arg, void **value) {
    (void)value;
    *(pc_thread **)arg = pc_thread_current();
    return 0;
}

Test(executor, idle_threads_are_reused, .timeout = 30) {
    pc_thread *first = NULL, *t = NULL;
    for (int i = 0; i < 20; i++) {
        pc_future *f;
        expect_rc(pc_loop_run_in_executor(NULL, record_thread, &t, &f), 0);
        expect_rc(pc_future_value(f, NULL, 30.0), 0);
        pc_future_release(f);
        if (i == 0)
            first = t;
        cr_assert_eq(t, first, "round %d ran on another thread", i);
    }
    expect_rc(pc_thread_active_count(), 2);
}

/* The pool grows to min(32, cpus + 4) threads, no more; work beyond
 * waits in the queue, and cancelling it there means it never runs. */
struct gate {
    pc_event *open;
    _Atomic int entered, ran_late;
};

static int wait_gate(void *arg, void **value) {
    (void)value;
    struct gate *g = arg;
    atomic_fetch_add(&g->entered, 1);
    return pc_event_wait(g->open, 30.0);
}

static int must_not_run(void *arg, void **value) {
    (void)value;
    atomic_store(&((struct gate *)arg)->ran_late, 1);
    return 0;
}

Test(executor, size_limit_and_cancel_while_queued, .timeout = 60) {
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int max = CPU_COUNT(&set) + 4 < 32 ? CPU_COUNT(&set) + 4 : 32;
    struct gate g = {0};
    expect_rc(pc_event_new(&g.open), 0);
    pc_future *f[33];
    for (int i = 0; i < max; i++)
        expect_rc(pc_loop_run_in_executor(NULL, wait_gate, &g, &f[i]), 0);
    pc_future *late, *later;
    pc_thread *ran_later = NULL;
    expect_rc(pc_loop_run_in_executor(NULL, must_not_run, &g, &late), 0);
    expect_rc(pc_loop_run_in_executor(NULL, record_thread, &ran_later, &later), 0);
    expect_rc(pc_future_cancel(late), 0); /* every thread is busy: it is still queued */
    cr_assert_eq(pc_thread_active_count(), 1 + max);
    expect_rc(pc_event_set(g.open), 0);
    for (int i = 0; i < max; i++) {
        expect_rc(pc_future_value(f[i], NULL, 30.0), 0);
        pc_future_release(f[i]);
    }
    expect_rc(pc_future_value(later, NULL, 30.0), 0); /* queued behind the cancelled one */
    cr_assert_not_null(ran_later);
    expect_rc(pc_future_value(late, NULL, 0), -ECANCELED);
    cr_assert_eq(atomic_load(&g.ran_late), 0);
    cr_assert_eq(atomic_load(&g.entered), max);
    cr_assert_eq(pc_thread_active_count(), 1 + max);
    pc_future_release(late);
    pc_future_release(later);
    pc_event_free(g.open);
}

/* pc_io_resolve runs on the executor: from a coroutine it parks. */
static int resolve_coro(void *arg, void **value) {
    (void)arg;
    struct addrinfo *res = NULL;
    int r = pc_io_resolve("localhost", "80", SOCK_STREAM, &res, 10.0);
    if (r == 0) {
        cr_assert_not_null(res);
        freeaddrinfo(res);
    }
    *value = res;
    return r;
}

Test(executor, resolve_from_a_coroutine, .timeout = 30) {
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, resolve_coro, NULL, NULL), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    expect_rc(pc_coro_error(c), 0);
    pc_coro_free(c);
    cr_assert(pc_thread_active_count() >= 2); /* the executor's thread stays, idle */
}

/* ---------------------------------------------------------------- LoopExit */

static int slow_token(void *arg, void **value) {
    (void)arg;
    pc_sleep(0.2); /* busy: the loop must not give up on the waiter */
    *value = &token;
    return 0;
}

Test(executor, a_coroutine_waiting_on_busy_work_is_no_loopexit, .timeout = 30) {
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, submit_and_wait, (void *)slow_token, NULL), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    expect_rc(pc_coro_error(c), 0);
    cr_assert_eq(pc_coro_value(c), &token);
    pc_coro_free(c);
}

static int wait_event(void *arg, void **value) {
    (void)value;
    return pc_event_wait(arg, PC_FOREVER);
}

Test(executor, idle_executor_threads_do_not_prevent_loopexit, .timeout = 30) {
    /* start some threads, and leave them idle */
    pc_coro *c[3];
    for (int i = 0; i < 3; i++)
        expect_rc(pc_coro_spawn(&c[i], submit_and_wait, (void *)slow_token, NULL), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    cr_assert(pc_thread_active_count() > 1);
    for (int i = 0; i < 3; i++) {
        expect_rc(pc_coro_error(c[i]), 0);
        pc_coro_free(c[i]);
    }
    /* a coroutine waiting on what nobody will ever set */
    pc_event *e;
    expect_rc(pc_event_new(&e), 0);
    pc_coro *w;
    expect_rc(pc_coro_spawn(&w, wait_event, e, NULL), 0);
    expect_rc(pc_loop_run(pc_loop_current()), -EDEADLK);
    expect_rc(pc_event_set(e), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    expect_rc(pc_coro_error(w), 0);
    pc_coro_free(w);
    pc_event_free(e);
}

/* ---------------------------------------------------------------- shutdown */

Test(executor, shutdown_and_start_afresh, .timeout = 30) {
    expect_rc(pc_executor_shutdown(0), 0); /* nothing to shut down */
    pc_future *f;
    expect_rc(pc_loop_run_in_executor(NULL, slow_token, NULL, &f), 0);
    expect_rc(pc_executor_shutdown(30.0), 0); /* queued work still runs */
    cr_assert(pc_future_done(f));
    expect_rc(pc_future_value(f, NULL, 0), 0);
    pc_future_release(f);
    double t0 = pc_now();
    while (pc_thread_active_count() > 1 && pc_now() - t0 < 10) /* the last one is leaving */
        pc_sleep(0.001);
    expect_rc(pc_thread_active_count(), 1);
    expect_rc(pc_loop_run_in_executor(NULL, return_token, NULL, &f), 0);
    expect_rc(pc_future_value(f, NULL, 30.0), 0);
    pc_future_release(f);
    expect_rc(pc_executor_shutdown(0), 0); /* wait=False */
    expect_rc(pc_executor_shutdown(30.0), 0);
}

/* -------------------------------------------------------------------- fork */

Test(executor, a_fork_child_gets_a_fresh_pool, .timeout = 30) {
    pc_future *f;
    expect_rc(pc_loop_run_in_executor(NULL, return_token, NULL, &f), 0);
    expect_rc(pc_future_value(f, NULL, 30.0), 0);
    pc_future_release(f);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        /* no executor thread here: the work runs on a new one (TSan
         * does not support new threads after a multi-threaded fork) */
        int bad = pc_thread_active_count() != 1;
        if (!PC_UNDER_TSAN) {
            void *v = NULL;
            pc_future *g;
            bad |= pc_loop_run_in_executor(NULL, return_token, NULL, &g) != 0;
            bad |= !bad && pc_future_value(g, &v, 10.0) != 0;
            bad |= v != &token;
        }
        _exit(bad);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
}
