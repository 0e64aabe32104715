/*
 * Waiting for fds: pc_wait_fd and the registration cache under
 * cooperative IO (src/internal/fdreg.h).
 *
 * Each loop keeps a table indexed by fd (`fdents`, owner only).  An entry
 * holds the coroutine parked for reading and the one parked for writing
 * (so a reader and a writer share one fd), and the fd's registration in
 * the loop's epoll: made once, edge-triggered, for EPOLLIN | EPOLLOUT |
 * EPOLLRDHUP | EPOLLPRI, with the fd number in the event (odd data, see
 * sleep_in_epoll()).  A plain epoll server registers each fd once too; the
 * earlier design (EPOLLONESHOT, added for each wait and removed after)
 * cost two epoll_ctl calls per wait.
 *
 * `ready` remembers what events said since the fd was last seen idle, so
 * no edge is lost when it comes while nobody waits (between an EAGAIN and
 * the park, or while the coroutine runs).  Invariant I1: for a trusted
 * registration (below), a direction whose bits are clear in `ready` was
 * seen idle (EAGAIN; a short transfer on a stream) after the last event
 * that set them, so whatever readiness came since has an event queued in
 * the kernel, which the loop will dispatch.  Hence a coroutine that saw
 * EAGAIN clears the bits and parks with no system call, and pc_io calls
 * skip the doomed first try while the bits are clear (pc__fd_known_idle).
 * An event only ever sets bits; a spurious one costs a retry.
 *
 * Closed fds and reused numbers.  epoll drops a registration silently
 * when the file is closed, and the number comes back for the next file.
 * A registration is trusted only for fds that pc_io made and still owns:
 * a process-wide table (`gens`, indexed by fd) holds a generation that
 * pc__fd_made (socket, accept, pipe) and pc__fd_closing (pc_io_close)
 * bump, with an "owned" bit set by the first and cleared by the second.
 * An entry records the generation it registered under; a registration is
 * trusted when it is owned and the generations match.  Otherwise (an fd
 * made elsewhere, or the number now names another file) each wait
 * re-registers: EPOLL_CTL_MOD (ADD on ENOENT), which also reports the
 * current readiness as an event, so one system call keeps it correct
 * whatever happened to the number.  The contract this needs, stated in
 * pyconc/io.h: an fd made by pc_io is closed with pc_io_close.  One closed
 * behind pyconc's back whose number a foreign open() takes next, while the
 * generation still says "owned", would be trusted wrongly and its wait
 * could hang; nothing cheap can detect that.
 *
 * The public pc_wait_fd keeps level semantics (it may be called without a
 * prior EAGAIN): it always re-registers (one epoll_ctl, not two).
 *
 * Rejected: the registration keyed on (fd, inode) checked by fstat per
 * wait (a system call per wait, the cost this removes); EPOLLONESHOT
 * re-armed with MOD per wait (one system call per wait, where a trusted
 * edge-triggered registration needs none).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "../internal/alloc.h"
#include "../internal/blocking.h"
#include "../internal/fdreg.h"
#include "loop-internal.h"

/* ------------------------------------------------------ the generations */

/* gens value: generation << 2 | STREAM | OWNED.  Two levels of chunks
 * made on first use and kept for the process's life, so lookups need no
 * lock; fds past the table count as made elsewhere (re-registered per
 * wait).  The generation wraps after 2^30 makes and closes of one number;
 * an entry left untouched through all of them would be trusted wrongly:
 * accepted. */
enum { GEN_OWNED = 1, GEN_STREAM = 2, GEN_STEP = 4 };
#define CHUNK_BITS 12
#define CHUNK (1 << CHUNK_BITS)
#define CHUNKS 256 /* fds below 1 Mi */

static _Atomic(_Atomic uint32_t *) gens[CHUNKS];

static _Atomic uint32_t *gen_slot(int fd, bool make) {
    if (fd < 0 || fd >= CHUNK * CHUNKS)
        return NULL;
    /* acquire; pairs with the release CAS below */
    _Atomic uint32_t *chunk = atomic_load_explicit(&gens[fd >> CHUNK_BITS], memory_order_acquire);
    if (!chunk && make) {
        _Atomic uint32_t *fresh = pc__calloc(CHUNK, sizeof *fresh);
        if (!fresh)
            return NULL;
        /* release: the zeroed chunk is visible before its pointer;
         * acquire on failure: pairs with the winner's release */
        if (atomic_compare_exchange_strong_explicit(&gens[fd >> CHUNK_BITS], &chunk, fresh,
                                                    memory_order_acq_rel, memory_order_acquire))
            chunk = fresh;
        else
            pc__free(fresh);
    }
    return chunk ? &chunk[fd & (CHUNK - 1)] : NULL;
}

static uint32_t gen_of(int fd) {
    _Atomic uint32_t *s = gen_slot(fd, false);
    /* acquire; pairs with the release in gen_bump(): a thread that got the
     * fd number from the one that made it sees the new generation */
    return s ? atomic_load_explicit(s, memory_order_acquire) : 0;
}

static void gen_bump(int fd, uint32_t flags) {
    _Atomic uint32_t *s = gen_slot(fd, flags != 0);
    if (!s)
        return;
    uint32_t v = atomic_load_explicit(s, memory_order_relaxed);
    /* release; pairs with the acquire in gen_of() */
    while (!atomic_compare_exchange_weak_explicit(s, &v, ((v & ~3u) + GEN_STEP) | flags,
                                                  memory_order_release, memory_order_relaxed))
        ;
}

/* --------------------------------------------------------- the entries */

#define RD_BITS (EPOLLIN | EPOLLPRI | EPOLLRDHUP)
#define WR_BITS EPOLLOUT
#define ANY_DIR (EPOLLERR | EPOLLHUP) /* wake and concern both directions */
#define REG_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET)

enum { ENT_REGISTERED = 1 }; /* this number is likely registered in the epoll: MOD first */

static pc__fdent *entry(pc_loop *l, int fd) {
    if (fd < l->nfdents)
        return &l->fdents[fd];
    if (fd >= 1 << 30) /* past the kernel's limit on open files */
        return NULL;
    size_t n = l->nfdents ? (size_t)l->nfdents : 64;
    while (n <= (size_t)fd)
        n *= 2;
    pc__fdent *t = pc__realloc(l->fdents, n * sizeof *t);
    if (!t)
        return NULL;
    memset(t + l->nfdents, 0, (n - (size_t)l->nfdents) * sizeof *t);
    l->fdents = t;
    l->nfdents = (int)n;
    return &t[fd];
}

static bool trusted(const pc__fdent *e, uint32_t gen) {
    return (e->flags & ENT_REGISTERED) && e->gen == gen && (gen & GEN_OWNED);
}

/* The bits that say "maybe ready" for a wait on `events`. */
static uint32_t maybe_bits(int events) {
    uint32_t b = ANY_DIR;
    if (events & RD_BITS)
        b |= RD_BITS;
    if (events & WR_BITS)
        b |= WR_BITS;
    return b;
}

/* (Re-)register fd: MOD when this number may be registered, else ADD,
 * each falling back on the other.  The kernel then queues an event if fd
 * is ready now, so `ready` starts empty (I1 holds). */
static int reregister(pc_loop *l, pc__fdent *e, int fd, uint32_t gen) {
    struct epoll_event ev = {.events = REG_EVENTS, .data.u64 = ((uint64_t)fd << 1) | 1};
    int op = e->flags & ENT_REGISTERED ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, fd, &ev) != 0) {
        int err = errno;
        if (err != (op == EPOLL_CTL_MOD ? ENOENT : EEXIST))
            return -err;
        op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        if (epoll_ctl(l->epfd, op, fd, &ev) != 0)
            return -errno;
    }
    e->flags |= ENT_REGISTERED;
    e->gen = gen;
    e->ready = 0;
    return 0;
}

void pc__fd_event(pc_loop *l, int fd, uint32_t events) {
    if (fd >= l->nfdents)
        return;
    pc__fdent *e = &l->fdents[fd];
    e->ready |= events;
    pc__waiter *r = e->rd && (events & (e->rd_want | ANY_DIR)) ? e->rd : NULL;
    pc__waiter *w = e->wr && (events & (e->wr_want | ANY_DIR)) ? e->wr : NULL;
    /* a waiter on both directions sits in both slots: empty them all
     * before the first wake (after it the waiter may be gone) */
    if (r) {
        r->data = events & (e->rd_want | ANY_DIR);
        if (e->wr == r)
            e->wr = NULL;
        e->rd = NULL;
    }
    if (w && w != r) {
        w->data = events & (e->wr_want | ANY_DIR);
        if (e->rd == w)
            e->rd = NULL;
        e->wr = NULL;
    }
    if (r)
        pc__waiter_wake(r);
    if (w && w != r)
        pc__waiter_wake(w);
}

void pc__fds_free(pc_loop *l) {
    pc__free(l->fdents);
    l->fdents = NULL;
    l->nfdents = 0;
}

/* ------------------------------------------------------------- waiting */

static int wait_fd_thread(int fd, int events, int64_t deadline) {
    for (;;) {
        struct pollfd p = {.fd = fd, .events = (short)events};
        pc_gil *gil = pc__blocking_begin(); /* an attached thread polls without its GIL */
        int n = poll(&p, 1, pc__remaining_ms(deadline));
        pc__blocking_end(gil);
        if (n > 0)
            return p.revents & POLLNVAL ? -EBADF : p.revents;
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

/* Park the calling coroutine on fd.  `seen_idle`: the caller just saw the
 * direction not ready, so a trusted registration needs no system call. */
static int coro_wait(pc_loop *l, int fd, int events, int64_t deadline, bool seen_idle) {
    pc__fdent *e = entry(l, fd);
    if (!e)
        return -ENOMEM;
    bool rd = (events & RD_BITS) || !(events & WR_BITS); /* ERR/HUP only: the read slot */
    bool wr = events & WR_BITS;
    if ((rd && e->rd) || (wr && e->wr))
        return -EBUSY;
    uint32_t gen = gen_of(fd);
    if (seen_idle && trusted(e, gen)) {
        e->ready &= ~maybe_bits(events);
    } else {
        int r = reregister(l, e, fd, gen);
        if (r)
            return r;
    }
    pc__waiter w;
    pc__waiter_init(&w);
    if (rd) {
        e->rd = &w;
        e->rd_want = (uint32_t)events & RD_BITS;
    }
    if (wr) {
        e->wr = &w;
        e->wr_want = WR_BITS;
    }
    l->fd_waits++;
    int r = pc__coro_parker.park(&w, deadline);
    l->fd_waits--;
    e = &l->fdents[fd]; /* the table may have moved meanwhile */
    if (e->rd == &w)
        e->rd = NULL; /* a timeout or a kill: the slot is still ours */
    if (e->wr == &w)
        e->wr = NULL;
    if (r)
        return r;
    return w.result ? w.result : (int)w.data;
}

int pc_wait_fd(int fd, int events, double timeout) {
    if (fd < 0 || timeout != timeout)
        return -EINVAL;
    int64_t deadline = PC__NO_DEADLINE;
    pc__deadline(timeout, &deadline);
    pc_coro *c = pc__tls_coro;
    if (!c)
        return wait_fd_thread(fd, events, deadline);
    return coro_wait(c->loop, fd, events, deadline, false);
}

int pc__fd_wait_io(int fd, int events, int64_t deadline) {
    pc_coro *c = pc__tls_coro;
    if (!c)
        return wait_fd_thread(fd, events, deadline);
    return coro_wait(c->loop, fd, events, deadline, true);
}

bool pc__fd_known_idle(int fd, int events) {
    pc_coro *c = pc__tls_coro;
    if (!c || fd >= c->loop->nfdents)
        return false;
    const pc__fdent *e = &c->loop->fdents[fd];
    return trusted(e, gen_of(fd)) && !(e->ready & maybe_bits(events));
}

void pc__fd_short(int fd, int events) {
    pc_coro *c = pc__tls_coro;
    if (!c || fd >= c->loop->nfdents)
        return;
    pc__fdent *e = &c->loop->fdents[fd];
    uint32_t gen = gen_of(fd);
    if (!(gen & GEN_STREAM) || !trusted(e, gen))
        return;
    /* Only EPOLLIN / EPOLLOUT: an end of stream, an error or urgent data
     * already reported (RDHUP, HUP, ERR, PRI) stays pending with no new
     * event, so those bits keep the fd "maybe ready". */
    e->ready &= ~(uint32_t)(events & RD_BITS ? EPOLLIN : EPOLLOUT);
}

/* ------------------------------------------------------ making, closing */

void pc__fd_made(int fd, int kind) {
    gen_bump(fd, GEN_OWNED | (kind == PC__FD_STREAM ? GEN_STREAM : 0));
}

int pc__fd_kind(int fd) {
    uint32_t g = gen_of(fd);
    if (!(g & GEN_OWNED))
        return -1;
    return g & GEN_STREAM ? PC__FD_STREAM : PC__FD_OTHER;
}

void pc__fd_closing(int fd) {
    gen_bump(fd, 0); /* makes no chunk: an fd never made by pc_io has none to move */
    pc_loop *l = pc__loop_if_any();
    if (!l || fd < 0 || fd >= l->nfdents)
        return;
    pc__fdent *e = &l->fdents[fd];
    pc__waiter *r = e->rd, *w = e->wr;
    e->rd = e->wr = NULL;
    e->ready = 0;
    /* the registration most likely dies with the file: the number's next
     * registration tries ADD first (reregister() falls back on MOD) */
    e->flags &= ~(uint32_t)ENT_REGISTERED;
    if (r) {
        r->result = -EBADF;
        pc__waiter_wake(r);
    }
    if (w && w != r) {
        w->result = -EBADF;
        pc__waiter_wake(w);
    }
}
