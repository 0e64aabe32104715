/*
 * The combinators' shared machinery: the completion watch, and running a
 * wait in a helper coroutine when a plain thread waits for its own loop.
 *
 * The watch learns completions only through pc_coro_link, so it works for
 * coroutines of any loop: a link runs on its coroutine's loop, records the
 * coroutine under the watch's guard and wakes every waiter, which re-checks
 * its predicate under the guard (a waiter checks and queues itself under
 * the guard, a link records and dequeues under it: no lost wake-up).
 *
 * Invariants: order[0, ndone) holds distinct coroutines in completion
 * order; ndone <= n; refs counts the owner plus each link not yet run, so
 * the watch dies after both the owner and every link let go.  The watch
 * holds a reference on each distinct coroutine, so the pointers it yields
 * stay valid until it dies.
 *
 * Lock order: the watch's guard is a leaf; nothing else is taken while
 * it is held (pc_coro_link, which takes the coroutine's guard, is called
 * without it).
 *
 * Rejected: one pc_event per coroutine set by a link, waited on in turn.
 * FIRST_COMPLETED must wait for any of n at once, which needs a shared
 * count anyway, and one waitq serves every mode.
 *
 * The helper: a plain thread that waits for coroutines of its own loop
 * must run that loop, and pc_coro_join is the one call that does; so the
 * wait runs in a helper coroutine that the thread joins.  If the join
 * fails (-EDEADLK: the loop is idle with nothing to wake it, or it runs
 * already), the helper is killed and joined again so that it has ended
 * before its arguments, on this stack, die.
 */
#include <errno.h>
#include <stdlib.h>

#include "../internal/alloc.h"
#include "aio-internal.h"

bool pc__aio_needs_helper(pc_coro *const *cs, int n) {
    if (pc__tls_coro)
        return false;
    for (int i = 0; i < n; i++)
        if (pc__loop_on_owner(cs[i]->loop))
            return true;
    return false;
}

typedef struct helper_call {
    int (*fn)(void *arg);
    void *arg;
} helper_call;

static int helper_body(void *arg, void **value) {
    (void)value;
    helper_call *h = arg;
    return h->fn(h->arg);
}

int pc__aio_in_helper(int (*fn)(void *arg), void *arg) {
    helper_call h = {fn, arg};
    pc_loop *l = pc__loop_of_thread();
    if (!l)
        return -ENOMEM;
    if (l->running)
        return -EDEADLK; /* a loop callback cannot wait for its own loop */
    pc_coro *c;
    int r = pc_coro_spawn(&c, helper_body, &h, NULL);
    if (r)
        return r;
    r = pc_coro_join(c, PC_FOREVER);
    if (r) {
        pc_coro_kill(c);
        if (pc_coro_join(c, PC_FOREVER)) /* cannot happen: the kill wakes it */
            abort();
    } else {
        r = pc_coro_error(c);
    }
    pc_coro_free(c);
    return r;
}

/* ----------------------------------------------------------------- watch */

static void watch_free(pc__aio_watch *w) {
    for (int i = 0; i < w->n; i++)
        pc__coro_release(w->order[w->n + i]);
    pc__free(w->order);
    pc__free(w);
}

void pc__aio_watch_release(pc__aio_watch *w) {
    if (w && atomic_fetch_sub(&w->refs, 1) == 1)
        watch_free(w);
}

static void record(pc__aio_watch *w, pc_coro *c) { /* guard held */
    w->order[w->ndone++] = c;
    int e = pc_coro_error(c);
    if (e && e != -ECANCELED)
        w->nfailed++;
}

static void on_done(pc_coro *c, void *arg) {
    pc__aio_watch *w = arg;
    pc__guard_lock(&w->guard);
    record(w, c);
    pc__waiter *chain = pc__waitq_take_all(&w->waiters, 0, NULL);
    pc__guard_unlock(&w->guard);
    pc__waiter_wake_chain(chain);
    pc__aio_watch_release(w);
}

static int by_address(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (pc_coro *const *)a, y = (uintptr_t) * (pc_coro *const *)b;
    return (x > y) - (x < y);
}

/* order gets 2n slots: [0, n) the completion order, [n, 2n) the distinct
 * coroutines in argument order (each with a reference). */
static int distinct(pc__aio_watch *w, pc_coro *const *cs, int n) {
    pc_coro **sorted = pc__malloc((size_t)(n ? n : 1) * sizeof *sorted);
    bool *seen = pc__calloc((size_t)(n ? n : 1), sizeof *seen);
    w->order = pc__malloc((size_t)(n ? 2 * n : 1) * sizeof *w->order);
    if (!sorted || !seen || !w->order) {
        pc__free(sorted);
        pc__free(seen);
        pc__free(w->order);
        return -ENOMEM;
    }
    for (int i = 0; i < n; i++)
        sorted[i] = cs[i];
    qsort(sorted, (size_t)n, sizeof *sorted, by_address);
    for (int i = 0; i < n; i++) {
        pc_coro **at = bsearch(&cs[i], sorted, (size_t)n, sizeof *sorted, by_address);
        size_t k = (size_t)(at - sorted);
        while (k > 0 && sorted[k - 1] == cs[i])
            k--; /* the first of equal keys */
        if (seen[k])
            continue;
        seen[k] = true;
        atomic_fetch_add(&cs[i]->refs, 1);
        w->order[n + w->n++] = cs[i];
    }
    /* compact: the distinct ones follow the order slots directly */
    for (int i = 0; i < w->n; i++)
        w->order[w->n + i] = w->order[n + i];
    pc__free(sorted);
    pc__free(seen);
    return 0;
}

int pc__aio_watch_new(pc__aio_watch **out, pc_coro *const *cs, int n) {
    pc__aio_watch *w = pc__calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    atomic_init(&w->refs, 1);
    int r = distinct(w, cs, n);
    if (r) {
        pc__free(w);
        return r;
    }
    pc_coro **uniq = w->order + w->n;
    pc__guard_lock(&w->guard);
    for (int i = 0; i < w->n; i++)
        if (pc_coro_ready(uniq[i]))
            record(w, uniq[i]);
    int counted = w->ndone; /* order[0, counted) is fixed from here on */
    pc__guard_unlock(&w->guard);
    for (int i = 0, j = 0; i < w->n; i++) {
        if (j < counted && w->order[j] == uniq[i]) { /* a subsequence of uniq */
            j++;
            continue;
        }
        atomic_fetch_add(&w->refs, 1);
        r = pc_coro_link(uniq[i], on_done, w);
        if (r) {
            atomic_fetch_sub(&w->refs, 1);
            pc__aio_watch_release(w);
            return r;
        }
    }
    *out = w;
    return 0;
}

int pc__aio_watch_wait(pc__aio_watch *w, int need_done, bool any_failure, int64_t deadline) {
    for (;;) {
        pc__guard_lock(&w->guard);
        if (w->ndone >= need_done || (any_failure && w->nfailed)) {
            pc__guard_unlock(&w->guard);
            return 0;
        }
        if (deadline != PC__NO_DEADLINE && deadline <= pc__mono_ns()) {
            pc__guard_unlock(&w->guard);
            return -ETIMEDOUT;
        }
        pc__waiter q;
        pc__waiter_init(&q);
        pc__waitq_push(&w->waiters, &q);
        int r = pc__wait(&w->guard, &w->waiters, &q, deadline);
        if (r)
            return r;
    }
}
