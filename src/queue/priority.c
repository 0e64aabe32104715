/*
 * The PriorityQueue storage: a binary min-heap under a guard.  Each entry
 * carries the sequence number of its put, and ties in the user's order are
 * broken by it, so equal items come out first-in first-out (Python's
 * heapq gives no such promise; programs there add a counter to their
 * tuples to get it, which here is built in).  Unbounded; queue.c bounds it.
 */
#include <errno.h>

#include "../internal/alloc.h"
#include "queue-internal.h"

typedef struct entry {
    void *item;
    unsigned long seq;
} entry;

typedef struct heap {
    pc__guard guard;
    entry *e;            /* guarded by guard */
    size_t len, cap;     /* guarded by guard */
    unsigned long puts;  /* guarded by guard */
    bool closed;         /* guarded by guard */
    pc_queue_cmp_fn cmp; /* immutable */
    void *arg;           /* immutable */
} heap;

int pc__priority_new(void **store, pc_queue_cmp_fn cmp, void *arg) {
    heap *h = pc__calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->cmp = cmp;
    h->arg = arg;
    *store = h;
    return 0;
}

static bool before(const heap *h, const entry *a, const entry *b) {
    int c = h->cmp(a->item, b->item, h->arg);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static void sift_up(heap *h, size_t i) {
    entry x = h->e[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(h, &x, &h->e[parent]))
            break;
        h->e[i] = h->e[parent];
        i = parent;
    }
    h->e[i] = x;
}

static void sift_down(heap *h, size_t i) {
    entry x = h->e[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && before(h, &h->e[child + 1], &h->e[child]))
            child++;
        if (!before(h, &h->e[child], &x))
            break;
        h->e[i] = h->e[child];
        i = child;
    }
    h->e[i] = x;
}

static int heap_try_put(void *store, void *item) {
    heap *h = store;
    pc__guard_lock(&h->guard);
    if (h->closed) {
        pc__guard_unlock(&h->guard);
        return -EPIPE;
    }
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        entry *e = pc__realloc(h->e, cap * sizeof *e);
        if (!e) {
            pc__guard_unlock(&h->guard);
            return -ENOMEM;
        }
        h->e = e;
        h->cap = cap;
    }
    h->e[h->len] = (entry){item, h->puts++};
    sift_up(h, h->len++);
    pc__guard_unlock(&h->guard);
    return 0;
}

static int heap_try_get(void *store, void **item) {
    heap *h = store;
    pc__guard_lock(&h->guard);
    if (h->len == 0) {
        int r = h->closed ? -EPIPE : -EAGAIN;
        pc__guard_unlock(&h->guard);
        return r;
    }
    *item = h->e[0].item;
    h->e[0] = h->e[--h->len];
    if (h->len)
        sift_down(h, 0);
    pc__guard_unlock(&h->guard);
    return 0;
}

static void heap_close(void *store) {
    heap *h = store;
    pc__guard_lock(&h->guard);
    h->closed = true;
    pc__guard_unlock(&h->guard);
}

static long heap_size(const void *store) {
    heap *h = (heap *)store;
    pc__guard_lock(&h->guard);
    long n = (long)h->len;
    pc__guard_unlock(&h->guard);
    return n;
}

static unsigned long heap_puts(const void *store) {
    heap *h = (heap *)store;
    pc__guard_lock(&h->guard);
    unsigned long n = h->puts;
    pc__guard_unlock(&h->guard);
    return n;
}

static void heap_destroy(void *store) {
    heap *h = store;
    pc__free(h->e);
    pc__free(h);
}

const pc__queue_ops pc__priority_ops = {.try_put = heap_try_put,
                                        .try_get = heap_try_get,
                                        .close = heap_close,
                                        .size = heap_size,
                                        .puts = heap_puts,
                                        .destroy = heap_destroy};
