/*
 * The waiter and the thread parker.  See waiter.h for the protocol.
 *
 * Thread parker.  A parked thread polls w->state for a bounded number of
 * rounds (a wake-up across CPUs costs tens of microseconds on a virtual
 * machine; a short poll often sees the wake-up first and saves both the
 * sleep and the waker's futex_wake), then announces SPINNING -> SLEEPING
 * with a CAS and sleeps on the futex.  The waker exchanges the state to
 * WOKEN and calls futex_wake only if it saw SLEEPING, so a wake-up that
 * arrives during the poll costs no system call.  The exchange is release
 * and the waiter's loads are acquire: whatever the waker wrote before it
 * (w->result, w->data, the primitive's state) is visible to the waiter.
 *
 * Rejected: one futex word per thread (a "parker" in TLS) shared by all
 * waits.  It saves nothing (the waiter is on the stack anyway) and needs a
 * token protocol against stale wake-ups from earlier waits; a futex word in
 * each waiter cannot receive a stale wake-up.
 */
#include "waiter.h"

#include "blocking.h"

#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

_Thread_local const pc__parker *pc__tls_parker;
_Thread_local void *pc__tls_parker_ctx;

static _Thread_local char tls_identity;

uintptr_t pc__self_id(void) {
    if (pc__tls_parker_ctx)
        return (uintptr_t)pc__tls_parker_ctx;
    return (uintptr_t)&tls_identity;
}

int pc__spin_limit(void) {
    static _Atomic int limit = -1;
    int l = atomic_load_explicit(&limit, memory_order_relaxed);
    if (l < 0) {
        l = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 200 : 0;
        atomic_store_explicit(&limit, l, memory_order_relaxed);
    }
    return l;
}

void pc__guard_lock_slow(pc__guard *g) {
    int spins = pc__spin_limit();
    for (int i = 0; i < spins; i++) {
        pc__cpu_relax();
        uint32_t free_ = 0;
        if (atomic_load_explicit(g, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(g, &free_, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
    }
    /* acquire; pairs with the release exchange in pc__guard_unlock() */
    while (atomic_exchange_explicit(g, 2, memory_order_acquire) != 0)
        pc__futex_wait(g, 2, PC__NO_DEADLINE);
}

void pc__waitq_push(pc__waitq *q, pc__waiter *w) {
    w->next = 0;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    w->queued = true;
}

void pc__waitq_push_front(pc__waitq *q, pc__waiter *w) {
    w->prev = 0;
    w->next = q->head;
    if (q->head)
        q->head->prev = w;
    else
        q->tail = w;
    q->head = w;
    w->queued = true;
}

void pc__waitq_remove(pc__waitq *q, pc__waiter *w) {
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = 0;
    w->queued = false;
}

pc__waiter *pc__waitq_pop(pc__waitq *q) {
    pc__waiter *w = q->head;
    if (w)
        pc__waitq_remove(q, w);
    return w;
}

/*
 * Adaptive polling.  Each thread keeps a poll budget: it doubles when a
 * poll saw its wake-up (polling pays: the waker runs on another CPU and
 * answers quickly), and halves when the thread had to sleep anyway (the
 * poll was wasted, and on a loaded machine it even delays the waker by
 * holding a CPU it needs).  A floor keeps probing, so the budget can grow
 * back when polling starts paying again.
 */
enum { POLL_FLOOR = 16 };
static _Thread_local int tls_poll_budget = -1;

static int poll_budget(void) {
    if (tls_poll_budget < 0)
        tls_poll_budget = pc__spin_limit();
    return tls_poll_budget;
}

static void poll_feedback(bool caught) {
    int limit = pc__spin_limit();
    int b = caught ? tls_poll_budget * 2 : tls_poll_budget / 2;
    tls_poll_budget = b < POLL_FLOOR ? (limit ? POLL_FLOOR : 0) : b > limit ? limit : b;
}

pc__waiter *pc__waitq_take_all(pc__waitq *q, int result, unsigned *n) {
    pc__waiter *chain = q->head;
    unsigned count = 0;
    for (pc__waiter *w = chain; w; w = w->next, count++) {
        w->queued = false;
        w->result = result;
    }
    q->head = q->tail = 0;
    if (n)
        *n = count;
    return chain;
}

/* Block until WOKEN or the deadline; the poll then the futex. */
static int thread_park(pc__waiter *w, int64_t deadline) {
    if (deadline != PC__NO_DEADLINE && pc__mono_ns() >= deadline)
        return atomic_load_explicit(&w->state, memory_order_acquire) == PC__W_WOKEN ? 0
                                                                                    : -ETIMEDOUT;
    int spins = poll_budget();
    for (int i = 0; i < spins; i++) {
        /* acquire; pairs with the release exchange in thread_wake() */
        if (atomic_load_explicit(&w->state, memory_order_acquire) == PC__W_WOKEN) {
            poll_feedback(true);
            return 0;
        }
        pc__cpu_relax();
    }
    if (spins)
        poll_feedback(false);
    uint32_t seen = PC__W_SPINNING;
    /* acquire (on failure: the state may be WOKEN); pairs as above.  It may
     * also be SLEEPING already, when a timed-out wait parks again. */
    if (!atomic_compare_exchange_strong_explicit(&w->state, &seen, PC__W_SLEEPING,
                                                 memory_order_acquire, memory_order_acquire) &&
        seen == PC__W_WOKEN)
        return 0;
    pc_gil *gil = pc__blocking_begin(); /* an attached thread sleeps without its GIL */
    int r;
    for (;;) {
        r = pc__futex_wait(&w->state, PC__W_SLEEPING, deadline);
        /* acquire; pairs with the release exchange in thread_wake() */
        if (atomic_load_explicit(&w->state, memory_order_acquire) == PC__W_WOKEN) {
            r = 0;
            break;
        }
        if (r == -ETIMEDOUT)
            break;
    }
    pc__blocking_end(gil);
    return r;
}

static void thread_wake(pc__waiter *w) {
    /* release; pairs with the acquire loads in thread_park() */
    if (atomic_exchange_explicit(&w->state, PC__W_WOKEN, memory_order_release) == PC__W_SLEEPING)
        pc__futex_wake(&w->state, 1); /* w may be gone already: the address is only a key */
}

const pc__parker pc__thread_parker = {thread_park, thread_wake, NULL};

int pc__wait(pc__guard *g, pc__waitq *q, pc__waiter *w, int64_t deadline) {
    pc__guard_unlock(g);
    int r = w->parker->park(w, deadline);
    if (r == 0)
        return 0;
    pc__guard_lock(g);
    if (w->queued) {
        pc__waitq_remove(q, w);
        pc__guard_unlock(g);
        return r;
    }
    pc__guard_unlock(g);
    /* A waker dequeued w before we could: its wake-up is committed and
     * wins. */
    pc__waiter_await_committed(w);
    if (w->parker->overridden)
        w->parker->overridden(w, r);
    return 0;
}

void pc__waiter_await_committed(pc__waiter *w) {
    /* Without a deadline: the wake-up is imminent.  A park may still end
     * early, cancelled: the cancellation must outlive this wait (handed
     * back once it landed, or the next park would end at once again). */
    int r, cancelled = 0;
    while ((r = w->parker->park(w, PC__NO_DEADLINE)) != 0)
        cancelled = r;
    if (cancelled && w->parker->overridden)
        w->parker->overridden(w, cancelled);
}
