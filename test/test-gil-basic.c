/*
 * pc_gil: making and freeing, taking and giving back, misuse, timeouts,
 * statistics, attaching, fork.
 */
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gil-helpers.h"

Test(gil_basic, new_free_and_options) {
    pc_gil *g;
    expect_rc(pc_gil_new(&g, NULL), 0);
    cr_assert(fabs(pc_gil_switch_interval(g) - 0.005) < 1e-9);
    expect_rc(pc_gil_set_switch_interval(g, 0.02), 0);
    cr_assert(fabs(pc_gil_switch_interval(g) - 0.02) < 1e-9);
    expect_rc(pc_gil_set_switch_interval(g, 0), -EINVAL);
    expect_rc(pc_gil_set_switch_interval(g, -1), -EINVAL);
    expect_rc(pc_gil_set_switch_interval(g, 0.0 / 0.0), -EINVAL);
    expect_rc(pc_gil_set_switch_interval(NULL, 1), -EINVAL);
    cr_assert_eq(pc_gil_switch_interval(NULL), -1);
    expect_rc(pc_gil_free(g), 0);
    expect_rc(pc_gil_free(NULL), 0);

    pc_gil_opts o = {.switch_interval = 0.001, .check_interval = 100};
    expect_rc(pc_gil_new(&g, &o), 0);
    cr_assert(fabs(pc_gil_switch_interval(g) - 0.001) < 1e-9);
    expect_rc(pc_gil_free(g), 0);

    pc_gil_opts bad[] = {{.switch_interval = -1},
                         {.switch_interval = 0.0 / 0.0},
                         {.check_interval = -1},
                         {.flags = 0x80}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_rc(pc_gil_new(&g, &bad[i]), -EINVAL);
    expect_rc(pc_gil_new(NULL, NULL), -EINVAL);
}

Test(gil_basic, acquire_release_held) {
    pc_gil *g;
    expect_rc(pc_gil_new(&g, NULL), 0);
    cr_assert(!pc_gil_held(g));
    expect_rc(pc_gil_acquire(g, PC_FOREVER), 0);
    cr_assert(pc_gil_held(g));
    cr_assert_eq(pc_gil_check(g), 0); /* nobody waits */
    expect_rc(pc_gil_yield(g), 0);    /* nobody to yield to: kept */
    cr_assert(pc_gil_held(g));
    expect_rc(pc_gil_free(g), -EBUSY);
    expect_rc(pc_gil_release(g), 0);
    cr_assert(!pc_gil_held(g));
    expect_rc(pc_gil_acquire(g, 0), 0);
    expect_rc(pc_gil_release(g), 0);
    pc_gil_stats st;
    expect_rc(pc_gil_get_stats(g, &st), 0);
    cr_assert_eq(st.acquisitions, 2);
    cr_assert_eq(st.waits, 0);
    cr_assert_eq(st.switches, 0);
    cr_assert_eq(st.waiting, 0);
    expect_rc(pc_gil_free(g), 0);
}

Test(gil_basic, misuse_gets_distinct_errors) {
    pc_gil *g;
    expect_rc(pc_gil_new(&g, NULL), 0);
    expect_rc(pc_gil_release(g), -EPERM); /* not held */
    expect_rc(pc_gil_yield(g), -EPERM);
    expect_rc(pc_gil_acquire(g, PC_FOREVER), 0);
    expect_rc(pc_gil_acquire(g, PC_FOREVER), -EDEADLK); /* twice */
    expect_rc(pc_gil_acquire(g, 0), -EDEADLK);
    cr_assert(pc_gil_held(g)); /* the failed calls changed nothing */
    expect_rc(pc_gil_release(g), 0);
    expect_rc(pc_gil_release(g), -EPERM); /* twice */
    expect_rc(pc_gil_acquire(NULL, 1), -EINVAL);
    expect_rc(pc_gil_acquire(g, 0.0 / 0.0), -EINVAL);
    expect_rc(pc_gil_release(NULL), -EINVAL);
    expect_rc(pc_gil_yield(NULL), -EINVAL);
    expect_rc(pc_gil_get_stats(NULL, NULL), -EINVAL);
    expect_rc(pc_gil_thread_stats(NULL), -EINVAL);
    cr_assert(!pc_gil_held(NULL));
    expect_rc(pc_gil_free(g), 0);
}

/* Another thread holds the GIL until told. */
struct holder {
    pc_gil *g;
    pc_event *holding, *drop;
    int rc_release;
};

static void *holder_main(void *arg) {
    struct holder *h = arg;
    if (pc_gil_acquire(h->g, 5.0))
        return NULL;
    pc_event_set(h->holding);
    pc_event_wait(h->drop, 30.0);
    h->rc_release = pc_gil_release(h->g);
    return NULL;
}

static pthread_t start_holder(struct holder *h, pc_gil *g) {
    h->g = g;
    h->rc_release = 1;
    expect_rc(pc_event_new(&h->holding), 0);
    expect_rc(pc_event_new(&h->drop), 0);
    pthread_t t = start_pthread(holder_main, h);
    expect_rc(pc_event_wait(h->holding, 10.0), 0);
    return t;
}

static void stop_holder(struct holder *h, pthread_t t) {
    pc_event_set(h->drop);
    pthread_join(t, NULL);
    cr_assert_eq(h->rc_release, 0);
    pc_event_free(h->holding);
    pc_event_free(h->drop);
}

Test(gil_basic, releasing_anothers_gil_is_eperm, .timeout = 30) {
    pc_gil *g;
    expect_rc(pc_gil_new(&g, NULL), 0);
    struct holder h;
    pthread_t t = start_holder(&h, g);
    expect_rc(pc_gil_release(g), -EPERM);
    expect_rc(pc_gil_yield(g), -EPERM);
    cr_assert(!pc_gil_held(g));
    expect_rc(pc_gil_free(g), -EBUSY);
    stop_holder(&h, t);
    expect_rc(pc_gil_free(g), 0);
}

/* A thread that does not hold the GIL and checks while another waits:
 * nothing happens until the check reaches its slow path (a clock read or
 * a drop due), which says -EPERM; the holder keeps the GIL. */
struct grabber {
    pc_gil *g;
    int rc;
};

static void *grabber_main(void *arg) {
    struct grabber *a = arg;
    if ((a->rc = pc_gil_acquire(a->g, 30.0)) == 0)
        a->rc = pc_gil_release(a->g);
    return NULL;
}

Test(gil_basic, checking_anothers_gil_is_eperm_once_due, .timeout = 30) {
    pc_gil *g;
    pc_gil_opts o = {.switch_interval = 100.0};
    expect_rc(pc_gil_new(&g, &o), 0);
    struct holder h;
    pthread_t t = start_holder(&h, g);
    struct grabber w = {.g = g};
    pthread_t tw = start_pthread(grabber_main, &w);
    wait_for_waiters(g, 1);
    int rc = 0;
    for (long i = 0; i < 100000000 && rc == 0; i++)
        rc = pc_gil_check(g);
    expect_rc(rc, -EPERM);
    cr_assert(!pc_gil_held(g));
    pc_gil_stats st;
    expect_rc(pc_gil_get_stats(g, &st), 0);
    cr_assert_eq(st.switches, 0);
    cr_assert_eq(st.waiting, 1);
    stop_holder(&h, t); /* the waiter gets it at the release */
    pthread_join(tw, NULL);
    expect_rc(w.rc, 0);
    expect_rc(pc_gil_free(g), 0);
}

Test(gil_basic, nonblocking_and_timed_acquire, .timeout = 30) {
    pc_gil *g;
    expect_rc(pc_gil_new(&g, NULL), 0);
    struct holder h;
    pthread_t t = start_holder(&h, g);
    expect_rc(pc_gil_acquire(g, 0), -EAGAIN);
    double t0 = mono_s();
    expect_rc(pc_gil_acquire(g, 0.1), -ETIMEDOUT);
    double took = mono_s() - t0;
    cr_assert(took >= 0.095 && took < 5.0, "took %.3f s", took);
    pc_gil_stats st;
    expect_rc(pc_gil_get_stats(g, &st), 0);
    cr_assert_eq(st.waiting, 0); /* the timed-out waiter left the queue */
    stop_holder(&h, t);          /* its release finds nobody waiting */
    expect_rc(pc_gil_acquire(g, 0), 0);
    expect_rc(pc_gil_release(g), 0);
    expect_rc(pc_gil_free(g), 0);
}

Test(gil_basic, a_waiter_gets_it_on_release_and_stats_count, .timeout = 30) {
    pc_gil *g;
    expect_rc(pc_gil_new(&g, NULL), 0);
    expect_rc(pc_gil_set_switch_interval(g, 100.0), 0); /* no drop request here */
    struct holder h;
    pthread_t t = start_holder(&h, g);
    pc_event_set(h.drop); /* it drops as soon as it is told; we may wait first */
    expect_rc(pc_gil_acquire(g, 10.0), 0);
    pthread_join(t, NULL);
    cr_assert_eq(h.rc_release, 0);
    expect_rc(pc_gil_release(g), 0);
    pc_gil_stats st, ts;
    expect_rc(pc_gil_get_stats(g, &st), 0);
    cr_assert_eq(st.acquisitions, 2);
    cr_assert_eq(st.forced_switches, 0);
    cr_assert_leq(st.waits, 1);
    cr_assert_eq(st.switches, st.waits); /* a waiter is handed the GIL */
    cr_assert_geq(st.wait_total, st.wait_max);
    expect_rc(pc_gil_thread_stats(&ts), 0);
    cr_assert_eq(ts.acquisitions, 1);
    cr_assert_eq(ts.waits, st.waits);
    pc_event_free(h.holding);
    pc_event_free(h.drop);
    expect_rc(pc_gil_free(g), 0);
}

static void *attach_and_exit(void *arg) {
    return (void *)(intptr_t)pc_gil_attach(arg);
}

Test(gil_basic, attach_detach) {
    pc_gil *g, *g2;
    expect_rc(pc_gil_new(&g, NULL), 0);
    expect_rc(pc_gil_new(&g2, NULL), 0);
    cr_assert_null(pc_gil_attached());
    cr_assert_null(pc_gil_save()); /* not attached: nothing to save */
    expect_rc(pc_gil_restore(NULL), 0);
    expect_rc(pc_gil_detach(g), -EPERM);
    expect_rc(pc_gil_attach(g), 0);
    expect_rc(pc_gil_attach(g), 0);
    cr_assert_eq(pc_gil_attached(), g);
    expect_rc(pc_gil_attach(g2), -EBUSY);
    expect_rc(pc_gil_detach(g2), -EPERM);
    expect_rc(pc_gil_free(g), -EBUSY); /* a thread is attached */
    cr_assert_null(pc_gil_save());     /* attached, not held */
    expect_rc(pc_gil_acquire(g, 0), 0);
    cr_assert_eq(pc_gil_save(), g);
    cr_assert(!pc_gil_held(g));
    cr_assert_null(pc_gil_save()); /* nested: already released */
    expect_rc(pc_gil_restore(g), 0);
    cr_assert(pc_gil_held(g));
    expect_rc(pc_gil_release(g), 0);
    pc_gil_stats st;
    expect_rc(pc_gil_get_stats(g, &st), 0);
    cr_assert_eq(st.blocking_releases, 1);
    expect_rc(pc_gil_detach(g), 0);
    cr_assert_null(pc_gil_attached());
    expect_rc(pc_gil_free(g), 0);

    /* A thread that ends attached no longer counts. */
    pthread_t t = start_pthread(attach_and_exit, g2);
    void *rc;
    pthread_join(t, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    expect_rc(pc_gil_free(g2), 0);
}

Test(gil_basic, unattached_blocking_keeps_the_gil, .timeout = 30) {
    pc_gil *g;
    expect_rc(pc_gil_new(&g, NULL), 0);
    struct holder h;
    pthread_t t = start_holder(&h, g); /* not attached: waits on h.drop holding g */
    expect_rc(pc_gil_acquire(g, 0.05), -ETIMEDOUT);
    stop_holder(&h, t);
    expect_rc(pc_gil_free(g), 0);
}

Test(gil_basic, after_fork_in_the_child, .timeout = 30) {
    pc_gil *g, *g2;
    expect_rc(pc_gil_new(&g, NULL), 0);
    expect_rc(pc_gil_new(&g2, NULL), 0);
    struct holder h;
    pthread_t t = start_holder(&h, g2); /* held by a thread the child lacks */
    expect_rc(pc_gil_acquire(g, 0), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int bad = pc_gil_after_fork(g) | pc_gil_after_fork(g2);
        bad |= (!pc_gil_held(g)) | pc_gil_release(g);      /* the forker's: kept */
        bad |= pc_gil_acquire(g2, 0) | pc_gil_release(g2); /* the other's: free */
        _exit(bad ? 1 : 0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %#x", status);
    expect_rc(pc_gil_after_fork(NULL), -EINVAL);
    expect_rc(pc_gil_release(g), 0);
    stop_holder(&h, t);
    expect_rc(pc_gil_free(g), 0);
    expect_rc(pc_gil_free(g2), 0);
}
