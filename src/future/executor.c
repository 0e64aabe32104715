/*
 * The default executor: asyncio's loop.run_in_executor(None, ...), the
 * pool of threads that runs work which cannot be made non-blocking (file
 * IO, getaddrinfo) on behalf of coroutines.
 *
 * One pool per process, made on the first submission: up to
 * min(32, cpus + 4) pyconc threads (ThreadPoolExecutor's default), daemon
 * (pc_thread_shutdown does not wait for them; exit() ends them), started
 * on demand and kept once idle, fed through a pc_queue of futures.  A
 * future carries its task (task_fn, task_arg) itself, so a submission
 * allocates the future and the queue's node, nothing else.
 *
 * Counting, under `ex_guard` (counters of the current pool; an old pool
 * shut down with its threads still draining is counted by its own fields
 * under the same guard):
 *   alive   - threads started (or being started) and not yet ending;
 *   waiting - threads between asking the queue for work and getting it;
 *   queued  - futures submitted and not yet taken from the queue.
 * A submission counts itself in `queued` before it puts, and a thread
 * leaves `waiting` and takes its future off `queued` in one step after
 * its get returned; so `waiting - queued` (when positive) is at every
 * moment the number of threads with no work ahead of them: idle.  A
 * submission starts a thread when no idle one is left and the pool is not
 * full (Python's _adjust_thread_count with its idle semaphore).
 *
 * LoopExit.  A loop whose coroutines all wait, with no timer and no fd,
 * asks whether another pyconc thread could still wake them
 * (pc__wakers_count, loop.c).  An idle executor thread cannot: it only
 * ever runs work that someone submits later, and that someone is alive
 * (counted) until it does.  A busy one can: completing its future wakes
 * whoever waits.  So the count is pc_thread_active_count() less the idle
 * threads, both read under ex_guard.  For the answer to be exact when a
 * worker finishes, the worker settles its future (which wakes the
 * waiting coroutine: the loop's `incoming` stack) and counts itself
 * waiting again in one critical section of ex_guard: the loop sees
 * either a busy worker, or an idle one and the woken coroutine (the loop
 * looks at its incoming work once more after asking).  A future with done
 * callbacks is settled the same way, but the worker counts itself idle
 * only after the callbacks ran (a callback may wake someone).
 *
 * Not handled: a loop that went to sleep because an executor thread was
 * busy (and so could wake it) is not woken when that thread becomes idle
 * without waking it; it then sleeps on instead of reporting LoopExit, as
 * it does when any other pyconc thread ends.
 *
 * Shutdown: the pool is detached (the next submission makes a new one)
 * and its queue shut down; the threads drain it and end; the last one
 * sets `ended`, which pc_executor_shutdown waits for.  The pool is freed
 * when the last of the detacher and its threads lets go (`refs`).
 *
 * Fork: the child has none of the threads.  Its atfork handler forgets
 * the pool (keeping it reachable, so leak checkers stay quiet: its queue
 * may have been in use by another thread at the fork, so it is never
 * touched again) and resets the guard; the next submission in the child
 * makes a fresh pool.  Futures queued before the fork never complete in
 * the child.
 *
 * Rejected: a pool that keeps its workers out of pc_thread_active_count.
 * threading.active_count() counts ThreadPoolExecutor's threads; the
 * executor is what should know when they cannot wake anyone.
 *
 * Lock order: ex_guard -> a future's guard (settle) -> a watch set's guard;
 * ex_guard -> the thread registry's guard (pc_thread_active_count).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "future-internal.h"
#include "pyconc/loop.h"
#include "pyconc/queue.h"
#include "pyconc/sync.h"
#include "pyconc/thread.h"

typedef struct pool {
    _Atomic long refs;     /* the global pointer's, each thread's, each submitter's */
    pc_queue *q;           /* fixed */
    pc_event *ended;       /* fixed: set once detached and no thread is left */
    int max;               /* fixed */
    int alive;             /* guarded by ex_guard */
    int waiting;           /* guarded by ex_guard */
    long queued;           /* guarded by ex_guard */
    bool detached;         /* guarded by ex_guard */
    unsigned long started; /* guarded by ex_guard: names the threads */
} pool;

static pc__guard ex_guard;
static pool *current;     /* guarded by ex_guard */
static pool *forked_away; /* the parent's pool, in a fork child (never touched) */
static _Atomic bool used; /* set once a pool was made; read by pc__wakers_count */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_child(void) {
    /* relaxed throughout: the child has one thread */
    if (current)
        forked_away = current;
    current = NULL;
    atomic_store_explicit(&ex_guard, 0, memory_order_relaxed);
}

static void install_atfork(void) {
    pthread_atfork(NULL, NULL, fork_child);
}

static int pool_max(void) {
    cpu_set_t set;
    int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    if (n <= 0)
        n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        n = 1;
    return n + 4 < 32 ? n + 4 : 32;
}

static void pool_release(pool *p) {
    /* acq_rel: the last one sees the others' last writes */
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1) {
        pc_queue_free(p->q);
        pc_event_free(p->ended);
        pc__free(p);
    }
}

/* The current pool, made if need be: ex_guard held. */
static pool *pool_get(void) {
    if (current)
        return current;
    pool *p = pc__calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (pc_queue_new(&p->q, &(pc_queue_opts){.kind = PC_QUEUE_SIMPLE}) || pc_event_new(&p->ended)) {
        pc_queue_free(p->q);
        pc__free(p);
        return NULL;
    }
    atomic_init(&p->refs, 1);
    p->max = pool_max();
    pthread_once(&atfork_once, install_atfork);
    atomic_store(&used, true);
    current = p;
    return p;
}

/* A thread ends (or was never started): ex_guard held.  True when the
 * caller must set p->ended (after dropping the guard). */
static bool thread_gone(pool *p) {
    p->alive--;
    return p->alive == 0 && p->detached;
}

static void run_task(pool *p, pc_future *f) {
    void *value = NULL;
    int rc = f->task_fn(f->task_arg, &value);
    pc__outcome o = {.state = PC_FUTURE_FINISHED};
    if (rc == 0) {
        o.kind = PC__FK_VALUE;
        o.value = value;
    } else {
        o.error = rc < 0 ? rc : -EINVAL; /* a positive code is not one: say so */
    }
    pc__fcb *cbs = NULL;
    pc__guard_lock(&ex_guard);
    pc__future_settle(f, &o, &cbs); /* it was RUNNING: it cannot fail */
    if (!cbs)
        p->waiting++;
    pc__guard_unlock(&ex_guard);
    if (cbs) {
        pc__future_run_callbacks(f, cbs);
        pc__guard_lock(&ex_guard);
        p->waiting++;
        pc__guard_unlock(&ex_guard);
    }
}

static void *worker(void *arg) {
    pool *p = arg;
    pc__guard_lock(&ex_guard);
    p->waiting++;
    pc__guard_unlock(&ex_guard);
    for (;;) {
        void *item;
        int r = pc_queue_get(p->q, &item, PC_FOREVER);
        pc__guard_lock(&ex_guard);
        p->waiting--;
        if (r) { /* -EPIPE: shut down and drained */
            bool last = thread_gone(p);
            pc__guard_unlock(&ex_guard);
            if (last)
                pc_event_set(p->ended);
            pool_release(p);
            return NULL;
        }
        p->queued--;
        pc__guard_unlock(&ex_guard);
        pc_future *f = item;
        if (pc_future_set_running(f) == 0) {
            run_task(p, f);
        } else { /* cancelled while queued: nothing to run */
            pc__guard_lock(&ex_guard);
            p->waiting++;
            pc__guard_unlock(&ex_guard);
        }
        pc_future_release(f); /* the queue's reference */
    }
}

static int start_thread(pool *p, unsigned long nr) {
    char name[32];
    snprintf(name, sizeof name, "pc-executor-%lu", nr);
    pc_thread *t;
    int r = pc_thread_new(&t, worker, p, &(pc_thread_opts){.name = name, .daemon = true});
    if (r)
        return r;
    /* relaxed: made from the submitter's reference; the thread gets it
     * through pc_thread_start, which orders everything before it */
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    r = pc_thread_start(t);
    if (r) /* relaxed: the submitter still holds one, so this is not the last */
        atomic_fetch_sub_explicit(&p->refs, 1, memory_order_relaxed);
    pc_thread_free(t); /* the thread runs on; nobody joins it */
    return r;
}

int pc__executor_submit(pc_coro_fn fn, void *arg, pc_future **out) {
    if (!fn || !out)
        return -EINVAL;
    pc_future *f;
    int r = pc_future_new(&f);
    if (r)
        return r;
    f->task_fn = fn;
    f->task_arg = arg;
    pc__guard_lock(&ex_guard);
    pool *p = pool_get();
    if (!p) {
        pc__guard_unlock(&ex_guard);
        pc_future_release(f);
        return -ENOMEM;
    }
    /* relaxed: made under ex_guard from the global pointer's reference */
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    p->queued++;
    bool start = p->queued > p->waiting && p->alive < p->max;
    unsigned long nr = 0;
    if (start) {
        p->alive++;
        nr = ++p->started;
    }
    pc__guard_unlock(&ex_guard);
    if (start && (r = start_thread(p, nr)) != 0) {
        pc__guard_lock(&ex_guard);
        bool last = thread_gone(p);
        bool none = p->alive == 0;
        if (none)
            p->queued--;
        pc__guard_unlock(&ex_guard);
        if (last)
            pc_event_set(p->ended);
        if (none) {
            pool_release(p);
            pc_future_release(f);
            return r;
        }
        /* other threads will take it */
    }
    pc_future_retain(f); /* the queue's */
    r = pc_queue_put(p->q, f, PC_FOREVER);
    if (r) { /* -EPIPE (shut down meanwhile), -ENOMEM */
        pc__guard_lock(&ex_guard);
        p->queued--;
        pc__guard_unlock(&ex_guard);
        pc_future_release(f);
        pc_future_release(f);
        pool_release(p);
        return r;
    }
    pool_release(p);
    *out = f;
    return 0;
}

int pc_loop_run_in_executor(pc_loop *l, pc_coro_fn fn, void *arg, pc_future **out) {
    (void)l; /* one executor per process: any loop's coroutines may wait on it */
    return pc__executor_submit(fn, arg, out);
}

int pc_executor_shutdown(double timeout) {
    int64_t deadline;
    if (pc__deadline(timeout, &deadline))
        return -EINVAL;
    pc__guard_lock(&ex_guard);
    pool *p = current;
    current = NULL;
    bool none = false;
    if (p) {
        p->detached = true;
        none = p->alive == 0;
    }
    pc__guard_unlock(&ex_guard);
    if (!p)
        return 0;
    pc_queue_shutdown(p->q, false);
    if (none)
        pc_event_set(p->ended);
    int r = timeout == 0 ? 0 : pc_event_wait(p->ended, pc__remaining(deadline));
    pool_release(p);
    return r;
}

int pc__wakers_count(void) {
    if (!atomic_load(&used))
        return pc_thread_active_count();
    pc__guard_lock(&ex_guard);
    int n = pc_thread_active_count();
    if (current && current->waiting > current->queued)
        n -= current->waiting - (int)current->queued;
    pc__guard_unlock(&ex_guard);
    return n;
}
