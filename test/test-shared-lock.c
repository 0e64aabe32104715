/* Process-shared Lock and RLock (pyconc/shared.h): timeouts, misuse, a
 * holder killed with SIGKILL under each start method, coroutines that
 * park alone, and signals that do not fail a wait. */
#include <math.h>

#include "shared-helpers.h"

Test(shared_lock, acquire_try_timeout_release) {
    pc_shlock *l;
    expect_rc(pc_shlock_new(&l), 0);
    cr_assert(!pc_shlock_locked(l));
    expect_rc(pc_shlock_acquire(l, 0), 0);
    cr_assert(pc_shlock_locked(l));
    expect_rc(pc_shlock_acquire(l, 0), -EBUSY);
    double t0 = now_s();
    expect_rc(pc_shlock_acquire(l, 0.2), -ETIMEDOUT);
    double dt = now_s() - t0;
    cr_assert(dt >= 0.18 && dt < 5, "timed out after %.3f s", dt);
    expect_rc(pc_shlock_free(l), -EBUSY); /* held by a live thread */
    expect_rc(pc_shlock_release(l), 0);
    expect_rc(pc_shlock_release(l), -EPERM); /* not held */
    expect_rc(pc_shlock_acquire(l, PC_FOREVER), 0);
    expect_rc(pc_shlock_release(l), 0);
    expect_rc(pc_shlock_acquire(l, NAN), -EINVAL);
    pc_shared_ref r = ref_of(l);
    cr_assert_eq(deref(r), l);
    expect_rc(pc_shlock_free(l), 0);
    cr_assert_null(deref(r));
}

Test(shared_lock, wrong_objects_are_einval) {
    pc_shsem *s;
    expect_rc(pc_shsem_new(&s, 1), 0);
    expect_rc(pc_shlock_acquire((pc_shlock *)s, 0), -EINVAL);
    expect_rc(pc_shlock_release((pc_shlock *)s), -EINVAL);
    expect_rc(pc_shlock_free((pc_shlock *)s), -EINVAL);
    expect_rc(pc_shrlock_acquire((pc_shrlock *)s, 0), -EINVAL);
    expect_rc(pc_shlock_acquire(NULL, 0), -EINVAL);
    expect_rc(pc_shrlock_release(NULL), -EINVAL);
    expect_rc(pc_shlock_new(NULL), -EINVAL);
    cr_assert(!pc_shlock_locked(NULL));
    expect_rc(pc_shsem_free(s), 0);
    expect_rc(pc_shsem_free(s), -EINVAL); /* freed: its kind is gone */
}

static void *release_it(void *arg) {
    return (void *)(intptr_t)pc_shlock_release(arg);
}

Test(shared_lock, any_thread_may_release_a_lock) {
    pc_shlock *l;
    expect_rc(pc_shlock_new(&l), 0);
    expect_rc(pc_shlock_acquire(l, PC_FOREVER), 0);
    void *rc;
    pthread_join(start_pthread(release_it, l), &rc);
    cr_assert_eq((intptr_t)rc, 0);
    cr_assert(!pc_shlock_locked(l));
    expect_rc(pc_shlock_free(l), 0);
}

static void *rlock_other(void *arg) {
    pc_shrlock *r = arg;
    intptr_t bad = 0;
    bad |= pc_shrlock_release(r) != -EPERM;
    bad |= pc_shrlock_is_owned(r);
    bad |= pc_shrlock_acquire(r, 0) != -EBUSY;
    bad |= pc_shrlock_acquire(r, 0.05) != -ETIMEDOUT;
    return (void *)bad;
}

Test(shared_lock, rlock_counts_and_refuses_non_owners) {
    pc_shrlock *r;
    expect_rc(pc_shrlock_new(&r), 0);
    cr_assert_eq(pc_shrlock_count(r), 0);
    expect_rc(pc_shrlock_release(r), -EPERM);
    for (int i = 1; i <= 3; i++) {
        expect_rc(pc_shrlock_acquire(r, 0), 0);
        cr_assert_eq(pc_shrlock_count(r), (unsigned long)i);
    }
    cr_assert(pc_shrlock_is_owned(r));
    void *bad;
    pthread_join(start_pthread(rlock_other, r), &bad);
    cr_assert_eq((intptr_t)bad, 0);
    expect_rc(pc_shrlock_free(r), -EBUSY);
    for (int i = 0; i < 3; i++)
        expect_rc(pc_shrlock_release(r), 0);
    expect_rc(pc_shrlock_release(r), -EPERM);
    cr_assert(!pc_shrlock_is_owned(r));
    expect_rc(pc_shrlock_free(r), 0);
}

/* ---- two coroutines of one thread are two RLock owners ---- */

struct rl_scene {
    pc_shrlock *r;
    pc_shevent *go;
    int second_try, second_wait;
};

static int first_owner(void *arg, void **value) {
    (void)value;
    struct rl_scene *s = arg;
    int rc = pc_shrlock_acquire(s->r, 0);
    if (rc == 0)
        rc = pc_shrlock_acquire(s->r, 0); /* its own: recursion */
    pc_shevent_wait(s->go, 30);           /* parks: the other coroutine runs */
    pc_shrlock_release(s->r);
    pc_shrlock_release(s->r);
    return rc;
}

static int second_owner(void *arg, void **value) {
    (void)value;
    struct rl_scene *s = arg;
    s->second_try = pc_shrlock_acquire(s->r, 0); /* same thread, other owner */
    pc_shevent_set(s->go);
    s->second_wait = pc_shrlock_acquire(s->r, 30); /* parks until the first lets go */
    return pc_shrlock_release(s->r);
}

Test(shared_lock, two_coroutines_of_one_thread_are_two_owners, .timeout = 30) {
    struct rl_scene s = {0};
    expect_rc(pc_shrlock_new(&s.r), 0);
    expect_rc(pc_shevent_new(&s.go), 0);
    pc_coro *a, *b;
    expect_rc(pc_coro_spawn(&a, first_owner, &s, NULL), 0);
    expect_rc(pc_coro_spawn(&b, second_owner, &s, NULL), 0);
    expect_rc(pc_coro_join(a, 30), 0);
    expect_rc(pc_coro_join(b, 30), 0);
    expect_rc(pc_coro_error(a), 0);
    expect_rc(pc_coro_error(b), 0);
    expect_rc(s.second_try, -EBUSY);
    expect_rc(s.second_wait, 0);
    pc_coro_free(a);
    pc_coro_free(b);
    expect_rc(pc_loop_close(), 0);
    expect_rc(pc_shrlock_free(s.r), 0);
    expect_rc(pc_shevent_free(s.go), 0);
}

/* ---- a holder killed with SIGKILL ---- */

struct kill_scene {
    pc_shared_ref lock; /* a pc_shlock or a pc_shrlock */
    pc_shared_ref ready;
    long data; /* guarded by the lock */
};

static int hold_and_die(void *arg, size_t len) {
    (void)len;
    struct kill_scene *s = deref(*(pc_shared_ref *)arg);
    void *l = s ? deref(s->lock) : NULL;
    if (!l)
        return 90;
    int rc = pc__sh_kind(l) == PC__SH_LOCK ? pc_shlock_acquire(l, 10)
                                           : pc_shrlock_acquire(l, 10) | pc_shrlock_acquire(l, 10);
    if (rc != 0)
        return 91;
    s->data = 1; /* half an update */
    pc_shevent_set(deref(s->ready));
    for (;;)
        pause(); /* killed here, holding the lock */
}

static void kill_holder(pc_start_method m, bool recursive) {
    struct kill_scene *s;
    expect_rc(pc_shared_alloc(sizeof *s, (void **)&s), 0);
    pc_shlock *l = NULL;
    pc_shrlock *r = NULL;
    pc_shevent *ready;
    if (recursive)
        expect_rc(pc_shrlock_new(&r), 0);
    else
        expect_rc(pc_shlock_new(&l), 0);
    expect_rc(pc_shevent_new(&ready), 0);
    s->lock = recursive ? ref_of(r) : ref_of(l);
    s->ready = ref_of(ready);
    pc_shared_ref sr = ref_of(s);
    pc_process *p = start_fn(m, hold_and_die, &sr, sizeof sr, NULL, 0);
    expect_rc(pc_shevent_wait(ready, 30), 0);
    if (recursive) {
        expect_rc(pc_shrlock_acquire(r, 0.05), -ETIMEDOUT); /* alive: it waits */
        expect_rc(pc_process_kill(p), 0);
        expect_rc(pc_shrlock_acquire(r, 10), -EOWNERDEAD);
        cr_assert(pc_shrlock_is_owned(r));
        cr_assert_eq(pc_shrlock_count(r), 1);
        cr_assert_eq(s->data, 1);
        expect_rc(pc_shrlock_release(r), 0);
        expect_rc(pc_shrlock_acquire(r, 0), 0); /* usable again */
        expect_rc(pc_shrlock_release(r), 0);
        expect_rc(pc_shrlock_free(r), 0);
    } else {
        expect_rc(pc_shlock_acquire(l, 0.05), -ETIMEDOUT);
        expect_rc(pc_process_kill(p), 0);
        double t0 = now_s();
        expect_rc(pc_shlock_acquire(l, 10), -EOWNERDEAD);
        cr_assert_lt(now_s() - t0, 5.0);
        cr_assert_eq(s->data, 1);
        expect_rc(pc_shlock_release(l), 0);
        expect_rc(pc_shlock_acquire(l, 0), 0);
        expect_rc(pc_shlock_release(l), 0);
        expect_rc(pc_shlock_free(l), 0);
    }
    cr_assert_eq(join_code(p), -SIGKILL);
    pc_process_free(p);
    expect_rc(pc_shevent_free(ready), 0);
    expect_rc(pc_shared_free(s), 0);
}

PROC_TEST(shared_lock_holder_killed_gives_eownerdead, .timeout = 60) {
    kill_holder(m, false);
}

PROC_TEST(shared_rlock_holder_killed_gives_eownerdead, .timeout = 60) {
    kill_holder(m, true);
}

Test(shared_lock, a_try_takes_over_from_a_dead_holder, .timeout = 60) {
    /* free() of a lock whose holder died is allowed; a try takes it over */
    struct kill_scene *s;
    expect_rc(pc_shared_alloc(sizeof *s, (void **)&s), 0);
    pc_shlock *l;
    pc_shevent *ready;
    expect_rc(pc_shlock_new(&l), 0);
    expect_rc(pc_shevent_new(&ready), 0);
    s->lock = ref_of(l);
    s->ready = ref_of(ready);
    pc_shared_ref sr = ref_of(s);
    pc_process *p = start_fn(PC_START_FORK, hold_and_die, &sr, sizeof sr, NULL, 0);
    expect_rc(pc_shevent_wait(ready, 30), 0);
    expect_rc(pc_shlock_free(l), -EBUSY);
    expect_rc(pc_process_kill(p), 0);
    cr_assert_eq(join_code(p), -SIGKILL);
    expect_rc(pc_shlock_acquire(l, 0), -EOWNERDEAD);
    expect_rc(pc_shlock_release(l), 0);
    pc_process_free(p);
    expect_rc(pc_shlock_free(l), 0);
    expect_rc(pc_shevent_free(ready), 0);
    expect_rc(pc_shared_free(s), 0);
}

/* ---- a coroutine waiting for a shared lock parks only itself ---- */

struct park_scene {
    pc_shlock *l;
    pc_shevent *let_go; /* the holder thread releases on it */
    int ticks, ticks_at_acquire, acquired;
};

static void *holder_thread(void *arg) {
    struct park_scene *s = arg;
    pc_shevent_wait(s->let_go, 30);
    return (void *)(intptr_t)pc_shlock_release(s->l);
}

static int lock_waiter(void *arg, void **value) {
    (void)value;
    struct park_scene *s = arg;
    s->acquired = pc_shlock_acquire(s->l, 30);
    s->ticks_at_acquire = s->ticks;
    return s->acquired == 0 ? pc_shlock_release(s->l) : s->acquired;
}

static int lock_ticker(void *arg, void **value) {
    (void)value;
    struct park_scene *s = arg;
    for (int i = 0; i < 5; i++) {
        s->ticks++;
        pc_coro_sleep(0.01);
    }
    return pc_shevent_set(s->let_go);
}

Test(shared_lock, a_coroutine_waiting_for_the_lock_parks_only_itself, .timeout = 30) {
    struct park_scene s = {0};
    expect_rc(pc_shlock_new(&s.l), 0);
    expect_rc(pc_shevent_new(&s.let_go), 0);
    expect_rc(pc_shlock_acquire(s.l, 0), 0); /* handed to the holder thread */
    pthread_t t = start_pthread(holder_thread, &s);
    pc_coro *w, *k;
    expect_rc(pc_coro_spawn(&w, lock_waiter, &s, NULL), 0);
    expect_rc(pc_coro_spawn(&k, lock_ticker, &s, NULL), 0);
    expect_rc(pc_coro_join(w, 30), 0);
    expect_rc(pc_coro_join(k, 30), 0);
    expect_rc(pc_coro_error(w), 0);
    expect_rc(pc_coro_error(k), 0);
    expect_rc(s.acquired, 0);
    cr_assert_eq(s.ticks_at_acquire, 5);
    void *rc;
    pthread_join(t, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    pc_coro_free(w);
    pc_coro_free(k);
    expect_rc(pc_loop_close(), 0);
    expect_rc(pc_shlock_free(s.l), 0);
    expect_rc(pc_shevent_free(s.let_go), 0);
}

/* ---- signals do not fail a wait ---- */

struct eintr_scene {
    pc_shlock *l;
    double timeout;
    int rc;
    double took;
};

static void *acquire_waiter(void *arg) {
    struct eintr_scene *s = arg;
    double t0 = now_s();
    s->rc = pc_shlock_acquire(s->l, s->timeout);
    s->took = now_s() - t0;
    if (s->rc == 0)
        pc_shlock_release(s->l);
    return NULL;
}

Test(shared_lock, signals_do_not_fail_a_lock_wait, .timeout = 30) {
    install_sigusr1();
    struct eintr_scene s = {.timeout = 20};
    expect_rc(pc_shlock_new(&s.l), 0);
    expect_rc(pc_shlock_acquire(s.l, 0), 0);
    pthread_t t = start_pthread(acquire_waiter, &s);
    wait_lock_waiter(&s.l->mu);
    pester(t, 20);
    expect_rc(pc_shlock_release(s.l), 0);
    pthread_join(t, NULL);
    expect_rc(s.rc, 0);

    s.timeout = 0.3; /* and a timed wait keeps its deadline */
    expect_rc(pc_shlock_acquire(s.l, 0), 0);
    t = start_pthread(acquire_waiter, &s);
    wait_lock_waiter(&s.l->mu);
    pester(t, 20);
    pthread_join(t, NULL);
    expect_rc(s.rc, -ETIMEDOUT);
    cr_assert(s.took >= 0.28 && s.took < 10, "took %.3f s", s.took);
    expect_rc(pc_shlock_release(s.l), 0);
    expect_rc(pc_shlock_free(s.l), 0);
}
