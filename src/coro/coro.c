/*
 * pc_coro: stackful coroutines on the thread's loop.
 *
 * Life: spawn makes the object and schedules it (READY) unless
 * start_later (NEW).  The loop runs it on a stack taken at its first run
 * (so a coroutine killed before it ran needs none); it runs until it parks
 * or ends; at its end the entry function records the result, wakes the
 * joiners, schedules the links and switches away for the last time (to
 * the next coroutine of the turn or to the loop, see pc__loop_switch_out);
 * the context switched to then reaps it: gives the stack back and drops
 * the loop's reference.
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
    pc__waiter *joiners = c->joiners.head ? pc__waitq_take_all(&c->joiners, 0, NULL) : NULL;
    pc__callback *links = c->links;
    c->links = NULL;
    c->links_tail = &c->links;
    pc__guard_unlock(&c->guard);
    pc__waiter_wake_chain(joiners);
    pc__coro_schedule_links(c, links);
    c->state = PC__C_FINISHED;
}

static void coro_entry(void *arg);

/* ------------------------------------------------------------ switching */

/* What a switch to c sets first: c runs. */
static inline void enter(pc_loop *l, pc_coro *c) {
    pc__watch_tick(l, c);
    c->state = PC__C_RUNNING;
    l->current = c;
    pc__tls_coro = c;
    pc__tls_parker_ctx = c;
}

/* A coroutine ended in the switch that just returned: give back its
 * stack, which is no longer in use, and the loop's reference. */
static void reap(pc_loop *l) {
    pc_coro *z = l->zombie;
    if (!z)
        return;
    l->zombie = NULL;
    pc__tsan_fiber_destroy(z->tsan_fiber);
    pc__stack_put(&z->stack);
    l->live--;
    pc__watch_coro_end(l);
    pc__coro_release(z);
}

/* Its first run: false when it ends without running its body (killed
 * before it ran, or no stack to be had). */
static bool first_run(pc_loop *l, pc_coro *c) {
    /* relaxed: a flag for pc_coro_started(), which orders nothing by it */
    atomic_store_explicit(&c->started, true, memory_order_relaxed);
    int err = pc__coro_take_cancel(c) ? -ECANCELED : pc__stack_get(&c->stack, c->stack.size);
    if (err) {
        finish(c, err, NULL);
        l->live--;
        pc__watch_coro_end(l);
        pc__coro_release(c);
        return false;
    }
    pc__ctx_make(&c->ctx, c->stack.base, c->stack.size, coro_entry, c);
    c->tsan_fiber = pc__tsan_fiber_create();
    return true;
}

static inline bool runnable(pc_loop *l, pc_coro *c) {
    /* relaxed: only the owner thread (this one) stores it */
    return atomic_load_explicit(&c->started, memory_order_relaxed) || first_run(l, c);
}

static void coro_entry(void *arg) {
    pc_coro *c = arg;
    pc_loop *l = c->loop;
    /* first thing on a new stack: where the previous one lies, kept when
     * it is the loop's own stack (a switch back there needs it) */
    const void *bottom;
    size_t size;
    pc__asan_finish_switch(NULL, &bottom, &size);
    if (l->from_main) {
        l->main_bottom = bottom;
        l->main_size = size;
    }
    reap(l);
    void *value = NULL;
    int err = pc__coro_take_cancel(c) ? -ECANCELED : c->fn(c->arg, &value);
    finish(c, err, value);
    pc__loop_switch_out(l, true);
}

/*
 * Leave the running coroutine: switch straight to the next coroutine of
 * the turn when there is one (pc__loop_next), else back to the loop's own
 * context.  `final`: the coroutine has ended and will never run again; it
 * stays the loop's zombie until the context switched to reaps it (its
 * stack cannot be given back while the switch still runs on it).  Each
 * switch is annotated for the sanitizers (sanitize.h); a final one lets
 * ASan drop the coroutine's fake stack.
 */
void pc__loop_switch_out(pc_loop *l, bool final) {
    pc_coro *c = l->current, *n;
    if (final)
        l->zombie = c;
    while ((n = pc__loop_next(l)) && !runnable(l, n))
        ;
    if (n == c) { /* it yielded and is all there is to run */
        enter(l, c);
        return;
    }
    void **fake = final ? NULL : &c->asan_fake_stack;
    if (n) {
        enter(l, n);
        l->from_main = false;
        pc__asan_start_switch(fake, n->stack.base, n->stack.size);
        pc__tsan_fiber_switch(n->tsan_fiber);
        pc__ctx_switch(&c->ctx, &n->ctx);
    } else {
        pc__asan_start_switch(fake, l->main_bottom, l->main_size);
        pc__tsan_fiber_switch(l->main_tsan);
        pc__ctx_switch(&c->ctx, &l->main_ctx);
    }
    pc__asan_finish_switch(c->asan_fake_stack, NULL, NULL);
    reap(l);
}

/* From the loop's own context: run c, and whatever it hands over to,
 * until a coroutine switches back here. */
void pc__coro_run(pc_coro *c) {
    pc_loop *l = c->loop;
    if (!runnable(l, c))
        return;
    enter(l, c);
    l->from_main = true;
    pc__tls_parker = &pc__coro_parker;
    l->main_tsan = pc__tsan_fiber_current();
    pc__asan_start_switch(&l->main_fake, c->stack.base, c->stack.size);
    pc__tsan_fiber_switch(c->tsan_fiber);
    pc__ctx_switch(&l->main_ctx, &c->ctx);
    pc__asan_finish_switch(l->main_fake, NULL, NULL);
    pc__tls_coro = NULL;
    pc__tls_parker = NULL;
    pc__tls_parker_ctx = NULL;
    l->current = NULL;
    reap(l);
}

/* ---------------------------------------------------------------- API */

/*
 * Coroutine objects are kept for reuse by the loop of the thread that
 * frees them, up to CACHE_MAX, and given to that loop's spawns: a malloc
 * and a free cost about a fifth of a spawn (measured).  Not under ASan,
 * where a reused object would hide a use after free.
 */
#define CACHE_MAX (PC__ASAN ? 0 : 64)

static pc_coro *object_new(pc_loop *l) {
    pc_coro *c = l->coro_cache;
    if (!c)
        return pc__malloc(sizeof *c);
    l->coro_cache = c->next;
    l->coro_cached--;
    return c;
}

/* Every field of a new coroutine, set one by one: zeroing the whole
 * object took a third of pc_coro_spawn (a `rep stos`, measured). */
static void object_init(pc_coro *c, pc_loop *l, pc_coro_fn fn, void *arg, size_t stack_size) {
    atomic_init(&c->refs, 2);
    c->loop = l;
    c->fn = fn;
    c->arg = arg;
    c->state = PC__C_NEW;
    atomic_init(&c->finished, 0);
    atomic_init(&c->started, false);
    c->error = 0;
    c->value = NULL;
    atomic_init(&c->cancel, false);
    c->kills = 0;
    c->ctx.sp = NULL;
    c->stack = (pc__stack){.size = stack_size};
    c->parked_on = NULL;
    pc__timer_init(&c->timer, on_park_timeout);
    c->next = c->remote_next = NULL;
    atomic_init(&c->guard, 0);
    c->joiners = (pc__waitq){NULL, NULL};
    c->links = NULL;
    c->links_tail = &c->links;
    c->asan_fake_stack = NULL;
    c->tsan_fiber = NULL;
}

static void object_free(pc_coro *c) {
    pc_loop *l = pc__tls_loop;
    if (!l || l->coro_cached >= CACHE_MAX) {
        pc__free(c);
        return;
    }
    c->next = l->coro_cache;
    l->coro_cache = c;
    l->coro_cached++;
}

void pc__coro_cache_free(pc_loop *l) {
    for (pc_coro *c = l->coro_cache, *n; c; c = n) {
        n = c->next;
        pc__free(c);
    }
    l->coro_cache = NULL;
    l->coro_cached = 0;
}

/* Coroutine numbers for default names, unique in the process: each thread
 * takes them from the shared counter a block at a time (a locked
 * instruction per spawn cost a sixth of it, measured). */
#define NUMBER_BLOCK 1024
static _Thread_local unsigned long tl_number, tl_number_end;

static unsigned long next_number(void) {
    if (tl_number == tl_number_end) {
        tl_number = atomic_fetch_add(&coro_counter, NUMBER_BLOCK) + 1;
        tl_number_end = tl_number + NUMBER_BLOCK;
    }
    return tl_number++;
}

/* "Coro-N" without snprintf, which cost a third of a spawn (measured);
 * and only when the name is asked for, which most coroutines never are. */
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
    pc_coro *c = object_new(l);
    if (!c)
        return -ENOMEM;
    object_init(c, l, fn, arg, opts->stack_size);
    if (opts->name) {
        strcpy(c->name, opts->name);
        atomic_init(&c->name_state, NAME_READY);
    } else {
        c->number = next_number(); /* "Coro-N" is written when first asked for */
        atomic_init(&c->name_state, NAME_NUMBER);
    }
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
    /* The last reference needs no locked instruction: with refs at 1 no
     * one else holds one, so no one can add one.  acquire; pairs with the
     * release of the other holders' fetch_sub, so their accesses happen
     * before the free. */
    if (atomic_load_explicit(&c->refs, memory_order_acquire) == 1 ||
        atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        object_free(c); /* links hold references: none is left */
}

void pc_coro_free(pc_coro *c) {
    if (c)
        pc__coro_release(c);
}

pc_coro *pc_coro_current(void) {
    return pc__tls_coro;
}

const char *pc_coro_name(const pc_coro *c) {
    if (!c)
        return "";
    pc_coro *m = (pc_coro *)c; /* the name is written once, on first demand */
    /* acquire; pairs with the release store below */
    uint8_t st = atomic_load_explicit(&m->name_state, memory_order_acquire);
    if (st == NAME_READY)
        return c->name;
    if (st == NAME_NUMBER && atomic_compare_exchange_strong(&m->name_state, &st, NAME_WRITING)) {
        default_name(m->name, m->number);
        /* release; pairs with the acquire loads here */
        atomic_store_explicit(&m->name_state, NAME_READY, memory_order_release);
        return c->name;
    }
    while (atomic_load_explicit(&m->name_state, memory_order_acquire) != NAME_READY)
        pc__cpu_relax(); /* another thread writes it: a few stores */
    return c->name;
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
