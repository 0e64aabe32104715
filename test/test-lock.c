/* pc_lock: threading.Lock semantics, misuse and a contended counter. */
#include <errno.h>
#include <math.h>

#include "helpers.h"

Test(lock, acquire_release_locked) {
    pc_lock l = PC_LOCK_INIT;
    cr_assert(!pc_lock_locked(&l));
    expect_rc(pc_lock_acquire(&l, true, PC_FOREVER), 0);
    cr_assert(pc_lock_locked(&l));
    expect_rc(pc_lock_acquire(&l, false, PC_FOREVER), -EBUSY);
    expect_rc(pc_lock_acquire(&l, true, 0), -ETIMEDOUT);
    expect_rc(pc_lock_destroy(&l), -EBUSY);
    expect_rc(pc_lock_release(&l), 0);
    cr_assert(!pc_lock_locked(&l));
    expect_rc(pc_lock_destroy(&l), 0);
}

Test(lock, bad_input) {
    pc_lock l = PC_LOCK_INIT;
    expect_rc(pc_lock_acquire(NULL, true, PC_FOREVER), -EINVAL);
    expect_rc(pc_lock_release(NULL), -EINVAL);
    expect_rc(pc_lock_init(NULL), -EINVAL);
    expect_rc(pc_lock_new(NULL), -EINVAL);
    expect_rc(pc_lock_acquire(&l, true, NAN), -EINVAL);
    expect_rc(pc_lock_acquire(&l, false, 1.0), -EINVAL); /* Python: ValueError */
    expect_rc(pc_lock_release(&l), -EPERM);              /* release unlocked lock */
    cr_assert(!pc_lock_locked(NULL));
    pc_lock_free(NULL);
}

Test(lock, new_free_and_alloc_failure) {
    pc_lock *l;
    pc_alloc_fail_nth(1);
    expect_rc(pc_lock_new(&l), -ENOMEM);
    expect_rc(pc_lock_new(&l), 0);
    expect_rc(pc_lock_acquire(l, true, PC_FOREVER), 0);
    expect_rc(pc_lock_release(l), 0);
    pc_lock_free(l);
}

Test(lock, timeout_is_honoured) {
    pc_lock l = PC_LOCK_INIT;
    expect_rc(pc_lock_acquire(&l, true, PC_FOREVER), 0);
    double t0 = pc_now();
    expect_rc(pc_lock_acquire(&l, true, 0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5.0, "waited %.3f s", dt);
}

static void *release_other(void *arg) {
    expect_rc(pc_lock_release(arg), 0); /* like Python: any thread may release */
    return NULL;
}

Test(lock, another_thread_may_release) {
    pc_lock l = PC_LOCK_INIT;
    expect_rc(pc_lock_acquire(&l, true, PC_FOREVER), 0);
    pthread_join(start_pthread(release_other, &l), NULL);
    cr_assert(!pc_lock_locked(&l));
}

/* A waiter blocked in acquire gets the lock when the holder releases. */
struct handoff {
    pc_lock l;
    pc_event *started;
    int got;
};

static void *blocked_acquirer(void *arg) {
    struct handoff *h = arg;
    pc_event_set(h->started);
    h->got = pc_lock_acquire(&h->l, true, 30.0);
    pc_lock_release(&h->l);
    return NULL;
}

Test(lock, blocked_waiter_wakes_on_release) {
    struct handoff h = {.l = PC_LOCK_INIT};
    expect_rc(pc_event_new(&h.started), 0);
    expect_rc(pc_lock_acquire(&h.l, true, PC_FOREVER), 0);
    pthread_t t = start_pthread(blocked_acquirer, &h);
    expect_rc(pc_event_wait(h.started, 30.0), 0);
    expect_rc(pc_lock_release(&h.l), 0);
    pthread_join(t, NULL);
    expect_rc(h.got, 0);
    pc_event_free(h.started);
}

/* The seed's race, fixed by the lock: no increment is lost. */
#define ROUNDS 200000
static pc_lock counter_lock = PC_LOCK_INIT;
static long counter;

static void *count_up(void *arg) {
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        pc_lock_acquire(&counter_lock, true, PC_FOREVER);
        counter++;
        pc_lock_release(&counter_lock);
    }
    return NULL;
}

Test(lock, mutual_exclusion_under_contention, .timeout = 60) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = start_pthread(count_up, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(counter, 4L * ROUNDS);
}
