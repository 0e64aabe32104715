/*
 * The watchdog: report a coroutine or callback that keeps its loop from
 * turning (gevent's monitor thread and max_blocking_time).
 *
 * The loop's side costs two plain stores per hand-over (pc__watch_tick in
 * loop-internal.h): a tick counter and the coroutine it hands the thread
 * to.  No clock, no locked instruction.  One monitor thread per process,
 * started on the first pc_loop_set_watchdog and gone when no loop is
 * watched, samples every watched loop a quarter of the smallest threshold
 * apart: a loop that is inside a run, not asleep in epoll, and shows the
 * same tick across samples spanning at least its threshold is blocked; the
 * monitor reports it once for that episode (a new tick starts a new one).
 * A report comes between 1 and 1.25 thresholds into the episode; its
 * blocked_s counts from the first sample that saw the tick, so it never
 * exceeds the true time.
 *
 * The name without a use-after-free.  The monitor reads the current
 * coroutine's name (pc_coro_name: written once) under the watch record's `mu`.  A
 * watched loop, before it drops its reference to a coroutine that ended,
 * clears wd_cur and passes through that lock once (pc__watch_coro_end):
 * if the monitor held it first, the loop waits until the name is copied;
 * if the loop passed first, the monitor finds wd_cur cleared (or naming a
 * later coroutine, protected the same way).  Unwatched loops skip this.
 *
 * Records and loops.  A loop is watched while its record is on wd_head.
 * Only the loop's own thread adds or removes its record (turning the
 * watchdog on or off, closing the loop, its thread's exit), under wd_mu;
 * the monitor holds wd_mu for a whole pass, reports included, so a loop it
 * samples cannot be freed meanwhile and its thread is alive (the thread's
 * exit removes the record first).
 *
 * Lock order (outer to inner):
 *
 *   wd_mu (the registry; the monitor's pass, add/remove)
 *     `-- w->mu (one loop: the name read vs. the coroutine's end)
 *
 * The loop thread takes w->mu alone, never under wd_mu.  The report runs
 * under wd_mu: it must not turn a watchdog on or off (-EDEADLK) nor fork.
 *
 * The monitor is a bare pthread, not a pyconc thread: it is not counted by
 * pc_thread_active_count (so it never holds off LoopExit), and it blocks
 * every signal, so process signals go to the program's own threads.
 * Across fork the child has no monitor: every watch record is dropped, so
 * the watchdog is off in the child until turned on again.
 *
 * Rejected: the loop reading the clock at each hand-over and checking its
 * own lag (asyncio's debug mode, slow_callback_duration): a clock read
 * costs more than a whole coroutine switch on the machines measured here,
 * and it only tells after the block ended, never while a coroutine spins.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal/alloc.h"
#include "loop-internal.h"

#define DEFAULT_THRESHOLD 0.1

struct pc__watch {
    struct pc__watch *next;   /* guarded by wd_mu */
    pc_loop *loop;            /* fixed */
    int64_t threshold_ns;     /* guarded by wd_mu */
    pc_watchdog_fn report;    /* guarded by wd_mu */
    void *arg;                /* guarded by wd_mu */
    unsigned long last_ticks; /* monitor (under wd_mu) */
    int64_t since;            /* monitor: when last_ticks was first seen */
    bool reported;            /* monitor: this episode was reported */
    pthread_mutex_t mu;       /* the name read vs. a coroutine's end */
};

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv;      /* with wd_mu; CLOCK_MONOTONIC */
static struct pc__watch *wd_head; /* guarded by wd_mu */
static bool monitor_up;           /* guarded by wd_mu */
static pthread_t monitor_thread;  /* guarded by wd_mu; valid while monitor_up */
static pthread_once_t wd_once = PTHREAD_ONCE_INIT;
static double env_threshold = -1;      /* written once under wd_once */
static _Thread_local bool tls_monitor; /* this thread is the monitor */

/* ------------------------------------------------------------- monitor */

static void default_report(pc_loop *l, const char *coro_name, double blocked_s, void *arg) {
    (void)arg;
    char thread[32] = "?";
    pthread_getname_np(l->owner, thread, sizeof thread);
    if (coro_name)
        fprintf(stderr, "pyconc: loop of thread %s blocked for %.2f s in coroutine '%s'\n", thread,
                blocked_s, coro_name);
    else
        fprintf(stderr, "pyconc: loop of thread %s blocked for %.2f s in a callback\n", thread,
                blocked_s);
}

/* One loop, one sample (wd_mu held).  `now` is the monitor's clock. */
static void sample(struct pc__watch *w, int64_t now) {
    pc_loop *l = w->loop;
    /* relaxed: hints compared across samples; nothing is read through them */
    unsigned long t = atomic_load_explicit(&l->wd_ticks, memory_order_relaxed);
    bool running = atomic_load_explicit(&l->wd_running, memory_order_relaxed);
    bool asleep = atomic_load(&l->sleeping);
    if (t != w->last_ticks || !running || asleep) {
        w->last_ticks = t;
        w->since = now;
        w->reported = false;
        return;
    }
    if (w->reported || now - w->since < w->threshold_ns)
        return;
    w->reported = true;
    char name[sizeof((pc_coro *)0)->name];
    bool in_coro = false;
    pthread_mutex_lock(&w->mu);
    /* acquire; pairs with the release store in pc__watch_tick(): the name
     * was written before it */
    pc_coro *c = atomic_load_explicit(&l->wd_cur, memory_order_acquire);
    if (c) {
        memcpy(name, pc_coro_name(c), sizeof name);
        name[sizeof name - 1] = '\0';
        in_coro = true;
    }
    pthread_mutex_unlock(&w->mu);
    (w->report ? w->report : default_report)(l, in_coro ? name : NULL,
                                             (double)(now - w->since) / 1e9, w->arg);
}

static void *monitor_main(void *unused) {
    (void)unused;
    tls_monitor = true;
    pthread_mutex_lock(&wd_mu);
    while (wd_head) {
        int64_t now = pc__mono_ns();
        int64_t period = INT64_MAX;
        for (struct pc__watch *w = wd_head; w; w = w->next) {
            sample(w, now);
            if (w->threshold_ns / 4 < period)
                period = w->threshold_ns / 4;
        }
        if (period < 1000000)
            period = 1000000; /* 1 ms: no tighter */
        int64_t wake = pc__mono_ns() + period;
        struct timespec ts = {.tv_sec = wake / 1000000000, .tv_nsec = wake % 1000000000};
        pthread_cond_timedwait(&wd_cv, &wd_mu, &ts);
    }
    monitor_up = false;
    pthread_mutex_unlock(&wd_mu);
    return NULL;
}

/* Start the monitor if it is not running (wd_mu held). */
static int monitor_start(void) {
    if (monitor_up)
        return 0;
    pthread_attr_t attr;
    sigset_t all, old;
    if (pthread_attr_init(&attr))
        return -ENOMEM;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the monitor inherits it */
    int r = pthread_create(&monitor_thread, &attr, monitor_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r)
        return -r;
    /* named from here, so it has its name once a watchdog is on; it cannot
     * have ended: it ends only under wd_mu, with no loop watched */
    pthread_setname_np(monitor_thread, "pyconc-watchdog");
    monitor_up = true;
    return 0;
}

/* ---------------------------------------------------------------- fork */

static void cv_init(void);

static void fork_prepare(void) {
    pthread_mutex_lock(&wd_mu);
}
static void fork_parent(void) {
    pthread_mutex_unlock(&wd_mu);
}
/* No monitor in the child: drop every record (a record's `mu` may have
 * been held by a thread that is gone, so it is never taken again). */
static void fork_child(void) {
    for (struct pc__watch *w = wd_head, *n; w; w = n) {
        n = w->next;
        w->loop->wd = NULL;
        pc__free(w);
    }
    wd_head = NULL;
    monitor_up = false;
    pthread_mutex_init(&wd_mu, NULL);
    cv_init(); /* the monitor may have been waiting on it */
}

static void cv_init(void) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cv, &ca);
    pthread_condattr_destroy(&ca);
}

static void wd_init(void) {
    cv_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    const char *env = getenv("PYCONC_WATCHDOG");
    if (env && *env) {
        char *end;
        double v = strtod(env, &end);
        if (*end == '\0' && v >= 0 && isfinite(v))
            env_threshold = v;
    }
}

/* ------------------------------------------------------------- records */

static void unlink_locked(struct pc__watch *w) {
    for (struct pc__watch **p = &wd_head; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            return;
        }
    }
}

static void watch_off(pc_loop *l) {
    struct pc__watch *w = l->wd;
    if (!w)
        return;
    pthread_mutex_lock(&wd_mu);
    unlink_locked(w);
    pthread_mutex_unlock(&wd_mu);
    /* the monitor's pass held wd_mu: none is reading through w now */
    l->wd = NULL;
    pthread_mutex_destroy(&w->mu);
    pc__free(w);
}

int pc_loop_set_watchdog(pc_loop *l, double threshold, pc_watchdog_fn report, void *arg) {
    if (!l || isnan(threshold))
        return -EINVAL;
    /* The monitor holds wd_mu while it reports: a call from it comes from
     * inside a report, and taking wd_mu again would deadlock. */
    if (tls_monitor)
        return -EDEADLK;
    if (!pc__loop_on_owner(l))
        return -EPERM;
    pthread_once(&wd_once, wd_init);
    if (threshold < 0) {
        watch_off(l);
        return 0;
    }
    if (threshold == 0)
        threshold = DEFAULT_THRESHOLD;
    int64_t ns = threshold > 1e9 ? INT64_MAX / 2 : (int64_t)(threshold * 1e9);
    struct pc__watch *w = l->wd;
    bool fresh = !w;
    if (fresh) {
        w = pc__calloc(1, sizeof *w);
        if (!w)
            return -ENOMEM;
        w->loop = l;
        pthread_mutex_init(&w->mu, NULL);
    }
    pthread_mutex_lock(&wd_mu);
    w->threshold_ns = ns;
    w->report = report;
    w->arg = arg;
    w->since = pc__mono_ns();
    w->reported = false;
    if (fresh) {
        w->next = wd_head;
        wd_head = w;
    }
    int r = monitor_start();
    if (r && fresh)
        unlink_locked(w);
    pthread_cond_signal(&wd_cv); /* a smaller threshold: sample sooner */
    pthread_mutex_unlock(&wd_mu);
    if (r) {
        if (fresh) {
            pthread_mutex_destroy(&w->mu);
            pc__free(w);
        }
        return r;
    }
    l->wd = w;
    return 0;
}

/* ------------------------------------------------------------- the loop */

void pc__watch_coro_end_slow(pc_loop *l) {
    /* relaxed: published to the monitor by the lock pair below */
    atomic_store_explicit(&l->wd_cur, NULL, memory_order_relaxed);
    pthread_mutex_lock(&l->wd->mu);
    pthread_mutex_unlock(&l->wd->mu);
}

void pc__watch_loop_created(pc_loop *l) {
    pthread_once(&wd_once, wd_init);
    if (env_threshold >= 0)
        pc_loop_set_watchdog(l, env_threshold, NULL, NULL); /* best effort */
}

void pc__watch_loop_gone(pc_loop *l) {
    watch_off(l);
}
