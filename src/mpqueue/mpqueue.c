/*
 * Process queues (pyconc/mpqueue.h): a ring of length-prefixed records in
 * one block of the shared heap, with a lock for putters and one for
 * getters.
 *
 * Layout.  struct pc_mpqueue, then `cap` bytes of ring (a power of two).
 * Positions are byte counts since creation (64 bits: they never wrap); a
 * position's place in the ring is pos & mask.  A record is an 8-byte
 * header holding the message's length, then the message, padded to 8:
 * headers are 8-aligned and cap is a multiple of 8, so a header never
 * straddles the ring's end; a message may, and is copied in two parts.
 *
 *   [head, tail)   published records, the getters' to take
 *   tail, puts     bytes and messages ever published: written only by the
 *                  holder of put_mu, read by anyone
 *   head, gets     bytes and messages ever taken: written only by the
 *                  holder of get_mu, read by anyone
 *
 * Two locks (a two-lock queue): putters serialize on put_mu, getters on
 * get_mu, and a putter and a getter never wait for each other but through
 * the ring's state.  Each side caches what it last saw of the other's
 * position (head_seen, tail_seen), so with one producer and one consumer
 * each touches the other's cache line only when its cache says full or
 * empty.
 *
 * Publishing.  A putter copies the record at tail, then writes its intent
 * (plog: the tail and puts it is about to store, then `active`), then
 * stores puts and tail (release; pairs with the acquire loads of tail in
 * get and of puts in task_done/join), then clears `active`.  Getters see a
 * record only once tail passes it, so a putter killed while copying
 * publishes nothing: its half record lies beyond tail and the next putter
 * writes over it.  A putter killed after writing its intent left a whole
 * record; the next holder of put_mu (told -EOWNERDEAD by the lock) redoes
 * the stores from plog: the put completes, as if its process had died just
 * after it returned.  Taking is the mirror image (glog): a getter killed
 * while copying out leaves the message at the head; once its intent is
 * written the message counts as taken.  A dead process's stores all reach
 * memory before anyone can observe its death (the kernel's exit path is a
 * full barrier), so the recovering holder reads plog as the dead one left
 * it.
 *
 * Waiting.  Nobody waits holding a lock.  A getter that finds the ring
 * empty unlocks, spins a little on tail (the other process is usually
 * about to put: a futex sleep and wake-up costs tens of microseconds, a
 * spin that catches the put a fraction of it), then sleeps on the
 * not_empty eventcount (shwait.h), which every put notifies after its
 * stores; putters wait for room the same way on not_full.  A process
 * killed while waiting leaves at most a stale SLEEPERS bit: one extra
 * futex_wake for the next notifier.  Signals: the futex wait returns on
 * EINTR as on a spurious wake-up, and the caller re-checks.
 *
 * Close takes put_mu to set `closed`, so when it returns no put is half
 * way: a getter reads `closed` (acquire) before it looks at tail, and an
 * empty ring seen after a closed flag is empty for good.
 *
 * JoinableQueue: unfinished tasks = puts - done.  task_done CASes `done`
 * forward, never past puts; join and task_done read done first (acquire),
 * then puts, so a task counted in done is always covered by the puts read
 * after it (the scheme of src/queue/queue.c).  A process killed between a
 * get and its task_done leaves its task unfinished for good, as in Python.
 *
 * Rejected: a feeder thread and a pipe (Python's design): a put that
 * returns before the bytes left the process is lost with the process, and
 * each message costs two system calls.  One lock for both sides: a
 * producer and a consumer would contend on every message.
 *
 * Lock order: put_mu and get_mu are never held together.
 */
#include "pyconc/mpqueue.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>

#include "../internal/alloc.h"
#include "../internal/clock.h"
#include "../internal/shwait.h"
#include "../internal/waiter.h"
#include "../platform/futex.h"
#include "../shared/shared-internal.h"
#include "mpqueue-internal.h"

#define MPQ_MAGIC 0x65757551504d4370ull /* "pCMPQueue" */
enum {
    REC_HDR = 8,
    MIN_CAP = 4096,
    MAX_CAP = 1 << 30,
    /* Polls of the other side's position before sleeping, in units of
     * pc__spin_limit(): a cross-process futex round costs ~20-50 us, the
     * spin a few. */
    SPIN_FACTOR = 16,
};

void (*pc__mpqueue_hook)(int point);

/* A side's intent: the position and count it is about to publish. */
struct mpq_log {
    uint64_t pos;
    uint64_t count;
    _Atomic uint32_t active; /* release after pos, count; read by the next holder */
};

struct pc_mpqueue {
    uint64_t magic; /* MPQ_MAGIC while live; written at new/free only */
    uint32_t kind;
    int64_t maxsize; /* <= 0: none */
    uint64_t cap, mask;
    _Atomic uint32_t closed; /* written under put_mu; release, pairs with the acquire in get */

    alignas(64) pc__shmutex put_mu;
    _Atomic uint64_t tail; /* written under put_mu */
    _Atomic uint64_t puts; /* written under put_mu */
    uint64_t head_seen;    /* <= head; guarded by put_mu */
    uint64_t gets_seen;    /* <= gets; guarded by put_mu */
    struct mpq_log plog;   /* guarded by put_mu */

    alignas(64) pc__shmutex get_mu;
    _Atomic uint64_t head; /* written under get_mu */
    _Atomic uint64_t gets; /* written under get_mu */
    uint64_t tail_seen;    /* <= tail; guarded by get_mu */
    struct mpq_log glog;   /* guarded by get_mu */

    alignas(64) pc__shec not_empty; /* notified after every put */
    alignas(64) pc__shec not_full;  /* notified after every get */
    alignas(64) _Atomic uint64_t done;
    pc__shec all_done; /* notified when done catches up with puts */

    alignas(64) unsigned char ring[];
};

static inline uint64_t rec_size(size_t len) {
    return REC_HDR + (((uint64_t)len + 7) & ~(uint64_t)7);
}

static inline bool valid(const pc_mpqueue *q) {
    return q && q->magic == MPQ_MAGIC;
}

/* ------------------------------------------------------------ the ring */

static void copy_in(pc_mpqueue *q, uint64_t pos, const void *src, size_t n) {
    if (n == 0)
        return; /* src may be NULL */
    uint64_t off = pos & q->mask, first = q->cap - off < n ? q->cap - off : n;
    memcpy(q->ring + off, src, first);
    memcpy(q->ring, (const char *)src + first, n - first);
}

static void copy_out(const pc_mpqueue *q, uint64_t pos, void *dst, size_t n) {
    if (n == 0)
        return; /* dst may be NULL */
    uint64_t off = pos & q->mask, first = q->cap - off < n ? q->cap - off : n;
    memcpy(dst, q->ring + off, first);
    memcpy((char *)dst + first, q->ring, n - first);
}

static inline uint64_t rec_len(const pc_mpqueue *q, uint64_t pos) {
    uint64_t len;
    memcpy(&len, q->ring + (pos & q->mask), sizeof len);
    return len;
}

/* Redo a dead holder's publication if it had written its intent.  The
 * caller holds the side's lock, taken with -EOWNERDEAD. */
static void redo(struct mpq_log *log, _Atomic uint64_t *count, _Atomic uint64_t *pos,
                 pc__shec *ec) {
    if (!atomic_load_explicit(&log->active, memory_order_acquire)) /* pairs with publish() */
        return;
    atomic_store_explicit(count, log->count, memory_order_release);
    atomic_store_explicit(pos, log->pos, memory_order_release);
    atomic_store_explicit(&log->active, 0, memory_order_relaxed);
    pc__shec_notify(ec);
}

static inline void publish(struct mpq_log *log, _Atomic uint64_t *count, uint64_t new_count,
                           _Atomic uint64_t *pos, uint64_t new_pos, int point) {
    log->pos = new_pos;
    log->count = new_count;
    atomic_store_explicit(&log->active, 1, memory_order_release); /* pairs with redo() */
    /* release; pair with the acquire loads of the other side */
    atomic_store_explicit(count, new_count, memory_order_release);
    if (pc__mpqueue_hook)
        pc__mpqueue_hook(point);
    atomic_store_explicit(pos, new_pos, memory_order_release);
    atomic_store_explicit(&log->active, 0, memory_order_relaxed);
}

/* Take a side's lock; 0 once held (a dead holder's intent redone), or the
 * lock's error with -ETIMEDOUT turned into -EAGAIN for a timeout of 0. */
static int lock_side(pc_mpqueue *q, bool put_side, int64_t deadline, bool nowait) {
    pc__shmutex *mu = put_side ? &q->put_mu : &q->get_mu;
    int r = pc__shmutex_lock(mu, deadline);
    if (r == -EOWNERDEAD) {
        if (put_side)
            redo(&q->plog, &q->puts, &q->tail, &q->not_empty);
        else
            redo(&q->glog, &q->gets, &q->head, &q->not_full);
        r = 0;
    }
    return r == -ETIMEDOUT && nowait ? -EAGAIN : r;
}

/* --------------------------------------------------------------- waiting */

static bool has_message(const pc_mpqueue *q) {
    /* acquire; pairs with the release in close_queue() */
    return atomic_load_explicit(&q->closed, memory_order_acquire) ||
           atomic_load_explicit(&q->tail, memory_order_relaxed) !=
               atomic_load_explicit(&q->head, memory_order_relaxed);
}

static bool has_room(const pc_mpqueue *q, uint64_t rec) {
    if (atomic_load_explicit(&q->closed, memory_order_relaxed))
        return true;
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    if (tail + rec - head > q->cap)
        return false;
    return q->maxsize <= 0 ||
           (int64_t)(atomic_load_explicit(&q->puts, memory_order_relaxed) -
                     atomic_load_explicit(&q->gets, memory_order_relaxed)) < q->maxsize;
}

/* Wait until cond(q, arg) holds: a spin, then the eventcount.  0 when it
 * held (or may: the caller re-checks under its lock); -ETIMEDOUT;
 * -ECANCELED. */
static int wait_for(pc_mpqueue *q, pc__shec *ec, bool (*cond)(const pc_mpqueue *, uint64_t),
                    uint64_t arg, int64_t deadline) {
    for (int i = pc__spin_limit() * SPIN_FACTOR; i > 0; i--) {
        if (cond(q, arg))
            return 0;
        pc__cpu_relax();
    }
    for (;;) {
        uint32_t t = pc__shec_prepare(ec);
        if (cond(q, arg))
            return 0;
        if (pc__mono_ns() >= deadline)
            return -ETIMEDOUT;
        int r = pc__shec_wait(ec, t, deadline);
        if (r == -ECANCELED || (r < 0 && !cond(q, arg)))
            return r; /* cancelled wins; a timeout that raced the condition does not */
    }
}

static bool has_message_arg(const pc_mpqueue *q, uint64_t unused) {
    (void)unused;
    return has_message(q);
}

/* ------------------------------------------------------------------ put */

int pc_mpqueue_put(pc_mpqueue *q, const void *buf, size_t len, double timeout) {
    int64_t deadline;
    if (!valid(q) || (!buf && len) || pc__deadline(timeout, &deadline) < 0)
        return -EINVAL;
    if (len > q->cap - REC_HDR)
        return -EMSGSIZE;
    bool nowait = timeout == 0;
    uint64_t rec = rec_size(len);
    for (;;) {
        int r = lock_side(q, true, deadline, nowait);
        if (r < 0)
            return r;
        if (atomic_load_explicit(&q->closed, memory_order_relaxed)) {
            pc__shmutex_unlock(&q->put_mu);
            return -EPIPE;
        }
        uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
        uint64_t puts = atomic_load_explicit(&q->puts, memory_order_relaxed);
        /* acquire; pairs with the release of head in publish(): the getter's
         * reads of the space we reuse are done */
        if (tail + rec - q->head_seen > q->cap)
            q->head_seen = atomic_load_explicit(&q->head, memory_order_acquire);
        if (q->maxsize > 0 && (int64_t)(puts - q->gets_seen) >= q->maxsize)
            q->gets_seen = atomic_load_explicit(&q->gets, memory_order_relaxed);
        if (tail + rec - q->head_seen <= q->cap &&
            (q->maxsize <= 0 || (int64_t)(puts - q->gets_seen) < q->maxsize)) {
            uint64_t hdr = len;
            memcpy(q->ring + (tail & q->mask), &hdr, sizeof hdr);
            if (pc__mpqueue_hook) {
                copy_in(q, tail + REC_HDR, buf, len / 2);
                pc__mpqueue_hook(PC__MPQ_PUT_COPY);
                copy_in(q, tail + REC_HDR + len / 2, (const char *)buf + len / 2, len - len / 2);
            } else {
                copy_in(q, tail + REC_HDR, buf, len);
            }
            publish(&q->plog, &q->puts, puts + 1, &q->tail, tail + rec, PC__MPQ_PUT_COMMIT);
            pc__shmutex_unlock(&q->put_mu);
            pc__shec_notify(&q->not_empty);
            return 0;
        }
        pc__shmutex_unlock(&q->put_mu);
        if (nowait)
            return -EAGAIN;
        r = wait_for(q, &q->not_full, has_room, rec, deadline);
        if (r < 0)
            return r;
    }
}

/* ------------------------------------------------------------------ get */

/* Take the head message into buf, or (alloc) into a new buffer.  The
 * common body of pc_mpqueue_get and pc_mpqueue_get_alloc. */
static int get(pc_mpqueue *q, void *buf, size_t cap, void **out, size_t *len, double timeout) {
    int64_t deadline;
    if (pc__deadline(timeout, &deadline) < 0)
        return -EINVAL;
    bool nowait = timeout == 0;
    for (;;) {
        int r = lock_side(q, false, deadline, nowait);
        if (r < 0)
            return r;
        /* acquire; pairs with the release in close_queue(): read before
         * tail, so a closed queue found empty is empty for good */
        bool closed = atomic_load_explicit(&q->closed, memory_order_acquire);
        uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
        if (q->tail_seen == head) /* acquire; pairs with the release of tail in publish() */
            q->tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire);
        if (q->tail_seen != head) {
            uint64_t n = rec_len(q, head);
            void *dst = buf;
            if (out) {
                dst = pc__malloc(n ? n : 1);
                if (!dst) {
                    pc__shmutex_unlock(&q->get_mu);
                    return -ENOMEM;
                }
            } else if (n > cap) {
                pc__shmutex_unlock(&q->get_mu);
                *len = n;
                return -EMSGSIZE;
            }
            if (pc__mpqueue_hook) {
                copy_out(q, head + REC_HDR, dst, n / 2);
                pc__mpqueue_hook(PC__MPQ_GET_COPY);
                copy_out(q, head + REC_HDR + n / 2, (char *)dst + n / 2, n - n / 2);
            } else {
                copy_out(q, head + REC_HDR, dst, n);
            }
            uint64_t gets = atomic_load_explicit(&q->gets, memory_order_relaxed);
            publish(&q->glog, &q->gets, gets + 1, &q->head, head + rec_size(n), PC__MPQ_GET_COMMIT);
            pc__shmutex_unlock(&q->get_mu);
            pc__shec_notify(&q->not_full);
            if (out)
                *out = dst;
            *len = n;
            return 0;
        }
        pc__shmutex_unlock(&q->get_mu);
        if (closed)
            return -EPIPE;
        if (nowait)
            return -EAGAIN;
        r = wait_for(q, &q->not_empty, has_message_arg, 0, deadline);
        if (r < 0)
            return r;
    }
}

int pc_mpqueue_get(pc_mpqueue *q, void *buf, size_t cap, size_t *len, double timeout) {
    if (!valid(q) || !len || (!buf && cap))
        return -EINVAL;
    return get(q, buf, cap, NULL, len, timeout);
}

int pc_mpqueue_get_alloc(pc_mpqueue *q, void **buf, size_t *len, double timeout) {
    if (!valid(q) || !buf || !len)
        return -EINVAL;
    return get(q, NULL, 0, buf, len, timeout);
}

void pc_mpqueue_buf_free(void *buf) {
    pc__free(buf);
}

/* ------------------------------------------------------- the rest */

int pc_mpqueue_new(pc_mpqueue **out, const pc_mpqueue_opts *opts) {
    pc_mpqueue_opts o = opts ? *opts : (pc_mpqueue_opts){0};
    if (!out || o.kind > PC_MPQUEUE_SIMPLE || o.capacity > MAX_CAP)
        return -EINVAL;
    uint64_t cap = MIN_CAP, want = o.capacity ? o.capacity : PC_MPQUEUE_DEFAULT_CAPACITY;
    while (cap < want)
        cap <<= 1;
    pc_mpqueue *q;
    int r = pc_shared_alloc(sizeof *q + cap, (void **)&q);
    if (r < 0)
        return r;
    q->kind = (uint32_t)o.kind;
    q->maxsize = o.kind == PC_MPQUEUE_SIMPLE || o.maxsize < 0 ? 0 : o.maxsize;
    q->cap = cap;
    q->mask = cap - 1;
    q->magic = MPQ_MAGIC; /* the block is zeroed: every position and lock starts at 0 */
    *out = q;
    return 0;
}

int pc_mpqueue_free(pc_mpqueue *q) {
    if (!valid(q) || pc_shared_size(q) == 0)
        return -EINVAL;
    q->magic = 0;
    return pc_shared_free(q);
}

int pc_mpqueue_ref(const pc_mpqueue *q, pc_shared_ref *out) {
    if (!valid(q) || !out)
        return -EINVAL;
    return pc_shared_ref_of(q, out);
}

int pc_mpqueue_from_ref(pc_shared_ref ref, pc_mpqueue **out) {
    if (!out)
        return -EINVAL;
    void *p;
    int r = pc_shared_deref(ref, &p);
    if (r < 0)
        return r;
    pc_mpqueue *q = p;
    if (pc_shared_size(q) < sizeof *q || !valid(q) || pc_shared_size(q) < sizeof *q + q->cap)
        return -EINVAL;
    *out = q;
    return 0;
}

long pc_mpqueue_qsize(const pc_mpqueue *q) {
    if (!valid(q))
        return -EINVAL;
    uint64_t gets = atomic_load_explicit(&q->gets, memory_order_relaxed);
    uint64_t puts = atomic_load_explicit(&q->puts, memory_order_relaxed);
    return puts > gets ? (long)(puts - gets) : 0;
}

bool pc_mpqueue_empty(const pc_mpqueue *q) {
    return !valid(q) || pc_mpqueue_qsize(q) == 0;
}

bool pc_mpqueue_full(const pc_mpqueue *q) {
    return valid(q) && q->maxsize > 0 && pc_mpqueue_qsize(q) >= q->maxsize;
}

long pc_mpqueue_maxsize(const pc_mpqueue *q) {
    return valid(q) ? (long)q->maxsize : -EINVAL;
}

size_t pc_mpqueue_capacity(const pc_mpqueue *q) {
    return valid(q) ? (size_t)q->cap : 0;
}

int pc_mpqueue_close(pc_mpqueue *q) {
    if (!valid(q))
        return -EINVAL;
    int r = lock_side(q, true, PC__NO_DEADLINE, false);
    if (r < 0)
        return r;
    /* release; pairs with the acquire in get(): every put before us is
     * published */
    atomic_store_explicit(&q->closed, 1, memory_order_release);
    pc__shmutex_unlock(&q->put_mu);
    pc__shec_notify(&q->not_empty);
    pc__shec_notify(&q->not_full);
    return 0;
}

bool pc_mpqueue_is_closed(const pc_mpqueue *q) {
    return valid(q) && atomic_load_explicit(&q->closed, memory_order_relaxed);
}

int pc_mpqueue_task_done(pc_mpqueue *q) {
    if (!valid(q))
        return -EINVAL;
    if (q->kind != PC_MPQUEUE_JOINABLE)
        return -ENOTSUP;
    /* done first, then puts (see the design note).  acquire; pairs with
     * the release of the CAS below */
    uint64_t d = atomic_load_explicit(&q->done, memory_order_acquire), puts;
    for (;;) {
        /* acquire; pairs with the release of puts in publish() */
        puts = atomic_load_explicit(&q->puts, memory_order_acquire);
        if (d >= puts)
            return -EOVERFLOW;
        /* release; pairs with the acquire loads of done here and in join */
        if (atomic_compare_exchange_weak_explicit(&q->done, &d, d + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    if (d + 1 >= puts)
        pc__shec_notify(&q->all_done);
    return 0;
}

static bool all_done(const pc_mpqueue *q, uint64_t unused) {
    (void)unused;
    /* done first, then puts; acquire, pairs with the releases in
     * task_done and publish() */
    uint64_t d = atomic_load_explicit(&q->done, memory_order_acquire);
    return d >= atomic_load_explicit(&q->puts, memory_order_acquire);
}

int pc_mpqueue_join(pc_mpqueue *q, double timeout) {
    int64_t deadline;
    if (!valid(q) || pc__deadline(timeout, &deadline) < 0)
        return -EINVAL;
    if (q->kind != PC_MPQUEUE_JOINABLE)
        return -ENOTSUP;
    if (all_done(q, 0))
        return 0;
    if (timeout == 0)
        return -EAGAIN;
    for (;;) {
        uint32_t t = pc__shec_prepare(&q->all_done);
        if (all_done(q, 0))
            return 0;
        if (pc__mono_ns() >= deadline)
            return -ETIMEDOUT;
        int r = pc__shec_wait(&q->all_done, t, deadline);
        if (r == -ECANCELED)
            return r;
        if (r < 0)
            return all_done(q, 0) ? 0 : r;
    }
}
