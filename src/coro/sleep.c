/*
 * pc_coro_sleep and pc_coro_yield.  A sleeping coroutine parks on a waiter
 * nobody will wake: its timer ends the park (or a kill does).  Yield puts
 * the coroutine at the back of the ready queue: everything ready before it
 * runs first, as gevent.sleep(0) does.
 */
#include <errno.h>

#include "../loop/loop-internal.h"

int pc_coro_yield(void) {
    pc_coro *c = pc__tls_coro;
    if (!c)
        return pc_sleep(0);
    if (pc__coro_take_cancel(c))
        return -ECANCELED;
    pc__loop_make_ready(c->loop, c);
    pc__loop_switch_out(c->loop, false);
    return 0;
}

int pc_coro_sleep(double seconds) {
    if (seconds != seconds)
        return -EINVAL;
    pc_coro *c = pc__tls_coro;
    if (!c)
        return pc_sleep(seconds);
    if (seconds <= 0)
        return pc_coro_yield();
    int64_t deadline = PC__NO_DEADLINE;
    pc__deadline(seconds, &deadline);
    pc__waiter w;
    pc__waiter_init(&w);
    int r = pc__coro_parker.park(&w, deadline);
    return r == -ETIMEDOUT ? 0 : r;
}
