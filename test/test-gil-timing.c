/*
 * pc_gil timing: CPU-bound threads switch about every switch interval;
 * a thread coming back from short sleeps gets the GIL back within about
 * one interval, and at the holder's next check under PC_GIL_IO_PRIORITY.
 * The machine is shared and loaded (a preempted holder delays a switch):
 * the tests bound medians, generously; bench/gil measures percentiles.
 */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "gil-helpers.h"

#define MAXSPANS 4096

struct cpu {
    pc_gil *g;
    _Atomic bool *stop;
    double spans[MAXSPANS]; /* how long each turn with the GIL lasted */
    int n, rc;
};

static void *cpu_main(void *arg) {
    struct cpu *c = arg;
    if ((c->rc = pc_gil_acquire(c->g, 30.0)))
        return NULL;
    double start = mono_s(), last = start;
    while (!atomic_load_explicit(c->stop, memory_order_relaxed)) {
        for (volatile int i = 0; i < 200; i++) /* "bytecode" */
            ;
        last = mono_s();
        int r = pc_gil_check(c->g);
        if (r < 0) {
            c->rc = r;
            break;
        }
        if (r && c->n < MAXSPANS) {
            c->spans[c->n++] = last - start;
            start = mono_s();
        }
    }
    pc_gil_release(c->g);
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(double *v, int n, double q) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[(int)(q * (n - 1))];
}

/* One measurement: the median turn of two CPU-bound threads. */
static double median_turn(double interval) {
    pc_gil *g;
    pc_gil_opts o = {.switch_interval = interval};
    expect_rc(pc_gil_new(&g, &o), 0);
    _Atomic bool stop = false;
    static struct cpu c[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        c[i] = (struct cpu){.g = g, .stop = &stop};
        t[i] = start_pthread(cpu_main, &c[i]);
    }
    struct timespec ts = {0, 500000000};
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    static double all[2 * MAXSPANS];
    int n = 0;
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(c[i].rc, 0);
        for (int j = 1; j < c[i].n; j++) /* the first turn began before the other came */
            all[n++] = c[i].spans[j];
    }
    cr_assert_geq(n, 10, "only %d turns", n);
    double med = quantile(all, n, 0.5);
    cr_log_info("%d turns, median %.2f ms", n, med * 1e3);
    expect_rc(pc_gil_free(g), 0);
    return med;
}

/* A timing figure meets its bound in one of three tries: load on the
 * shared machine only ever delays a thread, never speeds the GIL up. */
#define TRIES 3

Test(gil_timing, cpu_bound_threads_switch_every_interval, .timeout = 60) {
    const double interval = 0.01;
    double med = 0;
    for (int i = 0; i < TRIES; i++)
        if ((med = median_turn(interval)) > 0.7 * interval && med < 1.6 * interval)
            break;
    cr_assert(med > 0.7 * interval && med < 1.6 * interval, "median turn %.2f ms, interval %.0f ms",
              med * 1e3, interval * 1e3);
}

struct io {
    pc_gil *g;
    double lat[64];
    int n, rc;
};

/* Sleeps 1 ms 40 times while attached; latency = how late it holds the
 * GIL again after the sleep's end. */
static void *io_main(void *arg) {
    struct io *a = arg;
    if ((a->rc = pc_gil_attach(a->g)) || (a->rc = pc_gil_acquire(a->g, 30.0)))
        return NULL;
    for (a->n = 0; a->n < 40; a->n++) {
        double t0 = mono_s();
        pc_sleep(0.001);
        a->lat[a->n] = mono_s() - t0 - 0.001;
    }
    pc_gil_release(a->g);
    pc_gil_detach(a->g);
    return NULL;
}

static double convoy_median(unsigned flags, double interval) {
    pc_gil *g;
    pc_gil_opts o = {.switch_interval = interval, .flags = flags};
    expect_rc(pc_gil_new(&g, &o), 0);
    _Atomic bool stop = false;
    static struct cpu c;
    c = (struct cpu){.g = g, .stop = &stop};
    pthread_t tc = start_pthread(cpu_main, &c);
    wait_for_waiters(g, 0);
    struct io a = {.g = g};
    pthread_t ti = start_pthread(io_main, &a);
    pthread_join(ti, NULL);
    atomic_store(&stop, true);
    pthread_join(tc, NULL);
    cr_assert_eq(a.rc, 0);
    cr_assert_eq(c.rc, 0);
    double med = quantile(a.lat, a.n, 0.5);
    cr_log_info("flags %u: latency p50 %.3f ms p90 %.3f ms", flags, med * 1e3,
                quantile(a.lat, a.n, 0.9) * 1e3);
    expect_rc(pc_gil_free(g), 0);
    return med;
}

Test(gil_timing, convoy_latency_about_one_interval, .timeout = 60) {
    double interval = 0.005, med = 0;
    for (int i = 0; i < TRIES; i++)
        if ((med = convoy_median(0, interval)) > 0.5 * interval && med < 2.5 * interval)
            break;
    cr_assert(med > 0.5 * interval && med < 2.5 * interval, "median %.2f ms", med * 1e3);
}

Test(gil_timing, convoy_latency_with_io_priority, .timeout = 60) {
    double interval = 0.005, med = 0;
    for (int i = 0; i < TRIES; i++)
        if ((med = convoy_median(PC_GIL_IO_PRIORITY, interval)) < 0.5 * interval)
            break;
    cr_assert(med < 0.5 * interval, "median %.2f ms", med * 1e3);
}

/* The holder drops the GIL at its turn's end by its own clock: a waiter
 * that cannot run (held in a signal handler while it waits) is handed the
 * GIL about one interval after it came.  Were the drop asked by the
 * waiter's timed wake-up, the holder would keep the GIL until the waiter
 * ran again. */
static sem_t in_handler, leave_handler;

static void hold_in_handler(int sig) {
    (void)sig;
    sem_post(&in_handler);
    while (sem_wait(&leave_handler) != 0)
        ;
}

struct stalled {
    pc_gil *g;
    int rc;
};

static void *stalled_waiter_main(void *arg) {
    struct stalled *a = arg;
    if ((a->rc = pc_gil_acquire(a->g, 30.0)))
        return NULL;
    a->rc = pc_gil_release(a->g);
    return NULL;
}

/* Lets the waiter out of its handler once the GIL changed hands, or after
 * `limit` seconds without. */
struct releaser {
    pc_gil *g;
    double limit;
};

static void *releaser_main(void *arg) {
    struct releaser *r = arg;
    double end = mono_s() + r->limit;
    pc_gil_stats st;
    do {
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
        pc_gil_get_stats(r->g, &st);
    } while (st.switches == 0 && mono_s() < end);
    sem_post(&leave_handler);
    return NULL;
}

Test(gil_timing, the_holder_drops_at_its_deadline_without_the_waiter, .timeout = 60) {
    const double interval = 0.02;
    cr_assert_eq(sem_init(&in_handler, 0, 0), 0);
    cr_assert_eq(sem_init(&leave_handler, 0, 0), 0);
    struct sigaction sa = {.sa_handler = hold_in_handler}, old;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGUSR1, &sa, &old), 0);
    pc_gil *g;
    pc_gil_opts o = {.switch_interval = interval};
    expect_rc(pc_gil_new(&g, &o), 0);
    expect_rc(pc_gil_acquire(g, 0), 0);
    struct stalled w = {.g = g};
    pthread_t tw = start_pthread(stalled_waiter_main, &w);
    wait_for_waiters(g, 1);
    double t0 = mono_s(); /* the waiter came before: its deadline is earlier */
    cr_assert_eq(pthread_kill(tw, SIGUSR1), 0);
    while (sem_wait(&in_handler) != 0)
        ;
    struct releaser rl = {.g = g, .limit = 10 * interval};
    pthread_t tr = start_pthread(releaser_main, &rl);
    double last = t0;
    int r = 0;
    while (r == 0) { /* the check that hands over returns once the waiter ran */
        for (volatile int i = 0; i < 200; i++)
            ;
        last = mono_s();
        r = pc_gil_check(g);
    }
    pthread_join(tr, NULL);
    pthread_join(tw, NULL);
    sigaction(SIGUSR1, &old, NULL);
    cr_assert_eq(r, 1);
    cr_assert_eq(w.rc, 0, "%s", pc_strerror(w.rc));
    expect_rc(pc_gil_release(g), 0);
    expect_rc(pc_gil_free(g), 0);
    sem_destroy(&in_handler);
    sem_destroy(&leave_handler);
    double took = last - t0;
    cr_log_info("handed over %.2f ms after the waiter came", took * 1e3);
    /* late only when this thread was preempted: 10 intervals is far */
    cr_assert(took < 5 * interval, "handed over after %.1f ms, interval %.0f ms", took * 1e3,
              interval * 1e3);
}
