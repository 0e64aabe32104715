/*
 * pyconc/base.h - errors, time, allocator hooks and version.
 *
 * Every pyconc call that can fail returns an int: 0 (or a count) on success,
 * a negative errno value on failure.  pc_strerror() turns any such value into
 * text.  Every blocking call takes a relative timeout in seconds as a double,
 * its last argument: PC_FOREVER (any negative value) waits without limit, 0
 * never blocks.
 */
#ifndef PYCONC_BASE_H
#define PYCONC_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PC_BUILDING_LIBRARY)
#define PC_EXTERN __attribute__((visibility("default")))
#else
#define PC_EXTERN
#endif

#define PC_VERSION_MAJOR 0
#define PC_VERSION_MINOR 1
#define PC_VERSION_PATCH 0
/* One number that grows with every release: 0x00MMmmpp. */
#define PC_VERSION_HEX ((PC_VERSION_MAJOR << 16) | (PC_VERSION_MINOR << 8) | PC_VERSION_PATCH)

/* The version of the library actually linked, "MAJOR.MINOR.PATCH".
 * Thread-safe, async-signal-safe. */
PC_EXTERN const char *pc_version_string(void);

/* Wait without limit.  Every negative timeout means the same. */
#define PC_FOREVER (-1.0)

/*
 * Private error codes, for conditions POSIX has no errno for.  They sit far
 * below any errno value, so they never collide with one.
 */
#define PC_EBROKEN (-4001) /* a Barrier is broken (Python's BrokenBarrierError) */
/* A process pool's worker died (killed by a signal, or exited) while it
 * held the task: not the task's own error (Python: BrokenProcessPool). */
#define PC_EWORKERDIED (-4002)

/*
 * Text for an error code: accepts a negative errno, a pyconc private code,
 * or 0 ("success").  Never returns NULL; unknown codes get a generic text.
 * Thread-safe, async-signal-safe (static strings only).
 */
PC_EXTERN const char *pc_strerror(int err);

/*
 * Seconds on the monotonic clock (CLOCK_MONOTONIC), as Python's
 * time.monotonic().  Only differences are meaningful.
 * Thread-safe, async-signal-safe.
 */
PC_EXTERN double pc_now(void);

/*
 * Sleep for `seconds` (0 yields the processor).  Returns 0, or -EINVAL for
 * NaN.  A negative value returns at once.  Signals don't shorten the sleep.
 * Thread-safe.
 */
PC_EXTERN int pc_sleep(double seconds);

/*
 * Allocator hooks.  Every allocation the library makes goes through these.
 * Set them before any other pyconc call; objects must be freed with the
 * allocator they were made with.  Fields left NULL keep the libc default.
 * more fields may be added.
 */
typedef struct pc_allocator {
    void *(*malloc_fn)(size_t size, void *ctx);
    void *(*realloc_fn)(void *ptr, size_t size, void *ctx);
    void (*free_fn)(void *ptr, void *ctx);
    void *ctx;
} pc_allocator;

/*
 * Install `a` (copied), or the libc allocator when `a` is NULL.
 * Returns 0.  Not thread-safe: call it before the library is in use.
 */
PC_EXTERN int pc_set_allocator(const pc_allocator *a);

/*
 * Fault injection for tests: the `nth` allocation from now (1 = the next
 * one) fails as if memory ran out; 0 turns injection off.  Only that one
 * allocation fails.  Thread-safe.
 */
PC_EXTERN void pc_alloc_fail_nth(long nth);

/* The number of allocations made through the hooks (successful or
 * injected failures) since counting started: with the first call of
 * pc_alloc_count or pc_alloc_fail_nth, so that a program that never asks
 * pays nothing for the count.  Tests use the difference of two calls to
 * walk every allocation of a call.  Thread-safe. */
PC_EXTERN long pc_alloc_count(void);

/* Private: the wait queue that blocking primitives park on (see the
 * library's src/internal/waiter.h).  Public only so that caller-storage
 * primitives (pc_lock) can embed one. */
struct pc__waiter;
typedef struct pc__waitq {
    struct pc__waiter *head, *tail;
} pc__waitq;

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_BASE_H */
