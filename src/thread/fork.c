/*
 * Threads across fork(): the child has only the thread that forked.
 *
 * prepare (parent, forking thread): take the registry guard, so no thread
 *   is between leaving the registry and reaching FINISHED (both happen
 *   under it, thread.c) and the list is whole.
 * parent: drop it.
 * child: every registered record except the forking thread's is marked
 *   FINISHED with native id -1 and leaves the registry, so a join of it
 *   returns 0 at once instead of hanging on a thread that does not exist;
 *   a pyconc thread's record loses the reference its (vanished) thread
 *   held.  Guards and wait queues of the records still reachable are
 *   reset: their holders and waiters were other threads.  The forking
 *   thread becomes the child's main thread: its own record if it has one
 *   (a pyconc thread or a dummy), else the static "MainThread" record,
 *   given this thread's ident.  Then the registry guard is reset.
 *
 * A dead dummy's record lives in its thread's TLS, i.e. in that thread's
 * stack mapping, which glibc keeps in its stack cache in the child; the
 * child handler touches it once, before anything can reuse that memory.
 *
 * Rejected: leaving the records alone and letting the child call
 * pc_thread_join on them: it would wait forever for a FINISHED that no
 * thread will ever publish.
 */
#include <unistd.h>

#include "rec.h"

static void fork_prepare(void) {
    pc__registry_lock();
}
static void fork_parent(void) {
    pc__registry_unlock();
}

/* Relaxed throughout: the child has one thread, nothing to order with. */
static void reset_sync(pc__thread_rec *r) {
    atomic_store_explicit(&r->guard, 0, memory_order_relaxed);
    r->joiners.head = r->joiners.tail = NULL;
    r->starters.head = r->starters.tail = NULL;
}

static void mark_dead(pc__thread_rec *r) {
    pc__registry_remove(r);
    reset_sync(r);
    atomic_store_explicit(&r->native_id, -1, memory_order_relaxed);
    atomic_store_explicit(&r->state, PC__T_FINISHED, memory_order_relaxed);
    pc__rec_release(r); /* a no-op for the main record and dummies */
}

static void fork_child(void) {
    pc__thread_rec *me = pc__tls_self ? pc__tls_self->_rec : pc__main_rec();
    pc__thread_rec *next;
    for (pc__thread_rec *r = pc__registry_head(); r; r = next) {
        next = r->next;
        if (r != me)
            mark_dead(r);
    }
    reset_sync(me);
    atomic_store_explicit(&me->state, PC__T_RUNNING, memory_order_relaxed);
    atomic_store_explicit(&me->ident, (unsigned long)pthread_self(), memory_order_relaxed);
    atomic_store_explicit(&me->native_id, (long)gettid(), memory_order_relaxed);
    pc__registry_add(me);
    pc__set_main_rec(me);
    pc__tls_self = me->obj;
    pc__registry_reset_after_fork();
}

void pc__fork_handlers_install(void) {
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}
