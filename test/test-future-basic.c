/* pc_future: the state machine, outcomes, cancel, done callbacks and the
 * errors a misuse gets. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "sync-helpers.h"

static pc_future *new_future(void) {
    pc_future *f;
    expect_rc(pc_future_new(&f), 0);
    return f;
}

Test(future, states_and_bytes_result) {
    pc_future *f = new_future();
    cr_assert_eq(pc_future_get_state(f), PC_FUTURE_PENDING);
    cr_assert(!pc_future_done(f) && !pc_future_running(f) && !pc_future_cancelled(f));
    expect_rc(pc_future_successful(f), -EAGAIN); /* asking before ready */
    expect_rc(pc_future_error(f), -EAGAIN);
    expect_rc(pc_future_result(f, NULL, NULL, 0), -ETIMEDOUT);
    expect_rc(pc_future_set_running(f), 0);
    cr_assert(pc_future_running(f));
    expect_rc(pc_future_set_running(f), -EALREADY);
    char msg[] = "hello";
    expect_rc(pc_future_set_result(f, msg, 5), 0);
    memset(msg, 'x', 5); /* the future kept a copy */
    cr_assert_eq(pc_future_get_state(f), PC_FUTURE_FINISHED);
    cr_assert(pc_future_done(f) && !pc_future_running(f));
    const void *b = NULL;
    size_t len = 0;
    expect_rc(pc_future_result(f, &b, &len, PC_FOREVER), 0);
    cr_assert_eq(len, 5);
    cr_assert_str_eq(b, "hello"); /* NUL-terminated */
    expect_rc(pc_future_result(f, NULL, NULL, 0), 0);
    expect_rc(pc_future_successful(f), 1);
    expect_rc(pc_future_error(f), 0);
    cr_assert_null(pc_future_error_message(f));
    void *v;
    expect_rc(pc_future_value(f, &v, 0), -ENOMSG); /* bytes, not a pointer */
    expect_rc(pc_future_set_running(f), -EALREADY);
    expect_rc(pc_future_cancel(f), -EALREADY);
    pc_future_release(f);
}

Test(future, empty_bytes_and_value) {
    pc_future *f = new_future();
    expect_rc(pc_future_set_result(f, NULL, 0), 0);
    const void *b = NULL;
    size_t len = 9;
    expect_rc(pc_future_result(f, &b, &len, 1.0), 0);
    cr_assert_eq(len, 0);
    cr_assert_not_null(b);
    pc_future_release(f);

    f = new_future();
    int x;
    expect_rc(pc_future_set_value(f, &x), 0); /* straight from PENDING */
    void *v = NULL;
    expect_rc(pc_future_value(f, &v, 1.0), 0);
    cr_assert_eq(v, &x);
    expect_rc(pc_future_result(f, &b, &len, 0), -ENOMSG);
    expect_rc(pc_future_successful(f), 1);
    pc_future_release(f);
}

Test(future, error_with_message) {
    pc_future *f = new_future();
    expect_rc(pc_future_set_running(f), 0);
    expect_rc(pc_future_set_error(f, -EIO, "disk on fire"), 0);
    expect_rc(pc_future_result(f, NULL, NULL, 1.0), -EIO);
    expect_rc(pc_future_value(f, NULL, 1.0), -EIO);
    expect_rc(pc_future_error(f), -EIO);
    cr_assert_str_eq(pc_future_error_message(f), "disk on fire");
    expect_rc(pc_future_successful(f), 0);
    pc_future_release(f);

    f = new_future();
    expect_rc(pc_future_set_error(f, -ENOENT, NULL), 0);
    cr_assert_null(pc_future_error_message(f));
    expect_rc(pc_future_error(f), -ENOENT);
    pc_future_release(f);
}

Test(future, set_twice_is_an_error) {
    pc_future *f = new_future();
    expect_rc(pc_future_set_value(f, NULL), 0);
    expect_rc(pc_future_set_value(f, NULL), -EALREADY);
    expect_rc(pc_future_set_result(f, "x", 1), -EALREADY);
    expect_rc(pc_future_set_error(f, -EIO, "late"), -EALREADY);
    expect_rc(pc_future_error(f), 0); /* the first outcome stays */
    pc_future_release(f);
}

Test(future, cancel) {
    pc_future *f = new_future();
    expect_rc(pc_future_cancel(f), 0);
    expect_rc(pc_future_cancel(f), 0); /* again: still cancelled, Python's True */
    cr_assert(pc_future_cancelled(f) && pc_future_done(f));
    cr_assert_eq(pc_future_get_state(f), PC_FUTURE_CANCELLED);
    expect_rc(pc_future_result(f, NULL, NULL, PC_FOREVER), -ECANCELED);
    expect_rc(pc_future_error(f), -ECANCELED);
    expect_rc(pc_future_successful(f), 0);
    expect_rc(pc_future_set_running(f), -ECANCELED); /* the worker skips it */
    expect_rc(pc_future_set_value(f, NULL), -ECANCELED);
    expect_rc(pc_future_set_result(f, "x", 1), -ECANCELED);
    expect_rc(pc_future_set_error(f, -EIO, NULL), -ECANCELED);
    pc_future_release(f);

    f = new_future();
    expect_rc(pc_future_set_running(f), 0);
    expect_rc(pc_future_cancel(f), -EBUSY); /* only while pending */
    cr_assert(!pc_future_cancelled(f));
    expect_rc(pc_future_set_value(f, NULL), 0);
    expect_rc(pc_future_cancel(f), -EALREADY);
    pc_future_release(f);
}

Test(future, bad_input) {
    pc_future *f = new_future();
    expect_rc(pc_future_new(NULL), -EINVAL);
    expect_rc(pc_future_set_running(NULL), -EINVAL);
    expect_rc(pc_future_set_result(NULL, "x", 1), -EINVAL);
    expect_rc(pc_future_set_result(f, NULL, 1), -EINVAL);
    expect_rc(pc_future_set_value(NULL, NULL), -EINVAL);
    expect_rc(pc_future_set_error(NULL, -EIO, NULL), -EINVAL);
    expect_rc(pc_future_set_error(f, 0, NULL), -EINVAL); /* not an error */
    expect_rc(pc_future_set_error(f, 5, NULL), -EINVAL);
    expect_rc(pc_future_cancel(NULL), -EINVAL);
    expect_rc(pc_future_result(NULL, NULL, NULL, 0), -EINVAL);
    expect_rc(pc_future_value(NULL, NULL, 0), -EINVAL);
    expect_rc(pc_future_result(f, NULL, NULL, NAN), -EINVAL);
    expect_rc(pc_future_successful(NULL), -EINVAL);
    expect_rc(pc_future_error(NULL), -EINVAL);
    expect_rc(pc_future_add_done_callback(NULL, NULL, NULL), -EINVAL);
    expect_rc(pc_future_add_done_callback(f, NULL, NULL), -EINVAL);
    cr_assert(!pc_future_done(NULL));
    cr_assert_null(pc_future_error_message(NULL));
    cr_assert_null(pc_future_retain(NULL));
    pc_future_release(NULL);
    cr_assert_eq(pc_future_get_state(f), PC_FUTURE_PENDING); /* nothing changed it */
    pc_future_release(f);
}

Test(future, retain_release) {
    pc_future *f = new_future();
    cr_assert_eq(pc_future_retain(f), f);
    pc_future_release(f);
    expect_rc(pc_future_set_result(f, "abc", 3), 0);
    pc_future_release(f); /* the last: frees the copy (ASan checks) */
}

Test(future, timeout_is_honoured) {
    pc_future *f = new_future();
    double t0 = pc_now();
    expect_rc(pc_future_result(f, NULL, NULL, 0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5.0, "waited %.3f s", dt);
    pc_future_release(f);
}

/* ------------------------------------------------------------- callbacks */

struct log {
    int order[16];
    int n;
    pc_future *seen;
};

struct tagged {
    struct log *l;
    int tag;
};

static void record_tag(pc_future *f, void *arg) {
    struct tagged *t = arg;
    t->l->seen = f;
    t->l->order[t->l->n++] = t->tag;
}

Test(future, callbacks_in_order_exactly_once) {
    struct log l = {0};
    struct tagged t[5];
    pc_future *f = new_future();
    for (int i = 0; i < 3; i++) {
        t[i] = (struct tagged){&l, i + 1};
        expect_rc(pc_future_add_done_callback(f, record_tag, &t[i]), 0);
    }
    cr_assert_eq(l.n, 0); /* not before done */
    expect_rc(pc_future_set_running(f), 0);
    cr_assert_eq(l.n, 0);
    expect_rc(pc_future_set_value(f, NULL), 0);
    cr_assert_eq(l.n, 3);
    cr_assert(l.order[0] == 1 && l.order[1] == 2 && l.order[2] == 3);
    cr_assert_eq(l.seen, f);
    /* added after completion: at once, on this thread */
    t[3] = (struct tagged){&l, 4};
    expect_rc(pc_future_add_done_callback(f, record_tag, &t[3]), 0);
    cr_assert_eq(l.n, 4);
    cr_assert_eq(l.order[3], 4);
    expect_rc(pc_future_set_value(f, NULL), -EALREADY); /* runs nothing again */
    expect_rc(pc_future_cancel(f), -EALREADY);
    cr_assert_eq(l.n, 4);
    pc_future_release(f);
}

Test(future, cancel_runs_callbacks) {
    struct log l = {0};
    struct tagged t = {&l, 7};
    pc_future *f = new_future();
    expect_rc(pc_future_add_done_callback(f, record_tag, &t), 0);
    expect_rc(pc_future_cancel(f), 0);
    expect_rc(pc_future_cancel(f), 0);
    cr_assert_eq(l.n, 1);
    pc_future_release(f);
}

/* A callback that drops the reference it owned, one that adds another
 * callback, one that cancels another future: none stops the others. */
static void drop_ref(pc_future *f, void *arg) {
    (void)arg;
    pc_future_release(f);
}

static void add_more(pc_future *f, void *arg) {
    expect_rc(pc_future_add_done_callback(f, record_tag, arg), 0); /* done: at once */
}

static void cancel_other(pc_future *f, void *arg) {
    (void)f;
    expect_rc(pc_future_cancel(arg), 0);
}

Test(future, misbehaving_callbacks_do_not_stop_the_others) {
    struct log l = {0};
    struct tagged a = {&l, 1}, b = {&l, 2}, c = {&l, 3};
    pc_future *f = new_future(), *other = new_future();
    pc_future_retain(f); /* the reference drop_ref owns */
    expect_rc(pc_future_add_done_callback(f, record_tag, &a), 0);
    expect_rc(pc_future_add_done_callback(f, drop_ref, NULL), 0);
    expect_rc(pc_future_add_done_callback(f, add_more, &b), 0);
    expect_rc(pc_future_add_done_callback(f, cancel_other, other), 0);
    expect_rc(pc_future_add_done_callback(f, record_tag, &c), 0);
    expect_rc(pc_future_set_error(f, -EIO, "x"), 0);
    cr_assert_eq(l.n, 3);
    cr_assert(l.order[0] == 1 && l.order[1] == 2 && l.order[2] == 3);
    cr_assert(pc_future_cancelled(other));
    pc_future_release(other);
    pc_future_release(f);
}

/* The last reference released by the only callback, during the settle of
 * a caller that does not hold one any more: the future survives until
 * the callbacks are done. */
Test(future, callback_may_release_the_last_reference) {
    pc_future *f = new_future();
    pc_future_retain(f);
    expect_rc(pc_future_add_done_callback(f, drop_ref, NULL), 0);
    expect_rc(pc_future_add_done_callback(f, drop_ref, NULL), 0);
    expect_rc(pc_future_set_value(f, NULL), 0); /* both references go here */
}

/* --------------------------------------------------------- alloc failure */

Test(future, alloc_failure) {
    pc_future *f;
    pc_alloc_fail_nth(1);
    expect_rc(pc_future_new(&f), -ENOMEM);
    f = new_future();
    static const char big[] = "a result too long to be kept inside the future";
    pc_alloc_fail_nth(1);
    expect_rc(pc_future_set_result(f, big, sizeof big), -ENOMEM);
    cr_assert(!pc_future_done(f)); /* unchanged: an error can still be set */
    struct log l = {0};
    struct tagged t = {&l, 1};
    pc_alloc_fail_nth(1);
    expect_rc(pc_future_add_done_callback(f, record_tag, &t), -ENOMEM);
    pc_alloc_fail_nth(1);
    expect_rc(pc_future_set_error(f, -EIO, "lost"), 0); /* the message is dropped */
    cr_assert_null(pc_future_error_message(f));
    expect_rc(pc_future_error(f), -EIO);
    cr_assert_eq(l.n, 0); /* the failed add never runs */
    pc_future_release(f);
}

/* A short result (at most 31 bytes) lives inside the future: it takes no
 * allocation.  32 bytes take one. */
Test(future, short_result_allocates_nothing) {
    pc_future *g = new_future();
    char big[32];
    memset(big, 'z', sizeof big);
    pc_alloc_fail_nth(1);
    expect_rc(pc_future_set_result(g, big, sizeof big), -ENOMEM);
    expect_rc(pc_future_set_result(g, big, sizeof big), 0);
    pc_future_release(g);
    pc_future *f = new_future();
    char text[31];
    memset(text, 'x', sizeof text);
    pc_alloc_fail_nth(1);
    expect_rc(pc_future_set_result(f, text, sizeof text), 0);
    pc_alloc_fail_nth(0);
    const void *b;
    size_t n;
    expect_rc(pc_future_result(f, &b, &n, 0), 0);
    cr_assert_eq(n, sizeof text);
    cr_assert_eq(memcmp(b, text, n), 0);
    cr_assert_eq(((const char *)b)[n], 0, "a short result is NUL-terminated too");
    expect_rc(pc_future_set_result(f, "y", 1), -EALREADY);
    cr_assert_eq(((const char *)b)[0], 'x', "a refused result leaves the first one");
    pc_future_release(f);
}

/* Releasing the last reference while someone waits is a programmer error. */
static int waits_forever(void *arg, void **value) {
    (void)value;
    return pc_future_value(arg, NULL, PC_FOREVER);
}

static void free_with_waiter(void *arg) {
    (void)arg;
    pc_future *f;
    pc_coro *c;
    if (pc_future_new(&f) || pc_coro_spawn(&c, waits_forever, f, NULL))
        return;
    /* the coroutine runs until it parks on the future; nothing can wake
     * it, so the loop reports LoopExit with the waiter queued */
    if (pc_loop_run_until(pc_loop_current(), c, 1.0) != -EDEADLK)
        return;
    pc_future_release(f);
}

Test(future, release_with_a_waiter_aborts, .timeout = 30) {
    expect_child_aborts(free_with_waiter, NULL);
}
