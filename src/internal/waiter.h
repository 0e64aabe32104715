/*
 * The waiter: pyconc's one way to wait (ARCHITECTURE.md, decision 1).
 *
 * Every blocking primitive keeps a wait queue (pc__waitq) under a guard.
 * A caller that must block puts a pc__waiter, living on its own stack, on
 * that queue while holding the guard, then calls pc__wait(), which drops
 * the guard and parks.  A waker takes the guard, pops waiters (deciding,
 * under the guard, what each one gets: a permit, an item, a notify), drops
 * the guard and calls pc__waiter_wake() on each.
 *
 * The rule that makes timeouts safe: *being dequeued by a waker is the
 * wake-up*.  A waiter whose deadline passes takes the guard; if it is still
 * queued it removes itself and reports -ETIMEDOUT; if a waker already
 * dequeued it, the wake-up won the race and the waiter waits for it to
 * land (it is already committed) and reports success.  So nothing a waker
 * hands over is ever lost.
 *
 * How a waiter parks is its parker's business: threads spin briefly, then
 * sleep on a futex in the waiter itself; the coroutine module installs a
 * parker of its own per thread (pc__tls_parker) that switches to the loop.
 * The primitives never know which kind waits on them.
 */
#ifndef PC_INTERNAL_WAITER_H
#define PC_INTERNAL_WAITER_H

#include <stdbool.h>
#include <stdint.h>

#include "guard.h"
#include "pyconc/base.h"

/* pc__waiter.state */
enum {
    PC__W_SPINNING = 0, /* parked, spinning or about to sleep */
    PC__W_SLEEPING = 1, /* parked on the futex: the waker must futex_wake */
    PC__W_WOKEN = 2,    /* woken: the waiter may return and its memory die */
};

typedef struct pc__waiter pc__waiter;

/* How one kind of waiter (thread, coroutine) parks and is woken. */
typedef struct pc__parker {
    /* Block until w->state is PC__W_WOKEN (return 0), the absolute
     * deadline passes (-ETIMEDOUT) or the parked entity is cancelled
     * (-ECANCELED).  Never touches the wait queue. */
    int (*park)(pc__waiter *w, int64_t deadline);
    /* Make w->state PC__W_WOKEN and get the waiter running.  After this
     * call begins, `w` may be freed by its owner at any moment. */
    void (*wake)(pc__waiter *w);
    /* Optional: park() answered `r` (a timeout, a cancellation) but a
     * committed wake-up won; the parker may carry `r` over (a coroutine
     * keeps a cancellation pending for its next blocking point). */
    void (*overridden)(pc__waiter *w, int r);
} pc__parker;

struct pc__waiter {
    pc__waiter *next, *prev;  /* guarded by the queue's guard */
    bool queued;              /* guarded by the queue's guard */
    _Atomic uint32_t state;   /* PC__W_*; see the parkers for the pairings */
    int result;               /* set by the waker before waking: primitive-specific */
    uintptr_t data;           /* primitive-specific payload, both directions */
    const pc__parker *parker; /* fixed at init */
    void *ctx;                /* the parker's own (the coroutine) */
};

/* pc__waitq (head, tail) is defined in pyconc/base.h, so that public
 * caller-storage primitives can embed one; both fields are guarded by the
 * owner's guard. */

/* The parker of code running on this thread now; NULL means the thread
 * parker.  The coroutine module sets both while it runs a coroutine. */
extern _Thread_local const pc__parker *pc__tls_parker;
extern _Thread_local void *pc__tls_parker_ctx;
extern const pc__parker pc__thread_parker;

/* Identity of the caller for ownership (RLock): the running coroutine,
 * else the thread.  Never 0. */
uintptr_t pc__self_id(void);

static inline void pc__waiter_init(pc__waiter *w) {
    w->next = w->prev = 0;
    w->queued = false;
    atomic_init(&w->state, PC__W_SPINNING);
    w->result = 0;
    w->data = 0;
    w->parker = pc__tls_parker ? pc__tls_parker : &pc__thread_parker;
    w->ctx = pc__tls_parker_ctx;
}

static inline bool pc__waitq_empty(const pc__waitq *q) {
    return q->head == 0;
}

/* All with the guard held. */
void pc__waitq_push(pc__waitq *q, pc__waiter *w);
void pc__waitq_push_front(pc__waitq *q, pc__waiter *w);
pc__waiter *pc__waitq_pop(pc__waitq *q);
void pc__waitq_remove(pc__waitq *q, pc__waiter *w);
/* Dequeue every waiter, giving each `result`; returns the chain (linked
 * through ->next, for pc__waiter_wake_chain) and its length in *n (if n). */
pc__waiter *pc__waitq_take_all(pc__waitq *q, int result, unsigned *n);

/*
 * Park `w`, which the caller queued on `q` while holding `g`.  Drops `g`.
 * Returns without the guard: 0 when a waker dequeued w (w->result and
 * w->data hold what it left), -ETIMEDOUT / -ECANCELED when w gave up and
 * removed itself.
 */
int pc__wait(pc__guard *g, pc__waitq *q, pc__waiter *w, int64_t deadline);
/* For a waiter that a waker took off its queue (w->queued is false) but
 * may not have woken yet: wait until the wake-up lands.  A cancellation
 * that comes meanwhile is kept for the next blocking point. */
void pc__waiter_await_committed(pc__waiter *w);

/* Wake a waiter popped under the guard; call after dropping the guard. */
static inline void pc__waiter_wake(pc__waiter *w) {
    w->parker->wake(w);
}

/* Wake a chain of popped waiters linked through ->next. */
static inline void pc__waiter_wake_chain(pc__waiter *w) {
    while (w) {
        pc__waiter *next = w->next; /* read before the wake: w may die then */
        pc__waiter_wake(w);
        w = next;
    }
}

/* Bounded spinning: how many polls a parker makes before it sleeps; 0 on
 * a single processor, where spinning only delays the thread it waits for. */
int pc__spin_limit(void);

#endif
