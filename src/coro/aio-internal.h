/*
 * Shared pieces of the combinators (pyconc/aio.h): running a wait from a
 * plain thread in a helper coroutine, and the completion watch.
 */
#ifndef PC_CORO_AIO_INTERNAL_H
#define PC_CORO_AIO_INTERNAL_H

#include "../loop/loop-internal.h"
#include "pyconc/aio.h"

/* True when the caller is a plain thread and one of cs lives on its own
 * loop: waiting would then block the loop that must finish them. */
bool pc__aio_needs_helper(pc_coro *const *cs, int n);
/* Run fn(arg) in a helper coroutine on the calling thread's loop and run
 * the loop until it ends; fn's result, or the join's error (-EDEADLK). */
int pc__aio_in_helper(int (*fn)(void *arg), void *arg);

/*
 * A watch: counts the completions of a set of coroutines, learned through
 * pc_coro_link, and wakes waiters on each.  Heap object, refcounted: the
 * owner's reference + one per link not yet run (links cannot be removed,
 * so a watch outlives an owner that stopped waiting).
 */
typedef struct pc__aio_watch {
    _Atomic long refs; /* owner + pending links */
    pc__guard guard;
    pc__waitq waiters; /* guarded by guard */
    int n;             /* fixed: distinct coroutines */
    int ndone;         /* guarded by guard */
    int nfailed;       /* guarded by guard: errors other than -ECANCELED */
    pc_coro **order;   /* fixed array; entries [0, ndone) guarded by guard */
} pc__aio_watch;

/* Watch the distinct coroutines of cs (those finished already are counted
 * at once, in argument order).  0, -ENOMEM. */
int pc__aio_watch_new(pc__aio_watch **w, pc_coro *const *cs, int n);
void pc__aio_watch_release(pc__aio_watch *w);
/* Wait until ndone >= need_done, or nfailed >= 1 when any_failure, or
 * the deadline.  0, -ETIMEDOUT, -ECANCELED. */
int pc__aio_watch_wait(pc__aio_watch *w, int need_done, bool any_failure, int64_t deadline);

#endif
