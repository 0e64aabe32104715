/* pc_event: threading.Event: set/clear/is_set/wait, and set(); clear()
 * releasing every thread already waiting. */
#include <errno.h>
#include <math.h>

#include "sync-helpers.h"

Test(event, flag) {
    pc_event *e;
    expect_rc(pc_event_new(&e), 0);
    cr_assert(!pc_event_is_set(e));
    expect_rc(pc_event_wait(e, 0), -ETIMEDOUT);
    expect_rc(pc_event_set(e), 0);
    cr_assert(pc_event_is_set(e));
    expect_rc(pc_event_set(e), 0); /* twice is harmless */
    expect_rc(pc_event_wait(e, 0), 0);
    expect_rc(pc_event_wait(e, PC_FOREVER), 0); /* set: returns at once */
    expect_rc(pc_event_wait(e, 10.0), 0);
    expect_rc(pc_event_clear(e), 0);
    cr_assert(!pc_event_is_set(e));
    expect_rc(pc_event_clear(e), 0);
    expect_rc(pc_event_wait(e, 0), -ETIMEDOUT);
    pc_event_free(e);
}

Test(event, bad_input) {
    pc_event *e;
    expect_rc(pc_event_new(NULL), -EINVAL);
    expect_rc(pc_event_set(NULL), -EINVAL);
    expect_rc(pc_event_clear(NULL), -EINVAL);
    expect_rc(pc_event_wait(NULL, 1.0), -EINVAL);
    cr_assert(!pc_event_is_set(NULL));
    pc_event_free(NULL);
    expect_rc(pc_event_new(&e), 0);
    expect_rc(pc_event_wait(e, NAN), -EINVAL);
    expect_rc(pc_event_set(e), 0);
    expect_rc(pc_event_wait(e, NAN), -EINVAL); /* even when it would not wait */
    pc_event_free(e);
}

Test(event, alloc_failure) {
    pc_event *e;
    pc_alloc_fail_nth(1);
    expect_rc(pc_event_new(&e), -ENOMEM);
    expect_rc(pc_event_new(&e), 0);
    pc_event_free(e);
}

Test(event, timeout_is_honoured) {
    pc_event *e;
    expect_rc(pc_event_new(&e), 0);
    double t0 = pc_now();
    expect_rc(pc_event_wait(e, 0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5.0, "waited %.3f s", dt);
    pc_event_free(e);
}

#define K 4
struct crowd {
    pc_event *e;
    double timeout;
    int rc[K];
};

struct member {
    struct crowd *cr;
    int id;
};

static void *waiter(void *arg) {
    struct member *m = arg;
    probe_install();
    m->cr->rc[m->id] = pc_event_wait(m->cr->e, m->cr->timeout);
    return NULL;
}

/* Python: "set(); clear()" wakes every thread that was already waiting,
 * even though the flag is down again by the time they run. */
Test(event, set_then_clear_releases_all_waiters, .timeout = 30) {
    struct crowd cr;
    struct member m[K];
    pthread_t t[K];
    probe_init();
    cr.timeout = 30.0;
    expect_rc(pc_event_new(&cr.e), 0);
    for (int i = 0; i < K; i++) {
        m[i] = (struct member){&cr, i};
        cr.rc[i] = 1;
        t[i] = start_pthread(waiter, &m[i]);
    }
    probe_wait_parked(K); /* all K are queued in pc_event_wait */
    expect_rc(pc_event_set(cr.e), 0);
    expect_rc(pc_event_clear(cr.e), 0);
    for (int i = 0; i < K; i++) {
        pthread_join(t[i], NULL);
        expect_rc(cr.rc[i], 0);
    }
    cr_assert(!pc_event_is_set(cr.e));
    cr_assert(!probe_pending()); /* nobody parked twice */
    pc_event_free(cr.e);
}

/* Waiters whose timeout passes before any set() time out, leave the queue,
 * and a later set() finds nobody to wake; the flag still works after. */
Test(event, waiters_time_out_and_leave, .timeout = 30) {
    struct crowd cr = {.timeout = 0.1};
    struct member m[K];
    pthread_t t[K];
    probe_init();
    expect_rc(pc_event_new(&cr.e), 0);
    for (int i = 0; i < K; i++) {
        m[i] = (struct member){&cr, i};
        t[i] = start_pthread(waiter, &m[i]);
    }
    for (int i = 0; i < K; i++) {
        pthread_join(t[i], NULL);
        expect_rc(cr.rc[i], -ETIMEDOUT);
    }
    expect_rc(pc_event_set(cr.e), 0);
    expect_rc(pc_event_wait(cr.e, 0), 0);
    pc_event_free(cr.e);
}

/* set() from another thread wakes a waiter that waits without limit. */
static void *setter(void *arg) {
    probe_wait_parked(1);
    expect_rc(pc_event_set(arg), 0);
    return NULL;
}

Test(event, set_wakes_a_forever_waiter, .timeout = 30) {
    pc_event *e;
    probe_init();
    expect_rc(pc_event_new(&e), 0);
    pthread_t t = start_pthread(setter, e);
    probe_install();
    expect_rc(pc_event_wait(e, PC_FOREVER), 0);
    pthread_join(t, NULL);
    cr_assert(pc_event_is_set(e));
    pc_event_free(e);
}

static void *lone_event_waiter(void *arg) {
    probe_install();
    pc_event_wait(arg, 30.0);
    return NULL;
}

static void free_event(void *e) {
    pc_event_free(e);
}

Test(event, free_with_waiters_aborts, .timeout = 30) {
    pc_event *e;
    probe_init();
    expect_rc(pc_event_new(&e), 0);
    pthread_t t = start_pthread(lone_event_waiter, e);
    probe_wait_parked(1);
    expect_child_aborts(free_event, e);
    expect_rc(pc_event_set(e), 0);
    pthread_join(t, NULL);
    pc_event_free(e); /* nobody waits now: no abort */
}
