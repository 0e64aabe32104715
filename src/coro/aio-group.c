/*
 * Task groups (pyconc/aio.h): asyncio.TaskGroup.
 *
 * Each child is linked (pc_coro_link) to on_child, which runs on the loop
 * when the child ends: it counts the child out, records the first real
 * failure (an error other than -ECANCELED: a killed sibling is not a
 * failure) and then kills every sibling, and wakes the waiters when the
 * count reaches zero.  wait is a wait on that count through the group's
 * own waitq.
 *
 * Invariants: live = children spawned whose link has not run; error is
 * set once; refs = the owner's + one per link not yet run, so a group
 * freed with children still running lives until their links ran.  The
 * kids array (with a reference on each child) is the loop thread's: the
 * group is used on its loop's thread only, and links run there too.
 *
 * Lock order: the group's guard is a leaf; kills and links run without
 * it.
 *
 * Rejected: joining the children in spawn order in wait.  A failure of a
 * later child must cancel an earlier one that blocks forever, so the
 * failure has to be seen when it happens, not when wait reaches it.
 */
#include <errno.h>

#include "../internal/alloc.h"
#include "aio-internal.h"

struct pc_taskgroup {
    _Atomic long refs; /* owner + pending links */
    pc_loop *loop;     /* fixed */
    pc__guard guard;
    pc__waitq waiters; /* guarded by guard */
    int live;          /* guarded by guard */
    int error;         /* guarded by guard: the first failure */
    pc_coro **kids;    /* loop thread: each with a reference */
    int nkids, cap;    /* loop thread */
};

int pc_taskgroup_new(pc_taskgroup **out) {
    if (!out)
        return -EINVAL;
    pc_loop *l = pc__loop_of_thread();
    if (!l)
        return -ENOMEM;
    pc_taskgroup *g = pc__calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    atomic_init(&g->refs, 1);
    g->loop = l;
    *out = g;
    return 0;
}

static void group_release(pc_taskgroup *g) {
    if (atomic_fetch_sub(&g->refs, 1) == 1)
        pc__free(g);
}

static void kill_all(pc_taskgroup *g) {
    for (int i = 0; i < g->nkids; i++)
        pc_coro_kill(g->kids[i]);
}

static void on_child(pc_coro *c, void *arg) {
    pc_taskgroup *g = arg;
    int e = pc_coro_error(c);
    pc__guard_lock(&g->guard);
    bool first = e && e != -ECANCELED && !g->error;
    if (first)
        g->error = e;
    pc__waiter *chain = --g->live ? NULL : pc__waitq_take_all(&g->waiters, 0, NULL);
    pc__guard_unlock(&g->guard);
    pc__waiter_wake_chain(chain);
    if (first)
        kill_all(g); /* empty once the group was freed */
    group_release(g);
}

static int grow(pc_taskgroup *g) {
    if (g->nkids < g->cap)
        return 0;
    int cap = g->cap ? 2 * g->cap : 8;
    pc_coro **k = pc__realloc(g->kids, (size_t)cap * sizeof *k);
    if (!k)
        return -ENOMEM;
    g->kids = k;
    g->cap = cap;
    return 0;
}

int pc_taskgroup_spawn(pc_taskgroup *g, pc_coro **c, pc_coro_fn fn, void *arg,
                       const pc_coro_opts *opts) {
    if (!g || !fn || (opts && opts->loop && opts->loop != g->loop))
        return -EINVAL;
    if (!pc__loop_on_owner(g->loop))
        return -EPERM;
    if (g->error) /* written on this thread only */
        return -ECANCELED;
    if (grow(g))
        return -ENOMEM;
    pc_coro *k;
    int r = pc_coro_spawn(&k, fn, arg, opts);
    if (r)
        return r;
    atomic_fetch_add(&g->refs, 1);
    r = pc_coro_link(k, on_child, g);
    if (r) { /* it has not run yet: killed now, it never will */
        atomic_fetch_sub(&g->refs, 1);
        pc_coro_kill(k);
        pc_coro_free(k);
        return r;
    }
    pc__guard_lock(&g->guard);
    g->live++;
    pc__guard_unlock(&g->guard);
    g->kids[g->nkids++] = k;
    if (c) {
        atomic_fetch_add(&k->refs, 1);
        *c = k;
    }
    return 0;
}

typedef struct group_wait {
    pc_taskgroup *g;
    int64_t deadline;
} group_wait;

static int wait_live(pc_taskgroup *g, int64_t deadline) {
    for (;;) {
        pc__guard_lock(&g->guard);
        if (!g->live) {
            int e = g->error;
            pc__guard_unlock(&g->guard);
            return e;
        }
        if (deadline != PC__NO_DEADLINE && deadline <= pc__mono_ns()) {
            pc__guard_unlock(&g->guard);
            return -ETIMEDOUT;
        }
        pc__waiter w;
        pc__waiter_init(&w);
        pc__waitq_push(&g->waiters, &w);
        int r = pc__wait(&g->guard, &g->waiters, &w, deadline);
        if (r)
            return r;
    }
}

static int wait_run(void *arg) {
    group_wait *a = arg;
    int r = wait_live(a->g, a->deadline);
    if (r != -ECANCELED)
        return r;
    kill_all(a->g); /* the waiter was cancelled: so are the children */
    while (wait_live(a->g, PC__NO_DEADLINE) == -ECANCELED)
        ;
    return -ECANCELED;
}

int pc_taskgroup_wait(pc_taskgroup *g, double timeout) {
    group_wait a = {g, 0};
    if (!g || pc__deadline(timeout, &a.deadline))
        return -EINVAL;
    if (!pc__loop_on_owner(g->loop))
        return -EPERM;
    return pc__tls_coro ? wait_run(&a) : pc__aio_in_helper(wait_run, &a);
}

void pc_taskgroup_free(pc_taskgroup *g) {
    if (!g)
        return;
    kill_all(g);
    for (int i = 0; i < g->nkids; i++)
        pc_coro_free(g->kids[i]);
    pc__free(g->kids);
    g->kids = NULL;
    g->nkids = 0;
    group_release(g);
}
