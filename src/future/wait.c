/*
 * Waiting on several futures: concurrent.futures.wait and as_completed.
 *
 * A watch set is one wait queue with counts under its own guard, and one
 * watch (a link) per future on that future's watch list.  A future that
 * gets done notifies every linked watch under its own guard
 * (pc__watchset_notify takes the set's guard inside: lock order in
 * future-internal.h), which counts it, records it in completion order and,
 * when the set's condition now holds, takes the set's waiters for the
 * settle to wake.  The waiter parks through pc__wait on the set's queue,
 * so threads and coroutines wait alike and a timeout or a kill withdraws
 * it cleanly (waiter.h).
 *
 * Lifetime: a settle touches a watch set only under the guard of a future
 * the watch is still linked to.  Before a set dies, its owner unlinks each
 * watch under its future's guard, so afterwards no settle can reach it.
 * (The waiters the settle took are woken after it dropped the guards;
 * their owner does not return from pc__wait before the wake-up landed.)
 *
 * Rejected: one helper thread or coroutine per future.  A list link per
 * future is all the bookkeeping the futures need, and it cannot fail.
 */
#include <errno.h>
#include <stdlib.h>

#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "future-internal.h"

/* Whether the set's condition holds: guard held. */
static bool holds(const pc__watchset *ws) {
    switch (ws->mode) {
    case PC_FIRST_COMPLETED: return ws->ndone > 0;
    case PC_FIRST_EXCEPTION: return ws->nerr > 0 || ws->ndone == ws->n;
    case PC_ALL_COMPLETED: return ws->ndone == ws->n;
    default: return ws->done_head != NULL; /* as_completed: something to yield */
    }
}

static void watchset_init(pc__watchset *ws, int n, int mode) {
    ws->guard = 0;
    ws->waiters.head = ws->waiters.tail = NULL;
    ws->n = n;
    ws->mode = mode;
    ws->ndone = ws->nerr = 0;
    ws->done_head = NULL;
    ws->done_tail = &ws->done_head;
}

void pc__watchset_notify(pc__fwatch *w, bool failed, pc__waiter **chain) {
    pc__watchset *ws = w->ws;
    pc__guard_lock(&ws->guard);
    ws->ndone++;
    ws->nerr += failed;
    w->done_next = NULL;
    *ws->done_tail = w;
    ws->done_tail = &w->done_next;
    if (holds(ws)) {
        /* prepend to the settle's chain: linked through ->next */
        pc__waiter *c = pc__waitq_take_all(&ws->waiters, 0, NULL);
        if (c) {
            pc__waiter *last = c;
            while (last->next)
                last = last->next;
            last->next = *chain;
            *chain = c;
        }
    }
    pc__guard_unlock(&ws->guard);
}

static bool failed_now(const pc_future *f) {
    /* acquire; pairs with the release store in pc__future_settle() */
    return atomic_load_explicit(&((pc_future *)f)->state, memory_order_acquire) ==
               PC_FUTURE_FINISHED &&
           f->error != 0;
}

/* Link `w` to its future, or count it at once if the future is done. */
static void watch(pc__fwatch *w) {
    pc_future *f = w->f;
    pc__guard_lock(&f->guard);
    if (pc_future_done(f)) {
        pc__waiter *none = NULL;
        pc__watchset_notify(w, failed_now(f), &none); /* nobody waits yet */
    } else {
        w->prev = NULL;
        w->next = f->watch_head;
        if (f->watch_head)
            f->watch_head->prev = w;
        f->watch_head = w;
        w->linked = true;
    }
    pc__guard_unlock(&f->guard);
}

static void unwatch(pc__fwatch *w) {
    pc_future *f = w->f;
    pc__guard_lock(&f->guard);
    if (w->linked) {
        if (w->prev)
            w->prev->next = w->next;
        else
            f->watch_head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        w->linked = false;
    }
    pc__guard_unlock(&f->guard);
}

/* Park until the condition holds: 0, -ETIMEDOUT, -ECANCELED. */
static int park_until(pc__watchset *ws, int64_t deadline) {
    for (;;) {
        pc__guard_lock(&ws->guard);
        if (holds(ws)) {
            pc__guard_unlock(&ws->guard);
            return 0;
        }
        if (deadline != PC__NO_DEADLINE && pc__mono_ns() >= deadline) {
            pc__guard_unlock(&ws->guard);
            return -ETIMEDOUT;
        }
        pc__waiter w;
        pc__waiter_init(&w);
        pc__waitq_push(&ws->waiters, &w);
        int r = pc__wait(&ws->guard, &ws->waiters, &w, deadline);
        if (r)
            return r;
    }
}

enum { STACK_WATCHES = 16 };

int pc_future_wait(pc_future *const *fs, int n, int mode, bool *done, double timeout) {
    int64_t deadline;
    if (n < 0 || (n > 0 && !fs) || mode < PC_FIRST_COMPLETED || mode > PC_ALL_COMPLETED ||
        pc__deadline(timeout, &deadline))
        return -EINVAL;
    for (int i = 0; i < n; i++)
        if (!fs[i])
            return -EINVAL;
    pc__fwatch stack[STACK_WATCHES];
    pc__fwatch *ws_nodes = n <= STACK_WATCHES ? stack : pc__malloc((size_t)n * sizeof *ws_nodes);
    if (!ws_nodes)
        return -ENOMEM;
    pc__watchset ws;
    watchset_init(&ws, n, mode);
    int r = 0;
    if (n > 0) {
        for (int i = 0; i < n; i++) {
            ws_nodes[i] = (pc__fwatch){.f = fs[i], .ws = &ws};
            watch(&ws_nodes[i]);
        }
        r = park_until(&ws, timeout == 0 ? 0 : deadline);
        for (int i = 0; i < n; i++)
            unwatch(&ws_nodes[i]);
    }
    if (done)
        for (int i = 0; i < n; i++)
            done[i] = pc_future_done(fs[i]);
    if (ws_nodes != stack)
        pc__free(ws_nodes);
    return r;
}

/* ---------------------------------------------------------- as_completed */

struct pc_future_as_completed {
    pc__watchset ws;
    int64_t deadline; /* fixed */
    int n, yielded;   /* owner: distinct futures, and those yielded */
    pc__fwatch watches[];
};

static int cmp_ptr(const void *a, const void *b) {
    const pc_future *x = *(pc_future *const *)a, *y = *(pc_future *const *)b;
    return x < y ? -1 : x > y;
}

/* The index of f among the n distinct sorted pointers. */
static int find(pc_future **sorted, int n, const pc_future *f) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (sorted[mid] == f)
            return mid;
        if (sorted[mid] < f)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

int pc_future_as_completed_new(pc_future_as_completed **out, pc_future *const *fs, int n,
                               double timeout) {
    int64_t deadline;
    if (!out || n < 0 || (n > 0 && !fs) || pc__deadline(timeout, &deadline))
        return -EINVAL;
    for (int i = 0; i < n; i++)
        if (!fs[i])
            return -EINVAL;
    /* the distinct futures, in argument order of first appearance */
    pc_future **sorted = pc__malloc(((size_t)n + 1) * sizeof *sorted);
    bool *seen = pc__calloc((size_t)n + 1, 1);
    pc_future_as_completed *it = pc__calloc(1, sizeof *it + ((size_t)n + 1) * sizeof(pc__fwatch));
    if (!sorted || !seen || !it) {
        pc__free(sorted);
        pc__free(seen);
        pc__free(it);
        return -ENOMEM;
    }
    int m = 0;
    if (n > 0) {
        for (int i = 0; i < n; i++)
            sorted[i] = fs[i];
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_ptr);
        for (int i = 0; i < n; i++)
            if (m == 0 || sorted[m - 1] != sorted[i])
                sorted[m++] = sorted[i];
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        int at = find(sorted, m, fs[i]);
        if (seen[at])
            continue;
        seen[at] = true;
        it->watches[k++] = (pc__fwatch){.f = pc_future_retain(fs[i]), .ws = &it->ws};
    }
    pc__free(sorted);
    pc__free(seen);
    watchset_init(&it->ws, m, 0);
    it->n = m;
    it->deadline = deadline;
    /* those done already first, in argument order; then link the rest
     * (one that gets done meanwhile is queued by its settle) */
    for (int i = 0; i < m; i++)
        if (pc_future_done(it->watches[i].f)) {
            watch(&it->watches[i]);
            it->watches[i].prev = &it->watches[i]; /* marks it handled */
        }
    for (int i = 0; i < m; i++) {
        if (it->watches[i].prev == &it->watches[i])
            it->watches[i].prev = NULL;
        else
            watch(&it->watches[i]);
    }
    *out = it;
    return 0;
}

int pc_future_as_completed_next(pc_future_as_completed *it, pc_future **f) {
    if (!it || !f)
        return -EINVAL;
    if (it->yielded == it->n)
        return -ENOENT;
    int r = park_until(&it->ws, it->deadline);
    if (r)
        return r;
    pc__guard_lock(&it->ws.guard);
    pc__fwatch *w = it->ws.done_head;
    it->ws.done_head = w->done_next;
    if (!it->ws.done_head)
        it->ws.done_tail = &it->ws.done_head;
    pc__guard_unlock(&it->ws.guard);
    it->yielded++;
    *f = w->f;
    return 0;
}

void pc_future_as_completed_free(pc_future_as_completed *it) {
    if (!it)
        return;
    for (int i = 0; i < it->n; i++) {
        unwatch(&it->watches[i]);
        pc_future_release(it->watches[i].f);
    }
    pc__free(it);
}
