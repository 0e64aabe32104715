/*
 * Coroutine stacks (src/coro/stack.h): sizes and layout, the per-thread
 * pool, the guard (MADV_GUARD_INSTALL and the mprotect fallback) catching
 * an overflow, and stacks by the hundred thousand.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coro-fiber.h"

static size_t page(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* Whether [p, p+1) is mapped at all (mincore fails with ENOMEM if not). */
static bool mapped(const void *p) {
    unsigned char vec;
    void *pg = (void *)((uintptr_t)p & ~(uintptr_t)(page() - 1));
    return mincore(pg, page(), &vec) == 0;
}

static int count_maps(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Linux 6.13 brought MADV_GUARD_INSTALL. */
static bool kernel_has_guard_markers(void) {
    struct utsname u;
    int major = 0, minor = 0;
    cr_assert_eq(uname(&u), 0);
    sscanf(u.release, "%d.%d", &major, &minor);
    return major > 6 || (major == 6 && minor >= 13);
}

/* ------------------------------------------------------- sizes and layout */

Test(coro_stack, default_layout) {
    pc__stack s;
    expect_rc(pc__stack_get(&s, 0), 0);
    cr_assert_eq(s.size, PC__STACK_DEFAULT);
    cr_assert_eq(((uintptr_t)s.base + s.size) % page(), 0, "the top ends on a page");
    cr_assert_eq((char *)s.map + s.map_len, (char *)s.base + s.size);
    size_t guard = (size_t)((char *)s.base - (char *)s.map);
    cr_assert_geq(guard, page());
    cr_assert_geq(guard, 16 * 1024);
    /* the whole usable range is writable */
    ((volatile char *)s.base)[0] = 1;
    ((volatile char *)s.base)[s.size - 1] = 1;
    pc__stack_put(&s);
    cr_assert_null(s.map, "put clears the caller's copy");
    pc__stack_pool_drain();
}

Test(coro_stack, sizes_round_up) {
    pc__stack s;
    expect_rc(pc__stack_get(&s, 1), 0);
    cr_assert_eq(s.size, PC__STACK_MIN);
    pc__stack_put(&s);
    expect_rc(pc__stack_get(&s, PC__STACK_MIN + 1), 0);
    cr_assert_eq(s.size, PC__STACK_MIN + page());
    pc__stack_put(&s);
    expect_rc(pc__stack_get(&s, 3 * 1024 * 1024 + 5), 0);
    cr_assert_eq(s.size % page(), 0);
    cr_assert_geq(s.size, 3 * 1024 * 1024 + 5);
    pc__stack_put(&s);
    pc__stack_pool_drain();
}

Test(coro_stack, impossible_sizes_fail_cleanly) {
    pc__stack s;
    expect_rc(pc__stack_get(&s, SIZE_MAX), -ENOMEM);
    expect_rc(pc__stack_get(&s, SIZE_MAX / 2), -ENOMEM);
    expect_rc(pc__stack_get(&s, (size_t)1 << 50), -ENOMEM); /* beyond the address space */
    expect_rc(pc__stack_get(&s, 0), 0);                     /* and nothing broke */
    pc__stack_put(&s);
    pc__stack zero = {0};
    pc__stack_put(&zero); /* a stack never obtained: no-op */
    cr_assert_eq(pc__stack_pool_count(), 1);
    pc__stack_pool_drain();
}

Test(coro_stack, in_guard_bounds) {
    pc__stack s;
    expect_rc(pc__stack_get(&s, 0), 0);
    const char *base = s.base, *map = s.map;
    cr_assert(pc__stack_in_guard(&s, map));
    cr_assert(pc__stack_in_guard(&s, base - 1));
    cr_assert(!pc__stack_in_guard(&s, base));
    cr_assert(!pc__stack_in_guard(&s, map - 1));
    cr_assert(!pc__stack_in_guard(&s, base + s.size));
    pc__stack_put(&s);
    cr_assert(!pc__stack_in_guard(&s, map), "a released stack has no guard");
    pc__stack_pool_drain();
}

/* ---------------------------------------------------------------- the pool */

Test(coro_stack, pool_reuses_the_latest_stack_of_the_size) {
    pc__stack_pool_drain();
    pc__stack a, b, c;
    expect_rc(pc__stack_get(&a, 0), 0);
    expect_rc(pc__stack_get(&b, 64 * 1024), 0);
    void *abase = a.base, *bbase = b.base;
    pc__stack_put(&a);
    pc__stack_put(&b);
    cr_assert_eq(pc__stack_pool_count(), 2);
    expect_rc(pc__stack_get(&c, 0), 0);
    cr_assert_eq(c.base, abase, "the default-size stack came back");
    cr_assert_eq(pc__stack_pool_count(), 1);
    expect_rc(pc__stack_get(&a, 128 * 1024), 0);
    cr_assert_neq(a.base, bbase, "a stack of another size is not handed out");
    expect_rc(pc__stack_get(&b, 64 * 1024), 0);
    cr_assert_eq(b.base, bbase);
    cr_assert_eq(pc__stack_pool_count(), 0);
    pc__stack_put(&a);
    pc__stack_put(&b);
    pc__stack_put(&c);
    pc__stack_pool_drain();
    cr_assert_eq(pc__stack_pool_count(), 0);
}

Test(coro_stack, pool_is_bounded_and_unmaps_the_rest) {
    enum { N = PC__STACK_POOL_MAX + 36 };
    static pc__stack s[N];
    static void *bases[N];
    pc__stack_pool_drain();
    for (int i = 0; i < N; i++) {
        expect_rc(pc__stack_get(&s[i], 0), 0);
        bases[i] = s[i].base;
        ((volatile char *)s[i].base)[s[i].size - 1] = 1;
    }
    for (int i = 0; i < N; i++)
        pc__stack_put(&s[i]);
    cr_assert_eq(pc__stack_pool_count(), PC__STACK_POOL_MAX);
    int still = 0;
    for (int i = 0; i < N; i++)
        still += mapped(bases[i]);
    cr_assert_eq(still, PC__STACK_POOL_MAX, "the stacks beyond the pool are unmapped");
    pc__stack_pool_drain();
    for (int i = 0; i < N; i++)
        cr_assert(!mapped(bases[i]));
}

static void *pool_thread(void *arg) {
    void **bases = arg;
    pc__stack s[3];
    for (int i = 0; i < 3; i++) {
        expect_rc(pc__stack_get(&s[i], 0), 0);
        bases[i] = s[i].base;
    }
    for (int i = 0; i < 3; i++)
        pc__stack_put(&s[i]);
    cr_assert_eq(pc__stack_pool_count(), 3);
    return NULL;
}

Test(coro_stack, thread_exit_unmaps_its_pool) {
    void *bases[3];
    pthread_join(start_pthread(pool_thread, bases), NULL);
    for (int i = 0; i < 3; i++)
        cr_assert(!mapped(bases[i]), "stack %d outlived its thread", i);
    cr_assert_eq(pc__stack_pool_count(), 0, "another thread's stacks are not ours");
}

/* --------------------------------------------------------------- the guard */

Test(coro_stack, guard_markers_where_the_kernel_has_them) {
    pc__stack_guard_force(PC__GUARD_PROBE);
    pc__stack s;
    expect_rc(pc__stack_get(&s, 0), 0);
    int mode = pc__stack_guard_mode();
    cr_assert_neq(mode, PC__GUARD_PROBE);
    if (kernel_has_guard_markers())
        cr_assert_eq(mode, PC__GUARD_MADVISE);
    else
        cr_log_info("kernel without MADV_GUARD_INSTALL: mprotect guards");
    pc__stack_put(&s);
    pc__stack_pool_drain();
}

/* Get n stacks of `size` in guard `mode`; the number of maps they add. */
static int maps_added(int mode, int n, size_t size) {
    static pc__stack s[1000];
    cr_assert_leq(n, 1000);
    pc__stack_pool_drain();
    pc__stack_guard_force(mode);
    int before = count_maps();
    for (int i = 0; i < n; i++)
        expect_rc(pc__stack_get(&s[i], size), 0);
    int added = count_maps() - before;
    for (int i = 0; i < n; i++)
        pc__stack_put(&s[i]);
    pc__stack_pool_drain();
    pc__stack_guard_force(PC__GUARD_PROBE);
    return added;
}

Test(coro_stack, madvise_guards_add_no_maps) {
    if (!kernel_has_guard_markers()) {
        cr_log_info("kernel without MADV_GUARD_INSTALL: nothing to test");
        return;
    }
    int added = maps_added(PC__GUARD_MADVISE, 1000, 0);
    if (PC__TSAN) { /* TSan maps shadow of its own for every mapping */
        cr_log_info("under TSan 1000 stacks added %d maps", added);
        return;
    }
    cr_assert_lt(added, 100, "1000 stacks added %d maps", added);
}

Test(coro_stack, mprotect_guards_add_two_maps_each) {
    int added = maps_added(PC__GUARD_MPROTECT, 1000, 0);
    cr_assert_geq(added, 1900, "1000 stacks added %d maps", added);
}

/* An overflow, in a child: recurse on a fiber until something stops it. */
static volatile int overflow_stop;
static pc__stack *overflow_stack;

static __attribute__((noinline)) int plunge(int n) {
    volatile char buf[512];
    buf[0] = (char)n;
    if (overflow_stop)
        return 0;
    return plunge(n + 1) + buf[0];
}

static void overflow_entry(void *arg) {
    (void)arg;
    fiber_started();
    plunge(0);
    _exit(3); /* never: the guard stops the recursion */
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)uc;
    _exit(pc__stack_in_guard(overflow_stack, si->si_addr) ? 42 : 43);
}

/* Child: overflow a fiber's stack in guard `mode`; with_handler reports
 * through pc__stack_in_guard instead of dying of the signal. */
static _Noreturn void overflow_child(int mode, bool with_handler) {
    static fiber f;
    pc__stack_guard_force(mode);
    if (with_handler) {
        static char alt[64 * 1024];
        stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
        struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK};
        if (sigaltstack(&ss, NULL) != 0 || sigaction(SIGSEGV, &sa, NULL) != 0)
            _exit(4);
    } else {
        signal(SIGSEGV, SIG_DFL);
    }
    fiber_make(&f, overflow_entry, NULL, 64 * 1024);
    if (pc__stack_guard_mode() != mode)
        _exit(5);
    overflow_stack = &f.stack;
    fiber_switch(&f);
    _exit(6);
}

static int run_overflow(int mode, bool with_handler) {
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        overflow_child(mode, with_handler);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return st;
}

static void expect_overflow_caught(int mode) {
    int st = run_overflow(mode, false);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "child status %#x, not SIGSEGV", st);
    st = run_overflow(mode, true);
    cr_assert(WIFEXITED(st), "child status %#x", st);
    cr_assert_eq(WEXITSTATUS(st), 42, "exit %d: 43 = fault outside the guard", WEXITSTATUS(st));
}

Test(coro_stack, overflow_hits_the_madvise_guard, .timeout = 30) {
    if (!kernel_has_guard_markers()) {
        cr_log_info("kernel without MADV_GUARD_INSTALL: nothing to test");
        return;
    }
    expect_overflow_caught(PC__GUARD_MADVISE);
}

Test(coro_stack, overflow_hits_the_mprotect_guard, .timeout = 30) {
    expect_overflow_caught(PC__GUARD_MPROTECT);
}

/* ----------------------------------------------------------------- numbers */

/* (Under TSan 10,000: its shadow costs two maps per mapping, so it meets
 * vm.max_map_count as mprotect guards do.) */
Test(coro_stack, hundred_thousand_stacks, .timeout = 60) {
    const int N = PC__TSAN ? 10000 : 100000;
    pc__stack *s = calloc(N, sizeof *s);
    cr_assert_not_null(s);
    pc__stack_guard_force(PC__GUARD_PROBE);
    for (int i = 0; i < N; i++) {
        expect_rc(pc__stack_get(&s[i], 0), 0);
        /* a parked coroutine's top page (not under the sanitizers, whose
         * shadow of 100,000 pages would be a burden on a shared machine) */
        if (!PC__ASAN && !PC__TSAN)
            ((volatile char *)s[i].base)[s[i].size - 1] = (char)i;
    }
    cr_log_info("guard mode %d", pc__stack_guard_mode());
    if (!PC__ASAN && !PC__TSAN)
        for (int i = 0; i < N; i += 997)
            cr_assert_eq(((volatile char *)s[i].base)[s[i].size - 1], (char)i);
    for (int i = 0; i < N; i++)
        pc__stack_put(&s[i]);
    cr_assert_eq(pc__stack_pool_count(), PC__STACK_POOL_MAX);
    pc__stack_pool_drain();
    free(s);
}

/* The ceiling that MADV_GUARD_INSTALL avoids: each mprotect guard costs a
 * map, and the default vm.max_map_count stops a process near 32,000
 * stacks.  The failure is a clean -ENOMEM, and releasing stacks recovers.
 * Not under the sanitizers: their runtimes map memory of their own as they
 * go, and die ("Failed to mmap") once the process has no maps left. */
Test(coro_stack, mprotect_guards_hit_max_map_count_cleanly, .timeout = 60,
     .disabled = PC__ASAN || PC__TSAN) {
    enum { N = 100000 };
    pc__stack *s = calloc(N, sizeof *s);
    cr_assert_not_null(s);
    pc__stack_guard_force(PC__GUARD_MPROTECT);
    int got = 0, rc = 0;
    while (got < N && (rc = pc__stack_get(&s[got], 0)) == 0)
        got++;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long max_maps = 0;
    if (f) {
        cr_assert_eq(fscanf(f, "%ld", &max_maps), 1);
        fclose(f);
    }
    cr_log_info("mprotect guards: %d stacks (vm.max_map_count %ld)", got, max_maps);
    if (max_maps > 0 && max_maps < 2 * N) {
        cr_assert_lt(got, N);
        expect_rc(rc, -ENOMEM);
        cr_assert_geq(got, max_maps / 2 - 2000, "far below the ceiling: %d", got);
    }
    for (int i = 0; i < got; i += 2) /* free every other one: the holes stay maps */
        pc__stack_put(&s[i]);
    pc__stack_pool_drain();
    pc__stack t;
    expect_rc(pc__stack_get(&t, 0), 0);
    pc__stack_put(&t);
    for (int i = 1; i < got; i += 2)
        pc__stack_put(&s[i]);
    pc__stack_pool_drain();
    pc__stack_guard_force(PC__GUARD_PROBE);
    free(s);
}

/* A fiber parked deep in its recursion and then dropped leaves its frames'
 * ASan redzones behind; the next fiber on the same (pooled) stack must
 * not trip over them. */
typedef struct abandon {
    fiber f;
    int depth;
    long sum;
} abandon;

static __attribute__((noinline)) long descend(abandon *a, int n) {
    volatile char buf[100]; /* ASan surrounds it with redzones */
    for (int i = 0; i < (int)sizeof buf; i++)
        buf[i] = (char)i;
    if (n == a->depth) {
        fiber_switch(&fiber_main); /* park here; never resumed */
        return 0;
    }
    return descend(a, n + 1) + buf[n % (int)sizeof buf];
}

static void abandon_entry(void *arg) {
    abandon *a = arg;
    fiber_started();
    a->sum = descend(a, 0);
    fiber_exit(&fiber_main);
}

/* Writes over every byte the deep frames had, as plain data. */
static void scribble_entry(void *arg) {
    abandon *a = arg;
    fiber_started();
    char *top = (char *)a->f.stack.base + a->f.stack.size;
    volatile char big[48 * 1024];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)i;
    a->sum = big[100] + (top > (char *)&big[0]);
    fiber_exit(&fiber_main);
}

Test(coro_stack, reused_stack_carries_no_stale_poison) {
    static abandon a, b;
    pc__stack_pool_drain();
    a.depth = 200;
    fiber_make(&a.f, abandon_entry, &a, 0);
    fiber_switch(&a.f); /* returns from the deepest frame */
    void *base = a.f.stack.base;
    fiber_free(&a.f);
    fiber_make(&b.f, scribble_entry, &b, 0);
    cr_assert_eq(b.f.stack.base, base, "the pool handed out the same stack");
    fiber_switch(&b.f);
    cr_assert_eq(b.sum, 101);
    fiber_free(&b.f);
    pc__stack_pool_drain();
}
