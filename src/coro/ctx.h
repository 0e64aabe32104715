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
#if defined(__x86_64__) && !defined(PC__CTX_FALLBACK)
/*
 * x86-64: entered with a jump, not a call (switch.S says why).  The asm
 * steps over the red zone (the 128 bytes below rsp that the compiler may
 * use without moving rsp), jumps to the switch with the address to resume
 * at in rax, and tells the compiler that every register a call may
 * clobber is clobbered (the callee-saved ones the switch saves itself).
 */
void pc__ctx_switch_jmp(void); /* not a C function: see switch.S */

static inline __attribute__((always_inline)) void pc__ctx_switch(pc__ctx *from, pc__ctx *to) {
    __asm__ volatile("leaq -128(%%rsp), %%rsp\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "jmp pc__ctx_switch_jmp\n"
                     "1:\n\t"
                     "leaq 128(%%rsp), %%rsp"
                     : "+D"(from), "+S"(to)
                     :
                     : "rax", "rcx", "rdx", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0",
                       "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                       "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)", "st(2)",
                       "st(3)", "st(4)", "st(5)", "st(6)", "st(7)"
#ifdef __AVX512F__
                       ,
                       "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
                       "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1",
                       "k2", "k3", "k4", "k5", "k6", "k7"
#endif
    );
}
#else
void pc__ctx_switch(pc__ctx *from, pc__ctx *to);
#endif

#endif
