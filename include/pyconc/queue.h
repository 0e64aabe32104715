/*
 * pyconc/queue.h - the queue module: thread-safe queues of pointers.
 *
 *   Python                          pyconc
 *   queue.Queue(10)                 pc_queue_new(&q, &(pc_queue_opts){.maxsize = 10})
 *   queue.LifoQueue()               pc_queue_new(&q, &(pc_queue_opts){.kind = PC_QUEUE_LIFO})
 *   queue.PriorityQueue()           pc_queue_new(&q, &(pc_queue_opts){.kind = PC_QUEUE_PRIORITY,
 *                                                                     .cmp = f})
 *   queue.SimpleQueue()             pc_queue_new(&q, &(pc_queue_opts){.kind = PC_QUEUE_SIMPLE})
 *   q.put(x, timeout=5)             pc_queue_put(q, x, 5.0)
 *   q.get(timeout=10)               pc_queue_get(q, &item, 10.0)
 *   q.put_nowait(x) / get_nowait()  pc_queue_put_nowait / pc_queue_get_nowait (-EAGAIN)
 *   q.qsize() / empty() / full()    pc_queue_qsize / pc_queue_empty / pc_queue_full
 *   q.task_done() / q.join()        pc_queue_task_done / pc_queue_join
 *   q.shutdown(immediate)           pc_queue_shutdown
 *
 * Items are pointers (NULL is a valid item); the queue never looks at what
 * they point to.  Who owns an item is up to the program: usually the getter.
 *
 * Return codes of the blocking calls: 0; -EAGAIN from a _nowait form that
 * would block; -ETIMEDOUT when the timeout passed (a timeout of 0 included);
 * -EPIPE once the queue is shut down (a get still drains what is left
 * unless the shutdown was immediate); -ENOMEM from a put that needed
 * memory (unbounded FIFO, LIFO and PRIORITY storage grows), the queue
 * then unchanged; -EINVAL for a NULL queue or out pointer or a NaN timeout.
 *
 * All calls are thread-safe and coroutine-safe (a coroutine parks in its
 * loop instead of blocking its thread).  Across fork(): a queue is copied
 * as it is; use it in the child only if no other thread touched it at the
 * moment of the fork.
 */
#ifndef PYCONC_QUEUE_H
#define PYCONC_QUEUE_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pc_queue pc_queue;

typedef enum pc_queue_kind {
    PC_QUEUE_FIFO = 0, /* queue.Queue */
    PC_QUEUE_LIFO,     /* queue.LifoQueue */
    PC_QUEUE_PRIORITY, /* queue.PriorityQueue: smallest first, FIFO among equals */
    PC_QUEUE_SIMPLE,   /* queue.SimpleQueue: unbounded FIFO, no task tracking */
} pc_queue_kind;

/* Orders a priority queue: negative when a comes before b. */
typedef int (*pc_queue_cmp_fn)(const void *a, const void *b, void *arg);
/* Receives the items a queue drops: those left at pc_queue_free and those
 * an immediate shutdown removes. */
typedef void (*pc_queue_discard_fn)(void *item, void *arg);

typedef struct pc_queue_opts {
    pc_queue_kind kind;
    long maxsize;        /* 0 or negative: unbounded (as Python); SIMPLE ignores it */
    pc_queue_cmp_fn cmp; /* required for PRIORITY */
    void *cmp_arg;
    pc_queue_discard_fn discard; /* NULL: dropped items are the program's to track */
    void *discard_arg;
    /* more fields may be added */
} pc_queue_opts;

/* Make a queue; opts NULL is an unbounded FIFO.  0, -EINVAL (unknown kind,
 * PRIORITY without cmp), -ENOMEM. */
PC_EXTERN int pc_queue_new(pc_queue **q, const pc_queue_opts *opts);
/* Free a queue nobody is blocked on (one with blocked callers is a
 * programmer error that aborts with a message); items still inside go to
 * the discard callback.  free(NULL) is a no-op. */
PC_EXTERN void pc_queue_free(pc_queue *q);

/* Put `item`, waiting up to `timeout` for room in a full bounded queue. */
PC_EXTERN int pc_queue_put(pc_queue *q, void *item, double timeout);
PC_EXTERN int pc_queue_put_nowait(pc_queue *q, void *item);
/* Take the next item into *item, waiting up to `timeout` for one. */
PC_EXTERN int pc_queue_get(pc_queue *q, void **item, double timeout);
PC_EXTERN int pc_queue_get_nowait(pc_queue *q, void **item);

/* Approximate size (exact when nobody else touches the queue); -EINVAL. */
PC_EXTERN long pc_queue_qsize(const pc_queue *q);
PC_EXTERN bool pc_queue_empty(const pc_queue *q);
/* Bounded and at maxsize.  Always false for an unbounded queue. */
PC_EXTERN bool pc_queue_full(const pc_queue *q);
PC_EXTERN long pc_queue_maxsize(const pc_queue *q);

/*
 * Mark one item taken earlier as processed.  0; -EOVERFLOW when called
 * more times than items were put (Python: ValueError); -ENOTSUP on a
 * SIMPLE queue.
 */
PC_EXTERN int pc_queue_task_done(pc_queue *q);
/*
 * Wait until every item ever put has been marked done.  0 (at once when
 * nothing is outstanding, and again on later calls); -ETIMEDOUT;
 * -ENOTSUP on a SIMPLE queue.
 */
PC_EXTERN int pc_queue_join(pc_queue *q, double timeout);
/*
 * Python 3.13's shutdown.  Afterwards every put fails with -EPIPE, and
 * blocked putters wake with -EPIPE.  Not immediate: getters drain the
 * remaining items, then get -EPIPE.  Immediate: the remaining items are
 * removed (each to the discard callback), counted as done for join, and
 * every blocked getter wakes with -EPIPE.  Calling it again is harmless
 * (an immediate call after a plain one drains what is left).  A put that
 * races with it either fails with -EPIPE or is ordered before it (its item
 * is then drained like the others).  0, -EINVAL.
 */
PC_EXTERN int pc_queue_shutdown(pc_queue *q, bool immediate);
PC_EXTERN bool pc_queue_is_shutdown(const pc_queue *q);

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_QUEUE_H */
