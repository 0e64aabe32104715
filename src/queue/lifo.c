/*
 * The LifoQueue storage: a growable array used as a stack, under a guard
 * held only for the push or pop itself.  Unbounded; queue.c bounds it.
 * Rejected: a lock-free (Treiber) stack: it needs a node per item and an
 * ABA defence, for a queue kind that is rarely hot.
 */
#include <errno.h>

#include "../internal/alloc.h"
#include "queue-internal.h"

typedef struct lifo {
    pc__guard guard;
    void **items;       /* guarded by guard */
    size_t len, cap;    /* guarded by guard */
    unsigned long puts; /* guarded by guard */
    bool closed;        /* guarded by guard */
} lifo;

int pc__lifo_new(void **store) {
    lifo *s = pc__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    *store = s;
    return 0;
}

static int lifo_try_put(void *store, void *item) {
    lifo *s = store;
    pc__guard_lock(&s->guard);
    if (s->closed) {
        pc__guard_unlock(&s->guard);
        return -EPIPE;
    }
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        void **items = pc__realloc(s->items, cap * sizeof *items);
        if (!items) {
            pc__guard_unlock(&s->guard);
            return -ENOMEM;
        }
        s->items = items;
        s->cap = cap;
    }
    s->items[s->len++] = item;
    s->puts++;
    pc__guard_unlock(&s->guard);
    return 0;
}

static int lifo_try_get(void *store, void **item) {
    lifo *s = store;
    pc__guard_lock(&s->guard);
    if (s->len == 0) {
        int r = s->closed ? -EPIPE : -EAGAIN;
        pc__guard_unlock(&s->guard);
        return r;
    }
    *item = s->items[--s->len];
    pc__guard_unlock(&s->guard);
    return 0;
}

static void lifo_close(void *store) {
    lifo *s = store;
    pc__guard_lock(&s->guard);
    s->closed = true;
    pc__guard_unlock(&s->guard);
}

static long lifo_size(const void *store) {
    lifo *s = (lifo *)store;
    pc__guard_lock(&s->guard);
    long n = (long)s->len;
    pc__guard_unlock(&s->guard);
    return n;
}

static unsigned long lifo_puts(const void *store) {
    lifo *s = (lifo *)store;
    pc__guard_lock(&s->guard);
    unsigned long n = s->puts;
    pc__guard_unlock(&s->guard);
    return n;
}

static void lifo_destroy(void *store) {
    lifo *s = store;
    pc__free(s->items);
    pc__free(s);
}

const pc__queue_ops pc__lifo_ops = {.try_put = lifo_try_put,
                                    .try_get = lifo_try_get,
                                    .close = lifo_close,
                                    .size = lifo_size,
                                    .puts = lifo_puts,
                                    .destroy = lifo_destroy};
