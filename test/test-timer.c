/* pc_timer: threading.Timer. */
#include <errno.h>
#include <math.h>

#include "helpers.h"

struct fire {
    pc_event *fired;
    double at;
    int calls;
};

static void *on_fire(void *arg) {
    struct fire *f = arg;
    f->at = pc_now();
    f->calls++;
    pc_event_set(f->fired);
    return f;
}

static void fire_init(struct fire *f) {
    *f = (struct fire){.calls = 0};
    expect_rc(pc_event_new(&f->fired), 0);
}

Test(timer, fires_after_the_interval, .timeout = 10) {
    struct fire f;
    fire_init(&f);
    pc_timer *tm;
    expect_rc(pc_timer_new(&tm, 0.2, on_fire, &f), 0);
    cr_assert(!pc_timer_fired(tm));
    double t0 = pc_now();
    expect_rc(pc_timer_start(tm), 0);
    expect_rc(pc_event_wait(f.fired, 5.0), 0);
    double dt = f.at - t0;
    cr_assert(dt >= 0.18 && dt < 5.0, "fired after %.3f s", dt);
    expect_rc(pc_timer_join(tm, 5.0), 0);
    cr_assert(pc_timer_fired(tm));
    cr_assert_eq(f.calls, 1);
    cr_assert_eq(pc_thread_result(pc_timer_thread(tm)), &f);
    expect_rc(pc_timer_cancel(tm), 0); /* harmless afterwards */
    cr_assert_eq(f.calls, 1);
    pc_timer_free(tm);
    pc_event_free(f.fired);
}

Test(timer, zero_interval_fires_at_once, .timeout = 10) {
    struct fire f;
    fire_init(&f);
    pc_timer *tm;
    expect_rc(pc_timer_new(&tm, 0, on_fire, &f), 0);
    expect_rc(pc_timer_start(tm), 0);
    expect_rc(pc_timer_join(tm, 5.0), 0);
    cr_assert(pc_timer_fired(tm));
    cr_assert_eq(f.calls, 1);
    pc_timer_free(tm);
    pc_event_free(f.fired);
}

Test(timer, cancel_before_firing, .timeout = 10) {
    struct fire f;
    fire_init(&f);
    pc_timer *tm;
    expect_rc(pc_timer_new(&tm, 30.0, on_fire, &f), 0);
    expect_rc(pc_timer_start(tm), 0);
    cr_assert(pc_thread_is_alive(pc_timer_thread(tm)));
    double t0 = pc_now();
    expect_rc(pc_timer_cancel(tm), 0);
    expect_rc(pc_timer_cancel(tm), 0); /* twice: harmless */
    expect_rc(pc_timer_join(tm, 5.0), 0);
    cr_assert(pc_now() - t0 < 5.0); /* the cancel cut the wait short */
    cr_assert(!pc_timer_fired(tm));
    cr_assert_eq(f.calls, 0);
    cr_assert_null(pc_thread_result(pc_timer_thread(tm)));
    pc_timer_free(tm);
    pc_event_free(f.fired);
}

Test(timer, cancel_before_start, .timeout = 10) {
    struct fire f;
    fire_init(&f);
    pc_timer *tm;
    expect_rc(pc_timer_new(&tm, 0, on_fire, &f), 0);
    expect_rc(pc_timer_cancel(tm), 0);
    expect_rc(pc_timer_start(tm), 0);
    expect_rc(pc_timer_join(tm, 5.0), 0);
    cr_assert(!pc_timer_fired(tm));
    cr_assert_eq(f.calls, 0);
    pc_timer_free(tm);
    pc_event_free(f.fired);
}

Test(timer, is_a_thread, .timeout = 10) {
    struct fire f;
    fire_init(&f);
    pc_timer *tm;
    expect_rc(pc_timer_new(&tm, 30.0, on_fire, &f), 0);
    pc_thread *t = pc_timer_thread(tm);
    cr_assert_str_eq(pc_thread_name(t), "Thread-1"); /* as Python names a Timer */
    cr_assert(!pc_thread_is_daemon(t));
    expect_rc(pc_timer_join(tm, 1.0), -ESRCH);
    expect_rc(pc_timer_start(tm), 0);
    expect_rc(pc_timer_start(tm), -EALREADY);
    cr_assert_neq(pc_thread_ident(t), 0);
    cr_assert_eq(pc_thread_active_count(), 2);
    expect_rc(pc_timer_join(tm, 0), -ETIMEDOUT);
    /* free cancels and joins a running timer */
    pc_timer_free(tm);
    cr_assert_eq(pc_thread_active_count(), 1);
    cr_assert_eq(f.calls, 0);
    pc_event_free(f.fired);
}

Test(timer, bad_input, .timeout = 10) {
    pc_timer *tm;
    expect_rc(pc_timer_new(NULL, 1.0, on_fire, NULL), -EINVAL);
    expect_rc(pc_timer_new(&tm, 1.0, NULL, NULL), -EINVAL);
    expect_rc(pc_timer_new(&tm, -1.0, on_fire, NULL), -EINVAL);
    expect_rc(pc_timer_new(&tm, PC_FOREVER, on_fire, NULL), -EINVAL);
    expect_rc(pc_timer_new(&tm, NAN, on_fire, NULL), -EINVAL);
    expect_rc(pc_timer_start(NULL), -EINVAL);
    expect_rc(pc_timer_cancel(NULL), -EINVAL);
    expect_rc(pc_timer_join(NULL, 1.0), -EINVAL);
    cr_assert(!pc_timer_fired(NULL));
    cr_assert_null(pc_timer_thread(NULL));
    pc_timer_free(NULL);
    expect_rc(pc_timer_new(&tm, 1.0, on_fire, NULL), 0);
    pc_timer_free(tm); /* never started */
}

Test(timer, alloc_failure_walk, .timeout = 10) {
    pc_timer *tm = NULL;
    int n = 1;
    for (;; n++) {
        pc_alloc_fail_nth(n);
        int rc = pc_timer_new(&tm, 0, on_fire, NULL);
        if (rc == 0)
            break;
        expect_rc(rc, -ENOMEM);
    }
    pc_alloc_fail_nth(0);
    cr_assert_eq(n, 4, "pc_timer_new makes three allocations, walked %d", n);
    pc_timer_free(tm);
}
