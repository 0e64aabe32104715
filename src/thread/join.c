/*
 * pc_thread_join and pc_thread_result.
 *
 * A joiner checks the state (FINISHED: done; NEW: never started) and, if
 * the thread is still starting or running, queues a waiter on
 * rec->joiners under rec->guard and parks.  pc__thread_finish publishes
 * FINISHED and pops every joiner under the same guard, so a joiner either
 * sees FINISHED or is popped: no lost wake-up.  Being popped is the
 * wake-up (waiter.h): w.result says how it ended, 0 for finished, -ESRCH
 * when the start failed after the joiner queued.
 *
 * Joining is repeatable because nothing is consumed: FINISHED stays.
 *
 * Rejected: a pc_event per thread for "finished".  It would cost a second
 * allocation per thread and still need the record's guard for the state
 * machine; the record's own queue does the same with one guard.
 */
#include <errno.h>

#include "rec.h"

int pc__rec_join(pc__thread_rec *r, int64_t deadline) {
    /* acquire; pairs with the release store of FINISHED in
     * pc__thread_finish(): the thread's result and writes are visible */
    int st = atomic_load_explicit(&r->state, memory_order_acquire);
    if (st == PC__T_FINISHED)
        return 0;
    if (st == PC__T_NEW)
        return -ESRCH;
    pc__guard_lock(&r->guard);
    /* acquire: as above (the guard orders it too) */
    st = atomic_load_explicit(&r->state, memory_order_acquire);
    if (st == PC__T_FINISHED || st == PC__T_NEW) {
        pc__guard_unlock(&r->guard);
        return st == PC__T_NEW ? -ESRCH : 0;
    }
    if (deadline != PC__NO_DEADLINE && pc__mono_ns() >= deadline) {
        pc__guard_unlock(&r->guard);
        return -ETIMEDOUT;
    }
    pc__waiter w;
    pc__waiter_init(&w);
    pc__waitq_push(&r->joiners, &w);
    int rc = pc__wait(&r->guard, &r->joiners, &w, deadline);
    return rc ? rc : w.result;
}

/* Whether the caller is the thread `r` runs on.  Asked only while `r` is
 * not FINISHED (an ended thread's ident may be reused), and without
 * pc_thread_current(), which would register a foreign caller as a dummy. */
static bool is_caller(const pc_thread *t, pc__thread_rec *r) {
    if (pc__tls_self)
        return pc__tls_self == t;
    /* relaxed: the caller's own ident, or one it did not write */
    return atomic_load_explicit(&r->ident, memory_order_relaxed) == (unsigned long)pthread_self();
}

int pc_thread_join(pc_thread *t, double timeout) {
    int64_t deadline;
    if (!t || !t->_rec || pc__deadline(timeout, &deadline))
        return -EINVAL;
    pc__thread_rec *r = t->_rec;
    if (r->kind == PC__K_DUMMY)
        return -EINVAL; /* Python: "cannot join a dummy thread" */
    /* acquire; pairs with the release store of FINISHED in pc__thread_finish() */
    int st = atomic_load_explicit(&r->state, memory_order_acquire);
    if (st == PC__T_RUNNING && is_caller(t, r))
        return -EDEADLK;
    return pc__rec_join(r, deadline);
}

void *pc_thread_result(const pc_thread *t) {
    if (!t || !t->_rec)
        return NULL;
    /* acquire; pairs with the release store of FINISHED in pc__thread_finish() */
    if (atomic_load_explicit(&t->_rec->state, memory_order_acquire) != PC__T_FINISHED)
        return NULL;
    return t->_rec->result;
}
