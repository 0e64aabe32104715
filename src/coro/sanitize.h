/*
 * Sanitizer annotations for switching stacks.  Each wrapper compiles to
 * nothing unless the build has the sanitizer it serves (GCC defines
 * __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__, clang has __has_feature).
 *
 * AddressSanitizer must know which stack is running: it keeps a shadow
 * of every stack frame and, with detect_stack_use_after_return, a "fake
 * stack" per stack.  ThreadSanitizer keeps one shadow call stack and one
 * vector clock per thread, and must be told that a thread now runs
 * another fiber (and that the switch orders what came before it).
 *
 * How the scheduler (coro.c) uses them.  Every context records
 *     const void *bottom; size_t size;   its stack: pc__stack base/size;
 *                                        for the thread's own context,
 *                                        what the first finish reports
 *     void *fake;                        ASan's fake stack while suspended
 *     void *tsan;                        its TSan fiber: pc__tsan_fiber_create()
 *                                        for a coroutine (at spawn),
 *                                        pc__tsan_fiber_current() for the
 *                                        thread's own context
 * and a switch from `a` to `b` is
 *
 *     pc__asan_start_switch(&a->fake, b->bottom, b->size);
 *     pc__tsan_fiber_switch(b->tsan);
 *     pc__ctx_switch(&a->ctx, &b->ctx);
 *     pc__asan_finish_switch(a->fake, NULL, NULL);   (back in a)
 *
 * A coroutine's entry function calls, first thing,
 *
 *     pc__asan_finish_switch(NULL, &from_bottom, &from_size);
 *
 * which tells the new context where the stack it came from lies; the first
 * coroutine a thread runs learns the thread stack's bounds this way (store
 * them in the thread's own context).  A coroutine's last switch away
 * (it finished) passes NULL instead of &a->fake, so ASan frees its fake
 * stack; after that switch some other context calls
 * pc__tsan_fiber_destroy(a->tsan) (never the running fiber) and returns
 * the stack with pc__stack_put.
 *
 * The wrappers are inline and their arguments are evaluated in every
 * build: keep them side-effect free.
 */
#ifndef PC_CORO_SANITIZE_H
#define PC_CORO_SANITIZE_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define PC__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PC__ASAN 1
#endif
#endif
#ifndef PC__ASAN
#define PC__ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define PC__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PC__TSAN 1
#endif
#endif
#ifndef PC__TSAN
#define PC__TSAN 0
#endif

#if PC__ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if PC__TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Before pc__ctx_switch: the stack about to run is [bottom, bottom+size).
 * fake_save: where to keep this context's fake stack; NULL when this
 * context will never run again. */
static inline void pc__asan_start_switch(void **fake_save, const void *bottom, size_t size) {
#if PC__ASAN
    __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
    (void)fake_save, (void)bottom, (void)size;
#endif
}

/* After pc__ctx_switch returned (or first thing in a new context, with
 * NULL): fake is what start saved.  *bottom_old / *size_old (either may
 * be NULL) get the stack that was left. */
static inline void pc__asan_finish_switch(void *fake, const void **bottom_old, size_t *size_old) {
#if PC__ASAN
    __sanitizer_finish_switch_fiber(fake, bottom_old, size_old);
#else
    (void)fake;
    if (bottom_old)
        *bottom_old = NULL;
    if (size_old)
        *size_old = 0;
#endif
}

/* Clear the shadow poison that frames still live at a context's last
 * switch left on [base, base+size), so that a reused (or remapped) stack
 * starts clean.  Touches shadow from the first poisoned byte only: an
 * unused stack costs a scan of zero pages. */
static inline void pc__asan_unpoison_stack(void *base, size_t size) {
#if PC__ASAN
    char *p = (char *)__asan_region_is_poisoned(base, size);
    if (p)
        __asan_unpoison_memory_region(p, (size_t)((char *)base + size - p));
#else
    (void)base, (void)size;
#endif
}

/* The running fiber (the thread itself until some switch). */
static inline void *pc__tsan_fiber_current(void) {
#if PC__TSAN
    return __tsan_get_current_fiber();
#else
    return NULL;
#endif
}

/* A new fiber, for a coroutine. */
static inline void *pc__tsan_fiber_create(void) {
#if PC__TSAN
    return __tsan_create_fiber(0);
#else
    return NULL;
#endif
}

/* Free a fiber that will never run again; never the running one. */
static inline void pc__tsan_fiber_destroy(void *fiber) {
#if PC__TSAN
    __tsan_destroy_fiber(fiber);
#else
    (void)fiber;
#endif
}

/* Right before pc__ctx_switch to the context whose fiber this is.  The
 * switch synchronizes: what the old fiber did happens before what the
 * new one does, as the switch indeed orders them. */
static inline void pc__tsan_fiber_switch(void *fiber) {
#if PC__TSAN
    __tsan_switch_to_fiber(fiber, 0);
#else
    (void)fiber;
#endif
}

#endif
