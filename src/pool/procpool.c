/*
 * The process pool (Pool / ProcessPoolExecutor), the parent's side: the
 * dispatch of jobs to worker processes and the supervisor thread.
 *
 * Workers are pc_process children (fork, spawn or forkserver: opts.method)
 * running pc__pp_worker_main (procworker.c).  Each has a pp_slot in the
 * shared heap with two SPSC rings (procpool.h): tasks from the parent,
 * results back.  The futures stay here; only bytes cross.
 *
 * Dispatch.  Submitted jobs go on `pend`, a FIFO in parent memory; under
 * `mu` a job is written to the task ring of the live worker holding the
 * fewest jobs (at most PP_WINDOW each, and no more than maxtasksperchild
 * per worker), its futures marked RUNNING, and the worker's `fifo` gets
 * an entry for it.  A slot takes jobs before its process exists: the
 * first process starts in pc_pool_new, the others when their slot is
 * given work or work waits (the supervisor starts them).  Submitters dispatch at once (an apply
 * reaches its worker without a thread hop); the supervisor dispatches what is left whenever results
 * free room.  A worker answers its jobs in order, task by task, so a result always belongs to the
 * first unanswered task of the head of that worker's fifo: results carry no ids.
 *
 * The supervisor, one thread per pool, reads every result ring, settles
 * the futures (outside `mu`: done callbacks may submit), and waits on the
 * workers' pidfds and an eventfd with poll(): after a short spin over
 * the rings it sets ctl->sup_sleeping, re-checks, and polls; a worker that
 * publishes a result and finds the flag set clears it and writes the
 * eventfd (the Dekker pattern of pp_wake_sup).  No SIGCHLD handler.
 *
 * A worker that dies (pidfd readable) is accounted for exactly: its
 * published results are read first; then, if it had begun a task it did
 * not answer (slot->started > answered: started is stored before each
 * task runs), that one task - and only it - fails with PC_EWORKERDIED and
 * a message naming the pid and the signal or exit status.  Every task it
 * had been given and not begun goes back to the front of `pend`, in
 * order, and is dispatched again (to the replacement or another worker):
 * a task is failed only when it may have run.  A replacement starts
 * unless the pool is ending with nothing left to run.  A ring whose
 * framing is broken (a corrupt header) is treated as that worker's death:
 * it is killed.  A result record that is well framed but malformed (a
 * length or code out of range), or larger than max_result, fails its one
 * future (-EPROTO, -EMSGSIZE).
 *
 * Close (pc__ppool_drain): once `pend` is empty and a worker has no job
 * left, it is sent PP_STOP and exits 0.  Terminate: under `mu` the
 * pending jobs and every worker's fifo are taken; their futures are
 * cancelled or failed with -ECANCELED outside `mu`; SIGTERM goes to every
 * worker at once, SIGKILL 100 ms later to those still alive.  The
 * supervisor ends when no worker is left, which pc_pool_join waits for
 * (pool.c's `ended`; the supervisor counts as the pool's one "worker").
 *
 * Rejected: one shared task queue that idle workers take from (Python's
 * design, or the process queue of mpqueue.c): who held which task when a
 * worker died would need a second record per take, written after it, and
 * a death between the two loses the task - exactly Python's hang.  With
 * per-worker rings the parent knows what each worker holds.  A pipe per
 * worker: two system calls per message each way.
 *
 * Lock order: mu is a leaf (no future, process or callback call under
 * it, except pc_future_set_running, which runs no callback, and
 * pc_process_terminate/kill, which only signal).
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "../internal/waiter.h"
#include "../process/process-internal.h"
#include "procpool.h"
#include "pyconc/coro.h"
#include "pyconc/thread.h"

/* A worker's states: NONE (no slot, no process), STARTING (a slot that
 * takes jobs, its process not started yet), LIVE, STOPPED (PP_STOP sent,
 * or killed by terminate). */
enum { W_NONE = 0, W_STARTING, W_LIVE, W_STOPPED };

typedef struct pp_sent {
    pc__job *job; /* one reference */
    size_t first; /* the first task of job sent */
    size_t count; /* tasks sent */
    size_t done;  /* tasks answered; guarded by mu */
    void *spill;  /* the arguments' heap block, or NULL */
} pp_sent;

typedef struct pp_pend {
    pc__job *job; /* one reference */
    size_t first;
} pp_pend;

typedef struct pp_worker {
    pc_process *proc; /* written by the supervisor under mu */
    int pidfd;        /* supervisor only */
    pid_t pid;        /* written under mu */
    pp_slot *slot;    /* written by the supervisor under rmu and mu */
    int state;        /* guarded by mu */
    pp_sent fifo[PP_WINDOW];
    unsigned fhead, fcount; /* guarded by mu */
    uint64_t tail;          /* task ring producer position; guarded by mu */
    /* The result ring's consumer: the supervisor, or a thread waiting in
     * pc_pool_apply (pc__ppool_wait).  Taken before mu. */
    pc__guard rmu;
    uint64_t rhead;    /* result ring consumer position; guarded by rmu */
    uint64_t answered; /* guarded by rmu (written under mu too) */
    long jobs;         /* jobs sent to this process; guarded by mu */
    unsigned window;   /* jobs it may hold (adapt_window); guarded by mu */
    int64_t svc_ns;    /* its time per job, smoothed; guarded by mu */
    int64_t last_done; /* when it last answered with a backlog; guarded by mu */
    bool notify;       /* guarded by mu: wake it after dispatching */
    bool drop;         /* supervisor only: never to be started */
    bool start;        /* supervisor only: to be started now */
} pp_worker;

struct pc__ppool {
    pc__guard mu;
    pp_ctl *ctl; /* fixed */
    int efd;     /* fixed */
    pc_start_method method;
    int nw;        /* fixed */
    pp_worker *w;  /* fixed array */
    pp_pend *pend; /* guarded by mu: circular */
    size_t phead, pcount, pcap;
    const void *fns[PP_FNS]; /* guarded by mu */
    int nfns;
    bool draining;         /* guarded by mu */
    bool wake;             /* guarded by mu: a job went to a worker not started */
    bool terminated;       /* guarded by mu */
    unsigned long started; /* supervisor only: names the workers */
};

/* ---- dispatch (under mu) -------------------------------------------------- */

static int pend_grow(struct pc__ppool *pp) {
    if (pp->pcount < pp->pcap)
        return 0;
    size_t nc = pp->pcap ? 2 * pp->pcap : 64;
    pp_pend *n = pc__malloc(nc * sizeof *n);
    if (!n)
        return -ENOMEM;
    for (size_t i = 0; i < pp->pcount; i++)
        n[i] = pp->pend[(pp->phead + i) % pp->pcap];
    pc__free(pp->pend);
    pp->pend = n;
    pp->phead = 0;
    pp->pcap = nc;
    return 0;
}

static int pend_push_back(struct pc__ppool *pp, pp_pend e) {
    int r = pend_grow(pp);
    if (r)
        return r;
    pp->pend[(pp->phead + pp->pcount++) % pp->pcap] = e;
    return 0;
}

static int pend_push_front(struct pc__ppool *pp, pp_pend e) {
    int r = pend_grow(pp);
    if (r)
        return r;
    pp->phead = (pp->phead + pp->pcap - 1) % pp->pcap;
    pp->pend[pp->phead] = e;
    pp->pcount++;
    return 0;
}

/* The function's index in the shared table, naming it on first use. */
static int fn_index(struct pc__ppool *pp, const void *fn) {
    for (int i = pp->nfns - 1; i >= 0; i--)
        if (pp->fns[i] == fn)
            return i;
    if (pp->nfns == PP_FNS)
        return -ENOSPC;
    pc__fn_name *name;
    if (pc_shared_alloc(sizeof *name, (void **)&name))
        return -ENOMEM;
    int r = pc__fn_name_of(fn, name);
    if (r) {
        pc_shared_free(name);
        return r;
    }
    pc_shared_ref_of(name, &pp->ctl->fns[pp->nfns]);
    pp->ctl->fnptr[pp->nfns] = (uint64_t)(uintptr_t)fn;
    pp->fns[pp->nfns] = fn;
    return pp->nfns++;
}

/* Write tasks [e.first, job->count) of e's job to w's ring.  0; -EAGAIN
 * when the ring is full; -ENOMEM. */
static int send_job(pp_worker *w, pp_pend e, int fn) {
    pc__job *j = e.job;
    size_t k = j->count - e.first;
    size_t bytes = j->offs[j->count] - j->offs[e.first];
    size_t payload = sizeof(pp_job_hdr) + k * sizeof(uint32_t) + bytes;
    void *spill = NULL;
    int flags = 0;
    if (payload > PP_SPILL) {
        if (pc_shared_alloc(payload, &spill))
            return -ENOMEM;
        flags = PP_SPILLED;
    }
    uint64_t tail = w->tail;
    size_t rlen = spill ? sizeof(pp_job_hdr) + sizeof(pc_shared_ref) : payload;
    unsigned char *dst =
        pp_ring_reserve(&w->slot->tasks, w->slot->tdata, &tail, rlen, PP_JOB, flags);
    if (!dst) {
        if (spill)
            pc_shared_free(spill);
        return -EAGAIN;
    }
    *(pp_job_hdr *)dst = (pp_job_hdr){(uint32_t)fn, (uint32_t)k};
    unsigned char *body = spill ? spill : dst + sizeof(pp_job_hdr);
    if (spill) {
        memcpy(body, &(pp_job_hdr){(uint32_t)fn, (uint32_t)k}, sizeof(pp_job_hdr));
        body += sizeof(pp_job_hdr);
        pc_shared_ref ref;
        pc_shared_ref_of(spill, &ref);
        memcpy(dst + sizeof(pp_job_hdr), &ref, sizeof ref);
    }
    for (size_t i = 0; i < k; i++) {
        uint32_t l = (uint32_t)(j->offs[e.first + i + 1] - j->offs[e.first + i]);
        memcpy(body + i * sizeof l, &l, sizeof l);
    }
    memcpy(body + k * sizeof(uint32_t), j->data + j->offs[e.first], bytes);
    for (size_t i = e.first; i < j->count; i++)
        pc_future_set_running(j->futs[i]); /* a cancelled one runs; its result is dropped */
    pp_ring_publish(&w->slot->tasks, tail);
    w->tail = tail;
    w->fifo[(w->fhead + w->fcount++) % PP_WINDOW] =
        (pp_sent){.job = j, .first = e.first, .count = k, .spill = spill};
    w->jobs++;
    w->notify = true;
    return 0;
}

static void wake_sup(struct pc__ppool *pp);

/* Hand pending jobs to workers with room.  Jobs whose function cannot be
 * named fail here (*failed collects them, their reference included). */
static void dispatch(struct pc__ppool *pp, pp_pend *failed, size_t *nfailed, size_t cap) {
    uint64_t maxtasks = pp->ctl->maxtasks;
    while (pp->pcount && !pp->terminated) {
        pp_worker *best = NULL;
        for (int i = 0; i < pp->nw; i++) {
            pp_worker *w = &pp->w[i];
            if ((w->state != W_LIVE && w->state != W_STARTING) || w->fcount >= w->window ||
                (maxtasks && (uint64_t)w->jobs >= maxtasks))
                continue;
            if (!best || w->fcount < best->fcount)
                best = w;
        }
        if (!best)
            return;
        if (best->state == W_STARTING && best->fcount == 0)
            pp->wake = true; /* the supervisor starts its process */
        pp_pend e = pp->pend[pp->phead];
        int fn = fn_index(pp, (const void *)e.job->fn);
        int r = fn < 0 ? fn : send_job(best, e, fn);
        if (r == -EAGAIN) {
            return; /* retried when this worker's results free room */
        }
        pp->phead = (pp->phead + 1) % pp->pcap;
        pp->pcount--;
        if (r) {
            if (*nfailed < cap) {
                e.first = (size_t)-r; /* the error, for the caller */
                failed[(*nfailed)++] = e;
            } else {
                pend_push_front(pp, e); /* retried on the next dispatch */
                return;
            }
        }
    }
}

/* Dispatch and fail jobs that cannot be named.  The workers given jobs
 * are woken under mu: a slot is freed (its worker died) only under mu, so
 * a wake-up outside it could touch a slot reused by then.  A wake-up is
 * a system call only when the worker sleeps.  mu not held. */
static void dispatch_now(struct pc__ppool *pp) {
    pp_pend failed[8];
    size_t nfailed = 0;
    pc__guard_lock(&pp->mu);
    dispatch(pp, failed, &nfailed, 8);
    for (int i = 0; i < pp->nw; i++) {
        if (pp->w[i].notify) {
            pp->w[i].notify = false;
            pc__shec_notify(&pp->w[i].slot->task_ec);
        }
    }
    bool wake = pp->wake;
    pp->wake = false;
    pc__guard_unlock(&pp->mu);
    if (wake)
        wake_sup(pp);
    for (size_t i = 0; i < nfailed; i++) {
        int err = -(int)failed[i].first;
        for (size_t t = 0; t < failed[i].job->count; t++)
            pc_future_set_error(failed[i].job->futs[t], err,
                                err == -ENOSPC ? "too many distinct task functions"
                                               : "task function cannot be named");
        pc__job_release(failed[i].job);
    }
}

/* Wake the supervisor (close, terminate). */
static void wake_sup(struct pc__ppool *pp) {
    uint64_t one = 1;
    ssize_t n = write(pp->efd, &one, sizeof one);
    (void)n; /* EAGAIN: the counter is non-zero, a wake-up is pending anyway */
}

int pc__ppool_put(pc_pool *p, pc__job *j) {
    struct pc__ppool *pp = p->pp;
    pc__guard_lock(&pp->mu);
    int r = pp->terminated ? -EPIPE : pend_push_back(pp, (pp_pend){j, 0});
    pc__guard_unlock(&pp->mu);
    if (r)
        return r;
    dispatch_now(pp);
    return 0;
}

void pc__ppool_drain(pc_pool *p) {
    struct pc__ppool *pp = p->pp;
    pc__guard_lock(&pp->mu);
    pp->draining = true;
    pc__guard_unlock(&pp->mu);
    wake_sup(pp);
}

static void abort_job(pc__job *j, size_t first) {
    for (size_t i = first; i < j->count; i++)
        if (pc_future_cancel(j->futs[i]) == -EBUSY)
            pc_future_set_error(j->futs[i], -ECANCELED, "pool terminated");
}

void pc__ppool_terminate(pc_pool *p) {
    struct pc__ppool *pp = p->pp;
    pc__guard_lock(&pp->mu);
    if (pp->terminated) {
        pc__guard_unlock(&pp->mu);
        return;
    }
    pp->terminated = true;
    /* Retain what the workers hold: the supervisor drops its references
     * when it reads their results or sees them die. */
    size_t n = pp->pcount;
    for (int i = 0; i < pp->nw; i++)
        n += pp->w[i].fcount;
    pp_pend *all = pc__malloc((n ? n : 1) * sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < pp->pcount; i++) {
        pp_pend e = pp->pend[(pp->phead + i) % pp->pcap];
        if (all)
            all[k++] = e; /* the pending list's reference moves here */
        else
            abort_job(e.job, e.first); /* no memory: settle under mu, callbacks and all */
    }
    pp->pcount = 0;
    for (int i = 0; i < pp->nw; i++) {
        pp_worker *w = &pp->w[i];
        for (unsigned f = 0; f < w->fcount; f++) {
            pp_sent *s = &w->fifo[(w->fhead + f) % PP_WINDOW];
            /* relaxed: made from the fifo's reference, held under mu */
            atomic_fetch_add_explicit(&s->job->refs, 1, memory_order_relaxed);
            if (all)
                all[k++] = (pp_pend){s->job, s->first};
        }
        if (w->state != W_NONE && w->proc)
            pc_process_terminate(w->proc);
    }
    pc__guard_unlock(&pp->mu);
    for (size_t i = 0; i < k; i++) {
        abort_job(all[i].job, all[i].first);
        pc__job_release(all[i].job);
    }
    pc__free(all);
    wake_sup(pp);
}

/* ---- workers ---------------------------------------------------------------- */

/* Give w a fresh slot: it can take jobs from now on, before its process
 * exists (they wait in its ring).  0 or -ENOMEM. */
static int slot_prepare(struct pc__ppool *pp, pp_worker *w) {
    pp_slot *slot;
    int r = pc_shared_alloc(sizeof *slot, (void **)&slot);
    if (r)
        return r;
    slot->magic = PP_SLOT_MAGIC;
    pc__guard_lock(&w->rmu);
    pc__guard_lock(&pp->mu);
    w->slot = slot;
    w->tail = 0;
    w->jobs = 0;
    w->fhead = w->fcount = 0;
    w->window = 2;
    w->svc_ns = 0;
    w->last_done = 0;
    w->state = W_STARTING;
    w->rhead = 0;
    w->answered = 0;
    pc__guard_unlock(&pp->mu);
    pc__guard_unlock(&w->rmu);
    return 0;
}

/* Start the process of a W_STARTING worker (the supervisor, or
 * pc_pool_new for the first).  0 or pc_process_new/start's error (w is
 * then still W_STARTING, without a process). */
static int worker_start(struct pc__ppool *pp, pp_worker *w) {
    pp_args a;
    pc_shared_ref_of(pp->ctl, &a.ctl);
    pc_shared_ref_of(w->slot, &a.slot);
    char name[48];
    snprintf(name, sizeof name, "PoolWorker-%lu", ++pp->started);
    pc_process *proc;
    int r = pc_process_new(&proc, pc__pp_worker_main, &a, sizeof a,
                           &(pc_process_opts){.name = name,
                                              .method = pp->method,
                                              .daemon = true,
                                              .pass_fds = &pp->efd,
                                              .n_pass_fds = 1});
    if (r == 0 && (r = pc_process_start(proc)) != 0)
        pc_process_free(proc);
    if (r)
        return r;
    pc__guard_lock(&pp->mu);
    w->proc = proc;
    w->pid = pc_process_pid(proc);
    w->state = W_LIVE;
    bool term = pp->terminated;
    pc__guard_unlock(&pp->mu);
    w->pidfd = pc_process_sentinel(proc);
    if (term)
        pc_process_kill(proc);
    return 0;
}

/* Settle one future from a result record of worker w. */
static void settle(struct pc__ppool *pp, pp_worker *w, pc_future *f, pp_rec *rec) {
    char msg[160];
    const unsigned char *pl = (const unsigned char *)(rec + 1);
    pp_res_hdr h;
    if (rec->len < sizeof h || (rec->type != PP_OK && rec->type != PP_ERR))
        goto malformed;
    memcpy(&h, pl, sizeof h);
    pl += sizeof h;
    size_t body = rec->len - sizeof h;
    if (rec->type == PP_ERR) {
        if (h.code >= 0 || h.msglen > body || h.msglen > PP_MSG_MAX)
            goto malformed;
        char m[PP_MSG_MAX + 1];
        memcpy(m, pl, h.msglen);
        m[h.msglen] = 0;
        pc_future_set_error(f, h.code, h.msglen ? m : NULL);
        return;
    }
    uint64_t max = pp->ctl->max_result;
    if (max && h.len > max) {
        snprintf(msg, sizeof msg, "result of %llu bytes exceeds max_result %llu",
                 (unsigned long long)h.len, (unsigned long long)max);
        pc_future_set_error(f, -EMSGSIZE, msg);
        if (rec->flags & PP_SPILLED)
            goto free_spill;
        return;
    }
    if (rec->flags & PP_SPILLED) {
        pc_shared_ref ref;
        void *blk;
        if (body != sizeof ref)
            goto malformed;
        memcpy(&ref, pl, sizeof ref);
        if (pc_shared_deref(ref, &blk) || pc_shared_size(blk) < h.len)
            goto malformed;
        if (pc_future_set_result(f, blk, (size_t)h.len) == -ENOMEM)
            pc_future_set_error(f, -ENOMEM, "no memory for the result");
        pc_shared_free(blk);
        return;
    }
    if (h.msglen || h.len != body)
        goto malformed;
    if (pc_future_set_result(f, pl, (size_t)h.len) == -ENOMEM)
        pc_future_set_error(f, -ENOMEM, "no memory for the result");
    return;
free_spill : {
    pc_shared_ref ref;
    void *blk;
    if (body == sizeof ref) {
        memcpy(&ref, pl, sizeof ref);
        if (pc_shared_deref(ref, &blk) == 0)
            pc_shared_free(blk);
    }
    return;
}
malformed:
    snprintf(msg, sizeof msg, "malformed result from worker pid %d", (int)w->pid);
    pc_future_set_error(f, -EPROTO, msg);
}

/* A job of w was answered (mu held): its window follows the time between
 * answers while it has a backlog (its service time, free of the queueing
 * delay that a dispatch-to-answer time would include).  Quick jobs get a
 * deep window, so the worker never waits for the parent; slow ones get 2,
 * so that a job is not stuck behind a long one while another worker idles. */
static void adapt_window(pp_worker *w) {
    int64_t now = pc__mono_ns();
    if (w->last_done && w->fcount > 0) {
        int64_t d = now - w->last_done;
        w->svc_ns = w->svc_ns ? (3 * w->svc_ns + d) / 4 : d;
        w->window = w->svc_ns < 50000 ? PP_WINDOW : w->svc_ns < 500000 ? 8 : 2;
    }
    w->last_done = w->fcount > 0 ? now : 0;
}

/* Read w's published results (rmu held).  Returns how many; sets *bad
 * when the ring's framing is broken.  Settles futures, so done callbacks
 * run under rmu: they must not wait for the pool (pool.h says so). */
static int drain_results(struct pc__ppool *pp, pp_worker *w, bool *bad) {
    int n = 0;
    pp_slot *slot = w->slot;
    pp_rec *rec;
    while ((rec = pp_ring_peek(&slot->results, slot->rdata, &w->rhead, bad)) != NULL) {
        pc__guard_lock(&pp->mu);
        if (w->fcount == 0) { /* a result for nothing sent: broken */
            pc__guard_unlock(&pp->mu);
            *bad = true;
            return n;
        }
        pp_sent *s = &w->fifo[w->fhead];
        pc__job *j = s->job;
        size_t idx = s->first + s->done++;
        pp_sent done = *s;
        bool last = s->done == s->count;
        if (last) {
            w->fhead = (w->fhead + 1) % PP_WINDOW;
            w->fcount--;
        }
        w->answered++;
        if (last)
            adapt_window(w);
        pc__guard_unlock(&pp->mu);
        settle(pp, w, j->futs[idx], rec);
        pp_ring_consume(&slot->results, &w->rhead, rec);
        if ((n & 255) == 255) /* a worker waiting for room: not once per record */
            pc__shec_notify(&slot->room_ec);
        if (last) {
            if (done.spill)
                pc_shared_free(done.spill);
            pc__job_release(j);
        }
        n++;
    }
    if (n)
        pc__shec_notify(&slot->room_ec);
    return n;
}

static void describe_death(char *buf, size_t cap, pid_t pid, int code) {
    if (code < 0)
        snprintf(buf, cap, "worker pid %d killed by signal %d (SIG%s)", (int)pid, -code,
                 sigabbrev_np(-code) ? sigabbrev_np(-code) : "?");
    else
        snprintf(buf, cap, "worker pid %d exited with status %d", (int)pid, code);
}

/* w's process ended (or its ring broke: killed first; or, proc NULL, it
 * never started).  Fail the task it held, requeue what it had not begun.
 * Supervisor only. */
static void worker_died(struct pc__ppool *pp, pp_worker *w, bool broken) {
    bool bad = false;
    char msg[160] = "";
    pc__guard_lock(&w->rmu);
    if (w->proc) {
        if (!broken)
            drain_results(pp, w, &bad);
        if (broken || bad)
            pc_process_kill(w->proc);
        pc_process_join(w->proc, 5.0);
        int code = 0;
        if (pc_process_exitcode(w->proc, &code) != 0)
            code = -SIGKILL;
        describe_death(msg, sizeof msg, w->pid, code);
    }
    /* acquire: pairs with the worker's release store; its stores are all
     * visible once it is dead anyway */
    uint64_t started = atomic_load_explicit(&w->slot->started, memory_order_acquire);
    pc_future *held = NULL;
    pp_sent freed[PP_WINDOW];
    unsigned nfreed = 0;
    pc__guard_lock(&pp->mu);
    if (w->fcount && started > w->answered && !pp->terminated) {
        pp_sent *s = &w->fifo[w->fhead];
        held = pc_future_retain(s->job->futs[s->first + s->done]);
        s->done++;
    }
    /* requeue from the back so the front keeps the order */
    for (unsigned f = w->fcount; f-- > 0;) {
        pp_sent *s = &w->fifo[(w->fhead + f) % PP_WINDOW];
        freed[nfreed++] = *s;
        if (s->done < s->count && !pp->terminated) {
            /* relaxed: a new reference made from the fifo's, under mu */
            atomic_fetch_add_explicit(&s->job->refs, 1, memory_order_relaxed);
            if (pend_push_front(pp, (pp_pend){s->job, s->first + s->done}) != 0) {
                pc__job_release(s->job); /* not the last: the fifo's is held */
                for (size_t i = s->first + s->done; i < s->job->count; i++)
                    pc_future_set_error(s->job->futs[i], -ENOMEM, "no memory to requeue");
            }
        }
    }
    w->fcount = 0;
    w->state = W_NONE;
    pc_process *proc = w->proc;
    pp_slot *slot = w->slot;
    w->proc = NULL;
    w->slot = NULL;
    pc__guard_unlock(&pp->mu);
    pc__guard_unlock(&w->rmu);
    if (held) {
        pc_future_set_error(held, PC_EWORKERDIED, msg);
        pc_future_release(held);
    }
    for (unsigned i = 0; i < nfreed; i++) {
        if (freed[i].spill)
            pc_shared_free(freed[i].spill);
        pc__job_release(freed[i].job);
    }
    if (proc)
        pc_process_free(proc);
    pc_shared_free(slot);
    w->pidfd = -1;
}

/* ---- the supervisor ------------------------------------------------------- */

static bool any_results(struct pc__ppool *pp) {
    for (int i = 0; i < pp->nw; i++) {
        pp_worker *w = &pp->w[i];
        /* relaxed: a hint; the drain re-reads under rmu */
        if (w->slot &&
            pp_ring_nonempty(&w->slot->results,
                             atomic_load_explicit(&w->slot->results.head, memory_order_relaxed)))
            return true;
    }
    return false;
}

static void *supervisor(void *arg) {
    pc_pool *p = arg;
    struct pc__ppool *pp = p->pp;
    struct pollfd *fds = pc__malloc((size_t)(pp->nw + 1) * sizeof *fds);
    int *who = pc__malloc((size_t)(pp->nw + 1) * sizeof *who);
    int64_t kill_at = 0;
    while (fds && who) {
        int got = 0;
        for (int i = 0; i < pp->nw; i++) {
            pp_worker *w = &pp->w[i];
            if (!w->slot)
                continue;
            bool bad = false;
            pc__guard_lock(&w->rmu);
            got += drain_results(pp, w, &bad);
            pc__guard_unlock(&w->rmu);
            if (bad)
                worker_died(pp, w, true);
        }
        /* stop idle workers when draining; drop unstarted ones no longer
         * needed; prepare and start replacements */
        pc__guard_lock(&pp->mu);
        bool term = pp->terminated, drain = pp->draining;
        bool more = pp->pcount > 0;
        for (int i = 0; i < pp->nw; i++) {
            pp_worker *w = &pp->w[i];
            w->drop = w->state == W_STARTING && (term || (drain && !more && w->fcount == 0));
            if (w->drop)
                w->state = W_STOPPED; /* no more jobs for it */
            /* a process starts when its slot has work, or work waits */
            w->start = w->state == W_STARTING && (w->fcount > 0 || more);
            if (drain && !more && w->state == W_LIVE && w->fcount == 0 && !term) {
                uint64_t tail = w->tail;
                if (pp_ring_reserve(&w->slot->tasks, w->slot->tdata, &tail, 0, PP_STOP, 0)) {
                    pp_ring_publish(&w->slot->tasks, tail);
                    w->tail = tail;
                    w->state = W_STOPPED;
                    pc__shec_notify(&w->slot->task_ec);
                }
            }
        }
        pc__guard_unlock(&pp->mu);
        bool want = !term && (!drain || more), retry = false;
        int alive = 0;
        for (int i = 0; i < pp->nw; i++) {
            pp_worker *w = &pp->w[i];
            if (w->drop)
                worker_died(pp, w, false); /* never started: its jobs (none, or terminated) */
            if (w->state == W_NONE && want && slot_prepare(pp, w) != 0)
                retry = true;
            if (w->start) {
                w->start = false;
                if (worker_start(pp, w) == 0) {
                    got++;
                } else {
                    worker_died(pp, w, false); /* requeues what it was given */
                    retry = true;
                }
            }
            if (w->state != W_NONE)
                alive++;
        }
        if (want)
            dispatch_now(pp);
        if (alive == 0 && (term || drain))
            break;
        if (term && !kill_at)
            kill_at = pc__mono_ns() + 100 * 1000 * 1000;
        if (got)
            continue;
        /* No spin here: workers batch their wake-ups (procworker.c,
         * announce), and a spinning supervisor took the CPU the workers
         * and the submitter needed on a machine with two cores. */
        atomic_store(&pp->ctl->sup_sleeping, 1);
        /* pairs with the fence in the worker's wake_sup: either it sees
         * the flag, or we see its result below */
        atomic_thread_fence(memory_order_seq_cst);
        if (any_results(pp)) {
            atomic_store(&pp->ctl->sup_sleeping, 0);
            continue;
        }
        int n = 0;
        fds[n] = (struct pollfd){.fd = pp->efd, .events = POLLIN};
        who[n++] = -1;
        for (int i = 0; i < pp->nw; i++) {
            if (pp->w[i].state != W_NONE && pp->w[i].pidfd >= 0) {
                fds[n] = (struct pollfd){.fd = pp->w[i].pidfd, .events = POLLIN};
                who[n++] = i;
            }
        }
        int ms = retry ? 100 : -1;
        if (kill_at) {
            int64_t left = kill_at - pc__mono_ns();
            ms = left > 0 ? (int)(left / 1000000) + 1 : 0;
        }
        int r = poll(fds, (nfds_t)n, ms);
        atomic_store(&pp->ctl->sup_sleeping, 0);
        if (r < 0)
            continue; /* EINTR */
        if (r == 0 && kill_at && pc__mono_ns() >= kill_at) {
            pc__guard_lock(&pp->mu);
            for (int i = 0; i < pp->nw; i++)
                if (pp->w[i].state != W_NONE && pp->w[i].proc)
                    pc_process_kill(pp->w[i].proc);
            pc__guard_unlock(&pp->mu);
        }
        for (int i = 0; i < n; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (who[i] < 0) {
                uint64_t v;
                ssize_t rd = read(pp->efd, &v, sizeof v);
                (void)rd;
            } else {
                worker_died(pp, &pp->w[who[i]], false);
            }
        }
    }
    pc__free(fds);
    pc__free(who);
    pc__pool_worker_gone(p);
    return NULL;
}

/* A thread about to wait for f (pc_pool_apply) reads the result rings
 * itself for a moment, so that a quick task's result reaches it without
 * the supervisor's wake-up in between (one wake-up less per round trip).
 * A ring being read by another thread is skipped (trylock).  Returns when
 * f is done or the spin is over; the caller then waits as usual. */
void pc__ppool_help(pc_pool *p, pc_future *f) {
    struct pc__ppool *pp = p->pp;
    if (!pc__spin_limit() || pc_coro_current())
        return; /* one CPU: spinning only delays the worker; a coroutine
                   parks at once, its thread runs the others */
    /* About 50 us, yielding between looks: on a busy machine the worker
     * we wait for may need this CPU. */
    int64_t until = pc__mono_ns() + 50000;
    for (int s = 0; !pc_future_done(f); s++) {
        if ((s & 15) == 15) {
            if (pc__mono_ns() > until)
                break;
            sched_yield();
        }
        for (int i = 0; i < pp->nw; i++) {
            pp_worker *w = &pp->w[i];
            uint32_t free_ = 0;
            /* acquire: pairs with the release in pc__guard_unlock */
            if (!atomic_compare_exchange_strong_explicit(&w->rmu, &free_, 1, memory_order_acquire,
                                                         memory_order_relaxed))
                continue;
            bool bad = false;
            int got = w->slot ? drain_results(pp, w, &bad) : 0;
            pc__guard_unlock(&w->rmu);
            if (bad)
                wake_sup(pp); /* the supervisor finds it and kills the worker */
            if (got)
                dispatch_now(pp); /* the room these results freed */
        }
        pc__cpu_relax();
    }
}

/* The shared control block and what hangs off it: the function names and
 * the initializer's arguments. */
static void ctl_free(struct pc__ppool *pp) {
    for (int i = 0; i < pp->nfns; i++) {
        void *n;
        if (pc_shared_deref(pp->ctl->fns[i], &n) == 0)
            pc_shared_free(n);
    }
    void *ia;
    if (pp->ctl->initargs_len && pc_shared_deref(pp->ctl->initargs, &ia) == 0)
        pc_shared_free(ia);
    pc_shared_free(pp->ctl);
}

int pc__ppool_start(pc_pool *p, const pc_pool_opts *o) {
    struct pc__ppool *pp = pc__calloc(1, sizeof *pp);
    if (!pp)
        return -ENOMEM;
    pp->efd = -1;
    pp->nw = p->workers;
    pp->method = o->method;
    int r = -ENOMEM;
    if (!(pp->w = pc__calloc((size_t)pp->nw, sizeof *pp->w)))
        goto fail;
    for (int i = 0; i < pp->nw; i++)
        pp->w[i].pidfd = -1;
    if ((pp->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        r = -errno;
        goto fail;
    }
    if ((r = pc_shared_alloc(sizeof *pp->ctl, (void **)&pp->ctl)) != 0)
        goto fail;
    pp_ctl *c = pp->ctl;
    c->magic = PP_CTL_MAGIC;
    c->maxtasks = (uint64_t)o->maxtasksperchild;
    c->max_result = o->max_result;
    c->efd = pp->efd;
    c->init_fn = -1;
    pc_start_method m = o->method ? o->method : pc_get_start_method();
    c->direct = m == PC_START_FORK;
    if (o->initializer) {
        if ((r = fn_index(pp, (const void *)o->initializer)) < 0)
            goto fail;
        c->init_fn = r;
        if (o->initargs_len) {
            void *blk;
            if ((r = pc_shared_alloc(o->initargs_len, &blk)) != 0)
                goto fail;
            memcpy(blk, o->initargs, o->initargs_len);
            pc_shared_ref_of(blk, &c->initargs);
            c->initargs_len = o->initargs_len;
        }
    }
    p->pp = pp;
    /* Every worker's slot takes jobs at once; the first process starts
     * here, so that a start method that cannot run (a spawn of a program
     * without pyconc...) is this call's error; the supervisor starts the
     * others. */
    for (int i = 0; i < pp->nw; i++)
        if ((r = slot_prepare(pp, &pp->w[i])) != 0)
            goto fail;
    if ((r = worker_start(pp, &pp->w[0])) != 0)
        goto fail;
    pc__guard_lock(&p->guard);
    p->alive++;
    pc__guard_unlock(&p->guard);
    pc__pool_retain(p);
    pc_thread *t;
    r = pc_thread_new(&t, supervisor, p, &(pc_thread_opts){.name = "pc-pool-sup", .daemon = true});
    if (r == 0) {
        r = pc_thread_start(t);
        pc_thread_free(t);
    }
    if (r) {
        pc__guard_lock(&p->guard);
        p->alive--;
        pc__guard_unlock(&p->guard);
        atomic_fetch_sub(&p->refs, 1);
        pc_process_kill(pp->w[0].proc);
        pc_process_join(pp->w[0].proc, 5.0);
        pc_process_free(pp->w[0].proc);
        goto fail;
    }
    return 0;
fail:
    p->pp = NULL;
    for (int i = 0; pp->w && i < pp->nw; i++)
        if (pp->w[i].slot)
            pc_shared_free(pp->w[i].slot);
    if (pp->ctl)
        ctl_free(pp);
    if (pp->efd >= 0)
        close(pp->efd);
    pc__free(pp->w);
    pc__free(pp);
    return r;
}

/* The last reference: the supervisor has ended, every worker is gone. */
void pc__ppool_free(pc_pool *p) {
    struct pc__ppool *pp = p->pp;
    for (size_t i = 0; i < pp->pcount; i++) { /* never dispatched (cannot be: drained) */
        pp_pend e = pp->pend[(pp->phead + i) % pp->pcap];
        abort_job(e.job, e.first);
        pc__job_release(e.job);
    }
    ctl_free(pp);
    close(pp->efd);
    pc__free(pp->pend);
    pc__free(pp->w);
    pc__free(pp);
    p->pp = NULL;
}
