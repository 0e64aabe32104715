/*
 * The pool's insides, shared by pool.c (the pool, its workers, apply)
 * and map.c (map, imap, imap_unordered).
 *
 * Lock order: a pool's guard and a worker slot's guard are leaves, never
 * held together: nothing is called under them but counters and pointer
 * updates (no future call, no queue call, no callback).  The process
 * pool's own locks (procpool.c: a worker's rmu, then the pool's mu) are
 * never held with these.
 */
#ifndef PC_POOL_INTERNAL_H
#define PC_POOL_INTERNAL_H

#include <stdatomic.h>

#include "../internal/guard.h"
#include "pyconc/pool.h"
#include "pyconc/queue.h"
#include "pyconc/sync.h"

/* One queue item: a chunk of tasks of one function, with copies of their
 * arguments and a reference to each task's future.  A job of one task
 * lives in its future's own allocation (`embedded`): its reference on
 * that future keeps its memory, and dropping it is the job's free. */
typedef struct pc__job {
    _Atomic int refs; /* the holder's (queue, then worker) + a terminating thread's */
    pc_task_fn fn;    /* fixed */
    bool embedded;    /* fixed: in futs[0]'s allocation */
    size_t count;     /* fixed */
    pc_future **futs; /* fixed: count futures, one reference each */
    size_t *offs;     /* fixed: count + 1 offsets into data */
    unsigned char *data;
} pc__job;

/* A worker's slot: the job it runs, seen by pc_pool_terminate.  One cache
 * line each: the worker locks its slot twice per job, and slots sharing a
 * line made the workers' locks bounce between cores. */
typedef struct pc__slot {
    _Alignas(64) pc__guard guard; /* a leaf, taken by its worker and by terminate only */
    pc__job *current;             /* guarded by guard */
} pc__slot;

struct pc_pool {
    _Atomic long refs; /* the user's, each worker's, each live iterator's */
    pc__guard guard;
    pc_queue *q;     /* fixed: pc__job pointers */
    pc_event *ended; /* fixed: set once closed/terminated and no worker is left */
    int workers;     /* fixed */
    long maxtasks;   /* fixed */
    size_t max_result;
    pc_pool_init_fn init; /* fixed */
    void *initargs;       /* fixed, owned */
    size_t initargs_len;
    pc__slot *slots;         /* fixed array of `workers` */
    int alive;               /* guarded by guard */
    int open_iters;          /* guarded by guard: iterators still submitting */
    _Atomic bool closed;     /* written under guard; read anywhere */
    bool queue_shut;         /* guarded by guard */
    _Atomic bool terminated; /* written under guard; read anywhere */
    unsigned long started;   /* guarded by guard: names the threads */
    struct pc__ppool *pp;    /* fixed: the process pool's side (procpool.c); NULL for threads */
};

/* pc_task_result: on the worker's stack during one task (a thread or a
 * process worker). */
enum { PC__INLINE_RESULT = 64 };
struct pc_task_result {
    size_t max;  /* the pool's max_result, 0 unlimited */
    void *bytes; /* inline or heap (owned) */
    size_t len;
    bool heap;
    bool failed; /* pc_task_fail was called, or pc_task_return failed */
    int code;
    char *message; /* owned */
    unsigned char inline_[PC__INLINE_RESULT];
};
/* Free what a task left in r (bytes and message). */
void pc__task_result_clear(pc_task_result *r);
/* A worker is gone (for the process pool: its supervisor): counts it out
 * of `alive`, sets `ended` when it was the last after close or terminate,
 * and drops its pool reference. */
void pc__pool_worker_gone(pc_pool *p);

/* A job for `k` items given as (ptr, len) pairs: copies of the bytes and a
 * new future each, stored in futs[] (the caller's reference; the job holds
 * its own).  0, -ENOMEM. */
int pc__job_new(pc__job **j, pc_task_fn fn, const pc_pool_item *items, size_t k, pc_future **futs);
void pc__job_release(pc__job *j);
/* Queue a job.  `iter`: on behalf of an iterator, which may go on after a
 * close.  0; -EPIPE (closed, terminated); -ENOMEM.  On failure the job is
 * still the caller's: pc__job_drop cancels its futures and releases it. */
int pc__pool_put(pc_pool *p, pc__job *j, bool iter);
void pc__job_drop(pc__job *j);
/* Register / unregister an iterator that will still submit.  0, -EPIPE. */
int pc__pool_iter_open(pc_pool *p);
void pc__pool_iter_close(pc_pool *p);
void pc__pool_release(pc_pool *p);
/* 0 while submissions are accepted; -EPIPE once closed or terminated. */
int pc__pool_usable(pc_pool *p);
void pc__pool_retain(pc_pool *p);
/* Python's default chunksize for n items. */
size_t pc__pool_chunksize(const pc_pool *p, size_t n);

#endif
