/*
 * pc_thread under concurrency: starters, joiners with short timeouts, frees
 * of running threads and enumerate all at once, so TSan and ASan see the
 * record's hand-offs (finish vs. a timing-out joiner, the last reference
 * dropped by either side, the registry walked while it changes).  The
 * enumerated objects are not dereferenced: enumerate does not keep them
 * alive, and the freed ones may go at any moment.
 */
#include <errno.h>

#include "helpers.h"

#define STARTERS 3
#define ROUNDS 300

static pc_atomic_long ran = PC_ATOMIC_LONG_INIT(0);

static void *count(void *arg) {
    pc_atomic_long_add(&ran, 1);
    return arg;
}

/* Each round: start two threads; join one (first with a timeout of 0,
 * which may race its finish), free the other while it may still run. */
static void *starter(void *arg) {
    long fails = 0;
    for (int i = 0; i < ROUNDS; i++) {
        pc_thread *a, *b;
        if (pc_thread_new(&a, count, arg, NULL) || pc_thread_new(&b, count, arg, NULL))
            return (void *)-1L;
        if (pc_thread_start(a) || pc_thread_start(b))
            return (void *)-2L;
        int rc = pc_thread_join(a, 0);
        if (rc != 0 && rc != -ETIMEDOUT)
            fails++;
        if (pc_thread_join(a, 10.0) != 0 || pc_thread_result(a) != arg)
            fails++;
        pc_thread_free(a);
        pc_thread_free(b);
    }
    return (void *)fails;
}

Test(race, start_join_free_enumerate, .timeout = 30) {
    pc_thread *s[STARTERS];
    for (int i = 0; i < STARTERS; i++) {
        expect_rc(pc_thread_new(&s[i], starter, &s[i], NULL), 0);
        expect_rc(pc_thread_start(s[i]), 0);
    }
    pc_thread *seen[64];
    int max = 0;
    while (pc_thread_is_alive(s[0]) || pc_thread_is_alive(s[STARTERS - 1])) {
        int n = pc_thread_enumerate(seen, 64);
        cr_assert_geq(n, 1);
        cr_assert_eq(seen[0], pc_thread_main()); /* registered first, never leaves */
        max = n > max ? n : max;
        if (pc_thread_join(s[0], 0.001) == 0 && pc_thread_join(s[STARTERS - 1], 0.001) == 0)
            break;
    }
    for (int i = 0; i < STARTERS; i++) {
        expect_rc(pc_thread_join(s[i], 20.0), 0);
        cr_assert_eq((long)pc_thread_result(s[i]), 0);
        pc_thread_free(s[i]);
    }
    expect_rc(pc_thread_shutdown(10.0), 0); /* the freed ones, still finishing */
    cr_assert_eq(pc_atomic_long_load(&ran), 2L * STARTERS * ROUNDS);
    cr_assert_eq(pc_thread_active_count(), 1);
    cr_assert_geq(max, 1);
}
