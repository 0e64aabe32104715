/* pc_thread_current/main, dummies, enumerate, daemon threads and the
 * exit-time wait (pc_thread_shutdown, pc_thread_wait_at_exit). */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "thread-helpers.h"

Test(current, main_thread, .timeout = 10) {
    pc_thread *m = pc_thread_main();
    cr_assert_not_null(m);
    cr_assert_eq(pc_thread_current(), m);
    cr_assert_str_eq(pc_thread_name(m), "MainThread");
    cr_assert_eq(pc_thread_native_id(m), (long)getpid());
    cr_assert_eq(pc_thread_ident(m), (unsigned long)pthread_self());
    cr_assert(pc_thread_is_alive(m));
    cr_assert(!pc_thread_is_daemon(m));
    expect_rc(pc_thread_join(m, 0), -EDEADLK);
    pc_thread_free(m); /* not ours to free: a no-op */
    expect_rc(pc_thread_destroy(m), -EINVAL);
    cr_assert_eq(pc_thread_main(), m);
}

Test(current, inside_a_pyconc_thread, .timeout = 10) {
    struct hold h;
    hold_init(&h);
    pc_thread *t = start_held(&h, NULL);
    cr_assert_eq(h.seen_current, t);
    cr_assert_neq(h.seen_current, pc_thread_main());
    pc_event_set(h.go);
    expect_rc(pc_thread_join(t, 10.0), 0);
    pc_thread_free(t);
    hold_fini(&h);
}

/* A thread pyconc did not start: a "Dummy-N" object, registered while it
 * lives. */
struct foreign {
    pc_thread *first, *second;
    unsigned long self;
    long tid;
    pc_event *in, *go;
};

static void *foreign_thread(void *arg) {
    struct foreign *f = arg;
    f->first = pc_thread_current();
    f->second = pc_thread_current();
    f->self = (unsigned long)pthread_self();
    f->tid = gettid();
    pc_event_set(f->in);
    pc_event_wait(f->go, 30.0);
    return NULL;
}

static void *ident_fn(void *arg) {
    return arg;
}

Test(current, foreign_thread_gets_a_dummy, .timeout = 10) {
    struct foreign f = {0};
    expect_rc(pc_event_new(&f.in), 0);
    expect_rc(pc_event_new(&f.go), 0);
    cr_assert_eq(pc_thread_active_count(), 1);
    pthread_t pt = start_pthread(foreign_thread, &f);
    expect_rc(pc_event_wait(f.in, 10.0), 0);
    pc_thread *d = f.first;
    cr_assert_not_null(d);
    cr_assert_eq(f.second, d); /* the same object every time */
    cr_assert_str_eq(pc_thread_name(d), "Dummy-1");
    cr_assert_eq(pc_thread_ident(d), f.self);
    cr_assert_eq(pc_thread_native_id(d), f.tid);
    cr_assert(pc_thread_is_alive(d));
    cr_assert(pc_thread_is_daemon(d));          /* as Python's _DummyThread */
    expect_rc(pc_thread_join(d, 0.1), -EINVAL); /* cannot join a dummy */
    expect_rc(pc_thread_start(d), -EALREADY);
    expect_rc(pc_thread_set_daemon(d, false), -EBUSY);
    cr_assert_eq(pc_thread_active_count(), 2);
    pc_thread *all[4];
    expect_rc(pc_thread_enumerate(all, 4), 2);
    cr_assert(all[0] == d || all[1] == d);
    /* the counter is shared with Thread-N, as in Python */
    pc_thread *t;
    expect_rc(pc_thread_new(&t, ident_fn, NULL, NULL), 0);
    cr_assert_str_eq(pc_thread_name(t), "Thread-2");
    pc_thread_free(t);
    pc_event_set(f.go);
    pthread_join(pt, NULL);
    cr_assert_eq(pc_thread_active_count(), 1); /* it left at its exit */
    pc_event_free(f.in);
    pc_event_free(f.go);
}

/* A foreign thread may join the main thread (it never finishes: timeout)
 * without being registered as a dummy on the way. */
static void *join_main(void *arg) {
    (void)arg;
    return (void *)(long)pc_thread_join(pc_thread_main(), 0.05);
}

Test(current, foreign_join_of_main, .timeout = 10) {
    void *rc;
    pthread_join(start_pthread(join_main, NULL), &rc);
    expect_rc((int)(long)rc, -ETIMEDOUT);
    cr_assert_eq(pc_thread_active_count(), 1);
}

Test(current, enumerate_and_active_count, .timeout = 10) {
    struct hold h1, h2;
    hold_init(&h1);
    hold_init(&h2);
    cr_assert_eq(pc_thread_active_count(), 1);
    pc_thread *a = start_held(&h1, NULL);
    pc_thread *b = start_held(&h2, &(pc_thread_opts){.daemon = true});
    cr_assert_eq(pc_thread_active_count(), 3);
    pc_thread *all[5] = {0};
    expect_rc(pc_thread_enumerate(all, 5), 3);
    bool seen_main = false, seen_a = false, seen_b = false;
    for (int i = 0; i < 3; i++) {
        seen_main |= all[i] == pc_thread_main();
        seen_a |= all[i] == a;
        seen_b |= all[i] == b;
    }
    cr_assert(seen_main && seen_a && seen_b);
    cr_assert_null(all[3]);
    pc_thread *one[1];
    expect_rc(pc_thread_enumerate(one, 1), 3); /* the total, filling one */
    cr_assert_not_null(one[0]);
    expect_rc(pc_thread_enumerate(NULL, 0), 3);
    expect_rc(pc_thread_enumerate(NULL, 1), -EINVAL);
    expect_rc(pc_thread_enumerate(all, -1), -EINVAL);
    pc_event_set(h1.go);
    expect_rc(pc_thread_join(a, 10.0), 0);
    cr_assert_eq(pc_thread_active_count(), 2); /* gone once joined */
    pc_event_set(h2.go);
    expect_rc(pc_thread_join(b, 10.0), 0);
    cr_assert_eq(pc_thread_active_count(), 1);
    pc_thread_free(a);
    pc_thread_free(b);
    hold_fini(&h1);
    hold_fini(&h2);
}

Test(shutdown, waits_for_non_daemon_only, .timeout = 10) {
    struct hold hd, hn;
    hold_init(&hd);
    hold_init(&hn);
    pc_thread *d = start_held(&hd, &(pc_thread_opts){.daemon = true});
    pc_thread *n = start_held(&hn, NULL);
    cr_assert(pc_thread_is_daemon(d));
    cr_assert(!pc_thread_is_daemon(n));
    expect_rc(pc_thread_shutdown(0), -ETIMEDOUT);
    double t0 = pc_now();
    expect_rc(pc_thread_shutdown(0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5.0, "waited %.3f s", dt);
    pc_event_set(hn.go);
    expect_rc(pc_thread_shutdown(10.0), 0); /* the daemon is still held */
    cr_assert(!pc_thread_is_alive(n));
    cr_assert(pc_thread_is_alive(d));
    expect_rc(pc_thread_shutdown(NAN), -EINVAL);
    pc_event_set(hd.go);
    expect_rc(pc_thread_join(d, 10.0), 0);
    expect_rc(pc_thread_shutdown(0), 0); /* nothing left */
    pc_thread_free(d);
    pc_thread_free(n);
    hold_fini(&hd);
    hold_fini(&hn);
}

/* Threads started while shutdown waits are waited for too: A starts B,
 * which outlives A (B joins A first). */
struct chain {
    pc_event *go;
    pc_thread *a, *b;
    bool b_done;
};

static void *chain_b(void *arg) {
    struct chain *c = arg;
    pc_thread_join(c->a, 30.0);
    c->b_done = true;
    return NULL;
}

static void *chain_a(void *arg) {
    struct chain *c = arg;
    pc_event_wait(c->go, 30.0);
    pc_thread_new(&c->b, chain_b, c, NULL);
    pc_thread_start(c->b);
    return NULL;
}

Test(shutdown, waits_for_threads_started_meanwhile, .timeout = 10) {
    struct chain c = {.b = NULL};
    expect_rc(pc_event_new(&c.go), 0);
    expect_rc(pc_thread_new(&c.a, chain_a, &c, NULL), 0);
    expect_rc(pc_thread_start(c.a), 0);
    pc_event_set(c.go);
    expect_rc(pc_thread_shutdown(10.0), 0);
    cr_assert_not_null(c.b);
    cr_assert(c.b_done);
    cr_assert(!pc_thread_is_alive(c.b));
    cr_assert_eq(pc_thread_active_count(), 1);
    pc_thread_free(c.a);
    pc_thread_free(c.b);
    pc_event_free(c.go);
}

/* The caller is not waited for by its own shutdown. */
static void *shutdown_inside(void *arg) {
    (void)arg;
    return (void *)(long)pc_thread_shutdown(5.0);
}

Test(shutdown, from_a_thread_skips_itself, .timeout = 10) {
    pc_thread *t;
    expect_rc(pc_thread_new(&t, shutdown_inside, NULL, NULL), 0);
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_thread_join(t, 10.0), 0);
    expect_rc((int)(long)pc_thread_result(t), 0);
    pc_thread_free(t);
}

/*
 * pc_thread_wait_at_exit: exit() joins non-daemon threads.  A child process
 * registers one atexit handler before ours (it runs after it: "past") and
 * one after ours (it runs before it: "exiting"), and starts a thread that
 * waits for the parent's go before it says "done".  If exit waits, the
 * parent hears "exiting", nothing until it says go, then "done", "past".
 * If exit does not wait, "past" follows "exiting" without any go.
 */
static int to_parent[2], to_child[2];

static void say(char c) {
    if (write(to_parent[1], &c, 1) != 1)
        _exit(3);
}
static void say_exiting(void) {
    say('x');
}
static void say_past(void) {
    say('p');
}

static void *waits_for_parent(void *arg) {
    (void)arg;
    char c;
    if (read(to_child[0], &c, 1) == 1)
        say('d');
    return NULL;
}

static void exit_child(bool wait_on) {
    atexit(say_past);
    expect_rc(pc_thread_wait_at_exit(true), 0);
    expect_rc(pc_thread_wait_at_exit(wait_on), 0);
    atexit(say_exiting);
    pc_thread *t;
    if (pc_thread_new(&t, waits_for_parent, NULL, NULL) || pc_thread_start(t))
        _exit(2);
    exit(0);
}

static char next_byte(int timeout_ms) {
    struct pollfd p = {.fd = to_parent[0], .events = POLLIN};
    char c = 0;
    if (poll(&p, 1, timeout_ms) == 1 && read(to_parent[0], &c, 1) != 1)
        c = 'E'; /* end of file: the child is gone */
    return c;
}

static pid_t exit_start(bool wait_on) {
    cr_assert_eq(pipe(to_parent), 0);
    cr_assert_eq(pipe(to_child), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        exit_child(wait_on);
    close(to_parent[1]);
    cr_assert_eq(next_byte(5000), 'x');
    return pid;
}

static void exit_end(pid_t pid) {
    cr_assert_eq(next_byte(5000), 'E');
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}

Test(shutdown, wait_at_exit_joins_at_exit, .timeout = 10) {
    pid_t pid = exit_start(true);
    /* exit is held by the thread: nothing comes without our go (a broken
     * wait would say "past" at once; 0.3 s only bounds how long we look) */
    cr_assert_eq(next_byte(300), 0);
    cr_assert_eq(write(to_child[1], "g", 1), 1);
    cr_assert_eq(next_byte(5000), 'd');
    cr_assert_eq(next_byte(5000), 'p');
    exit_end(pid);
}

Test(shutdown, wait_at_exit_off_does_not_wait, .timeout = 10) {
    pid_t pid = exit_start(false);
    cr_assert_eq(next_byte(5000), 'p'); /* no go was needed */
    exit_end(pid);
}
