/* Signal handlers run by the loop: pc_loop_add/remove_signal_handler. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

typedef struct hit {
    pc_loop *loop;
    _Atomic int count;
    pthread_t thread; /* where the last call ran */
    bool stop;        /* stop the loop from the handler */
    bool remove_self; /* remove the handler from itself */
    int signum;
    pc_event *event; /* set from the handler, if any */
} hit;

static void on_hit(void *arg) {
    hit *h = arg;
    h->thread = pthread_self();
    atomic_fetch_add(&h->count, 1);
    if (h->event)
        pc_event_set(h->event);
    if (h->remove_self)
        expect_rc(pc_loop_remove_signal_handler(h->loop, h->signum), 0);
    if (h->stop)
        pc_loop_stop(h->loop);
}

Test(loop_signal, raise_runs_the_handler_on_the_loop_thread, .timeout = 10) {
    pc_loop *l = pc_loop_current();
    hit h = {.loop = l, .stop = true};
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR1, on_hit, &h), 0);
    /* raise runs the process handler at once; the loop's callback waits
     * for a turn, and three deliveries before it coalesce */
    raise(SIGUSR1);
    raise(SIGUSR1);
    raise(SIGUSR1);
    cr_assert_eq(atomic_load(&h.count), 0, "the callback ran in signal context");
    expect_rc(pc_loop_run(l), 0);
    cr_assert_geq(atomic_load(&h.count), 1);
    cr_assert_leq(atomic_load(&h.count), 3);
    cr_assert(pthread_equal(h.thread, pthread_self()));
    expect_rc(pc_loop_remove_signal_handler(l, SIGUSR1), 0);
    expect_rc(pc_loop_remove_signal_handler(l, SIGUSR1), -ENOENT);
}

typedef struct sender {
    pthread_t target; /* pthread_kill this thread; or kill the process */
    bool whole_process;
    int signum;
    double delay; /* seconds to wait first */
} sender;

static void *send_signal(void *arg) {
    sender *s = arg;
    if (s->delay > 0)
        pc_sleep(s->delay);
    if (s->whole_process)
        kill(getpid(), s->signum);
    else
        pthread_kill(s->target, s->signum);
    return NULL;
}

Test(loop_signal, pthread_kill_from_another_thread, .timeout = 10) {
    pc_loop *l = pc_loop_current();
    hit h = {.loop = l, .stop = true};
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR2, on_hit, &h), 0);
    sender s = {.target = pthread_self(), .signum = SIGUSR2};
    pthread_t t = start_pthread(send_signal, &s);
    expect_rc(pc_loop_run(l), 0);
    pthread_join(t, NULL);
    cr_assert_geq(atomic_load(&h.count), 1);
    cr_assert(pthread_equal(h.thread, pthread_self()));
}

Test(loop_signal, kill_to_the_process_may_land_on_any_thread, .timeout = 10) {
    pc_loop *l = pc_loop_current();
    hit h = {.loop = l, .stop = true};
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR1, on_hit, &h), 0);
    /* the sender thread may take the signal itself: the loop still runs
     * the callback, on its own thread */
    sender s = {.whole_process = true, .signum = SIGUSR1};
    pthread_t t = start_pthread(send_signal, &s);
    expect_rc(pc_loop_run(l), 0);
    pthread_join(t, NULL);
    cr_assert_geq(atomic_load(&h.count), 1);
    cr_assert(pthread_equal(h.thread, pthread_self()));
}

static int wait_event(void *arg, void **value) {
    (void)value;
    return pc_event_wait(arg, 5);
}

Test(loop_signal, a_coroutine_waits_for_an_event_the_handler_sets, .timeout = 10) {
    pc_loop *l = pc_loop_current();
    pc_event *e;
    expect_rc(pc_event_new(&e), 0);
    hit h = {.loop = l, .event = e};
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR1, on_hit, &h), 0);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, wait_event, e, NULL), 0);
    sender s = {.target = pthread_self(), .signum = SIGUSR1, .delay = 0.05};
    pthread_t t = start_pthread(send_signal, &s);
    expect_rc(pc_loop_run_until(l, c, 5), 0);
    pthread_join(t, NULL);
    cr_assert(pc_coro_successful(c), "the wait failed: %d", pc_coro_error(c));
    cr_assert_eq(atomic_load(&h.count), 1);
    pc_coro_free(c);
    expect_rc(pc_loop_remove_signal_handler(l, SIGUSR1), 0);
    pc_event_free(e);
}

static _Atomic int custom_hits;
static void custom_handler(int signum) {
    (void)signum;
    atomic_fetch_add(&custom_hits, 1);
}

Test(loop_signal, remove_restores_the_previous_handler, .timeout = 10) {
    struct sigaction act, seen;
    memset(&act, 0, sizeof act);
    act.sa_handler = custom_handler;
    sigemptyset(&act.sa_mask);
    cr_assert_eq(sigaction(SIGUSR1, &act, NULL), 0);

    pc_loop *l = pc_loop_current();
    hit h = {.loop = l, .stop = true};
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR1, on_hit, &h), 0);
    raise(SIGUSR1);
    expect_rc(pc_loop_run(l), 0);
    cr_assert_eq(atomic_load(&h.count), 1);
    cr_assert_eq(atomic_load(&custom_hits), 0, "the loop's handler does not chain");

    expect_rc(pc_loop_remove_signal_handler(l, SIGUSR1), 0);
    cr_assert_eq(sigaction(SIGUSR1, NULL, &seen), 0);
    cr_assert(seen.sa_handler == custom_handler);
    raise(SIGUSR1);
    cr_assert_eq(atomic_load(&custom_hits), 1);
    cr_assert_eq(atomic_load(&h.count), 1);
}

Test(loop_signal, remove_restores_sig_dfl, .timeout = 10) {
    struct sigaction dfl, seen;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    cr_assert_eq(sigaction(SIGUSR2, &dfl, NULL), 0);
    pc_loop *l = pc_loop_current();
    hit h = {.loop = l};
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR2, on_hit, &h), 0);
    cr_assert_eq(sigaction(SIGUSR2, NULL, &seen), 0);
    cr_assert(seen.sa_handler != SIG_DFL);
    cr_assert(seen.sa_flags & SA_RESTART);
    expect_rc(pc_loop_remove_signal_handler(l, SIGUSR2), 0);
    cr_assert_eq(sigaction(SIGUSR2, NULL, &seen), 0);
    cr_assert(seen.sa_handler == SIG_DFL);
}

Test(loop_signal, replacing_a_handler_keeps_one, .timeout = 10) {
    pc_loop *l = pc_loop_current();
    hit a = {.loop = l, .stop = true}, b = {.loop = l, .stop = true};
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR1, on_hit, &a), 0);
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR1, on_hit, &b), 0);
    raise(SIGUSR1);
    expect_rc(pc_loop_run(l), 0);
    cr_assert_eq(atomic_load(&a.count), 0);
    cr_assert_eq(atomic_load(&b.count), 1);
    expect_rc(pc_loop_remove_signal_handler(l, SIGUSR1), 0);
    expect_rc(pc_loop_remove_signal_handler(l, SIGUSR1), -ENOENT);
}

/* Two loops on two threads handle SIGUSR1: one kill reaches both. */
typedef struct two {
    pc_sem *ready;
    hit h;
} two;

static void *loop_thread(void *arg) {
    two *t = arg;
    pc_loop *l = pc_loop_current();
    t->h.loop = l;
    t->h.stop = true;
    int r = pc_loop_add_signal_handler(l, SIGUSR1, on_hit, &t->h);
    pc_sem_release(t->ready, 1);
    if (r == 0)
        r = pc_loop_run(l);
    pc_loop_close();
    return (void *)(intptr_t)(r ? r : 1);
}

Test(loop_signal, two_loops_on_two_threads_both_get_it, .timeout = 10) {
    pc_sem *ready;
    expect_rc(pc_sem_new(&ready, 0), 0);
    two a = {.ready = ready}, b = {.ready = ready};
    pthread_t ta = start_pthread(loop_thread, &a), tb = start_pthread(loop_thread, &b);
    expect_rc(pc_sem_acquire(ready, true, 5), 0);
    expect_rc(pc_sem_acquire(ready, true, 5), 0);
    kill(getpid(), SIGUSR1);
    void *ra, *rb;
    pthread_join(ta, &ra);
    pthread_join(tb, &rb);
    cr_assert_eq((intptr_t)ra, 1, "loop a: %d", (int)(intptr_t)ra);
    cr_assert_eq((intptr_t)rb, 1, "loop b: %d", (int)(intptr_t)rb);
    cr_assert_eq(atomic_load(&a.h.count), 1);
    cr_assert_eq(atomic_load(&b.h.count), 1);
    cr_assert(pthread_equal(a.h.thread, ta));
    cr_assert(pthread_equal(b.h.thread, tb));
    /* both loops closed: the default disposition is back */
    struct sigaction seen;
    cr_assert_eq(sigaction(SIGUSR1, NULL, &seen), 0);
    cr_assert(seen.sa_handler == SIG_DFL);
    pc_sem_free(ready);
}

static void *try_from_other_thread(void *arg) {
    pc_loop *l = arg;
    hit h = {0};
    intptr_t ok = pc_loop_add_signal_handler(l, SIGUSR1, on_hit, &h) == -EPERM &&
                  pc_loop_remove_signal_handler(l, SIGUSR1) == -EPERM;
    return (void *)ok;
}

Test(loop_signal, misuse, .timeout = 10) {
    pc_loop *l = pc_loop_current();
    hit h = {.loop = l};
    expect_rc(pc_loop_add_signal_handler(NULL, SIGUSR1, on_hit, &h), -EINVAL);
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR1, NULL, &h), -EINVAL);
    expect_rc(pc_loop_add_signal_handler(l, 0, on_hit, &h), -EINVAL);
    expect_rc(pc_loop_add_signal_handler(l, -3, on_hit, &h), -EINVAL);
    expect_rc(pc_loop_add_signal_handler(l, 65, on_hit, &h), -EINVAL);
    expect_rc(pc_loop_add_signal_handler(l, SIGKILL, on_hit, &h), -EINVAL);
    expect_rc(pc_loop_add_signal_handler(l, SIGSTOP, on_hit, &h), -EINVAL);
    expect_rc(pc_loop_add_signal_handler(l, SIGSEGV, on_hit, &h), -EINVAL);
    expect_rc(pc_loop_remove_signal_handler(NULL, SIGUSR1), -EINVAL);
    expect_rc(pc_loop_remove_signal_handler(l, 0), -EINVAL);
    expect_rc(pc_loop_remove_signal_handler(l, SIGUSR1), -ENOENT);
    pthread_t t = start_pthread(try_from_other_thread, l);
    void *ok;
    pthread_join(t, &ok);
    cr_assert(ok, "another thread was not refused with -EPERM");
    /* a signal the C library keeps for itself (glibc: SIGRTMIN-2, -1) */
    if (SIGRTMIN > 32)
        expect_rc(pc_loop_add_signal_handler(l, 32, on_hit, &h), -EINVAL);
    /* a failed add leaves nothing behind */
    expect_rc(pc_loop_remove_signal_handler(l, 32), -ENOENT);
    expect_rc(pc_loop_close(), 0);
}

static int lone_waiter(void *arg, void **value) {
    (void)value;
    return pc_event_wait(arg, PC_FOREVER);
}

Test(loop_signal, a_handler_holds_off_loop_exit, .timeout = 10) {
    pc_loop *l = pc_loop_current();
    pc_event *e;
    expect_rc(pc_event_new(&e), 0);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, lone_waiter, e, NULL), 0);
    /* no handler, no other pyconc thread: LoopExit */
    expect_rc(pc_loop_run(l), -EDEADLK);
    /* with a handler the loop sleeps until the signal (the sender is a
     * plain thread, which LoopExit does not count) */
    hit h = {.loop = l, .event = e};
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR1, on_hit, &h), 0);
    sender s = {.target = pthread_self(), .signum = SIGUSR1, .delay = 0.1};
    pthread_t t = start_pthread(send_signal, &s);
    expect_rc(pc_loop_run_until(l, c, 5), 0);
    pthread_join(t, NULL);
    cr_assert(pc_coro_successful(c));
    pc_coro_free(c);
    pc_event_free(e);
}

Test(loop_signal, a_loop_with_only_a_handler_sleeps_until_it_is_removed, .timeout = 10) {
    pc_loop *l = pc_loop_current();
    hit h = {.loop = l, .remove_self = true, .signum = SIGUSR2};
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR2, on_hit, &h), 0);
    sender s = {.target = pthread_self(), .signum = SIGUSR2, .delay = 0.1};
    pthread_t t = start_pthread(send_signal, &s);
    /* nothing else to do: returns only once the handler removed itself */
    expect_rc(pc_loop_run(l), 0);
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&h.count), 1);
    expect_rc(pc_loop_remove_signal_handler(l, SIGUSR2), -ENOENT);
}

/* A busy loop (always a ready coroutine) still runs its handlers: it
 * looks at the pending signals every turn, not only when it sleeps. */
static int spin_until(void *arg, void **value) {
    (void)value;
    hit *h = arg;
    while (atomic_load(&h->count) == 0)
        pc_coro_yield();
    return 0;
}

Test(loop_signal, a_busy_loop_runs_handlers, .timeout = 10) {
    pc_loop *l = pc_loop_current();
    hit h = {.loop = l};
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR1, on_hit, &h), 0);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, spin_until, &h, NULL), 0);
    sender s = {.target = pthread_self(), .signum = SIGUSR1, .delay = 0.05};
    pthread_t t = start_pthread(send_signal, &s);
    expect_rc(pc_loop_run_until(l, c, 5), 0);
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&h.count), 1);
    pc_coro_free(c);
}

Test(loop_signal, close_removes_the_handlers, .timeout = 10) {
    pc_loop *l = pc_loop_current();
    hit h = {.loop = l};
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR1, on_hit, &h), 0);
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR2, on_hit, &h), 0);
    expect_rc(pc_loop_close(), 0);
    struct sigaction seen;
    cr_assert_eq(sigaction(SIGUSR1, NULL, &seen), 0);
    cr_assert(seen.sa_handler == SIG_DFL);
    cr_assert_eq(sigaction(SIGUSR2, NULL, &seen), 0);
    cr_assert(seen.sa_handler == SIG_DFL);
}

/* Across fork: the child keeps the forking thread's handlers, and loses
 * those of the other threads' loops (their threads are gone there). */
static void *other_loop(void *arg) {
    two *t = arg;
    pc_loop *l = pc_loop_current();
    t->h.loop = l;
    t->h.stop = true;
    int r = pc_loop_add_signal_handler(l, SIGUSR2, on_hit, &t->h);
    pc_sem_release(t->ready, 1);
    if (r == 0)
        r = pc_loop_run(l);
    return (void *)(intptr_t)(r ? r : 1);
}

static int child_checks(pc_loop *l, hit *h) {
    struct sigaction seen;
    if (sigaction(SIGUSR2, NULL, &seen) || seen.sa_handler != SIG_DFL)
        return 2; /* the other thread's loop still held SIGUSR2 */
    if (sigaction(SIGUSR1, NULL, &seen) || seen.sa_handler == SIG_DFL)
        return 3;
    raise(SIGUSR1);
    if (pc_loop_run(l) != 0 || atomic_load(&h->count) != 1)
        return 4;
    if (pc_loop_remove_signal_handler(l, SIGUSR1) != 0)
        return 5;
    if (sigaction(SIGUSR1, NULL, &seen) || seen.sa_handler != SIG_DFL)
        return 6;
    return 0;
}

Test(loop_signal, across_fork, .timeout = 10) {
    pc_sem *ready;
    expect_rc(pc_sem_new(&ready, 0), 0);
    two o = {.ready = ready};
    pthread_t t = start_pthread(other_loop, &o);
    expect_rc(pc_sem_acquire(ready, true, 5), 0);
    pc_loop *l = pc_loop_current();
    hit h = {.loop = l, .stop = true};
    expect_rc(pc_loop_add_signal_handler(l, SIGUSR1, on_hit, &h), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(child_checks(l, &h));
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: status %#x", status);
    /* the parent's loops are untouched */
    pthread_kill(t, SIGUSR2);
    void *r;
    pthread_join(t, &r);
    cr_assert_eq((intptr_t)r, 1);
    cr_assert_eq(atomic_load(&o.h.count), 1);
    raise(SIGUSR1);
    expect_rc(pc_loop_run(l), 0);
    cr_assert_eq(atomic_load(&h.count), 1);
    pc_sem_free(ready);
}

static void *add_and_leave(void *arg) {
    (void)arg;
    hit h = {0};
    /* no pc_loop_close: the thread's end removes the handler */
    return (void *)(intptr_t)pc_loop_add_signal_handler(pc_loop_current(), SIGUSR2, on_hit, &h);
}

Test(loop_signal, the_end_of_the_thread_removes_the_handlers, .timeout = 10) {
    pthread_t t = start_pthread(add_and_leave, NULL);
    void *rc;
    pthread_join(t, &rc);
    expect_rc((int)(intptr_t)rc, 0);
    struct sigaction seen;
    cr_assert_eq(sigaction(SIGUSR2, NULL, &seen), 0);
    cr_assert(seen.sa_handler == SIG_DFL);
}
