/*
 * pc_thread: creating, starting and finishing threads (threading.Thread).
 *
 * Threads are created detached.  A joiner never calls pthread_join: it
 * waits on the record's FINISHED state through the one waiter interface
 * (waiter.h), so a join has a timeout, may be repeated, and a coroutine
 * can later join a thread without blocking its own thread.
 *
 * Start.  pc_thread_start returns only once the new thread has recorded
 * its ident and native id and is RUNNING, as Python's start() waits for
 * its `_started` event, so both ids are valid as soon as start returns.
 * The starter first spins for a short bounded time (a new thread usually
 * begins on another CPU within tens of microseconds, and a futex sleep
 * plus wake-up would cost as much again), then parks on rec->starters.
 * On a single CPU it parks at once: spinning would only delay the thread.
 *
 * Finish.  The thread takes the registry guard, then its record's guard,
 * leaves the registry, publishes FINISHED (release; pairs with the acquire
 * loads in join.c and attr.c) and pops every joiner; it wakes them after
 * dropping both guards and then drops its own reference, which may free
 * the record.  Doing both steps under the registry guard makes them one
 * step for fork (fork.c), whose prepare handler holds that guard.
 *
 * A run() that leaves by pthread_exit (or cancellation) still finishes:
 * the exit hook (current.c) is armed around run() and finishes the record
 * from the thread's key destructor.
 *
 * Rejected: joinable pthreads and pthread_join.  pthread_join has no
 * timeout (pthread_timedjoin_np uses CLOCK_REALTIME and still blocks the
 * thread), may be called only once, and cannot let a coroutine park.
 */
#include <errno.h>
#include <unistd.h>

#include "../internal/alloc.h"
#include "rec.h"

/* How long a starter spins for its thread to come up before it parks. */
#define START_SPIN_NS 30000

static void run_target(pc_thread *t) {
    t->_rec->result = t->_target(t->_arg);
}

int pc_thread_init(pc_thread *t, pc_thread_run_fn run, const pc_thread_opts *opts) {
    if (!t || !run)
        return -EINVAL;
    int rc = pc__opts_check(opts);
    if (rc)
        return rc;
    pc__thread_rec *r = pc__rec_new(PC__K_CLASS, opts);
    if (!r)
        return -ENOMEM;
    r->obj = t;
    t->_run = run;
    t->_target = NULL;
    t->_arg = NULL;
    t->_rec = r;
    return 0;
}

int pc_thread_destroy(pc_thread *t) {
    if (!t || !t->_rec || t->_rec->kind != PC__K_CLASS)
        return -EINVAL;
    int st = atomic_load_explicit(&t->_rec->state, memory_order_acquire);
    if (st == PC__T_STARTING || st == PC__T_RUNNING)
        return -EBUSY;
    pc__thread_rec *r = t->_rec;
    t->_rec = NULL;
    pc__rec_release(r);
    return 0;
}

int pc_thread_new(pc_thread **t, pc_thread_fn target, void *arg, const pc_thread_opts *opts) {
    if (!t || !target)
        return -EINVAL;
    int rc = pc__opts_check(opts);
    if (rc)
        return rc;
    pc__thread_rec *r = pc__rec_new(PC__K_FUNC, opts);
    if (!r)
        return -ENOMEM;
    r->fobj._run = run_target;
    r->fobj._target = target;
    r->fobj._arg = arg;
    *t = &r->fobj;
    return 0;
}

void pc_thread_free(pc_thread *t) {
    if (t && t->_rec && t->_rec->kind == PC__K_FUNC)
        pc__rec_release(t->_rec);
}

/* Pop a whole wait queue, giving each waiter `result`.  Guard held. */
static pc__waiter *take_all(pc__waitq *q, int result) {
    pc__waiter *chain = q->head;
    q->head = q->tail = NULL;
    for (pc__waiter *w = chain; w; w = w->next) {
        w->queued = false;
        w->result = result;
    }
    return chain;
}

void pc__thread_finish(pc__thread_rec *r) {
    pc__tls_self = NULL;
    pc__registry_lock();
    pc__registry_remove(r);
    pc__guard_lock(&r->guard);
    /* relaxed: published by the release store of FINISHED below */
    atomic_store_explicit(&r->native_id, -1, memory_order_relaxed);
    /* release; pairs with the acquire state loads in join.c and attr.c */
    atomic_store_explicit(&r->state, PC__T_FINISHED, memory_order_release);
    pc__waiter *chain = take_all(&r->joiners, 0);
    pc__guard_unlock(&r->guard);
    pc__registry_unlock();
    pc__waiter_wake_chain(chain);
    pc__rec_release(r);
}

static void *thread_entry(void *arg) {
    pc__thread_rec *r = arg;
    pc_thread *t = r->obj;
    pc__tls_self = t;
    /* relaxed: published by the release store of RUNNING below */
    atomic_store_explicit(&r->ident, (unsigned long)pthread_self(), memory_order_relaxed);
    atomic_store_explicit(&r->native_id, (long)gettid(), memory_order_relaxed);
    pc__rec_set_os_name(pthread_self(), r->name);
    pc__exit_hook_arm(r); /* without it (ENOMEM) only pthread_exit is unsafe */

    pc__guard_lock(&r->guard);
    /* release; pairs with the acquire loads in wait_started() and attr.c */
    atomic_store_explicit(&r->state, PC__T_RUNNING, memory_order_release);
    pc__waiter *chain = take_all(&r->starters, 0);
    pc__guard_unlock(&r->guard);
    pc__waiter_wake_chain(chain);

    t->_run(t);
    pc__exit_hook_disarm();
    pc__thread_finish(r);
    return NULL;
}

static bool still_starting(pc__thread_rec *r) {
    /* acquire; pairs with the release store of RUNNING in thread_entry() */
    return atomic_load_explicit(&r->state, memory_order_acquire) == PC__T_STARTING;
}

static void wait_started(pc__thread_rec *r) {
    if (pc__spin_limit() > 0) {
        int64_t until = pc__mono_ns() + START_SPIN_NS;
        for (unsigned i = 1; still_starting(r); i++) {
            pc__cpu_relax();
            if (i % 64 == 0 && pc__mono_ns() >= until)
                break;
        }
    }
    if (!still_starting(r))
        return;
    pc__guard_lock(&r->guard);
    /* relaxed: RUNNING is stored under the guard, whose acquire orders it */
    if (atomic_load_explicit(&r->state, memory_order_relaxed) != PC__T_STARTING) {
        pc__guard_unlock(&r->guard);
        return;
    }
    pc__waiter w;
    pc__waiter_init(&w);
    pc__waitq_push(&r->starters, &w);
    pc__wait(&r->guard, &r->starters, &w, PC__NO_DEADLINE);
}

/* pthread_create failed: back to NEW; anyone who joined meanwhile is told
 * the thread was never started. */
static int start_failed(pc__thread_rec *r, int err) {
    pc__registry_lock();
    pc__registry_remove(r);
    pc__guard_lock(&r->guard);
    /* relaxed: joiners re-read it under this guard; the owner's next start
     * is ordered by its own program order */
    atomic_store_explicit(&r->state, PC__T_NEW, memory_order_relaxed);
    pc__waiter *chain = take_all(&r->joiners, -ESRCH);
    pc__guard_unlock(&r->guard);
    pc__registry_unlock();
    pc__waiter_wake_chain(chain);
    pc__rec_release(r); /* the thread's reference: the owner still holds one */
    return err == EAGAIN || err == ENOMEM ? -EAGAIN : -err;
}

static int create(pc__thread_rec *r) {
    pthread_attr_t attr;
    int err = pthread_attr_init(&attr);
    if (err)
        return err;
    err = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (!err && r->stack_size)
        err = pthread_attr_setstacksize(&attr, r->stack_size);
    pthread_t pt;
    if (!err)
        err = pthread_create(&pt, &attr, thread_entry, r);
    pthread_attr_destroy(&attr);
    return err;
}

int pc_thread_start(pc_thread *t) {
    if (!t || !t->_rec)
        return -EINVAL;
    pc__thread_rec *r = t->_rec;
    if (r->kind != PC__K_CLASS && r->kind != PC__K_FUNC)
        return -EALREADY; /* the main thread and dummies run already */
    pc__thread_module_init();
    int expected = PC__T_NEW;
    /* relaxed: the registry guard below publishes the record */
    if (!atomic_compare_exchange_strong_explicit(&r->state, &expected, PC__T_STARTING,
                                                 memory_order_relaxed, memory_order_relaxed))
        return -EALREADY;
    pc__rec_retain(r); /* the thread's reference */
    pc__registry_lock();
    pc__registry_add(r);
    pc__registry_unlock();
    int err = create(r);
    if (err)
        return start_failed(r, err);
    wait_started(r);
    return 0;
}
