/*
 * The held allocator of the queue tests: an allocation made while
 * `hold_allocs` is set announces itself on `in_alloc` and waits for
 * `release_alloc`, so a test can stop a put inside its segment allocation
 * and act meanwhile.  setup()/teardown() install and remove it (Criterion
 * .init/.fini).
 */
#ifndef PC_TEST_HELD_ALLOC_H
#define PC_TEST_HELD_ALLOC_H

#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "helpers.h"

/* Segments hold 63 items; the put of the 63rd allocates the next one (see
 * src/queue/segment.c). */
#define SEG_ITEMS 63

static _Atomic bool hold_allocs;
static sem_t in_alloc, release_alloc;

static void *held_malloc(size_t size, void *ctx) {
    (void)ctx;
    if (atomic_exchange(&hold_allocs, false)) {
        cr_assert_eq(sem_post(&in_alloc), 0);
        cr_assert_eq(sem_wait(&release_alloc), 0);
    }
    return malloc(size);
}

static void setup(void) {
    cr_assert_eq(sem_init(&in_alloc, 0, 0), 0);
    cr_assert_eq(sem_init(&release_alloc, 0, 0), 0);
    expect_rc(pc_set_allocator(&(pc_allocator){.malloc_fn = held_malloc}), 0);
}

static void teardown(void) {
    pc_set_allocator(NULL);
}

#endif
