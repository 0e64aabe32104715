/* Tasks shared by the pool tests. */
#ifndef PC_TEST_POOL_HELPERS_H
#define PC_TEST_POOL_HELPERS_H

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "helpers.h"

static inline long my_tid(void) {
    return pc_thread_native_id(pc_thread_current());
}

/* int -> int * int */
static inline int square(const void *arg, size_t len, pc_task_result *out) {
    if (len != sizeof(int))
        return pc_task_fail(out, -EINVAL, "want an int, got %zu bytes", len);
    int x;
    memcpy(&x, arg, sizeof x);
    int y = x * x;
    return pc_task_return(out, &y, sizeof y);
}

/* int -> its square, except 3 and 7, which fail with -EIO "bad N" */
static inline int square_but_3_7(const void *arg, size_t len, pc_task_result *out) {
    int x;
    memcpy(&x, arg, sizeof x);
    if (x == 3 || x == 7)
        return pc_task_fail(out, -EIO, "bad %d", x);
    return square(arg, len, out);
}

/* A record of where and when a task ran. */
typedef struct ran {
    long tid;
    long seq;
} ran;

static _Thread_local long t_seq;

/* int i -> ran {tid, the worker's own count of tasks run} */
static inline int where(const void *arg, size_t len, pc_task_result *out) {
    (void)arg;
    (void)len;
    ran r = {my_tid(), t_seq++};
    return pc_task_return(out, &r, sizeof r);
}

static inline int result_int(pc_future *f) {
    const void *b;
    size_t n;
    cr_assert_eq(pc_future_result(f, &b, &n, 30.0), 0);
    cr_assert_eq(n, sizeof(int));
    int v;
    memcpy(&v, b, sizeof v);
    return v;
}

/* A process pool test, once per start method: the body gets `m`; the
 * suites are SUITE_fork, SUITE_spawn and SUITE_forkserver. */
#define PROC_POOL_TEST(suite, name, ...)                                                           \
    static void name##_body(pc_start_method m);                                                    \
    Test(suite##_fork, name, __VA_ARGS__) {                                                        \
        name##_body(PC_START_FORK);                                                                \
    }                                                                                              \
    Test(suite##_spawn, name, __VA_ARGS__) {                                                       \
        name##_body(PC_START_SPAWN);                                                               \
    }                                                                                              \
    Test(suite##_forkserver, name, __VA_ARGS__) {                                                  \
        name##_body(PC_START_FORKSERVER);                                                          \
    }                                                                                              \
    static void name##_body(pc_start_method m)

static inline pc_pool *proc_pool(pc_start_method m, int workers) {
    pc_pool *p;
    expect_rc(pc_pool_new(
                  &p, &(pc_pool_opts){.kind = PC_POOL_PROCESSES, .workers = workers, .method = m}),
              0);
    return p;
}

/* close, join, free */
static inline void end_pool(pc_pool *p) {
    expect_rc(pc_pool_close(p), 0);
    expect_rc(pc_pool_join(p, 30.0), 0);
    pc_pool_free(p);
}

#endif
