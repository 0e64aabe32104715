/*
 * pc_queue: the queue module's API, blocking and bookkeeping, over one of
 * the storages of queue-internal.h.
 *
 * Blocking.  A getter that finds the storage empty (after a short bounded
 * spin, in threads only) takes the guard, queues a waiter on `getters`,
 * bumps `getters_waiting`, issues a seq_cst fence and tries the storage
 * once more, still under the guard, before it parks.  A putter, after
 * storing an item, issues a seq_cst fence and reads `getters_waiting`;
 * only when it is nonzero does it take the guard and wake one getter.  The
 * two fences (wake_one() and block_on()) form a Dekker pair: either the
 * getter's re-check sees the item, or the putter sees the getter
 * registered.  So the common case costs the putter one fence and one load,
 * and no lock.  Putters waiting for room in a bounded queue mirror this
 * with `putters`.  The attempts under the guard touch only the storage;
 * the wake-ups they owe the other side wait until the guard is dropped.
 *
 * A woken getter is not handed an item; it retries at once, unregistered,
 * and may lose the item to a getter that never slept (that one took it:
 * nothing is lost) and register and park again.  Every successful put
 * wakes at most one getter.  A waiter whose re-check settles its call
 * withdraws before it drops the guard, so no waker ever spends a wake-up
 * on a queued waiter that does not need it.  Rejected: re-checking
 * outside the guard; it saves a lock hold, but a waker can then dequeue a
 * waiter whose re-check settled its call, which must pass the wake-up on.

 * Bounding.  A ring is bounded by itself.  The other storages are
 * unbounded; `admitted` (a CAS loop that never exceeds maxsize) bounds
 * them, released by each get.
 *
 * task_done/join.  Unfinished tasks = the storage's count of puts minus
 * `done`.  task_done CASes `done` forward, refusing to pass the puts; when
 * it catches up it wakes the joiners (the same fence/counter pairing with
 * `joiners_waiting`).  Keeping two monotonic counters instead of one
 * up-and-down "unfinished" counter lets a put touch nothing shared with
 * task_done.  Whoever compares them reads `done` first (acquire), then
 * the puts: each task counted in `done` followed its item's put, so that
 * read of the puts covers it (the other order let other workers' tasks
 * slip in between and made a valid task_done fail).
 *
 * Shutdown.  The storage's close() decides which puts get in (see
 * queue-internal.h): a put either claimed its place before it, and then
 * getters (or an immediate shutdown's drain) take its item, or it fails
 * with -EPIPE.  A getter hears "shut down and drained" from the storage,
 * in one look.  The `shut` flag only spares a put the storage's work.
 * Rejected: deciding both from the flag, as a put that checked it and then
 * stored, and a get that found the storage empty and then read it: a put
 * could check, a shutdown and a get slip in, then the put land and report
 * success with its item behind every drainer (test-queue-shutdown.c).
 *
 * Lock order: q->guard, then (inside the lifo/priority storages) their own
 * guard; the storages never call back into queue.c.
 *
 * Rejected: one mutex and two condition variables, as Python's queue.py
 * and GLib's GAsyncQueue do.  Simple, but every put and get then moves
 * the mutex between CPUs; see ring.c.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>

#include "../internal/alloc.h"
#include "queue-internal.h"

struct pc_queue {
    const pc__queue_ops *ops;    /* immutable */
    void *store;                 /* immutable */
    pc_queue_kind kind;          /* immutable */
    long maxsize;                /* immutable: 0 for unbounded */
    bool admit;                  /* immutable: bounded by `admitted` */
    pc_queue_discard_fn discard; /* immutable */
    void *discard_arg;           /* immutable */

    /* Read by every put/get, written only by sleepers: a read-mostly line. */
    alignas(64) _Atomic uint32_t getters_waiting; /* hint: >= queued getters */
    _Atomic uint32_t putters_waiting;             /* hint: >= queued putters */
    _Atomic uint32_t joiners_waiting;             /* hint: >= queued joiners */
    _Atomic uint32_t shut; /* OPEN, SHUT or SHUT_IMMEDIATE: a shortcut; close() decides */

    alignas(64) pc__guard guard;
    pc__waitq getters, putters, joiners; /* guarded by guard */

    alignas(64) _Atomic long admitted;      /* items admitted (admit only) */
    alignas(64) _Atomic unsigned long done; /* task_done calls counted */
};

enum { OPEN = 0, SHUT = 1, SHUT_IMMEDIATE = 2 };

void (*pc__queue_register_hook)(void);

/* ---------------------------------------------------------------- waking */

/* `waiting` counters change only under q->guard, so a plain load and
 * store do (no locked instruction); wakers outside the guard only read. */
static inline void count_waiting(_Atomic uint32_t *waiting, int delta) {
    uint32_t n = atomic_load_explicit(waiting, memory_order_relaxed);
    atomic_store_explicit(waiting, n + (uint32_t)delta, memory_order_relaxed);
}

/* Wake one waiter of wq if the hint says there may be one.  The fence
 * pairs with the one in block_on(). */
static void wake_one(pc_queue *q, pc__waitq *wq, _Atomic uint32_t *waiting) {
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(waiting, memory_order_relaxed) == 0)
        return;
    pc__guard_lock(&q->guard);
    pc__waiter *w = pc__waitq_pop(wq);
    if (w)
        count_waiting(waiting, -1);
    pc__guard_unlock(&q->guard);
    if (w)
        pc__waiter_wake(w);
}

static void wake_all(pc_queue *q, pc__waitq *wq, _Atomic uint32_t *waiting) {
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(waiting, memory_order_relaxed) == 0)
        return;
    pc__guard_lock(&q->guard);
    unsigned n;
    pc__waiter *chain = pc__waitq_take_all(wq, 0, &n);
    count_waiting(waiting, -(int)n);
    pc__guard_unlock(&q->guard);
    pc__waiter_wake_chain(chain);
}

/* What an attempt owes the other side once it may take the guard. */
enum { WAKE_GETTER = 1, WAKE_PUTTER = 2 };

static void do_wakes(pc_queue *q, unsigned wake) {
    if (wake & WAKE_GETTER)
        wake_one(q, &q->getters, &q->getters_waiting);
    if (wake & WAKE_PUTTER)
        wake_one(q, &q->putters, &q->putters_waiting);
}

/* ------------------------------------------------------- single attempts */

/*
 * The attempts touch the storage only; the wake-ups they owe go to *wake,
 * for the caller to make once it does not hold the guard (block_on()
 * attempts under it).
 */

static bool admit_one(pc_queue *q) {
    long n = atomic_load_explicit(&q->admitted, memory_order_relaxed);
    do {
        if (n >= q->maxsize)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&q->admitted, &n, n + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

static void unadmit_one(pc_queue *q, unsigned *wake) {
    atomic_fetch_sub_explicit(&q->admitted, 1, memory_order_relaxed);
    *wake |= WAKE_PUTTER;
}

/* 0, -EAGAIN (full), -EPIPE, -ENOMEM. */
static int put_attempt(pc_queue *q, void *arg, unsigned *wake) {
    /* A shortcut only: the storage's close() is what refuses a put. */
    if (atomic_load_explicit(&q->shut, memory_order_relaxed))
        return -EPIPE;
    if (q->admit && !admit_one(q))
        return -EAGAIN;
    int r = q->ops->try_put(q->store, *(void **)arg);
    if (r) {
        if (q->admit)
            unadmit_one(q, wake);
        return r;
    }
    *wake |= WAKE_GETTER;
    return 0;
}

/* 0, -EAGAIN (empty), -EPIPE (empty and shut down). */
static int get_attempt(pc_queue *q, void *arg, unsigned *wake) {
    int r = q->ops->try_get(q->store, arg);
    if (r)
        return r;
    if (q->admit)
        unadmit_one(q, wake);
    else if (q->maxsize > 0)
        *wake |= WAKE_PUTTER;
    return 0;
}

static int join_attempt(pc_queue *q, void *arg, unsigned *wake) {
    (void)arg, (void)wake;
    unsigned long done = atomic_load_explicit(&q->done, memory_order_acquire);
    return done >= q->ops->puts(q->store) ? 0 : -EAGAIN;
}

typedef int (*attempt_fn)(pc_queue *q, void *arg, unsigned *wake);

/* An attempt that makes its wake-ups at once. */
static int attempt_now(attempt_fn attempt, pc_queue *q, void *arg) {
    unsigned wake = 0;
    int r = attempt(q, arg, &wake);
    do_wakes(q, wake);
    return r;
}

static int put_once(pc_queue *q, void *item) {
    return attempt_now(put_attempt, q, &item);
}

static int get_once(pc_queue *q, void **item) {
    return attempt_now(get_attempt, q, item);
}

/* ------------------------------------------------------------- blocking */

/*
 * Park on wq until attempt() stops answering -EAGAIN or the deadline
 * passes.  Registers, re-checks under the guard, then parks: see the
 * design note.
 */
static int block_on(pc_queue *q, pc__waitq *wq, _Atomic uint32_t *waiting, attempt_fn attempt,
                    void *arg, int64_t deadline) {
    for (bool woken = false;; woken = true) {
        /* Woken: first try what the wake-up announced, unregistered. */
        int r;
        if (woken && (r = attempt_now(attempt, q, arg)) != -EAGAIN)
            return r;
        if (pc__queue_register_hook)
            pc__queue_register_hook();
        pc__waiter w;
        pc__waiter_init(&w);
        unsigned wake = 0;
        pc__guard_lock(&q->guard);
        /* A waiter woken in vain (another took what its wake-up announced)
         * goes back to the head of the queue, so it cannot starve behind
         * later arrivals. */
        if (woken)
            pc__waitq_push_front(wq, &w);
        else
            pc__waitq_push(wq, &w);
        count_waiting(waiting, 1);
        atomic_thread_fence(memory_order_seq_cst); /* pairs with wake_one()/wake_all() */
        r = attempt(q, arg, &wake);
        if (r != -EAGAIN) {
            /* Settled by the re-check: withdraw.  Still queued: no waker
             * can have taken us off while we held the guard, so no
             * wake-up was spent on us. */
            pc__waitq_remove(wq, &w);
            count_waiting(waiting, -1);
            pc__guard_unlock(&q->guard);
            do_wakes(q, wake);
            return r;
        }
        int parked = pc__wait(&q->guard, wq, &w, deadline);
        if (parked != 0) {
            /* we removed ourselves; a waker would have counted us down */
            pc__guard_lock(&q->guard);
            count_waiting(waiting, -1);
            pc__guard_unlock(&q->guard);
            r = attempt_now(attempt, q, arg); /* a last look at the deadline */
            return r == -EAGAIN ? parked : r;
        }
    }
}

/* Spin a little before sleeping: a wake-up costs far more than this. */
static int spin_then_block(pc_queue *q, pc__waitq *wq, _Atomic uint32_t *waiting,
                           attempt_fn attempt, void *arg, double timeout) {
    int64_t deadline;
    if (pc__deadline(timeout, &deadline))
        return -EINVAL;
    int r = attempt_now(attempt, q, arg);
    if (r != -EAGAIN)
        return r;
    if (timeout == 0)
        return -ETIMEDOUT;
    /* Spin only in a thread: a coroutine's partner may run on this very
     * thread, and then nothing can change while we spin. */
    for (int i = pc__tls_parker_ctx ? 0 : pc__spin_limit(); i > 0; i--) {
        pc__cpu_relax();
        if ((r = attempt_now(attempt, q, arg)) != -EAGAIN)
            return r;
    }
    return block_on(q, wq, waiting, attempt, arg, deadline);
}

/* ------------------------------------------------------------------ API */

int pc_queue_new(pc_queue **out, const pc_queue_opts *opts) {
    static const pc_queue_opts defaults = {0};
    if (!out)
        return -EINVAL;
    if (!opts)
        opts = &defaults;
    if ((unsigned)opts->kind > PC_QUEUE_SIMPLE || (opts->kind == PC_QUEUE_PRIORITY && !opts->cmp))
        return -EINVAL;
    pc_queue *q = pc__calloc_aligned(sizeof *q, alignof(pc_queue));
    if (!q)
        return -ENOMEM;
    q->kind = opts->kind;
    q->maxsize = opts->kind == PC_QUEUE_SIMPLE || opts->maxsize < 0 ? 0 : opts->maxsize;
    q->discard = opts->discard;
    q->discard_arg = opts->discard_arg;
    int r;
    switch (q->kind) {
    case PC_QUEUE_FIFO:
    case PC_QUEUE_SIMPLE:
        if (q->maxsize >= 1 && q->maxsize <= PC__RING_MAX) {
            q->ops = &pc__ring_ops;
            r = pc__ring_new(&q->store, q->maxsize);
        } else {
            q->ops = &pc__segment_ops;
            r = pc__segment_new(&q->store);
        }
        break;
    case PC_QUEUE_LIFO:
        q->ops = &pc__lifo_ops;
        r = pc__lifo_new(&q->store);
        break;
    default:
        q->ops = &pc__priority_ops;
        r = pc__priority_new(&q->store, opts->cmp, opts->cmp_arg);
        break;
    }
    if (r) {
        pc__free_aligned(q);
        return r;
    }
    q->admit = q->maxsize > 0 && q->ops != &pc__ring_ops;
    *out = q;
    return 0;
}

/* Remove every item left, to the discard callback; returns how many. */
static unsigned long drain(pc_queue *q) {
    unsigned long n = 0;
    void *item;
    while (get_once(q, &item) == 0) {
        if (q->discard)
            q->discard(item, q->discard_arg);
        n++;
    }
    return n;
}

/* Immediate shutdown's drain: removed items count as done, as Python
 * counts them, but `done` never passes the puts. */
static void discard_all(pc_queue *q) {
    unsigned long n = drain(q);
    /* done before puts, as in pc_queue_task_done(); acquire, pairs with
     * the release of the CAS below and of the one there */
    unsigned long d = atomic_load_explicit(&q->done, memory_order_acquire), nd;
    do {
        unsigned long puts = q->ops->puts(q->store);
        nd = d + n > puts ? puts : d + n;
        if (nd < d)
            nd = d;
        /* release; pairs with the acquire load in join_attempt() */
    } while (!atomic_compare_exchange_weak_explicit(&q->done, &d, nd, memory_order_acq_rel,
                                                    memory_order_acquire));
    wake_all(q, &q->joiners, &q->joiners_waiting);
}

void pc_queue_free(pc_queue *q) {
    if (!q)
        return;
    /* Unguarded: a waiter racing with free is the very error checked.  A
     * waiter's timeout would later write into freed memory: refuse, as
     * the sync primitives do. */
    if (q->getters.head || q->putters.head || q->joiners.head) {
        fputs("pyconc: pc_queue_free of a queue with blocked callers\n", stderr);
        abort();
    }
    drain(q);
    q->ops->destroy(q->store);
    pc__free_aligned(q);
}

int pc_queue_put(pc_queue *q, void *item, double timeout) {
    if (!q)
        return -EINVAL;
    return spin_then_block(q, &q->putters, &q->putters_waiting, put_attempt, &item, timeout);
}

int pc_queue_put_nowait(pc_queue *q, void *item) {
    return q ? put_once(q, item) : -EINVAL;
}

int pc_queue_get(pc_queue *q, void **item, double timeout) {
    if (!q || !item)
        return -EINVAL;
    return spin_then_block(q, &q->getters, &q->getters_waiting, get_attempt, item, timeout);
}

int pc_queue_get_nowait(pc_queue *q, void **item) {
    if (!q || !item)
        return -EINVAL;
    return get_once(q, item);
}

long pc_queue_qsize(const pc_queue *q) {
    return q ? q->ops->size(q->store) : -EINVAL;
}

bool pc_queue_empty(const pc_queue *q) {
    return !q || q->ops->size(q->store) == 0;
}

bool pc_queue_full(const pc_queue *q) {
    return q && q->maxsize > 0 && q->ops->size(q->store) >= q->maxsize;
}

long pc_queue_maxsize(const pc_queue *q) {
    return q ? q->maxsize : -EINVAL;
}

int pc_queue_task_done(pc_queue *q) {
    if (!q)
        return -EINVAL;
    if (q->kind == PC_QUEUE_SIMPLE)
        return -ENOTSUP;
    /*
     * done first, then puts.  Every task counted in `done` is a get of an
     * item put before it, and the acquire makes those puts visible to the
     * puts() read after it, so our own task never looks like one too many.
     * Read the other way round, workers' task_done calls landing between
     * the two reads let `done` overtake a stale puts: a false -EOVERFLOW.
     * acquire; pairs with the release of the CAS below and in discard_all().
     */
    unsigned long d = atomic_load_explicit(&q->done, memory_order_acquire), puts;
    for (;;) {
        puts = q->ops->puts(q->store);
        if (d >= puts)
            return -EOVERFLOW;
        /* release; pairs with the acquire load in join_attempt() and above */
        if (atomic_compare_exchange_weak_explicit(&q->done, &d, d + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    if (d + 1 >= puts)
        wake_all(q, &q->joiners, &q->joiners_waiting);
    return 0;
}

int pc_queue_join(pc_queue *q, double timeout) {
    if (!q)
        return -EINVAL;
    if (q->kind == PC_QUEUE_SIMPLE)
        return -ENOTSUP;
    return spin_then_block(q, &q->joiners, &q->joiners_waiting, join_attempt, NULL, timeout);
}

int pc_queue_shutdown(pc_queue *q, bool immediate) {
    if (!q)
        return -EINVAL;
    if (immediate) {
        atomic_store_explicit(&q->shut, SHUT_IMMEDIATE, memory_order_relaxed);
    } else {
        uint32_t open = OPEN;
        atomic_compare_exchange_strong_explicit(&q->shut, &open, SHUT, memory_order_relaxed,
                                                memory_order_relaxed);
    }
    q->ops->close(q->store);
    if (immediate)
        discard_all(q); /* every put that got in before close(), none after */
    wake_all(q, &q->getters, &q->getters_waiting);
    wake_all(q, &q->putters, &q->putters_waiting);
    return 0;
}

bool pc_queue_is_shutdown(const pc_queue *q) {
    return q && atomic_load_explicit(&((pc_queue *)q)->shut, memory_order_relaxed);
}
