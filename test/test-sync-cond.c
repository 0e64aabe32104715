/* pc_cond: threading.Condition: wait/notify, wait_for, timeouts, misuse. */
#include <errno.h>
#include <math.h>

#include "sync-helpers.h"

Test(cond, bad_input) {
    pc_cond *c;
    pc_lock l = PC_LOCK_INIT;
    pc_rlock r = PC_RLOCK_INIT;
    expect_rc(pc_cond_new(NULL, NULL, NULL), -EINVAL);
    expect_rc(pc_cond_new(&c, &l, &r), -EINVAL); /* one lock, not two */
    expect_rc(pc_cond_acquire(NULL, true, PC_FOREVER), -EINVAL);
    expect_rc(pc_cond_release(NULL), -EINVAL);
    expect_rc(pc_cond_wait(NULL, 1.0), -EINVAL);
    expect_rc(pc_cond_wait_for(NULL, NULL, NULL, 1.0), -EINVAL);
    expect_rc(pc_cond_notify(NULL, 1), -EINVAL);
    expect_rc(pc_cond_notify_all(NULL), -EINVAL);
    pc_cond_free(NULL);
    expect_rc(pc_cond_new(&c, NULL, NULL), 0);
    expect_rc(pc_cond_acquire(c, true, PC_FOREVER), 0);
    expect_rc(pc_cond_wait(c, NAN), -EINVAL);
    expect_rc(pc_cond_wait_for(c, NULL, NULL, 1.0), -EINVAL);
    expect_rc(pc_cond_notify(c, -1), -EINVAL);
    expect_rc(pc_cond_acquire(c, false, 1.0), -EINVAL);
    expect_rc(pc_cond_release(c), 0);
    pc_cond_free(c);
}

Test(cond, alloc_failure) {
    pc_cond *c;
    pc_alloc_fail_nth(1);
    expect_rc(pc_cond_new(&c, NULL, NULL), -ENOMEM);
    expect_rc(pc_cond_new(&c, NULL, NULL), 0);
    pc_cond_free(c);
}

static bool never(void *arg) {
    (void)arg;
    return false;
}

static bool always(void *arg) {
    (void)arg;
    return true;
}

/* wait/notify without the lock: -EPERM, for each kind of lock. */
static void expect_eperm(pc_cond *c) {
    expect_rc(pc_cond_wait(c, PC_FOREVER), -EPERM);
    expect_rc(pc_cond_wait(c, 0), -EPERM);
    expect_rc(pc_cond_wait_for(c, always, NULL, PC_FOREVER), -EPERM);
    expect_rc(pc_cond_notify(c, 1), -EPERM);
    expect_rc(pc_cond_notify_all(c), -EPERM);
    expect_rc(pc_cond_release(c), -EPERM);
}

static void *eperm_thread(void *arg) {
    expect_eperm(arg);
    return NULL;
}

Test(cond, misuse_without_the_lock) {
    pc_lock l = PC_LOCK_INIT;
    pc_rlock r = PC_RLOCK_INIT;
    pc_cond *cl, *cr, *cd;
    expect_rc(pc_cond_new(&cl, &l, NULL), 0);
    expect_rc(pc_cond_new(&cr, NULL, &r), 0);
    expect_rc(pc_cond_new(&cd, NULL, NULL), 0);
    expect_eperm(cl);
    expect_eperm(cr);
    expect_eperm(cd);
    /* An RLock held by another thread is not held by the caller. */
    expect_rc(pc_cond_acquire(cr, true, PC_FOREVER), 0);
    expect_rc(pc_cond_acquire(cd, true, PC_FOREVER), 0);
    pthread_join(start_pthread(eperm_thread, cr), NULL);
    pthread_join(start_pthread(eperm_thread, cd), NULL);
    expect_rc(pc_cond_release(cr), 0);
    expect_rc(pc_cond_release(cd), 0);
    pc_cond_free(cl);
    pc_cond_free(cr);
    pc_cond_free(cd);
}

Test(cond, wait_timeout_reacquires_the_lock) {
    pc_lock l = PC_LOCK_INIT;
    pc_rlock r = PC_RLOCK_INIT;
    pc_cond *cl, *cr;
    expect_rc(pc_cond_new(&cl, &l, NULL), 0);
    expect_rc(pc_cond_new(&cr, NULL, &r), 0);

    expect_rc(pc_cond_acquire(cl, true, PC_FOREVER), 0);
    double t0 = pc_now();
    expect_rc(pc_cond_wait(cl, 0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5.0, "waited %.3f s", dt);
    cr_assert(pc_lock_locked(&l));
    expect_rc(pc_cond_wait(cl, 0), -ETIMEDOUT); /* 0: no wait at all */
    cr_assert(pc_lock_locked(&l));
    expect_rc(pc_cond_release(cl), 0);

    for (int i = 0; i < 3; i++)
        expect_rc(pc_cond_acquire(cr, true, PC_FOREVER), 0);
    expect_rc(pc_cond_wait(cr, 0.05), -ETIMEDOUT);
    cr_assert_eq(pc_rlock_count(&r), 3); /* the whole count is back */
    expect_rc(pc_cond_wait(cr, 0), -ETIMEDOUT);
    cr_assert_eq(pc_rlock_count(&r), 3);
    for (int i = 0; i < 3; i++)
        expect_rc(pc_cond_release(cr), 0);
    cr_assert(!pc_rlock_is_owned(&r));
    pc_cond_free(cl);
    pc_cond_free(cr);
}

/* wait() releases an RLock completely: another thread takes it meanwhile. */
struct visit {
    pc_cond *c;
    bool visited;
};

static void *visitor(void *arg) {
    struct visit *v = arg;
    expect_rc(pc_cond_acquire(v->c, true, 30.0), 0);
    v->visited = true;
    expect_rc(pc_cond_notify(v->c, 1), 1);
    expect_rc(pc_cond_release(v->c), 0);
    return NULL;
}

Test(cond, wait_releases_a_recursive_lock_fully, .timeout = 30) {
    struct visit v = {0};
    expect_rc(pc_cond_new(&v.c, NULL, NULL), 0);
    expect_rc(pc_cond_acquire(v.c, true, PC_FOREVER), 0);
    expect_rc(pc_cond_acquire(v.c, true, PC_FOREVER), 0);
    pthread_t t = start_pthread(visitor, &v);
    while (!v.visited) /* the visitor holds the lock while it sets it */
        expect_rc(pc_cond_wait(v.c, 30.0), 0);
    expect_rc(pc_cond_release(v.c), 0);
    expect_rc(pc_cond_release(v.c), 0);
    expect_rc(pc_cond_release(v.c), -EPERM);
    pthread_join(t, NULL);
    pc_cond_free(v.c);
}

/*
 * K waiters, queued in a known order.  Each waiter, holding the lock,
 * records its arrival, waits on `c`, then records its wake-up in `order`.
 * The probe tells the main thread when each one is parked, i.e. queued.
 */
#define K 4
struct crowd {
    pc_lock l;
    pc_cond *c;
    int order[K], n_woken;
    int rc[K];
    pthread_t t[K];
};

struct member {
    struct crowd *cr;
    int id;
};
static struct member members[K];

static void *crowd_waiter(void *arg) {
    struct member *m = arg;
    struct crowd *cr = m->cr;
    probe_install();
    expect_rc(pc_cond_acquire(cr->c, true, PC_FOREVER), 0);
    cr->rc[m->id] = pc_cond_wait(cr->c, 30.0);
    cr->order[cr->n_woken++] = m->id;
    expect_rc(pc_cond_release(cr->c), 0);
    return NULL;
}

static void crowd_start(struct crowd *cr) {
    probe_init();
    pc_lock_init(&cr->l);
    cr->n_woken = 0;
    expect_rc(pc_cond_new(&cr->c, &cr->l, NULL), 0);
    for (int i = 0; i < K; i++) {
        members[i] = (struct member){cr, i};
        cr->rc[i] = 1;
        cr->t[i] = start_pthread(crowd_waiter, &members[i]);
        probe_wait_parked(1); /* i is queued before i + 1 starts */
    }
}

static void crowd_join(struct crowd *cr) {
    for (int i = 0; i < K; i++) {
        pthread_join(cr->t[i], NULL);
        expect_rc(cr->rc[i], 0);
    }
    pc_cond_free(cr->c);
}

Test(cond, notify_one_wakes_exactly_one_oldest_first, .timeout = 30) {
    struct crowd cr;
    crowd_start(&cr);
    for (int i = 0; i < K; i++) {
        expect_rc(pc_cond_acquire(cr.c, true, PC_FOREVER), 0);
        expect_rc(pc_cond_notify(cr.c, 1), 1);
        expect_rc(pc_cond_notify(cr.c, 0), 0);
        expect_rc(pc_cond_release(cr.c), 0);
        pthread_join(cr.t[i], NULL); /* the oldest waiter, and only it */
        cr_assert_eq(cr.n_woken, i + 1);
        cr_assert_eq(cr.order[i], i);
        cr.t[i] = 0;
        expect_rc(cr.rc[i], 0);
    }
    expect_rc(pc_cond_acquire(cr.c, true, PC_FOREVER), 0);
    expect_rc(pc_cond_notify(cr.c, 1), 0); /* nobody left */
    expect_rc(pc_cond_release(cr.c), 0);
    pc_cond_free(cr.c);
}

Test(cond, notify_n_and_notify_all, .timeout = 30) {
    struct crowd cr;
    crowd_start(&cr);
    expect_rc(pc_cond_acquire(cr.c, true, PC_FOREVER), 0);
    expect_rc(pc_cond_notify(cr.c, 2), 2);
    expect_rc(pc_cond_notify_all(cr.c), K - 2); /* exactly two were taken */
    expect_rc(pc_cond_notify_all(cr.c), 0);
    expect_rc(pc_cond_release(cr.c), 0);
    crowd_join(&cr);
    cr_assert_eq(cr.n_woken, K);
}

Test(cond, notify_more_than_waiting, .timeout = 30) {
    struct crowd cr;
    crowd_start(&cr);
    expect_rc(pc_cond_acquire(cr.c, true, PC_FOREVER), 0);
    expect_rc(pc_cond_notify(cr.c, 100), K);
    expect_rc(pc_cond_release(cr.c), 0);
    crowd_join(&cr);
}

/* A bounded buffer, Python's textbook example: 2 producers, 2 consumers,
 * each side waits with wait_for on its own condition of one lock. */
#define CAP 4
#define ITEMS 20000
struct buffer {
    pc_lock l;
    pc_cond *not_empty, *not_full;
    long items[CAP];
    int head, len;
    long sum;
    int consumed;
};

static bool has_item(void *arg) {
    struct buffer *b = arg;
    return b->len > 0 || b->consumed == 2 * ITEMS;
}

static bool has_room(void *arg) {
    return ((struct buffer *)arg)->len < CAP;
}

static void *producer(void *arg) {
    struct buffer *b = arg;
    for (long i = 1; i <= ITEMS; i++) {
        expect_rc(pc_lock_acquire(&b->l, true, PC_FOREVER), 0);
        expect_rc(pc_cond_wait_for(b->not_full, has_room, b, 30.0), 0);
        b->items[(b->head + b->len++) % CAP] = i;
        cr_assert(pc_cond_notify(b->not_empty, 1) >= 0);
        expect_rc(pc_lock_release(&b->l), 0);
    }
    return NULL;
}

static void *consumer(void *arg) {
    struct buffer *b = arg;
    for (;;) {
        expect_rc(pc_lock_acquire(&b->l, true, PC_FOREVER), 0);
        expect_rc(pc_cond_wait_for(b->not_empty, has_item, b, 30.0), 0);
        if (b->len == 0) { /* all consumed: tell the other consumer too */
            pc_cond_notify_all(b->not_empty);
            pc_lock_release(&b->l);
            return NULL;
        }
        b->sum += b->items[b->head];
        b->head = (b->head + 1) % CAP;
        b->len--;
        b->consumed++;
        cr_assert(pc_cond_notify(b->not_full, 1) >= 0);
        if (b->consumed == 2 * ITEMS)
            pc_cond_notify_all(b->not_empty);
        expect_rc(pc_lock_release(&b->l), 0);
    }
}

Test(cond, producer_consumer_with_wait_for, .timeout = 60) {
    static struct buffer b = {.l = PC_LOCK_INIT};
    expect_rc(pc_cond_new(&b.not_empty, &b.l, NULL), 0);
    expect_rc(pc_cond_new(&b.not_full, &b.l, NULL), 0);
    pthread_t t[4];
    for (int i = 0; i < 2; i++) {
        t[i] = start_pthread(producer, &b);
        t[2 + i] = start_pthread(consumer, &b);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(b.consumed, 2 * ITEMS);
    cr_assert_eq(b.sum, 2L * ITEMS * (ITEMS + 1) / 2);
    cr_assert_eq(b.len, 0);
    pc_cond_free(b.not_empty);
    pc_cond_free(b.not_full);
}

Test(cond, wait_for_checks_first_and_after_timeout) {
    pc_cond *c;
    expect_rc(pc_cond_new(&c, NULL, NULL), 0);
    expect_rc(pc_cond_acquire(c, true, PC_FOREVER), 0);
    expect_rc(pc_cond_wait_for(c, always, NULL, 0), 0);
    expect_rc(pc_cond_wait_for(c, always, NULL, PC_FOREVER), 0);
    expect_rc(pc_cond_wait_for(c, never, NULL, 0), -ETIMEDOUT);
    double t0 = pc_now();
    expect_rc(pc_cond_wait_for(c, never, NULL, 0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5.0, "waited %.3f s", dt);
    expect_rc(pc_cond_release(c), 0);
    pc_cond_free(c);
}

/* The timeout of wait_for covers the whole wait: a stream of notifies
 * (each of which re-checks a false predicate) does not stretch it. */
struct chatter {
    pc_cond *c;
    pc_event *stop;
    long notifies;
};

static void *chatterbox(void *arg) {
    struct chatter *ch = arg;
    while (pc_event_wait(ch->stop, 0.002) == -ETIMEDOUT) { /* pace, not order */
        pc_cond_acquire(ch->c, true, PC_FOREVER);
        ch->notifies += pc_cond_notify_all(ch->c);
        pc_cond_release(ch->c);
    }
    return NULL;
}

static int checks;
static bool count_and_refuse(void *arg) {
    (void)arg;
    checks++;
    return false;
}

Test(cond, wait_for_deadline_is_total, .timeout = 30) {
    struct chatter ch = {0};
    expect_rc(pc_cond_new(&ch.c, NULL, NULL), 0);
    expect_rc(pc_event_new(&ch.stop), 0);
    pthread_t t = start_pthread(chatterbox, &ch);
    expect_rc(pc_cond_acquire(ch.c, true, PC_FOREVER), 0);
    double t0 = pc_now();
    expect_rc(pc_cond_wait_for(ch.c, count_and_refuse, NULL, 0.3), -ETIMEDOUT);
    double dt = pc_now() - t0;
    expect_rc(pc_cond_release(ch.c), 0);
    pc_event_set(ch.stop);
    pthread_join(t, NULL);
    cr_assert(dt >= 0.28 && dt < 5.0, "waited %.3f s", dt);
    /* one check first, one per notify, one more if the last wait timed out */
    cr_assert(ch.notifies > 0 && (checks == ch.notifies + 1 || checks == ch.notifies + 2),
              "%ld notifies, %d checks", ch.notifies, checks);
    pc_event_free(ch.stop);
    pc_cond_free(ch.c);
}

/* Freeing a condition with waiters is a programmer error: it aborts. */
static void *lone_waiter(void *arg) {
    probe_install();
    pc_cond_acquire(arg, true, PC_FOREVER);
    pc_cond_wait(arg, 30.0);
    return NULL;
}

static void free_cond(void *c) {
    pc_cond_free(c);
}

Test(cond, free_with_waiters_aborts, .timeout = 30) {
    pc_cond *c;
    probe_init();
    expect_rc(pc_cond_new(&c, NULL, NULL), 0);
    pthread_t t = start_pthread(lone_waiter, c);
    probe_wait_parked(1);
    expect_child_aborts(free_cond, c);
    expect_rc(pc_cond_acquire(c, true, PC_FOREVER), 0);
    expect_rc(pc_cond_notify(c, 1), 1);
    expect_rc(pc_cond_release(c), 0);
    pthread_join(t, NULL);
    pc_cond_free(c); /* nobody waits now: no abort */
}
