/*
 * pc_loop: one event loop per thread (asyncio's loop, gevent's hub).
 *
 * A turn: take what other threads sent (callbacks under remote_guard,
 * woken coroutines from the lock-free `incoming` stack); run the callbacks
 * queued so far; run the coroutines ready so far (each until it parks or
 * ends); fire due timers; then, if nothing is ready, sleep in epoll until
 * the next timer, an fd, or the eventfd that remote wakers write (and if
 * coroutines are ready while others wait on fds, poll the fds without
 * sleeping, so that busy coroutines cannot starve IO).
 *
 * Hand-over: a coroutine that switches out goes straight to the next
 * coroutine of the turn (pc__loop_next), and when the turn is done and the
 * next turn would do nothing but run coroutines, it runs that turn itself
 * (only_coroutines_to_run).  The loop's own context is entered only when
 * it has something to do: one switch per hand-over instead of two, and
 * the order is the one that turns through the loop would give.
 *
 * Remote wake-ups and sleep: a remote waker publishes its work (seq_cst),
 * then reads `sleeping`; the loop sets `sleeping` (seq_cst), then looks
 * for work once more before epoll_wait.  Either the loop sees the work or
 * the waker sees the loop asleep and writes the eventfd.  So a wake-up
 * costs a system call only when the loop really sleeps.  Once its work is
 * published the loop may run it and be closed before the waker finished
 * its wake-up; remote_wakers counts wakers in that window and the loop's
 * memory is freed only when none is left.
 *
 * LoopExit: when coroutines live but none is ready, no timer is armed, no
 * fd is waited on, and no other pyconc thread is alive that could wake
 * them, nothing ever will: run returns -EDEADLK (gevent raises LoopExit)
 * instead of hanging.  With other threads alive the loop sleeps, since a
 * thread may still set the event or put to the queue they wait on.  A
 * thread not made by pyconc that wakes coroutines makes itself known by
 * calling pc_thread_current() once.
 *
 * Rejected: io_uring as the first backend.  epoll keeps the loop small and
 * is what every peer measured here uses.  Measured (docs/bench.md, "HTTP
 * server"): io_uring as a readiness source costs 5-16 % more CPU per
 * request than epoll, completion-based recv/send 5-16 % less; the latter
 * is a different IO model (an operation per call, parked until its
 * completion), not a swap behind this turn structure.
 *
 * fd events carry odd data (the fd number, shifted: fdwait.c's table);
 * NULL is the eventfd; other even data is a one-shot waiter.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../future/future-internal.h"
#include "../internal/alloc.h"
#include "../internal/blocking.h"
#include "loop-internal.h"
#include "pyconc/thread.h"

_Thread_local pc_loop *pc__tls_loop;
static pthread_key_t loop_key;
static pthread_once_t loop_key_once = PTHREAD_ONCE_INIT;

static void loop_destroy(pc_loop *l);

static void loop_key_destructor(void *p) {
    pc_loop *l = p;
    if (!l)
        return;
    /* the thread ends: its loop never runs again, even if it leaks */
    pc__signals_loop_gone(l);
    pc__watch_loop_gone(l);
    if (l->live == 0)
        loop_destroy(l);
}

static void make_key(void) {
    pthread_key_create(&loop_key, loop_key_destructor);
}

static pc_loop *loop_create(void) {
    pc_loop *l = pc__calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->owner = pthread_self();
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->epfd < 0 || l->wakefd < 0) {
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->wakefd >= 0)
            close(l->wakefd);
        pc__free(l);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}; /* NULL: the eventfd */
    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev);
    l->soon_tail = &l->soon_head;
    l->remote_tail = &l->remote_head;
    l->until_deadline = PC__NO_DEADLINE;
    return l;
}

static void free_callbacks(pc__callback *cb) {
    for (pc__callback *n; cb; cb = n) {
        n = cb->next;
        if (cb->drop)
            cb->drop(cb);
        pc__free(cb);
    }
}

static void loop_destroy(pc_loop *l) {
    /* A remote waker may have published work that this loop already ran
     * (the coroutine it woke ended, the callback it posted ran) and still
     * be inside wake_loop(): wait until it left.  acquire: pairs with the
     * release decrement in remote_done(). */
    while (atomic_load_explicit(&l->remote_wakers, memory_order_acquire))
        sched_yield();
    pc__signals_loop_gone(l);
    pc__watch_loop_gone(l);
    free_callbacks(l->soon_head);
    free_callbacks(l->remote_head);
    pc__timers_free(l);
    pc__coro_cache_free(l);
    pc__fds_free(l);
    close(l->epfd);
    close(l->wakefd);
    pc__free(l);
}

pc_loop *pc__loop_of_thread(void) {
    if (pc__tls_loop)
        return pc__tls_loop;
    pthread_once(&loop_key_once, make_key);
    pc__tls_loop = loop_create();
    if (pc__tls_loop) {
        pthread_setspecific(loop_key, pc__tls_loop);
        pc__watch_loop_created(pc__tls_loop);
    }
    return pc__tls_loop;
}

pc_loop *pc__loop_if_any(void) {
    return pc__tls_loop;
}

pc_loop *pc_loop_current(void) {
    return pc__loop_of_thread();
}

int pc_loop_close(void) {
    pc_loop *l = pc__tls_loop;
    if (!l)
        return 0;
    if (l->live || l->running)
        return -EBUSY;
    pthread_setspecific(loop_key, NULL);
    pc__tls_loop = NULL;
    loop_destroy(l);
    return 0;
}

/* ------------------------------------------------------------ readiness */

void pc__loop_make_ready(pc_loop *l, pc_coro *c) {
    c->state = PC__C_READY;
    c->next = NULL;
    if (l->ready_tail)
        l->ready_tail->next = c;
    else
        l->ready_head = c;
    l->ready_tail = c;
}

static void wake_loop(pc_loop *l) {
    /* seq_cst; pairs with the store of `sleeping` in sleep_in_epoll() */
    if (atomic_load(&l->sleeping)) {
        uint64_t one = 1;
        ssize_t r = write(l->wakefd, &one, sizeof one);
        (void)r; /* EAGAIN: the counter is full, the loop is woken anyway */
    }
}

/* Bracket a remote waker's publish + wake_loop(): once its work is
 * published the loop may run it and be closed at once; loop_destroy waits
 * for the count to drop to 0 before it frees anything. */
static void remote_begin(pc_loop *l) {
    atomic_fetch_add(&l->remote_wakers, 1); /* seq_cst: before the publish */
}

static void remote_done(pc_loop *l) {
    /* release: pairs with the acquire load in loop_destroy() */
    atomic_fetch_sub_explicit(&l->remote_wakers, 1, memory_order_release);
}

void pc__loop_make_ready_remote(pc_loop *l, pc_coro *c) {
    remote_begin(l);
    /* relaxed: only a first guess; the seq_cst CAS below publishes c */
    pc_coro *head = atomic_load_explicit(&l->incoming, memory_order_relaxed);
    do
        c->remote_next = head;
    /* seq_cst: ordered before the load of `sleeping` in wake_loop() */
    while (!atomic_compare_exchange_weak(&l->incoming, &head, c));
    wake_loop(l);
    remote_done(l);
}

/* Move what other threads sent into the owner's queues. */
static void take_remote(pc_loop *l) {
    /* relaxed: a first look, to spare the exchange when nothing came */
    pc_coro *c = atomic_load_explicit(&l->incoming, memory_order_relaxed);
    if (c)
        c = atomic_exchange(&l->incoming, NULL);
    pc_coro *rev = NULL; /* the stack is newest first: restore arrival order */
    while (c) {
        pc_coro *n = c->remote_next;
        c->remote_next = rev;
        rev = c;
        c = n;
    }
    for (; rev; rev = rev->remote_next)
        pc__loop_make_ready(l, rev);
    /* relaxed: a first look; the guard orders the list itself */
    if (atomic_load_explicit(&l->attention, memory_order_relaxed)) {
        atomic_store_explicit(&l->attention, false, memory_order_relaxed);
        pc__guard_lock(&l->remote_guard);
        if (l->remote_head) {
            *l->soon_tail = l->remote_head;
            l->soon_tail = l->remote_tail;
            l->remote_head = NULL;
            l->remote_tail = &l->remote_head;
        }
        pc__guard_unlock(&l->remote_guard);
    }
}

/* ------------------------------------------------------------ callbacks */

static pc__callback *callback_new(pc_callback cb, void *arg) {
    pc__callback *c = pc__malloc(sizeof *c);
    if (c)
        *c = (pc__callback){.cb = cb, .arg = arg};
    return c;
}

void pc__loop_post(pc_loop *l, pc__callback *c) {
    c->next = NULL;
    *l->soon_tail = c;
    l->soon_tail = &c->next;
}

void pc__loop_post_remote(pc_loop *l, pc__callback *c) {
    c->next = NULL;
    remote_begin(l);
    pc__guard_lock(&l->remote_guard);
    *l->remote_tail = c;
    l->remote_tail = &c->next;
    pc__guard_unlock(&l->remote_guard);
    atomic_store(&l->attention, true); /* seq_cst: before the load in wake_loop() */
    wake_loop(l);
    remote_done(l);
}

int pc_loop_call_soon(pc_loop *l, pc_callback cb, void *arg) {
    if (!l || !cb)
        return -EINVAL;
    if (!pc__loop_on_owner(l))
        return -EPERM;
    pc__callback *c = callback_new(cb, arg);
    if (!c)
        return -ENOMEM;
    pc__loop_post(l, c);
    return 0;
}

int pc_loop_call_soon_threadsafe(pc_loop *l, pc_callback cb, void *arg) {
    if (!l || !cb)
        return -EINVAL;
    pc__callback *c = callback_new(cb, arg);
    if (!c)
        return -ENOMEM;
    pc__loop_post_remote(l, c);
    return 0;
}

typedef struct later {
    pc__timer timer; /* first: the timer's address is the struct's */
    pc_loop *loop;
    pc_callback cb;
    void *arg;
} later;

static void later_fire(pc__timer *t) {
    later *lt = (later *)t;
    lt->cb(lt->arg);
    pc__free(lt);
}

int pc_loop_call_later(pc_loop *l, double delay, pc_callback cb, void *arg) {
    if (!l || !cb || delay != delay)
        return -EINVAL;
    if (!pc__loop_on_owner(l))
        return -EPERM;
    int64_t deadline = PC__NO_DEADLINE;
    pc__deadline(delay < 0 ? 0 : delay, &deadline);
    later *lt = pc__malloc(sizeof *lt);
    if (!lt)
        return -ENOMEM;
    pc__timer_init(&lt->timer, later_fire);
    lt->loop = l;
    lt->cb = cb;
    lt->arg = arg;
    int r = pc__timer_arm(l, &lt->timer, deadline);
    if (r)
        pc__free(lt);
    return r;
}

static void stop_here(void *l) {
    ((pc_loop *)l)->stopping = true;
}

int pc_loop_stop(pc_loop *l) {
    if (!l)
        return -EINVAL;
    if (pc__loop_on_owner(l)) {
        stop_here(l);
        return 0;
    }
    return pc_loop_call_soon_threadsafe(l, stop_here, l);
}

/* ----------------------------------------------------------------- turns */

static void run_soon(pc_loop *l) {
    pc__callback *c = l->soon_head, *last = NULL;
    if (!c)
        return;
    /* only those queued before this turn: a callback that queues another
     * does not starve the coroutines */
    l->soon_head = NULL;
    l->soon_tail = &l->soon_head;
    for (; c; c = last) {
        last = c->next;
        pc__watch_tick(l, NULL);
        c->cb(c->arg);
        pc__free(c);
    }
}

/* Run the coroutines ready at the start of the turn.  Each runs until it
 * parks or ends; one that switches out hands over straight to the next
 * of the batch (pc__loop_next), so pc__coro_run returns only once the
 * batch is done or the loop has something of its own to do. */
static void run_ready(pc_loop *l) {
    l->batch = l->ready_head;
    l->ready_head = l->ready_tail = NULL;
    for (pc_coro *c; (c = l->batch);) {
        l->batch = c->next;
        pc__coro_run(c);
    }
    pc__watch_tick(l, NULL);
}

/* Whether a turn of the loop would do nothing but run the ready
 * coroutines: then a coroutine that switches out may run that turn
 * itself and save the two switches through the loop's context. */
static bool only_coroutines_to_run(pc_loop *l) {
    if (l->soon_head || l->stopping || l->fd_waits)
        return false;
    /* relaxed: a late look only delays the remote work by a turn; the
     * loop's own turn takes it with the exchange / the guard */
    if (atomic_load_explicit(&l->incoming, memory_order_relaxed) ||
        atomic_load_explicit(&l->attention, memory_order_relaxed) || pc__signals_pending(l))
        return false;
    /* acquire; pairs with the release store in coro.c's finish() */
    if (l->until && atomic_load_explicit(&l->until->finished, memory_order_acquire))
        return false;
    if (l->heap_len || l->until_deadline != PC__NO_DEADLINE) {
        int64_t now = pc__mono_ns();
        if (now >= l->until_deadline || (l->heap_len && pc__timers_next(l) <= now))
            return false;
    }
    return true;
}

pc_coro *pc__loop_next(pc_loop *l) {
    pc_coro *c = l->batch;
    if (!c) {
        if (!l->ready_head || !only_coroutines_to_run(l))
            return NULL;
        c = l->ready_head; /* the next turn, run from here */
        l->ready_head = l->ready_tail = NULL;
    }
    l->batch = c->next;
    return c;
}

static bool work_pending(pc_loop *l) {
    return l->ready_head || l->soon_head || atomic_load(&l->incoming) || atomic_load(&l->attention);
}

/*
 * Whether another thread could still wake our coroutines: any pyconc
 * thread other than this one (started by pyconc, the main thread, or a
 * foreign thread that made itself known with pc_thread_current()), less
 * the default executor's idle workers (src/future/executor.c).  The OS's
 * thread count cannot tell: runtimes (a test framework, a logging
 * library) keep idle threads of their own.
 */
static bool other_threads_exist(void) {
    return pc__wakers_count() > 1;
}

/* Wait up to timeout_ms for fds and the eventfd; wake who waits. */
static void poll_fds(pc_loop *l, int timeout_ms) {
    struct epoll_event evs[64];
    int n = epoll_wait(l->epfd, evs, 64, timeout_ms);
    for (int i = 0; i < n; i++) {
        uint64_t d = evs[i].data.u64;
        if (d & 1) { /* an fd registered by fdwait.c: its number, shifted */
            pc__fd_event(l, (int)(d >> 1), evs[i].events);
            continue;
        }
        if (evs[i].data.ptr == &pc__loop_signal_tag) { /* signal.c's slot (an even address) */
            pc__signals_drain(l);
            continue;
        }
        if (!d) { /* the eventfd */
            uint64_t v;
            ssize_t r = read(l->wakefd, &v, sizeof v);
            (void)r;
            continue;
        }
        pc__waiter *w = evs[i].data.ptr; /* a one-shot registration's waiter */
        w->data = evs[i].events;
        pc__waiter_wake(w);
    }
}

static void sleep_in_epoll(pc_loop *l, int64_t deadline) {
    atomic_store(&l->sleeping, true); /* seq_cst; pairs with wake_loop() */
    if (work_pending(l)) {
        atomic_store(&l->sleeping, false);
        return;
    }
    pc_gil *gil = pc__blocking_begin(); /* a loop attached to a GIL waits without it */
    poll_fds(l, pc__remaining_ms(deadline));
    pc__blocking_end(gil);
    atomic_store(&l->sleeping, false);
}

int pc__loop_run_until_deadline(pc_loop *l, pc_coro *until, int64_t deadline) {
    if (!l)
        return -EINVAL;
    if (!pc__loop_on_owner(l) || l->running)
        return -EPERM;
    l->running = true;
    l->stopping = false;
    l->until = until;
    l->until_deadline = deadline;
    /* relaxed: a hint for the watchdog's monitor, which only samples it */
    atomic_store_explicit(&l->wd_running, true, memory_order_relaxed);
    int r = 0;
    for (;;) {
        pc__watch_tick(l, NULL);
        take_remote(l);
        pc__signals_dispatch(l);
        run_soon(l);
        run_ready(l);
        /* acquire; pairs with the release store in coro.c's finish() */
        if (until && atomic_load_explicit(&until->finished, memory_order_acquire))
            break;
        if (l->stopping)
            break;
        /* The clock only when something depends on it: a clock read costs
         * more than a whole coroutine hand-over on some virtual machines
         * (measured: a third of a queue ping-pong between coroutines). */
        int64_t now = l->heap_len || deadline != PC__NO_DEADLINE ? pc__mono_ns() : 0;
        if (l->heap_len)
            pc__timers_fire_due(l, now);
        if (work_pending(l)) {
            if (l->fd_waits)
                poll_fds(l, 0); /* busy coroutines must not starve the fds */
            continue;
        }
        if (deadline != PC__NO_DEADLINE && now >= deadline) {
            r = -ETIMEDOUT;
            break;
        }
        int64_t next = pc__timers_next(l);
        /* a signal handler can wake the loop, as a waited fd can */
        if (next == PC__NO_DEADLINE && l->fd_waits == 0 && !pc__signals_armed(l)) {
            if (l->live == 0 && !until)
                break; /* nothing left to do */
            /* work_pending again: a thread may have woken one of ours,
             * then ended or gone idle, since we last looked */
            if (!other_threads_exist() && !work_pending(l)) {
                r = -EDEADLK; /* LoopExit: nothing can ever wake them */
                break;
            }
        }
        sleep_in_epoll(l, next < deadline ? next : deadline);
    }
    l->running = false;
    l->until = NULL;
    l->until_deadline = PC__NO_DEADLINE;
    atomic_store_explicit(&l->wd_running, false, memory_order_relaxed); /* as above */
    return r;
}

int pc_loop_run(pc_loop *l) {
    return pc__loop_run_until_deadline(l, NULL, PC__NO_DEADLINE);
}

int pc_loop_run_until(pc_loop *l, pc_coro *c, double timeout) {
    if (!c)
        return -EINVAL;
    int64_t deadline;
    if (pc__deadline(timeout, &deadline))
        return -EINVAL;
    return pc__loop_run_until_deadline(l, c, deadline);
}
