/*
 * Coroutine stacks: lazily mapped, guarded, pooled per thread.
 *
 * A stack is one anonymous mapping, PROT_READ|PROT_WRITE, MAP_NORESERVE |
 * MAP_STACK: [map, base) is the guard, [base, base + size) the usable
 * range, whose top ends on a page boundary.  Nothing is resident until
 * touched, and MAP_NORESERVE keeps the kernel's overcommit heuristic
 * (vm.overcommit_memory = 0, the default) from charging the untouched
 * rest, so a million 256 KiB stacks cost their touched top pages: one
 * page for a coroutine parked a few frames deep.
 *
 * The guard.  An mprotect(PROT_NONE) guard splits the mapping into two
 * VMAs, so a process hits vm.max_map_count (65,530 by default) near
 * 32,000 stacks, as libdill and libaco do.  MADV_GUARD_INSTALL (Linux
 * 6.13) puts guard markers into the page table instead: the mapping stays
 * one VMA, and the kernel merges adjacent stacks' mappings, so the count
 * of stacks is bounded by memory, not by map_count.  The first stack
 * probes: EINVAL means an older kernel, and from then on every stack gets
 * the mprotect guard (and the ~32k ceiling, which the docs must
 * state).  The probe also checks that the guard holds (an emulator such
 * as qemu-user accepts the madvise and ignores it).  Under
 * MADV_GUARD_INSTALL a later EINVAL on one mapping (an mlock'ed process)
 * falls back for that stack only.  The guard is 16 KiB
 * (at least a page): more than one page so that a frame with a few
 * kilobytes of locals still lands in it rather than jumping over it;
 * either kind costs address space only.
 *
 * Huge pages.  The merged VMA of many stacks would be eligible for
 * transparent huge pages where THP is "always": one touched page could
 * then make 2 MiB resident.  Linux 6.8+ marks MAP_STACK mappings
 * VM_NOHUGEPAGE; for older kernels each new stack gets MADV_NOHUGEPAGE
 * when /sys/kernel/mm/transparent_hugepage/enabled says always (read once).
 *
 * The pool.  Each thread keeps up to PC__STACK_POOL_MAX returned stacks
 * (any size; a get takes the most recent one of the exact size) and
 * unmaps the rest; thread exit unmaps the pool.  A pooled stack keeps
 * whatever its last coroutine touched resident: the pool bounds that to
 * 64 stacks per thread.  Rejected: MADV_DONTNEED (or MADV_FREE) on each
 * put.  It would bound a pooled stack to its top page, but a madvise
 * costs a system call and a page-table walk on every put (measured on the
 * development machine: a get + touch + put through the pool 6.5 ns; with
 * MADV_DONTNEED below the top page 600 ns, MADV_FREE 720 ns, dropping the
 * whole stack and faulting its top page in again 2.7 us), while spawn +
 * join must stay within a few tens of ns (issue 3).  Deep stacks in the
 * pool are the price, bounded by 64 x the stack size per thread.
 *
 * Costs measured there (Linux 6.18, default settings): a new stack takes
 * 5-7 us (mmap 1.4, guard 1.3, the first touch's page fault 2.2) and its
 * release 4.4 us; 1,000,000 stacks with their top page touched took 4.04
 * KiB resident and 0.53 KiB of page tables each, in one map (VmSize 260
 * GiB of address space).  The mprotect fallback stops near 32,700.
 *
 * Invariants: a stack is in at most one pool; tpool.s[0..n) are stacks
 * mapped by this module, registered with Valgrind, whose shadow holds no
 * stale ASan poison (cleared at put).  Across fork the child keeps the
 * forking thread's pool (its mappings are copied with it); other threads'
 * pools stay mapped and unreachable in the child.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sanitize.h"
#include "stack.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define PC__VALGRIND 1
#endif
#endif

#define GUARD_BYTES (16 * 1024)

/* PC__GUARD_*.  Relaxed: it selects a system call and orders nothing;
 * racing probes store the same answer. */
static _Atomic int guard_mode;
/* THP "always": -1 not read yet, 0, 1.  Relaxed, as guard_mode. */
static _Atomic int thp_always = -1;

typedef struct stack_pool {
    int n; /* owned by its thread */
    pc__stack s[PC__STACK_POOL_MAX];
} stack_pool;

static _Thread_local stack_pool tpool;
static _Thread_local int tpool_registered;
static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static size_t page_size(void) {
    return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t guard_size(void) {
    size_t ps = page_size();
    return GUARD_BYTES > ps ? GUARD_BYTES : ps;
}

static int read_thp_always(void) {
    int v = atomic_load_explicit(&thp_always, memory_order_relaxed);
    if (v >= 0)
        return v;
    char buf[128] = "";
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    v = strstr(buf, "[always]") != NULL;
    atomic_store_explicit(&thp_always, v, memory_order_relaxed);
    return v;
}

/* Whether the kernel really refuses to read `guard`: write() copies from
 * it, and a guard fails that with EFAULT.  An emulator that accepts the
 * madvise and ignores it (qemu-user does) lets the write through.  Any
 * other failure cannot tell: trust the madvise. */
static bool guard_holds(const char *guard) {
    int fd[2];
    if (pipe2(fd, O_CLOEXEC) != 0)
        return true;
    bool holds = write(fd[1], guard, 1) != 1;
    close(fd[0]);
    close(fd[1]);
    return holds;
}

static int install_guard(char *map, size_t guard) {
    int mode = atomic_load_explicit(&guard_mode, memory_order_relaxed);
    if (mode != PC__GUARD_MPROTECT) {
        if (madvise(map, guard, MADV_GUARD_INSTALL) == 0) {
            if (mode != PC__GUARD_PROBE)
                return 0;
            if (guard_holds(map)) {
                atomic_store_explicit(&guard_mode, PC__GUARD_MADVISE, memory_order_relaxed);
                return 0;
            }
        } else if (errno != EINVAL) {
            return -ENOMEM;
        }
        if (mode == PC__GUARD_PROBE)
            atomic_store_explicit(&guard_mode, PC__GUARD_MPROTECT, memory_order_relaxed);
    }
    return mprotect(map, guard, PROT_NONE) == 0 ? 0 : -ENOMEM;
}

static int map_stack(pc__stack *s, size_t size) {
    size_t guard = guard_size();
    if (size > SIZE_MAX / 4)
        return -ENOMEM;
    size_t len = guard + size;
    char *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return -ENOMEM;
    int rc = install_guard(map, guard);
    if (rc != 0) {
        munmap(map, len);
        return rc;
    }
    if (read_thp_always())
        (void)madvise(map + guard, size, MADV_NOHUGEPAGE); /* an optimization only */
    s->map = map;
    s->map_len = len;
    s->base = map + guard;
    s->size = size;
#ifdef PC__VALGRIND
    s->vg_id = VALGRIND_STACK_REGISTER(s->base, (char *)s->base + size);
#else
    s->vg_id = 0;
#endif
    return 0;
}

static void unmap_stack(pc__stack *s) {
#ifdef PC__VALGRIND
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
    munmap(s->map, s->map_len);
}

/* Also the key's destructor, run by the exiting thread itself: a put by
 * a later destructor registers again, and the key's destructors run
 * again (up to PTHREAD_DESTRUCTOR_ITERATIONS rounds). */
static void pool_destroy(void *arg) {
    stack_pool *p = arg;
    while (p->n > 0)
        unmap_stack(&p->s[--p->n]);
    tpool_registered = 0;
}

static void pool_key_make(void) {
    (void)pthread_key_create(&pool_key, pool_destroy);
}

/* Have thread exit unmap this thread's pool. */
static void pool_register(void) {
    tpool_registered = 1;
    if (pthread_once(&pool_once, pool_key_make) == 0)
        (void)pthread_setspecific(pool_key, &tpool);
}

/* `size` rounded up to whole pages and PC__STACK_MIN; 0 when too large. */
static size_t usable_size(size_t size) {
    if (size == 0 || size == PC__STACK_DEFAULT)
        return PC__STACK_DEFAULT;
    size_t ps = page_size();
    if (size < PC__STACK_MIN)
        size = PC__STACK_MIN;
    if (size > SIZE_MAX / 4)
        return 0;
    return (size + ps - 1) & ~(ps - 1);
}

int pc__stack_get(pc__stack *s, size_t size) {
    size_t want = usable_size(size);
    if (want == 0)
        return -ENOMEM;
    stack_pool *p = &tpool;
    for (int i = p->n - 1; i >= 0; i--) {
        if (p->s[i].size == want) {
            *s = p->s[i];
            p->s[i] = p->s[--p->n];
            return 0;
        }
    }
    return map_stack(s, want);
}

void pc__stack_put(pc__stack *s) {
    if (!s->map)
        return;
    pc__asan_unpoison_stack(s->base, s->size);
    stack_pool *p = &tpool;
    if (p->n < PC__STACK_POOL_MAX) {
        if (!tpool_registered)
            pool_register();
        p->s[p->n++] = *s;
    } else {
        unmap_stack(s);
    }
    memset(s, 0, sizeof *s);
}

bool pc__stack_in_guard(const pc__stack *s, const void *addr) {
    uintptr_t a = (uintptr_t)addr;
    return s->map && a >= (uintptr_t)s->map && a < (uintptr_t)s->base;
}

void pc__stack_pool_drain(void) {
    pool_destroy(&tpool);
}

int pc__stack_pool_count(void) {
    return tpool.n;
}

void pc__stack_guard_force(int mode) {
    atomic_store_explicit(&guard_mode, mode, memory_order_relaxed);
}

int pc__stack_guard_mode(void) {
    return atomic_load_explicit(&guard_mode, memory_order_relaxed);
}
