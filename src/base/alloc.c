/*
 * Allocation through the user's hooks, with fault injection.
 *
 * `calls` counts every allocation attempt; `fail_at` holds the value of
 * `calls` whose allocation must fail (0: none).  Both are relaxed atomics:
 * they order nothing, they only count.
 *
 * Counting starts with the first call of pc_alloc_count or
 * pc_alloc_fail_nth (`armed`, set once, never cleared): until then an
 * allocation reads one flag that nobody writes, instead of a locked
 * increment of a counter that every allocating thread would pull to its
 * own CPU (it cost a thread pool ~5% of its submit path).  The counts
 * that tests use are differences between two pc_alloc_count calls, all
 * made after arming: unchanged.  An allocation that happens after the
 * arming call (through any synchronisation: the pool's queue, a join)
 * sees the flag by coherence, even relaxed.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../internal/alloc.h"
#include "pyconc/base.h"

static pc_allocator hooks; /* written only before use (pc_set_allocator) */
static _Atomic bool armed;
static _Atomic long calls;
static _Atomic long fail_at;

int pc_set_allocator(const pc_allocator *a) {
    if (a)
        hooks = *a;
    else
        memset(&hooks, 0, sizeof hooks);
    return 0;
}

static void arm(void) {
    /* relaxed: counts only; see the note above */
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        atomic_store_explicit(&armed, true, memory_order_relaxed);
}

void pc_alloc_fail_nth(long nth) {
    arm();
    atomic_store_explicit(&fail_at,
                          nth > 0 ? atomic_load_explicit(&calls, memory_order_relaxed) + nth : 0,
                          memory_order_relaxed);
}

long pc_alloc_count(void) {
    arm();
    return atomic_load_explicit(&calls, memory_order_relaxed);
}

static int injected_failure(void) {
    /* relaxed: counts only */
    if (!atomic_load_explicit(&armed, memory_order_relaxed))
        return 0;
    long n = atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed) + 1;
    long at = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (at != 0 && n == at) {
        atomic_store_explicit(&fail_at, 0, memory_order_relaxed);
        return 1;
    }
    return 0;
}

void *pc__malloc(size_t size) {
    if (injected_failure())
        return NULL;
    return hooks.malloc_fn ? hooks.malloc_fn(size, hooks.ctx) : malloc(size);
}

void *pc__calloc(size_t n, size_t size) {
    if (size && n > (size_t)-1 / size)
        return NULL;
    void *p = pc__malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *pc__realloc(void *ptr, size_t size) {
    if (injected_failure())
        return NULL;
    return hooks.realloc_fn ? hooks.realloc_fn(ptr, size, hooks.ctx) : realloc(ptr, size);
}

void pc__free(void *ptr) {
    if (!ptr)
        return;
    if (hooks.free_fn)
        hooks.free_fn(ptr, hooks.ctx);
    else
        free(ptr);
}

char *pc__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = pc__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Over-allocate through the hooks and keep the raw pointer just below the
 * aligned block (the hooks have no aligned allocation of their own). */
void *pc__calloc_aligned(size_t size, size_t align) {
    if (size > (size_t)-1 - align - sizeof(void *))
        return NULL;
    unsigned char *raw = pc__malloc(size + align + sizeof(void *));
    if (!raw)
        return NULL;
    uintptr_t at = ((uintptr_t)raw + sizeof(void *) + align - 1) & ~(uintptr_t)(align - 1);
    ((void **)at)[-1] = raw;
    memset((void *)at, 0, size);
    return (void *)at;
}

void pc__free_aligned(void *ptr) {
    if (ptr)
        pc__free(((void **)ptr)[-1]);
}
