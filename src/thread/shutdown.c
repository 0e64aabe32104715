/*
 * The exit-time wait: pc_thread_shutdown() and pc_thread_wait_at_exit().
 *
 * C ends every thread when the process exits; Python instead joins its
 * non-daemon threads first (threading._shutdown).  pc_thread_shutdown is
 * that join, on request: it repeatedly picks a started, unfinished,
 * non-daemon pyconc thread from the registry (not the caller), holds a
 * reference to its record, drops the registry guard and joins it against
 * one deadline for the whole call.  It stops when a pass finds none, so
 * threads started meanwhile (by the threads being joined) are joined too.
 *
 * pc_thread_wait_at_exit(true) registers, once, an atexit handler that
 * does pc_thread_shutdown(PC_FOREVER) while the flag is on.
 *
 * Rejected: snapshotting the registry and joining the snapshot.  It would
 * miss threads started during the wait, which Python's _shutdown waits
 * for; the rescan costs O(n) per joined thread, nothing next to a join.
 */
#include <errno.h>
#include <stdlib.h>

#include "rec.h"

static pc__thread_rec *next_to_join(const pc__thread_rec *self) {
    pc__thread_rec *found = NULL;
    pc__registry_lock();
    for (pc__thread_rec *r = pc__registry_head(); r && !found; r = r->next) {
        /* relaxed: FINISHED is written under the registry guard we hold */
        if ((r->kind == PC__K_CLASS || r->kind == PC__K_FUNC) && !r->daemon && r != self &&
            atomic_load_explicit(&r->state, memory_order_relaxed) != PC__T_FINISHED)
            found = r;
    }
    if (found)
        pc__rec_retain(found); /* registered: the thread's reference keeps it */
    pc__registry_unlock();
    return found;
}

int pc_thread_shutdown(double timeout) {
    int64_t deadline;
    if (pc__deadline(timeout, &deadline))
        return -EINVAL;
    /* not pc_thread_current(): a foreign caller need not become a dummy */
    const pc__thread_rec *self = pc__tls_self ? pc__tls_self->_rec : NULL;
    for (;;) {
        pc__thread_rec *r = next_to_join(self);
        if (!r)
            return 0;
        int rc = pc__rec_join(r, deadline);
        pc__rec_release(r);
        if (rc == -ETIMEDOUT)
            return rc;
    }
}

static _Atomic bool wait_at_exit; /* seq_cst: a flag read once at exit */
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;
static int atexit_rc; /* written once under atexit_once */

static void at_exit(void) {
    if (atomic_load(&wait_at_exit))
        pc_thread_shutdown(PC_FOREVER);
}

static void register_at_exit(void) {
    atexit_rc = atexit(at_exit) ? -ENOMEM : 0;
}

int pc_thread_wait_at_exit(bool on) {
    atomic_store(&wait_at_exit, on);
    if (!on)
        return 0;
    pthread_once(&atexit_once, register_at_exit);
    return atexit_rc;
}
