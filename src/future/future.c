/*
 * pc_future: concurrent.futures.Future, the state machine.
 *
 * A state word, an outcome, and three lists under one guard: the callers
 * waiting for this future alone (a waitq: pc__wait parks threads and
 * coroutines alike), the watch sets of callers waiting for several
 * futures (wait.c), and the done callbacks.
 *
 * Settling (pc__future_settle): under the guard, check the state, write
 * the outcome, store the final state (release), take the waiters, notify
 * every linked watch set (each under its own guard: lock order in
 * future-internal.h) and take the callbacks.  Drop the guard, wake the
 * waiters, return the callbacks to the caller, which runs them.  A waiter
 * checks the state and queues itself under the same guard, so it either
 * sees the future done or is dequeued by the settle: no lost wake-up.  A
 * callback is added under the guard only while the future is not done;
 * otherwise the adder runs it: each callback runs exactly once.
 *
 * The outcome is written before the release store of the final state and
 * never changes after, so the readers that load the state with acquire
 * (pc_future_done, the result calls after their wait) read it without
 * the guard.
 *
 * Rejected: a pc_event per future for the waiting.  It would need a
 * second guard and still no place for the watch sets; the waitq is the
 * event's own mechanism, inline.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "future-internal.h"

/* The future's size rounded up so that the extra bytes are aligned. */
#define FUTURE_HEAD ((sizeof(pc_future) + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1))

int pc__future_new_ext(pc_future **f, long refs, size_t extra, void **ext) {
    if (extra > SIZE_MAX - FUTURE_HEAD)
        return -ENOMEM;
    pc_future *n = pc__malloc(FUTURE_HEAD + extra);
    if (!n)
        return -ENOMEM;
    /* only the future's head is zeroed: the extra bytes are the caller's,
     * and `small` is written before it is read */
    memset(n, 0, offsetof(pc_future, small));
    atomic_init(&n->refs, refs);
    n->cbs_tail = &n->cbs;
    *f = n;
    if (ext)
        *ext = (unsigned char *)n + FUTURE_HEAD;
    return 0;
}

int pc_future_new(pc_future **f) {
    if (!f)
        return -EINVAL;
    return pc__future_new_ext(f, 1, 0, NULL);
}

pc_future *pc_future_retain(pc_future *f) {
    if (f)
        /* relaxed: a new reference is made from one the caller holds */
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

static void future_free(pc_future *f) {
    if (f->waiters.head || f->watch_head) {
        fputs("pyconc: pc_future_release of the last reference while a caller waits\n", stderr);
        abort();
    }
    for (pc__fcb *c = f->cbs, *n; c; c = n) {
        n = c->next;
        pc__free(c);
    }
    if (f->kind == PC__FK_BYTES && f->value != f->small)
        pc__free(f->value);
    pc__free(f->message);
    pc__free(f);
}

void pc_future_release(pc_future *f) {
    /* acq_rel: the last releaser sees every other holder's writes */
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        future_free(f);
}

static int load_state(const pc_future *f) {
    /* acquire; pairs with the release stores in pc__future_settle() and
     * pc_future_set_running() */
    return atomic_load_explicit(&((pc_future *)f)->state, memory_order_acquire);
}

static bool is_done(int s) {
    return s == PC_FUTURE_FINISHED || s == PC_FUTURE_CANCELLED;
}

int pc_future_set_running(pc_future *f) {
    if (!f)
        return -EINVAL;
    pc__guard_lock(&f->guard);
    /* relaxed: under the guard, which every write of the state holds */
    int s = atomic_load_explicit(&f->state, memory_order_relaxed);
    if (s == PC_FUTURE_PENDING)
        /* release; pairs with load_state() */
        atomic_store_explicit(&f->state, PC_FUTURE_RUNNING, memory_order_release);
    pc__guard_unlock(&f->guard);
    return s == PC_FUTURE_PENDING ? 0 : s == PC_FUTURE_CANCELLED ? -ECANCELED : -EALREADY;
}

int pc__future_settle(pc_future *f, const pc__outcome *o, pc__fcb **cbs) {
    pc__guard_lock(&f->guard);
    /* relaxed: under the guard, which every write of the state holds */
    int s = atomic_load_explicit(&f->state, memory_order_relaxed);
    if (is_done(s) || (s == PC_FUTURE_RUNNING && o->state == PC_FUTURE_CANCELLED)) {
        pc__guard_unlock(&f->guard);
        return s == PC_FUTURE_CANCELLED ? -ECANCELED : s == PC_FUTURE_RUNNING ? -EBUSY : -EALREADY;
    }
    f->kind = o->kind;
    f->error = o->error;
    f->message = o->message;
    f->value = o->value;
    f->len = o->len;
    if (o->small) {
        /* under the guard: only the settle that wins writes `small` */
        if (o->len)
            memcpy(f->small, o->value, o->len);
        f->small[o->len] = 0;
        f->value = f->small;
    }
    /* release; pairs with load_state() */
    atomic_store_explicit(&f->state, o->state, memory_order_release);
    pc__waiter *chain = pc__waitq_take_all(&f->waiters, 0, NULL);
    pc__waiter *watchers = NULL;
    bool failed = o->state == PC_FUTURE_FINISHED && o->error != 0;
    for (pc__fwatch *w = f->watch_head, *n; w; w = n) {
        n = w->next;
        w->next = w->prev = NULL;
        w->linked = false;
        pc__watchset_notify(w, failed, &watchers);
    }
    f->watch_head = NULL;
    *cbs = f->cbs;
    f->cbs = NULL;
    f->cbs_tail = &f->cbs;
    pc__guard_unlock(&f->guard);
    pc__waiter_wake_chain(chain);
    pc__waiter_wake_chain(watchers);
    return 0;
}

void pc__future_run_callbacks(pc_future *f, pc__fcb *cbs) {
    if (!cbs)
        return;
    pc_future_retain(f); /* a callback may drop the reference it owned */
    while (cbs) {
        pc__fcb *n = cbs->next;
        cbs->cb(f, cbs->arg);
        pc__free(cbs);
        cbs = n;
    }
    pc_future_release(f);
}

static int settle_and_call(pc_future *f, const pc__outcome *o) {
    pc__fcb *cbs;
    int r = pc__future_settle(f, o, &cbs);
    if (r == 0)
        pc__future_run_callbacks(f, cbs);
    return r;
}

int pc_future_set_result(pc_future *f, const void *bytes, size_t len) {
    if (!f || (!bytes && len) || len == SIZE_MAX)
        return -EINVAL;
    if (is_done(load_state(f))) /* before copying; settle decides for good */
        return load_state(f) == PC_FUTURE_CANCELLED ? -ECANCELED : -EALREADY;
    if (len < PC__FSMALL) {
        pc__outcome o = {.state = PC_FUTURE_FINISHED,
                         .kind = PC__FK_BYTES,
                         .value = (void *)bytes,
                         .len = len,
                         .small = true};
        return settle_and_call(f, &o);
    }
    char *copy = pc__malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, bytes, len);
    copy[len] = 0;
    pc__outcome o = {.state = PC_FUTURE_FINISHED, .kind = PC__FK_BYTES, .value = copy, .len = len};
    int r = settle_and_call(f, &o);
    if (r)
        pc__free(copy);
    return r;
}

int pc_future_set_value(pc_future *f, void *value) {
    if (!f)
        return -EINVAL;
    pc__outcome o = {.state = PC_FUTURE_FINISHED, .kind = PC__FK_VALUE, .value = value};
    return settle_and_call(f, &o);
}

int pc_future_set_error(pc_future *f, int err, const char *message) {
    if (!f || err >= 0)
        return -EINVAL;
    if (is_done(load_state(f)))
        return load_state(f) == PC_FUTURE_CANCELLED ? -ECANCELED : -EALREADY;
    char *copy = message ? pc__strdup(message) : NULL; /* NULL on failure: no message */
    pc__outcome o = {.state = PC_FUTURE_FINISHED, .error = err, .message = copy};
    int r = settle_and_call(f, &o);
    if (r)
        pc__free(copy);
    return r;
}

int pc_future_cancel(pc_future *f) {
    if (!f)
        return -EINVAL;
    pc__outcome o = {.state = PC_FUTURE_CANCELLED, .error = -ECANCELED};
    pc__fcb *cbs;
    int r = pc__future_settle(f, &o, &cbs);
    if (r == 0)
        pc__future_run_callbacks(f, cbs);
    return r == -ECANCELED ? 0 : r; /* cancelled before: Python's True */
}

/* --------------------------------------------------------------- waiting */

/* Wait until done: 0, -ETIMEDOUT, -ECANCELED (the waiting coroutine was
 * killed), -EINVAL. */
static int wait_done(pc_future *f, double timeout) {
    int64_t deadline;
    if (pc__deadline(timeout, &deadline))
        return -EINVAL;
    if (is_done(load_state(f)))
        return 0;
    pc__guard_lock(&f->guard);
    /* relaxed: under the guard, as every write of the state */
    if (is_done(atomic_load_explicit(&f->state, memory_order_relaxed))) {
        pc__guard_unlock(&f->guard);
        return 0;
    }
    if (timeout == 0) {
        pc__guard_unlock(&f->guard);
        return -ETIMEDOUT;
    }
    pc__waiter w;
    pc__waiter_init(&w);
    pc__waitq_push(&f->waiters, &w);
    return pc__wait(&f->guard, &f->waiters, &w, deadline);
}

/* The outcome of a done future as a waiting call reports it. */
static int outcome_code(const pc_future *f, int kind) {
    if (load_state(f) == PC_FUTURE_CANCELLED)
        return -ECANCELED;
    if (f->error)
        return f->error;
    return f->kind == kind ? 0 : -ENOMSG;
}

int pc_future_result(pc_future *f, const void **bytes, size_t *len, double timeout) {
    if (!f)
        return -EINVAL;
    int r = wait_done(f, timeout);
    if (r == 0 && (r = outcome_code(f, PC__FK_BYTES)) == 0) {
        if (bytes)
            *bytes = f->value;
        if (len)
            *len = f->len;
    }
    return r;
}

int pc_future_value(pc_future *f, void **value, double timeout) {
    if (!f)
        return -EINVAL;
    int r = wait_done(f, timeout);
    if (r == 0 && (r = outcome_code(f, PC__FK_VALUE)) == 0 && value)
        *value = f->value;
    return r;
}

/* ------------------------------------------------------------ inspection */

pc_future_state pc_future_get_state(const pc_future *f) {
    return f ? (pc_future_state)load_state(f) : PC_FUTURE_PENDING;
}

bool pc_future_done(const pc_future *f) {
    return f && is_done(load_state(f));
}

bool pc_future_running(const pc_future *f) {
    return f && load_state(f) == PC_FUTURE_RUNNING;
}

bool pc_future_cancelled(const pc_future *f) {
    return f && load_state(f) == PC_FUTURE_CANCELLED;
}

int pc_future_successful(const pc_future *f) {
    if (!f)
        return -EINVAL;
    int s = load_state(f);
    if (!is_done(s))
        return -EAGAIN;
    return s == PC_FUTURE_FINISHED && f->error == 0;
}

int pc_future_error(const pc_future *f) {
    if (!f)
        return -EINVAL;
    int s = load_state(f);
    if (!is_done(s))
        return -EAGAIN;
    return f->error;
}

const char *pc_future_error_message(const pc_future *f) {
    return f && is_done(load_state(f)) ? f->message : NULL;
}

/* ------------------------------------------------------------- callbacks */

int pc_future_add_done_callback(pc_future *f, pc_future_done_fn cb, void *arg) {
    if (!f || !cb)
        return -EINVAL;
    if (!is_done(load_state(f))) {
        pc__fcb *c = pc__malloc(sizeof *c);
        if (!c)
            return -ENOMEM;
        c->next = NULL;
        c->cb = cb;
        c->arg = arg;
        pc__guard_lock(&f->guard);
        /* relaxed: under the guard, as every write of the state */
        if (!is_done(atomic_load_explicit(&f->state, memory_order_relaxed))) {
            *f->cbs_tail = c;
            f->cbs_tail = &c->next;
            pc__guard_unlock(&f->guard);
            return 0;
        }
        pc__guard_unlock(&f->guard);
        pc__free(c);
    }
    cb(f, arg); /* done already: at once, on this thread */
    return 0;
}
