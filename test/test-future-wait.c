/* pc_future: waiting from threads and coroutines, races between cancel
 * and the worker, wait() modes and as_completed. */
#include <errno.h>
#include <math.h>

#include "helpers.h"

static pc_future *new_future(void) {
    pc_future *f;
    expect_rc(pc_future_new(&f), 0);
    return f;
}

static pc_thread *run_thread(pc_thread_fn fn, void *arg) {
    pc_thread *t;
    expect_rc(pc_thread_new(&t, fn, arg, NULL), 0);
    expect_rc(pc_thread_start(t), 0);
    return t;
}

static void join_free(pc_thread *t) {
    expect_rc(pc_thread_join(t, 30.0), 0);
    pc_thread_free(t);
}

/* ---------------------------------------------------------------- threads */

static int token;

static void *wait_value(void *arg) {
    void *v = NULL;
    int r = pc_future_value(arg, &v, 30.0);
    return r ? (void *)(long)r : v;
}

Test(future_wait, threads_wait_for_a_thread, .timeout = 30) {
    pc_future *f = new_future();
    pc_thread *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = run_thread(wait_value, f);
    expect_rc(pc_future_set_value(f, &token), 0);
    for (int i = 0; i < 4; i++) {
        expect_rc(pc_thread_join(t[i], 30.0), 0);
        cr_assert_eq(pc_thread_result(t[i]), &token);
        pc_thread_free(t[i]);
    }
    pc_future_release(f);
}

/* --------------------------------------------------------------- coroutines */

#define WAITERS 10

struct park_only_self {
    pc_future *f;
    int finished_waiters;
    int ticks_seen_pending;
};

static int waiter_coro(void *arg, void **value) {
    struct park_only_self *s = arg;
    int r = pc_future_value(s->f, value, 30.0);
    s->finished_waiters++;
    return r;
}

static int setter_coro(void *arg, void **value) {
    (void)value;
    struct park_only_self *s = arg;
    for (int i = 0; i < 5; i++) {
        expect_rc(pc_coro_yield(), 0);
        if (s->finished_waiters == 0)
            s->ticks_seen_pending++;
    }
    return pc_future_set_value(s->f, &token);
}

Test(future_wait, coroutines_park_only_themselves, .timeout = 30) {
    struct park_only_self s = {.f = new_future()};
    pc_coro *c[WAITERS + 1];
    for (int i = 0; i < WAITERS; i++)
        expect_rc(pc_coro_spawn(&c[i], waiter_coro, &s, NULL), 0);
    expect_rc(pc_coro_spawn(&c[WAITERS], setter_coro, &s, NULL), 0);
    expect_rc(pc_coro_joinall(c, WAITERS + 1, 30.0), 0);
    cr_assert_eq(s.ticks_seen_pending, 5); /* the thread ran on while they waited */
    for (int i = 0; i < WAITERS; i++) {
        expect_rc(pc_coro_error(c[i]), 0);
        cr_assert_eq(pc_coro_value(c[i]), &token);
    }
    for (int i = 0; i <= WAITERS; i++)
        pc_coro_free(c[i]);
    pc_future_release(s.f);
}

struct cross {
    pc_future *f;
    pc_event *parked;
};

static void *set_after_event(void *arg) {
    struct cross *x = arg;
    expect_rc(pc_event_wait(x->parked, 30.0), 0);
    expect_rc(pc_future_set_result(x->f, "from a thread", 13), 0);
    return NULL;
}

static int wait_bytes_coro(void *arg, void **value) {
    (void)value;
    struct cross *x = arg;
    expect_rc(pc_event_set(x->parked), 0);
    const void *b;
    size_t len;
    int r = pc_future_result(x->f, &b, &len, 30.0);
    if (r == 0)
        cr_assert_str_eq(b, "from a thread");
    return r;
}

Test(future_wait, a_thread_wakes_a_coroutine, .timeout = 30) {
    struct cross x = {.f = new_future()};
    expect_rc(pc_event_new(&x.parked), 0);
    pc_thread *t = run_thread(set_after_event, &x);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, wait_bytes_coro, &x, NULL), 0);
    expect_rc(pc_coro_join(c, 30.0), 0);
    expect_rc(pc_coro_error(c), 0);
    join_free(t);
    pc_coro_free(c);
    pc_event_free(x.parked);
    pc_future_release(x.f);
}

static int kill_it(void *arg, void **value) {
    (void)value;
    return pc_coro_kill(arg);
}

static int wait_forever_coro(void *arg, void **value) {
    return pc_future_value(arg, value, PC_FOREVER);
}

Test(future_wait, a_killed_coroutine_gets_ecanceled, .timeout = 30) {
    pc_future *f = new_future();
    pc_coro *w, *k;
    expect_rc(pc_coro_spawn(&w, wait_forever_coro, f, NULL), 0);
    expect_rc(pc_coro_spawn(&k, kill_it, w, NULL), 0); /* runs after w parked */
    expect_rc(pc_coro_join(w, 30.0), 0);
    expect_rc(pc_coro_error(w), -ECANCELED);
    cr_assert(!pc_future_done(f)); /* the future is not the one cancelled */
    expect_rc(pc_future_set_value(f, NULL), 0);
    pc_coro_free(w);
    pc_coro_free(k);
    pc_future_release(f);
}

static int wait_briefly_coro(void *arg, void **value) {
    (void)value;
    double t0 = pc_now();
    int r = pc_future_value(arg, NULL, 0.1);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.09 && dt < 5.0, "waited %.3f s", dt);
    return r;
}

Test(future_wait, a_coroutine_times_out, .timeout = 30) {
    pc_future *f = new_future();
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, wait_briefly_coro, f, NULL), 0);
    expect_rc(pc_coro_join(c, 30.0), 0);
    expect_rc(pc_coro_error(c), -ETIMEDOUT);
    pc_coro_free(c);
    pc_future_release(f);
}

/* ------------------------------------------------------------------ races */

#define ROUNDS 2000

struct race {
    pc_barrier *b;
    pc_future *f;
    int a, b_rc;
    _Atomic int callbacks;
};

static void count_cb(pc_future *f, void *arg) {
    (void)f;
    atomic_fetch_add(&((struct race *)arg)->callbacks, 1);
}

static void *racer_running(void *arg) {
    struct race *r = arg;
    for (int i = 0; i < ROUNDS; i++) {
        pc_barrier_wait(r->b, 30.0);
        r->a = pc_future_set_running(r->f);
        if (r->a == 0)
            expect_rc(pc_future_set_value(r->f, NULL), 0);
        pc_barrier_wait(r->b, 30.0);
        pc_barrier_wait(r->b, 30.0);
    }
    return NULL;
}

Test(future_wait, cancel_races_set_running, .timeout = 60) {
    struct race r = {0};
    expect_rc(pc_barrier_new(&r.b, 2, NULL, NULL), 0);
    pc_thread *t = run_thread(racer_running, &r);
    int cancelled = 0, ran = 0;
    for (int i = 0; i < ROUNDS; i++) {
        r.f = new_future();
        atomic_store(&r.callbacks, 0);
        expect_rc(pc_future_add_done_callback(r.f, count_cb, &r), 0);
        pc_barrier_wait(r.b, 30.0);
        int c = pc_future_cancel(r.f);
        pc_barrier_wait(r.b, 30.0);
        /* exactly one wins */
        if (c == 0) {
            expect_rc(r.a, -ECANCELED);
            cr_assert(pc_future_cancelled(r.f));
            cancelled++;
        } else {
            cr_assert(c == -EBUSY || c == -EALREADY, "cancel: %d", c);
            expect_rc(r.a, 0);
            expect_rc(pc_future_value(r.f, NULL, 0), 0);
            ran++;
        }
        cr_assert_eq(atomic_load(&r.callbacks), 1); /* exactly once */
        pc_future_release(r.f);
        pc_barrier_wait(r.b, 30.0);
    }
    cr_log_info("cancelled %d, ran %d", cancelled, ran);
    join_free(t);
    pc_barrier_free(r.b);
}

static void *racer_set(void *arg) {
    struct race *r = arg;
    for (int i = 0; i < ROUNDS; i++) {
        pc_barrier_wait(r->b, 30.0);
        r->b_rc = pc_future_set_value(r->f, &token);
        pc_barrier_wait(r->b, 30.0);
        pc_barrier_wait(r->b, 30.0);
    }
    return NULL;
}

Test(future_wait, two_setters_one_wins, .timeout = 60) {
    struct race r = {0};
    expect_rc(pc_barrier_new(&r.b, 2, NULL, NULL), 0);
    pc_thread *t = run_thread(racer_set, &r);
    for (int i = 0; i < ROUNDS; i++) {
        r.f = new_future();
        atomic_store(&r.callbacks, 0);
        expect_rc(pc_future_add_done_callback(r.f, count_cb, &r), 0);
        pc_barrier_wait(r.b, 30.0);
        int mine = pc_future_set_error(r.f, -EIO, "mine");
        pc_barrier_wait(r.b, 30.0);
        cr_assert((mine == 0) != (r.b_rc == 0), "mine %d theirs %d", mine, r.b_rc);
        cr_assert_eq(mine ? mine : r.b_rc, -EALREADY);
        expect_rc(pc_future_error(r.f), mine == 0 ? -EIO : 0);
        cr_assert_eq(atomic_load(&r.callbacks), 1);
        pc_future_release(r.f);
        pc_barrier_wait(r.b, 30.0);
    }
    join_free(t);
    pc_barrier_free(r.b);
}

/* ------------------------------------------------------------------- wait */

struct later {
    pc_future *f;
    int how; /* 0 value, 1 error, 2 cancel */
    pc_event *go;
};

static void *complete_later(void *arg) {
    struct later *l = arg;
    expect_rc(pc_event_wait(l->go, 30.0), 0);
    if (l->how == 0)
        expect_rc(pc_future_set_value(l->f, &token), 0);
    else if (l->how == 1)
        expect_rc(pc_future_set_error(l->f, -EIO, "failed"), 0);
    else
        expect_rc(pc_future_cancel(l->f), 0);
    return NULL;
}

Test(future_wait, wait_modes, .timeout = 30) {
    pc_future *f[3] = {new_future(), new_future(), new_future()};
    bool done[3];
    /* nothing done */
    expect_rc(pc_future_wait(f, 3, PC_FIRST_COMPLETED, done, 0), -ETIMEDOUT);
    cr_assert(!done[0] && !done[1] && !done[2]);
    expect_rc(pc_future_wait(f, 0, PC_ALL_COMPLETED, NULL, 0), 0); /* n == 0 holds */
    /* FIRST_COMPLETED woken by a thread */
    pc_event *go;
    expect_rc(pc_event_new(&go), 0);
    struct later l = {f[1], 0, go};
    pc_thread *t = run_thread(complete_later, &l);
    expect_rc(pc_event_set(go), 0);
    expect_rc(pc_future_wait(f, 3, PC_FIRST_COMPLETED, done, 30.0), 0);
    cr_assert(!done[0] && done[1] && !done[2]);
    join_free(t);
    /* a cancellation is not an exception */
    expect_rc(pc_future_cancel(f[0]), 0);
    expect_rc(pc_future_wait(f, 3, PC_FIRST_EXCEPTION, done, 0.05), -ETIMEDOUT);
    cr_assert(done[0] && done[1] && !done[2]);
    /* FIRST_EXCEPTION woken by an error */
    expect_rc(pc_event_clear(go), 0);
    l = (struct later){f[2], 1, go};
    t = run_thread(complete_later, &l);
    expect_rc(pc_event_set(go), 0);
    expect_rc(pc_future_wait(f, 3, PC_FIRST_EXCEPTION, done, 30.0), 0);
    cr_assert(done[0] && done[1] && done[2]);
    join_free(t);
    expect_rc(pc_future_wait(f, 3, PC_ALL_COMPLETED, NULL, 0), 0);
    for (int i = 0; i < 3; i++)
        pc_future_release(f[i]);
    pc_event_free(go);
}

Test(future_wait, first_exception_when_all_done_without_one, .timeout = 30) {
    pc_future *f[2] = {new_future(), new_future()};
    expect_rc(pc_future_set_value(f[0], NULL), 0);
    expect_rc(pc_future_wait(f, 2, PC_FIRST_EXCEPTION, NULL, 0), -ETIMEDOUT);
    expect_rc(pc_future_cancel(f[1]), 0);
    expect_rc(pc_future_wait(f, 2, PC_FIRST_EXCEPTION, NULL, 0), 0);
    pc_future_release(f[0]);
    pc_future_release(f[1]);
}

#define MANY 100

static void *complete_all(void *arg) {
    pc_future **f = arg;
    for (int i = MANY - 1; i >= 0; i--)
        expect_rc(pc_future_set_value(f[i], NULL), 0);
    return NULL;
}

Test(future_wait, all_completed_many_with_duplicates, .timeout = 30) {
    pc_future *f[MANY], *list[2 * MANY];
    for (int i = 0; i < MANY; i++)
        list[2 * i] = list[2 * i + 1] = f[i] = new_future();
    pc_thread *t = run_thread(complete_all, f);
    expect_rc(pc_future_wait(list, 2 * MANY, PC_ALL_COMPLETED, NULL, 30.0), 0);
    for (int i = 0; i < MANY; i++)
        cr_assert(pc_future_done(f[i]));
    join_free(t);
    for (int i = 0; i < MANY; i++)
        pc_future_release(f[i]);
}

Test(future_wait, wait_bad_input_and_alloc_failure) {
    pc_future *f[MANY];
    for (int i = 0; i < MANY; i++)
        f[i] = new_future();
    pc_future *withnull[2] = {f[0], NULL};
    expect_rc(pc_future_wait(NULL, 1, PC_ALL_COMPLETED, NULL, 0), -EINVAL);
    expect_rc(pc_future_wait(f, -1, PC_ALL_COMPLETED, NULL, 0), -EINVAL);
    expect_rc(pc_future_wait(withnull, 2, PC_ALL_COMPLETED, NULL, 0), -EINVAL);
    expect_rc(pc_future_wait(f, 1, 0, NULL, 0), -EINVAL);
    expect_rc(pc_future_wait(f, 1, 4, NULL, 0), -EINVAL);
    expect_rc(pc_future_wait(f, 1, PC_ALL_COMPLETED, NULL, NAN), -EINVAL);
    pc_alloc_fail_nth(1); /* more futures than fit on the stack */
    expect_rc(pc_future_wait(f, MANY, PC_ALL_COMPLETED, NULL, 0), -ENOMEM);
    expect_rc(pc_future_wait(f, MANY, PC_ALL_COMPLETED, NULL, 0), -ETIMEDOUT);
    for (int i = 0; i < MANY; i++)
        pc_future_release(f[i]);
}

struct coro_wait {
    pc_future *f[2];
    int rc;
};

static int wait_coro(void *arg, void **value) {
    (void)value;
    struct coro_wait *w = arg;
    return pc_future_wait(w->f, 2, PC_ALL_COMPLETED, NULL, 30.0);
}

static int complete_coro(void *arg, void **value) {
    (void)value;
    struct coro_wait *w = arg;
    expect_rc(pc_future_set_value(w->f[1], NULL), 0);
    expect_rc(pc_coro_yield(), 0);
    return pc_future_set_error(w->f[0], -EIO, NULL);
}

Test(future_wait, a_coroutine_waits_for_all, .timeout = 30) {
    struct coro_wait w = {{new_future(), new_future()}};
    pc_coro *c[2];
    expect_rc(pc_coro_spawn(&c[0], wait_coro, &w, NULL), 0);
    expect_rc(pc_coro_spawn(&c[1], complete_coro, &w, NULL), 0);
    expect_rc(pc_coro_joinall(c, 2, 30.0), 0);
    expect_rc(pc_coro_error(c[0]), 0);
    expect_rc(pc_coro_error(c[1]), 0);
    for (int i = 0; i < 2; i++) {
        pc_coro_free(c[i]);
        pc_future_release(w.f[i]);
    }
}

/* ----------------------------------------------------------- as_completed */

Test(future_wait, as_completed_done_first_then_in_completion_order, .timeout = 30) {
    pc_future *f[4] = {new_future(), new_future(), new_future(), new_future()};
    expect_rc(pc_future_set_value(f[2], NULL), 0);
    expect_rc(pc_future_set_value(f[1], NULL), 0);
    pc_future *args[6] = {f[0], f[2], f[1], f[2], f[3], f[0]}; /* duplicates */
    pc_future_as_completed *it;
    expect_rc(pc_future_as_completed_new(&it, args, 6, 30.0), 0);
    pc_future *got;
    expect_rc(pc_future_as_completed_next(it, &got), 0);
    cr_assert_eq(got, f[2]); /* done already: argument order */
    expect_rc(pc_future_as_completed_next(it, &got), 0);
    cr_assert_eq(got, f[1]);
    expect_rc(pc_future_set_error(f[3], -EIO, NULL), 0);
    expect_rc(pc_future_cancel(f[0]), 0);
    expect_rc(pc_future_as_completed_next(it, &got), 0);
    cr_assert_eq(got, f[3]);
    expect_rc(pc_future_as_completed_next(it, &got), 0);
    cr_assert_eq(got, f[0]);
    expect_rc(pc_future_as_completed_next(it, &got), -ENOENT); /* each once */
    expect_rc(pc_future_as_completed_next(it, &got), -ENOENT);
    for (int i = 0; i < 4; i++)
        pc_future_release(f[i]); /* the iterator holds its own references */
    cr_assert(pc_future_done(got));
    pc_future_as_completed_free(it);
}

Test(future_wait, as_completed_timeout, .timeout = 30) {
    pc_future *f[2] = {new_future(), new_future()};
    pc_future_as_completed *it;
    double t0 = pc_now(); /* the overall timeout counts from the iterator's making */
    expect_rc(pc_future_as_completed_new(&it, f, 2, 0.1), 0);
    pc_future *got;
    expect_rc(pc_future_as_completed_next(it, &got), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.09 && dt < 5.0, "waited %.3f s", dt);
    expect_rc(pc_future_as_completed_next(it, &got), -ETIMEDOUT); /* again */
    expect_rc(pc_future_set_value(f[1], NULL), 0);
    expect_rc(pc_future_as_completed_next(it, &got), 0); /* one got done meanwhile */
    cr_assert_eq(got, f[1]);
    expect_rc(pc_future_as_completed_next(it, &got), -ETIMEDOUT);
    pc_future_as_completed_free(it); /* f[0] still pending: unlinked */
    expect_rc(pc_future_set_value(f[0], NULL), 0);
    pc_future_release(f[0]);
    pc_future_release(f[1]);
}

static void *complete_in_order(void *arg) {
    pc_future **f = arg;
    for (int i = 0; i < 3; i++)
        expect_rc(pc_future_set_value(f[i], NULL), 0);
    return NULL;
}

struct iter_coro {
    pc_future **f;
    int seen;
};

static int iterate_coro(void *arg, void **value) {
    (void)value;
    struct iter_coro *x = arg;
    pc_future_as_completed *it;
    int r = pc_future_as_completed_new(&it, x->f, 3, 30.0);
    if (r)
        return r;
    pc_future *got;
    while ((r = pc_future_as_completed_next(it, &got)) == 0)
        cr_assert_eq(got, x->f[x->seen++]);
    pc_future_as_completed_free(it);
    return r == -ENOENT ? 0 : r;
}

Test(future_wait, as_completed_in_a_coroutine, .timeout = 30) {
    pc_future *f[3] = {new_future(), new_future(), new_future()};
    struct iter_coro x = {f, 0};
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, iterate_coro, &x, NULL), 0);
    pc_thread *t = run_thread(complete_in_order, f);
    expect_rc(pc_coro_join(c, 30.0), 0);
    expect_rc(pc_coro_error(c), 0);
    cr_assert_eq(x.seen, 3);
    join_free(t);
    pc_coro_free(c);
    for (int i = 0; i < 3; i++)
        pc_future_release(f[i]);
}

Test(future_wait, as_completed_bad_input_and_alloc_failure) {
    pc_future *f = new_future(), *withnull[2] = {f, NULL};
    pc_future_as_completed *it;
    pc_future *got;
    expect_rc(pc_future_as_completed_new(NULL, &f, 1, 1.0), -EINVAL);
    expect_rc(pc_future_as_completed_new(&it, NULL, 1, 1.0), -EINVAL);
    expect_rc(pc_future_as_completed_new(&it, &f, -1, 1.0), -EINVAL);
    expect_rc(pc_future_as_completed_new(&it, withnull, 2, 1.0), -EINVAL);
    expect_rc(pc_future_as_completed_new(&it, &f, 1, NAN), -EINVAL);
    expect_rc(pc_future_as_completed_next(NULL, &got), -EINVAL);
    for (int nth = 1; nth <= 3; nth++) {
        pc_alloc_fail_nth(nth);
        expect_rc(pc_future_as_completed_new(&it, &f, 1, 1.0), -ENOMEM);
    }
    expect_rc(pc_future_as_completed_new(&it, NULL, 0, 1.0), 0);
    expect_rc(pc_future_as_completed_next(it, &got), -ENOENT);
    pc_future_as_completed_free(it);
    pc_future_as_completed_free(NULL);
    pc_future_release(f);
}
