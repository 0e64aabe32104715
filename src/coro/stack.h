/*
 * Coroutine stacks: mapped lazily (only touched pages become resident),
 * with a guard below the usable range so that an overflow faults instead
 * of corrupting memory, and pooled for reuse per thread.
 */
#ifndef PC_CORO_STACK_H
#define PC_CORO_STACK_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pc__stack {
    void *base;     /* lowest usable address */
    size_t size;    /* usable bytes */
    void *map;      /* the whole mapping, guard included */
    size_t map_len; /* its length */
    unsigned vg_id; /* Valgrind's id for the stack (0 outside Valgrind) */
} pc__stack;

/* The default usable size of a coroutine stack; a request is rounded up
 * to whole pages and to at least PC__STACK_MIN. */
#define PC__STACK_DEFAULT (256 * 1024)
#define PC__STACK_MIN (16 * 1024)
/* Stacks each thread keeps for reuse. */
#define PC__STACK_POOL_MAX 64

/* A stack of at least `size` usable bytes (0: the default), from this
 * thread's pool or a new mapping.  The usable range ends on a page
 * boundary (its top page is the only one a shallow coroutine touches).
 * 0, -ENOMEM (also for a size too large to map). */
int pc__stack_get(pc__stack *s, size_t size);
/* Give a stack back to this thread's pool (or unmap it). */
void pc__stack_put(pc__stack *s);
/* Whether `addr` lies in the guard of `s` (for reporting an overflow). */
bool pc__stack_in_guard(const pc__stack *s, const void *addr);

/* Unmap this thread's pooled stacks (thread exit does it too). */
void pc__stack_pool_drain(void);
/* How many stacks this thread's pool holds. */
int pc__stack_pool_count(void);

/* The guard new stacks get: MADV_GUARD_INSTALL markers where the kernel
 * has them (Linux 6.13+), else a PROT_NONE mapping.  Tests force the
 * fallback with pc__stack_guard_force(PC__GUARD_MPROTECT) and go back to
 * probing with PC__GUARD_PROBE; pc__stack_guard_mode tells which is in
 * force (PC__GUARD_PROBE until the first stack was mapped). */
enum { PC__GUARD_PROBE, PC__GUARD_MADVISE, PC__GUARD_MPROTECT };
void pc__stack_guard_force(int mode);
int pc__stack_guard_mode(void);

#endif
