/*
 * gather, wait and wait_for (pyconc/aio.h).
 *
 * gather is a joinall (which already parks a coroutine, blocks a foreign
 * thread and runs the loop for its own plain thread) plus the cancellation
 * rule: when the caller is killed while waiting, the unfinished are
 * killed.  Its error is chosen by argument order after the wait, so it
 * does not depend on timing.
 *
 * wait needs "any of n", so it waits on a completion watch (aio-watch.c)
 * with the mode as a predicate; what it reports as done is read from the
 * coroutines themselves when it returns (a coroutine may have finished
 * after the predicate held: it is reported done, which is true).
 *
 * wait_for: join within the timeout; then kill and join without limit, so
 * the coroutine has finished unwinding when it returns, and judge by how
 * it ended: 0 wins over the timeout.  A kill of the caller during the
 * unwinding wait is remembered and reported after it.
 *
 * Rejected for wait_for: returning at the timeout and letting the victim
 * unwind alone (gevent's Timeout on a join does that).  asyncio waits, and
 * only waiting lets a result produced during the cancellation win.
 */
#include <errno.h>

#include "aio-internal.h"

static bool bad_array(pc_coro *const *cs, int n) {
    if (n < 0 || (n && !cs))
        return true;
    for (int i = 0; i < n; i++)
        if (!cs[i])
            return true;
    return false;
}

int pc_aio_gather(pc_coro *const *cs, int n, void **values, double timeout) {
    int64_t deadline;
    if (bad_array(cs, n) || pc__deadline(timeout, &deadline))
        return -EINVAL;
    int r = pc_coro_joinall(cs, n, timeout);
    if (r == -ECANCELED)
        for (int i = 0; i < n; i++)
            pc_coro_kill(cs[i]); /* harmless on the finished */
    for (int i = 0; values && i < n; i++)
        values[i] = pc_coro_value(cs[i]);
    for (int i = 0; !r && i < n; i++)
        r = pc_coro_error(cs[i]);
    return r;
}

typedef struct wait_call {
    pc_coro *const *cs;
    int n, need;
    bool any_failure;
    int64_t deadline;
} wait_call;

static int wait_run(void *arg) {
    wait_call *a = arg;
    pc__aio_watch *w;
    int r = pc__aio_watch_new(&w, a->cs, a->n);
    if (r)
        return r;
    if (a->need > w->n)
        a->need = w->n; /* duplicates: all = all distinct */
    r = pc__aio_watch_wait(w, a->need, a->any_failure, a->deadline);
    pc__aio_watch_release(w);
    return r;
}

int pc_aio_wait(pc_coro *const *cs, int n, int mode, bool *done, double timeout) {
    wait_call a = {cs, n, n, false, 0};
    if (bad_array(cs, n) || pc__deadline(timeout, &a.deadline))
        return -EINVAL;
    switch (mode) {
    case PC_FIRST_COMPLETED: a.need = n ? 1 : 0; break;
    case PC_FIRST_EXCEPTION: a.any_failure = true; break;
    case PC_ALL_COMPLETED: break;
    default: return -EINVAL;
    }
    int r = pc__aio_needs_helper(cs, n) ? pc__aio_in_helper(wait_run, &a) : wait_run(&a);
    for (int i = 0; done && i < n; i++)
        done[i] = pc_coro_ready(cs[i]);
    return r;
}

int pc_aio_wait_for(pc_coro *c, void **value, double timeout) {
    int64_t deadline;
    if (!c || pc__deadline(timeout, &deadline))
        return -EINVAL;
    if (value)
        *value = NULL;
    int r = pc_coro_join(c, timeout);
    bool cancelled = r == -ECANCELED;
    if (r == -ETIMEDOUT || r == -ECANCELED) {
        pc_coro_kill(c);
        int j;
        while ((j = pc_coro_join(c, PC_FOREVER)) == -ECANCELED)
            cancelled = true;
        if (j)
            return j;
    } else if (r) {
        return r;
    }
    if (cancelled)
        return -ECANCELED;
    int e = pc_coro_error(c);
    if (e == 0 && value)
        *value = pc_coro_value(c);
    return e == -ECANCELED && r == -ETIMEDOUT ? -ETIMEDOUT : e;
}
