/*
 * The bounded FIFO storage: a lock-free multi-producer multi-consumer
 * array ring with one sequence number per slot (D. Vyukov's design).
 *
 * Slot i of the ring is used by positions i, i+cap, i+2cap, ...  Its
 * sequence number says which use it is ready for:
 *   seq == pos        free for the producer of position `pos`
 *   seq == pos + 1    holds the item of position `pos`, for its consumer
 * A producer claims position `tail` with a CAS on tail when the slot's seq
 * equals tail, writes the item, then stores seq = tail + 1 (release).  A
 * consumer claims `head` with a CAS on head when seq == head + 1, reads the
 * item, then stores seq = head + cap (release), freeing the slot for the
 * producer one lap later.  Producers and consumers touch different index
 * words (on their own cache lines) and meet only at the slots.
 *
 * Invariants: head <= tail <= head + cap (as positions, which never wrap in
 * 64 bits); a slot's seq only grows; the CASes on head and tail give each
 * position exactly one producer and one consumer.
 *
 * A producer that claimed a slot but was preempted before publishing it
 * makes the consumers of that position see "empty" until it lands, even if
 * later positions are filled.  The blocking layer retries, so the item is
 * delayed, never lost.
 *
 * Rejected: a mutex-protected ring.  Every operation then moves the mutex's
 * cache line between the producer and consumer CPUs; measured on the
 * development machine that caps a 1:1 pair near GAsyncQueue's 10 M items/s,
 * where this ring moves several times that.
 */
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>

#include "../internal/alloc.h"
#include "queue-internal.h"

typedef struct slot {
    _Atomic size_t seq;
    void *item; /* written by the slot's producer before the seq release */
} slot;

typedef struct ring {
    alignas(64) _Atomic size_t tail; /* next position to produce */
    alignas(64) _Atomic size_t head; /* next position to consume */
    alignas(64) size_t cap;          /* immutable */
    size_t mask;                     /* cap - 1 when cap is a power of two, else 0 */
    slot *slots;                     /* immutable pointer; cap entries */
} ring;

static inline slot *slot_of(ring *r, size_t pos) {
    return &r->slots[r->mask ? (pos & r->mask) : (pos % r->cap)];
}

int pc__ring_new(void **store, long capacity) {
    ring *r = pc__malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    r->slots = pc__malloc(sizeof(slot) * (size_t)capacity);
    if (!r->slots) {
        pc__free(r);
        return -ENOMEM;
    }
    r->cap = (size_t)capacity;
    r->mask = (r->cap & (r->cap - 1)) == 0 ? r->cap - 1 : 0; /* cap >= 2 */
    for (size_t i = 0; i < r->cap; i++)
        atomic_init(&r->slots[i].seq, i);
    atomic_init(&r->tail, 0);
    atomic_init(&r->head, 0);
    *store = r;
    return 0;
}

static int ring_try_put(void *store, void *item) {
    ring *r = store;
    size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    for (;;) {
        slot *s = slot_of(r, pos);
        /* acquire; pairs with the consumer's release store of seq */
        size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                s->item = item;
                /* release; pairs with the acquire load in ring_try_get() */
                atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
                return 0;
            }
        } else if (dif < 0) {
            return -EAGAIN; /* the slot still holds the item of the last lap: full */
        } else {
            pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
        }
    }
}

static int ring_try_get(void *store, void **item) {
    ring *r = store;
    size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    for (;;) {
        slot *s = slot_of(r, pos);
        /* acquire; pairs with the producer's release store of seq */
        size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *item = s->item;
                /* release; pairs with the acquire load in ring_try_put() */
                atomic_store_explicit(&s->seq, pos + r->cap, memory_order_release);
                return 0;
            }
        } else if (dif < 0) {
            return -EAGAIN; /* not produced yet: empty */
        } else {
            pos = atomic_load_explicit(&r->head, memory_order_relaxed);
        }
    }
}

static long ring_size(const void *store) {
    ring *r = (ring *)store;
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    return tail > head ? (long)(tail - head) : 0;
}

static unsigned long ring_puts(const void *store) {
    return atomic_load_explicit(&((ring *)store)->tail, memory_order_relaxed);
}

static void ring_destroy(void *store) {
    ring *r = store;
    pc__free(r->slots);
    pc__free(r);
}

const pc__queue_ops pc__ring_ops = {ring_try_put, ring_try_get, ring_size, ring_puts, ring_destroy};
