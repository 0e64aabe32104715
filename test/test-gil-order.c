/*
 * pc_gil: who gets the GIL next.  FIFO hand-off, forced switching at the
 * holder's check (timer and count based), the prioritized returners of
 * PC_GIL_IO_PRIORITY and the bound on how often they pass a waiter.
 * Each waiter is queued only once the previous one is seen waiting, so
 * the queue order is the order the test chose.
 */
#include "gil-helpers.h"

#define MAXT 8

struct scene {
    pc_gil *g;
    struct grab a[MAXT];
    pthread_t t[MAXT];
    int order[MAXT]; /* guarded by g */
    int n;           /* guarded by g */
    int count;
};

/* Queue one thread with `tag` (prio: through pc_gil_restore) and wait
 * until it waits. */
static void queue_one(struct scene *s, int tag, bool prio) {
    int i = s->count++;
    s->a[i] = (struct grab){.g = s->g, .tag = tag, .prio = prio, .order = s->order, .n = &s->n};
    s->t[i] = start_pthread(grab_main, &s->a[i]);
    wait_for_waiters(s->g, (unsigned)s->count);
}

static void join_all(struct scene *s) {
    for (int i = 0; i < s->count; i++) {
        pthread_join(s->t[i], NULL);
        cr_assert_eq(s->a[i].rc, 0, "thread %d: %s", i, pc_strerror(s->a[i].rc));
    }
}

static void expect_order(struct scene *s, const int *want, int n) {
    char got[64] = "", exp[64] = "";
    for (int i = 0; i < n; i++) {
        snprintf(got + strlen(got), sizeof got - strlen(got), "%d ", s->order[i]);
        snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%d ", want[i]);
    }
    cr_assert_eq(s->n, n, "order: %s", got);
    cr_assert_str_eq(got, exp);
}

static void scene_new(struct scene *s, const pc_gil_opts *o) {
    memset(s, 0, sizeof *s);
    expect_rc(pc_gil_new(&s->g, o), 0);
}

Test(gil_order, waiters_are_served_first_in_first_out, .timeout = 60) {
    struct scene s;
    pc_gil_opts o = {.switch_interval = 100.0};
    scene_new(&s, &o);
    expect_rc(pc_gil_acquire(s.g, 0), 0);
    for (int i = 1; i <= 5; i++)
        queue_one(&s, i, false);
    expect_rc(pc_gil_release(s.g), 0);
    join_all(&s);
    expect_order(&s, (int[]){1, 2, 3, 4, 5}, 5);
    pc_gil_stats st;
    expect_rc(pc_gil_get_stats(s.g, &st), 0);
    cr_assert_eq(st.switches, 5); /* main -> 1 -> 2 -> 3 -> 4 -> 5 */
    cr_assert_eq(st.waits, 5);
    cr_assert_eq(st.forced_switches, 0);
    expect_rc(pc_gil_free(s.g), 0);
}

/* The holder runs "bytecode": checks until the check switched. */
static int checks_until_switch(pc_gil *g, long max, long *calls) {
    for (long i = 1; i <= max; i++) {
        int r = pc_gil_check(g);
        if (r) {
            *calls = i;
            return r;
        }
    }
    *calls = max;
    return 0;
}

Test(gil_order, a_waiter_forces_a_switch_after_the_interval, .timeout = 60) {
    struct scene s;
    pc_gil_opts o = {.switch_interval = 0.02};
    scene_new(&s, &o);
    expect_rc(pc_gil_acquire(s.g, 0), 0);
    double t0 = mono_s();
    queue_one(&s, 1, false);
    long calls;
    /* The check hands the GIL over and returns only once the waiter took
     * it, ran (appended its tag) and gave it back. */
    cr_assert_eq(checks_until_switch(s.g, 1L << 40, &calls), 1);
    double took = mono_s() - t0;
    cr_assert(pc_gil_held(s.g));
    cr_assert_eq(s.n, 1, "the holder came back before the waiter ran");
    cr_assert(took >= 0.015 && took < 10, "switched after %.4f s", took);
    join_all(&s);
    pc_gil_stats st;
    expect_rc(pc_gil_get_stats(s.g, &st), 0);
    cr_assert_eq(st.forced_switches, 1);
    cr_assert_eq(st.switches, 2); /* main -> 1 -> main */
    pc_gil_stats ts;
    expect_rc(pc_gil_thread_stats(&ts), 0);
    cr_assert_eq(ts.forced_switches, 1);
    cr_assert_eq(ts.waits, 1);          /* it waited to take it back */
    cr_assert_eq(pc_gil_check(s.g), 0); /* nobody waits any more */
    expect_rc(pc_gil_release(s.g), 0);
    expect_rc(pc_gil_free(s.g), 0);
}

Test(gil_order, the_dropper_queues_behind_the_others, .timeout = 60) {
    struct scene s;
    pc_gil_opts o = {.switch_interval = 0.005};
    scene_new(&s, &o);
    expect_rc(pc_gil_acquire(s.g, 0), 0);
    for (int i = 1; i <= 3; i++)
        queue_one(&s, i, false);
    long calls;
    cr_assert_eq(checks_until_switch(s.g, 1L << 40, &calls), 1);
    expect_order(&s, (int[]){1, 2, 3}, 3); /* all of them ran before main came back */
    join_all(&s);
    expect_rc(pc_gil_release(s.g), 0);
    expect_rc(pc_gil_free(s.g), 0);
}

Test(gil_order, count_based_interval, .timeout = 60) {
    struct scene s;
    pc_gil_opts o = {.switch_interval = 100.0, .check_interval = 10};
    scene_new(&s, &o);
    expect_rc(pc_gil_acquire(s.g, 0), 0);
    for (int i = 0; i < 1000; i++) /* nobody waits: checks count nothing */
        cr_assert_eq(pc_gil_check(s.g), 0);
    queue_one(&s, 1, false);
    long calls;
    cr_assert_eq(checks_until_switch(s.g, 1000, &calls), 1);
    cr_assert_eq(calls, 10);
    cr_assert_eq(s.n, 1);
    join_all(&s);
    pc_gil_stats st;
    expect_rc(pc_gil_get_stats(s.g, &st), 0);
    cr_assert_eq(st.forced_switches, 1);
    expect_rc(pc_gil_release(s.g), 0);
    expect_rc(pc_gil_free(s.g), 0);
}

Test(gil_order, a_returning_thread_gets_it_at_the_next_check, .timeout = 60) {
    struct scene s;
    pc_gil_opts o = {.switch_interval = 100.0, .flags = PC_GIL_IO_PRIORITY};
    scene_new(&s, &o);
    expect_rc(pc_gil_acquire(s.g, 0), 0);
    queue_one(&s, 1, false);
    queue_one(&s, 2, true); /* comes back from a blocking call */
    long calls;
    /* no interval passes (100 s): the priority request makes the check yield */
    cr_assert_eq(checks_until_switch(s.g, 1L << 40, &calls), 1);
    expect_order(&s, (int[]){2, 1}, 2);
    join_all(&s);
    pc_gil_stats st;
    expect_rc(pc_gil_get_stats(s.g, &st), 0);
    cr_assert_eq(st.priority_handoffs, 1);
    expect_rc(pc_gil_release(s.g), 0);
    expect_rc(pc_gil_free(s.g), 0);
}

Test(gil_order, without_the_option_a_returner_queues_as_anyone, .timeout = 60) {
    struct scene s;
    pc_gil_opts o = {.switch_interval = 100.0};
    scene_new(&s, &o);
    expect_rc(pc_gil_acquire(s.g, 0), 0);
    queue_one(&s, 1, false);
    queue_one(&s, 2, true);
    expect_rc(pc_gil_release(s.g), 0);
    join_all(&s);
    expect_order(&s, (int[]){1, 2}, 2);
    expect_rc(pc_gil_free(s.g), 0);
}

Test(gil_order, prioritized_threads_pass_a_waiter_a_bounded_number_of_times, .timeout = 60) {
    struct scene s;
    pc_gil_opts o = {.switch_interval = 100.0, .flags = PC_GIL_IO_PRIORITY, .max_bypass = 2};
    scene_new(&s, &o);
    expect_rc(pc_gil_acquire(s.g, 0), 0);
    queue_one(&s, 1, false);
    queue_one(&s, 2, false);
    for (int i = 11; i <= 14; i++)
        queue_one(&s, i, true);
    expect_rc(pc_gil_release(s.g), 0);
    join_all(&s);
    /* 1 is passed twice, then served; 2 likewise */
    expect_order(&s, (int[]){11, 12, 1, 13, 14, 2}, 6);
    expect_rc(pc_gil_free(s.g), 0);
}

/* Two threads take turns through checks only; neither starves. */
struct spinner {
    pc_gil *g;
    _Atomic bool *stop;
    long switches;
    int rc;
};

static void *spin_main(void *arg) {
    struct spinner *a = arg;
    if ((a->rc = pc_gil_acquire(a->g, 30.0)))
        return NULL;
    while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
        int r = pc_gil_check(a->g);
        if (r < 0) {
            a->rc = r;
            break;
        }
        a->switches += r;
    }
    int r = pc_gil_release(a->g);
    if (!a->rc)
        a->rc = r;
    return NULL;
}

Test(gil_order, cpu_bound_threads_take_turns, .timeout = 60) {
    pc_gil *g;
    pc_gil_opts o = {.switch_interval = 0.002};
    expect_rc(pc_gil_new(&g, &o), 0);
    _Atomic bool stop = false;
    struct spinner a[3];
    pthread_t t[3];
    expect_rc(pc_gil_acquire(g, 0), 0); /* all three queue before any runs */
    for (int i = 0; i < 3; i++) {
        a[i] = (struct spinner){.g = g, .stop = &stop};
        t[i] = start_pthread(spin_main, &a[i]);
    }
    wait_for_waiters(g, 3);
    expect_rc(pc_gil_release(g), 0);
    struct timespec ts = {0, 500000000};
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(a[i].rc, 0);
        cr_assert_geq(a[i].switches, 3, "thread %d switched %ld times", i, a[i].switches);
    }
    pc_gil_stats st;
    expect_rc(pc_gil_get_stats(g, &st), 0);
    cr_assert_geq(st.forced_switches, 9);
    expect_rc(pc_gil_free(g), 0);
}
