/* The process pool when workers die: killed by a signal or exiting in a
 * task, killed while idle, killed while sending a result (a fault hook);
 * tasks queued behind a dead one run elsewhere; malformed results;
 * map_async / imap report the failed items; terminate during a long map
 * returns within a second.  After each, the pool still works. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "pool-helpers.h"

/* Test-only fault hook of the worker (src/pool/procpool.h). */
extern int (*pc__pp_hook)(int point, const void *arg, size_t len);
enum { PP_HOOK_TASK = 1, PP_HOOK_RESULT_HALF, PP_HOOK_RESULT };

#define POOL_TEST(name, ...) PROC_POOL_TEST(pool_crash, name, __VA_ARGS__)

/* int x: -1 kills its worker (SIGKILL), -2 exits it with status 3,
 * else x * x */
static int sq_or_die(const void *arg, size_t len, pc_task_result *out) {
    int x;
    memcpy(&x, arg, sizeof x);
    if (x == -1)
        raise(SIGKILL);
    if (x == -2)
        _exit(3);
    return square(arg, len, out);
}

static int my_pid(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len;
    int pid = getpid();
    return pc_task_return(out, &pid, sizeof pid);
}

/* The pool still runs 40 tasks right. */
static void still_works(pc_pool *p) {
    int xs[40];
    for (int i = 0; i < 40; i++)
        xs[i] = i;
    pc_pool_map_result *r;
    expect_rc(pc_pool_map(p, sq_or_die, PC_POOL_ARRAY(xs, 40), 1, &r, 30.0), 0);
    pc_pool_map_free(r);
}

static void expect_died(pc_future *f, const char *how) {
    const void *b;
    expect_rc(pc_future_result(f, &b, NULL, 30.0), PC_EWORKERDIED);
    const char *msg = pc_future_error_message(f);
    cr_assert(msg && strstr(msg, "worker pid ") && strstr(msg, how), "message: %s", msg);
}

POOL_TEST(a_worker_killed_mid_task_fails_that_task_only, .timeout = 60) {
    pc_pool *p = proc_pool(m, 2);
    pc_future *f[20];
    for (int i = 0; i < 20; i++) {
        int x = i == 5 ? -1 : i;
        expect_rc(pc_pool_apply_async(p, sq_or_die, &x, sizeof x, NULL, &f[i]), 0);
    }
    for (int i = 0; i < 20; i++) {
        if (i == 5)
            expect_died(f[i], "killed by signal 9 (SIGKILL)");
        else
            cr_assert_eq(result_int(f[i]), i * i);
        pc_future_release(f[i]);
    }
    still_works(p);
    end_pool(p);
}

POOL_TEST(a_worker_exiting_mid_task_names_its_status, .timeout = 60) {
    pc_pool *p = proc_pool(m, 1);
    int x = -2;
    char msg[128];
    expect_rc(pc_pool_apply(p, sq_or_die, &x, sizeof x, msg, sizeof msg, NULL, 30.0),
              PC_EWORKERDIED);
    cr_assert(strstr(msg, "exited with status 3"), "%s", msg);
    still_works(p);
    end_pool(p);
}

/* One worker: the tasks queued behind the one that kills it were handed
 * to it but not begun; they run on its replacement. */
POOL_TEST(tasks_queued_behind_a_crash_run_on_the_replacement, .timeout = 60) {
    pc_pool *p = proc_pool(m, 1);
    pc_future *f[10];
    for (int i = 0; i < 10; i++) {
        int x = i == 0 ? -1 : i;
        expect_rc(pc_pool_apply_async(p, sq_or_die, &x, sizeof x, NULL, &f[i]), 0);
    }
    expect_died(f[0], "SIGKILL");
    for (int i = 1; i < 10; i++)
        cr_assert_eq(result_int(f[i]), i * i);
    for (int i = 0; i < 10; i++)
        pc_future_release(f[i]);
    end_pool(p);
}

POOL_TEST(an_idle_worker_killed_is_replaced, .timeout = 60) {
    pc_pool *p = proc_pool(m, 1);
    int pid = 0, pid2 = 0;
    expect_rc(pc_pool_apply(p, my_pid, NULL, 0, &pid, sizeof pid, NULL, 30.0), 0);
    cr_assert_eq(kill(pid, SIGKILL), 0);
    still_works(p);
    expect_rc(pc_pool_apply(p, my_pid, NULL, 0, &pid2, sizeof pid2, NULL, 30.0), 0);
    cr_assert_neq(pid, pid2);
    end_pool(p);
}

POOL_TEST(map_async_and_imap_report_the_lost_items, .timeout = 60) {
    pc_pool *p = proc_pool(m, 2);
    int xs[60];
    for (int i = 0; i < 60; i++)
        xs[i] = i == 17 || i == 40 ? -1 : i;
    pc_pool_map_result *r;
    expect_rc(pc_pool_map_async(p, sq_or_die, PC_POOL_ARRAY(xs, 60), 1, &r), 0);
    expect_rc(pc_pool_map_wait(r, 30.0), PC_EWORKERDIED);
    for (size_t i = 0; i < 60; i++) {
        const void *b;
        int e = pc_pool_map_get(r, i, &b, NULL);
        if (i == 17 || i == 40)
            expect_rc(e, PC_EWORKERDIED);
        else
            cr_assert(e == 0 && *(const int *)b == (int)(i * i), "item %zu: %d", i, e);
    }
    pc_pool_map_free(r);
    pc_pool_iter *it;
    expect_rc(pc_pool_imap(p, sq_or_die, PC_POOL_ARRAY(xs, 60), 1, 10, &it), 0);
    size_t idx, count = 0;
    const void *b;
    int e;
    while ((e = pc_pool_iter_next(it, &idx, &b, NULL, 30.0)) != -ENOENT) {
        cr_assert_eq(idx, count);
        if (idx == 17 || idx == 40) {
            expect_rc(e, PC_EWORKERDIED);
            cr_assert(strstr(pc_pool_iter_error_message(it), "SIGKILL"));
        } else {
            expect_rc(e, 0);
        }
        count++;
    }
    cr_assert_eq(count, 60);
    pc_pool_iter_free(it);
    end_pool(p);
}

/* ---- fault hook (fork: the hook is inherited) ---- */

static int die_at_hook(int point, const void *arg, size_t len) {
    int x = 0;
    if (len == sizeof x)
        memcpy(&x, arg, sizeof x);
    if (point == PP_HOOK_TASK && x == 1001)
        raise(SIGKILL); /* begun, before the function runs */
    if (point == PP_HOOK_RESULT_HALF && x == 1002)
        raise(SIGKILL); /* half of the result written */
    if (point == PP_HOOK_RESULT && x == 1003)
        return 1; /* a malformed record */
    return 0;
}

/* 1000 + n -> a 40-byte result (so that the half-written hook has bytes) */
static int forty(const void *arg, size_t len, pc_task_result *out) {
    (void)len;
    char b[40];
    memset(b, 'x', sizeof b);
    memcpy(b, arg, sizeof(int));
    return pc_task_return(out, b, sizeof b);
}

Test(pool_crash_fork, killed_at_every_stage, .timeout = 60) {
    pc__pp_hook = die_at_hook;
    pc_pool *p = proc_pool(PC_START_FORK, 2);
    int stages[] = {1001, 1002, 1003};
    const int want[] = {PC_EWORKERDIED, PC_EWORKERDIED, -EPROTO};
    for (int s = 0; s < 3; s++) {
        pc_future *f[12];
        for (int i = 0; i < 12; i++) {
            int x = i == 6 ? stages[s] : i;
            expect_rc(pc_pool_apply_async(p, forty, &x, sizeof x, NULL, &f[i]), 0);
        }
        for (int i = 0; i < 12; i++) {
            const void *b;
            size_t n;
            int e = pc_future_result(f[i], &b, &n, 30.0);
            if (i == 6) {
                expect_rc(e, want[s]);
                cr_assert(strstr(pc_future_error_message(f[i]), "worker pid "));
            } else {
                expect_rc(e, 0);
                cr_assert(n == 40 && *(const int *)b == i);
            }
            pc_future_release(f[i]);
        }
        still_works(p);
    }
    end_pool(p);
    pc__pp_hook = NULL; /* called in workers only; each forked one has its copy */
}

/* ---- terminate ---- */

static int long_nap(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len, (void)out;
    pc_sleep(20);
    return 0;
}

POOL_TEST(terminate_during_a_long_map_returns_within_a_second, .timeout = 60) {
    pc_pool *p = proc_pool(m, 2);
    int xs[200] = {0};
    pc_pool_map_result *r;
    expect_rc(pc_pool_map_async(p, long_nap, PC_POOL_ARRAY(xs, 200), 1, &r), 0);
    /* let both workers begin a task */
    pc_sleep(0.2);
    double t0 = pc_now();
    expect_rc(pc_pool_terminate(p), 0);
    expect_rc(pc_pool_map_wait(r, 5.0), -ECANCELED);
    expect_rc(pc_pool_join(p, 5.0), 0);
    double took = pc_now() - t0;
    cr_assert(took < 1.0, "terminate + join took %.3f s", took);
    for (size_t i = 0; i < 200; i++)
        expect_rc(pc_pool_map_get(r, i, NULL, NULL), -ECANCELED);
    pc_pool_map_free(r);
    int x = 1;
    pc_future *f;
    expect_rc(pc_pool_apply_async(p, square, &x, sizeof x, NULL, &f), -EPIPE);
    pc_pool_free(p);
}

POOL_TEST(free_without_close_kills_the_workers, .timeout = 60) {
    pc_pool *p = proc_pool(m, 1);
    int pid;
    expect_rc(pc_pool_apply(p, my_pid, NULL, 0, &pid, sizeof pid, NULL, 30.0), 0);
    pc_future *f;
    expect_rc(pc_pool_apply_async(p, long_nap, NULL, 0, NULL, &f), 0);
    pc_pool_free(p);
    const void *b;
    expect_rc(pc_future_result(f, &b, NULL, 5.0), -ECANCELED);
    pc_future_release(f);
    double t0 = pc_now();
    while (kill(pid, 0) == 0 && pc_now() - t0 < 5.0)
        pc_sleep(0.01);
    cr_assert_neq(kill(pid, 0), 0, "worker %d still alive", pid);
}
