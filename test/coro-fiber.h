/*
 * A minimal scheduler-free fiber for the tests of src/coro/ctx.h and
 * stack.h: a context, its stack, and the sanitizer bookkeeping that
 * src/coro/sanitize.h asks every switch to do, so that these tests run
 * under ASan and TSan as the real scheduler will.
 *
 * One thread's fibers: `fiber_self()` is the running one; the thread's
 * own context is a fiber without a stack of its own.
 */
#ifndef PC_TEST_CORO_FIBER_H
#define PC_TEST_CORO_FIBER_H

#include <stdlib.h>
#include <string.h>

#include "../src/coro/ctx.h"
#include "../src/coro/sanitize.h"
#include "../src/coro/stack.h"
#include "helpers.h"

typedef struct fiber {
    pc__ctx ctx;
    pc__stack stack;    /* none for the thread's own fiber */
    const void *bottom; /* the stack ASan is told of */
    size_t size;
    void *fake; /* ASan's fake stack while suspended */
    void *tsan; /* TSan's fiber */
} fiber;

static _Thread_local fiber fiber_main;
static _Thread_local fiber *fiber_cur;
static _Thread_local fiber *fiber_prev; /* the one that switched to fiber_cur */

static inline fiber *fiber_self(void) {
    if (!fiber_cur) {
        fiber_main.tsan = pc__tsan_fiber_current();
        fiber_cur = &fiber_main;
    }
    return fiber_cur;
}

/* Prepare f to run entry(arg) on a stack of `size` (0: the default). */
static inline void fiber_make(fiber *f, void (*entry)(void *), void *arg, size_t size) {
    fiber_self();
    memset(f, 0, sizeof *f);
    expect_rc(pc__stack_get(&f->stack, size), 0);
    f->bottom = f->stack.base;
    f->size = f->stack.size;
    f->tsan = pc__tsan_fiber_create();
    pc__ctx_make(&f->ctx, f->stack.base, f->stack.size, entry, arg);
}

/* Switch from the running fiber to `to`; returns when switched back. */
static inline void fiber_switch(fiber *to) {
    fiber *from = fiber_self();
    fiber_prev = from;
    fiber_cur = to;
    pc__asan_start_switch(&from->fake, to->bottom, to->size);
    pc__tsan_fiber_switch(to->tsan);
    pc__ctx_switch(&from->ctx, &to->ctx);
    pc__asan_finish_switch(from->fake, NULL, NULL);
}

/* First thing in a fiber's entry. */
static inline void fiber_started(void) {
    const void *bottom;
    size_t size;
    pc__asan_finish_switch(NULL, &bottom, &size);
    if (fiber_prev && !fiber_prev->bottom) {
        fiber_prev->bottom = bottom; /* the thread's stack, learnt once */
        fiber_prev->size = size;
    }
}

/* The last switch of a finished fiber. */
static inline _Noreturn void fiber_exit(fiber *to) {
    fiber *from = fiber_self();
    fiber_prev = from;
    fiber_cur = to;
    pc__asan_start_switch(NULL, to->bottom, to->size);
    pc__tsan_fiber_switch(to->tsan);
    pc__ctx_switch(&from->ctx, &to->ctx);
    abort(); /* a finished fiber is never resumed */
}

/* Release a fiber that has exited (or never ran). */
static inline void fiber_free(fiber *f) {
    pc__tsan_fiber_destroy(f->tsan);
    pc__stack_put(&f->stack);
}

#endif
