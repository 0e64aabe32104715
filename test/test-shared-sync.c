/* Process-shared Semaphore, BoundedSemaphore, Event, Condition and
 * Barrier (pyconc/shared.h): timeouts, non-blocking forms, misuse, use
 * across processes under each start method, coroutines and signals. */
#include <limits.h>

#include "shared-helpers.h"

/* ---- Semaphore ---- */

Test(shared_sem, counts_tries_and_times_out) {
    pc_shsem *s;
    pc_shsem *bad;
    expect_rc(pc_shsem_new(&bad, -1), -EINVAL);
    expect_rc(pc_shsem_new(&s, 2), 0);
    cr_assert_eq(pc_shsem_value(s), 2);
    expect_rc(pc_shsem_acquire(s, 0), 0);
    expect_rc(pc_shsem_acquire(s, PC_FOREVER), 0);
    expect_rc(pc_shsem_acquire(s, 0), -EBUSY);
    double t0 = now_s();
    expect_rc(pc_shsem_acquire(s, 0.2), -ETIMEDOUT);
    double dt = now_s() - t0;
    cr_assert(dt >= 0.18 && dt < 5, "%.3f s", dt);
    expect_rc(pc_shsem_release(s, 0), -EINVAL);
    expect_rc(pc_shsem_release(s, 3), 0);
    cr_assert_eq(pc_shsem_value(s), 3);
    expect_rc(pc_shsem_release(s, LONG_MAX), -EOVERFLOW);
    cr_assert_eq(pc_shsem_value(s), 3);
    cr_assert_eq(pc_shsem_value(NULL), -EINVAL);
    pc_shevent *e;
    expect_rc(pc_shevent_new(&e), 0);
    expect_rc(pc_shsem_acquire((pc_shsem *)(void *)e, 0), -EINVAL);
    expect_rc(pc_shsem_release((pc_shsem *)(void *)e, 1), -EINVAL);
    expect_rc(pc_shevent_free(e), 0);
    expect_rc(pc_shsem_free(s), 0);
}

Test(shared_sem, bounded_refuses_over_release) {
    pc_shsem *s;
    expect_rc(pc_shsem_new_bounded(&s, 1), 0);
    expect_rc(pc_shsem_release(s, 1), -EOVERFLOW);
    cr_assert_eq(pc_shsem_value(s), 1);
    expect_rc(pc_shsem_acquire(s, 0), 0);
    expect_rc(pc_shsem_release(s, 2), -EOVERFLOW);
    expect_rc(pc_shsem_release(s, 1), 0);
    expect_rc(pc_shsem_free(s), 0);
}

static void *sem_taker(void *arg) {
    return (void *)(intptr_t)pc_shsem_acquire(arg, 30);
}

Test(shared_sem, free_with_a_waiter_is_ebusy, .timeout = 30) {
    pc_shsem *s;
    expect_rc(pc_shsem_new(&s, 0), 0);
    pthread_t t = start_pthread(sem_taker, s);
    wait_sleepers(s, 1);
    expect_rc(pc_shsem_free(s), -EBUSY);
    expect_rc(pc_shsem_release(s, 1), 0);
    void *rc;
    pthread_join(t, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    expect_rc(pc_shsem_free(s), 0);
}

struct pingpong {
    pc_shared_ref ping, pong;
};

static int ponger(void *arg, size_t len) {
    (void)len;
    struct pingpong *pp = deref(*(pc_shared_ref *)arg);
    pc_shsem *ping = pp ? deref(pp->ping) : NULL, *pong = pp ? deref(pp->pong) : NULL;
    if (!ping || !pong)
        return 90;
    for (int i = 0; i < 200; i++)
        if (pc_shsem_acquire(ping, 30) != 0 || pc_shsem_release(pong, 1) != 0)
            return 91;
    return 0;
}

PROC_TEST(shared_sem_ping_pong_between_processes, .timeout = 60) {
    struct pingpong *pp;
    expect_rc(pc_shared_alloc(sizeof *pp, (void **)&pp), 0);
    pc_shsem *ping, *pong;
    expect_rc(pc_shsem_new(&ping, 0), 0);
    expect_rc(pc_shsem_new(&pong, 0), 0);
    pp->ping = ref_of(ping);
    pp->pong = ref_of(pong);
    pc_shared_ref r = ref_of(pp);
    pc_process *p = start_fn(m, ponger, &r, sizeof r, NULL, 0);
    for (int i = 0; i < 200; i++) {
        expect_rc(pc_shsem_release(ping, 1), 0);
        expect_rc(pc_shsem_acquire(pong, 30), 0);
    }
    cr_assert_eq(join_code(p), 0);
    pc_process_free(p);
    expect_rc(pc_shsem_free(ping), 0);
    expect_rc(pc_shsem_free(pong), 0);
    expect_rc(pc_shared_free(pp), 0);
}

/* ---- Event ---- */

Test(shared_event, set_clear_wait) {
    pc_shevent *e;
    expect_rc(pc_shevent_new(&e), 0);
    cr_assert(!pc_shevent_is_set(e));
    expect_rc(pc_shevent_wait(e, 0), -ETIMEDOUT);
    double t0 = now_s();
    expect_rc(pc_shevent_wait(e, 0.2), -ETIMEDOUT);
    double dt = now_s() - t0;
    cr_assert(dt >= 0.18 && dt < 5, "%.3f s", dt);
    expect_rc(pc_shevent_set(e), 0);
    cr_assert(pc_shevent_is_set(e));
    expect_rc(pc_shevent_wait(e, 0), 0);
    expect_rc(pc_shevent_wait(e, PC_FOREVER), 0);
    expect_rc(pc_shevent_clear(e), 0);
    cr_assert(!pc_shevent_is_set(e));
    expect_rc(pc_shevent_set(NULL), -EINVAL);
    pc_shlock *l;
    expect_rc(pc_shlock_new(&l), 0);
    expect_rc(pc_shevent_wait((pc_shevent *)(void *)l, 0), -EINVAL);
    expect_rc(pc_shevent_free((pc_shevent *)(void *)l), -EINVAL);
    expect_rc(pc_shlock_free(l), 0);
    expect_rc(pc_shevent_free(e), 0);
}

struct ev_waiter {
    pc_shevent *e;
    double timeout;
    int rc;
    double took;
};

static void *event_waiter(void *arg) {
    struct ev_waiter *w = arg;
    double t0 = now_s();
    w->rc = pc_shevent_wait(w->e, w->timeout);
    w->took = now_s() - t0;
    return NULL;
}

Test(shared_event, set_then_clear_releases_the_waiters_already_waiting, .timeout = 30) {
    struct ev_waiter w = {.timeout = 20, .rc = 1};
    expect_rc(pc_shevent_new(&w.e), 0);
    pthread_t t = start_pthread(event_waiter, &w);
    wait_sleepers(w.e, 1);
    expect_rc(pc_shevent_free(w.e), -EBUSY);
    expect_rc(pc_shevent_set(w.e), 0);
    expect_rc(pc_shevent_clear(w.e), 0);
    pthread_join(t, NULL);
    expect_rc(w.rc, 0);
    expect_rc(pc_shevent_free(w.e), 0);
}

Test(shared_event, signals_do_not_fail_an_event_wait, .timeout = 30) {
    install_sigusr1();
    struct ev_waiter w = {.timeout = 20, .rc = 1};
    expect_rc(pc_shevent_new(&w.e), 0);
    pthread_t t = start_pthread(event_waiter, &w);
    wait_sleepers(w.e, 1);
    pester(t, 20);
    expect_rc(pc_shevent_set(w.e), 0);
    pthread_join(t, NULL);
    expect_rc(w.rc, 0);

    expect_rc(pc_shevent_clear(w.e), 0);
    w.timeout = 0.3;
    t = start_pthread(event_waiter, &w);
    wait_sleepers(w.e, 1);
    pester(t, 20);
    pthread_join(t, NULL);
    expect_rc(w.rc, -ETIMEDOUT);
    cr_assert(w.took >= 0.28 && w.took < 10, "took %.3f s", w.took);
    expect_rc(pc_shevent_free(w.e), 0);
}

static int wait_event_child(void *arg, size_t len) {
    (void)len;
    pc_shevent *e = deref(*(pc_shared_ref *)arg);
    return e && pc_shevent_wait(e, 30) == 0 ? 7 : 90;
}

PROC_TEST(shared_event_wakes_a_child, .timeout = 60) {
    pc_shevent *e;
    expect_rc(pc_shevent_new(&e), 0);
    pc_shared_ref r = ref_of(e);
    pc_process *p = start_fn(m, wait_event_child, &r, sizeof r, NULL, 0);
    wait_sleepers(e, 1);
    expect_rc(pc_shevent_set(e), 0);
    cr_assert_eq(join_code(p), 7);
    pc_process_free(p);
    expect_rc(pc_shevent_free(e), 0);
}

struct ev_scene {
    pc_shevent *e;
    int ticks, ticks_at_wake, rc;
};

static int ev_coro_waiter(void *arg, void **value) {
    (void)value;
    struct ev_scene *s = arg;
    s->rc = pc_shevent_wait(s->e, 30);
    s->ticks_at_wake = s->ticks;
    return 0;
}

static int ev_coro_ticker(void *arg, void **value) {
    (void)value;
    struct ev_scene *s = arg;
    for (int i = 0; i < 5; i++) {
        s->ticks++;
        pc_coro_sleep(0.01);
    }
    return pc_shevent_set(s->e);
}

Test(shared_event, a_coroutine_waiting_parks_only_itself, .timeout = 30) {
    struct ev_scene s = {.rc = 1};
    expect_rc(pc_shevent_new(&s.e), 0);
    pc_coro *w, *k;
    expect_rc(pc_coro_spawn(&w, ev_coro_waiter, &s, NULL), 0);
    expect_rc(pc_coro_spawn(&k, ev_coro_ticker, &s, NULL), 0);
    expect_rc(pc_coro_join(w, 30), 0);
    expect_rc(pc_coro_join(k, 30), 0);
    expect_rc(pc_coro_error(k), 0);
    expect_rc(s.rc, 0);
    cr_assert_eq(s.ticks_at_wake, 5);
    pc_coro_free(w);
    pc_coro_free(k);
    expect_rc(pc_loop_close(), 0);
    expect_rc(pc_shevent_free(s.e), 0);
}

/* ---- Condition ---- */

Test(shared_cond, wait_needs_the_lock_and_times_out_holding_it) {
    pc_shcond *c;
    pc_shlock *l;
    pc_shrlock *r;
    expect_rc(pc_shlock_new(&l), 0);
    expect_rc(pc_shrlock_new(&r), 0);
    expect_rc(pc_shcond_new(&c, l, r), -EINVAL);
    expect_rc(pc_shcond_new(&c, (pc_shlock *)r, NULL), -EINVAL);
    expect_rc(pc_shcond_new(&c, NULL, NULL), 0); /* its own RLock */
    cr_assert(pc_shcond_lock_is_recursive(c));
    expect_rc(pc_shcond_wait(c, 0), -EPERM);
    expect_rc(pc_shcond_notify(c, 1), -EPERM);
    expect_rc(pc_shcond_acquire(c, 0), 0);
    expect_rc(pc_shcond_acquire(c, 0), 0); /* level 2 */
    double t0 = now_s();
    expect_rc(pc_shcond_wait(c, 0.2), -ETIMEDOUT);
    double dt = now_s() - t0;
    cr_assert(dt >= 0.18 && dt < 5, "%.3f s", dt);
    cr_assert_eq(pc_shrlock_count(pc_shcond_lock_of(c)), 2);
    expect_rc(pc_shcond_notify(c, -1), -EINVAL);
    expect_rc(pc_shcond_notify_all(c), 0); /* nobody waits: nothing */
    expect_rc(pc_shcond_free(c), -EBUSY);  /* its own lock is held */
    expect_rc(pc_shcond_release(c), 0);
    expect_rc(pc_shcond_release(c), 0);
    expect_rc(pc_shcond_release(c), -EPERM);
    expect_rc(pc_shcond_free(c), 0);

    expect_rc(pc_shcond_new(&c, l, NULL), 0); /* a given Lock */
    cr_assert_eq(pc_shcond_lock_of(c), l);
    expect_rc(pc_shcond_acquire(c, 0), 0);
    expect_rc(pc_shcond_wait(c, 0), -ETIMEDOUT);
    cr_assert(pc_shlock_locked(l));
    expect_rc(pc_shcond_release(c), 0);
    expect_rc(pc_shcond_free(c), 0);
    expect_rc(pc_shlock_free(l), 0); /* not freed with it */
    expect_rc(pc_shrlock_free(r), 0);
}

struct cond_scene {
    pc_shcond *c;
    int woken; /* guarded by c's lock */
};

static void *cond_waiter(void *arg) {
    struct cond_scene *s = arg;
    pc_shcond_acquire(s->c, PC_FOREVER);
    int rc = pc_shcond_wait(s->c, 20);
    if (rc == 0)
        s->woken++;
    pc_shcond_release(s->c);
    return (void *)(intptr_t)rc;
}

Test(shared_cond, notify_n_wakes_n, .timeout = 30) {
    struct cond_scene s = {0};
    expect_rc(pc_shcond_new(&s.c, NULL, NULL), 0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        t[i] = start_pthread(cond_waiter, &s);
    wait_sleepers(s.c, 3);
    expect_rc(pc_shcond_acquire(s.c, PC_FOREVER), 0);
    expect_rc(pc_shcond_notify(s.c, 1), 0);
    expect_rc(pc_shcond_release(s.c), 0);
    for (;;) { /* one wakes ... */
        expect_rc(pc_shcond_acquire(s.c, PC_FOREVER), 0);
        int w = s.woken;
        expect_rc(pc_shcond_release(s.c), 0);
        if (w == 1)
            break;
        usleep(1000);
    }
    usleep(100000); /* ... and only one */
    expect_rc(pc_shcond_acquire(s.c, PC_FOREVER), 0);
    cr_assert_eq(s.woken, 1);
    cr_assert_eq(pc__sh_nwait(s.c), 2);
    expect_rc(pc_shcond_notify_all(s.c), 0);
    expect_rc(pc_shcond_release(s.c), 0);
    for (int i = 0; i < 3; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        cr_assert_eq((intptr_t)rc, 0);
    }
    cr_assert_eq(s.woken, 3);
    expect_rc(pc_shcond_free(s.c), 0);
}

struct cond_box {
    pc_shared_ref cond, flag; /* flag: a raw long value */
};

static bool flag_is_up(void *arg) {
    return *(long *)pc_shvalue_ptr(arg) != 0;
}

static int cond_child(void *arg, size_t len) {
    (void)len;
    struct cond_box *b = deref(*(pc_shared_ref *)arg);
    pc_shcond *c = b ? deref(b->cond) : NULL;
    pc_shvalue *flag = b ? deref(b->flag) : NULL;
    if (!c || !flag)
        return 90;
    if (pc_shcond_acquire(c, 30) != 0)
        return 91;
    int rc = pc_shcond_wait_for(c, flag_is_up, flag, 30);
    pc_shcond_release(c);
    return rc == 0 ? 5 : 92;
}

PROC_TEST(shared_cond_wait_for_across_processes, .timeout = 60) {
    struct cond_box *b;
    expect_rc(pc_shared_alloc(sizeof *b, (void **)&b), 0);
    pc_shcond *c;
    pc_shvalue *flag;
    expect_rc(pc_shcond_new(&c, NULL, NULL), 0);
    expect_rc(pc_shvalue_new_raw(&flag, PC_SH_LONG, 0), 0);
    b->cond = ref_of(c);
    b->flag = ref_of(flag);
    pc_shared_ref r = ref_of(b);
    pc_process *p = start_fn(m, cond_child, &r, sizeof r, NULL, 0);
    wait_sleepers(c, 1);
    expect_rc(pc_shcond_acquire(c, 30), 0);
    *(long *)pc_shvalue_ptr(flag) = 1;
    expect_rc(pc_shcond_notify_all(c), 0);
    expect_rc(pc_shcond_release(c), 0);
    cr_assert_eq(join_code(p), 5);
    pc_process_free(p);
    expect_rc(pc_shcond_free(c), 0);
    expect_rc(pc_shvalue_free(flag), 0);
    expect_rc(pc_shared_free(b), 0);
}

/* The lock's holder dies while we wait: the wait reports it. */
struct cond_kill {
    pc_shared_ref cond, ready;
};

static int notify_and_die(void *arg, size_t len) {
    (void)len;
    struct cond_kill *k = deref(*(pc_shared_ref *)arg);
    pc_shcond *c = k ? deref(k->cond) : NULL;
    pc_shevent *ready = k ? deref(k->ready) : NULL;
    if (!c || !ready || pc_shcond_acquire(c, 30) != 0)
        return 90;
    pc_shcond_notify_all(c);
    pc_shevent_set(ready);
    for (;;)
        pause(); /* killed holding the condition's lock */
}

struct killer {
    pc_shevent *ready;
    pc_process *p;
};

static void *kill_when_ready(void *arg) {
    struct killer *k = arg;
    if (pc_shevent_wait(k->ready, 30) == 0)
        pc_process_kill(k->p);
    return NULL;
}

PROC_TEST(shared_cond_wait_reports_a_dead_lock_holder, .timeout = 60) {
    struct cond_kill *k;
    expect_rc(pc_shared_alloc(sizeof *k, (void **)&k), 0);
    pc_shcond *c;
    pc_shevent *ready;
    expect_rc(pc_shcond_new(&c, NULL, NULL), 0);
    expect_rc(pc_shevent_new(&ready), 0);
    k->cond = ref_of(c);
    k->ready = ref_of(ready);
    pc_shared_ref r = ref_of(k);
    expect_rc(pc_shcond_acquire(c, 0), 0);
    pc_process *p = start_fn(m, notify_and_die, &r, sizeof r, NULL, 0);
    struct killer kl = {ready, p};
    pthread_t t = start_pthread(kill_when_ready, &kl);
    expect_rc(pc_shcond_wait(c, 30), -EOWNERDEAD);
    cr_assert(pc_shrlock_is_owned(pc_shcond_lock_of(c)));
    pthread_join(t, NULL);
    expect_rc(pc_shcond_release(c), 0);
    cr_assert_eq(join_code(p), -SIGKILL);
    pc_process_free(p);
    expect_rc(pc_shcond_free(c), 0);
    expect_rc(pc_shevent_free(ready), 0);
    expect_rc(pc_shared_free(k), 0);
}

/* ---- Barrier ---- */

struct bar_arg {
    pc_shbarrier *b;
    double timeout;
};

static void *bar_waiter(void *arg) {
    struct bar_arg *a = arg;
    return (void *)(intptr_t)pc_shbarrier_wait(a->b, a->timeout);
}

Test(shared_barrier, indices_cycles_and_misuse, .timeout = 30) {
    pc_shbarrier *b;
    expect_rc(pc_shbarrier_new(&b, 0), -EINVAL);
    expect_rc(pc_shbarrier_new(&b, 3), 0);
    cr_assert_eq(pc_shbarrier_parties(b), 3);
    struct bar_arg a = {b, 20};
    for (int cycle = 0; cycle < 3; cycle++) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            t[i] = start_pthread(bar_waiter, &a);
        wait_sleepers(b, 2);
        cr_assert_eq(pc_shbarrier_n_waiting(b), 2);
        expect_rc(pc_shbarrier_free(b), -EBUSY);
        int seen = 1 << pc_shbarrier_wait(b, 20);
        for (int i = 0; i < 2; i++) {
            void *rc;
            pthread_join(t[i], &rc);
            cr_assert((intptr_t)rc >= 0 && (intptr_t)rc < 3);
            seen |= 1 << (intptr_t)rc;
        }
        cr_assert_eq(seen, 7, "indices 0, 1, 2 each once");
    }
    expect_rc(pc_shbarrier_wait(NULL, 0), -EINVAL);
    expect_rc(pc_shbarrier_free(b), 0);
}

Test(shared_barrier, a_timeout_breaks_it_and_reset_mends_it, .timeout = 30) {
    pc_shbarrier *b;
    expect_rc(pc_shbarrier_new(&b, 3), 0);
    struct bar_arg a = {b, 20};
    pthread_t t = start_pthread(bar_waiter, &a);
    wait_sleepers(b, 1);
    double t0 = now_s();
    expect_rc(pc_shbarrier_wait(b, 0.2), -ETIMEDOUT);
    cr_assert_geq(now_s() - t0, 0.18);
    void *rc;
    pthread_join(t, &rc);
    cr_assert_eq((intptr_t)rc, PC_EBROKEN);
    cr_assert(pc_shbarrier_broken(b));
    expect_rc(pc_shbarrier_wait(b, 1), PC_EBROKEN);
    expect_rc(pc_shbarrier_reset(b), 0);
    cr_assert(!pc_shbarrier_broken(b));
    expect_rc(pc_shbarrier_wait(b, 0), -ETIMEDOUT); /* 0 never blocks: breaks it */
    cr_assert(pc_shbarrier_broken(b));
    expect_rc(pc_shbarrier_reset(b), 0);

    t = start_pthread(bar_waiter, &a); /* reset while waiting: broken for the waiter */
    wait_sleepers(b, 1);
    expect_rc(pc_shbarrier_reset(b), 0);
    pthread_join(t, &rc);
    cr_assert_eq((intptr_t)rc, PC_EBROKEN);
    cr_assert(!pc_shbarrier_broken(b));

    t = start_pthread(bar_waiter, &a); /* abort */
    wait_sleepers(b, 1);
    expect_rc(pc_shbarrier_abort(b), 0);
    pthread_join(t, &rc);
    cr_assert_eq((intptr_t)rc, PC_EBROKEN);
    expect_rc(pc_shbarrier_reset(b), 0);
    expect_rc(pc_shbarrier_free(b), 0);
}

static int barrier_child(void *arg, size_t len) {
    (void)len;
    pc_shbarrier *b = deref(*(pc_shared_ref *)arg);
    if (!b)
        return 90;
    int sum = 0;
    for (int i = 0; i < 20; i++) {
        int rc = pc_shbarrier_wait(b, 30);
        if (rc < 0)
            return 91;
        sum += rc;
    }
    return sum <= 20 ? sum : 92;
}

PROC_TEST(shared_barrier_cycles_across_processes, .timeout = 60) {
    pc_shbarrier *b;
    expect_rc(pc_shbarrier_new(&b, 2), 0);
    pc_shared_ref r = ref_of(b);
    pc_process *p = start_fn(m, barrier_child, &r, sizeof r, NULL, 0);
    int sum = 0;
    for (int i = 0; i < 20; i++) {
        int rc = pc_shbarrier_wait(b, 30);
        cr_assert(rc == 0 || rc == 1, "rc %d", rc);
        sum += rc;
    }
    cr_assert_eq(sum + join_code(p), 20, "each cycle gives out 0 and 1");
    pc_process_free(p);
    expect_rc(pc_shbarrier_free(b), 0);
}

/* ---- a thread attached to a GIL releases it while it waits ---- */

struct gil_scene {
    pc_gil *g;
    pc_shevent *ready, *go;
    pc_shlock *l;
    int mark; /* guarded by g */
    int rc_event, rc_lock, held, saw_mark;
};

static void *gil_waiter(void *arg) {
    struct gil_scene *s = arg;
    if (pc_gil_attach(s->g) != 0 || pc_gil_acquire(s->g, 10) != 0)
        return NULL;
    pc_shevent_set(s->ready);
    s->rc_event = pc_shevent_wait(s->go, 20); /* releases the GIL meanwhile */
    s->rc_lock = pc_shlock_acquire(s->l, 20); /* so does this */
    s->held = pc_gil_held(s->g);
    s->saw_mark = s->mark;
    pc_shlock_release(s->l);
    pc_gil_release(s->g);
    pc_gil_detach(s->g);
    return NULL;
}

Test(shared_event, a_waiting_thread_releases_its_gil, .timeout = 30) {
    struct gil_scene s = {.rc_event = 1, .rc_lock = 1};
    expect_rc(pc_gil_new(&s.g, NULL), 0);
    expect_rc(pc_shevent_new(&s.ready), 0);
    expect_rc(pc_shevent_new(&s.go), 0);
    expect_rc(pc_shlock_new(&s.l), 0);
    expect_rc(pc_shlock_acquire(s.l, 0), 0);
    pthread_t t = start_pthread(gil_waiter, &s);
    expect_rc(pc_shevent_wait(s.ready, 10), 0);
    expect_rc(pc_gil_acquire(s.g, 5), 0); /* possible only if the waiter let it go */
    s.mark = 1;
    expect_rc(pc_shevent_set(s.go), 0);
    expect_rc(pc_gil_release(s.g), 0);
    wait_lock_waiter(&s.l->mu); /* now it waits for the lock */
    expect_rc(pc_gil_acquire(s.g, 5), 0);
    s.mark = 2;
    expect_rc(pc_shlock_release(s.l), 0);
    expect_rc(pc_gil_release(s.g), 0);
    pthread_join(t, NULL);
    expect_rc(s.rc_event, 0);
    expect_rc(s.rc_lock, 0);
    cr_assert(s.held);
    cr_assert_eq(s.saw_mark, 2);
    expect_rc(pc_shevent_free(s.ready), 0);
    expect_rc(pc_shevent_free(s.go), 0);
    expect_rc(pc_shlock_free(s.l), 0);
    expect_rc(pc_gil_free(s.g), 0);
}

struct timed_waiter {
    pc_shcond *c;
    double timeout;
    int rc;
};

static void *cond_timed_waiter(void *arg) {
    struct timed_waiter *w = arg;
    pc_shcond_acquire(w->c, PC_FOREVER);
    w->rc = pc_shcond_wait(w->c, w->timeout);
    pc_shcond_release(w->c);
    return NULL;
}

/* A waiter that timed out does not absorb the next notify: oldest (its
 * ticket in the middle) and newest alike. */
Test(shared_cond, a_timed_out_waiter_does_not_absorb_a_notify, .timeout = 30) {
    pc_shcond *c;
    expect_rc(pc_shcond_new(&c, NULL, NULL), 0);
    for (int round = 0; round < 2; round++) {
        struct timed_waiter a = {c, 0.1, 1}, b = {c, 20, 1};
        pthread_t ta, tb;
        if (round == 0) { /* a is older than b */
            ta = start_pthread(cond_timed_waiter, &a);
            wait_sleepers(c, 1);
            tb = start_pthread(cond_timed_waiter, &b);
        } else { /* a is the newest */
            tb = start_pthread(cond_timed_waiter, &b);
            wait_sleepers(c, 1);
            ta = start_pthread(cond_timed_waiter, &a);
        }
        pthread_join(ta, NULL);
        expect_rc(a.rc, -ETIMEDOUT);
        expect_rc(pc_shcond_acquire(c, PC_FOREVER), 0);
        expect_rc(pc_shcond_notify(c, 1), 0);
        expect_rc(pc_shcond_release(c), 0);
        pthread_join(tb, NULL);
        expect_rc(b.rc, 0);
    }
    expect_rc(pc_shcond_free(c), 0);
}
