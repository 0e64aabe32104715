/*
 * Orientation: the bare x86-64 register swap that resumes with an
 * indirect jump instead of `ret` (pop the return address, `jmp` to it):
 * the return stack buffer predicts a `ret` to the call site of the
 * context that just left, wrong whenever the two contexts switch from
 * different sites, while an indirect jump is predicted from the branch
 * history.  Otherwise as switch-bare.c.  Figure: ns_per_switch.
 */
#include <stddef.h>
#include <stdint.h>

typedef struct bare_ctx {
    void *sp;
} bare_ctx;

void bare_jmp_switch(bare_ctx *from, bare_ctx *to);
void bare_jmp_trampoline(void);

#if defined(__x86_64__)
__asm__(".text\n"
        ".p2align 4\n"
        "bare_jmp_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq (%rsi), %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  popq %rcx\n"
        "  jmpq *%rcx\n"
        ".p2align 4\n"
        "bare_jmp_trampoline:\n"
        "  movq %r13, %rdi\n"
        "  callq *%r12\n"
        "  ud2\n");
#else
#error "the bare swap is written for x86-64"
#endif

static void bare_make(bare_ctx *c, void *base, size_t size, void (*entry)(void *), void *arg) {
    uintptr_t top = ((uintptr_t)base + size) & ~(uintptr_t)15;
    void **f = (void **)(top - 7 * sizeof(void *));
    f[0] = f[1] = f[4] = f[5] = NULL;
    f[2] = arg;
    f[3] = (void *)entry;
    f[6] = (void *)bare_jmp_trampoline;
    c->sp = f;
}

#define CB_CTX bare_ctx
#define CB_MAKE bare_make
#define CB_SWITCH bare_jmp_switch
#include "ctxbench.h"

int main(int argc, char **argv) {
    return cb_run(argc, argv);
}
