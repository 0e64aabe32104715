/*
 * The thread pool: ThreadPool / ThreadPoolExecutor.  A fixed number of
 * pyconc threads (daemon, as Python's pool workers) take jobs from one
 * pc_queue (SIMPLE: unbounded, no task tracking).  A job is a chunk of
 * tasks of one function: copies of their argument bytes and one future
 * per task.  The worker that takes a job marks each future RUNNING
 * (skipping those cancelled meanwhile), runs the task and settles the
 * future with the bytes given to pc_task_return or with the task's error;
 * waiters and done callbacks are the futures' business (future.c).
 *
 * Why a future per task, even inside a map: one outcome type for apply,
 * map, imap and callbacks, each waitable from threads and coroutines, and
 * terminate/cancel work on each task alone.  The cost is one allocation
 * per task besides the job's; a map's whole chunk shares one job.  A job
 * of one task (apply_async) lives in its future's allocation
 * (pc__future_new_ext) when its argument is short (EMBED_MAX): job,
 * argument and future are one block, and a short result is kept in the
 * future, so a trivial task costs one allocation, made and usually freed
 * by the submitting thread.
 *
 * Close: no more submissions, then the queue is shut down (not
 * immediately): the workers drain it and end.  An iterator created
 * before the close still submits its items (Python's imap counted them
 * as submitted at the call), so the queue is shut down only once the
 * last such iterator is done (open_iters).
 *
 * Terminate: `terminated` is set and the queue shut down; the
 * terminating thread drains the jobs left and cancels their futures; a
 * worker that took a job registers it in its slot under the guard and
 * cancels it itself if it sees `terminated` there.  A running task cannot
 * be stopped: its future, and those of its chunk not started, are failed
 * at once with -ECANCELED "pool terminated" by the terminating thread,
 * which retains each registered job under the guard and settles its
 * futures after dropping it (so callbacks never run under the guard).
 * That guard is the worker's slot's own, so the hot path (a worker taking
 * a job) shares no lock with submitters; submitters take no lock at all
 * besides the queue's.
 * The worker's later settle is then refused (-EALREADY) and its result
 * dropped.
 *
 * maxtasksperchild: a worker counts the jobs it ran (a chunk is one task,
 * as in Python); at the limit it starts its replacement (counted alive
 * before it leaves, so `alive` never drops to 0 in between) and ends.
 * If the replacement cannot start, the worker carries on itself.
 *
 * Rejected: a handler thread that supervises workers (Python's
 * _handle_workers); for threads nothing dies unexpectedly, so a worker
 * replaces itself.  The process pool has one (procpool.c): processes die.
 *
 * Lock order: the pool's guard is a leaf (see pool-internal.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../future/future-internal.h"
#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "pool-internal.h"
#include "procpool.h"
#include "pyconc/thread.h"

static void result_drop_bytes(pc_task_result *r) {
    if (r->heap)
        pc__free(r->bytes);
    r->heap = false;
    r->bytes = NULL;
    r->len = 0;
}

void pc__task_result_clear(pc_task_result *r) {
    result_drop_bytes(r);
    pc__free(r->message);
    r->message = NULL;
}

static void result_fail(pc_task_result *r, int code, char *message) {
    pc__free(r->message);
    r->failed = true;
    r->code = code < 0 ? code : -EINVAL;
    r->message = message;
}

int pc_task_return(pc_task_result *out, const void *bytes, size_t len) {
    if (!out || (!bytes && len))
        return -EINVAL;
    result_drop_bytes(out);
    if (out->max && len > out->max) {
        char msg[96];
        snprintf(msg, sizeof msg, "result of %zu bytes exceeds max_result %zu", len, out->max);
        result_fail(out, -EMSGSIZE, pc__strdup(msg));
        return -EMSGSIZE;
    }
    void *dst = out->inline_;
    if (len > PC__INLINE_RESULT) {
        dst = pc__malloc(len);
        if (!dst) {
            result_fail(out, -ENOMEM, NULL);
            return -ENOMEM;
        }
        out->heap = true;
    }
    if (len)
        memcpy(dst, bytes, len);
    out->bytes = dst;
    out->len = len;
    return 0;
}

int pc_task_fail(pc_task_result *out, int code, const char *fmt, ...) {
    if (code >= 0)
        code = -EINVAL;
    if (!out)
        return code;
    char *msg = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n >= 0 && (msg = pc__malloc((size_t)n + 1)) != NULL) {
            va_start(ap, fmt);
            vsnprintf(msg, (size_t)n + 1, fmt, ap);
            va_end(ap);
        }
    }
    result_fail(out, code, msg);
    return code;
}

/* ---- jobs ---------------------------------------------------------------- */

/* The largest argument a single-task job keeps in its future's block. */
enum { EMBED_MAX = 256 };

int pc__job_new(pc__job **jp, pc_task_fn fn, const pc_pool_item *items, size_t k,
                pc_future **futs) {
    size_t total = 0;
    for (size_t i = 0; i < k; i++)
        total += items[i].len;
    size_t head = sizeof(pc__job) + k * sizeof(pc_future *) + (k + 1) * sizeof(size_t);
    pc__job *j;
    pc_future *own = NULL;
    /* apply_async's case: job, future and argument in one block.  Only a
     * short argument: the block lives as long as the caller keeps the
     * future, and a big copy should go when the task is done. */
    if (k == 1 && total <= EMBED_MAX) {
        void *ext;
        int r = pc__future_new_ext(&own, 2, head + total, &ext); /* the job's, the caller's */
        if (r)
            return r;
        j = ext;
    } else if ((j = pc__malloc(head + total)) == NULL) {
        return -ENOMEM;
    }
    atomic_init(&j->refs, 1);
    j->fn = fn;
    j->embedded = own != NULL;
    j->count = k;
    j->futs = (pc_future **)(j + 1);
    j->offs = (size_t *)(j->futs + k);
    j->data = (unsigned char *)(j->offs + k + 1);
    size_t off = 0;
    for (size_t i = 0; i < k; i++) {
        j->offs[i] = off;
        if (items[i].len)
            memcpy(j->data + off, items[i].ptr, items[i].len);
        off += items[i].len;
    }
    j->offs[k] = off;
    if (own) {
        futs[0] = j->futs[0] = own;
    } else {
        for (size_t i = 0; i < k; i++) {
            int r = pc_future_new(&j->futs[i]);
            if (r) {
                while (i-- > 0)
                    pc_future_release(j->futs[i]);
                pc__free(j);
                return r;
            }
            futs[i] = pc_future_retain(j->futs[i]);
        }
    }
    *jp = j;
    return 0;
}

void pc__job_release(pc__job *j) {
    /* acq_rel: the last one sees the others' uses */
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (j->embedded) { /* the job's memory goes with its future's */
        pc_future_release(j->futs[0]);
        return;
    }
    for (size_t i = 0; i < j->count; i++)
        pc_future_release(j->futs[i]);
    pc__free(j);
}

/* Cancel a job's futures not started; fail the running ones (terminate). */
static void job_abort(pc__job *j) {
    for (size_t i = 0; i < j->count; i++)
        if (pc_future_cancel(j->futs[i]) == -EBUSY)
            pc_future_set_error(j->futs[i], -ECANCELED, "pool terminated");
}

static void queue_discard(void *item, void *arg) {
    (void)arg;
    job_abort(item);
    pc__job_release(item);
}

/* ---- the pool ------------------------------------------------------------ */

void pc__pool_retain(pc_pool *p) {
    /* relaxed: made from a reference the caller holds */
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void pc__pool_release(pc_pool *p) {
    /* acq_rel: the last one sees the others' last writes */
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (p->pp)
        pc__ppool_free(p);
    pc_queue_free(p->q);
    pc_event_free(p->ended);
    pc__free(p->initargs);
    pc__free_aligned(p->slots);
    pc__free(p);
}

size_t pc__pool_chunksize(const pc_pool *p, size_t n) {
    size_t d = 4 * (size_t)p->workers;
    size_t c = (n + d - 1) / d;
    return c ? c : 1;
}

static void run_one(pc_pool *p, pc__job *j, size_t i) {
    pc_future *f = j->futs[i];
    if (pc_future_set_running(f) != 0)
        return; /* cancelled, or failed by terminate */
    pc_task_result r = {.max = p->max_result};
    int ret = j->fn(j->data + j->offs[i], j->offs[i + 1] - j->offs[i], &r);
    if (r.failed)
        pc_future_set_error(f, r.code, r.message);
    else if (ret < 0)
        pc_future_set_error(f, ret, NULL);
    else if (ret > 0)
        pc_future_set_error(f, -EINVAL, "task returned a positive value");
    else if (pc_future_set_result(f, r.bytes, r.len) == -ENOMEM)
        pc_future_set_error(f, -ENOMEM, "no memory for the result");
    result_drop_bytes(&r);
    pc__free(r.message);
}

static int start_worker(pc_pool *p, int slot);

/* A worker leaves: guard not held. */
void pc__pool_worker_gone(pc_pool *p) {
    pc__guard_lock(&p->guard);
    bool last = --p->alive == 0 && (atomic_load(&p->closed) || atomic_load(&p->terminated));
    pc__guard_unlock(&p->guard);
    if (last)
        pc_event_set(p->ended);
    pc__pool_release(p);
}

typedef struct wstart {
    pc_pool *p;
    int slot;
} wstart;

static void *worker(void *arg) {
    wstart w = *(wstart *)arg;
    pc__free(arg);
    pc_pool *p = w.p;
    pc__slot *s = &p->slots[w.slot];
    if (p->init)
        p->init(p->initargs, p->initargs_len);
    long done = 0;
    for (;;) {
        void *item;
        if (pc_queue_get(p->q, &item, PC_FOREVER) != 0)
            break; /* -EPIPE: shut down and drained */
        pc__job *j = item;
        /* the slot's guard orders this against pc_pool_terminate: either
         * it sees `current`, or we see `terminated` */
        pc__guard_lock(&s->guard);
        bool term = atomic_load(&p->terminated);
        if (!term)
            s->current = j;
        pc__guard_unlock(&s->guard);
        if (term) {
            job_abort(j);
        } else {
            for (size_t i = 0; i < j->count && !atomic_load(&p->terminated); i++)
                run_one(p, j, i);
            pc__guard_lock(&s->guard);
            s->current = NULL;
            pc__guard_unlock(&s->guard);
        }
        pc__job_release(j);
        if (p->maxtasks && ++done >= p->maxtasks && start_worker(p, w.slot) == 0)
            break; /* replaced */
    }
    pc__pool_worker_gone(p);
    return NULL;
}

/* Start a worker for `slot`, counted alive (and holding a pool reference)
 * from here.  0 or pc_thread_new/start's error (then not counted). */
static int start_worker(pc_pool *p, int slot) {
    wstart *w = pc__malloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    *w = (wstart){p, slot};
    pc__guard_lock(&p->guard);
    p->alive++;
    unsigned long nr = ++p->started;
    pc__guard_unlock(&p->guard);
    pc__pool_retain(p);
    char name[32];
    snprintf(name, sizeof name, "pc-pool-%lu", nr);
    pc_thread *t;
    int r = pc_thread_new(&t, worker, w, &(pc_thread_opts){.name = name, .daemon = true});
    if (r == 0) {
        r = pc_thread_start(t);
        pc_thread_free(t); /* runs on; pc_pool_join counts, never joins */
    }
    if (r) {
        pc__free(w);
        pc__guard_lock(&p->guard);
        p->alive--;
        pc__guard_unlock(&p->guard);
        pc__pool_release(p); /* not the last: the caller holds one */
    }
    return r;
}

int pc_pool_new(pc_pool **pp, const pc_pool_opts *opts) {
    pc_pool_opts o = opts ? *opts : (pc_pool_opts){0};
    if (!pp || o.workers < 0 || o.maxtasksperchild < 0 || (!o.initargs && o.initargs_len))
        return -EINVAL;
    if (o.kind != PC_POOL_THREADS && o.kind != PC_POOL_PROCESSES)
        return -EINVAL;
    if (o.workers == 0)
        o.workers = pc_cpu_count();
    pc_pool *p = pc__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    atomic_init(&p->refs, 1);
    atomic_init(&p->terminated, false);
    p->workers = o.workers;
    p->maxtasks = o.maxtasksperchild;
    p->max_result = o.max_result;
    p->init = o.initializer;
    p->initargs_len = o.initargs_len;
    p->slots = pc__calloc_aligned((size_t)o.workers * sizeof *p->slots, 64);
    if (o.initargs_len && (p->initargs = pc__malloc(o.initargs_len)) != NULL)
        memcpy(p->initargs, o.initargs, o.initargs_len);
    int r = -ENOMEM;
    if (!p->slots || (o.initargs_len && !p->initargs) || pc_event_new(&p->ended))
        goto fail;
    if (o.kind == PC_POOL_PROCESSES) {
        if ((r = pc__ppool_start(p, &o)) != 0)
            goto fail;
        *pp = p;
        return 0;
    }
    if (pc_queue_new(&p->q, &(pc_queue_opts){.kind = PC_QUEUE_SIMPLE, .discard = queue_discard}))
        goto fail;
    for (int i = 0; i < o.workers; i++) {
        if ((r = start_worker(p, i)) != 0) {
            if (i > 0)
                break; /* a smaller pool still works */
            goto fail;
        }
    }
    *pp = p;
    return 0;
fail:
    pc_queue_free(p->q);
    pc_event_free(p->ended);
    pc__free(p->initargs);
    pc__free_aligned(p->slots);
    pc__free(p);
    return r;
}

int pc_pool_workers(const pc_pool *p) {
    return p ? p->workers : -EINVAL;
}

/* Shut the queue down once closed with no iterator left: guard held.
 * True when the caller must call pc_queue_shutdown. */
static bool should_shut(pc_pool *p) {
    if (p->queue_shut || p->open_iters > 0)
        return false;
    p->queue_shut = true;
    return true;
}

/* No more jobs will come: the workers end once the queued ones ran. */
static void pool_shut(pc_pool *p) {
    if (p->pp)
        pc__ppool_drain(p);
    else
        pc_queue_shutdown(p->q, false);
}

int pc_pool_close(pc_pool *p) {
    if (!p)
        return -EINVAL;
    pc__guard_lock(&p->guard);
    atomic_store(&p->closed, true);
    bool shut = should_shut(p);
    bool none = p->alive == 0;
    pc__guard_unlock(&p->guard);
    if (shut)
        pool_shut(p);
    if (none)
        pc_event_set(p->ended);
    return 0;
}

int pc_pool_terminate(pc_pool *p) {
    if (!p)
        return -EINVAL;
    pc__guard_lock(&p->guard);
    bool was = atomic_load(&p->terminated);
    atomic_store(&p->terminated, true);
    p->queue_shut = true;
    bool none = p->alive == 0;
    pc__guard_unlock(&p->guard);
    if (was)
        return 0;
    if (p->pp) {
        pc__ppool_terminate(p);
        return 0;
    }
    pc_queue_shutdown(p->q, true); /* the jobs left go to queue_discard */
    for (int i = 0; i < p->workers; i++) {
        pc__slot *s = &p->slots[i];
        pc__guard_lock(&s->guard);
        pc__job *j = s->current;
        if (j) /* relaxed: the worker's reference keeps it alive under the guard */
            atomic_fetch_add_explicit(&j->refs, 1, memory_order_relaxed);
        pc__guard_unlock(&s->guard);
        if (j) { /* outside the guard: settling runs callbacks */
            job_abort(j);
            pc__job_release(j);
        }
    }
    if (none)
        pc_event_set(p->ended);
    return 0;
}

int pc_pool_join(pc_pool *p, double timeout) {
    if (!p || timeout != timeout)
        return -EINVAL;
    pc__guard_lock(&p->guard);
    bool ok = atomic_load(&p->closed) || atomic_load(&p->terminated);
    pc__guard_unlock(&p->guard);
    if (!ok)
        return -EINVAL;
    return pc_event_wait(p->ended, timeout);
}

void pc_pool_free(pc_pool *p) {
    if (!p)
        return;
    pc__guard_lock(&p->guard);
    bool closed = atomic_load(&p->closed);
    pc__guard_unlock(&p->guard);
    if (!closed)
        pc_pool_terminate(p);
    pc__pool_release(p);
}

int pc_pool_with(const pc_pool_opts *opts, int (*body)(pc_pool *p, void *arg), void *arg) {
    if (!body)
        return -EINVAL;
    pc_pool *p;
    int r = pc_pool_new(&p, opts);
    if (r)
        return r;
    r = body(p, arg);
    pc_pool_close(p);
    pc_pool_join(p, PC_FOREVER);
    pc_pool_free(p);
    return r;
}

int pc__pool_usable(pc_pool *p) {
    return atomic_load(&p->closed) || atomic_load(&p->terminated) ? -EPIPE : 0;
}

int pc__pool_iter_open(pc_pool *p) {
    pc__guard_lock(&p->guard);
    bool ok = !atomic_load(&p->closed) && !atomic_load(&p->terminated);
    if (ok)
        p->open_iters++;
    pc__guard_unlock(&p->guard);
    return ok ? 0 : -EPIPE;
}

void pc__pool_iter_close(pc_pool *p) {
    pc__guard_lock(&p->guard);
    p->open_iters--;
    bool shut = atomic_load(&p->closed) && should_shut(p);
    pc__guard_unlock(&p->guard);
    if (shut)
        pool_shut(p);
}

int pc__pool_put(pc_pool *p, pc__job *j, bool iter) {
    /* No guard: a close or terminate after these loads makes the put fail
     * with -EPIPE, or it lands before the shutdown and is drained (close)
     * or discarded (terminate), as if submitted before. */
    bool ok = !atomic_load(&p->terminated) && (iter || !atomic_load(&p->closed));
    if (!ok)
        return -EPIPE;
    return p->pp ? pc__ppool_put(p, j) : pc_queue_put(p->q, j, PC_FOREVER);
}

void pc__job_drop(pc__job *j) {
    job_abort(j);
    pc__job_release(j);
}

/* ---- one task ------------------------------------------------------------ */

typedef struct apply_cbs {
    pc_pool_callbacks c;
} apply_cbs;

static void apply_done(pc_future *f, void *arg) {
    apply_cbs *a = arg;
    pc_future_done_fn cb = pc_future_successful(f) == 1 ? a->c.callback : a->c.error_callback;
    if (cb)
        cb(f, a->c.arg);
    pc__free(a);
}

int pc_pool_apply_async(pc_pool *p, pc_task_fn fn, const void *arg, size_t len,
                        const pc_pool_callbacks *cbs, pc_future **f) {
    if (!p || !fn || !f || (!arg && len))
        return -EINVAL;
    pc__job *j;
    pc_future *fut;
    int r = pc__job_new(&j, fn, &(pc_pool_item){arg, len}, 1, &fut);
    if (r)
        return r;
    apply_cbs *a = NULL;
    if (cbs && (cbs->callback || cbs->error_callback)) {
        a = pc__malloc(sizeof *a);
        if (!a || (r = pc_future_add_done_callback(fut, apply_done, a)) != 0) {
            pc__free(a);
            pc_future_release(fut);
            pc__job_release(j);
            return -ENOMEM;
        }
        a->c = *cbs; /* before the job is queued: nothing can run it yet */
    }
    r = pc__pool_put(p, j, false);
    if (r) {
        /* never queued: nobody else sees the future; a submission that
         * failed runs no callback (Python raises instead) */
        if (a) {
            a->c.callback = NULL;
            a->c.error_callback = NULL;
        }
        pc__job_drop(j);
        pc_future_release(fut);
        return r;
    }
    *f = fut;
    return 0;
}

int pc_pool_apply(pc_pool *p, pc_task_fn fn, const void *arg, size_t len, void *buf, size_t cap,
                  size_t *rlen, double timeout) {
    if ((!buf && cap) || timeout != timeout)
        return -EINVAL;
    pc_future *f;
    int r = pc_pool_apply_async(p, fn, arg, len, NULL, &f);
    if (r)
        return r;
    const void *bytes;
    size_t n;
    if (p->pp)
        pc__ppool_help(p, f);
    r = pc_future_result(f, &bytes, &n, timeout);
    if (r == 0) {
        if (rlen)
            *rlen = n;
        if (n > cap)
            r = -EMSGSIZE;
        else if (n)
            memcpy(buf, bytes, n);
    } else if (r == -ETIMEDOUT) {
        pc_future_cancel(f); /* not started: never runs; running: result dropped */
    } else if (cap && pc_future_done(f)) {
        const char *msg = pc_future_error_message(f);
        snprintf(buf, cap, "%s", msg ? msg : "");
    }
    pc_future_release(f);
    return r;
}
