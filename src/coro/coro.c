/*
 * pc_coro: stackful coroutines on the thread's loop.
 *
 * Life: spawn makes the object and schedules it (READY) unless
 * start_later (NEW).  The loop runs it on a stack taken at its first run
 * (so a coroutine killed before it ran needs none); it runs until it parks
 * or ends; at its end the entry function records the result, wakes the
 * joiners, schedules the links and switches to the loop for the last time;
 * the loop then gives the stack back and drops the loop's reference.
 *
 * Parking (pc__coro_parker, installed in pc__tls_parker while a coroutine
 * runs, so every primitive parks coroutines without knowing it): a parked
 * coroutine's waiter state is PARKED; exactly one of the waker (any
 * thread: exchange to WOKEN), the park's timer (owner: CAS to TIMEDOUT)
 * and a kill (owner: CAS to CANCELLED) sees PARKED and makes it ready, so
 * it is resumed once.  A waker that finds TIMEDOUT or CANCELLED still
 * leaves WOKEN behind: pc__wait() re-parks when a waker dequeued the
 * waiter, and that park then returns at once.
 *
 * Cancellation is a flag, delivered once: the next park returns
 * -ECANCELED and clears it.  If a committed wake-up wins over it
 * (pc__wait), the parker's `overridden` hook sets the flag again, so the
 * cancellation reaches the next blocking point instead of being lost.
 *
 * Memory: refs = the spawner's (pc_coro_free) + the loop's (until the end).
 * A waker touches a coroutine only after it saw PARKED, and a parked
 * coroutine cannot end, so it is alive.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal/alloc.h"
#include "../loop/loop-internal.h"
#include "sanitize.h"

_Thread_local pc_coro *pc__tls_coro;
static _Atomic unsigned long coro_counter;

/* ---------------------------------------------------------------- parker */

static void on_park_timeout(pc__timer *t) {
    pc_coro *c = (pc_coro *)((char *)t - offsetof(pc_coro, timer));
    uint32_t parked = PC__W_PARKED;
    if (c->parked_on &&
        atomic_compare_exchange_strong(&c->parked_on->state, &parked, (uint32_t)PC__W_TIMEDOUT))
        pc__loop_make_ready(c->loop, c);
}

static int coro_park(pc__waiter *w, int64_t deadline) {
    pc_coro *c = w->ctx;
    uint32_t s = atomic_load(&w->state);
    if (s == PC__W_WOKEN)
        return 0;
    if (pc__coro_take_cancel(c))
        return -ECANCELED;
    /* deadline 0: a withdrawal (pc__wait), decided without the clock */
    if (deadline != PC__NO_DEADLINE && (deadline == 0 || deadline <= pc__mono_ns()))
        return -ETIMEDOUT; /* pc__wait then settles any racing wake-up */
    /* Announce PARKED only now: a waker that comes earlier finds the
     * waiter not parked, leaves WOKEN and schedules nothing (the
     * coroutine is running and sees WOKEN here). */
    if (!atomic_compare_exchange_strong(&w->state, &s, PC__W_PARKED))
        return 0; /* it became WOKEN */
    if (deadline != PC__NO_DEADLINE && pc__timer_arm(c->loop, &c->timer, deadline))
        deadline = PC__NO_DEADLINE; /* no memory for the heap: wait without limit */
    c->parked_on = w;
    c->state = PC__C_PARKED;
    pc__loop_switch_out(c->loop, false);
    c->parked_on = NULL;
    pc__timer_disarm(c->loop, &c->timer);
    switch (atomic_load(&w->state)) {
    case PC__W_WOKEN: return 0;
    case PC__W_TIMEDOUT: return -ETIMEDOUT;
    case PC__W_CANCELLED: atomic_store(&c->cancel, false); return -ECANCELED;
    default: abort(); /* resumed while parked: a scheduling bug */
    }
}

static void coro_wake(pc__waiter *w) {
    pc_coro *c = w->ctx;
    pc_loop *l = c->loop;
    if (atomic_exchange(&w->state, PC__W_WOKEN) != PC__W_PARKED)
        return; /* not parked yet, or resumed already by its timer or a kill */
    if (pc__loop_on_owner(l))
        pc__loop_make_ready(l, c);
    else
        pc__loop_make_ready_remote(l, c);
}

static void coro_overridden(pc__waiter *w, int r) {
    if (r == -ECANCELED)
        atomic_store(&((pc_coro *)w->ctx)->cancel, true);
}

const pc__parker pc__coro_parker = {coro_park, coro_wake, coro_overridden};

/* ------------------------------------------------------------- running */

static void finish(pc_coro *c, int err, void *value) {
    c->error = err;
    c->value = value;
    pc__guard_lock(&c->guard);
    /* release; pairs with the acquire loads in pc_coro_ready() & co */
    atomic_store_explicit(&c->finished, 1, memory_order_release);
    pc__waiter *chain = pc__waitq_take_all(&c->joiners, 0, NULL);
    pc__guard_unlock(&c->guard);
    pc__waiter_wake_chain(chain);
    pc__coro_schedule_links(c);
    c->state = PC__C_FINISHED;
}

static void coro_entry(void *arg) {
    pc_coro *c = arg;
    /* first thing on a new stack: where the loop's own stack lies */
    pc__asan_finish_switch(NULL, &c->loop->main_bottom, &c->loop->main_size);
    void *value = NULL;
    int err = pc__coro_take_cancel(c) ? -ECANCELED : c->fn(c->arg, &value);
    finish(c, err, value);
    pc__loop_switch_out(c->loop, true);
}

/* The switch from the running coroutine back to its loop, annotated for
 * the sanitizers (sanitize.h).  `final`: the coroutine will never run
 * again, so ASan drops its fake stack. */
void pc__loop_switch_out(pc_loop *l, bool final) {
    pc_coro *c = l->current;
    pc__asan_start_switch(final ? NULL : &c->asan_fake_stack, l->main_bottom, l->main_size);
    pc__tsan_fiber_switch(l->main_tsan);
    pc__ctx_switch(&c->ctx, &l->main_ctx);
    pc__asan_finish_switch(c->asan_fake_stack, NULL, NULL);
}

void pc__coro_run(pc_coro *c) {
    pc_loop *l = c->loop;
    if (!atomic_load(&c->started)) {
        atomic_store(&c->started, true);
        if (pc__coro_take_cancel(c)) { /* killed before it ran */
            finish(c, -ECANCELED, NULL);
            l->live--;
            pc__watch_coro_end(l);
            pc__coro_release(c);
            return;
        }
        int r = pc__stack_get(&c->stack, c->stack.size);
        if (r) {
            finish(c, r, NULL);
            l->live--;
            pc__watch_coro_end(l);
            pc__coro_release(c);
            return;
        }
        pc__ctx_make(&c->ctx, c->stack.base, c->stack.size, coro_entry, c);
        c->tsan_fiber = pc__tsan_fiber_create();
    }
    c->state = PC__C_RUNNING;
    l->current = c;
    pc__tls_coro = c;
    pc__tls_parker = &pc__coro_parker;
    pc__tls_parker_ctx = c;
    l->main_tsan = pc__tsan_fiber_current();
    pc__asan_start_switch(&l->main_fake, c->stack.base, c->stack.size);
    pc__tsan_fiber_switch(c->tsan_fiber);
    pc__ctx_switch(&l->main_ctx, &c->ctx);
    pc__asan_finish_switch(l->main_fake, NULL, NULL);
    pc__tls_coro = NULL;
    pc__tls_parker = NULL;
    pc__tls_parker_ctx = NULL;
    l->current = NULL;
    if (c->state == PC__C_FINISHED) {
        pc__tsan_fiber_destroy(c->tsan_fiber);
        pc__stack_put(&c->stack);
        l->live--;
        pc__watch_coro_end(l);
        pc__coro_release(c);
    }
}

/* ---------------------------------------------------------------- API */

/* "Coro-N" without snprintf, which cost a third of a spawn (measured). */
static void default_name(char *buf, unsigned long n) {
    char digits[24];
    int len = 0;
    do
        digits[len++] = (char)('0' + n % 10);
    while ((n /= 10) > 0);
    memcpy(buf, "Coro-", 5);
    for (int i = 0; i < len; i++)
        buf[5 + i] = digits[len - 1 - i];
    buf[5 + len] = '\0';
}

int pc_coro_spawn(pc_coro **out, pc_coro_fn fn, void *arg, const pc_coro_opts *opts) {
    static const pc_coro_opts defaults = {0};
    if (!out || !fn)
        return -EINVAL;
    if (!opts)
        opts = &defaults;
    if (opts->name && strlen(opts->name) >= sizeof((pc_coro *)0)->name)
        return -EINVAL;
    pc_loop *l = opts->loop ? opts->loop : pc__loop_of_thread();
    if (!l)
        return -ENOMEM;
    if (!pc__loop_on_owner(l))
        return -EPERM;
    pc_coro *c = pc__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    atomic_init(&c->refs, 2);
    c->loop = l;
    c->fn = fn;
    c->arg = arg;
    c->stack.size = opts->stack_size;
    if (opts->name)
        strcpy(c->name, opts->name);
    else
        default_name(c->name, atomic_fetch_add(&coro_counter, 1) + 1);
    c->links_tail = &c->links;
    pc__timer_init(&c->timer, on_park_timeout);
    l->live++;
    if (opts->start_later)
        c->state = PC__C_NEW;
    else
        pc__loop_make_ready(l, c);
    *out = c;
    return 0;
}

int pc_coro_start(pc_coro *c) {
    if (!c)
        return -EINVAL;
    if (!pc__loop_on_owner(c->loop))
        return -EPERM;
    if (c->state != PC__C_NEW)
        return -EALREADY;
    pc__loop_make_ready(c->loop, c);
    return 0;
}

void pc__coro_release(pc_coro *c) {
    if (atomic_fetch_sub(&c->refs, 1) == 1) {
        pc__free(c); /* links hold references: none is left */
    }
}

void pc_coro_free(pc_coro *c) {
    if (c)
        pc__coro_release(c);
}

pc_coro *pc_coro_current(void) {
    return pc__tls_coro;
}

const char *pc_coro_name(const pc_coro *c) {
    return c ? c->name : "";
}

bool pc_coro_started(const pc_coro *c) {
    return c && atomic_load(&((pc_coro *)c)->started);
}

bool pc_coro_ready(const pc_coro *c) {
    return c && atomic_load_explicit(&((pc_coro *)c)->finished, memory_order_acquire);
}

bool pc_coro_successful(const pc_coro *c) {
    return pc_coro_ready(c) && c->error == 0;
}

void *pc_coro_value(const pc_coro *c) {
    return pc_coro_successful(c) ? c->value : NULL;
}

int pc_coro_error(const pc_coro *c) {
    if (!c)
        return -EINVAL;
    return pc_coro_ready(c) ? c->error : -EAGAIN;
}
