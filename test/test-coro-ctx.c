/*
 * Execution contexts (src/coro/ctx.h): switching preserves what the ABI
 * says a call preserves, new contexts start where and how they should,
 * and values pass through memory between contexts.
 */
#include <fenv.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coro-fiber.h"

/* ------------------------------------------------------------ ping-pong */

typedef struct pingpong {
    fiber a, b;
    long rounds;
    volatile long ball; /* written by the side that holds the serve */
    long a_seen, b_seen;
} pingpong;

static void pp_a(void *arg) {
    pingpong *p = arg;
    fiber_started();
    for (long i = 0; i < p->rounds; i++) {
        cr_assert_eq(p->ball, 2 * i, "a got %ld in round %ld", p->ball, i);
        p->ball = 2 * i + 1;
        p->a_seen++;
        fiber_switch(&p->b);
    }
    fiber_exit(&fiber_main);
}

static void pp_b(void *arg) {
    pingpong *p = arg;
    fiber_started();
    for (;;) {
        cr_assert_eq(p->ball % 2, 1);
        p->ball++;
        p->b_seen++;
        fiber_switch(&p->a);
    }
}

Test(coro_ctx, pingpong_passes_values) {
    static pingpong p;
    p.rounds = 200000;
    fiber_make(&p.a, pp_a, &p, 0);
    fiber_make(&p.b, pp_b, &p, 0);
    fiber_switch(&p.a);
    cr_assert_eq(p.a_seen, p.rounds);
    cr_assert_eq(p.b_seen, p.rounds);
    cr_assert_eq(p.ball, 2 * p.rounds);
    fiber_free(&p.a);
    fiber_free(&p.b); /* b never finished: its stack is reusable all the same */
}

/* Each thread runs its own ping-pong at the same time: contexts and
 * stack pools are per thread. */
static void *pp_thread(void *arg) {
    pingpong *p = arg;
    fiber_make(&p->a, pp_a, p, 0);
    fiber_make(&p->b, pp_b, p, 0);
    fiber_switch(&p->a);
    fiber_free(&p->a);
    fiber_free(&p->b);
    pc__stack_pool_drain();
    return NULL;
}

Test(coro_ctx, pingpong_on_two_threads) {
    static pingpong p[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        p[i].rounds = 50000;
        t[i] = start_pthread(pp_thread, &p[i]);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(p[i].ball, 2 * p[i].rounds);
    }
}

/* ------------------------------------------------- entry, arg, alignment */

typedef struct start_check {
    fiber f;
    void *arg_seen;
    uintptr_t align16, align_frame;
} start_check;

static void start_entry(void *arg) {
    start_check *s = arg;
    fiber_started();
    _Alignas(16) volatile char probe[16];
    probe[0] = 1;
    s->arg_seen = arg;
    s->align16 = (uintptr_t)probe & 15;
    /* SysV x86-64 and AAPCS64: 16-byte aligned stack at every call */
    s->align_frame = (uintptr_t)__builtin_frame_address(0) & 15;
    fiber_exit(&fiber_main);
}

Test(coro_ctx, entry_gets_arg_on_aligned_stack) {
    /* odd sizes: make must align the top itself */
    size_t sizes[] = {0, PC__STACK_MIN, 100000, 3 * 4096 + 8};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        static start_check s;
        memset(&s, 0, sizeof s);
        fiber_make(&s.f, start_entry, &s, sizes[i]);
        /* a make with an unaligned size of a larger range */
        pc__ctx_make(&s.f.ctx, s.f.stack.base, s.f.stack.size - 8 * (i & 1), start_entry, &s);
        fiber_switch(&s.f);
        cr_assert_eq(s.arg_seen, &s);
        cr_assert_eq(s.align16, 0, "16-byte local at misaligned address (size %zu)", sizes[i]);
        cr_assert_eq(s.align_frame, 0);
        fiber_free(&s.f);
    }
}

/* A context's entry must not return; if it does the process dies at once
 * rather than running off into garbage. */
static void returning_entry(void *arg) {
    (void)arg;
    fiber_started();
}

Test(coro_ctx, entry_returning_kills_the_process, .timeout = 20) {
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        static fiber f;
        signal(SIGILL, SIG_DFL);
        signal(SIGTRAP, SIG_DFL);
        signal(SIGABRT, SIG_DFL);
        fiber_make(&f, returning_entry, NULL, 0);
        fiber_switch(&f);
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "the child went on after entry returned");
}

/* ------------------------------------------------------ registers survive */

/* Overwrite every callee-saved register the compiler lets an asm name,
 * right before a switch, in a function that never returns: nothing
 * restores them but the switch itself. */
#if defined(__x86_64__)
#define CLOBBER_CALLEE_SAVED()                                                                     \
    __asm__ volatile("movq $-1, %%rbx\n\tmovq $-1, %%r12\n\tmovq $-1, %%r13\n\t"                   \
                     "movq $-1, %%r14\n\tmovq $-1, %%r15" ::                                       \
                         : "rbx", "r12", "r13", "r14", "r15")
#elif defined(__aarch64__)
#define CLOBBER_CALLEE_SAVED()                                                                     \
    __asm__ volatile("mov x19, #-1\n\tmov x20, #-1\n\tmov x21, #-1\n\tmov x22, #-1\n\t"            \
                     "mov x23, #-1\n\tmov x24, #-1\n\tmov x25, #-1\n\tmov x26, #-1\n\t"            \
                     "mov x27, #-1\n\tmov x28, #-1\n\tfmov d8, #-1.0\n\tfmov d9, #-1.0\n\t"        \
                     "fmov d10, #-1.0\n\tfmov d11, #-1.0\n\tfmov d12, #-1.0\n\t"                   \
                     "fmov d13, #-1.0\n\tfmov d14, #-1.0\n\tfmov d15, #-1.0" ::                    \
                         : "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",   \
                           "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15")
#else
#define CLOBBER_CALLEE_SAVED() ((void)0)
#endif

/*
 * switch_known(from, to, out): load known values into every callee-saved
 * register, switch as pc__ctx_switch(from, to) does, and when switched back store what
 * those registers then hold into out[] (in the order of the known values:
 * 0x1000 + i for integer register i, 0.5 + i for d8 + i).  Written in
 * assembly so that no compiler can keep or reload the values elsewhere.
 */
void switch_known(pc__ctx *from, pc__ctx *to, long out[20]);
#if defined(__x86_64__) && !defined(PC__CTX_FALLBACK) /* jumps in as ctx.h does */
#define KNOWN_INT 6                                   /* rbx, rbp, r12, r13, r14, r15 */
#define KNOWN_FP 0
__asm__(".text\n"
        ".p2align 4\n"
        "switch_known:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  pushq %rdx\n  subq $8, %rsp\n" /* keeps rsp 16-byte aligned at the call */
        "  movq $0x1000, %rbx\n  movq $0x1001, %rbp\n  movq $0x1002, %r12\n"
        "  movq $0x1003, %r13\n  movq $0x1004, %r14\n  movq $0x1005, %r15\n"
        "  leaq 1f(%rip), %rax\n  jmp pc__ctx_switch_jmp\n1:\n" /* as ctx.h does */
        "  movq 8(%rsp), %rdx\n"
        "  movq %rbx, 0(%rdx)\n  movq %rbp, 8(%rdx)\n  movq %r12, 16(%rdx)\n"
        "  movq %r13, 24(%rdx)\n  movq %r14, 32(%rdx)\n  movq %r15, 40(%rdx)\n"
        "  addq $16, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n");
#elif defined(__aarch64__)
#define KNOWN_INT 11 /* x19 .. x29 */
#define KNOWN_FP 8   /* d8 .. d15 */
__asm__(".text\n"
        ".p2align 4\n"
        "switch_known:\n"
        "  stp x29, x30, [sp, #-176]!\n"
        "  stp x19, x20, [sp, #16]\n  stp x21, x22, [sp, #32]\n  stp x23, x24, [sp, #48]\n"
        "  stp x25, x26, [sp, #64]\n  stp x27, x28, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n  stp d10, d11, [sp, #112]\n  stp d12, d13, [sp, #128]\n"
        "  stp d14, d15, [sp, #144]\n  str x2, [sp, #160]\n"
        "  mov x19, #0x1000\n  mov x20, #0x1001\n  mov x21, #0x1002\n  mov x22, #0x1003\n"
        "  mov x23, #0x1004\n  mov x24, #0x1005\n  mov x25, #0x1006\n  mov x26, #0x1007\n"
        "  mov x27, #0x1008\n  mov x28, #0x1009\n  mov x29, #0x100a\n"
        "  fmov d8, #0.5\n  fmov d9, #1.5\n  fmov d10, #2.5\n  fmov d11, #3.5\n"
        "  fmov d12, #4.5\n  fmov d13, #5.5\n  fmov d14, #6.5\n  fmov d15, #7.5\n"
        "  bl pc__ctx_switch\n"
        "  ldr x2, [sp, #160]\n"
        "  stp x19, x20, [x2, #0]\n  stp x21, x22, [x2, #16]\n  stp x23, x24, [x2, #32]\n"
        "  stp x25, x26, [x2, #48]\n  stp x27, x28, [x2, #64]\n  str x29, [x2, #80]\n"
        "  stp d8, d9, [x2, #88]\n  stp d10, d11, [x2, #104]\n  stp d12, d13, [x2, #120]\n"
        "  stp d14, d15, [x2, #136]\n"
        "  ldp x19, x20, [sp, #16]\n  ldp x21, x22, [sp, #32]\n  ldp x23, x24, [sp, #48]\n"
        "  ldp x25, x26, [sp, #64]\n  ldp x27, x28, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n  ldp d10, d11, [sp, #112]\n  ldp d12, d13, [sp, #128]\n"
        "  ldp d14, d15, [sp, #144]\n"
        "  ldp x29, x30, [sp], #176\n"
        "  ret\n");
#else
#define KNOWN_INT 0
#define KNOWN_FP 0
void switch_known(pc__ctx *from, pc__ctx *to, long out[20]) {
    (void)out;
    pc__ctx_switch(from, to);
}
#endif

typedef struct regs_test {
    fiber peer;
    int rounds;
    volatile long seed; /* volatile: the compiler cannot fold the values */
} regs_test;

static void clobber_entry(void *arg) {
    (void)arg;
    fiber_started();
    for (;;) {
        CLOBBER_CALLEE_SAVED();
        fiber_switch(&fiber_main);
    }
}

/* Many integers and doubles live across each switch: at -O2 they sit in
 * callee-saved registers (and on the stack when those run out). */
static __attribute__((noinline)) void many_live_values(regs_test *r) {
    long s = r->seed;
    long i0 = s + 1, i1 = s * 3, i2 = s ^ 0x55, i3 = s - 7, i4 = s * s, i5 = s + 11;
    long i6 = s << 3, i7 = ~s, i8 = s * 5 + 1, i9 = s / 3;
    double d0 = (double)s / 7, d1 = (double)s * 1.5, d2 = 1.0 / (double)(s + 1), d3 = d0 * d1;
    double d4 = d2 + 0.25, d5 = d0 - d2, d6 = d1 * d1, d7 = d3 / 3;
    for (int k = 0; k < r->rounds; k++) {
        fiber_switch(&r->peer);
        cr_assert_eq(i0 + i1 + i2 + i3 + i4, (s + 1) + s * 3 + (s ^ 0x55) + (s - 7) + s * s);
        cr_assert_eq(i5 + i6 + i7 + i8 + i9, (s + 11) + (s << 3) + ~s + (s * 5 + 1) + s / 3);
        cr_assert(d0 == (double)s / 7 && d1 == (double)s * 1.5 && d2 == 1.0 / (double)(s + 1));
        cr_assert(d3 == d0 * d1 && d4 == d2 + 0.25 && d5 == d0 - d2 && d6 == d1 * d1);
        cr_assert(d7 == d3 / 3);
    }
}

Test(coro_ctx, callee_saved_registers_survive_a_switch) {
    static regs_test r;
    r.seed = 123456789;
    r.rounds = 1000;
    fiber_make(&r.peer, clobber_entry, &r, 0);
    many_live_values(&r);
    fiber_free(&r.peer);
}

/* As fiber_switch, through switch_known. */
static void switch_known_to(fiber *to, long out[20]) {
    fiber *from = fiber_self();
    fiber_prev = from;
    fiber_cur = to;
    pc__asan_start_switch(&from->fake, to->bottom, to->size);
    pc__tsan_fiber_switch(to->tsan);
    switch_known(&from->ctx, &to->ctx, out);
    pc__asan_finish_switch(from->fake, NULL, NULL);
}

Test(coro_ctx, every_callee_saved_register_is_restored) {
    static regs_test r;
    fiber_make(&r.peer, clobber_entry, &r, 0);
    for (int round = 0; round < 3; round++) {
        long out[20];
        memset(out, 0, sizeof out);
        switch_known_to(&r.peer, out);
        for (int i = 0; i < KNOWN_INT; i++)
            cr_assert_eq(out[i], 0x1000 + i, "integer register %d: %#lx", i, out[i]);
        for (int i = 0; i < KNOWN_FP; i++) {
            double d;
            memcpy(&d, &out[KNOWN_INT + i], sizeof d);
            cr_assert(d == 0.5 + i, "d%d: %g", 8 + i, d);
        }
    }
    fiber_free(&r.peer);
}

/* ------------------------------------------------ floating-point control */

static unsigned read_mxcsr(void) {
#if defined(__x86_64__)
    unsigned v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v & 0xffc0; /* control bits; the low six are sticky status flags */
#else
    return 0;
#endif
}

/* 1/3 rounded by the SSE (x86-64) or FP (AArch64) unit: the mode in force
 * shows in the last bit. */
static double one_third(void) {
    volatile double a = 1.0, b = 3.0;
    return a / b;
}

typedef struct fp_test {
    fiber peer;
    int peer_mode_seen;  /* fegetround() when the peer first ran */
    unsigned peer_mxcsr; /* its MXCSR then */
    double peer_third;   /* 1/3 then */
    int peer_mode_later; /* fegetround() when resumed */
    double peer_third_later;
} fp_test;

static void fp_entry(void *arg) {
    fp_test *t = arg;
    fiber_started();
    t->peer_mode_seen = fegetround();
    t->peer_mxcsr = read_mxcsr();
    t->peer_third = one_third();
    fesetround(FE_TOWARDZERO);
    fiber_switch(&fiber_main);
    t->peer_mode_later = fegetround();
    t->peer_third_later = one_third();
    fiber_exit(&fiber_main);
}

Test(coro_ctx, rounding_mode_is_per_context) {
    static fp_test t;
    double up, down;
    fesetround(FE_UPWARD);
    up = one_third();
    fesetround(FE_DOWNWARD);
    down = one_third();
    cr_assert(up > down, "rounding modes change nothing here?");

    /* made under FE_UPWARD: the new context starts with its creator's */
    fesetround(FE_UPWARD);
    unsigned mxcsr_up = read_mxcsr();
    fiber_make(&t.peer, fp_entry, &t, 0);
    fesetround(FE_DOWNWARD);
    unsigned mxcsr_down = read_mxcsr();
    fiber_switch(&t.peer);
    cr_assert_eq(t.peer_mode_seen, FE_UPWARD);
    cr_assert_eq(t.peer_mxcsr, mxcsr_up);
    cr_assert(t.peer_third == up);
    /* the peer set FE_TOWARDZERO; this context keeps FE_DOWNWARD */
    cr_assert_eq(fegetround(), FE_DOWNWARD);
    cr_assert_eq(read_mxcsr(), mxcsr_down);
    cr_assert(one_third() == down);
    fiber_switch(&t.peer);
    cr_assert_eq(t.peer_mode_later, FE_TOWARDZERO);
    cr_assert(t.peer_third_later == down); /* toward zero rounds 1/3 down */
    cr_assert_eq(fegetround(), FE_DOWNWARD);
    fesetround(FE_TONEAREST);
    fiber_free(&t.peer);
}

/* --------------------------------------------------------- deep recursion */

typedef struct deep_test {
    fiber f;
    const char *floor; /* recurse until the frames reach this address */
    long depth;
    long sum;
} deep_test;

static __attribute__((noinline)) long dive(deep_test *t, long n) {
    volatile char buf[200];
    buf[0] = (char)n;
    buf[sizeof buf - 1] = 1;
    if ((const char *)__builtin_frame_address(0) < t->floor) {
        t->depth = n;
        return buf[0] + buf[sizeof buf - 1];
    }
    return dive(t, n + 1) + buf[sizeof buf - 1];
}

static void deep_entry(void *arg) {
    deep_test *t = arg;
    fiber_started();
    t->sum = dive(t, 0);
    fiber_exit(&fiber_main);
}

Test(coro_ctx, deep_recursion_uses_the_whole_stack) {
    size_t sizes[] = {0, 1024 * 1024};
    for (int i = 0; i < 2; i++) {
        static deep_test t;
        memset(&t, 0, sizeof t);
        fiber_make(&t.f, deep_entry, &t, sizes[i]);
        t.floor = (const char *)t.f.stack.base + 8 * 1024; /* all but 8 KiB */
        fiber_switch(&t.f);
        cr_assert_gt(t.depth, 100);
        /* each frame added 1, the deepest 1 plus its (char) depth */
        cr_assert_eq(t.sum, t.depth + 1 + (char)t.depth);
        fiber_free(&t.f);
    }
}

/* ------------------------------------------------------ many live contexts */

typedef struct ring {
    fiber f[100];
    int n, laps;
    int turn;
} ring;

static ring the_ring;

static void ring_entry(void *arg) {
    int me = (int)(intptr_t)arg;
    ring *r = &the_ring;
    fiber_started();
    for (int lap = 0; lap < r->laps; lap++) {
        cr_assert_eq(r->turn, lap * r->n + me);
        r->turn++;
        fiber_switch(me + 1 < r->n ? &r->f[me + 1] : &fiber_main);
    }
    fiber_exit(&fiber_main);
}

Test(coro_ctx, ring_of_contexts_runs_in_order) {
    ring *r = &the_ring;
    r->n = 100;
    r->laps = 200;
    for (int i = 0; i < r->n; i++)
        fiber_make(&r->f[i], ring_entry, (void *)(intptr_t)i, 0);
    for (int lap = 0; lap < r->laps; lap++)
        fiber_switch(&r->f[0]); /* runs the lap; the last one switches back */
    cr_assert_eq(r->turn, r->n * r->laps);
    for (int i = 0; i < r->n; i++)
        fiber_free(&r->f[i]);
}
