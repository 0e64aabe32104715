/*
 * The shared heap (pyconc/shared.h).
 *
 * One memfd per process tree, sparse, reserved at PC_SHARED_HEAP_MAX and
 * mapped MAP_SHARED | MAP_NORESERVE: a page costs memory only once touched.
 * Layout: a 4 KiB header page, then blocks.  A block is a 64-byte header
 * followed by the caller's bytes; its total size is a power of two
 * (a size class), at least 128 bytes, carved from `brk` or popped from the
 * class's free list.  Offsets, never pointers, are stored in the heap: each
 * process maps it at its own address.
 *
 * The allocator's state (brk, free lists, block headers) is guarded by
 * hdr->mu, a robust process-shared pthread mutex held for a few stores.
 * Each update commits with one store (the free-list head or brk), written
 * last, so a process killed inside the lock leaves at worst one block
 * leaked, never a broken list: the next locker gets EOWNERDEAD, marks the
 * mutex consistent and goes on.
 *
 * Process-local state (`heap`): fd and id are written under heap.mu before
 * base is published (release); readers that see base (acquire) may read
 * them.  Lock order: heap.mu, then hdr->mu.
 *
 * Fork: the child inherits the mapping and the memfd (an atfork handler
 * keeps heap.mu consistent).  Spawn and forkserver: the process module
 * sends pc__shared_heap_fd() with the start wire and the child calls
 * pc__shared_adopt(), which maps lazily.
 */
#include "pyconc/shared.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "shared-internal.h"

#define HEAP_MAGIC 0x7079636f6e634850ull /* "PHcnocyp" */
#define BLOCK_LIVE 0x4c424350u           /* "PCBL" */
#define BLOCK_FREE 0x46424350u           /* "PCBF" */
enum {
    HDR_SIZE = 4096,
    BLOCK_HDR = 64,
    MIN_CLASS = 7, /* 128 bytes */
    MAX_CLASS = 32,
    PUNCH_MIN_CLASS = 16, /* blocks of 64 KiB and more give their pages back when freed */
};

typedef struct heap_hdr {
    uint64_t magic;
    uint64_t id;
    uint64_t size;
    pthread_mutex_t mu;                /* robust, process-shared */
    uint64_t brk;                      /* guarded by mu */
    uint64_t free_head[MAX_CLASS + 1]; /* block offsets (headers); guarded by mu */
} heap_hdr;
_Static_assert(sizeof(heap_hdr) <= HDR_SIZE, "heap header fits its page");

typedef struct block_hdr {
    uint32_t magic; /* BLOCK_LIVE / BLOCK_FREE; guarded by mu */
    uint32_t cls;
    uint64_t next; /* free-list link (a header offset); guarded by mu */
    uint64_t size; /* usable bytes */
} block_hdr;

static struct {
    pthread_mutex_t mu;
    _Atomic(char *) base; /* NULL until mapped; release-published after fd, id */
    int fd;               /* -1: no heap; guarded by mu */
    uint64_t id;
} heap = {.mu = PTHREAD_MUTEX_INITIALIZER, .base = NULL, .fd = -1, .id = 0};

static void fork_prepare(void) {
    pthread_mutex_lock(&heap.mu);
}
static void fork_release(void) {
    pthread_mutex_unlock(&heap.mu);
}
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void) {
    pthread_atfork(fork_prepare, fork_release, fork_release);
}

static inline heap_hdr *hdr_of(char *base) {
    return (heap_hdr *)base;
}

static int lock_hdr(heap_hdr *h) {
    int r = pthread_mutex_lock(&h->mu);
    if (r == EOWNERDEAD) /* every update commits with one store: consistent */
        r = pthread_mutex_consistent(&h->mu);
    return -r;
}

static int init_hdr(heap_hdr *h) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int r = pthread_mutex_init(&h->mu, &a);
    pthread_mutexattr_destroy(&a);
    if (r)
        return -r;
    h->size = PC_SHARED_HEAP_MAX;
    h->brk = HDR_SIZE;
    if (getrandom(&h->id, sizeof h->id, 0) != (ssize_t)sizeof h->id)
        h->id = (uint64_t)getpid() << 32 ^ (uint64_t)pc__mono_ns();
    h->id |= 1; /* never 0: the zero reference refers to nothing */
    h->magic = HEAP_MAGIC;
    return 0;
}

/* Map (and, with `create`, make) this process's heap.  Returns the base
 * or NULL with *err set. */
static char *get_base(bool create, int *err) {
    char *b =
        atomic_load_explicit(&heap.base, memory_order_acquire); /* pairs with the release below */
    if (b)
        return b;
    pthread_once(&atfork_once, install_atfork);
    pthread_mutex_lock(&heap.mu);
    b = atomic_load_explicit(&heap.base, memory_order_relaxed);
    if (b)
        goto out;
    bool made = false;
    if (heap.fd < 0) {
        if (!create) {
            *err = -ENXIO;
            goto out;
        }
        int fd = memfd_create("pyconc-shared", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)PC_SHARED_HEAP_MAX) < 0) {
            if (fd >= 0)
                close(fd);
            *err = -ENOMEM;
            goto out;
        }
        heap.fd = fd;
        made = true;
    }
    void *m = mmap(NULL, PC_SHARED_HEAP_MAX, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                   heap.fd, 0);
    if (m == MAP_FAILED) {
        *err = -ENOMEM;
        goto undo;
    }
    heap_hdr *h = m;
    if (made && (*err = init_hdr(h)) < 0) {
        munmap(m, PC_SHARED_HEAP_MAX);
        goto undo;
    }
    if (h->magic != HEAP_MAGIC || h->size != PC_SHARED_HEAP_MAX) {
        munmap(m, PC_SHARED_HEAP_MAX); /* not a heap of ours: forget the fd */
        close(heap.fd);
        heap.fd = -1;
        *err = -ENXIO;
        goto out;
    }
    heap.id = h->id;
    b = m;
    atomic_store_explicit(&heap.base, b, memory_order_release);
    goto out;
undo:
    if (made) {
        close(heap.fd);
        heap.fd = -1;
    }
out:
    pthread_mutex_unlock(&heap.mu);
    return b;
}

int pc__shared_heap_fd(void) {
    return atomic_load_explicit(&heap.base, memory_order_acquire) ? heap.fd : -1;
}

void pc__shared_adopt(int fd) {
    pthread_mutex_lock(&heap.mu);
    if (heap.fd < 0 && !atomic_load_explicit(&heap.base, memory_order_relaxed))
        heap.fd = fd;
    else
        close(fd);
    pthread_mutex_unlock(&heap.mu);
}

static int class_of(size_t size) {
    if (size > PC_SHARED_HEAP_MAX - HDR_SIZE - BLOCK_HDR)
        return -1;
    uint64_t total = (uint64_t)size + BLOCK_HDR;
    int c = MIN_CLASS;
    while (((uint64_t)1 << c) < total)
        c++;
    return c;
}

int pc_shared_alloc(size_t size, void **out) {
    if (!size || !out)
        return -EINVAL;
    int c = class_of(size);
    if (c < 0 || c > MAX_CLASS)
        return -ENOMEM;
    int err = 0;
    char *b = get_base(true, &err);
    if (!b)
        return err;
    heap_hdr *h = hdr_of(b);
    int r = lock_hdr(h);
    if (r < 0)
        return r;
    uint64_t total = (uint64_t)1 << c, off = h->free_head[c];
    size_t dirty = 0; /* bytes that may hold an old block's data */
    if (off) {
        dirty = c >= PUNCH_MIN_CLASS ? 4096 - BLOCK_HDR : total - BLOCK_HDR;
        block_hdr *bh = (block_hdr *)(b + off);
        h->free_head[c] = bh->next; /* the commit */
    } else {
        uint64_t align = total < 4096 ? total : 4096;
        uint64_t at = (h->brk + align - 1) & ~(align - 1);
        if (at + total > h->size) {
            pthread_mutex_unlock(&h->mu);
            return -ENOMEM;
        }
        /* the commit; relaxed atomic: live_block() reads brk without the lock */
        atomic_store_explicit((_Atomic uint64_t *)&h->brk, at + total, memory_order_relaxed);
        off = at;
    }
    block_hdr *bh = (block_hdr *)(b + off);
    bh->cls = (uint32_t)c;
    bh->next = 0;
    bh->size = total - BLOCK_HDR;
    bh->magic = BLOCK_LIVE;
    pthread_mutex_unlock(&h->mu);
    /* zero outside the lock, and only what may be dirty: a block carved
     * from brk was never touched, a punched one is zero past its first page
     * (touching the rest would commit memory nobody asked for yet) */
    memset(b + off + BLOCK_HDR, 0, dirty);
    *out = b + off + BLOCK_HDR;
    return 0;
}

/* The header of a live block at process address p, or NULL. */
static block_hdr *live_block(char *b, const void *p) {
    if (!b || !p)
        return NULL;
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)b + HDR_SIZE + BLOCK_HDR;
    if (a < lo || a >= (uintptr_t)b + PC_SHARED_HEAP_MAX || (a & (BLOCK_HDR - 1)))
        return NULL;
    uint64_t off = a - (uintptr_t)b - BLOCK_HDR;
    heap_hdr *h = hdr_of(b);
    if (off >= atomic_load_explicit((_Atomic uint64_t *)&h->brk, memory_order_relaxed))
        return NULL; /* never carved: untouched pages stay untouched */
    block_hdr *bh = (block_hdr *)(b + off);
    if (bh->magic != BLOCK_LIVE || bh->cls < MIN_CLASS || bh->cls > MAX_CLASS)
        return NULL;
    return bh;
}

int pc_shared_free(void *block) {
    char *b = atomic_load_explicit(&heap.base, memory_order_acquire);
    if (!live_block(b, block))
        return -EINVAL;
    heap_hdr *h = hdr_of(b);
    int r = lock_hdr(h);
    if (r < 0)
        return r;
    block_hdr *bh = live_block(b, block); /* again under the lock: two frees race */
    if (!bh) {
        pthread_mutex_unlock(&h->mu);
        return -EINVAL;
    }
    uint32_t c = bh->cls;
    uint64_t off = (uint64_t)((char *)bh - b);
    if (c >= PUNCH_MIN_CLASS) /* give the pages back; they read as zeros again */
        fallocate(heap.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(off + 4096),
                  (off_t)(((uint64_t)1 << c) - 4096));
    bh->magic = BLOCK_FREE;
    bh->next = h->free_head[c];
    h->free_head[c] = off; /* the commit */
    pthread_mutex_unlock(&h->mu);
    return 0;
}

size_t pc_shared_size(const void *block) {
    block_hdr *bh = live_block(atomic_load_explicit(&heap.base, memory_order_acquire), block);
    return bh ? bh->size : 0;
}

int pc_shared_ref_of(const void *block, pc_shared_ref *out) {
    char *b = atomic_load_explicit(&heap.base, memory_order_acquire);
    if (!out || !live_block(b, block))
        return -EINVAL;
    out->heap = heap.id;
    out->off = (uint64_t)((const char *)block - b);
    return 0;
}

int pc_shared_deref(pc_shared_ref ref, void **out) {
    if (!out || !ref.heap)
        return -EINVAL;
    int err = 0;
    char *b = get_base(false, &err);
    if (!b)
        return err;
    if (ref.heap != heap.id)
        return -ENXIO;
    if (ref.off >= PC_SHARED_HEAP_MAX || !live_block(b, b + ref.off))
        return -EINVAL;
    *out = b + ref.off;
    return 0;
}
