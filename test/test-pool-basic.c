/* The thread pool: apply, apply_async and its callbacks, task errors,
 * the initializer, maxtasksperchild, close / terminate / join, the scope
 * helper, submissions after close, many submitters, coroutine waiters. */
#include <stdio.h>

#include "pool-helpers.h"

static pc_pool *new_pool(int workers) {
    pc_pool *p;
    expect_rc(pc_pool_new(&p, &(pc_pool_opts){.workers = workers}), 0);
    return p;
}

Test(pool, options, .timeout = 30) {
    pc_pool *p;
    expect_rc(pc_pool_new(&p, &(pc_pool_opts){.workers = -1}), -EINVAL);
    expect_rc(pc_pool_new(&p, &(pc_pool_opts){.maxtasksperchild = -1}), -EINVAL);
    expect_rc(pc_pool_new(&p, &(pc_pool_opts){.kind = 7}), -EINVAL);
    expect_rc(pc_pool_new(NULL, NULL), -EINVAL);
    expect_rc(pc_pool_new(&p, NULL), 0);
    cr_assert_eq(pc_pool_workers(p), pc_cpu_count());
    end_pool(p);
}

Test(pool, apply_returns_the_result, .timeout = 30) {
    pc_pool *p = new_pool(2);
    int x = 12, y = 0;
    size_t n = 0;
    expect_rc(pc_pool_apply(p, square, &x, sizeof x, &y, sizeof y, &n, 30.0), 0);
    cr_assert_eq(y, 144);
    cr_assert_eq(n, sizeof y);
    /* too small a buffer: -EMSGSIZE, and the size it needs */
    char small[2];
    n = 0;
    expect_rc(pc_pool_apply(p, square, &x, sizeof x, small, sizeof small, &n, 30.0), -EMSGSIZE);
    cr_assert_eq(n, sizeof(int));
    /* a failure: its code, its message in the buffer */
    char msg[64];
    x = 3;
    expect_rc(pc_pool_apply(p, square_but_3_7, &x, sizeof x, msg, sizeof msg, NULL, 30.0), -EIO);
    cr_assert_str_eq(msg, "bad 3");
    end_pool(p);
}

static int negative_return(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len, (void)out;
    return -ENOSPC;
}

static int positive_return(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len, (void)out;
    return 5;
}

static int big_result(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len;
    char b[100] = {0};
    pc_task_return(out, b, sizeof b);
    return 0;
}

static int fail_then_return_zero(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len;
    pc_task_return(out, "x", 1);
    pc_task_fail(out, -EPROTO, "fail wins");
    return 0;
}

Test(pool, task_outcomes, .timeout = 30) {
    pc_pool *p;
    expect_rc(pc_pool_new(&p, &(pc_pool_opts){.workers = 2, .max_result = 50}), 0);
    pc_future *f;
    expect_rc(pc_pool_apply_async(p, negative_return, NULL, 0, NULL, &f), 0);
    expect_rc(pc_future_result(f, NULL, NULL, 30.0), -ENOSPC);
    cr_assert_null(pc_future_error_message(f));
    pc_future_release(f);
    expect_rc(pc_pool_apply_async(p, positive_return, NULL, 0, NULL, &f), 0);
    expect_rc(pc_future_result(f, NULL, NULL, 30.0), -EINVAL);
    pc_future_release(f);
    expect_rc(pc_pool_apply_async(p, big_result, NULL, 0, NULL, &f), 0);
    expect_rc(pc_future_result(f, NULL, NULL, 30.0), -EMSGSIZE);
    cr_assert_not_null(pc_future_error_message(f));
    pc_future_release(f);
    expect_rc(pc_pool_apply_async(p, fail_then_return_zero, NULL, 0, NULL, &f), 0);
    expect_rc(pc_future_result(f, NULL, NULL, 30.0), -EPROTO);
    cr_assert_str_eq(pc_future_error_message(f), "fail wins");
    pc_future_release(f);
    /* the pool goes on */
    int x = 5;
    expect_rc(pc_pool_apply_async(p, square, &x, sizeof x, NULL, &f), 0);
    cr_assert_eq(result_int(f), 25);
    pc_future_release(f);
    end_pool(p);
}

/* ---- callbacks ---- */

enum { NCB = 40 };
static _Atomic int cb_hits[NCB], ecb_hits[NCB];

static void on_ok(pc_future *f, void *arg) {
    int i = (int)(long)arg;
    cr_assert_eq(pc_future_successful(f), 1);
    atomic_fetch_add(&cb_hits[i], 1);
}

static void on_err(pc_future *f, void *arg) {
    int i = (int)(long)arg;
    cr_assert_eq(pc_future_successful(f), 0);
    atomic_fetch_add(&ecb_hits[i], 1);
}

Test(pool, callbacks_run_once, .timeout = 30) {
    pc_pool *p = new_pool(3);
    pc_future *fs[NCB];
    for (int i = 0; i < NCB; i++) {
        int x = i % 10; /* 3 and 7 fail */
        pc_pool_callbacks cbs = {on_ok, on_err, (void *)(long)i};
        expect_rc(pc_pool_apply_async(p, square_but_3_7, &x, sizeof x, &cbs, &fs[i]), 0);
    }
    end_pool(p); /* the workers end after the callbacks ran */
    for (int i = 0; i < NCB; i++) {
        bool bad = i % 10 == 3 || i % 10 == 7;
        cr_assert_eq(atomic_load(&cb_hits[i]), bad ? 0 : 1, "callback of %d", i);
        cr_assert_eq(atomic_load(&ecb_hits[i]), bad ? 1 : 0, "error_callback of %d", i);
        if (bad) {
            expect_rc(pc_future_result(fs[i], NULL, NULL, 0), -EIO);
            char want[16];
            snprintf(want, sizeof want, "bad %d", i % 10);
            cr_assert_str_eq(pc_future_error_message(fs[i]), want);
        } else {
            cr_assert_eq(result_int(fs[i]), (i % 10) * (i % 10));
        }
        pc_future_release(fs[i]);
    }
}

/* The bytes of the argument, summed: an int. */
static int byte_sum(const void *arg, size_t len, pc_task_result *out) {
    int s = 0;
    for (size_t i = 0; i < len; i++)
        s += ((const unsigned char *)arg)[i];
    return pc_task_return(out, &s, sizeof s);
}

/* Arguments on both sides of the size kept in the future's own block
 * (docs/pool.md): each copied whole, each result right. */
Test(pool, apply_async_copies_short_and_long_arguments, .timeout = 30) {
    pc_pool *p = new_pool(2);
    static unsigned char buf[5000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7);
    size_t lens[] = {0, 1, 255, 256, 257, 4999};
    pc_future *fs[6];
    for (int i = 0; i < 6; i++)
        expect_rc(pc_pool_apply_async(p, byte_sum, lens[i] ? buf : NULL, lens[i], NULL, &fs[i]), 0);
    for (int i = 0; i < 6; i++) {
        int want = 0;
        for (size_t k = 0; k < lens[i]; k++)
            want += buf[k];
        cr_assert_eq(result_int(fs[i]), want, "argument of %zu bytes", lens[i]);
        pc_future_release(fs[i]);
    }
    end_pool(p);
}

/* Every allocation of an apply_async with callbacks fails in turn: each
 * time -ENOMEM, no callback, nothing leaked (the sanitizer builds check);
 * then the call succeeds.  A short argument (one block for job and
 * future) and a long one (a job of its own).  The one worker allocates
 * nothing meanwhile (a short result lives inside the future), so the
 * count is this thread's alone. */
Test(pool, apply_async_reports_each_allocation_failure, .timeout = 30) {
    pc_pool *p = new_pool(1);
    static unsigned char big[1000];
    size_t lens[] = {4, sizeof big};
    for (int c = 0; c < 2; c++) {
        pc_pool_callbacks cbs = {on_ok, on_err, (void *)(long)c};
        long nth = 1;
        for (;; nth++) {
            pc_future *f = NULL;
            pc_alloc_fail_nth(nth);
            int r = pc_pool_apply_async(p, byte_sum, big, lens[c], &cbs, &f);
            pc_alloc_fail_nth(0);
            if (r == 0) {
                cr_assert_eq(result_int(f), 0);
                pc_future_release(f);
                break;
            }
            expect_rc(r, -ENOMEM);
            cr_assert_lt(nth, 10, "apply_async keeps failing");
        }
        /* short: the block, the callbacks' record, the future's callback
         * node; long: the job and the future apart */
        cr_assert_eq(nth - 1, c == 0 ? 3 : 4, "allocations made: %ld", nth - 1);
    }
    end_pool(p); /* the callbacks ran before the worker ended */
    for (int c = 0; c < 2; c++) {
        cr_assert_eq(atomic_load(&cb_hits[c]), 1);
        cr_assert_eq(atomic_load(&ecb_hits[c]), 0);
    }
}

/* ---- initializer and maxtasksperchild ---- */

static _Atomic int inits;
static _Thread_local int init_value;

static void init_worker(const void *arg, size_t len) {
    cr_assert_eq(len, sizeof(int));
    memcpy(&init_value, arg, sizeof(int));
    atomic_fetch_add(&inits, 1);
}

/* -> {tid, init_value} */
static int tid_and_init(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len;
    long r[2] = {my_tid(), init_value};
    return pc_task_return(out, r, sizeof r);
}

Test(pool, initializer_runs_once_per_worker, .timeout = 30) {
    int v = 42;
    pc_pool *p;
    expect_rc(pc_pool_new(&p, &(pc_pool_opts){.workers = 3,
                                              .initializer = init_worker,
                                              .initargs = &v,
                                              .initargs_len = sizeof v}),
              0);
    v = 0; /* the pool has its own copy */
    for (int i = 0; i < 30; i++) {
        long r[2];
        expect_rc(pc_pool_apply(p, tid_and_init, NULL, 0, r, sizeof r, NULL, 30.0), 0);
        cr_assert_eq(r[1], 42);
    }
    end_pool(p);
    cr_assert_eq(atomic_load(&inits), 3);
}

Test(pool, maxtasksperchild_replaces_workers, .timeout = 30) {
    int v = 7;
    pc_pool *p;
    expect_rc(pc_pool_new(&p, &(pc_pool_opts){.workers = 1,
                                              .maxtasksperchild = 2,
                                              .initializer = init_worker,
                                              .initargs = &v,
                                              .initargs_len = sizeof v}),
              0);
    long tids[6];
    for (int i = 0; i < 6; i++) {
        long r[2];
        expect_rc(pc_pool_apply(p, tid_and_init, NULL, 0, r, sizeof r, NULL, 30.0), 0);
        cr_assert_eq(r[1], 7, "the replacement ran the initializer");
        tids[i] = r[0];
    }
    end_pool(p);
    for (int i = 0; i < 6; i += 2) {
        cr_assert_eq(tids[i], tids[i + 1], "two tasks per worker");
        if (i)
            cr_assert_neq(tids[i], tids[i - 1], "a new worker after two tasks");
    }
    cr_assert_neq(tids[0], tids[4]);
    /* three workers ran the tasks; the third, at its limit, was replaced
     * by a fourth that ran only its initializer */
    cr_assert_eq(atomic_load(&inits), 4);
}

/* ---- close, terminate, join ---- */

static pc_event *release_ev;
static pc_sem *started_sem;

/* Signals that it started, then waits for release_ev (30 s at most). */
static _Atomic int blockers_out; /* blockers past their last use of the event */

static int blocker(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len, (void)out;
    pc_sem_release(started_sem, 1);
    int r = pc_event_wait(release_ev, 30.0) == 0 ? 0 : -ETIMEDOUT;
    atomic_fetch_add(&blockers_out, 1);
    return r;
}

static void blockers_init(void) {
    cr_assert_eq(pc_event_new(&release_ev), 0);
    cr_assert_eq(pc_sem_new(&started_sem, 0), 0);
}

static void blockers_fini(void) {
    pc_event_free(release_ev);
    pc_sem_free(started_sem);
}

Test(pool, join_needs_close, .timeout = 30) {
    pc_pool *p = new_pool(1);
    expect_rc(pc_pool_join(p, 0), -EINVAL);
    end_pool(p);
}

static _Atomic int ran_count;

static int count_task(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len, (void)out;
    atomic_fetch_add(&ran_count, 1);
    return 0;
}

Test(pool, close_runs_what_was_queued, .timeout = 30) {
    pc_pool *p = new_pool(2);
    pc_future *fs[100];
    for (int i = 0; i < 100; i++)
        expect_rc(pc_pool_apply_async(p, count_task, NULL, 0, NULL, &fs[i]), 0);
    expect_rc(pc_pool_close(p), 0);
    expect_rc(pc_pool_apply_async(p, count_task, NULL, 0, NULL, &fs[0]), -EPIPE);
    expect_rc(pc_pool_join(p, 30.0), 0);
    cr_assert_eq(atomic_load(&ran_count), 100);
    for (int i = 0; i < 100; i++) {
        expect_rc(pc_future_result(fs[i], NULL, NULL, 0), 0);
        pc_future_release(fs[i]);
    }
    pc_pool_free(p);
}

Test(pool, submit_after_close_is_epipe, .timeout = 30) {
    pc_pool *p = new_pool(1);
    expect_rc(pc_pool_close(p), 0);
    expect_rc(pc_pool_close(p), 0);
    pc_future *f;
    int x = 1, y;
    expect_rc(pc_pool_apply_async(p, square, &x, sizeof x, NULL, &f), -EPIPE);
    /* a refused submission runs no callback */
    pc_pool_callbacks cbs = {on_ok, on_err, (void *)0L};
    expect_rc(pc_pool_apply_async(p, square, &x, sizeof x, &cbs, &f), -EPIPE);
    cr_assert_eq(atomic_load(&cb_hits[0]) + atomic_load(&ecb_hits[0]), 0);
    expect_rc(pc_pool_apply(p, square, &x, sizeof x, &y, sizeof y, NULL, 1.0), -EPIPE);
    pc_pool_map_result *m = (pc_pool_map_result *)&x;
    expect_rc(pc_pool_map(p, square, PC_POOL_ARRAY(&x, 1), 0, &m, 1.0), -EPIPE);
    cr_assert_null(m);
    expect_rc(pc_pool_map_async(p, square, PC_POOL_ARRAY(&x, 0), 0, &m), -EPIPE);
    pc_pool_iter *it;
    expect_rc(pc_pool_imap(p, square, PC_POOL_ARRAY(&x, 1), 0, 0, &it), -EPIPE);
    expect_rc(pc_pool_imap_unordered(p, square, PC_POOL_ARRAY(&x, 1), 0, 0, &it), -EPIPE);
    expect_rc(pc_pool_join(p, 30.0), 0);
    pc_pool_free(p);
    /* and after terminate */
    p = new_pool(1);
    expect_rc(pc_pool_terminate(p), 0);
    expect_rc(pc_pool_apply_async(p, square, &x, sizeof x, NULL, &f), -EPIPE);
    expect_rc(pc_pool_join(p, 30.0), 0);
    pc_pool_free(p);
}

Test(pool, terminate_cancels_and_returns_at_once, .init = blockers_init, .fini = blockers_fini,
     .timeout = 30) {
    pc_pool *p = new_pool(2);
    pc_future *fs[20];
    for (int i = 0; i < 20; i++)
        expect_rc(pc_pool_apply_async(p, blocker, NULL, 0, NULL, &fs[i]), 0);
    expect_rc(pc_sem_acquire(started_sem, true, 30.0), 0);
    expect_rc(pc_sem_acquire(started_sem, true, 30.0), 0); /* both workers busy */
    double t0 = pc_now();
    expect_rc(pc_pool_terminate(p), 0);
    cr_assert_lt(pc_now() - t0, 1.0);
    int cancelled = 0, failed = 0;
    for (int i = 0; i < 20; i++) {
        cr_assert(pc_future_done(fs[i]), "future %d done at once", i);
        expect_rc(pc_future_result(fs[i], NULL, NULL, 0), -ECANCELED);
        if (pc_future_cancelled(fs[i]))
            cancelled++;
        else {
            failed++;
            cr_assert_str_eq(pc_future_error_message(fs[i]), "pool terminated");
        }
    }
    cr_assert_eq(failed, 2, "the two running tasks fail");
    cr_assert_eq(cancelled, 18);
    /* the running tasks hold their workers: join times out */
    t0 = pc_now();
    expect_rc(pc_pool_join(p, 0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5.0, "join waited %f s", dt);
    pc_event_set(release_ev);
    expect_rc(pc_pool_join(p, 30.0), 0);
    for (int i = 0; i < 20; i++)
        pc_future_release(fs[i]);
    pc_pool_free(p);
}

Test(pool, free_without_close_terminates, .init = blockers_init, .fini = blockers_fini,
     .timeout = 30) {
    pc_pool *p = new_pool(1);
    pc_future *f1, *f2;
    expect_rc(pc_pool_apply_async(p, blocker, NULL, 0, NULL, &f1), 0);
    expect_rc(pc_pool_apply_async(p, blocker, NULL, 0, NULL, &f2), 0);
    expect_rc(pc_sem_acquire(started_sem, true, 30.0), 0);
    pc_pool_free(p); /* never waits; the worker lets go later */
    expect_rc(pc_future_result(f1, NULL, NULL, 0), -ECANCELED);
    cr_assert(pc_future_cancelled(f2));
    pc_event_set(release_ev);
    pc_future_release(f1);
    pc_future_release(f2);
    /* nobody can join the freed pool: wait for the running blocker to be
     * done with the event before the fini frees it */
    for (int i = 0; i < 10000 && atomic_load(&blockers_out) < 1; i++)
        pc_sleep(0.001);
    cr_assert_eq(atomic_load(&blockers_out), 1);
}

/* ---- the scope ---- */

static int scope_body(pc_pool *p, void *arg) {
    pc_future **fs = arg;
    for (int i = 0; i < 10; i++)
        if (pc_pool_apply_async(p, count_task, NULL, 0, NULL, &fs[i]))
            return -1;
    return 7;
}

Test(pool, with_scope_joins, .timeout = 30) {
    pc_future *fs[10];
    expect_rc(pc_pool_with(&(pc_pool_opts){.workers = 2}, scope_body, fs), 7);
    cr_assert_eq(atomic_load(&ran_count), 10);
    for (int i = 0; i < 10; i++) {
        cr_assert(pc_future_done(fs[i]));
        pc_future_release(fs[i]);
    }
    expect_rc(pc_pool_with(&(pc_pool_opts){.workers = -2}, scope_body, fs), -EINVAL);
}

/* ---- many submitters ---- */

enum { SUBMITTERS = 8, PER = 200 };

static void *submitter(void *arg) {
    pc_pool *p = arg;
    for (int i = 0; i < PER; i++) {
        int x = i, y = -1;
        int r = pc_pool_apply(p, square, &x, sizeof x, &y, sizeof y, NULL, 30.0);
        if (r || y != x * x)
            return (void *)1;
    }
    return NULL;
}

Test(pool, many_submitters, .timeout = 60) {
    pc_pool *p = new_pool(3);
    pthread_t t[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++)
        t[i] = start_pthread(submitter, p);
    for (int i = 0; i < SUBMITTERS; i++) {
        void *r;
        pthread_join(t[i], &r);
        cr_assert_null(r, "submitter %d", i);
    }
    end_pool(p);
}

/* ---- coroutines ---- */

static int coro_apply(void *arg, void **value) {
    pc_pool *p = arg;
    int x = 9, y = 0;
    int r = pc_pool_apply(p, square, &x, sizeof x, &y, sizeof y, NULL, 30.0);
    *value = (void *)(long)y;
    return r;
}

Test(pool, a_coroutine_waits_on_a_result, .timeout = 30) {
    pc_pool *p = new_pool(2);
    pc_coro *c[3];
    for (int i = 0; i < 3; i++)
        expect_rc(pc_coro_spawn(&c[i], coro_apply, p, NULL), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    for (int i = 0; i < 3; i++) {
        expect_rc(pc_coro_error(c[i]), 0);
        cr_assert_eq((long)pc_coro_value(c[i]), 81);
        pc_coro_free(c[i]);
    }
    end_pool(p);
}
