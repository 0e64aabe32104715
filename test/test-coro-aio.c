/* asyncio's combinators: gather, wait, wait_for, as_completed, timeout
 * scopes, task groups (pyconc/aio.h). */
#include <errno.h>
#include <stdint.h>

#include "helpers.h"

/* A coroutine that waits for its event, then ends with `err` (0: value). */
struct job {
    pc_event *go;
    int err;
    intptr_t value;
};

static int job_body(void *arg, void **value) {
    struct job *j = arg;
    int r = pc_event_wait(j->go, 10.0);
    if (r)
        return r;
    *value = (void *)j->value;
    return j->err;
}

static void jobs_new(struct job *j, pc_coro **c, int n) {
    for (int i = 0; i < n; i++) {
        expect_rc(pc_event_new(&j[i].go), 0);
        j[i].value = 100 + i;
        expect_rc(pc_coro_spawn(&c[i], job_body, &j[i], NULL), 0);
    }
}

static void jobs_free(struct job *j, pc_coro **c, int n) {
    for (int i = 0; i < n; i++) {
        pc_event_set(j[i].go);
        expect_rc(pc_coro_join(c[i], 10.0), 0);
    }
    expect_rc(pc_loop_run(pc_loop_current()), 0); /* let every link run */
    for (int i = 0; i < n; i++) {
        pc_coro_free(c[i]);
        pc_event_free(j[i].go);
    }
}

/* A coroutine that sets events in the order given, -1 ending the list. */
static int setter_body(void *arg, void **value) {
    (void)value;
    for (pc_event **e = arg; *e; e++)
        pc_event_set(*e);
    return 0;
}

static pc_coro *setter(pc_event **list) {
    pc_coro *s;
    expect_rc(pc_coro_spawn(&s, setter_body, list, NULL), 0);
    return s;
}

static int spin_body(void *arg, void **value) {
    (void)arg;
    (void)value;
    return pc_coro_sleep(10.0);
}

static void assert_took(double t0, double want) {
    double dt = pc_now() - t0;
    cr_assert(dt >= want * 0.9 && dt < 5.0, "took %.3f s, want about %.3f", dt, want);
}

/* ------------------------------------------------------------- gather */

Test(coro_aio, gather_gives_results_in_argument_order, .timeout = 20) {
    struct job j[3] = {{0}};
    pc_coro *c[3];
    jobs_new(j, c, 3);
    pc_event *order[] = {j[2].go, j[0].go, j[1].go, NULL};
    pc_coro *s = setter(order);
    void *v[3];
    expect_rc(pc_aio_gather(c, 3, v, 10.0), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq((intptr_t)v[i], 100 + i);
    pc_coro_free(s);
    jobs_free(j, c, 3);
}

Test(coro_aio, gather_reports_the_first_error_by_argument_order, .timeout = 20) {
    struct job j[3] = {{0}};
    pc_coro *c[3];
    j[0].err = 0, j[1].err = -EIO, j[2].err = -EPERM;
    jobs_new(j, c, 3);
    pc_event *order[] = {j[2].go, j[0].go, j[1].go, NULL}; /* -EPERM ends first */
    pc_coro *s = setter(order);
    void *v[3];
    expect_rc(pc_aio_gather(c, 3, v, 10.0), -EIO);
    cr_assert_eq((intptr_t)v[0], 100);
    cr_assert_null(v[1]);
    cr_assert_null(v[2]);
    pc_coro_free(s);
    jobs_free(j, c, 3);
}

struct outer {
    pc_coro **inner;
    int n;
    pc_event *started;
    int (*call)(struct outer *o);
};

static int outer_body(void *arg, void **value) {
    (void)value;
    struct outer *o = arg;
    pc_event_set(o->started);
    return o->call(o);
}

static int killer_body(void *arg, void **value) {
    (void)value;
    pc_coro **victim = arg;
    struct outer *o = (struct outer *)victim[1];
    expect_rc(pc_event_wait(o->started, 10.0), 0);
    return pc_coro_kill(victim[0]);
}

/* Run o->call in a coroutine that is killed once it waits; its result. */
static int run_killed(struct outer *o) {
    pc_coro *out, *k;
    expect_rc(pc_event_new(&o->started), 0);
    expect_rc(pc_coro_spawn(&out, outer_body, o, NULL), 0);
    void *pair[2] = {out, o};
    expect_rc(pc_coro_spawn(&k, killer_body, pair, NULL), 0);
    expect_rc(pc_coro_join(out, 10.0), 0);
    expect_rc(pc_coro_join(k, 10.0), 0);
    int r = pc_coro_error(out);
    pc_coro_free(out);
    pc_coro_free(k);
    pc_event_free(o->started);
    return r;
}

static int call_gather(struct outer *o) {
    return pc_aio_gather(o->inner, o->n, NULL, 10.0);
}

Test(coro_aio, cancelling_the_gather_cancels_the_unfinished, .timeout = 20) {
    struct job j[2] = {{0}};
    pc_coro *c[2];
    jobs_new(j, c, 2);
    struct outer o = {c, 2, NULL, call_gather};
    expect_rc(run_killed(&o), -ECANCELED);
    expect_rc(pc_coro_joinall(c, 2, 10.0), 0);
    expect_rc(pc_coro_error(c[0]), -ECANCELED);
    expect_rc(pc_coro_error(c[1]), -ECANCELED);
    jobs_free(j, c, 2);
}

Test(coro_aio, gather_times_out_and_rejects_bad_input, .timeout = 20) {
    pc_coro *c[2];
    for (int i = 0; i < 2; i++)
        expect_rc(pc_coro_spawn(&c[i], spin_body, NULL, NULL), 0);
    double t0 = pc_now();
    expect_rc(pc_aio_gather(c, 2, NULL, 0.2), -ETIMEDOUT);
    assert_took(t0, 0.2);
    expect_rc(pc_aio_gather(NULL, 1, NULL, 1), -EINVAL);
    expect_rc(pc_aio_gather(c, -1, NULL, 1), -EINVAL);
    expect_rc(pc_aio_gather(c, 2, NULL, 0.0 / 0.0), -EINVAL);
    pc_coro *holes[] = {c[0], NULL};
    expect_rc(pc_aio_gather(holes, 2, NULL, 1), -EINVAL);
    expect_rc(pc_aio_gather(NULL, 0, NULL, 1), 0);
    pc_coro_kill(c[0]);
    pc_coro_kill(c[1]);
    expect_rc(pc_coro_joinall(c, 2, 10.0), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    pc_coro_free(c[0]);
    pc_coro_free(c[1]);
}

/* --------------------------------------------------------------- wait */

Test(coro_aio, wait_first_completed_reports_which, .timeout = 20) {
    struct job j[2] = {{0}};
    pc_coro *c[2];
    jobs_new(j, c, 2);
    pc_event *order[] = {j[1].go, NULL};
    pc_coro *s = setter(order);
    bool done[2];
    expect_rc(pc_aio_wait(c, 2, PC_FIRST_COMPLETED, done, 10.0), 0);
    cr_assert(!done[0] && done[1]);
    pc_coro_free(s);
    jobs_free(j, c, 2);
}

Test(coro_aio, wait_first_exception_ignores_the_killed_and_times_out, .timeout = 20) {
    struct job j[2] = {{0}};
    pc_coro *c[2];
    jobs_new(j, c, 2);
    pc_coro_kill(c[1]); /* ends -ECANCELED: not an exception */
    bool done[2];
    double t0 = pc_now();
    expect_rc(pc_aio_wait(c, 2, PC_FIRST_EXCEPTION, done, 0.2), -ETIMEDOUT);
    assert_took(t0, 0.2);
    cr_assert(!done[0] && done[1]);
    jobs_free(j, c, 2);
}

Test(coro_aio, wait_first_exception_returns_at_a_failure, .timeout = 20) {
    struct job j[3] = {{0}};
    pc_coro *c[3];
    j[1].err = -EIO;
    jobs_new(j, c, 3);
    pc_event *order[] = {j[1].go, NULL};
    pc_coro *s = setter(order);
    bool done[3];
    expect_rc(pc_aio_wait(c, 3, PC_FIRST_EXCEPTION, done, 10.0), 0);
    cr_assert(!done[0] && done[1] && !done[2]);
    pc_coro_free(s);
    jobs_free(j, c, 3);
}

static int call_wait_all(struct outer *o) {
    bool done[3];
    int r = pc_aio_wait(o->inner, o->n, PC_ALL_COMPLETED, done, 10.0);
    for (int i = 0; i < o->n; i++)
        cr_assert(done[i]);
    return r;
}

Test(coro_aio, wait_all_completed_from_a_coroutine_with_duplicates, .timeout = 20) {
    struct job j[2] = {{0}};
    pc_coro *c[2];
    jobs_new(j, c, 2);
    pc_coro *dup[3] = {c[0], c[1], c[0]};
    pc_event *order[] = {j[1].go, j[0].go, NULL};
    struct outer o = {dup, 3, NULL, call_wait_all};
    expect_rc(pc_event_new(&o.started), 0);
    pc_coro *out;
    expect_rc(pc_coro_spawn(&out, outer_body, &o, NULL), 0);
    pc_coro *s = setter(order);
    expect_rc(pc_coro_join(out, 10.0), 0);
    expect_rc(pc_coro_error(out), 0);
    pc_coro_free(out);
    pc_coro_free(s);
    pc_event_free(o.started);
    jobs_free(j, c, 2);
}

Test(coro_aio, wait_rejects_bad_input, .timeout = 10) {
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, spin_body, NULL, NULL), 0);
    expect_rc(pc_aio_wait(&c, 1, 0, NULL, 1), -EINVAL);
    expect_rc(pc_aio_wait(&c, -1, PC_ALL_COMPLETED, NULL, 1), -EINVAL);
    expect_rc(pc_aio_wait(NULL, 1, PC_ALL_COMPLETED, NULL, 1), -EINVAL);
    expect_rc(pc_aio_wait(&c, 1, PC_ALL_COMPLETED, NULL, 0.0 / 0.0), -EINVAL);
    expect_rc(pc_aio_wait(NULL, 0, PC_FIRST_COMPLETED, NULL, 1), 0);
    bool done = true;
    expect_rc(pc_aio_wait(&c, 1, PC_FIRST_COMPLETED, &done, 0), -ETIMEDOUT);
    cr_assert(!done);
    pc_alloc_fail_nth(1);
    expect_rc(pc_aio_wait(&c, 1, PC_FIRST_COMPLETED, NULL, 0), -ENOMEM);
    pc_coro_kill(c);
    expect_rc(pc_coro_join(c, 10.0), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    pc_coro_free(c);
}

/* ----------------------------------------------------------- wait_for */

struct unwind {
    int on_cancel; /* what to end with when killed */
    bool unwound;
};

static int unwinding_body(void *arg, void **value) {
    struct unwind *u = arg;
    int r = pc_coro_sleep(10.0);
    if (r != -ECANCELED)
        return -EPROTO;
    pc_coro_yield(); /* unwinding takes a turn: wait_for must wait for it */
    u->unwound = true;
    *value = (void *)42;
    return u->on_cancel;
}

static int wait_for_unwinding(int on_cancel, void **value) {
    struct unwind u = {on_cancel, false};
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, unwinding_body, &u, NULL), 0);
    double t0 = pc_now();
    int r = pc_aio_wait_for(c, value, 0.2);
    assert_took(t0, 0.2);
    cr_assert(u.unwound);
    cr_assert(pc_coro_ready(c));
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    pc_coro_free(c);
    return r;
}

Test(coro_aio, wait_for_kills_at_the_timeout_and_waits_for_the_unwinding, .timeout = 20) {
    void *v = (void *)1;
    expect_rc(wait_for_unwinding(-ECANCELED, &v), -ETIMEDOUT);
    cr_assert_null(v);
}

Test(coro_aio, wait_for_a_result_produced_during_the_cancellation_wins, .timeout = 20) {
    void *v = NULL;
    expect_rc(wait_for_unwinding(0, &v), 0);
    cr_assert_eq((intptr_t)v, 42);
}

Test(coro_aio, wait_for_an_error_during_the_cancellation_is_reported, .timeout = 20) {
    expect_rc(wait_for_unwinding(-EIO, NULL), -EIO);
}

Test(coro_aio, wait_for_returns_the_value_or_the_error, .timeout = 20) {
    struct job j[2] = {{0}};
    pc_coro *c[2];
    j[1].err = -EIO;
    jobs_new(j, c, 2);
    pc_event_set(j[0].go);
    pc_event_set(j[1].go);
    void *v;
    expect_rc(pc_aio_wait_for(c[0], &v, 10.0), 0);
    cr_assert_eq((intptr_t)v, 100);
    expect_rc(pc_aio_wait_for(c[1], &v, 10.0), -EIO);
    cr_assert_null(v);
    expect_rc(pc_aio_wait_for(NULL, &v, 1), -EINVAL);
    expect_rc(pc_aio_wait_for(c[0], &v, 0.0 / 0.0), -EINVAL);
    jobs_free(j, c, 2);
}

static int call_wait_for(struct outer *o) {
    return pc_aio_wait_for(o->inner[0], NULL, PC_FOREVER);
}

Test(coro_aio, wait_for_cancelled_cancels_the_inner_and_waits, .timeout = 20) {
    struct job j[1] = {{0}};
    pc_coro *c[1];
    jobs_new(j, c, 1);
    struct outer o = {c, 1, NULL, call_wait_for};
    expect_rc(run_killed(&o), -ECANCELED);
    cr_assert(pc_coro_ready(c[0]));
    expect_rc(pc_coro_error(c[0]), -ECANCELED);
    jobs_free(j, c, 1);
}

/* ------------------------------------------------------- as_completed */

struct walk {
    struct job *j;
    pc_coro **c;
};

/* Finish the jobs one at a time (2, then 0, then 1) while walking: each
 * step must yield exactly the one just released. */
static int walk_body(void *arg, void **value) {
    (void)value;
    struct walk *w = arg;
    pc_coro *list[] = {w->c[0], w->c[1], w->c[2], w->c[3], w->c[2], w->c[3]};
    pc_as_completed *it;
    expect_rc(pc_as_completed_new(&it, list, 6, 10.0), 0);
    pc_coro *got;
    expect_rc(pc_as_completed_next(it, &got), 0);
    cr_assert_eq(got, w->c[3]); /* finished already: first */
    int order[] = {2, 0, 1};
    for (int k = 0; k < 3; k++) {
        pc_event_set(w->j[order[k]].go);
        expect_rc(pc_as_completed_next(it, &got), 0);
        cr_assert_eq(got, w->c[order[k]], "step %d", k);
    }
    expect_rc(pc_as_completed_next(it, &got), -ENOENT);
    pc_as_completed_free(it);
    return 0;
}

Test(coro_aio, as_completed_yields_in_completion_order_once_each, .timeout = 20) {
    struct job j[4] = {{0}};
    pc_coro *c[4];
    jobs_new(j, c, 4);
    pc_event_set(j[3].go);
    expect_rc(pc_coro_join(c[3], 10.0), 0);
    struct walk w = {j, c};
    pc_coro *walker;
    expect_rc(pc_coro_spawn(&walker, walk_body, &w, NULL), 0);
    expect_rc(pc_coro_join(walker, 10.0), 0);
    expect_rc(pc_coro_error(walker), 0);
    pc_coro_free(walker);
    jobs_free(j, c, 4);
}

Test(coro_aio, as_completed_from_a_plain_thread_and_its_overall_timeout, .timeout = 20) {
    struct job j[2] = {{0}};
    pc_coro *c[2];
    jobs_new(j, c, 2);
    pc_event_set(j[1].go);
    pc_as_completed *it;
    double t0 = pc_now();
    expect_rc(pc_as_completed_new(&it, c, 2, 0.3), 0);
    pc_coro *got = NULL;
    expect_rc(pc_as_completed_next(it, &got), 0); /* runs the loop */
    cr_assert_eq(got, c[1]);
    expect_rc(pc_as_completed_next(it, &got), -ETIMEDOUT); /* one overall deadline */
    assert_took(t0, 0.3);
    expect_rc(pc_as_completed_next(NULL, &got), -EINVAL);
    pc_as_completed_free(it);
    pc_as_completed_free(NULL);
    expect_rc(pc_as_completed_new(&it, NULL, 1, 1), -EINVAL);
    expect_rc(pc_as_completed_new(&it, c, -1, 1), -EINVAL);
    expect_rc(pc_as_completed_new(&it, c, 2, 0.0 / 0.0), -EINVAL);
    for (int n = 1;; n++) { /* every allocation of the constructor */
        pc_alloc_fail_nth(n);
        int r = pc_as_completed_new(&it, c, 2, 1);
        if (r == 0) {
            pc_alloc_fail_nth(0);
            pc_as_completed_free(it);
            cr_assert(n > 3);
            break;
        }
        expect_rc(r, -ENOMEM);
    }
    jobs_free(j, c, 2);
}

/* -------------------------------------------------------- timeout scope */

static int scope_expires_body(void *arg, void **value) {
    (void)arg;
    (void)value;
    pc_timeout_scope s;
    double t0 = pc_now();
    expect_rc(pc_timeout_scope_enter(&s, 0.2), 0);
    expect_rc(pc_coro_sleep(10.0), -ECANCELED);
    assert_took(t0, 0.2);
    expect_rc(pc_timeout_scope_exit(&s), -ETIMEDOUT);
    expect_rc(pc_timeout_scope_exit(&s), -EINVAL);
    return pc_coro_yield(); /* nothing pending any more */
}

static int scope_undelivered_body(void *arg, void **value) {
    (void)arg;
    (void)value;
    pc_timeout_scope s;
    expect_rc(pc_timeout_scope_enter(&s, 0), 0);
    expect_rc(pc_coro_yield(), 0); /* the loop fires the timer meanwhile */
    expect_rc(pc_timeout_scope_exit(&s), -ETIMEDOUT);
    return pc_coro_yield(); /* the undelivered cancellation was consumed */
}

static int scope_nested_body(void *arg, void **value) {
    (void)arg;
    (void)value;
    pc_timeout_scope outer, inner;
    expect_rc(pc_timeout_scope_enter(&outer, 10.0), 0);
    expect_rc(pc_timeout_scope_enter(&inner, 0.1), 0);
    expect_rc(pc_coro_sleep(10.0), -ECANCELED);
    expect_rc(pc_timeout_scope_exit(&inner), -ETIMEDOUT);
    expect_rc(pc_coro_sleep(0.01), 0);
    expect_rc(pc_timeout_scope_exit(&outer), 0);
    expect_rc(pc_timeout_scope_enter(&outer, PC_FOREVER), 0);
    expect_rc(pc_timeout_scope_exit(&outer), 0);
    return 0;
}

static int scope_foreign_kill_body(void *arg, void **value) {
    (void)arg;
    (void)value;
    pc_timeout_scope s;
    expect_rc(pc_timeout_scope_enter(&s, 0.05), 0);
    expect_rc(pc_coro_sleep(10.0), -ECANCELED);
    pc_coro_kill(pc_coro_current()); /* someone else's kill, after the expiry */
    expect_rc(pc_timeout_scope_exit(&s), -ECANCELED);
    expect_rc(pc_coro_yield(), -ECANCELED); /* not swallowed */
    return 0;
}

static void run_body(pc_coro_fn fn) {
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, fn, NULL, NULL), 0);
    expect_rc(pc_coro_join(c, 10.0), 0);
    expect_rc(pc_coro_error(c), 0);
    pc_coro_free(c);
}

Test(coro_aio, timeout_scope_cancels_the_blocking_call_and_reports_the_timeout, .timeout = 20) {
    run_body(scope_expires_body);
}

Test(coro_aio, timeout_scope_consumes_an_undelivered_cancellation, .timeout = 20) {
    run_body(scope_undelivered_body);
}

Test(coro_aio, timeout_scopes_nest, .timeout = 20) {
    run_body(scope_nested_body);
}

Test(coro_aio, timeout_scope_keeps_a_foreign_kill, .timeout = 20) {
    run_body(scope_foreign_kill_body);
}

static int scope_misuse_body(void *arg, void **value) {
    (void)arg;
    (void)value;
    pc_timeout_scope s;
    expect_rc(pc_timeout_scope_enter(NULL, 1), -EINVAL);
    expect_rc(pc_timeout_scope_enter(&s, 0.0 / 0.0), -EINVAL);
    pc_alloc_fail_nth(1);
    expect_rc(pc_timeout_scope_enter(&s, 1), -ENOMEM);
    return 0;
}

Test(coro_aio, timeout_scope_misuse, .timeout = 20) {
    pc_timeout_scope s = {0};
    expect_rc(pc_timeout_scope_enter(&s, 1), -EPERM);
    expect_rc(pc_timeout_scope_exit(&s), -EINVAL);
    expect_rc(pc_timeout_scope_exit(NULL), -EINVAL);
    run_body(scope_misuse_body);
}

/* ----------------------------------------------------------- task group */

Test(coro_aio, taskgroup_waits_for_every_child, .timeout = 20) {
    struct job j[3] = {{0}};
    pc_taskgroup *g;
    expect_rc(pc_taskgroup_new(&g), 0);
    pc_coro *c[3];
    for (int i = 0; i < 3; i++) {
        expect_rc(pc_event_new(&j[i].go), 0);
        j[i].err = 0;
        expect_rc(pc_taskgroup_spawn(g, &c[i], job_body, &j[i], NULL), 0);
    }
    pc_event *order[] = {j[1].go, j[2].go, j[0].go, NULL};
    pc_coro *s = setter(order);
    expect_rc(pc_taskgroup_wait(g, 10.0), 0);
    for (int i = 0; i < 3; i++)
        cr_assert(pc_coro_successful(c[i]));
    pc_taskgroup_free(g);
    pc_coro_free(s);
    for (int i = 0; i < 3; i++) {
        pc_coro_free(c[i]);
        pc_event_free(j[i].go);
    }
    expect_rc(pc_loop_run(pc_loop_current()), 0);
}

Test(coro_aio, taskgroup_failure_cancels_the_siblings, .timeout = 20) {
    struct job j[3] = {{0}};
    pc_taskgroup *g;
    expect_rc(pc_taskgroup_new(&g), 0);
    pc_coro *c[3];
    j[1].err = -EIO;
    for (int i = 0; i < 3; i++) {
        expect_rc(pc_event_new(&j[i].go), 0);
        expect_rc(pc_taskgroup_spawn(g, &c[i], job_body, &j[i], NULL), 0);
    }
    pc_event *order[] = {j[1].go, NULL};
    pc_coro *s = setter(order);
    expect_rc(pc_taskgroup_wait(g, 10.0), -EIO);
    expect_rc(pc_coro_error(c[0]), -ECANCELED);
    expect_rc(pc_coro_error(c[1]), -EIO);
    expect_rc(pc_coro_error(c[2]), -ECANCELED);
    expect_rc(pc_taskgroup_spawn(g, NULL, job_body, &j[0], NULL), -ECANCELED);
    pc_taskgroup_free(g);
    pc_coro_free(s);
    for (int i = 0; i < 3; i++) {
        pc_coro_free(c[i]);
        pc_event_free(j[i].go);
    }
    expect_rc(pc_loop_run(pc_loop_current()), 0);
}

Test(coro_aio, taskgroup_wait_times_out_and_free_kills, .timeout = 20) {
    pc_taskgroup *g;
    expect_rc(pc_taskgroup_new(&g), 0);
    pc_coro *c;
    expect_rc(pc_taskgroup_spawn(g, &c, spin_body, NULL, NULL), 0);
    double t0 = pc_now();
    expect_rc(pc_taskgroup_wait(g, 0.2), -ETIMEDOUT);
    assert_took(t0, 0.2);
    expect_rc(pc_taskgroup_wait(NULL, 1), -EINVAL);
    expect_rc(pc_taskgroup_wait(g, 0.0 / 0.0), -EINVAL);
    expect_rc(pc_taskgroup_spawn(g, NULL, NULL, NULL, NULL), -EINVAL);
    pc_taskgroup_free(g);
    expect_rc(pc_coro_join(c, 10.0), 0);
    expect_rc(pc_coro_error(c), -ECANCELED);
    pc_coro_free(c);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    pc_taskgroup_free(NULL);
    expect_rc(pc_taskgroup_new(NULL), -EINVAL);
    pc_alloc_fail_nth(1);
    expect_rc(pc_taskgroup_new(&g), -ENOMEM);
}

static int call_group_wait(struct outer *o) {
    pc_taskgroup *g;
    expect_rc(pc_taskgroup_new(&g), 0);
    expect_rc(pc_taskgroup_spawn(g, &o->inner[0], spin_body, NULL, NULL), 0);
    int r = pc_taskgroup_wait(g, 10.0);
    cr_assert(pc_coro_ready(o->inner[0])); /* killed and waited for */
    pc_taskgroup_free(g);
    return r;
}

Test(coro_aio, taskgroup_wait_cancelled_cancels_the_children, .timeout = 20) {
    pc_coro *c[1] = {NULL};
    struct outer o = {c, 1, NULL, call_group_wait};
    expect_rc(run_killed(&o), -ECANCELED);
    expect_rc(pc_coro_error(c[0]), -ECANCELED);
    pc_coro_free(c[0]);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
}

/* ------------------------------------------- from another plain thread */

struct remote {
    struct job *j;
    pc_coro **c;
    pc_event *registered, *fin;
    int wait_rc, gather_rc;
    bool done[2];
    void *v[2];
};

static void *remote_waiter(void *arg) {
    struct remote *r = arg;
    pc_thread_current(); /* known to the loop: it may wake coroutines */
    pc_event_set(r->registered);
    pc_event_set(r->j[1].go);
    r->wait_rc = pc_aio_wait(r->c, 2, PC_FIRST_COMPLETED, r->done, 10.0);
    pc_event_set(r->j[0].go);
    r->gather_rc = pc_aio_gather(r->c, 2, r->v, 10.0);
    pc_event_set(r->fin);
    return NULL;
}

static int keeper_body(void *arg, void **value) {
    (void)value;
    return pc_event_wait(arg, 10.0);
}

Test(coro_aio, wait_and_gather_from_another_thread_block_it, .timeout = 20) {
    struct job j[2] = {{0}};
    pc_coro *c[2], *keeper;
    jobs_new(j, c, 2);
    struct remote r = {j, c, NULL, NULL, 1, 1, {0}, {0}};
    expect_rc(pc_event_new(&r.registered), 0);
    expect_rc(pc_event_new(&r.fin), 0);
    expect_rc(pc_coro_spawn(&keeper, keeper_body, r.fin, NULL), 0);
    pthread_t t = start_pthread(remote_waiter, &r);
    expect_rc(pc_event_wait(r.registered, 10.0), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    expect_rc(r.wait_rc, 0);
    cr_assert(!r.done[0] && r.done[1]);
    expect_rc(r.gather_rc, 0);
    cr_assert_eq((intptr_t)r.v[0], 100);
    cr_assert_eq((intptr_t)r.v[1], 101);
    expect_rc(pc_coro_error(keeper), 0);
    pc_coro_free(keeper);
    pc_event_free(r.registered);
    pc_event_free(r.fin);
    jobs_free(j, c, 2);
}

static int scope_on_an_event_body(void *arg, void **value) {
    (void)value;
    pc_timeout_scope s;
    expect_rc(pc_timeout_scope_enter(&s, 0.1), 0);
    int r = pc_event_wait(arg, PC_FOREVER); /* any blocking call, not only sleep */
    expect_rc(pc_timeout_scope_exit(&s), -ETIMEDOUT);
    return r;
}

Test(coro_aio, timeout_scope_cancels_a_wait_on_an_event, .timeout = 20) {
    pc_event *e;
    expect_rc(pc_event_new(&e), 0);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, scope_on_an_event_body, e, NULL), 0);
    expect_rc(pc_coro_join(c, 10.0), 0);
    expect_rc(pc_coro_error(c), -ECANCELED);
    pc_coro_free(c);
    pc_event_free(e);
}

Test(coro_aio, taskgroup_spawn_survives_every_allocation_failure, .timeout = 20) {
    pc_taskgroup *g;
    expect_rc(pc_taskgroup_new(&g), 0);
    int failed = 0;
    for (int n = 1;; n++) {
        pc_alloc_fail_nth(n);
        pc_coro *c = NULL;
        int r = pc_taskgroup_spawn(g, &c, spin_body, NULL, NULL);
        pc_alloc_fail_nth(0);
        if (r == 0) {
            pc_coro_free(c);
            break;
        }
        expect_rc(r, -ENOMEM);
        cr_assert_null(c);
        failed++;
    }
    cr_assert_eq(failed, 2); /* the array, then the coroutine */
    pc_coro *c = NULL;
    pc_alloc_fail_nth(2); /* the array has room now: the link fails */
    expect_rc(pc_taskgroup_spawn(g, &c, spin_body, NULL, NULL), -ENOMEM);
    cr_assert_null(c);
    expect_rc(pc_taskgroup_wait(g, 0), -ETIMEDOUT);
    pc_taskgroup_free(g); /* kills the one child */
    expect_rc(pc_loop_run(pc_loop_current()), 0);
}

static int forever_body(void *arg, void **value) {
    (void)value;
    return pc_event_wait(arg, PC_FOREVER);
}

Test(coro_aio, a_plain_thread_waiting_on_a_stuck_loop_gets_edeadlk, .timeout = 20) {
    pc_event *e;
    expect_rc(pc_event_new(&e), 0);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, forever_body, e, NULL), 0);
    pc_as_completed *it;
    expect_rc(pc_as_completed_new(&it, &c, 1, PC_FOREVER), 0);
    pc_coro *got;
    /* nothing can wake it: gevent's LoopExit, and the helper is unwound */
    expect_rc(pc_aio_wait(&c, 1, PC_ALL_COMPLETED, NULL, PC_FOREVER), -EDEADLK);
    expect_rc(pc_as_completed_next(it, &got), -EDEADLK);
    expect_rc(pc_taskgroup_wait(NULL, 1), -EINVAL);
    pc_event_set(e);
    expect_rc(pc_as_completed_next(it, &got), 0);
    cr_assert_eq(got, c);
    pc_as_completed_free(it);
    expect_rc(pc_coro_error(c), 0);
    expect_rc(pc_loop_run(pc_loop_current()), 0);
    pc_coro_free(c);
    pc_event_free(e);
}
