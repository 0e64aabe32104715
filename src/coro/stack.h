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
} pc__stack;

/* The default usable size of a coroutine stack. */
#define PC__STACK_DEFAULT (256 * 1024)

/* A stack of at least `size` usable bytes (0: the default), from this
 * thread's pool or a new mapping.  0, -ENOMEM. */
int pc__stack_get(pc__stack *s, size_t size);
/* Give a stack back to this thread's pool (or unmap it). */
void pc__stack_put(pc__stack *s);
/* Whether `addr` lies in the guard of `s` (for reporting an overflow). */
bool pc__stack_in_guard(const pc__stack *s, const void *addr);

#endif
