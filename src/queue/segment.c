/*
 * The unbounded FIFO storage: a lock-free multi-producer multi-consumer
 * queue made of fixed arrays ("segments") of SEG_CAP slots linked in a
 * list.  The design follows the segmented queue popularised by Rust's
 * crossbeam (SegQueue).
 *
 * Positions.  head and tail are indices shifted left by SHIFT; the low bit
 * of head is HAS_NEXT ("the head segment is known to have a successor", so
 * a consumer need not read tail).  Position p lies in segment p / LAP at
 * offset p % LAP.  LAP = SEG_CAP + 1: offset SEG_CAP is never a slot; an
 * index parked there means "the thread that took the last slot is moving
 * the index to the next segment; wait".
 *
 * Producer: claims offset o of the tail segment with a CAS on tail.index.
 * If o is the last slot it allocated the next segment *before* the CAS (so
 * a claimed slot never fails for memory), and after the CAS links it and
 * moves tail to the next segment's first slot.  Then it writes the item and
 * sets WRITTEN on the slot (release).
 * Consumer: claims offset o of the head segment with a CAS on head.index,
 * after checking (without HAS_NEXT) that head != tail.  If o is the last
 * slot it moves head to the next segment.  It waits for WRITTEN (the
 * producer claimed the slot, so the item is imminent), reads the item.
 *
 * Reclamation.  A segment is freed once every slot was read.  The consumer
 * of the last slot starts: it walks the slots; a slot not yet READ gets
 * DESTROY, and that slot's consumer, on setting READ, sees DESTROY and goes
 * on with the walk from the next slot.  Exactly one thread frees each
 * segment, after all of its readers finished with it.
 *
 * One freed segment is kept in `spare` and reused by the next allocation,
 * so a queue that stays short allocates nothing in its steady state.
 *
 * Close.  Bit 0 of tail.index (CLOSED; head uses that bit for HAS_NEXT)
 * refuses later puts: a producer's CAS on tail.index either lands before
 * the fetch_or that sets it or fails and sees it, and the producer moving
 * tail past a segment's end adds to tail.index (fetch_add) instead of
 * storing it, to keep the bit.  A consumer that finds head == tail with
 * CLOSED set answers -EPIPE: every put that will ever land was taken.
 *
 * Rejected: a lock around a list of arrays (every operation then moves
 * the lock's cache line between CPUs, as with the ring's rejected mutex);
 * a list node per item (an allocation per put).
 */
#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include "../internal/alloc.h"
#include "queue-internal.h"

#define SEG_CAP 63
#define LAP (SEG_CAP + 1)
#define SHIFT 1
#define HAS_NEXT 1ul /* in head.index */
#define CLOSED 1ul   /* in tail.index */

enum { WRITTEN = 1, READ = 2, DESTROY = 4 };

typedef struct seg_slot {
    void *item;             /* written by its producer before WRITTEN */
    _Atomic uint32_t state; /* WRITTEN | READ | DESTROY */
} seg_slot;

typedef struct segment {
    _Atomic(struct segment *) next; /* set once, release; read acquire */
    seg_slot slots[SEG_CAP];
} segment;

typedef struct position {
    _Atomic size_t index;
    _Atomic(segment *) seg;
} position;

typedef struct segq {
    alignas(64) position head;
    alignas(64) position tail;
    alignas(64) _Atomic(segment *) spare; /* one segment kept for reuse */
} segq;

static segment *seg_alloc(segq *q) {
    segment *s = atomic_exchange_explicit(&q->spare, NULL, memory_order_acquire);
    if (!s)
        s = pc__malloc(sizeof *s);
    if (s)
        memset(s, 0, sizeof *s);
    return s;
}

static void seg_release(segq *q, segment *s) {
    /* acq_rel: release publishes `s` to seg_alloc()'s acquire exchange;
     * acquire makes the previous owner's last writes to `old` happen
     * before we free it (it was released by another seg_release()). */
    segment *old = atomic_exchange_explicit(&q->spare, s, memory_order_acq_rel);
    pc__free(old);
}

int pc__segment_new(void **store) {
    segq *q = pc__calloc_aligned(sizeof *q, alignof(segq));
    if (!q)
        return -ENOMEM;
    segment *s = seg_alloc(q);
    if (!s) {
        pc__free_aligned(q);
        return -ENOMEM;
    }
    atomic_init(&q->head.seg, s);
    atomic_init(&q->tail.seg, s);
    *store = q;
    return 0;
}

static int seg_try_put(void *store, void *item) {
    segq *q = store;
    segment *next = NULL;
    unsigned spins = 0;
    size_t tail = atomic_load_explicit(&q->tail.index, memory_order_acquire);
    segment *s = atomic_load_explicit(&q->tail.seg, memory_order_acquire);
    for (;;) {
        if (tail & CLOSED) {
            if (next)
                seg_release(q, next);
            return -EPIPE;
        }
        size_t off = (tail >> SHIFT) % LAP;
        if (off == SEG_CAP) { /* another producer is moving to the next segment */
            pc__queue_backoff(&spins);
            tail = atomic_load_explicit(&q->tail.index, memory_order_acquire);
            s = atomic_load_explicit(&q->tail.seg, memory_order_acquire);
            continue;
        }
        if (off + 1 == SEG_CAP && !next && !(next = seg_alloc(q)))
            return -ENOMEM;
        size_t new_tail = tail + (1 << SHIFT);
        /* seq_cst: ordered with the consumers' emptiness check (fence + load of tail) */
        if (atomic_compare_exchange_weak_explicit(&q->tail.index, &tail, new_tail,
                                                  memory_order_seq_cst, memory_order_acquire)) {
            if (off + 1 == SEG_CAP) {
                /* release; pairs with the acquire loads of tail.seg / next */
                atomic_store_explicit(&q->tail.seg, next, memory_order_release);
                /* an add, not a store: a close may have set CLOSED since */
                atomic_fetch_add_explicit(&q->tail.index, 1 << SHIFT, memory_order_release);
                atomic_store_explicit(&s->next, next, memory_order_release);
                next = NULL;
            }
            seg_slot *sl = &s->slots[off];
            sl->item = item;
            /* release; pairs with the acquire load in seg_try_get() */
            atomic_fetch_or_explicit(&sl->state, WRITTEN, memory_order_release);
            if (next)
                seg_release(q, next);
            return 0;
        }
        s = atomic_load_explicit(&q->tail.seg, memory_order_acquire);
    }
}

/* Free `s` once slots [from, SEG_CAP-1) are read; hand over if one is not. */
static void seg_destroy(segq *q, segment *s, size_t from) {
    for (size_t i = from; i < SEG_CAP - 1; i++) {
        seg_slot *sl = &s->slots[i];
        /* acq_rel; pairs with the READ fetch_or in seg_try_get() */
        if (!(atomic_load_explicit(&sl->state, memory_order_acquire) & READ) &&
            !(atomic_fetch_or_explicit(&sl->state, DESTROY, memory_order_acq_rel) & READ))
            return; /* that slot's reader will continue from i + 1 */
    }
    seg_release(q, s);
}

static int seg_try_get(void *store, void **item) {
    segq *q = store;
    unsigned spins = 0;
    size_t head = atomic_load_explicit(&q->head.index, memory_order_acquire);
    segment *s = atomic_load_explicit(&q->head.seg, memory_order_acquire);
    for (;;) {
        size_t off = (head >> SHIFT) % LAP;
        if (off == SEG_CAP) { /* another consumer is moving to the next segment */
            pc__queue_backoff(&spins);
            head = atomic_load_explicit(&q->head.index, memory_order_acquire);
            s = atomic_load_explicit(&q->head.seg, memory_order_acquire);
            continue;
        }
        size_t new_head = head + (1 << SHIFT);
        if (!(new_head & HAS_NEXT)) {
            atomic_thread_fence(memory_order_seq_cst);
            size_t tail = atomic_load_explicit(&q->tail.index, memory_order_relaxed);
            if ((head >> SHIFT) == (tail >> SHIFT))
                return tail & CLOSED ? -EPIPE : -EAGAIN;
            if ((head >> SHIFT) / LAP != (tail >> SHIFT) / LAP)
                new_head |= HAS_NEXT;
        }
        if (atomic_compare_exchange_weak_explicit(&q->head.index, &head, new_head,
                                                  memory_order_seq_cst, memory_order_acquire)) {
            if (off + 1 == SEG_CAP) {
                segment *next;
                while (!(next = atomic_load_explicit(&s->next, memory_order_acquire)))
                    pc__queue_backoff(&spins);
                size_t next_index = (new_head & ~HAS_NEXT) + (1 << SHIFT);
                if (atomic_load_explicit(&next->next, memory_order_relaxed))
                    next_index |= HAS_NEXT;
                atomic_store_explicit(&q->head.seg, next, memory_order_release);
                atomic_store_explicit(&q->head.index, next_index, memory_order_release);
            }
            seg_slot *sl = &s->slots[off];
            /* acquire; pairs with the WRITTEN release in seg_try_put() */
            while (!(atomic_load_explicit(&sl->state, memory_order_acquire) & WRITTEN))
                pc__queue_backoff(&spins);
            *item = sl->item;
            if (off + 1 == SEG_CAP)
                seg_destroy(q, s, 0);
            else if (atomic_fetch_or_explicit(&sl->state, READ, memory_order_acq_rel) & DESTROY)
                seg_destroy(q, s, off + 1);
            return 0;
        }
        s = atomic_load_explicit(&q->head.seg, memory_order_acquire);
    }
}

/* Real slots before position index p (offset SEG_CAP holds none). */
static size_t slots_before(size_t index) {
    size_t p = index >> SHIFT;
    size_t off = p % LAP;
    return (p / LAP) * SEG_CAP + (off < SEG_CAP ? off : SEG_CAP);
}

/* A snapshot: tail read on both sides of head, retried a few times for a
 * consistent pair; under a storm of puts the last (approximate) pair
 * serves, as qsize promises no more. */
static long seg_size(const void *store) {
    segq *q = (segq *)store;
    size_t tail, head;
    int tries = 0;
    do {
        tail = atomic_load_explicit(&q->tail.index, memory_order_seq_cst);
        head = atomic_load_explicit(&q->head.index, memory_order_seq_cst);
    } while (atomic_load_explicit(&q->tail.index, memory_order_seq_cst) != tail && ++tries < 8);
    size_t t = slots_before(tail), h = slots_before(head);
    return t > h ? (long)(t - h) : 0;
}

static unsigned long seg_puts(const void *store) {
    return slots_before(atomic_load_explicit(&((segq *)store)->tail.index, memory_order_relaxed));
}

static void seg_close(void *store) {
    /* Ordered for parked waiters by the fence of wake_all() that follows
     * in pc_queue_shutdown(); for puts by the CAS on the same word. */
    atomic_fetch_or_explicit(&((segq *)store)->tail.index, CLOSED, memory_order_seq_cst);
}

static void seg_free_all(void *store) {
    segq *q = store;
    segment *s = atomic_load_explicit(&q->head.seg, memory_order_relaxed);
    while (s) {
        segment *next = atomic_load_explicit(&s->next, memory_order_relaxed);
        pc__free(s);
        s = next;
    }
    pc__free(atomic_load_explicit(&q->spare, memory_order_relaxed));
    pc__free_aligned(q);
}

const pc__queue_ops pc__segment_ops = {.try_put = seg_try_put,
                                       .try_get = seg_try_get,
                                       .close = seg_close,
                                       .size = seg_size,
                                       .puts = seg_puts,
                                       .destroy = seg_free_all};
