/* The loop's watchdog: pc_loop_set_watchdog and PYCONC_WATCHDOG. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

/* What the reports said; they come from the monitor thread. */
typedef struct reports {
    pthread_mutex_t mu;
    int n;                /* guarded by mu */
    char name[32];        /* guarded by mu: the last one ("" for a callback) */
    double blocked_s;     /* guarded by mu: the last one */
    pc_loop *loop;        /* guarded by mu: the last one */
    bool bad_name;        /* guarded by mu: a name not starting with "w" */
    int retry_rc;         /* guarded by mu: pc_loop_set_watchdog from a report */
    bool try_from_report; /* fixed */
} reports;

#define REPORTS_INIT                                                                               \
    { .mu = PTHREAD_MUTEX_INITIALIZER }

static void record(pc_loop *l, const char *name, double blocked_s, void *arg) {
    reports *r = arg;
    pthread_mutex_lock(&r->mu);
    r->n++;
    snprintf(r->name, sizeof r->name, "%s", name ? name : "");
    r->blocked_s = blocked_s;
    r->loop = l;
    if (name && name[0] != 'w')
        r->bad_name = true;
    if (r->try_from_report)
        r->retry_rc = pc_loop_set_watchdog(l, 1, record, arg);
    pthread_mutex_unlock(&r->mu);
}

static int count(reports *r) {
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void spin(double seconds) {
    double end = pc_now() + seconds;
    while (pc_now() < end)
        ;
}

static int busy(void *arg, void **value) {
    (void)value;
    spin(*(double *)arg);
    return 0;
}

static int run_named(const char *name, pc_coro_fn fn, void *arg) {
    pc_coro *c;
    pc_coro_opts o = {.name = name};
    int r = pc_coro_spawn(&c, fn, arg, &o);
    if (r)
        return r;
    r = pc_loop_run_until(pc_loop_current(), c, 30);
    pc_coro_free(c);
    return r;
}

/* Whether the process has a thread named pyconc-watchdog. */
static bool monitor_exists(void) {
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d)) && !found) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f) && strncmp(comm, "pyconc-watchdog", 15) == 0)
            found = true;
        fclose(f);
    }
    closedir(d);
    return found;
}

Test(loop_watchdog, a_busy_coroutine_is_reported_once, .timeout = 20) {
    reports r = REPORTS_INIT;
    pc_loop *l = pc_loop_current();
    expect_rc(pc_loop_set_watchdog(l, 0.1, record, &r), 0);
    double t = 0.3;
    expect_rc(run_named("spinner", busy, &t), 0);
    cr_assert_eq(count(&r), 1, "%d reports", count(&r));
    cr_assert_str_eq(r.name, "spinner");
    cr_assert_geq(r.blocked_s, 0.1);
    cr_assert_lt(r.blocked_s, 0.3 + 1e-3);
    cr_assert_eq(r.loop, l);
    expect_rc(pc_loop_set_watchdog(l, -1, NULL, NULL), 0);
}

static int yielder(void *arg, void **value) {
    (void)value;
    double end = pc_now() + *(double *)arg;
    while (pc_now() < end)
        pc_coro_yield();
    return 0;
}

Test(loop_watchdog, a_coroutine_that_yields_is_never_reported, .timeout = 20) {
    reports r = REPORTS_INIT;
    pc_loop *l = pc_loop_current();
    /* 0.2 s: a loaded machine may take the thread away for a while (which
     * a watchdog rightly reports); not for that long */
    expect_rc(pc_loop_set_watchdog(l, 0.2, record, &r), 0);
    double t = 0.6;
    expect_rc(run_named("yielder", yielder, &t), 0);
    cr_assert_eq(count(&r), 0);
}

static int sleeper(void *arg, void **value) {
    (void)value;
    return pc_coro_sleep(*(double *)arg);
}

Test(loop_watchdog, a_loop_asleep_in_epoll_is_not_reported, .timeout = 20) {
    reports r = REPORTS_INIT;
    pc_loop *l = pc_loop_current();
    expect_rc(pc_loop_set_watchdog(l, 0.1, record, &r), 0);
    double t = 1.0;
    expect_rc(run_named("sleeper", sleeper, &t), 0);
    cr_assert_eq(count(&r), 0);
    /* nor is a loop outside any run: this thread does its own work */
    spin(0.3);
    cr_assert_eq(count(&r), 0);
}

Test(loop_watchdog, off_by_default, .timeout = 20) {
    double t = 0.2;
    expect_rc(run_named("spinner", busy, &t), 0);
    cr_assert(!monitor_exists(), "a monitor thread runs without a watchdog");
}

Test(loop_watchdog, turning_it_off_stops_reports_and_the_monitor, .timeout = 20) {
    reports r = REPORTS_INIT;
    pc_loop *l = pc_loop_current();
    expect_rc(pc_loop_set_watchdog(l, 0.05, record, &r), 0);
    cr_assert(monitor_exists());
    expect_rc(pc_loop_set_watchdog(l, PC_FOREVER, NULL, NULL), 0);
    expect_rc(pc_loop_set_watchdog(l, -1, NULL, NULL), 0); /* off twice: fine */
    double t = 0.3;
    expect_rc(run_named("spinner", busy, &t), 0);
    cr_assert_eq(count(&r), 0);
    /* no loop watched: the monitor ends within a period */
    double end = pc_now() + 5;
    while (monitor_exists() && pc_now() < end)
        pc_sleep(0.01);
    cr_assert(!monitor_exists(), "the monitor outlived the last watched loop");
}

static void busy_callback(void *arg) {
    spin(*(double *)arg);
}

Test(loop_watchdog, a_busy_callback_is_reported_without_a_name, .timeout = 20) {
    reports r = REPORTS_INIT;
    pc_loop *l = pc_loop_current();
    expect_rc(pc_loop_set_watchdog(l, 0.1, record, &r), 0);
    double t = 0.3;
    expect_rc(pc_loop_call_soon(l, busy_callback, &t), 0);
    expect_rc(pc_loop_run(l), 0);
    cr_assert_eq(count(&r), 1);
    cr_assert_str_eq(r.name, "");
}

Test(loop_watchdog, the_default_report_goes_to_stderr, .timeout = 20) {
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    fflush(stderr);
    int saved = dup(2);
    dup2(p[1], 2);
    pc_loop *l = pc_loop_current();
    int rc = pc_loop_set_watchdog(l, 0, NULL, NULL); /* 0: the default 0.1 s */
    double t = 0.3;
    int rc2 = run_named("spinner", busy, &t);
    pc_loop_set_watchdog(l, -1, NULL, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    expect_rc(rc, 0);
    expect_rc(rc2, 0);
    char buf[512] = "";
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    cr_assert_gt(n, 0, "no report on stderr");
    buf[n] = '\0';
    cr_assert(strstr(buf, "pyconc: loop of thread ") == buf, "%s", buf);
    cr_assert(strstr(buf, " blocked for 0.") && strstr(buf, " s in coroutine 'spinner'\n"), "%s",
              buf);
    cr_assert(!strstr(buf + 1, "pyconc:"), "more than one report: %s", buf);
}

Test(loop_watchdog, misuse, .timeout = 20) {
    pc_loop *l = pc_loop_current();
    expect_rc(pc_loop_set_watchdog(NULL, 0.1, NULL, NULL), -EINVAL);
    expect_rc(pc_loop_set_watchdog(l, NAN, NULL, NULL), -EINVAL);
    /* a report may not turn a watchdog on or off */
    reports r = REPORTS_INIT;
    r.try_from_report = true;
    expect_rc(pc_loop_set_watchdog(l, 0.05, record, &r), 0);
    double t = 0.2;
    expect_rc(run_named("spinner", busy, &t), 0);
    cr_assert_eq(count(&r), 1);
    expect_rc(r.retry_rc, -EDEADLK);
}

static void *set_from_other_thread(void *arg) {
    return (void *)(intptr_t)pc_loop_set_watchdog(arg, 0.1, NULL, NULL);
}

Test(loop_watchdog, other_threads_are_refused, .timeout = 20) {
    pthread_t t = start_pthread(set_from_other_thread, pc_loop_current());
    void *rc;
    pthread_join(t, &rc);
    expect_rc((int)(intptr_t)rc, -EPERM);
}

/* Loops made, watched, blocked and freed (closed, or at their thread's
 * end) while the monitor samples them: no use-after-free (ASan), no race
 * (TSan).  The main thread's loop stays watched, so the monitor runs
 * throughout. */
static void *short_lived_loop(void *arg) {
    reports *r = arg;
    intptr_t ok = 1;
    for (int i = 0; i < 5; i++) {
        pc_loop *l = pc_loop_current();
        ok &= pc_loop_set_watchdog(l, 0.01, record, r) == 0;
        double t = 0.02;
        ok &= run_named("worker", busy, &t) == 0;
        ok &= pc_loop_close() == 0;
    }
    pc_loop *l = pc_loop_current(); /* this one goes at the thread's end */
    ok &= pc_loop_set_watchdog(l, 0.01, record, r) == 0;
    double t = 0.02;
    ok &= run_named("worker", busy, &t) == 0;
    return (void *)ok;
}

Test(loop_watchdog, freeing_watched_loops, .timeout = 30) {
    reports r = REPORTS_INIT;
    expect_rc(pc_loop_set_watchdog(pc_loop_current(), 0.01, record, &r), 0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        t[i] = start_pthread(short_lived_loop, &r);
    for (int i = 0; i < 3; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        cr_assert(ok);
    }
    cr_assert_gt(count(&r), 0, "no busy worker was reported");
    cr_assert(!r.bad_name);
}

/* Many short coroutines end while the monitor reads the current one's
 * name: the name is always whole, never freed memory. */
static int short_spin(void *arg, void **value) {
    (void)arg;
    (void)value;
    spin(0.002);
    return 0;
}

Test(loop_watchdog, names_read_while_coroutines_end, .timeout = 30) {
    reports r = REPORTS_INIT;
    pc_loop *l = pc_loop_current();
    expect_rc(pc_loop_set_watchdog(l, 0.001, record, &r), 0);
    enum { N = 150 };
    pc_coro *c[N];
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        pc_coro_opts o = {.name = name};
        expect_rc(pc_coro_spawn(&c[i], short_spin, NULL, &o), 0);
        pc_coro_free(c[i]); /* the loop's reference is the last */
    }
    expect_rc(pc_loop_run(l), 0);
    cr_assert(!r.bad_name);
    cr_log_info("%d reports", count(&r));
}

Test(loop_watchdog, the_environment_turns_it_on, .timeout = 20) {
    /* read once, at the first loop this process makes */
    cr_assert_eq(setenv("PYCONC_WATCHDOG", "0.1", 1), 0);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    fflush(stderr);
    int saved = dup(2);
    dup2(p[1], 2);
    double t = 0.3;
    int rc = run_named("spinner", busy, &t);
    int off = pc_loop_set_watchdog(pc_loop_current(), -1, NULL, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    expect_rc(rc, 0);
    expect_rc(off, 0);
    char buf[512] = "";
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    cr_assert_gt(n, 0, "PYCONC_WATCHDOG=0.1 gave no report");
    buf[n] = '\0';
    cr_assert(strstr(buf, "in coroutine 'spinner'"), "%s", buf);
}

/* Across fork: off in the child (no monitor there); it can be turned on
 * again. */
static int child_watchdog(pc_loop *l, reports *inherited) {
    if (monitor_exists())
        return 2;
    reports r = REPORTS_INIT;
    double t = 0.3;
    if (run_named("spinner", busy, &t) || count(inherited) != 0)
        return 3;
    if (PC_UNDER_TSAN)
        return 0; /* TSan does not support new threads after such a fork */
    if (pc_loop_set_watchdog(l, 0.1, record, &r) || !monitor_exists())
        return 4;
    if (run_named("spinner", busy, &t) || count(&r) != 1)
        return 5;
    return 0;
}

Test(loop_watchdog, across_fork, .timeout = 20) {
    reports r = REPORTS_INIT;
    pc_loop *l = pc_loop_current();
    expect_rc(pc_loop_set_watchdog(l, 0.1, record, &r), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(child_watchdog(l, &r));
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %#x", status);
    double t = 0.3;
    expect_rc(run_named("spinner", busy, &t), 0);
    cr_assert_eq(count(&r), 1);
}
