/*
 * The bounded FIFO storage: a lock-free multi-producer multi-consumer
 * array ring with one sequence number per slot (D. Vyukov's design).
 *
 * Slot i of the ring is used by positions i, i+cap, i+2cap, ...  Its
 * sequence number says which use it is ready for:
 *   seq == 2 pos        free for the producer of position `pos`
 *   seq == 2 pos + 1    holds the item of position `pos`, for its consumer
 * A producer claims position `tail` with a CAS on tail when the slot's seq
 * is 2 tail, writes the item, then stores seq = 2 tail + 1 (release).  A
 * consumer claims `head` with a CAS on head when seq == 2 head + 1, reads
 * the item, then stores seq = 2 (head + cap) (release), freeing the slot
 * for the producer one lap later.  (Vyukov counts in single steps, which
 * needs two slots at least: with one, "holds the item of pos" and "free
 * for pos + 1" would both read pos + 1.  Double steps keep them apart, so
 * Queue(1), a rendezvous channel, is a one-slot ring too.)  Producers and consumers touch different
 * index words (on their own cache lines) and meet only at the slots.
 *
 * Invariants: head <= tail <= head + cap (as positions, which never wrap in
 * 64 bits); a slot's seq only grows; the CASes on head and tail give each
 * position exactly one producer and one consumer.
 *
 * Claimed but not done.  A producer that claimed position p but has not
 * published it (preempted between its CAS and its store of seq) leaves the
 * slot of p "not produced", even while later positions are filled.  A
 * consumer that finds it so reads tail: tail == p is "empty"; tail > p
 * means the item is committed, and the consumer waits for it (backoff)
 * instead of answering "empty".  Putters mirror this with head for a slot
 * whose consumer claimed it but has not freed it.  Answering "empty" there
 * would lose wake-ups: getters G1 and G2 park; P1 claims p, P2 publishes
 * p + 1 and wakes G1; G1 finds p not produced and parks again; P1 lands
 * and wakes G2, which takes p; p + 1 then waits beside a sleeping G1.
 * (crossbeam's ArrayQueue makes the same distinction.)
 *
 * Close.  The top bit of tail (CLOSED) refuses later puts: a producer's CAS
 * on tail either lands before the fetch_or that sets it or fails and sees
 * it.  So a consumer that reads tail == head with CLOSED set knows every
 * put that will ever land was taken, and answers -EPIPE.
 *
 * Rejected: a mutex-protected ring.  Every operation then moves the mutex's
 * cache line between the producer and consumer CPUs; measured on the
 * development machine that caps a 1:1 pair near GAsyncQueue's 10 M items/s,
 * where this ring moves several times that.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>

#include "../internal/alloc.h"
#include "queue-internal.h"

typedef struct slot {
    _Atomic size_t seq;
    void *item; /* written by the slot's producer before the seq release */
} slot;

/* The top bit of tail: closed to puts (positions never get that far). */
#define CLOSED ((size_t)1 << (sizeof(size_t) * 8 - 1))

typedef struct ring {
    alignas(64) _Atomic size_t tail; /* next position to produce, | CLOSED */
    alignas(64) _Atomic size_t head; /* next position to consume */
    alignas(64) size_t cap;          /* immutable */
    size_t mask;                     /* cap - 1 */
    bool pow2;                       /* cap is a power of two: index with mask */
    slot *slots;                     /* immutable pointer; cap entries */
} ring;

/* A slot's seq when it is free for the producer of pos, and when it
 * holds the item of pos (see the note: double steps). */
static inline size_t free_for(size_t pos) {
    return 2 * pos;
}
static inline size_t holding(size_t pos) {
    return 2 * pos + 1;
}

static inline slot *slot_of(ring *r, size_t pos) {
    return &r->slots[r->pow2 ? (pos & r->mask) : (pos % r->cap)];
}

int pc__ring_new(void **store, long capacity) {
    ring *r = pc__calloc_aligned(sizeof *r, alignof(ring));
    if (!r)
        return -ENOMEM;
    r->slots = pc__malloc(sizeof(slot) * (size_t)capacity);
    if (!r->slots) {
        pc__free_aligned(r);
        return -ENOMEM;
    }
    r->cap = (size_t)capacity;
    r->mask = r->cap - 1;
    r->pow2 = (r->cap & r->mask) == 0;
    for (size_t i = 0; i < r->cap; i++)
        atomic_init(&r->slots[i].seq, free_for(i));
    atomic_init(&r->tail, 0);
    atomic_init(&r->head, 0);
    *store = r;
    return 0;
}

static int ring_try_put(void *store, void *item) {
    ring *r = store;
    unsigned spins = 0;
    size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    for (;;) {
        if (pos & CLOSED)
            return -EPIPE;
        slot *s = slot_of(r, pos);
        /* acquire; pairs with the consumer's release store of seq */
        size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)free_for(pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                s->item = item;
                /* release; pairs with the acquire load in ring_try_get() */
                atomic_store_explicit(&s->seq, holding(pos), memory_order_release);
                return 0;
            }
        } else if (dif < 0) {
            /* The slot still holds the item of position pos - cap: full,
             * unless its consumer claimed it already (see the note). */
            size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
            if (head + r->cap <= pos)
                return -EAGAIN;
            pc__queue_backoff(&spins);
            pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
        } else {
            pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
        }
    }
}

static int ring_try_get(void *store, void **item) {
    ring *r = store;
    unsigned spins = 0;
    size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
    for (;;) {
        slot *s = slot_of(r, pos);
        /* acquire; pairs with the producer's release store of seq */
        size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)holding(pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *item = s->item;
                /* release; pairs with the acquire load in ring_try_put() */
                atomic_store_explicit(&s->seq, free_for(pos + r->cap), memory_order_release);
                return 0;
            }
        } else if (dif < 0) {
            /* Not produced yet: empty, unless a producer claimed pos
             * already (see the note). */
            size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
            if ((tail & ~CLOSED) <= pos)
                return tail & CLOSED ? -EPIPE : -EAGAIN;
            pc__queue_backoff(&spins);
            pos = atomic_load_explicit(&r->head, memory_order_relaxed);
        } else {
            pos = atomic_load_explicit(&r->head, memory_order_relaxed);
        }
    }
}

static long ring_size(const void *store) {
    ring *r = (ring *)store;
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed) & ~CLOSED;
    return tail > head ? (long)(tail - head) : 0;
}

static unsigned long ring_puts(const void *store) {
    return atomic_load_explicit(&((ring *)store)->tail, memory_order_relaxed) & ~CLOSED;
}

static void ring_close(void *store) {
    /* Ordered for parked waiters by the fence of wake_all() that follows
     * in pc_queue_shutdown(); for puts by the CAS on the same word. */
    atomic_fetch_or_explicit(&((ring *)store)->tail, CLOSED, memory_order_seq_cst);
}

static void ring_destroy(void *store) {
    ring *r = store;
    pc__free(r->slots);
    pc__free_aligned(r);
}

const pc__queue_ops pc__ring_ops = {.try_put = ring_try_put,
                                    .try_get = ring_try_get,
                                    .close = ring_close,
                                    .size = ring_size,
                                    .puts = ring_puts,
                                    .destroy = ring_destroy};
