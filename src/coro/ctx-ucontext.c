/*
 * Execution contexts on ucontext: the portable fallback of ctx.h, built
 * where src/arch/ has no assembly for the target (or with
 * -DPC_CTX_UCONTEXT=ON, which is how it is tested on x86-64).
 *
 * pc__ctx.sp points to a ucontext_t.  A suspended context's ucontext is a
 * local variable of the pc__ctx_switch call it is suspended in, so it
 * lives on that context's own stack exactly as the registers do in the
 * assembly versions, and a context that was never made (the thread's own)
 * needs no storage of its own.  A new context's first ucontext (and the
 * entry and argument for the trampoline) sits at the top of its stack;
 * makecontext gets the range below it, so the context's frames never
 * overwrite it before the trampoline has read it, and after its first
 * switch away the context's ucontext is the one in that switch's frame.
 *
 * makecontext passes only int arguments: the trampoline gets the address
 * of the start record as two 32-bit halves.
 *
 * Slow (swapcontext saves and restores the signal mask with a system
 * call, so each switch costs about a microsecond) but correct everywhere
 * POSIX.1-2001's ucontext exists.  Rejected: setjmp/longjmp with a
 * hand-set stack pointer (jmp_buf layouts are private to each libc and
 * glibc mangles the saved pointers).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include "ctx.h"

typedef struct start_rec {
    ucontext_t uc;
    void (*entry)(void *arg);
    void *arg;
} start_rec;

static void trampoline(unsigned hi, unsigned lo) {
    start_rec *r = (start_rec *)(((uintptr_t)hi << 16 << 16) | (uintptr_t)lo);
    r->entry(r->arg);
    fputs("pyconc: a context's entry function returned\n", stderr);
    abort();
}

void pc__ctx_make(pc__ctx *c, void *base, size_t size, void (*entry)(void *arg), void *arg) {
    uintptr_t top = ((uintptr_t)base + size) & ~(uintptr_t)15;
    start_rec *r = (start_rec *)((top - sizeof(start_rec)) & ~(uintptr_t)63);
    if (getcontext(&r->uc) != 0) {
        fputs("pyconc: getcontext failed\n", stderr);
        abort();
    }
    r->entry = entry;
    r->arg = arg;
    r->uc.uc_stack.ss_sp = base;
    r->uc.uc_stack.ss_size = (size_t)((uintptr_t)r - (uintptr_t)base);
    r->uc.uc_link = NULL;
    uintptr_t p = (uintptr_t)r;
    makecontext(&r->uc, (void (*)(void))trampoline, 2, (unsigned)(p >> 16 >> 16), (unsigned)p);
    c->sp = &r->uc;
}

void pc__ctx_switch(pc__ctx *from, pc__ctx *to) {
    ucontext_t here;
    from->sp = &here;
    if (swapcontext(&here, (ucontext_t *)to->sp) != 0) {
        fputs("pyconc: swapcontext failed\n", stderr);
        abort();
    }
}
