/*
 * A thread's attributes: name, ident, native id, liveness, daemon flag.
 *
 * The name lives in the record (64 bytes, no allocation).  Renaming writes
 * it in place: a concurrent reader races, as the header says, so programs
 * name threads before starting them.  The OS-level name (15 bytes) is set
 * by the thread itself when it starts, and on a rename: directly when a
 * thread renames itself, else under rec->guard while the thread is
 * RUNNING.  Holding the guard keeps the thread from reaching FINISHED
 * (pc__thread_finish needs the guard), so the pthread_t handed to
 * pthread_setname_np still names a live thread.
 *
 * Ids are atomics written by the thread before it publishes RUNNING; the
 * starter reads them after start returned, others may read them any time.
 *
 * Rejected: setting the OS name only from the thread itself (Python 3.14
 * does that).  The brief of this module asks for the OS name to follow a
 * rename of a running thread, which the guard makes safe.
 */
#include <errno.h>
#include <string.h>

#include "rec.h"

const char *pc_thread_name(const pc_thread *t) {
    return t && t->_rec ? t->_rec->name : "";
}

int pc_thread_set_name(pc_thread *t, const char *name) {
    if (!t || !t->_rec || !name)
        return -EINVAL;
    size_t n = strnlen(name, PC__NAME_MAX + 1);
    if (n > PC__NAME_MAX)
        return -EINVAL;
    pc__thread_rec *r = t->_rec;
    memcpy(r->name, name, n + 1);
    if (pc__tls_self == t) {
        pc__rec_set_os_name(pthread_self(), r->name);
        return 0;
    }
    /* acquire; pairs with the release store of RUNNING in thread_entry() */
    if (atomic_load_explicit(&r->state, memory_order_acquire) != PC__T_RUNNING)
        return 0;
    pc__guard_lock(&r->guard);
    /* relaxed: under the guard, which orders them against thread_entry() and
     * pc__thread_finish() (both write under it) */
    unsigned long id = atomic_load_explicit(&r->ident, memory_order_relaxed);
    if (atomic_load_explicit(&r->state, memory_order_relaxed) == PC__T_RUNNING && id)
        pc__rec_set_os_name((pthread_t)id, r->name);
    pc__guard_unlock(&r->guard);
    return 0;
}

unsigned long pc_thread_ident(const pc_thread *t) {
    if (!t || !t->_rec)
        return 0;
    /* relaxed: the id is a snapshot; the owner reads it after start, which
     * the release store of RUNNING ordered */
    return atomic_load_explicit(&t->_rec->ident, memory_order_relaxed);
}

long pc_thread_native_id(const pc_thread *t) {
    if (!t || !t->_rec)
        return 0;
    /* relaxed: as pc_thread_ident */
    return atomic_load_explicit(&t->_rec->native_id, memory_order_relaxed);
}

bool pc_thread_is_alive(const pc_thread *t) {
    /* acquire; pairs with the release stores of RUNNING / FINISHED */
    return t && t->_rec &&
           atomic_load_explicit(&t->_rec->state, memory_order_acquire) == PC__T_RUNNING;
}

bool pc_thread_is_daemon(const pc_thread *t) {
    return t && t->_rec && t->_rec->daemon;
}

int pc_thread_set_daemon(pc_thread *t, bool daemon) {
    if (!t || !t->_rec)
        return -EINVAL;
    pc__thread_rec *r = t->_rec;
    /* relaxed: a racing start is the caller's race (docs/thread.md); a start
     * that went before is ordered by the caller's own program order */
    if (r->kind == PC__K_MAIN || r->kind == PC__K_DUMMY ||
        atomic_load_explicit(&r->state, memory_order_relaxed) != PC__T_NEW)
        return -EBUSY;
    r->daemon = daemon;
    return 0;
}
