/*
 * The portable context switch: ucontext (makecontext/swapcontext).  Slow
 * (swapcontext saves the signal mask with a system call) but correct
 * everywhere; the assembly switches in src/arch/ replace it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

#include "ctx.h"

typedef struct uctx {
    ucontext_t uc;
    void (*entry)(void *arg);
    void *arg;
} uctx;

static void trampoline(unsigned hi, unsigned lo) {
    uctx *u = (uctx *)(((uintptr_t)hi << 32) | lo);
    u->entry(u->arg);
    abort(); /* entry must never return */
}

void pc__ctx_make(pc__ctx *c, void *base, size_t size, void (*entry)(void *arg), void *arg) {
    /* the ucontext lives at the top of the coroutine's own stack */
    uctx *u = (uctx *)(((uintptr_t)base + size - sizeof(uctx)) & ~(uintptr_t)63);
    getcontext(&u->uc);
    u->uc.uc_stack.ss_sp = base;
    u->uc.uc_stack.ss_size = (size_t)((char *)u - (char *)base);
    u->uc.uc_link = NULL;
    u->entry = entry;
    u->arg = arg;
    uintptr_t p = (uintptr_t)u;
    makecontext(&u->uc, (void (*)(void))trampoline, 2, (unsigned)(p >> 32), (unsigned)p);
    c->sp = u;
}

/* A context never made by pc__ctx_make is a thread's own (the loop's
 * main context): one per thread. */
static _Thread_local uctx thread_uctx;

void pc__ctx_switch(pc__ctx *from, pc__ctx *to) {
    if (!from->sp)
        from->sp = &thread_uctx;
    swapcontext(&((uctx *)from->sp)->uc, &((uctx *)to->sp)->uc);
}
