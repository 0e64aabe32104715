/*
 * Context switch for AArch64 (AAPCS64); implements src/coro/ctx.h.
 *
 * A suspended context is its stack pointer.  The 176 bytes at that
 * address hold its saved state, from low to high:
 *
 *     sp+0    x19 .. x28
 *     sp+80   x29 (frame pointer), x30 (the address to resume at)
 *     sp+96   d8 .. d15 (the low halves of v8-v15: all AAPCS64 preserves)
 *     sp+160  FPCR, then 8 bytes of padding (sp stays 16-byte aligned)
 *
 * pc__ctx_switch stores the callee-saved registers, stores sp in `from`,
 * loads `to`'s, reloads the other frame and returns through x30.  The
 * caller-saved registers need no saving: the switch is a function call to
 * both sides.  FPCR (rounding mode, flush-to-zero, default-NaN) is
 * preserved across calls by AAPCS64, so each context keeps its own, as on
 * x86-64 with MXCSR; it is written only when the two contexts differ,
 * since an FPCR write can be slow.
 *
 * Resuming with `ret`: unlike on x86-64 a `br x30` is not obviously
 * better here (it could not be measured on an AArch64 machine, and `ret`
 * is the only form a BTI-guarded return site accepts without a landing
 * pad), so the plain return stays.
 *
 * A new context (pc__ctx_make) gets a frame with x30 = pc__ctx_trampoline,
 * x19 = entry and x20 = arg; the trampoline calls entry(arg) with a zero
 * frame pointer and an undefined return address (the end of the call
 * chain for unwinders).  It starts with its creator's FPCR.
 *
 * Rejected: saving into the pc__ctx struct (see the x86-64 file).
 */
#if defined(__aarch64__)

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define PC_BTI_C hint #34
#else
#define PC_BTI_C
#endif

        .text

/* void pc__ctx_switch(pc__ctx *from, pc__ctx *to): from in x0, to in x1 */
        .globl  pc__ctx_switch
        .hidden pc__ctx_switch
        .type   pc__ctx_switch, %function
        .p2align 4
pc__ctx_switch:
        .cfi_startproc
        PC_BTI_C
        sub     sp, sp, #176
        .cfi_def_cfa_offset 176
        stp     x19, x20, [sp, #0]
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]
        .cfi_offset x29, -96
        .cfi_offset x30, -88
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        mrs     x9, fpcr
        str     x9, [sp, #160]

        mov     x10, sp
        str     x10, [x0]
        ldr     x10, [x1]
        mov     sp, x10
        /* the other context's frame, laid out as ours: the CFI holds */

        ldr     x10, [sp, #160]
        cmp     x9, x10
        b.eq    1f
        msr     fpcr, x10
1:
        ldp     x19, x20, [sp, #0]
        ldp     x21, x22, [sp, #16]
        ldp     x23, x24, [sp, #32]
        ldp     x25, x26, [sp, #48]
        ldp     x27, x28, [sp, #64]
        ldp     x29, x30, [sp, #80]
        ldp     d8, d9, [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        add     sp, sp, #176
        .cfi_def_cfa_offset 0
        .cfi_restore x29
        .cfi_restore x30
        ret
        .cfi_endproc
        .size   pc__ctx_switch, .-pc__ctx_switch

/* void pc__ctx_make(pc__ctx *c, void *base, size_t size,
 *                   void (*entry)(void *), void *arg):
 * c in x0, base in x1, size in x2, entry in x3, arg in x4 */
        .globl  pc__ctx_make
        .hidden pc__ctx_make
        .type   pc__ctx_make, %function
        .p2align 4
pc__ctx_make:
        .cfi_startproc
        PC_BTI_C
        add     x9, x1, x2
        and     x9, x9, #~15            /* the top, 16-byte aligned */
        sub     x9, x9, #176            /* one frame below it */
        stp     x3, x4, [x9, #0]        /* x19: entry, x20: arg */
        stp     xzr, xzr, [x9, #16]
        stp     xzr, xzr, [x9, #32]
        stp     xzr, xzr, [x9, #48]
        stp     xzr, xzr, [x9, #64]
        adr     x10, pc__ctx_trampoline
        stp     xzr, x10, [x9, #80]     /* x29: 0, x30: the trampoline */
        stp     xzr, xzr, [x9, #96]
        stp     xzr, xzr, [x9, #112]
        stp     xzr, xzr, [x9, #128]
        stp     xzr, xzr, [x9, #144]
        mrs     x10, fpcr
        stp     x10, xzr, [x9, #160]
        str     x9, [x0]
        ret
        .cfi_endproc
        .size   pc__ctx_make, .-pc__ctx_make

/* First code of a new context: sp is the 16-byte aligned top. */
        .type   pc__ctx_trampoline, %function
        .p2align 4
pc__ctx_trampoline:
        .cfi_startproc
        .cfi_undefined x30
        mov     x0, x20
        blr     x19
        brk     #0x1                    /* entry must never return */
        .cfi_endproc
        .size   pc__ctx_trampoline, .-pc__ctx_trampoline

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
/* GNU property note: this object is BTI-compatible (pc__ctx_trampoline is
 * reached by `ret` only, which needs no landing pad). */
        .pushsection .note.gnu.property, "a"
        .p2align 3
        .word   4
        .word   16
        .word   5                       /* NT_GNU_PROPERTY_TYPE_0 */
        .asciz  "GNU"
        .word   0xc0000000              /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
        .word   4
        .word   1                       /* BTI */
        .word   0
        .popsection
#endif

#endif /* __aarch64__ */

        .section .note.GNU-stack, "", %progbits
