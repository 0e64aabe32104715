/*
 * pc_shevent (pyconc/shared.h): an event flag in the shared heap.
 *
 * The flag is one word; waiters sleep on an eventcount (pc__shec) that
 * only pc_shevent_set notifies.  So a waiter whose ticket's sequence has
 * moved on knows that a set happened while it waited, even if a clear
 * followed at once: it returns 0, as Python's `set(); clear()` releases
 * the waiters already waiting.
 *
 * Memory order: set stores the flag with release, a waiter loads it with
 * acquire: what the setter wrote before set is seen after wait.  The
 * eventcount's own fences order the flag against the sleep (shwait.h).
 */
#include <errno.h>

#include "shared-internal.h"

struct pc_shevent {
    _Atomic uint32_t magic;
    _Atomic uint32_t flag;  /* 0 / 1 */
    pc__shec ec;            /* notified by set */
    _Atomic uint32_t nwait; /* sleepers now (for free) */
};

int pc_shevent_new(pc_shevent **e) {
    return pc__sh_alloc(sizeof **e, PC__SH_EVENT, (void **)e);
}

int pc_shevent_free(pc_shevent *e) {
    if (pc__sh_kind(e) != PC__SH_EVENT)
        return -EINVAL;
    if (atomic_load_explicit(&e->nwait, memory_order_relaxed) != 0)
        return -EBUSY;
    return pc__sh_free(e);
}

int pc_shevent_set(pc_shevent *e) {
    if (pc__sh_kind(e) != PC__SH_EVENT)
        return -EINVAL;
    atomic_store_explicit(&e->flag, 1, memory_order_release); /* pairs with is_set's acquire */
    pc__shec_notify(&e->ec);
    return 0;
}

int pc_shevent_clear(pc_shevent *e) {
    if (pc__sh_kind(e) != PC__SH_EVENT)
        return -EINVAL;
    atomic_store_explicit(&e->flag, 0, memory_order_relaxed);
    return 0;
}

bool pc_shevent_is_set(const pc_shevent *e) {
    return pc__sh_kind(e) == PC__SH_EVENT &&
           atomic_load_explicit((_Atomic uint32_t *)&e->flag, memory_order_acquire) != 0;
}

int pc_shevent_wait(pc_shevent *e, double timeout) {
    int64_t deadline;
    if (pc__sh_kind(e) != PC__SH_EVENT || pc__deadline(timeout, &deadline) < 0)
        return -EINVAL;
    if (pc_shevent_is_set(e))
        return 0;
    if (timeout == 0)
        return -ETIMEDOUT;
    for (;;) {
        uint32_t t = pc__shec_prepare(&e->ec);
        if (pc_shevent_is_set(e))
            return 0;
        int rc = pc__sh_sleep(&e->ec, t, &e->nwait, deadline);
        uint32_t now = atomic_load_explicit(&e->ec.word, memory_order_acquire);
        if ((now >> 1) != (t >> 1) || pc_shevent_is_set(e))
            return 0; /* a set happened while we slept */
        if (rc < 0)
            return rc;
    }
}

int pc__event_nwait(const void *obj) {
    return (int)atomic_load_explicit(&((pc_shevent *)obj)->nwait, memory_order_relaxed);
}
