/*
 * The sanitizer builds' stand-in for Criterion's runner.
 *
 * Criterion cannot start under ThreadSanitizer: its runner maps an
 * "inheritable arena" that collides with TSan's fixed memory layout and
 * aborts ("Could not initialize inheritable arena", Criterion issue #274,
 * open since 2018).  Under ASan it starts, but it ignores a test process's
 * exit status, so LeakSanitizer's report (exit status 23) would not fail a
 * test.  The sanitizer builds therefore compile the same test files
 * against this header, which provides the subset of Criterion's API the
 * suite uses: Test(suite, name, .timeout, .init, .fini, .disabled), the
 * cr_assert family and cr_log_info.  Like Criterion it runs each test in a
 * process of its own (fork), kills it at its timeout, and prints one
 * summary line.  A test fails when its process exits nonzero, which is how both
 * sanitizers report.  The plain build uses the real Criterion.
 */
#ifndef PC_SANITIZER_RUNNER_CRITERION_H
#define PC_SANITIZER_RUNNER_CRITERION_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pc_shim_test {
    const char *suite, *name;
    void (*fn)(void);
    struct pc_shim_test *next;
    /* Criterion's options, as designated initializers */
    double timeout;
    void (*init)(void);
    void (*fini)(void);
    bool disabled;
};

void pc_shim_register(struct pc_shim_test *t);
_Noreturn void pc_shim_fail(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define PC_SHIM_CAT2(a, b) a##b
#define PC_SHIM_CAT(a, b) PC_SHIM_CAT2(a, b)

#define Test(suite, name, ...)                                                                     \
    static void suite##_##name(void);                                                              \
    static struct pc_shim_test PC_SHIM_CAT(pc_shim_t_, suite##_##name) = {                         \
        #suite, #name, suite##_##name, NULL, __VA_ARGS__};                                         \
    __attribute__((constructor)) static void PC_SHIM_CAT(pc_shim_r_, suite##_##name)(void) {       \
        pc_shim_register(&PC_SHIM_CAT(pc_shim_t_, suite##_##name));                                \
    }                                                                                              \
    static void suite##_##name(void)

#define cr_assert(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            pc_shim_fail(__FILE__, __LINE__, #cond, " " __VA_ARGS__);                              \
    } while (0)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) cr_assert(strcmp((a), (b)) != 0, __VA_ARGS__)
#define cr_assert_fail(...) pc_shim_fail(__FILE__, __LINE__, "cr_assert_fail", " " __VA_ARGS__)
#define cr_log_info(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))

#endif
