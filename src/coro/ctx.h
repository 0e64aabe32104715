/*
 * Execution contexts: the machine-level half of a coroutine.  A context is
 * a stack pointer; switching saves the callee-saved registers on the
 * current stack, stores the stack pointer, loads the other one and
 * restores its registers.  Everything else (scheduling, cancellation,
 * sanitizer bookkeeping of the scheduler) lives in coro.c.
 *
 * Implementations: src/arch/<arch>/switch.S (x86-64, aarch64), and
 * ctx-ucontext.c, the portable fallback built where no assembly exists.
 */
#ifndef PC_CORO_CTX_H
#define PC_CORO_CTX_H

#include <stddef.h>

typedef struct pc__ctx {
    void *sp; /* saved stack pointer (or the ucontext, in the fallback) */
} pc__ctx;

/*
 * Prepare `c` to run entry(arg) on the stack [base, base + size) when it
 * is first switched to.  entry must never return: it switches away for the
 * last time instead.
 */
void pc__ctx_make(pc__ctx *c, void *base, size_t size, void (*entry)(void *arg), void *arg);

/* Save the running context in `from` and resume `to`.  Returns when some
 * context switches back to `from`. */
void pc__ctx_switch(pc__ctx *from, pc__ctx *to);

#endif
