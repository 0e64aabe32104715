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
 * pc__ctx_switch (an inline function of ctx.h) jumps to
 * pc__ctx_switch_jmp with its resume address in rax; that pushes the
 * address and the callee-saved registers, stores rsp in `from`, loads
 * `to`'s, pops the other frame and jumps to its resume address.
 * Everything the ABI lets a call clobber (rax..r11, the vector registers,
 * the flags, the x87 stack and the status bits of MXCSR) needs no saving:
 * the switch is a function call to both sides.  The control bits of MXCSR
 * and the x87 control word are callee-saved (SysV ABI 3.2.1), so each
 * context keeps its own rounding mode.  They cost about 1.2 ns a switch
 * (bench/coro/: 5.2 ns against 4.1 ns for the bare jump swap).  Loading
 * them only when the two contexts differ measured slower (7.5 ns): the
 * compare must read back what stmxcsr/fnstcw just stored.
 *
 * No call, no ret: both ends are jumps.  A `ret` is predicted from the
 * return stack buffer, and a switch that is called and resumed with a jump
 * leaves the call's entry on that buffer: every later return of the
 * resumed coroutine is then predicted one entry off and mispredicted
 * (measured: a yield round-robin of 100 coroutines took 34 ns a switch
 * with a called switch resumed by jump, 11.4 with the plain call/ret
 * switch, 11.3 with this one).  A called switch resumed by `ret` keeps the
 * buffer aligned but mispredicts its own return whenever the two
 * contexts suspended at different call sites (a ping-pong: 14.7 ns
 * against 5.6 for this one).  Entered by a jump, the switch leaves the
 * buffer alone: the resumed context's returns are predicted from the
 * calls the previous context made, which are the same calls whenever
 * coroutines switch among themselves from the scheduler's one call site.
 * The direct jump in is always predicted, the indirect jump out is
 * predicted from the branch history and learns the pattern.
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

/* pc__ctx_switch_jmp: entered with a jump from pc__ctx_switch (ctx.h):
 * from in rdi, to in rsi, the address to resume at in rax. */
        .globl  pc__ctx_switch_jmp
        .hidden pc__ctx_switch_jmp
        .type   pc__ctx_switch_jmp, @function
        .p2align 4
pc__ctx_switch_jmp:
        .cfi_startproc
        .cfi_undefined rip
        pushq   %rax
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $8, %rsp
        stmxcsr (%rsp)
        fnstcw  4(%rsp)

        movq    %rsp, (%rdi)
        movq    (%rsi), %rsp

        movq    56(%rsp), %rcx
        ldmxcsr (%rsp)
        fldcw   4(%rsp)
        movq    8(%rsp), %r15
        movq    16(%rsp), %r14
        movq    24(%rsp), %r13
        movq    32(%rsp), %r12
        movq    40(%rsp), %rbx
        movq    48(%rsp), %rbp
        addq    $64, %rsp
        jmpq    *%rcx
        .cfi_endproc
        .size   pc__ctx_switch_jmp, .-pc__ctx_switch_jmp

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
