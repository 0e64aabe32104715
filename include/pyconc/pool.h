/*
 * pyconc/pool.h - multiprocessing.Pool, ThreadPool and the executors of
 * concurrent.futures: a fixed set of workers running tasks.
 *
 *   Python                                     pyconc
 *   ThreadPool(4, init, (a,), maxtasksperchild) pc_pool_new(&p, &(pc_pool_opts){.workers = 4,
 *                                                 .initializer = init, .initargs = &a, ...})
 *   Pool(4) (processes)                        .kind = PC_POOL_PROCESSES, .workers = 4
 *   get_context('spawn').Pool()                .method = PC_START_SPAWN
 *   with Pool() as p: body(p)                  pc_pool_with(&opts, body, arg)
 *   p.apply(f, (a,))                           pc_pool_apply(p, f, &a, sizeof a, buf, cap, &len, t)
 *   p.apply_async(f, (a,), cb, err_cb)         pc_pool_apply_async(p, f, &a, sizeof a, &cbs, &fut)
 *   executor.submit(f, a)                      pc_pool_apply_async(p, f, &a, sizeof a, NULL, &fut)
 *   p.map(f, xs, chunksize)                    pc_pool_map(p, f, PC_POOL_ARRAY(xs, n), 0, &m, t)
 *   p.map_async(f, xs)                         pc_pool_map_async(p, f, in, 0, &m)
 *   p.starmap(f, [(a, b), ...])                pc_pool_map over an array of structs {a; b;}
 *   p.imap(f, xs) / imap_unordered(f, xs)      pc_pool_imap(p, f, in, 0, 0, &it) /
 *                                              pc_pool_imap_unordered(...); pc_pool_iter_next
 *   p.close() / p.terminate() / p.join()       pc_pool_close / pc_pool_terminate / pc_pool_join
 *
 * Tasks are functions of bytes to bytes.  A task gets its argument as a
 * byte buffer (copied at submission) and gives its result with
 * pc_task_return (copied) or its error with pc_task_fail (a negative code
 * and a message).  Bytes, because a process pool sends them to other
 * processes (ARCHITECTURE.md, decision 4); the same task runs on both
 * kinds of pool.  A task function is passed as a pointer; a process pool
 * names it so it survives exec (docs/process.md), so any function of the
 * program or its libraries works, static ones included.
 *
 * Results arrive in futures (pyconc/future.h): a task's future finishes
 * with the result bytes, or with the task's code and message.  Threads
 * and coroutines wait on them alike; a coroutine parks only itself.
 *
 * Process pools (PC_POOL_PROCESSES): workers are pc_process children
 * started by opts.method (fork, spawn, forkserver); tasks and results
 * cross as bytes through shared memory.  A worker killed by a signal or
 * exiting while it runs a task fails that task alone with PC_EWORKERDIED
 * (base.h) and a message naming the worker's pid and the signal or exit
 * status ("worker pid 1234 killed by signal 9 (SIGKILL)"); tasks it had
 * been given but not begun run elsewhere; a replacement starts; nothing
 * hangs.  A task's changes to memory stay in its worker process.
 *
 * Return codes shared by the submitting calls: -EINVAL (NULL pool or
 * function, malformed input, NaN timeout); -EPIPE once the pool is closed
 * or terminated (ARCHITECTURE.md, decision 2: closed is -EPIPE);
 * -ENOMEM.  A task's own failure is its own code.
 *
 * Every call is thread-safe and coroutine-safe, except that a pool must
 * not be freed while another call uses it, and one iterator or map
 * handle serves one caller at a time.  Across fork(): the child of a fork
 * has none of the pool's worker threads; a pool is unusable there (do
 * not call into it, not even to free it).
 */
#ifndef PYCONC_POOL_H
#define PYCONC_POOL_H

#include "base.h"
#include "future.h"
#include "process.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pc_pool pc_pool;

/* ---- tasks ---------------------------------------------------------- */

/* Where a task puts its outcome.  Opaque; lives on the worker's stack. */
typedef struct pc_task_result pc_task_result;

/*
 * A task: `arg` / `len` are its argument bytes (valid during the call).
 * Return 0 for success (the result is what pc_task_return gave, or empty
 * bytes), or a negative code for failure.  A negative return without a
 * pc_task_fail call fails the task with that code and no message; a
 * pc_task_fail call fails it with its code and message whatever the
 * return value.  A positive return is a bug in the task: -EINVAL.
 */
typedef int (*pc_task_fn)(const void *arg, size_t len, pc_task_result *out);

/*
 * Set the task's result to a copy of `len` bytes at `bytes` (a later
 * call replaces an earlier one).  0; -EMSGSIZE when larger than the pool's
 * max_result (the task then fails with -EMSGSIZE); -ENOMEM (the task then
 * fails with -ENOMEM); -EINVAL.  Call only from inside the task.
 */
PC_EXTERN int pc_task_return(pc_task_result *out, const void *bytes, size_t len);
/*
 * Fail the task with `code` (negative; anything else counts as -EINVAL)
 * and a message formatted as printf does (NULL: none), Python's remote
 * traceback.  Returns `code`, so a task may `return pc_task_fail(out,
 * -EIO, "bad row %d", i);`.  Call only from inside the task.
 */
PC_EXTERN int pc_task_fail(pc_task_result *out, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- pools ---------------------------------------------------------- */

typedef enum pc_pool_kind {
    PC_POOL_THREADS = 0,   /* ThreadPool, ThreadPoolExecutor */
    PC_POOL_PROCESSES = 1, /* Pool, ProcessPoolExecutor: worker processes */
} pc_pool_kind;

/* Runs once in each worker (each replacement too) before its first
 * task, with the pool's copy of initargs. */
typedef void (*pc_pool_init_fn)(const void *arg, size_t len);

typedef struct pc_pool_opts {
    pc_pool_kind kind;
    int workers;                 /* 0: pc_cpu_count() */
    pc_start_method method;      /* processes only: how workers start; 0 the default */
    pc_pool_init_fn initializer; /* NULL: none */
    const void *initargs;        /* copied at pc_pool_new */
    size_t initargs_len;
    long maxtasksperchild; /* 0: unlimited; else a worker is replaced after this many
                              tasks (a chunk counts as one, as in Python) */
    size_t max_result;     /* largest result in bytes; 0: unlimited (processes: up to
                              what the shared heap holds) */
    /* more fields may be added */
} pc_pool_opts;

/*
 * Make a pool and start its workers.  opts NULL: a thread pool of
 * pc_cpu_count() workers.  A process pool starts its first worker here,
 * so a start method that cannot run is this call's error, and the others
 * in the background once there is work for them (Python's
 * ProcessPoolExecutor starts them on demand too): 0;
 * -EINVAL (negative workers or maxtasksperchild, unknown kind, an
 * initializer outside any loaded object for processes); -ENOMEM;
 * -EAGAIN (no thread could start); for processes also pc_process_start's
 * errors (-ENOEXEC, -ENOENT, -EMFILE...) and -EPERM from a daemon
 * process.  Thread-safe.  A process pool has a supervisor thread, and
 * under the fork method its workers are forked from a process with
 * threads: the caveats of docs/process.md apply.
 */
PC_EXTERN int pc_pool_new(pc_pool **p, const pc_pool_opts *opts);
/*
 * Python's close(): no more submissions (they get -EPIPE); the tasks
 * queued so far still run, then the workers end.  Never waits.  0 (also
 * when closed or terminated before); -EINVAL.
 */
PC_EXTERN int pc_pool_close(pc_pool *p);
/*
 * Python's terminate(), returning at once: no more submissions; tasks
 * not started are cancelled (their futures CANCELLED, -ECANCELED); a task
 * already running cannot be stopped on a thread, so its future is failed
 * at once with -ECANCELED and the message "pool terminated", and its
 * result is dropped when the task returns.  So everything waiting on the
 * pool (map, imap, apply, futures) wakes at once.  Thread workers end as
 * their running task returns; process workers are killed (SIGTERM, then
 * SIGKILL after 100 ms), and their tasks' futures fail as above.
 * pc_pool_join waits for them.  0; -EINVAL.
 */
PC_EXTERN int pc_pool_terminate(pc_pool *p);
/*
 * Wait up to `timeout` for every worker to end (after close: once every
 * queued task ran; after terminate: once the running ones returned, or
 * for processes, once they were killed).
 * 0; -ETIMEDOUT; -EINVAL when the pool is neither closed nor terminated
 * (Python's ValueError), or for a NaN timeout; -ECANCELED when the
 * waiting coroutine was killed.
 */
PC_EXTERN int pc_pool_join(pc_pool *p, double timeout);
/*
 * Free the pool: terminates it first unless it was closed; never waits.
 * Workers still running a task end on their own and then let go of the
 * pool's memory.  Futures, map handles and iterators given out stay valid
 * and are freed by their own calls.  NULL is harmless.
 */
PC_EXTERN void pc_pool_free(pc_pool *p);
/* The number of workers the pool keeps; -EINVAL. */
PC_EXTERN int pc_pool_workers(const pc_pool *p);

/*
 * `with Pool() as p:` - a scope that always ends the pool: make a pool
 * with `opts`, run body(pool, arg), then close it, join it (without
 * limit: every task submitted in the body runs) and free it.  Returns
 * body's return value, or pc_pool_new's error (body not run).  Unlike
 * Python's Pool.__exit__, which terminates, the scope lets the queued
 * work finish, as ThreadPoolExecutor's does: call pc_pool_terminate in
 * the body to drop it.
 */
PC_EXTERN int pc_pool_with(const pc_pool_opts *opts, int (*body)(pc_pool *p, void *arg), void *arg);

/* ---- one task ------------------------------------------------------- */

/*
 * apply_async's callbacks: `callback` when the task succeeded,
 * `error_callback` when it failed or was cancelled; exactly one of them
 * runs, once, on the thread that completes the future (a worker, or the
 * terminating thread; for a process pool, its supervisor thread or a
 * thread waiting in pc_pool_apply), or at once if it is done by the time
 * they are added.  They must not wait for the pool's workers (they may
 * submit).
 */
typedef struct pc_pool_callbacks {
    pc_future_done_fn callback;
    pc_future_done_fn error_callback;
    void *arg;
} pc_pool_callbacks;

/*
 * Submit fn on a copy of `len` bytes at `arg`; *f gets a new future (the
 * caller's reference: pc_future_release it) finishing with the result
 * bytes or the task's error.  cbs may be NULL.  0; -EPIPE (closed);
 * -EINVAL; -ENOMEM; a submission that fails runs no callback.  Never
 * waits.
 */
PC_EXTERN int pc_pool_apply_async(pc_pool *p, pc_task_fn fn, const void *arg, size_t len,
                                  const pc_pool_callbacks *cbs, pc_future **f);
/*
 * Run fn on a copy of `arg` and wait up to `timeout` for its result,
 * copied into `buf` (`cap` bytes; buf may be NULL when cap is 0).
 * *rlen (may be NULL) gets the result's full length.  0; -EMSGSIZE when
 * the result is longer than cap (nothing copied; *rlen says how much room
 * it needs); the task's own code when it failed, its message then copied
 * into buf as a C string (truncated to cap); -ETIMEDOUT (a task not
 * started is cancelled, a running one runs on and its result is
 * dropped); -ECANCELED (terminated, or the waiting coroutine killed);
 * PC_EWORKERDIED (process pools: the worker died in the task; its
 * message in buf);
 * -EPIPE; -EINVAL; -ENOMEM.
 */
PC_EXTERN int pc_pool_apply(pc_pool *p, pc_task_fn fn, const void *arg, size_t len, void *buf,
                            size_t cap, size_t *rlen, double timeout);

/* ---- many tasks ----------------------------------------------------- */

/* One argument of its own length. */
typedef struct pc_pool_item {
    const void *ptr;
    size_t len;
} pc_pool_item;

/*
 * The next argument, for input pulled one item at a time: set *ptr and
 * *len (the bytes must stay valid until the next call) and return 1;
 * return 0 at the end, or a negative code to stop with that error.
 * Called only by the thread calling into the map or iterator.
 */
typedef int (*pc_pool_next_fn)(void *arg, const void **ptr, size_t *len);

/*
 * The arguments of a map: exactly one of
 *   array + item_size + n   n items of item_size bytes each (starmap: an
 *                           array of structs, one struct per call);
 *   items + n               n items of their own lengths;
 *   next + next_arg         items pulled until next returns 0 (n ignored).
 * PC_POOL_ARRAY(xs, n) makes the first from an array.  n == 0 is an
 * empty input: every variant gives an empty result.
 */
typedef struct pc_pool_input {
    const void *array;
    size_t item_size;
    const pc_pool_item *items;
    pc_pool_next_fn next;
    void *next_arg;
    size_t n;
} pc_pool_input;

#define PC_POOL_ARRAY(xs, count)                                                                   \
    (&(pc_pool_input){.array = (xs), .item_size = sizeof *(xs), .n = (count)})

/* The results of a map, in input order (multiprocessing's MapResult). */
typedef struct pc_pool_map_result pc_pool_map_result;

/*
 * map_async: submit fn over every item (a `next` input is read to its
 * end first, as Python's map does: use imap to stay lazy) in chunks of
 * `chunksize` items (0: Python's rule, ceil(n / (4 * workers))); *m gets
 * the handle.  0; -EPIPE (closed); -EINVAL; -ENOMEM; the `next`
 * function's error.  Never waits for the tasks.
 */
PC_EXTERN int pc_pool_map_async(pc_pool *p, pc_task_fn fn, const pc_pool_input *in,
                                size_t chunksize, pc_pool_map_result **m);
/*
 * map: map_async, then pc_pool_map_wait.  *m is set whenever the tasks
 * were submitted (the outcome is then 0, the first failed item's code,
 * -ETIMEDOUT or -ECANCELED) and must be freed; NULL otherwise (-EPIPE,
 * -EINVAL, -ENOMEM).
 */
PC_EXTERN int pc_pool_map(pc_pool *p, pc_task_fn fn, const pc_pool_input *in, size_t chunksize,
                          pc_pool_map_result **m, double timeout);
/* The number of items. */
PC_EXTERN size_t pc_pool_map_count(const pc_pool_map_result *m);
/*
 * The map's own future: done once every item is; finishes with empty
 * bytes when all succeeded, else with the error (code and message) of the
 * failed item of lowest index.  Borrowed: valid while m lives (retain it
 * to keep it longer).  Waitable from coroutines, usable in
 * pc_future_wait, may take done callbacks (Python's map_async callback).
 */
PC_EXTERN pc_future *pc_pool_map_future(const pc_pool_map_result *m);
/* AsyncResult.ready(): every item done. */
PC_EXTERN bool pc_pool_map_ready(const pc_pool_map_result *m);
/* Wait up to `timeout` for every item: 0 when all succeeded, the code of
 * the failed item of lowest index, -ETIMEDOUT, -ECANCELED (terminated:
 * the lowest cancelled item; or the waiting coroutine killed), -EINVAL. */
PC_EXTERN int pc_pool_map_wait(pc_pool_map_result *m, double timeout);
/*
 * Item i's outcome, never waiting: 0 with *bytes / *len (either may be
 * NULL; valid while m lives); the item's error; -EAGAIN while not done;
 * -ERANGE for i out of range; -EINVAL.
 */
PC_EXTERN int pc_pool_map_get(const pc_pool_map_result *m, size_t i, const void **bytes,
                              size_t *len);
/* Item i's future (borrowed), or NULL out of range. */
PC_EXTERN pc_future *pc_pool_map_item(const pc_pool_map_result *m, size_t i);
/* Free the handle; items not started yet are cancelled (in a process
 * pool, items already handed to a worker run; their results are
 * dropped).  NULL is harmless. */
PC_EXTERN void pc_pool_map_free(pc_pool_map_result *m);

/* ---- lazy iteration ------------------------------------------------- */

typedef struct pc_pool_iter pc_pool_iter;

/*
 * imap: results in input order, computed ahead but never further than
 * `window` items pulled from the input and not yet returned by
 * pc_pool_iter_next (0: 2 * workers * chunksize) - the input is never
 * consumed whole first (Python's imap and Executor.map do that).
 * chunksize 0: Python's rule when in->n is known (array or items), 1 for
 * a `next` input.  Items are pulled and submitted by pc_pool_iter_next
 * (and a first window now).  A pc_pool_close after this call does not
 * stop the iterator: its items count as submitted at the call, as in
 * Python, and the workers end only once it has submitted its last item
 * (or is freed).  0; -EPIPE (closed before the call); -EINVAL; -ENOMEM;
 * the `next` function's error when it failed before any item.
 */
PC_EXTERN int pc_pool_imap(pc_pool *p, pc_task_fn fn, const pc_pool_input *in, size_t chunksize,
                           size_t window, pc_pool_iter **it);
/* imap_unordered: as pc_pool_imap, results in the order they finish. */
PC_EXTERN int pc_pool_imap_unordered(pc_pool *p, pc_task_fn fn, const pc_pool_input *in,
                                     size_t chunksize, size_t window, pc_pool_iter **it);
/*
 * The next result: waits up to `timeout`.  0 with *index (the item's
 * input position), *bytes and *len (each may be NULL; valid until the
 * next call or the free); the item's error (with *index set; its message
 * by pc_pool_iter_error_message), after which iteration goes on;
 * -ENOENT at the end; -ETIMEDOUT (call again); -ECANCELED (the item
 * was cancelled by a terminate, or the waiting coroutine killed); -EPIPE
 * after the items submitted before a terminate (the rest never will be);
 * the `next` function's error, after the items pulled before it (the
 * iteration ends there); -EINVAL.
 */
PC_EXTERN int pc_pool_iter_next(pc_pool_iter *it, size_t *index, const void **bytes, size_t *len,
                                double timeout);
/* The message of the last error pc_pool_iter_next returned, or NULL. */
PC_EXTERN const char *pc_pool_iter_error_message(const pc_pool_iter *it);
/* Free the iterator; items submitted and not started are cancelled, the
 * input is not read further.  NULL is harmless. */
PC_EXTERN void pc_pool_iter_free(pc_pool_iter *it);

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_POOL_H */
