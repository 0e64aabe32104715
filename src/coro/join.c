/*
 * Joining, killing and linking coroutines.
 *
 * Join parks on the coroutine's `joiners` through the one waiter interface,
 * so a thread blocks and a coroutine parks, on any thread.  A plain thread
 * that owns the coroutine's loop, with the loop idle, runs the loop until
 * the coroutine ends instead (it would otherwise wait for itself).
 *
 * Kill runs on the owner thread (other threads send it there with
 * call_soon_threadsafe): it sets the cancel flag, and resumes the
 * coroutine if it is parked (the CAS to CANCELLED arbitrates with its
 * waker and its timer, see coro.c).
 */
#include <errno.h>

#include "../internal/alloc.h"
#include "../loop/loop-internal.h"

static int join_parked(pc_coro *c, int64_t deadline) {
    pc__guard_lock(&c->guard);
    /* relaxed: finish() stores it under this guard, whose acquire orders it */
    if (atomic_load_explicit(&c->finished, memory_order_relaxed)) {
        pc__guard_unlock(&c->guard);
        return 0;
    }
    if (deadline != PC__NO_DEADLINE && deadline <= pc__mono_ns()) {
        pc__guard_unlock(&c->guard);
        return -ETIMEDOUT;
    }
    pc__waiter w;
    pc__waiter_init(&w);
    pc__waitq_push(&c->joiners, &w);
    return pc__wait(&c->guard, &c->joiners, &w, deadline);
}

static int join_deadline(pc_coro *c, int64_t deadline) {
    if (c == pc__tls_coro)
        return -EDEADLK;
    /* acquire; pairs with the release store in coro.c's finish() */
    if (atomic_load_explicit(&c->finished, memory_order_acquire))
        return 0;
    if (!pc__tls_coro && pc__loop_on_owner(c->loop)) {
        if (c->loop->running)
            return -EDEADLK; /* a loop callback cannot wait for its own loop */
        if (c->state == PC__C_NEW)
            return -EDEADLK; /* never started: it cannot end */
        return pc__loop_run_until_deadline(c->loop, c, deadline);
    }
    return join_parked(c, deadline);
}

int pc_coro_join(pc_coro *c, double timeout) {
    if (!c)
        return -EINVAL;
    int64_t deadline;
    if (pc__deadline(timeout, &deadline))
        return -EINVAL;
    return join_deadline(c, deadline);
}

int pc_coro_joinall(pc_coro *const *cs, int n, double timeout) {
    if ((!cs && n) || n < 0)
        return -EINVAL;
    int64_t deadline;
    if (pc__deadline(timeout, &deadline))
        return -EINVAL;
    for (int i = 0; i < n; i++)
        if (!cs[i])
            return -EINVAL;
    for (int i = 0; i < n; i++) {
        int r = join_deadline(cs[i], deadline);
        if (r)
            return r;
    }
    return 0;
}

static void kill_here(void *arg) {
    pc_coro *c = arg;
    if (!atomic_load(&c->finished)) {
        c->kills++; /* lets a timeout scope tell its own kill from others' */
        atomic_store(&c->cancel, true);
        if (c->state == PC__C_NEW) {
            pc__loop_make_ready(c->loop, c); /* runs no body: see pc__coro_run */
        } else if (c->state == PC__C_PARKED && c->parked_on) {
            uint32_t parked = PC__W_PARKED;
            if (atomic_compare_exchange_strong(&c->parked_on->state, &parked,
                                               (uint32_t)PC__W_CANCELLED))
                pc__loop_make_ready(c->loop, c);
        }
    }
}

static void kill_remote(void *arg) {
    kill_here(arg);
    pc__coro_release(arg);
}

int pc_coro_kill(pc_coro *c) {
    if (!c)
        return -EINVAL;
    if (pc__loop_on_owner(c->loop)) {
        kill_here(c);
        return 0;
    }
    atomic_fetch_add(&c->refs, 1);
    int r = pc_loop_call_soon_threadsafe(c->loop, kill_remote, c);
    if (r)
        pc__coro_release(c);
    return r;
}

/* ----------------------------------------------------------------- links */

typedef struct coro_link {
    pc__callback cb; /* first: queued on the loop as a plain callback */
    void (*fn)(pc_coro *c, void *arg);
    void *arg;
    pc_coro *coro;
} coro_link;

static void run_link(void *p) {
    coro_link *k = p;
    k->fn(k->coro, k->arg);
    pc__coro_release(k->coro);
    /* not freed here: k is the loop's callback node (cb is its first
     * member), which the loop frees after running it (loop.c run_soon) */
}

static void drop_link(pc__callback *cb) {
    pc__coro_release(((coro_link *)cb)->coro);
}

static void queue_link(pc_coro *c, coro_link *k) {
    k->cb.cb = run_link;
    k->cb.arg = k;
    k->cb.drop = drop_link;
    if (pc__loop_on_owner(c->loop))
        pc__loop_post(c->loop, &k->cb);
    else /* linked from another thread after the end */
        pc__loop_post_remote(c->loop, &k->cb);
}

int pc_coro_link(pc_coro *c, void (*fn)(pc_coro *c, void *arg), void *arg) {
    if (!c || !fn)
        return -EINVAL;
    coro_link *k = pc__malloc(sizeof *k);
    if (!k)
        return -ENOMEM;
    k->fn = fn;
    k->arg = arg;
    k->coro = c;
    atomic_fetch_add(&c->refs, 1); /* the link's; dropped after it ran */
    pc__guard_lock(&c->guard);
    /* relaxed: stored under this guard (finish()), as above */
    if (!atomic_load_explicit(&c->finished, memory_order_relaxed)) {
        k->cb.next = NULL;
        *c->links_tail = &k->cb;
        c->links_tail = &k->cb.next;
        pc__guard_unlock(&c->guard);
        return 0;
    }
    pc__guard_unlock(&c->guard);
    queue_link(c, k);
    return 0;
}

/* Called by coro.c's finish() on the owner thread with the links it took
 * off the coroutine: every one, in order. */
void pc__coro_schedule_links(pc_coro *c, pc__callback *cb) {
    while (cb) {
        pc__callback *n = cb->next;
        queue_link(c, (coro_link *)cb);
        cb = n;
    }
}
