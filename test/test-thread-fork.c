/*
 * Threads across fork(): in the child only the forking thread exists.  It
 * is the child's main thread; every other thread is reported finished, and
 * a join of it returns at once.  Each child checks itself and reports the
 * number of the first failed check as its exit status (0: all held).
 */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "thread-helpers.h"

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0 /* TSan does not support new threads after such a fork */
#endif

#define CHECK(n, cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            _exit(n);                                                                              \
    } while (0)

/* What holds in every child, whichever thread forked. */
static void common_child_checks(pc_thread *held, pc_thread *self) {
    CHECK(10, pc_thread_current() == self);
    CHECK(11, pc_thread_main() == self);
    CHECK(12, pc_thread_is_alive(self));
    CHECK(13, pc_thread_native_id(self) == (long)getpid());
    CHECK(14, pc_thread_ident(self) == (unsigned long)pthread_self());
    CHECK(15, !pc_thread_is_alive(held));
    CHECK(16, pc_thread_native_id(held) == -1);
    CHECK(17, pc_thread_join(held, PC_FOREVER) == 0); /* at once, not a hang */
    CHECK(18, pc_thread_active_count() == 1);
    pc_thread *all[4];
    CHECK(19, pc_thread_enumerate(all, 4) == 1 && all[0] == self);
    CHECK(20, pc_thread_shutdown(PC_FOREVER) == 0); /* `held` is not waited for */
    if (!UNDER_TSAN) {                              /* the child can start and join threads */
        struct hold h;
        pc_thread *t;
        CHECK(21, pc_event_new(&h.in) == 0 && pc_event_new(&h.go) == 0);
        CHECK(22, pc_thread_new(&t, held_target, &h, NULL) == 0);
        CHECK(23, pc_thread_start(t) == 0 && pc_event_wait(h.in, 10.0) == 0);
        CHECK(24, pc_thread_active_count() == 2);
        pc_event_set(h.go);
        CHECK(25, pc_thread_join(t, 10.0) == 0 && pc_thread_result(t) == &h);
        CHECK(26, pc_thread_active_count() == 1);
        pc_thread_free(t);
    }
}

static int wait_child(pid_t pid) {
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + status;
}

Test(fork, from_main_thread, .timeout = 20) {
    struct hold h;
    hold_init(&h);
    pc_thread *held = start_held(&h, NULL);
    pc_thread *m = pc_thread_main();
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        CHECK(1, strcmp(pc_thread_name(m), "MainThread") == 0);
        common_child_checks(held, m);
        _exit(0);
    }
    int rc = wait_child(pid);
    cr_assert_eq(rc, 0, "child failed check %d", rc);
    cr_assert(pc_thread_is_alive(held)); /* the parent is untouched */
    cr_assert_eq(pc_thread_active_count(), 2);
    pc_event_set(h.go);
    expect_rc(pc_thread_join(held, 10.0), 0);
    pc_thread_free(held);
    hold_fini(&h);
}

/* A pyconc thread forks: it becomes the child's main thread, and the
 * parent's main thread is finished there. */
struct forker {
    pc_thread *held, *parent_main;
};

static void *fork_from_thread(void *arg) {
    struct forker *f = arg;
    pc_thread *me = pc_thread_current();
    pid_t pid = fork();
    if (pid < 0)
        return (void *)-1L;
    if (pid == 0) {
        CHECK(1, strcmp(pc_thread_name(me), "forker") == 0);
        CHECK(2, !pc_thread_is_alive(f->parent_main));
        CHECK(3, pc_thread_join(f->parent_main, PC_FOREVER) == 0);
        common_child_checks(f->held, me);
        _exit(0);
    }
    return (void *)(long)wait_child(pid);
}

Test(fork, from_a_pyconc_thread, .timeout = 20) {
    struct hold h;
    hold_init(&h);
    struct forker f = {.held = start_held(&h, NULL), .parent_main = pc_thread_main()};
    pc_thread *t;
    expect_rc(pc_thread_new(&t, fork_from_thread, &f, &(pc_thread_opts){.name = "forker"}), 0);
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_thread_join(t, 15.0), 0);
    cr_assert_eq((long)pc_thread_result(t), 0, "child failed check %ld", (long)pc_thread_result(t));
    cr_assert_eq(pc_thread_main(), f.parent_main);
    pc_event_set(h.go);
    expect_rc(pc_thread_join(f.held, 10.0), 0);
    pc_thread_free(f.held);
    pc_thread_free(t);
    hold_fini(&h);
}

/* A thread pyconc never saw forks: the child's main thread is it, under
 * the name "MainThread". */
static void *fork_from_foreign(void *arg) {
    pc_thread *held = arg;
    pid_t pid = fork();
    if (pid < 0)
        return (void *)-1L;
    if (pid == 0) {
        pc_thread *me = pc_thread_current();
        CHECK(1, strcmp(pc_thread_name(me), "MainThread") == 0);
        common_child_checks(held, me);
        _exit(0);
    }
    return (void *)(long)wait_child(pid);
}

Test(fork, from_a_foreign_thread, .timeout = 20) {
    struct hold h;
    hold_init(&h);
    pc_thread *held = start_held(&h, NULL);
    void *rc;
    pthread_join(start_pthread(fork_from_foreign, held), &rc);
    cr_assert_eq((long)rc, 0, "child failed check %ld", (long)rc);
    pc_event_set(h.go);
    expect_rc(pc_thread_join(held, 10.0), 0);
    pc_thread_free(held);
    hold_fini(&h);
}
