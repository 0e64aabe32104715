/* pc_atomic_long: the fix for the seed's `num += n; num -= n` race. */
#include <limits.h>

#include "sync-helpers.h"

Test(atomic, operations) {
    pc_atomic_long a = PC_ATOMIC_LONG_INIT(5);
    cr_assert_eq(pc_atomic_long_load(&a), 5);
    cr_assert_eq(pc_atomic_long_add(&a, 3), 8); /* returns the new value */
    cr_assert_eq(pc_atomic_long_sub(&a, 10), -2);
    cr_assert_eq(pc_atomic_long_load(&a), -2);
    pc_atomic_long_store(&a, 40);
    cr_assert_eq(pc_atomic_long_load(&a), 40);
    long expected = 41;
    cr_assert(!pc_atomic_long_cas(&a, &expected, 0));
    cr_assert_eq(expected, 40); /* the current value, for the retry */
    cr_assert_eq(pc_atomic_long_load(&a), 40);
    cr_assert(pc_atomic_long_cas(&a, &expected, 42));
    cr_assert_eq(pc_atomic_long_load(&a), 42);
    pc_atomic_long_init(&a, LONG_MIN);
    cr_assert_eq(pc_atomic_long_load(&a), LONG_MIN);
    cr_assert_eq(pc_atomic_long_add(&a, LONG_MAX), -1);
}

/* The seed: threads add n and subtract it again; the total stays 0. */
#define ROUNDS 100000
static pc_atomic_long num = PC_ATOMIC_LONG_INIT(0);

static void *add_sub(void *arg) {
    long n = (long)(intptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        pc_atomic_long_add(&num, n);
        pc_atomic_long_sub(&num, n);
    }
    return NULL;
}

Test(atomic, four_threads_add_and_sub_leave_zero, .timeout = 60) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = start_pthread(add_sub, (void *)(intptr_t)((i + 1) * 7));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(pc_atomic_long_load(&num), 0);
}

/* Increments through a CAS loop are not lost either. */
static pc_atomic_long cas_counter = PC_ATOMIC_LONG_INIT(0);

static void *cas_up(void *arg) {
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        long v = pc_atomic_long_load(&cas_counter);
        while (!pc_atomic_long_cas(&cas_counter, &v, v + 1)) {
        }
    }
    return NULL;
}

Test(atomic, cas_loop_counts_exactly, .timeout = 60) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = start_pthread(cas_up, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(pc_atomic_long_load(&cas_counter), 4L * ROUNDS);
}
