/*
 * The registry of alive threads: threading.enumerate() and active_count().
 *
 * One doubly linked list through the records, under one guard.  It holds
 * the main thread, every pyconc thread from the moment its start begins
 * until it finishes (Python lists threads in its `_limbo` too), and the
 * dummies of foreign threads that asked for their object.  The links live
 * in the records, so registering never allocates and cannot fail.
 *
 * The guard is held only for list operations and, in pc__thread_finish,
 * across the record's own guard (lock order in rec.h); never across a
 * park.  The fork handlers (fork.c) hold it across fork(), so the child
 * sees the list in one piece.
 *
 * Rejected: a hash table keyed by ident, as Python's `_active` dict.  No
 * call looks a thread up by ident; enumerate walks everything anyway.
 */
#include <errno.h>

#include "rec.h"

static pc__guard reg_guard;
static pc__thread_rec *reg_head, *reg_tail; /* guarded by reg_guard */

void pc__registry_lock(void) {
    pc__guard_lock(&reg_guard);
}
void pc__registry_unlock(void) {
    pc__guard_unlock(&reg_guard);
}
pc__thread_rec *pc__registry_head(void) {
    return reg_head;
}

void pc__registry_add(pc__thread_rec *r) {
    if (r->registered)
        return;
    r->next = NULL;
    r->prev = reg_tail;
    if (reg_tail)
        reg_tail->next = r;
    else
        reg_head = r;
    reg_tail = r;
    r->registered = true;
}

void pc__registry_remove(pc__thread_rec *r) {
    if (!r->registered)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        reg_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        reg_tail = r->prev;
    r->next = r->prev = NULL;
    r->registered = false;
}

/* In a fork child: release the hold the prepare handler took, without a
 * futex wake (nobody else exists to wake); the list itself is intact. */
void pc__registry_reset_after_fork(void) {
    /* relaxed: the child has one thread */
    atomic_store_explicit(&reg_guard, 0, memory_order_relaxed);
}

int pc_thread_enumerate(pc_thread **out, int cap) {
    if (cap < 0 || (cap > 0 && !out))
        return -EINVAL;
    pc__thread_module_init();
    int n = 0;
    pc__registry_lock();
    for (pc__thread_rec *r = reg_head; r; r = r->next) {
        if (n < cap)
            out[n] = r->obj;
        n++;
    }
    pc__registry_unlock();
    return n;
}

int pc_thread_active_count(void) {
    return pc_thread_enumerate(NULL, 0);
}
