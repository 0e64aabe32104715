/*
 * The process pool's shared layout, for procpool.c (the parent: dispatch
 * and the supervisor) and procworker.c (the worker process).
 *
 * Every structure here lives in the shared heap (pyconc/shared.h), so a
 * fork, spawn or forkserver worker finds it by reference:
 *   pp_ctl    one per pool: the function table, the initializer, the
 *             supervisor's wake-up flag;
 *   pp_slot   one per worker process (a replacement gets a fresh one):
 *             its task ring (parent -> worker), its result ring
 *             (worker -> parent), and `started`.
 *
 * Rings are single-producer single-consumer byte rings of 8-aligned
 * records that never wrap: a record that does not fit before the end is
 * preceded by a padding record up to the end.  tail is written by the
 * producer only (release, after the record's bytes; pairs with the
 * consumer's acquire load in pp_ring_peek), head by the consumer only
 * (release, after it is done reading; pairs with the producer's acquire
 * load in pp_ring_reserve).  A producer killed half way publishes nothing:
 * its bytes lie beyond tail.
 */
#ifndef PC_POOL_PROCPOOL_H
#define PC_POOL_PROCPOOL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "../internal/shwait.h"
#include "pool-internal.h"
#include "pyconc/shared.h"

enum {
    PP_RING = 1 << 16,      /* bytes per ring (a power of two) */
    PP_SPILL = PP_RING / 8, /* a payload larger than this goes in a heap block */
    PP_FNS = 256,           /* distinct task functions a pool can name */
    PP_WINDOW = 32,         /* jobs handed to one worker and not yet answered */
    PP_MSG_MAX = 4096,      /* longest error message carried back */
};

#define PP_CTL_MAGIC 0x6c74635050437063ull  /* "cpCPPctl" */
#define PP_SLOT_MAGIC 0x746f6c5350506370ull /* "pcPPSlot" */

/* Record types. */
enum { PP_PAD = 0, PP_JOB, PP_STOP, PP_OK, PP_ERR };
/* Record flags. */
enum { PP_SPILLED = 1 };

typedef struct pp_rec {
    uint32_t len;  /* payload bytes after this header */
    uint16_t type; /* PP_* */
    uint16_t flags;
} pp_rec;

/* PP_JOB payload: this, then `count` u32 lengths, then the bytes; or,
 * PP_SPILLED, this then a pc_shared_ref to a block holding the lengths
 * and bytes (the parent's: freed once the job is answered or lost). */
typedef struct pp_job_hdr {
    uint32_t fn; /* index in the function table */
    uint32_t count;
} pp_job_hdr;

/* PP_OK / PP_ERR payload: this, then msglen bytes of message (PP_ERR),
 * then len bytes of result (PP_OK); or, PP_SPILLED, this then a
 * pc_shared_ref to a block of `len` bytes that the parent frees. */
typedef struct pp_res_hdr {
    int32_t code;
    uint32_t msglen;
    uint64_t len;
} pp_res_hdr;

typedef struct pp_ring {
    alignas(64) _Atomic uint64_t tail; /* written by the producer only */
    alignas(64) _Atomic uint64_t head; /* written by the consumer only */
} pp_ring;

typedef struct pp_ctl {
    uint64_t magic;
    uint64_t maxtasks;   /* fixed */
    uint64_t max_result; /* fixed; 0 unlimited */
    int32_t efd;         /* fixed: the supervisor's eventfd, same number in every worker */
    int32_t init_fn;     /* fixed: function index, -1 none */
    pc_shared_ref initargs;
    uint64_t initargs_len;
    /* 1 while the supervisor sleeps (or is about to): a worker that
     * publishes a result and finds it set clears it and writes efd.
     * seq_cst: the Dekker pairing of pp_wake_sup with the supervisor's
     * store, fence and re-check. */
    alignas(64) _Atomic uint32_t sup_sleeping;
    /* fixed: the workers are fork children of the process that made the
     * pool, so fnptr holds addresses valid in them.  They must not
     * resolve names there: dl_iterate_phdr takes the loader's lock, which
     * another thread of the parent may have held at the fork. */
    int32_t direct;
    /* Names (pc__fn_name blocks) of the functions, and under fork their
     * addresses, written by the parent before the first record that uses
     * one is published (the ring's release orders them). */
    alignas(64) pc_shared_ref fns[PP_FNS];
    uint64_t fnptr[PP_FNS];
} pp_ctl;

typedef struct pp_slot {
    uint64_t magic;
    /* Tasks the worker began: stored (release) before each task runs;
     * read by the supervisor after the worker died, when all its stores
     * are visible. */
    alignas(64) _Atomic uint64_t started;
    alignas(64) pc__shec task_ec; /* the worker sleeps here for tasks */
    alignas(64) pc__shec room_ec; /* the worker sleeps here for result room */
    pp_ring tasks;
    pp_ring results;
    alignas(64) unsigned char tdata[PP_RING];
    alignas(64) unsigned char rdata[PP_RING];
} pp_slot;

/* What the worker process's target receives. */
typedef struct pp_args {
    pc_shared_ref ctl;
    pc_shared_ref slot;
} pp_args;

static inline size_t pp_recsize(size_t len) {
    return sizeof(pp_rec) + ((len + 7) & ~(size_t)7);
}

/* Producer: room for a record of `len` payload bytes of `type` at *tail
 * (the producer's own position); returns the payload's address and moves
 * *tail past it (publish with pp_ring_publish), or NULL when full. */
static inline void *pp_ring_reserve(pp_ring *r, unsigned char *data, uint64_t *tail, size_t len,
                                    int type, int flags) {
    size_t need = pp_recsize(len);
    /* acquire: pairs with the consumer's release store of head */
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t t = *tail;
    size_t pos = t & (PP_RING - 1), toend = PP_RING - pos;
    size_t pad = need > toend ? toend : 0;
    if (need > PP_RING || t + pad + need - head > PP_RING)
        return NULL;
    if (pad) {
        pp_rec *h = (pp_rec *)(data + pos);
        *h = (pp_rec){(uint32_t)(pad - sizeof(pp_rec)), PP_PAD, 0};
        t += pad;
        pos = 0;
    }
    pp_rec *h = (pp_rec *)(data + pos);
    *h = (pp_rec){(uint32_t)len, (uint16_t)type, (uint16_t)flags};
    *tail = t + need;
    return h + 1;
}

static inline void pp_ring_publish(pp_ring *r, uint64_t tail) {
    /* release: the record's bytes before it; pairs with the acquire in pp_ring_peek */
    atomic_store_explicit(&r->tail, tail, memory_order_release);
}

/* Consumer: the record at *head (the consumer's own position, moved past
 * padding), or NULL when none is published.  `bad` is set when the ring's
 * framing is broken (a header that points past the published bytes). */
static inline pp_rec *pp_ring_peek(pp_ring *r, unsigned char *data, uint64_t *head, bool *bad) {
    /* acquire: pairs with the release in pp_ring_publish */
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    for (;;) {
        uint64_t h = *head;
        if (h == tail)
            return NULL;
        size_t pos = h & (PP_RING - 1);
        pp_rec *rec = (pp_rec *)(data + pos);
        size_t sz = pp_recsize(rec->len);
        if (tail - h < sizeof(pp_rec) || rec->len > PP_RING - pos - sizeof(pp_rec) ||
            sz > tail - h) {
            *bad = true;
            return NULL;
        }
        if (rec->type != PP_PAD)
            return rec;
        *head = h + sz;
    }
}

/* Consumer: done with the record at *head. */
static inline void pp_ring_consume(pp_ring *r, uint64_t *head, pp_rec *rec) {
    *head += pp_recsize(rec->len);
    /* release: our reads of the record before; pairs with the acquire in pp_ring_reserve */
    atomic_store_explicit(&r->head, *head, memory_order_release);
}

static inline bool pp_ring_nonempty(pp_ring *r, uint64_t head) {
    return atomic_load_explicit(&r->tail, memory_order_relaxed) != head;
}

/* The worker's side (procworker.c): the process target. */
int pc__pp_worker_main(void *arg, size_t len);

/* Test-only fault injection in the worker: called (when set, in the
 * worker: set it before the pool starts, fork method) at each point with
 * the task's argument.  A nonzero return at PP_HOOK_RESULT corrupts that
 * result's record (a malformed result). */
enum { PP_HOOK_TASK = 1, PP_HOOK_RESULT_HALF, PP_HOOK_RESULT };
extern int (*pc__pp_hook)(int point, const void *arg, size_t len);

/* The parent's side (procpool.c), called by pool.c. */
int pc__ppool_start(pc_pool *p, const pc_pool_opts *o);
int pc__ppool_put(pc_pool *p, pc__job *j);
void pc__ppool_drain(pc_pool *p);
void pc__ppool_terminate(pc_pool *p);
void pc__ppool_free(pc_pool *p);
void pc__ppool_help(pc_pool *p, pc_future *f);

/* pool.c: run a task into `r` (pc_task_result, defined in pool-internal.h). */
#endif
