/* base.h: errors, time, sleep, version, allocator hooks and fault injection. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

Test(base, strerror_covers_every_code) {
    cr_assert_str_eq(pc_strerror(0), "success");
    int codes[] = {-EAGAIN, -ETIMEDOUT, -EPIPE,   -ECANCELED, -EBUSY,
                   -EINVAL, -ENOMEM,    -EPERM,   -EDEADLK,   -EALREADY,
                   -ESRCH,  -EOVERFLOW, -ENOTSUP, PC_EBROKEN, -EOWNERDEAD};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        const char *s = pc_strerror(codes[i]);
        cr_assert_not_null(s);
        cr_assert_str_neq(s, "unknown error", "code %d has no text", codes[i]);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(s, pc_strerror(codes[j]), "codes %d and %d read alike", codes[i],
                              codes[j]);
    }
    cr_assert_str_eq(pc_strerror(-99999), "unknown error");
    cr_assert_not_null(pc_strerror(42));
}

Test(base, version) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", PC_VERSION_MAJOR, PC_VERSION_MINOR, PC_VERSION_PATCH);
    cr_assert_str_eq(pc_version_string(), want);
    cr_assert_eq(PC_VERSION_HEX,
                 (PC_VERSION_MAJOR << 16) | (PC_VERSION_MINOR << 8) | PC_VERSION_PATCH);
}

Test(base, now_is_monotonic_and_sleep_sleeps) {
    double a = pc_now();
    expect_rc(pc_sleep(0.05), 0);
    double b = pc_now();
    cr_assert(b - a >= 0.045 && b - a < 5, "slept %.3f", b - a);
    expect_rc(pc_sleep(0), 0);
    expect_rc(pc_sleep(-1), 0);
    cr_assert(pc_now() - b < 1);
    expect_rc(pc_sleep(NAN), -EINVAL);
}

static long hook_mallocs, hook_frees;
static void *my_malloc(size_t n, void *ctx) {
    (void)ctx;
    hook_mallocs++;
    return malloc(n);
}
static void *my_realloc(void *p, size_t n, void *ctx) {
    (void)ctx;
    return realloc(p, n);
}
static void my_free(void *p, void *ctx) {
    (void)ctx;
    hook_frees++;
    free(p);
}

Test(base, allocator_hooks_see_every_allocation) {
    pc_allocator a = {my_malloc, my_realloc, my_free, NULL};
    expect_rc(pc_set_allocator(&a), 0);
    pc_queue *q;
    expect_rc(pc_queue_new(&q, NULL), 0);
    cr_assert(hook_mallocs >= 2, "queue and its first segment");
    pc_queue_free(q);
    cr_assert_eq(hook_frees, hook_mallocs, "everything allocated was freed through the hook");
    expect_rc(pc_set_allocator(NULL), 0);
    long before = hook_mallocs;
    expect_rc(pc_queue_new(&q, NULL), 0);
    pc_queue_free(q);
    cr_assert_eq(hook_mallocs, before, "the default allocator is back");
}

Test(base, fail_nth_fails_exactly_that_one) {
    pc_lock *l[4];
    long c0 = pc_alloc_count();
    pc_alloc_fail_nth(3);
    expect_rc(pc_lock_new(&l[0]), 0);
    expect_rc(pc_lock_new(&l[1]), 0);
    expect_rc(pc_lock_new(&l[2]), -ENOMEM);
    expect_rc(pc_lock_new(&l[2]), 0);
    expect_rc(pc_lock_new(&l[3]), 0);
    cr_assert_eq(pc_alloc_count() - c0, 5);
    pc_alloc_fail_nth(1);
    pc_alloc_fail_nth(0); /* off again */
    pc_lock *extra;
    expect_rc(pc_lock_new(&extra), 0);
    pc_lock_free(extra);
    for (int i = 0; i < 4; i++)
        pc_lock_free(l[i]);
}
