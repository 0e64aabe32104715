/*
 * The queue module's insides.  pc_queue (queue.c) is one blocking and
 * bookkeeping layer over one of four storages, each a small set of
 * non-blocking operations:
 *
 *   ring.c      bounded FIFO (Queue with 0 < maxsize <= PC__RING_MAX): a
 *               lock-free array ring, one sequence number per slot
 *   segment.c   unbounded FIFO (Queue, SimpleQueue, big maxsize): a
 *               lock-free list of fixed arrays
 *   lifo.c      LifoQueue: an array stack under a guard
 *   priority.c  PriorityQueue: a binary heap under a guard
 *
 * Storages other than the ring are unbounded; queue.c bounds them with an
 * admission counter.
 *
 * Two promises every storage keeps, which the blocking layer relies on:
 *  - try_get never answers "empty" while a put that has claimed its place
 *    (and so will land) is unfinished, and try_put never answers "full"
 *    while a get that claimed an item is: they wait for that step, a few
 *    instructions away.  An answer "empty" that a later-landing item
 *    contradicts would let a woken getter park again on a wake-up meant
 *    for that item; see ring.c.
 *  - close() orders every put against the shutdown in the storage itself:
 *    a put either claimed its place before close() (and getters drain its
 *    item) or fails with -EPIPE, and try_get answers -EPIPE ("closed and
 *    drained") from one look at the storage.  See queue.c's note.
 */
#ifndef PC_QUEUE_INTERNAL_H
#define PC_QUEUE_INTERNAL_H

#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>

#include "../internal/waiter.h"
#include "../platform/futex.h"
#include "pyconc/queue.h"

/* The largest maxsize kept in a ring (its slots are allocated up front). */
#define PC__RING_MAX (1L << 16)

typedef struct pc__queue_ops {
    /* Store an item.  0, -EAGAIN when full (ring only), -ENOMEM, -EPIPE
     * after close(); on failure nothing changed. */
    int (*try_put)(void *store, void *item);
    /* Take the next item.  0, -EAGAIN when empty, -EPIPE when empty and
     * closed. */
    int (*try_get)(void *store, void **item);
    /* Refuse every later put.  Idempotent. */
    void (*close)(void *store);
    /* Items inside now (approximate while others work). */
    long (*size)(const void *store);
    /* Items ever stored: what task_done is checked against. */
    unsigned long (*puts)(const void *store);
    /* Free the storage; the items left inside are the caller's business
     * (queue.c drains them first). */
    void (*destroy)(void *store);
} pc__queue_ops;

extern const pc__queue_ops pc__ring_ops, pc__segment_ops, pc__lifo_ops, pc__priority_ops;

/* For tests only: when set, called by a caller that is about to register
 * as a waiter (its attempt failed), before it does; lets a test act in
 * that window (test-queue-parked.c).  Read on the blocking path only. */
extern void (*pc__queue_register_hook)(void);

/* Wait a moment for another thread to finish a step it has committed to
 * (the promises above): spin, then yield the processor. */
static inline void pc__queue_backoff(unsigned *n) {
    if (++*n < 64)
        pc__cpu_relax();
    else
        sched_yield();
}

/* Constructors: 0 or -ENOMEM. */
int pc__ring_new(void **store, long capacity);
int pc__segment_new(void **store);
int pc__lifo_new(void **store);
int pc__priority_new(void **store, pc_queue_cmp_fn cmp, void *arg);

#endif
