/* pc_thread: start, join, result, names, ids, liveness and misuse. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "thread-helpers.h"

static void *add_one(void *arg) {
    long *v = arg;
    ++*v;
    return (void *)(*v * 10);
}

Test(thread, function_thread_result, .timeout = 10) {
    long v = 41;
    pc_thread *t;
    expect_rc(pc_thread_new(&t, add_one, &v, NULL), 0);
    cr_assert_null(pc_thread_result(t));
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_thread_join(t, PC_FOREVER), 0);
    cr_assert_eq(v, 42);
    cr_assert_eq((long)pc_thread_result(t), 420);
    cr_assert(!pc_thread_is_alive(t));
    pc_thread_free(t);
}

/* The seed's MyThread(threading.Thread): a struct that embeds pc_thread. */
struct my_thread {
    pc_thread base;
    int runs;
    pc_thread *self_seen;
    char name_seen[64];
};

static void my_run(pc_thread *self) {
    struct my_thread *m = (struct my_thread *)self;
    m->runs++;
    m->self_seen = pc_thread_current();
    snprintf(m->name_seen, sizeof m->name_seen, "%s", pc_thread_name(self));
}

Test(thread, class_thread, .timeout = 10) {
    struct my_thread m = {.runs = 0};
    expect_rc(pc_thread_init(&m.base, my_run, &(pc_thread_opts){.name = "worker"}), 0);
    expect_rc(pc_thread_start(&m.base), 0);
    expect_rc(pc_thread_join(&m.base, 10.0), 0);
    cr_assert_eq(m.runs, 1);
    cr_assert_eq(m.self_seen, &m.base);
    cr_assert_str_eq(m.name_seen, "worker");
    cr_assert_null(pc_thread_result(&m.base));
    expect_rc(pc_thread_destroy(&m.base), 0);
    expect_rc(pc_thread_destroy(&m.base), -EINVAL); /* destroyed already */
}

static void *noop(void *arg) {
    return arg;
}

Test(thread, default_names_count_from_one, .timeout = 10) {
    pc_thread *a, *b;
    expect_rc(pc_thread_new(&a, noop, NULL, NULL), 0);
    expect_rc(pc_thread_new(&b, noop, NULL, &(pc_thread_opts){.name = NULL}), 0);
    cr_assert_str_eq(pc_thread_name(a), "Thread-1"); /* a fresh process per test */
    cr_assert_str_eq(pc_thread_name(b), "Thread-2");
    pc_thread_free(a);
    pc_thread_free(b);
}

Test(thread, names_custom_set_and_limits, .timeout = 10) {
    char n63[64], n64[65];
    memset(n63, 'x', 63);
    n63[63] = 0;
    memset(n64, 'y', 64);
    n64[64] = 0;
    pc_thread *t;
    expect_rc(pc_thread_new(&t, noop, NULL, &(pc_thread_opts){.name = n64}), -EINVAL);
    expect_rc(pc_thread_new(&t, noop, NULL, &(pc_thread_opts){.name = n63}), 0);
    cr_assert_str_eq(pc_thread_name(t), n63);
    expect_rc(pc_thread_set_name(t, n64), -EINVAL);
    cr_assert_str_eq(pc_thread_name(t), n63); /* unchanged */
    expect_rc(pc_thread_set_name(t, ""), 0);
    cr_assert_str_eq(pc_thread_name(t), "");
    expect_rc(pc_thread_set_name(t, "renamed"), 0);
    cr_assert_str_eq(pc_thread_name(t), "renamed");
    expect_rc(pc_thread_set_name(t, NULL), -EINVAL);
    expect_rc(pc_thread_set_name(NULL, "x"), -EINVAL);
    cr_assert_str_eq(pc_thread_name(NULL), "");
    pc_thread_free(t);
}

/* The OS-level name: the kernel's comm of the thread, first 15 bytes. */
static void read_comm(long tid, char *buf, size_t len) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld/comm", tid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    cr_assert_not_null(fgets(buf, (int)len, f));
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
}

Test(thread, os_name_follows_name, .timeout = 10) {
    struct hold h;
    hold_init(&h);
    pc_thread *t = start_held(&h, &(pc_thread_opts){.name = "a-very-long-thread-name"});
    char comm[32];
    read_comm(pc_thread_native_id(t), comm, sizeof comm);
    cr_assert_str_eq(comm, "a-very-long-thr");
    expect_rc(pc_thread_set_name(t, "short"), 0); /* from another thread */
    read_comm(pc_thread_native_id(t), comm, sizeof comm);
    cr_assert_str_eq(comm, "short");
    pc_event_set(h.go);
    expect_rc(pc_thread_join(t, 10.0), 0);
    expect_rc(pc_thread_set_name(t, "after"), 0); /* finished: only the object */
    cr_assert_str_eq(pc_thread_name(t), "after");
    pc_thread_free(t);
    hold_fini(&h);
}

Test(thread, ids_valid_after_start_and_distinct, .timeout = 10) {
    struct hold h1, h2;
    hold_init(&h1);
    hold_init(&h2);
    pc_thread *a, *b;
    expect_rc(pc_thread_new(&a, held_target, &h1, NULL), 0);
    expect_rc(pc_thread_new(&b, held_target, &h2, NULL), 0);
    cr_assert_eq(pc_thread_ident(a), 0);
    cr_assert_eq(pc_thread_native_id(a), 0);
    expect_rc(pc_thread_start(a), 0);
    /* valid as soon as start returns, before the thread is known to run */
    cr_assert_neq(pc_thread_ident(a), 0);
    cr_assert_gt(pc_thread_native_id(a), 0);
    expect_rc(pc_thread_start(b), 0);
    cr_assert_neq(pc_thread_ident(a), pc_thread_ident(b));
    cr_assert_neq(pc_thread_native_id(a), pc_thread_native_id(b));
    cr_assert_neq(pc_thread_native_id(a), (long)getpid());
    unsigned long ida = pc_thread_ident(a);
    pc_event_set(h1.go);
    pc_event_set(h2.go);
    expect_rc(pc_thread_join(a, 10.0), 0);
    expect_rc(pc_thread_join(b, 10.0), 0);
    cr_assert_eq(pc_thread_ident(a), ida); /* kept, as in Python */
    cr_assert_eq(pc_thread_native_id(a), -1);
    pc_thread_free(a);
    pc_thread_free(b);
    hold_fini(&h1);
    hold_fini(&h2);
}

struct ids {
    struct hold h;
    unsigned long self;
    long tid;
};

static void *report_ids(void *arg) {
    struct ids *ids = arg;
    ids->self = (unsigned long)pthread_self();
    ids->tid = gettid();
    return held_target(&ids->h);
}

Test(thread, ids_match_the_thread, .timeout = 10) {
    struct ids ids;
    hold_init(&ids.h);
    pc_thread *t;
    expect_rc(pc_thread_new(&t, report_ids, &ids, NULL), 0);
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_event_wait(ids.h.in, 10.0), 0);
    cr_assert_eq(pc_thread_ident(t), ids.self);
    cr_assert_eq(pc_thread_native_id(t), ids.tid);
    pc_event_set(ids.h.go);
    expect_rc(pc_thread_join(t, 10.0), 0);
    pc_thread_free(t);
    hold_fini(&ids.h);
}

Test(thread, is_alive_before_during_after, .timeout = 10) {
    struct hold h;
    hold_init(&h);
    pc_thread *t;
    expect_rc(pc_thread_new(&t, held_target, &h, NULL), 0);
    cr_assert(!pc_thread_is_alive(t));
    expect_rc(pc_thread_start(t), 0);
    cr_assert(pc_thread_is_alive(t)); /* alive as soon as start returns */
    expect_rc(pc_event_wait(h.in, 10.0), 0);
    cr_assert(pc_thread_is_alive(t));
    cr_assert_eq(h.seen_current, t);
    pc_event_set(h.go);
    expect_rc(pc_thread_join(t, 10.0), 0);
    cr_assert(!pc_thread_is_alive(t));
    cr_assert(!pc_thread_is_alive(NULL));
    pc_thread_free(t);
    hold_fini(&h);
}

Test(thread, join_timeout_while_held, .timeout = 10) {
    struct hold h;
    hold_init(&h);
    pc_thread *t = start_held(&h, NULL);
    expect_rc(pc_thread_join(t, 0), -ETIMEDOUT);
    double t0 = pc_now();
    expect_rc(pc_thread_join(t, 0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5.0, "waited %.3f s", dt);
    cr_assert(pc_thread_is_alive(t));
    pc_event_set(h.go);
    expect_rc(pc_thread_join(t, 10.0), 0);
    expect_rc(pc_thread_join(t, 10.0), 0); /* join twice */
    expect_rc(pc_thread_join(t, 0), 0);
    cr_assert_eq(pc_thread_result(t), &h);
    pc_thread_free(t);
    hold_fini(&h);
}

/* Several threads join one thread at once; all wake when it finishes. */
struct joiner_arg {
    pc_thread *target;
    pc_event *queued;
    int rc;
};

static void *joiner(void *arg) {
    struct joiner_arg *j = arg;
    pc_event_set(j->queued);
    j->rc = pc_thread_join(j->target, 20.0);
    return NULL;
}

Test(thread, many_joiners_all_wake, .timeout = 20) {
    struct hold h;
    hold_init(&h);
    pc_thread *t = start_held(&h, NULL);
    struct joiner_arg j[3];
    pc_thread *jt[3];
    for (int i = 0; i < 3; i++) {
        j[i] = (struct joiner_arg){.target = t, .rc = 1};
        expect_rc(pc_event_new(&j[i].queued), 0);
        expect_rc(pc_thread_new(&jt[i], joiner, &j[i], NULL), 0);
        expect_rc(pc_thread_start(jt[i]), 0);
        expect_rc(pc_event_wait(j[i].queued, 10.0), 0);
    }
    pc_event_set(h.go);
    for (int i = 0; i < 3; i++) {
        expect_rc(pc_thread_join(jt[i], 10.0), 0);
        expect_rc(j[i].rc, 0);
        pc_thread_free(jt[i]);
        pc_event_free(j[i].queued);
    }
    pc_thread_free(t);
    hold_fini(&h);
}

static void *join_self(void *arg) {
    (void)arg;
    return (void *)(long)pc_thread_join(pc_thread_current(), 1.0);
}

Test(thread, misuse_codes, .timeout = 10) {
    pc_thread *t;
    expect_rc(pc_thread_new(&t, join_self, NULL, NULL), 0);
    expect_rc(pc_thread_join(t, 1.0), -ESRCH); /* never started */
    expect_rc(pc_thread_set_daemon(t, true), 0);
    cr_assert(pc_thread_is_daemon(t));
    expect_rc(pc_thread_set_daemon(t, false), 0);
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_thread_start(t), -EALREADY);
    expect_rc(pc_thread_set_daemon(t, true), -EBUSY);
    expect_rc(pc_thread_join(t, 10.0), 0);
    expect_rc((int)(long)pc_thread_result(t), -EDEADLK);
    expect_rc(pc_thread_start(t), -EALREADY); /* also once finished */
    expect_rc(pc_thread_set_daemon(t, true), -EBUSY);
    cr_assert(!pc_thread_is_daemon(t));
    pc_thread_free(t);
    expect_rc(pc_thread_join(pc_thread_current(), 1.0), -EDEADLK);
    expect_rc(pc_thread_start(pc_thread_current()), -EALREADY);
    expect_rc(pc_thread_set_daemon(pc_thread_main(), true), -EBUSY);
}

Test(thread, bad_input, .timeout = 10) {
    pc_thread *t;
    pc_thread c;
    expect_rc(pc_thread_new(NULL, noop, NULL, NULL), -EINVAL);
    expect_rc(pc_thread_new(&t, NULL, NULL, NULL), -EINVAL);
    expect_rc(pc_thread_new(&t, noop, NULL, &(pc_thread_opts){.stack_size = 1}), -EINVAL);
    expect_rc(pc_thread_init(NULL, my_run, NULL), -EINVAL);
    expect_rc(pc_thread_init(&c, NULL, NULL), -EINVAL);
    expect_rc(pc_thread_destroy(NULL), -EINVAL);
    expect_rc(pc_thread_start(NULL), -EINVAL);
    expect_rc(pc_thread_join(NULL, 1.0), -EINVAL);
    expect_rc(pc_thread_set_daemon(NULL, true), -EINVAL);
    cr_assert_null(pc_thread_result(NULL));
    cr_assert_eq(pc_thread_ident(NULL), 0);
    cr_assert_eq(pc_thread_native_id(NULL), 0);
    cr_assert(!pc_thread_is_daemon(NULL));
    pc_thread_free(NULL);
    expect_rc(pc_thread_new(&t, noop, NULL, NULL), 0);
    expect_rc(pc_thread_join(t, NAN), -EINVAL);
    expect_rc(pc_thread_destroy(t), -EINVAL); /* not an init'ed thread */
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_thread_join(t, NAN), -EINVAL);
    expect_rc(pc_thread_join(t, -5.0), 0); /* any negative: forever */
    pc_thread_free(t);
}

/* A class thread's storage may not go while it runs: destroy says -EBUSY. */
struct held_class {
    pc_thread base;
    struct hold h;
};

static void held_class_run(pc_thread *self) {
    struct held_class *c = (struct held_class *)self;
    held_target(&c->h);
}

Test(thread, destroy_running_is_busy, .timeout = 10) {
    struct held_class c;
    hold_init(&c.h);
    expect_rc(pc_thread_init(&c.base, held_class_run, NULL), 0);
    expect_rc(pc_thread_start(&c.base), 0);
    expect_rc(pc_event_wait(c.h.in, 10.0), 0);
    expect_rc(pc_thread_destroy(&c.base), -EBUSY);
    cr_assert(pc_thread_is_alive(&c.base)); /* nothing done */
    pc_event_set(c.h.go);
    expect_rc(pc_thread_join(&c.base, 10.0), 0);
    expect_rc(pc_thread_destroy(&c.base), 0);
    hold_fini(&c.h);
}

Test(thread, destroy_unstarted, .timeout = 10) {
    pc_thread c;
    expect_rc(pc_thread_init(&c, my_run, NULL), 0);
    expect_rc(pc_thread_destroy(&c), 0);
}

/* pc_thread_free of a running thread: it goes on, and the record is freed
 * when it finishes (ASan's leak and use-after-free checks watch). */
struct orphan {
    struct hold h;
    bool name_ok, alive_ok;
};

static void *free_me_then_finish(void *arg) {
    struct orphan *o = arg;
    pc_event_set(o->h.in);
    pc_event_wait(o->h.go, 30.0);
    /* the object is still valid for the thread itself */
    pc_thread *me = pc_thread_current();
    o->name_ok = strcmp(pc_thread_name(me), "orphan") == 0;
    o->alive_ok = pc_thread_is_alive(me);
    return NULL;
}

Test(thread, free_running_thread, .timeout = 10) {
    struct orphan o = {.name_ok = false};
    hold_init(&o.h);
    pc_thread *t;
    expect_rc(pc_thread_new(&t, free_me_then_finish, &o, &(pc_thread_opts){.name = "orphan"}), 0);
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_event_wait(o.h.in, 10.0), 0);
    cr_assert_eq(pc_thread_active_count(), 2);
    pc_thread_free(t);
    cr_assert_eq(pc_thread_active_count(), 2); /* still running */
    pc_event_set(o.h.go);
    /* It can no longer be joined by its object; shutdown still finds it. */
    expect_rc(pc_thread_shutdown(10.0), 0);
    cr_assert_eq(pc_thread_active_count(), 1);
    cr_assert(o.name_ok);
    cr_assert(o.alive_ok);
    hold_fini(&o.h);
}

/* A run() that leaves through pthread_exit still finishes: joiners wake. */
static void *exits_early(void *arg) {
    (void)arg;
    pthread_exit(NULL);
}

Test(thread, pthread_exit_in_run_finishes, .timeout = 10) {
    pc_thread *t;
    expect_rc(pc_thread_new(&t, exits_early, NULL, NULL), 0);
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_thread_join(t, 10.0), 0);
    cr_assert(!pc_thread_is_alive(t));
    cr_assert_eq(pc_thread_active_count(), 1);
    pc_thread_free(t);
}

/* pthread_create failure: a stack no system can map. */
Test(thread, create_failure_is_eagain, .timeout = 10) {
    pc_thread *t;
    size_t huge = (size_t)1 << 46; /* 64 TiB */
    expect_rc(pc_thread_new(&t, noop, NULL, &(pc_thread_opts){.stack_size = huge}), 0);
    expect_rc(pc_thread_start(t), -EAGAIN);
    cr_assert(!pc_thread_is_alive(t));
    expect_rc(pc_thread_join(t, 1.0), -ESRCH); /* it never started */
    cr_assert_eq(pc_thread_active_count(), 1);
    pc_thread_free(t);
}

/* pthread_create failure: the RLIMIT_NPROC route; a failed start leaves
 * the thread unstarted, so it can be started once the limit is lifted. */
Test(thread, create_failure_by_rlimit, .timeout = 10) {
    /* root ignores RLIMIT_NPROC: become nobody (this process is the test's own) */
    if (geteuid() == 0)
        cr_assert_eq(setresuid(65534, 65534, 65534), 0);
    struct rlimit old, rl;
    cr_assert_eq(getrlimit(RLIMIT_NPROC, &old), 0);
    rl = (struct rlimit){0, old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_NPROC, &rl), 0);
    struct hold h;
    hold_init(&h);
    pc_thread *t;
    expect_rc(pc_thread_new(&t, held_target, &h, NULL), 0);
    expect_rc(pc_thread_start(t), -EAGAIN);
    cr_assert(!pc_thread_is_alive(t));
    cr_assert_eq(pc_thread_ident(t), 0);
    cr_assert_eq(pc_thread_active_count(), 1);
    cr_assert_eq(setrlimit(RLIMIT_NPROC, &old), 0);
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_event_wait(h.in, 10.0), 0);
    pc_event_set(h.go);
    expect_rc(pc_thread_join(t, 10.0), 0);
    cr_assert_eq(pc_thread_result(t), &h);
    pc_thread_free(t);
    hold_fini(&h);
}

Test(thread, alloc_failure_walk, .timeout = 10) {
    pc_thread *t = NULL;
    int n = 1;
    for (;; n++) {
        pc_alloc_fail_nth(n);
        int rc = pc_thread_new(&t, noop, NULL, NULL);
        if (rc == 0)
            break;
        expect_rc(rc, -ENOMEM);
    }
    pc_alloc_fail_nth(0);
    cr_assert_eq(n, 2, "pc_thread_new makes one allocation, walked %d", n);
    /* start allocates nothing of ours: it cannot fail for want of memory */
    long before = pc_alloc_count();
    pc_alloc_fail_nth(1);
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_thread_join(t, 10.0), 0);
    pc_alloc_fail_nth(0);
    cr_assert_eq(pc_alloc_count(), before);
    pc_thread_free(t);

    pc_thread c;
    pc_alloc_fail_nth(1);
    expect_rc(pc_thread_init(&c, my_run, NULL), -ENOMEM);
    expect_rc(pc_thread_init(&c, my_run, NULL), 0);
    expect_rc(pc_thread_destroy(&c), 0);
}
