/*
 * pyconc/mpqueue.h - multiprocessing.Queue, JoinableQueue and SimpleQueue:
 * queues of byte messages between processes.
 *
 *   Python                                   pyconc
 *   q = multiprocessing.Queue(10)            pc_mpqueue_new(&q, &(pc_mpqueue_opts){.maxsize = 10})
 *   JoinableQueue() / SimpleQueue()          .kind = PC_MPQUEUE_JOINABLE / PC_MPQUEUE_SIMPLE
 *   Process(target=f, args=(q,))             pc_mpqueue_ref(q, &ref); pass the ref as the argument;
 *                                            in f: pc_mpqueue_from_ref(ref, &q)
 *   q.put(obj, True, 5)                      pc_mpqueue_put(q, buf, len, 5.0)
 *   q.put_nowait(obj)                        pc_mpqueue_put(q, buf, len, 0)     (-EAGAIN: Full)
 *   q.get(True, 10)                          pc_mpqueue_get(q, buf, cap, &len, 10.0)
 *                                            (-ETIMEDOUT: Empty after the timeout)
 *   q.get_nowait()                           pc_mpqueue_get(q, buf, cap, &len, 0) (-EAGAIN)
 *   q.qsize() / empty() / full()             pc_mpqueue_qsize / _empty / _full
 *   q.task_done() / q.join()                 pc_mpqueue_task_done / pc_mpqueue_join
 *   q.close()                                pc_mpqueue_close   (see below: closes it for all)
 *   (the queue is garbage-collected)         pc_mpqueue_free
 *
 * Messages are byte buffers, copied in at put and out at get; their
 * boundaries are kept and a zero-length message is a message.  Pickling is
 * the program's business (a struct copied as bytes is the usual way).
 *
 * Where a queue lives.  The queue, its ring of messages included, is one
 * block of the shared heap (shared.h): made in one process, it is used by
 * every process of the tree under every start method.  A pointer to it is
 * valid only in the process that got it, so another process is given the
 * queue's reference (pc_mpqueue_ref, 16 plain bytes: a process argument, a
 * field of a class process, a pipe message, a message of another queue)
 * and turns it into its own pointer with pc_mpqueue_from_ref.  A fork
 * child may also use the parent's pointer as it is.
 *
 * Guarantees.  A put that returned 0 has its message in shared memory
 * already: nothing is left in the putting process (no feeder thread, no
 * buffer), so the message is never lost when the putter exits or is
 * killed right after (Python's Queue can drop it: its feeder thread dies
 * with the process).  No call starts a thread or uses a file descriptor.
 * A process killed inside any call leaves the queue usable: a putter
 * killed while copying a message publishes nothing of it; a getter killed
 * while copying one out leaves it in the queue; a process killed while
 * blocked, or holding one of the queue's locks, is noticed by the next
 * caller, who goes on (docs/mpqueue.md details each point).
 *
 * Size.  A queue holds at most `maxsize` messages (0: no limit but room)
 * and at most `capacity` bytes of records: a record is a message plus 8
 * bytes, rounded up to 8.  A message bigger than the capacity minus 8
 * can never fit: its put fails at once with -EMSGSIZE.
 *
 * Return codes of the blocking calls: 0; -EAGAIN when the timeout is 0 and
 * the call would block (Python's Empty/Full from a non-blocking call);
 * -ETIMEDOUT when a positive timeout passed; -EPIPE once the queue is
 * closed (a get still drains what is left); -ECANCELED when the calling
 * coroutine was killed or timed out by a scope (nothing happened);
 * -EINVAL for a NULL queue or out pointer, a NaN timeout.  A signal
 * delivered to a waiting thread does not end the wait (no -EINTR).
 *
 * All calls are thread-safe, process-safe and coroutine-safe: a coroutine
 * that waits parks only itself; its thread runs its other coroutines.
 * None is async-signal-safe.  Across fork() the child shares the queue.
 */
#ifndef PYCONC_MPQUEUE_H
#define PYCONC_MPQUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "base.h"
#include "shared.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pc_mpqueue pc_mpqueue;

typedef enum pc_mpqueue_kind {
    PC_MPQUEUE_QUEUE = 0, /* multiprocessing.Queue */
    PC_MPQUEUE_JOINABLE,  /* multiprocessing.JoinableQueue: task_done/join */
    PC_MPQUEUE_SIMPLE,    /* multiprocessing.SimpleQueue: no maxsize */
} pc_mpqueue_kind;

/* The ring's size when opts->capacity is 0: 1 MiB. */
#define PC_MPQUEUE_DEFAULT_CAPACITY ((size_t)1 << 20)

typedef struct pc_mpqueue_opts {
    pc_mpqueue_kind kind;
    long maxsize;    /* most messages held; 0 or negative: no limit (SIMPLE ignores it) */
    size_t capacity; /* the ring's bytes, rounded up to a power of two, at least 4 KiB;
                        0: PC_MPQUEUE_DEFAULT_CAPACITY */
    /* more fields may be added */
} pc_mpqueue_opts;

/*
 * Make a queue in the shared heap; opts NULL is an unbounded Queue with
 * the default capacity.  0; -EINVAL (q NULL, unknown kind, capacity over
 * 1 GiB); -ENOMEM (the shared heap is full or could not be made).
 * Thread-safe.
 */
PC_EXTERN int pc_mpqueue_new(pc_mpqueue **q, const pc_mpqueue_opts *opts);

/*
 * Free the queue and the messages left in it, from any process of the
 * tree.  Every process must have stopped using it (join its processes
 * first).  0; -EINVAL (NULL, or not a live queue: a double free is caught
 * while the block has not been reused).
 */
PC_EXTERN int pc_mpqueue_free(pc_mpqueue *q);

/* The queue's reference, to give to another process.  0; -EINVAL. */
PC_EXTERN int pc_mpqueue_ref(const pc_mpqueue *q, pc_shared_ref *out);

/*
 * The queue `ref` refers to, as a pointer valid in the calling process
 * (which maps the shared heap on first use in a spawn or forkserver
 * child).  0; -EINVAL (q NULL, the zero reference, a freed queue, a block
 * that is not a queue); -ENXIO (a heap this process does not share);
 * -ENOMEM (the mapping failed).
 */
PC_EXTERN int pc_mpqueue_from_ref(pc_shared_ref ref, pc_mpqueue **q);

/*
 * Put a copy of buf[0..len) at the tail, waiting up to `timeout` seconds
 * for room (maxsize messages, or not enough bytes in the ring).  0: the
 * message is in the queue.  -EAGAIN (timeout 0, full); -ETIMEDOUT;
 * -EPIPE (closed); -EMSGSIZE (len > capacity - 8: it can never fit);
 * -ECANCELED; -EINVAL (NULL q, NULL buf with len > 0, NaN timeout).
 * On any error nothing was put.
 */
PC_EXTERN int pc_mpqueue_put(pc_mpqueue *q, const void *buf, size_t len, double timeout);

/*
 * Take the message at the head into buf (cap bytes), waiting up to
 * `timeout` seconds for one.  0 and *len = its size.  -EMSGSIZE: it is
 * bigger than cap; *len = its size and the message stays at the head (buf
 * NULL with cap 0 asks for the size).  -EAGAIN (timeout 0, empty);
 * -ETIMEDOUT; -EPIPE (closed and empty); -ECANCELED; -EINVAL (NULL q or
 * len, NULL buf with cap > 0, NaN timeout).
 */
PC_EXTERN int pc_mpqueue_get(pc_mpqueue *q, void *buf, size_t cap, size_t *len, double timeout);

/*
 * Take the message at the head into a buffer the call allocates (never
 * NULL, even for a zero-length message); free it with pc_mpqueue_buf_free.
 * The errors of pc_mpqueue_get but -EMSGSIZE; -ENOMEM when the buffer
 * cannot be had (the message stays).
 */
PC_EXTERN int pc_mpqueue_get_alloc(pc_mpqueue *q, void **buf, size_t *len, double timeout);
/* Free a buffer of pc_mpqueue_get_alloc (NULL is a no-op). */
PC_EXTERN void pc_mpqueue_buf_free(void *buf);

/* Messages in the queue: approximate, as in Python (others put and get
 * meanwhile).  -EINVAL for NULL. */
PC_EXTERN long pc_mpqueue_qsize(const pc_mpqueue *q);
/* Whether it held no message when looked at (true for NULL). */
PC_EXTERN bool pc_mpqueue_empty(const pc_mpqueue *q);
/* Whether it held maxsize messages when looked at (never for an
 * unbounded queue; false for NULL).  A put may still wait for bytes. */
PC_EXTERN bool pc_mpqueue_full(const pc_mpqueue *q);
/* maxsize as given (0: none); the ring's capacity in bytes. */
PC_EXTERN long pc_mpqueue_maxsize(const pc_mpqueue *q);
PC_EXTERN size_t pc_mpqueue_capacity(const pc_mpqueue *q);

/*
 * Close the queue, for every process: later puts return -EPIPE, gets take
 * what is left and then return -EPIPE, and every waiter wakes.  (Python's
 * close() only stops the calling process's feeder thread; pyconc has none,
 * so its close is the queue's end of stream.)  0 (also when already
 * closed); -EINVAL.  Never frees.
 */
PC_EXTERN int pc_mpqueue_close(pc_mpqueue *q);
PC_EXTERN bool pc_mpqueue_is_closed(const pc_mpqueue *q);

/*
 * JoinableQueue: mark one task, a message got earlier by any process,
 * done.  0; -EOVERFLOW (more task_done calls than messages ever put:
 * Python's ValueError); -ENOTSUP (not a JOINABLE queue); -EINVAL.
 */
PC_EXTERN int pc_mpqueue_task_done(pc_mpqueue *q);

/*
 * JoinableQueue: wait until every message ever put has been marked done,
 * by whichever processes.  0 (at once when nothing is outstanding);
 * -EAGAIN (timeout 0, tasks outstanding); -ETIMEDOUT; -ECANCELED;
 * -ENOTSUP (not JOINABLE); -EINVAL.
 */
PC_EXTERN int pc_mpqueue_join(pc_mpqueue *q, double timeout);

#ifdef __cplusplus
}
#endif

#endif
