/*
 * The process pool's worker: the target of each worker process
 * (procpool.c starts them under fork, spawn or forkserver).
 *
 * It finds the pool's pp_ctl and its own pp_slot by reference (the shared
 * heap is mapped under every start method), runs the initializer once,
 * then takes PP_JOB records from its task ring in order.  For each task
 * it stores `started` (release; the supervisor reads it after a death to
 * tell a task begun from one only queued), runs the function into a
 * pc_task_result, writes one result record (PP_OK or PP_ERR; a payload
 * over PP_SPILL goes in a heap block the parent frees), publishes it and
 * wakes the supervisor if it sleeps.  The task record is consumed (head
 * moves) only after the last task of the job, so its bytes stay valid.
 * PP_STOP, or maxtasksperchild jobs done, ends the process with status 0.
 *
 * Waiting: for tasks, a spin on the ring then the slot's task_ec
 * eventcount (a shared futex); for room in the result ring, room_ec.
 * The wait is sliced (1 s) to notice a parent that died without killing
 * us (a daemon is killed by PR_SET_PDEATHSIG only when started by the
 * parent's main thread): the parent's pid changes then, and we exit.
 *
 * Functions are resolved from their names (pc__fn_resolve, the process
 * module's naming) once per worker and cached by index.
 */

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "../internal/waiter.h"
#include "../platform/futex.h"
#include "../process/process-internal.h"
#include "procpool.h"

int (*pc__pp_hook)(int point, const void *arg, size_t len);

typedef struct wk {
    pp_ctl *ctl;
    pp_slot *slot;
    pid_t ppid;
    int spins;
    uint64_t thead; /* task ring consumer position */
    uint64_t rtail; /* result ring producer position */
    uint64_t started;
    unsigned unannounced;      /* results published since the last wake_sup */
    int64_t first_unannounced; /* when the first of them was */
    void *fns[PP_FNS];
} wk;

enum { ANNOUNCE_MAX = 64, ANNOUNCE_NS = 100000 };

static void *resolve(wk *k, uint32_t i) {
    if (i >= PP_FNS)
        return NULL;
    if (!k->fns[i] && k->ctl->direct)
        k->fns[i] = (void *)(uintptr_t)k->ctl->fnptr[i];
    if (!k->fns[i]) {
        pc__fn_name *n;
        void *fn;
        if (pc_shared_deref(k->ctl->fns[i], (void **)&n) || pc__fn_resolve(n, &fn))
            return NULL;
        k->fns[i] = fn;
    }
    return k->fns[i];
}

static void parent_check(wk *k) {
    if (getppid() != k->ppid)
        _exit(0);
}

/* Wake the supervisor if it sleeps.  The seq_cst fence pairs with the
 * supervisor's seq_cst store of sup_sleeping before its re-check: either
 * it sees our record, or we see its flag. */
static void wake_sup(wk *k) {
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&k->ctl->sup_sleeping, memory_order_relaxed) &&
        atomic_exchange(&k->ctl->sup_sleeping, 0)) {
        uint64_t one = 1;
        ssize_t n = write(k->ctl->efd, &one, sizeof one);
        (void)n;
    }
}

/* Room for a result record of `len` payload bytes. */
static void *reserve_result(wk *k, uint64_t *tail, size_t len, int type, int flags) {
    bool yielded = false;
    for (;;) {
        *tail = k->rtail;
        void *dst = pp_ring_reserve(&k->slot->results, k->slot->rdata, tail, len, type, flags);
        if (dst)
            return dst;
        if (!yielded) { /* the parent is reading: give it the CPU once first */
            k->unannounced = 0;
            wake_sup(k);
            sched_yield();
            yielded = true;
            continue;
        }
        yielded = false;
        uint32_t t = pc__shec_prepare(&k->slot->room_ec);
        *tail = k->rtail;
        if ((dst = pp_ring_reserve(&k->slot->results, k->slot->rdata, tail, len, type, flags)))
            return dst;
        k->unannounced = 0;
        wake_sup(k); /* the parent must read for room to appear */
        pc__shec_wait(&k->slot->room_ec, t, pc__mono_ns() + 1000000000);
        parent_check(k);
    }
}

static void publish_result(wk *k, uint64_t tail, const void *arg, size_t alen) {
    if (pc__pp_hook && pc__pp_hook(PP_HOOK_RESULT, arg, alen)) {
        /* test: a malformed record (a negative success code) */
        pp_rec *h = (pp_rec *)(k->slot->rdata + (k->rtail & (PP_RING - 1)));
        if (h->type == PP_PAD)
            h = (pp_rec *)k->slot->rdata;
        ((pp_res_hdr *)(h + 1))->msglen = PP_MSG_MAX * 2;
        h->type = PP_ERR;
    }
    pp_ring_publish(&k->slot->results, tail);
    k->rtail = tail;
    if (k->unannounced++ == 0)
        k->first_unannounced = pc__mono_ns();
}

/* After a result: wake the supervisor now, unless more tasks are at hand
 * and the results waiting are few and fresh (each wake-up of a sleeping
 * supervisor costs a write(2) here and a context switch there; with
 * trivial tasks that was most of the pool's time).  A result waits at
 * most ANNOUNCE_NS, and never while this worker goes idle. */
static void announce(wk *k, bool more) {
    if (!k->unannounced)
        return;
    if (more && k->unannounced < ANNOUNCE_MAX && pc__mono_ns() - k->first_unannounced < ANNOUNCE_NS)
        return;
    k->unannounced = 0;
    wake_sup(k);
}

static void send_error(wk *k, int code, const char *msg, const void *arg, size_t alen) {
    size_t ml = msg ? strlen(msg) : 0;
    if (ml > PP_MSG_MAX)
        ml = PP_MSG_MAX;
    uint64_t tail;
    unsigned char *dst = reserve_result(k, &tail, sizeof(pp_res_hdr) + ml, PP_ERR, 0);
    *(pp_res_hdr *)dst = (pp_res_hdr){.code = code < 0 ? code : -EINVAL, .msglen = (uint32_t)ml};
    if (ml)
        memcpy(dst + sizeof(pp_res_hdr), msg, ml);
    publish_result(k, tail, arg, alen);
}

static void send_ok(wk *k, const void *bytes, size_t len, const void *arg, size_t alen) {
    if (len > PP_SPILL) {
        void *blk;
        if (pc_shared_alloc(len, &blk)) {
            char m[96];
            snprintf(m, sizeof m, "no shared memory for a result of %zu bytes", len);
            send_error(k, -ENOMEM, m, arg, alen);
            return;
        }
        memcpy(blk, bytes, len);
        pc_shared_ref ref;
        pc_shared_ref_of(blk, &ref);
        uint64_t tail;
        unsigned char *dst =
            reserve_result(k, &tail, sizeof(pp_res_hdr) + sizeof ref, PP_OK, PP_SPILLED);
        *(pp_res_hdr *)dst = (pp_res_hdr){.len = len};
        memcpy(dst + sizeof(pp_res_hdr), &ref, sizeof ref);
        publish_result(k, tail, arg, alen);
        return;
    }
    uint64_t tail;
    unsigned char *dst = reserve_result(k, &tail, sizeof(pp_res_hdr) + len, PP_OK, 0);
    *(pp_res_hdr *)dst = (pp_res_hdr){.len = len};
    size_t half = len / 2;
    if (half)
        memcpy(dst + sizeof(pp_res_hdr), bytes, half);
    if (pc__pp_hook)
        pc__pp_hook(PP_HOOK_RESULT_HALF, arg, alen);
    if (len - half)
        memcpy(dst + sizeof(pp_res_hdr) + half, (const unsigned char *)bytes + half, len - half);
    publish_result(k, tail, arg, alen);
}

static void run_task(wk *k, pc_task_fn fn, const void *arg, size_t len) {
    /* release: pairs with the supervisor's acquire load after our death */
    atomic_store_explicit(&k->slot->started, ++k->started, memory_order_release);
    if (pc__pp_hook)
        pc__pp_hook(PP_HOOK_TASK, arg, len);
    pc_task_result r = {.max = k->ctl->max_result};
    int ret = fn ? fn(arg, len, &r) : -ENOEXEC;
    if (!fn)
        send_error(k, -ENOEXEC, "task function not found in the worker", arg, len);
    else if (r.failed)
        send_error(k, r.code, r.message, arg, len);
    else if (ret < 0)
        send_error(k, ret, NULL, arg, len);
    else if (ret > 0)
        send_error(k, -EINVAL, "task returned a positive value", arg, len);
    else
        send_ok(k, r.bytes, r.len, arg, len);
    pc__task_result_clear(&r);
}

static void run_job(wk *k, pp_rec *rec) {
    const unsigned char *pl = (const unsigned char *)(rec + 1);
    pp_job_hdr h;
    memcpy(&h, pl, sizeof h);
    const unsigned char *body = pl + sizeof h;
    if (rec->flags & PP_SPILLED) {
        pc_shared_ref ref;
        void *blk;
        memcpy(&ref, body, sizeof ref);
        if (pc_shared_deref(ref, &blk))
            _exit(70); /* the parent's block vanished: nothing sane to do */
        body = (const unsigned char *)blk + sizeof h;
    }
    pc_task_fn fn = (pc_task_fn)resolve(k, h.fn);
    uint64_t after = k->thead + pp_recsize(rec->len); /* the next record's place */
    const unsigned char *data = body + (size_t)h.count * sizeof(uint32_t);
    for (uint32_t i = 0; i < h.count; i++) {
        uint32_t l;
        memcpy(&l, body + i * sizeof l, sizeof l);
        run_task(k, fn, data, l);
        data += l;
        announce(k, i + 1 < h.count || pp_ring_nonempty(&k->slot->tasks, after));
    }
}

/* Poll a ring for about 50 us before sleeping (a futex sleep and wake-up
 * between processes costs tens of microseconds; the parent is often about
 * to publish), yielding between looks so that on a busy machine the
 * process we wait for gets the CPU. */
static void spin(wk *k, pp_ring *r, uint64_t head) {
    if (!k->spins)
        return;
    int64_t until = pc__mono_ns() + 50000;
    for (int s = 0; !pp_ring_nonempty(r, head); s++) {
        if ((s & 15) == 15) {
            if (pc__mono_ns() > until)
                return;
            sched_yield();
        }
        pc__cpu_relax();
    }
}

/* The next task record, waiting for it. */
static pp_rec *next_record(wk *k) {
    bool bad = false;
    for (;;) {
        pp_rec *rec = pp_ring_peek(&k->slot->tasks, k->slot->tdata, &k->thead, &bad);
        if (rec)
            return rec;
        if (bad)
            _exit(71);
        announce(k, false);
        spin(k, &k->slot->tasks, k->thead);
        if (pp_ring_nonempty(&k->slot->tasks, k->thead))
            continue;
        uint32_t t = pc__shec_prepare(&k->slot->task_ec);
        if (pp_ring_nonempty(&k->slot->tasks, k->thead))
            continue;
        pc__shec_wait(&k->slot->task_ec, t, pc__mono_ns() + 1000000000);
        parent_check(k);
    }
}

int pc__pp_worker_main(void *arg, size_t len) {
    pp_args a;
    if (len != sizeof a)
        return 72;
    memcpy(&a, arg, sizeof a);
    wk *k = pc__calloc(1, sizeof *k);
    if (!k || pc_shared_deref(a.ctl, (void **)&k->ctl) || k->ctl->magic != PP_CTL_MAGIC ||
        pc_shared_deref(a.slot, (void **)&k->slot) || k->slot->magic != PP_SLOT_MAGIC)
        return 73;
    k->ppid = getppid();
    k->spins = pc__spin_limit() * 16;
    if (k->ctl->init_fn >= 0) {
        pc_pool_init_fn init = (pc_pool_init_fn)resolve(k, (uint32_t)k->ctl->init_fn);
        void *ia = NULL;
        if (!init || (k->ctl->initargs_len && pc_shared_deref(k->ctl->initargs, &ia)))
            return 74;
        init(ia, (size_t)k->ctl->initargs_len);
    }
    uint64_t maxtasks = k->ctl->maxtasks, jobs = 0;
    for (;;) {
        pp_rec *rec = next_record(k);
        if (rec->type == PP_STOP)
            break;
        if (rec->type == PP_JOB)
            run_job(k, rec);
        pp_ring_consume(&k->slot->tasks, &k->thead, rec);
        if (maxtasks && ++jobs >= maxtasks)
            break;
    }
    pc__free(k);
    return 0;
}
