/*
 * Timeout scopes (pyconc/aio.h): asyncio.timeout, gevent.Timeout.
 *
 * enter arms a loop timer (pc__timer, in a small heap object: the public
 * struct stays opaque) whose firing kills the coroutine, so whatever it
 * blocks in returns -ECANCELED; exit disarms it and, when it fired, turns
 * the cancellation into -ETIMEDOUT by clearing the cancel flag (consuming
 * it when no blocking call took it yet).
 *
 * Telling the scope's kill from someone else's: the flag is one bit, so a
 * foreign kill merges with the scope's.  The timer notes whether a kill
 * was already pending when it fired and the coroutine's kill count right
 * after its own kill; at exit, a pending foreign kill or a count that
 * moved means someone else killed too, and exit reports -ECANCELED and
 * leaves the flag alone.  (asyncio counts cancel requests for the same
 * reason: Task.uncancel.)
 *
 * Invariants: all fields are touched on the coroutine's loop thread only
 * (the timer fires there, enter and exit run in the coroutine); the timer
 * is disarmed before the object is freed.
 *
 * Rejected: a deadline stored in the coroutine that every park consults.
 * It needs no timer, but puts a branch on every park for a rare feature,
 * and nesting needs a stack of deadlines in the coroutine.
 */
#include <errno.h>

#include "../internal/alloc.h"
#include "aio-internal.h"

struct pc__tscope {
    pc__timer timer;     /* owner (loop thread) */
    pc_coro *coro;       /* fixed */
    bool fired;          /* owner */
    bool foreign;        /* owner: a kill was pending when it fired */
    unsigned long kills; /* owner: the coroutine's kill count after our kill */
};

static void scope_fire(pc__timer *t) {
    struct pc__tscope *s = (struct pc__tscope *)((char *)t - offsetof(struct pc__tscope, timer));
    pc_coro *c = s->coro;
    s->foreign = atomic_load(&c->cancel);
    pc_coro_kill(c); /* on the owner thread: takes effect at once */
    s->kills = c->kills;
    s->fired = true;
}

int pc_timeout_scope_enter(pc_timeout_scope *s, double seconds) {
    int64_t deadline;
    if (!s || pc__deadline(seconds, &deadline))
        return -EINVAL;
    pc_coro *c = pc__tls_coro;
    if (!c)
        return -EPERM;
    struct pc__tscope *t = pc__calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    pc__timer_init(&t->timer, scope_fire);
    t->coro = c;
    if (deadline != PC__NO_DEADLINE && pc__timer_arm(c->loop, &t->timer, deadline)) {
        pc__free(t);
        return -ENOMEM;
    }
    s->impl = t;
    return 0;
}

int pc_timeout_scope_exit(pc_timeout_scope *s) {
    if (!s || !s->impl)
        return -EINVAL;
    struct pc__tscope *t = s->impl;
    pc_coro *c = t->coro;
    if (c != pc__tls_coro)
        return -EPERM;
    pc__timer_disarm(c->loop, &t->timer);
    int r = 0;
    if (t->fired) {
        if (t->foreign || c->kills != t->kills) {
            r = -ECANCELED;
        } else {
            atomic_store(&c->cancel, false);
            r = -ETIMEDOUT;
        }
    }
    s->impl = NULL;
    pc__free(t);
    return r;
}
