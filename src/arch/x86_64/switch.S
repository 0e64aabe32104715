/*
 * Context switch for x86-64 (System V ABI); implements src/coro/ctx.h.
 *
 * A suspended context is its stack pointer.  The words at that address,
 * from low to high, are its saved state (one 64-byte frame):
 *
 *     sp+0   MXCSR (4 bytes) and the x87 control word (2 bytes)
 *     sp+8   r15, r14, r13, r12, rbx, rbp
 *     sp+56  the address to resume at
 *
 * pc__ctx_switch pushes the callee-saved registers after its own return
 * address, stores rsp in `from`, loads `to`'s, and pops the other frame.
 * Everything the ABI lets a call clobber (rax..r11, the vector registers,
 * the flags, the x87 stack and the status bits of MXCSR) needs no saving:
 * the switch is a function call to both sides.  The control bits of MXCSR
 * and the x87 control word are callee-saved (SysV ABI 3.2.1), so each
 * context keeps its own rounding mode.  They cost about 1.2 ns a switch
 * (bench/coro/: 5.2 ns against 4.1 ns for the bare jump swap).  Loading
 * them only when the two contexts differ measured slower (7.5 ns): the
 * compare must read back what stmxcsr/fnstcw just stored.
 *
 * Resuming: by default the other frame's return address is loaded right
 * after the stack swap and reached with an indirect `jmp` rather than
 * `ret`.  A `ret` is predicted from the return stack buffer, which holds
 * the call site of the context that just left: wrong whenever the two
 * contexts suspended at different call sites.  An indirect jump is
 * predicted from the branch history and learns the pattern.  The jump
 * leaves the call's entry on the return stack buffer unpopped; that costs
 * one later mispredicted `ret` at most, and the buffer is a ring.  Build
 * with -DPC_CTX_RESUME_RET for the plain `ret` form, kept to measure both.
 * Measured on the development machine (bench/coro/, ns per switch):
 * ping-pong of two contexts, jump 5.2, ret 10.7 (the bare `ret` swap of
 * the benchmark 8.6); ring of 100 contexts switching from one call site,
 * where `ret` is predicted well, jump 7.0, ret 7.3.
 *
 * Rejected: saving into the pc__ctx struct instead of the stack (the
 * struct would need 8 words and the scheduler's objects would carry them
 * for every parked coroutine; on the stack the words sit in the top page
 * that a parked coroutine keeps resident anyway).  Intel CET: user-space
 * IBT does not exist in Linux and this object carries no shadow-stack
 * property note, so a program linking it runs without a shadow stack (a
 * stack switch would otherwise need the shadow-stack switching
 * instructions).
 *
 * A new context (pc__ctx_make) gets a frame whose resume address is
 * pc__ctx_trampoline, with entry in r12 and arg in r13; the trampoline
 * calls entry(arg) on a 16-byte aligned stack and marks the end of the
 * call chain for unwinders (debuggers, sanitizer backtraces).  The new
 * context starts with its creator's MXCSR and x87 control word, as a new
 * thread inherits its creator's floating-point environment.
 */
#if defined(__x86_64__)

        .text

/* void pc__ctx_switch(pc__ctx *from, pc__ctx *to): from in rdi, to in rsi */
        .globl  pc__ctx_switch
        .hidden pc__ctx_switch
        .type   pc__ctx_switch, @function
        .p2align 4
pc__ctx_switch:
        .cfi_startproc
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rbp, 0
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset rbx, 0
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r12, 0
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r13, 0
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r14, 0
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset r15, 0
        subq    $8, %rsp
        .cfi_adjust_cfa_offset 8
        stmxcsr (%rsp)
        fnstcw  4(%rsp)

        movq    %rsp, (%rdi)
        movq    (%rsi), %rsp
        /* the other context's frame, laid out as ours: the CFI holds */

#ifndef PC_CTX_RESUME_RET
        movq    56(%rsp), %rcx
#endif
        ldmxcsr (%rsp)
        fldcw   4(%rsp)
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        popq    %r15
        .cfi_adjust_cfa_offset -8
        .cfi_restore r15
        popq    %r14
        .cfi_adjust_cfa_offset -8
        .cfi_restore r14
        popq    %r13
        .cfi_adjust_cfa_offset -8
        .cfi_restore r13
        popq    %r12
        .cfi_adjust_cfa_offset -8
        .cfi_restore r12
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore rbx
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        .cfi_restore rbp
#ifdef PC_CTX_RESUME_RET
        ret
#else
        addq    $8, %rsp
        .cfi_adjust_cfa_offset -8
        jmpq    *%rcx
#endif
        .cfi_endproc
        .size   pc__ctx_switch, .-pc__ctx_switch

/* void pc__ctx_make(pc__ctx *c, void *base, size_t size,
 *                   void (*entry)(void *), void *arg):
 * c in rdi, base in rsi, size in rdx, entry in rcx, arg in r8 */
        .globl  pc__ctx_make
        .hidden pc__ctx_make
        .type   pc__ctx_make, @function
        .p2align 4
pc__ctx_make:
        .cfi_startproc
        leaq    (%rsi,%rdx), %rax
        andq    $-16, %rax              /* the top, 16-byte aligned */
        subq    $64, %rax               /* one frame below it */
        stmxcsr (%rax)
        fnstcw  4(%rax)
        movw    $0, 6(%rax)
        xorl    %edx, %edx
        movq    %rdx, 8(%rax)           /* r15 */
        movq    %rdx, 16(%rax)          /* r14 */
        movq    %r8, 24(%rax)           /* r13: arg */
        movq    %rcx, 32(%rax)          /* r12: entry */
        movq    %rdx, 40(%rax)          /* rbx */
        movq    %rdx, 48(%rax)          /* rbp: ends frame-pointer walks */
        leaq    pc__ctx_trampoline(%rip), %rdx
        movq    %rdx, 56(%rax)
        movq    %rax, (%rdi)
        ret
        .cfi_endproc
        .size   pc__ctx_make, .-pc__ctx_make

/* First code of a new context: rsp is the 16-byte aligned top. */
        .type   pc__ctx_trampoline, @function
        .p2align 4
pc__ctx_trampoline:
        .cfi_startproc
        .cfi_undefined rip
        movq    %r13, %rdi
        callq   *%r12
        ud2                             /* entry must never return */
        .cfi_endproc
        .size   pc__ctx_trampoline, .-pc__ctx_trampoline

#endif /* __x86_64__ */

        .section .note.GNU-stack, "", @progbits
