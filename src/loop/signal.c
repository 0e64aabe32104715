/*
 * Signal handlers run by the loop: asyncio's loop.add_signal_handler,
 * gevent.signal_handler.
 *
 * A process-wide sigaction handler (on_signal) does only what is
 * async-signal-safe: for every slot whose mask holds the signal, it sets
 * the signal's bit in the slot's `pending` word (an atomic OR) and writes
 * the slot's eventfd.  The loop that owns the slot takes the pending bits
 * at its next turn (pc__signals_dispatch, one relaxed load a turn) and
 * runs the handlers there, as ordinary callbacks on its own thread; the
 * eventfd only wakes it when it sleeps in epoll.  Several deliveries of a
 * signal before the loop's turn coalesce into one call, as with the
 * kernel's own standard signals.
 *
 * Slots.  A fixed table of PC__SIG_SLOTS slots in static storage; a loop
 * with at least one handler holds one.  The handler reads nothing else, so
 * it never touches freed memory, whatever loop is closed meanwhile.  A
 * slot's eventfd is made on its first use and never closed: a handler that
 * read a mask just before a loop let the slot go writes to a live eventfd
 * (a spurious wake-up for the next owner, who ignores bits it has no
 * handler for), never to a closed descriptor that a reused number now
 * names.
 *
 * Invariants, under sig_mu: bit s of slot i's mask <=> slot i's loop has
 * a handler for s; sig_refs[s] = the number of masks holding s; pyconc's
 * disposition is installed for s <=> sig_refs[s] > 0, and sig_old[s]
 * keeps the one it replaced.  Installing sets the mask before sigaction
 * (a signal that arrives meanwhile meets the old disposition); the last
 * removal restores the old disposition before clearing the mask (a signal
 * that arrives meanwhile still finds the loop).
 *
 * Lock order: sig_mu is a leaf (taken by the loop's thread only in
 * add/remove/gone, never by the handler).
 *
 * Rejected: signalfd.  It needs the signal blocked in every thread, which a
 * library cannot guarantee in a program whose other threads it did not
 * start; a blocked-nowhere signal would take its default action.  The
 * handler-plus-wake-fd design is what Python's set_wakeup_fd and libuv do.
 * Rejected too: the loop's own wake eventfd as the target: the handler
 * would need the loop's memory, which a concurrent close frees.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../internal/alloc.h"
#include "loop-internal.h"

#define PC__SIG_MAX 64   /* signals 1..64: one bit each in a 64-bit word */
#define PC__SIG_SLOTS 64 /* loops that handle signals at the same time */

_Static_assert(ATOMIC_LONG_LOCK_FREE == 2 && ATOMIC_LLONG_LOCK_FREE == 2 &&
                   ATOMIC_INT_LOCK_FREE == 2,
               "the signal handler needs lock-free atomics");

_Alignas(8) char pc__loop_signal_tag; /* even: fd events have odd data (loop.c) */

typedef struct sig_slot {
    _Atomic uint64_t mask;    /* bit s-1: its loop handles s; written under sig_mu */
    _Atomic uint64_t pending; /* OR-ed by on_signal, exchanged to 0 by the loop */
    _Atomic int fd;           /* eventfd; written once under sig_mu before any mask bit */
    bool made;                /* guarded by sig_mu: fd exists */
    bool inherited;           /* guarded by sig_mu: taken before a fork, in the parent */
    pc_loop *loop;            /* guarded by sig_mu: the owner; NULL when free */
} sig_slot;

struct pc__loop_signals {
    int slot;  /* owner (changed under sig_mu): index in slots, -1 when none */
    int count; /* owner: handlers installed */
    struct {
        pc_callback cb;
        void *arg;
    } h[PC__SIG_MAX + 1]; /* owner */
};

static sig_slot slots[PC__SIG_SLOTS];
static pthread_mutex_t sig_mu = PTHREAD_MUTEX_INITIALIZER;
static int sig_refs[PC__SIG_MAX + 1];                /* guarded by sig_mu */
static struct sigaction sig_old[PC__SIG_MAX + 1];    /* guarded by sig_mu */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT; /* installs the fork handlers */

static uint64_t bit_of(int signum) {
    return (uint64_t)1 << (signum - 1);
}

/* The process-wide handler: async-signal-safe (atomics and write(2)). */
static void on_signal(int signum) {
    int saved = errno;
    uint64_t bit = bit_of(signum);
    for (int i = 0; i < PC__SIG_SLOTS; i++) {
        /* seq_cst: ordered with the mask updates of add/remove */
        if (!(atomic_load(&slots[i].mask) & bit))
            continue;
        /* seq_cst; pairs with the exchange in pc__signals_dispatch_slow() */
        atomic_fetch_or(&slots[i].pending, bit);
        uint64_t one = 1;
        ssize_t r = write(atomic_load(&slots[i].fd), &one, sizeof one);
        (void)r; /* EAGAIN: the counter is full, the loop wakes anyway */
    }
    errno = saved;
}

/* Signals a loop cannot take: those that cannot be caught, and faults,
 * whose instruction would run again (and fault again) before any loop
 * turn. */
static bool signum_ok(int signum) {
    if (signum < 1 || signum > PC__SIG_MAX)
        return false;
    switch (signum) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL: return false;
    default: return true;
    }
}

/* ---------------------------------------------------------------- fork */

static void fork_prepare(void) {
    pthread_mutex_lock(&sig_mu);
}
static void fork_parent(void) {
    pthread_mutex_unlock(&sig_mu);
}

/* The child has only the forking thread: the slots of other threads' loops
 * are let go (those loops can never run again), restoring the old
 * disposition of each signal no loop handles any more.  The forking
 * thread's loop keeps its slot, marked inherited. */
static void fork_child(void) {
    pthread_mutex_init(&sig_mu, NULL);
    for (int i = 0; i < PC__SIG_SLOTS; i++) {
        sig_slot *s = &slots[i];
        if (s->loop && pc__loop_on_owner(s->loop))
            s->inherited = true;
        if (!s->loop || pc__loop_on_owner(s->loop))
            continue;
        uint64_t mask = atomic_load(&s->mask);
        for (int sig = 1; sig <= PC__SIG_MAX; sig++) {
            if (!(mask & bit_of(sig)))
                continue;
            if (--sig_refs[sig] == 0)
                sigaction(sig, &sig_old[sig], NULL);
        }
        atomic_store(&s->mask, 0);
        s->loop = NULL;
    }
}

static void install_fork_handlers(void) {
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---------------------------------------------------------------- slots */

/* Give the loop a slot (sig_mu held). */
static int slot_take(pc_loop *l) {
    int i = 0;
    while (i < PC__SIG_SLOTS && slots[i].loop)
        i++;
    if (i == PC__SIG_SLOTS)
        return -ENOMEM;
    sig_slot *s = &slots[i];
    if (!s->made) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
            return -errno;
        atomic_store(&s->fd, fd);
        s->made = true;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &pc__loop_signal_tag};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, atomic_load(&s->fd), &ev) < 0)
        return -errno;
    atomic_store(&s->pending, 0); /* a late handler of the last owner */
    s->loop = l;
    l->sigs->slot = i;
    return 0;
}

/* Let the loop's slot go (sig_mu held, its mask empty). */
static void slot_give_back(pc_loop *l) {
    sig_slot *s = &slots[l->sigs->slot];
    int fd = atomic_load(&s->fd);
    /* a loop inherited across fork shares its epoll set with the parent's
     * loop: removing the fd there would deafen the parent's loop */
    if (!s->inherited)
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    s->inherited = false;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    s->loop = NULL;
    l->sigs->slot = -1;
}

/* Remove the handler of `signum` (sig_mu held, the handler installed). */
static void remove_locked(pc_loop *l, int signum) {
    struct pc__loop_signals *ls = l->sigs;
    sig_slot *s = &slots[ls->slot];
    if (--sig_refs[signum] == 0)
        sigaction(signum, &sig_old[signum], NULL);
    atomic_fetch_and(&s->mask, ~bit_of(signum));
    atomic_fetch_and(&s->pending, ~bit_of(signum)); /* undelivered: dropped with it */
    ls->h[signum].cb = NULL;
    ls->h[signum].arg = NULL;
    if (--ls->count == 0)
        slot_give_back(l);
}

/* ------------------------------------------------------------------ API */

int pc_loop_add_signal_handler(pc_loop *l, int signum, pc_callback cb, void *arg) {
    if (!l || !cb || !signum_ok(signum))
        return -EINVAL;
    if (!pc__loop_on_owner(l))
        return -EPERM;
    if (!l->sigs) {
        l->sigs = pc__calloc(1, sizeof *l->sigs);
        if (!l->sigs)
            return -ENOMEM;
        l->sigs->slot = -1;
    }
    struct pc__loop_signals *ls = l->sigs;
    if (ls->h[signum].cb) { /* replace: the disposition stays ours */
        ls->h[signum].cb = cb;
        ls->h[signum].arg = arg;
        return 0;
    }
    pthread_once(&fork_once, install_fork_handlers);
    pthread_mutex_lock(&sig_mu);
    int r = ls->slot < 0 ? slot_take(l) : 0;
    if (r) {
        pthread_mutex_unlock(&sig_mu);
        return r;
    }
    sig_slot *s = &slots[ls->slot];
    ls->h[signum].cb = cb;
    ls->h[signum].arg = arg;
    ls->count++;
    atomic_fetch_or(&s->mask, bit_of(signum));
    if (sig_refs[signum] == 0) {
        struct sigaction act;
        memset(&act, 0, sizeof act);
        act.sa_handler = on_signal;
        act.sa_flags = SA_RESTART;
        sigemptyset(&act.sa_mask);
        if (sigaction(signum, &act, &sig_old[signum]) < 0) {
            r = -errno; /* EINVAL: a signal the C library keeps for itself */
            atomic_fetch_and(&s->mask, ~bit_of(signum));
            ls->h[signum].cb = NULL;
            ls->h[signum].arg = NULL;
            if (--ls->count == 0)
                slot_give_back(l);
            pthread_mutex_unlock(&sig_mu);
            return r;
        }
    }
    sig_refs[signum]++;
    pthread_mutex_unlock(&sig_mu);
    return 0;
}

int pc_loop_remove_signal_handler(pc_loop *l, int signum) {
    if (!l || signum < 1 || signum > PC__SIG_MAX)
        return -EINVAL;
    if (!pc__loop_on_owner(l))
        return -EPERM;
    if (!l->sigs || !l->sigs->h[signum].cb)
        return -ENOENT;
    pthread_mutex_lock(&sig_mu);
    remove_locked(l, signum);
    pthread_mutex_unlock(&sig_mu);
    return 0;
}

/* ------------------------------------------------------------- the loop */

bool pc__signals_armed_slow(const pc_loop *l) {
    return l->sigs->count > 0;
}

bool pc__signals_pending_slow(const pc_loop *l) {
    /* relaxed: a first look, as in pc__signals_dispatch_slow() */
    return l->sigs->slot >= 0 &&
           atomic_load_explicit(&slots[l->sigs->slot].pending, memory_order_relaxed) != 0;
}

void pc__signals_dispatch_slow(pc_loop *l) {
    struct pc__loop_signals *ls = l->sigs;
    if (ls->slot < 0)
        return;
    sig_slot *s = &slots[ls->slot];
    /* relaxed: a first look, so that a quiet turn costs no locked
     * instruction; a bit it misses is seen next turn (the eventfd wakes
     * the loop for it) */
    if (!atomic_load_explicit(&s->pending, memory_order_relaxed))
        return;
    /* seq_cst; pairs with the fetch_or in on_signal() */
    uint64_t bits = atomic_exchange(&s->pending, 0);
    for (int sig = 1; sig <= PC__SIG_MAX && bits; sig++) {
        if (!(bits & bit_of(sig)))
            continue;
        bits &= ~bit_of(sig);
        /* looked up at each call: a handler may remove or replace others */
        if (ls->h[sig].cb) {
            pc__watch_tick(l, NULL);
            ls->h[sig].cb(ls->h[sig].arg);
        }
    }
}

void pc__signals_drain(pc_loop *l) {
    if (!l->sigs || l->sigs->slot < 0)
        return;
    uint64_t v;
    ssize_t r = read(atomic_load(&slots[l->sigs->slot].fd), &v, sizeof v);
    (void)r;
}

void pc__signals_loop_gone(pc_loop *l) {
    struct pc__loop_signals *ls = l->sigs;
    if (!ls)
        return;
    if (ls->count) {
        pthread_mutex_lock(&sig_mu);
        for (int sig = 1; sig <= PC__SIG_MAX; sig++)
            if (ls->h[sig].cb)
                remove_locked(l, sig);
        pthread_mutex_unlock(&sig_mu);
    }
    l->sigs = NULL;
    pc__free(ls);
}
