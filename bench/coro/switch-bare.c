/*
 * Peer: the bare x86-64 register swap, written here - push the
 * callee-saved registers, store rsp, load the other rsp, pop, `ret` - and
 * nothing else (no MXCSR or x87 control word, no checks).  The floor a
 * `ret`-style switch can approach.  Ping-pong or --ring N, in the same
 * harness as pyconc's (ctxbench.h).  Figure: ns_per_switch.
 */
#include <stddef.h>
#include <stdint.h>

typedef struct bare_ctx {
    void *sp;
} bare_ctx;

void bare_switch(bare_ctx *from, bare_ctx *to);
void bare_trampoline(void);

#if defined(__x86_64__)
__asm__(".text\n"
        ".p2align 4\n"
        "bare_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq (%rsi), %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".p2align 4\n"
        "bare_trampoline:\n"
        "  movq %r13, %rdi\n"
        "  callq *%r12\n"
        "  ud2\n");
#else
#error "the bare swap is written for x86-64"
#endif

/* A frame that the first bare_switch to it pops: r15..rbp, then the
 * trampoline as return address; entry in r12, arg in r13. */
static void bare_make(bare_ctx *c, void *base, size_t size, void (*entry)(void *), void *arg) {
    uintptr_t top = ((uintptr_t)base + size) & ~(uintptr_t)15;
    void **f = (void **)(top - 7 * sizeof(void *));
    f[0] = f[1] = f[4] = f[5] = NULL;
    f[2] = arg;
    f[3] = (void *)entry;
    f[6] = (void *)bare_trampoline;
    c->sp = f;
}

#define CB_CTX bare_ctx
#define CB_MAKE bare_make
#define CB_SWITCH bare_switch
#include "ctxbench.h"

int main(int argc, char **argv) {
    return cb_run(argc, argv);
}
