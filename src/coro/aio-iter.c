/*
 * as_completed (pyconc/aio.h): an iterator over a completion watch
 * (aio-watch.c).  The watch records distinct coroutines in completion
 * order (those finished at creation first, in argument order), so the
 * iterator only walks that record: next waits until the record is longer
 * than what it yielded, then yields the following entry.
 *
 * Invariant: yielded <= the watch's ndone; entries below ndone never
 * change, so an entry read after a wait that saw it (under the guard) is
 * stable.  The deadline is fixed at creation (asyncio's overall timeout).
 *
 * Rejected: joining the coroutines in argument order and sorting by
 * finish time; it cannot yield the first finisher before the slowest
 * earlier argument finished.
 */
#include <errno.h>

#include "../internal/alloc.h"
#include "aio-internal.h"

struct pc_as_completed {
    pc__aio_watch *watch; /* the owner's reference */
    int64_t deadline;     /* fixed */
    int yielded;          /* the caller's (one caller at a time) */
};

int pc_as_completed_new(pc_as_completed **out, pc_coro *const *cs, int n, double timeout) {
    int64_t deadline;
    if (!out || n < 0 || (n && !cs) || pc__deadline(timeout, &deadline))
        return -EINVAL;
    for (int i = 0; i < n; i++)
        if (!cs[i])
            return -EINVAL;
    pc_as_completed *it = pc__calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    int r = pc__aio_watch_new(&it->watch, cs, n);
    if (r) {
        pc__free(it);
        return r;
    }
    it->deadline = deadline;
    *out = it;
    return 0;
}

static int next_run(void *arg) {
    pc_as_completed *it = arg;
    return pc__aio_watch_wait(it->watch, it->yielded + 1, false, it->deadline);
}

int pc_as_completed_next(pc_as_completed *it, pc_coro **c) {
    if (!it || !c)
        return -EINVAL;
    pc__aio_watch *w = it->watch;
    if (it->yielded >= w->n)
        return -ENOENT;
    pc_coro **uniq = w->order + w->n;
    int r = pc__aio_needs_helper(uniq, w->n) ? pc__aio_in_helper(next_run, it) : next_run(it);
    if (r)
        return r;
    pc__guard_lock(&w->guard);
    *c = w->order[it->yielded++];
    pc__guard_unlock(&w->guard);
    return 0;
}

void pc_as_completed_free(pc_as_completed *it) {
    if (!it)
        return;
    pc__aio_watch_release(it->watch);
    pc__free(it);
}
