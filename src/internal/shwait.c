/*
 * pc__shwait / pc__shwake (shwait.h).
 *
 * Threads: a shared futex (no FUTEX_PRIVATE_FLAG: the kernel keys the word
 * by its page, so waiters and wakers of every process meet), the sleep
 * wrapped in pc__blocking_begin/end for an attached GIL.
 *
 * Coroutines: a coroutine must park only itself, and a waker in another
 * process can only reach a futex.  So a per-process watcher thread sleeps
 * in futex_waitv (Linux 5.16) on the words of the parked coroutines at
 * once, and wakes a coroutine (pc__waiter_wake) when the kernel reports a
 * wake-up on its entry or its word no longer holds the expected value.
 * A parked coroutine costs nothing while it waits: no polling, no turn of
 * its loop until the wake-up.
 *
 * The wait.  A record (shw_rec: a pc__waiter, the word, the expected value)
 * lives on the coroutine's stack.  The coroutine puts it in a free slot of
 * a watcher's table under shw_mu, pokes the watcher, and parks with its
 * deadline.  The watcher completes a record under shw_mu: takes it out of
 * the table (rec->wt = NULL) and wakes it.  The waiter rule of waiting.md
 * holds: a coroutine whose park ends early (timeout, kill) takes shw_mu;
 * still in a table, it takes itself out and reports that; completed, the
 * wake-up won: it awaits it (pc__waiter_await_committed) and reports 0.
 *
 * The watcher.  Under shw_mu it builds its vector from its table (one
 * entry per record, shared: FUTEX2_SIZE_U32 without FUTEX2_PRIVATE) plus
 * its control word `ctl` (private) with the value ctl holds then, marks
 * itself asleep and drops shw_mu: it never holds it across futex_waitv.
 * Every change of its table (a wait added or withdrawn) bumps ctl under
 * shw_mu and, once per sleep, wakes ctl: futex_waitv either finds ctl
 * changed (-EAGAIN) or is woken, and the watcher rebuilds, so a wait added
 * while it sleeps is watched within a round trip.  Back from futex_waitv
 * the watcher takes shw_mu and completes the woken entry's record, then
 * every record whose word differs from its expected value: futex_waitv
 * reports one woken entry even when several were woken at once, and
 * -EAGAIN when some word differed at the call.  A wake-up whose record
 * was withdrawn meanwhile (the entry was stale) is passed on: to another
 * record on that word in the table, else with FUTEX_WAKE(word, 1), so a
 * wake-up of one sleeper is not swallowed by a wait that gave up.
 *
 * What a waker must do: change the word before pc__shwake (every futex
 * protocol does, and the eventcount does).  Two wake-ups landing on one
 * watcher in the same instant are told apart by the words; one whose word
 * changed and changed back before the watcher looked (ABA) could be lost.
 * The eventcount's word is a sequence: it cannot.
 *
 * More than 127 waits.  futex_waitv takes at most 128 entries: ctl and
 * SLOTS = 127 records.  More waits start more watchers (first fit), up to
 * MAX_WATCHERS (8,128 waits); beyond that, or when a watcher cannot start,
 * or without futex_waitv (ENOSYS, or refused by a seccomp filter), a
 * coroutine parks in slices of SLICE_NS and re-reads the word (polling).
 * Rejected: polling for the overflow from the 128th wait on.  Shared
 * objects with hundreds of waiting coroutines (a process queue with a
 * consumer coroutine per connection) are the case this file exists for;
 * a thread per 127 waits is cheap (a small stack, asleep), and keeps each
 * futex_waitv call, whose cost grows with its entries, bounded.  Watchers
 * are never stopped: one idle thread per 127 peak waits.
 *
 * LoopExit.  A loop whose coroutines all wait, with no timer, fd or other
 * pyconc thread that could wake them, ends its run with -EDEADLK (loop.c).
 * A coroutine waiting here can be woken by another process or a thread
 * pyconc does not know, so the loop must not conclude that: a wait
 * without a deadline parks with a keep-alive deadline (KEEPALIVE_S away)
 * and parks again, still watched, when it passes.  One armed timer, no
 * wake-up worth counting.  (A loop-level count of waits on the outside
 * world, as fd waits are counted, would say it directly; that is loop.c's.)
 *
 * Wake-ups are delivered under shw_mu.  The parker's wake only hands the
 * coroutine to its loop (lock-free, maybe an eventfd write), so shw_mu
 * stays a leaf lock; in exchange a record is in a table or its wake-up
 * has landed, never in between, and fork needs no other bookkeeping.
 *
 * Fork.  The child has no watcher.  The prepare handler takes shw_mu (no
 * table changes mid-flight), the child handler empties every table: the
 * records of the forking thread's coroutines (the only ones that live on
 * in the child, coro.h) are woken spuriously (pc__shwait may return 0 for
 * no reason: they re-check and wait again, which starts a watcher), the
 * others are dropped (their threads are gone, their loops never run).
 * Watchers restart lazily at the next wait.
 *
 * Lock order: shw_mu alone (a leaf; under it: the parker's wake,
 * FUTEX_WAKE, pthread_create).
 *
 * Memory order.  The tables, rec->wt and each watcher's flags are guarded
 * by shw_mu (a pc__guard: acquire / release).  ctl is only written under
 * shw_mu, and the kernel reads it in futex_waitv: the futex's own ordering
 * (queue, then compare; store, then wake) makes a bump after the watcher's
 * snapshot either seen by the compare or followed by a wake that finds it
 * queued.  The watcher's loads of the words are relaxed: they only decide
 * whom to wake; a woken coroutine re-reads its condition with acquire.
 * The waiter's state pairs as the coroutine parker says (coro.c).
 */
#include "shwait.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc.h"
#include "blocking.h"
#include "clock.h"
#include "guard.h"
#include "waiter.h"

#define KEEPALIVE_NS ((int64_t)KEEPALIVE_S * 1000000000)

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

enum {
    SLICE_NS = 1000000,
    KEEPALIVE_S = 3600,
    VEC_MAX = 128,       /* FUTEX_WAITV_MAX */
    SLOTS = VEC_MAX - 1, /* records per watcher: entry 0 is ctl */
    MAX_WATCHERS = 64,
    WATCHER_STACK = 256 * 1024,
    SIZE_U32 = 2,  /* FUTEX2_SIZE_U32 */
    PRIVATE = 128, /* FUTEX2_PRIVATE */
};

/* struct futex_waitv, spelled out: older headers lack it. */
typedef struct shw_waitv {
    uint64_t val;
    uint64_t uaddr;
    uint32_t flags;
    uint32_t reserved;
} shw_waitv;

typedef struct watcher watcher;

typedef struct shw_rec {
    pc__waiter w;
    _Atomic uint32_t *word; /* fixed */
    uint32_t expected;      /* fixed */
    pthread_t thread;       /* fixed: whose loop runs the coroutine */
    watcher *wt;            /* guarded by shw_mu: NULL once completed or withdrawn */
    int slot;               /* guarded by shw_mu: valid while wt */
} shw_rec;

struct watcher {
    shw_rec *slot[SLOTS]; /* guarded by shw_mu */
    uint32_t gen[SLOTS];  /* guarded by shw_mu: bumped at each change of slot[i] */
    int used;             /* guarded by shw_mu */
    bool up;              /* guarded by shw_mu: its thread runs */
    bool asleep;          /* guarded by shw_mu: between its snapshot and its return */
    bool poked;           /* guarded by shw_mu: ctl was woken during this sleep */
    _Atomic uint32_t ctl; /* written under shw_mu; read by futex_waitv */
};

static pc__guard shw_mu;
static watcher *watchers[MAX_WATCHERS]; /* guarded by shw_mu; never freed */
static int nwatchers;                   /* guarded by shw_mu */
static int waitv_state;                 /* guarded by shw_mu: 0 unknown, 1 works, -1 not */
static _Atomic bool force_poll;         /* tests; relaxed: read once per wait */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* ------------------------------------------------------------ threads */

static int thread_wait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline) {
    struct timespec ts, *tsp = NULL;
    if (deadline != PC__NO_DEADLINE) {
        ts = pc__ns_to_timespec(deadline > 0 ? deadline : 1);
        tsp = &ts;
    }
    pc_gil *g = pc__blocking_begin();
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expected, tsp, NULL,
                     FUTEX_BITSET_MATCH_ANY);
    int e = errno;
    pc__blocking_end(g);
    return r == -1 && e == ETIMEDOUT ? -ETIMEDOUT : 0;
}

/* ------------------------------------------------- coroutines: polling */

static int poll_wait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline) {
    while (atomic_load_explicit(word, memory_order_acquire) == expected) {
        int64_t now = pc__mono_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        int64_t until = deadline - now > SLICE_NS ? now + SLICE_NS : deadline;
        pc__waiter w;
        pc__waiter_init(&w);
        int r = w.parker->park(&w, until); /* nobody wakes it: a sleep */
        if (r == -ECANCELED)
            return r;
    }
    return 0;
}

/* ------------------------------------------------------------ watcher */

static void wake_word(_Atomic uint32_t *word, int n) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* Take slot k's record out of the table (shw_mu held). */
static shw_rec *slot_clear(watcher *wt, int k) {
    shw_rec *r = wt->slot[k];
    wt->slot[k] = NULL;
    wt->gen[k]++;
    wt->used--;
    r->wt = NULL;
    return r;
}

/* Complete slot k: out of the table, woken (shw_mu held).  After the wake
 * begins the record may die. */
static void complete(watcher *wt, int k) {
    pc__waiter_wake(&slot_clear(wt, k)->w);
}

/* Bump ctl so that the watcher rebuilds; returns the watcher if its ctl
 * must be woken after shw_mu is dropped (shw_mu held). */
static watcher *poke(watcher *wt) {
    /* relaxed: under shw_mu; the kernel's futex ordering does the rest */
    atomic_fetch_add_explicit(&wt->ctl, 1, memory_order_relaxed);
    if (!wt->asleep || wt->poked)
        return NULL;
    wt->poked = true;
    return wt;
}

static void poke_wake(watcher *wt) {
    if (wt)
        pc__futex_wake(&wt->ctl, 1); /* watchers are never freed */
}

/* Entry e came back woken; it stood for slot k at generation g. */
static void entry_woken(watcher *wt, int k, uint32_t g, _Atomic uint32_t *word) {
    if (wt->slot[k] && wt->gen[k] == g) {
        complete(wt, k);
        return;
    }
    /* Its wait was withdrawn: pass the wake-up on. */
    for (int j = 0; j < SLOTS; j++) {
        if (wt->slot[j] && wt->slot[j]->word == word) {
            complete(wt, j);
            return;
        }
    }
    wake_word(word, 1);
}

static void *watcher_main(void *arg) {
    watcher *wt = arg;
    shw_waitv v[VEC_MAX];
    int idx[VEC_MAX]; /* by entry; entry 0 is ctl */
    uint32_t gen[VEC_MAX];
    pc__guard_lock(&shw_mu);
    for (;;) {
        /* ctl is entry 0.  When several entries are woken before the call
         * returns, futex_waitv reports only the highest index: a word's
         * wake-up that races a poke of ctl must be the one reported (ctl's
         * change is seen by its value).  Wake-ups of two words landing in
         * one return still report one; the others are found by the scan
         * below only if their word changed (every pyconc waker changes it
         * before waking). */
        /* relaxed: under shw_mu, where every bump is made */
        uint32_t seen = atomic_load_explicit(&wt->ctl, memory_order_relaxed);
        v[0] = (shw_waitv){seen, (uintptr_t)&wt->ctl, SIZE_U32 | PRIVATE, 0};
        int n = 1;
        for (int k = 0; k < SLOTS; k++) {
            shw_rec *r = wt->slot[k];
            if (!r)
                continue;
            v[n] = (shw_waitv){r->expected, (uintptr_t)r->word, SIZE_U32, 0};
            idx[n] = k;
            gen[n] = wt->gen[k];
            n++;
        }
        wt->asleep = true;
        wt->poked = false;
        pc__guard_unlock(&shw_mu);
        long r = syscall(SYS_futex_waitv, v, n, 0, NULL, 0);
        int e = r < 0 ? errno : 0;
        pc__guard_lock(&shw_mu);
        wt->asleep = false;
        if (r >= 1 && r < n)
            entry_woken(wt, idx[r], gen[r], (_Atomic uint32_t *)(uintptr_t)v[r].uaddr);
        /* relaxed: as above */
        bool changed = atomic_load_explicit(&wt->ctl, memory_order_relaxed) != seen;
        if (r < 0 && e != EAGAIN && e != EINTR && !(e == EFAULT && changed)) {
            /* EFAULT with the table unchanged: a wait on a word that is no
             * longer mapped (its caller's bug).  Anything else (ENOMEM)
             * would come back at every call: later waits poll.  Either way
             * wake them all; each re-checks its condition. */
            if (e != EFAULT)
                waitv_state = -1;
            for (int k = 0; k < SLOTS; k++)
                if (wt->slot[k])
                    complete(wt, k);
            continue;
        }
        for (int k = 0; k < SLOTS; k++) {
            shw_rec *s = wt->slot[k];
            /* relaxed: only whom to wake; the coroutine re-reads with acquire */
            if (s && atomic_load_explicit(s->word, memory_order_relaxed) != s->expected)
                complete(wt, k);
        }
    }
    return NULL;
}

static int watcher_start(watcher *wt) {
    pthread_attr_t attr;
    sigset_t all, old;
    if (pthread_attr_init(&attr))
        return -ENOMEM;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, WATCHER_STACK);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the watcher inherits it */
    pthread_t t;
    int r = pthread_create(&t, &attr, watcher_main, wt);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r)
        return -r;
    pthread_setname_np(t, "pyconc-shwait");
    wt->up = true;
    return 0;
}

/* ---------------------------------------------------------------- fork */

static void fork_prepare(void) {
    pc__guard_lock(&shw_mu);
}

static void fork_parent(void) {
    pc__guard_unlock(&shw_mu);
}

static void fork_child(void) {
    /* one thread: plain accesses under the guard taken in fork_prepare */
    pc__waiter *wake = NULL;
    pthread_t self = pthread_self();
    for (int i = 0; i < nwatchers; i++) {
        watcher *wt = watchers[i];
        for (int k = 0; k < SLOTS; k++) {
            if (!wt->slot[k])
                continue;
            shw_rec *r = slot_clear(wt, k);
            if (pthread_equal(r->thread, self)) {
                r->w.next = wake;
                wake = &r->w;
            }
        }
        wt->up = wt->asleep = wt->poked = false;
    }
    atomic_store_explicit(&shw_mu, 0, memory_order_relaxed); /* one thread */
    pc__waiter_wake_chain(wake);
}

static void install_fork_handlers(void) {
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* --------------------------------------------------- coroutines: watched */

/* futex_waitv present?  (shw_mu held) */
static bool waitv_works(void) {
    if (waitv_state == 0) {
        /* no entries: EINVAL where the call exists */
        long r = syscall(SYS_futex_waitv, NULL, 0, 0, NULL, 0);
        waitv_state = r == -1 && errno == EINVAL ? 1 : -1;
    }
    return waitv_state > 0;
}

/* Put rec in a table (shw_mu held).  0 and the watcher to poke in *pk, or
 * a negative code: poll instead. */
static int reg_add(shw_rec *rec, watcher **pk) {
    if (!waitv_works())
        return -ENOSYS;
    watcher *wt = NULL;
    for (int i = 0; i < nwatchers && !wt; i++)
        if (watchers[i]->used < SLOTS)
            wt = watchers[i];
    if (!wt) {
        if (nwatchers == MAX_WATCHERS)
            return -EAGAIN;
        wt = pc__calloc(1, sizeof *wt);
        if (!wt)
            return -ENOMEM;
        watchers[nwatchers++] = wt;
    }
    if (!wt->up) {
        int r = watcher_start(wt);
        if (r)
            return r;
    }
    int k = 0;
    while (wt->slot[k])
        k++;
    wt->slot[k] = rec;
    wt->gen[k]++;
    wt->used++;
    rec->wt = wt;
    rec->slot = k;
    *pk = poke(wt);
    return 0;
}

static int coro_wait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline) {
    if (atomic_load_explicit(word, memory_order_acquire) != expected)
        return 0;
    if (deadline != PC__NO_DEADLINE && deadline <= pc__mono_ns())
        return -ETIMEDOUT;
    if (((uintptr_t)word & 3) || atomic_load_explicit(&force_poll, memory_order_relaxed))
        return poll_wait(word, expected, deadline);
    pthread_once(&fork_once, install_fork_handlers);
    shw_rec rec = {.word = word, .expected = expected, .thread = pthread_self()};
    pc__waiter_init(&rec.w);
    watcher *pk = NULL;
    pc__guard_lock(&shw_mu);
    int r = reg_add(&rec, &pk);
    pc__guard_unlock(&shw_mu);
    if (r)
        return poll_wait(word, expected, deadline);
    poke_wake(pk);
    do /* without a deadline: a keep-alive timer, see "LoopExit" above */
        r = rec.w.parker->park(&rec.w, deadline != PC__NO_DEADLINE ? deadline
                                                                   : pc__mono_ns() + KEEPALIVE_NS);
    while (r == -ETIMEDOUT && deadline == PC__NO_DEADLINE);
    if (r == 0)
        return 0; /* only the watcher wakes it: completed */
    pc__guard_lock(&shw_mu);
    if (rec.wt) {
        watcher *wt = rec.wt;
        slot_clear(wt, rec.slot);
        pk = poke(wt); /* drop the entry from its vector */
        pc__guard_unlock(&shw_mu);
        poke_wake(pk);
        return r;
    }
    pc__guard_unlock(&shw_mu);
    /* Completed before we could withdraw: that wake-up won (waiting.md). */
    pc__waiter_await_committed(&rec.w);
    if (rec.w.parker->overridden)
        rec.w.parker->overridden(&rec.w, r);
    return 0;
}

/* ---------------------------------------------------------------- API */

int pc__shwait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline) {
    if (pc__tls_parker)
        return coro_wait(word, expected, deadline);
    return thread_wait(word, expected, deadline);
}

void pc__shwake(_Atomic uint32_t *word, int n) {
    wake_word(word, n);
}

void pc__shwait_force_poll(bool on) {
    atomic_store_explicit(&force_poll, on, memory_order_relaxed);
}

int pc__shwait_watchers(void) {
    pc__guard_lock(&shw_mu);
    int n = 0;
    if (!waitv_works())
        n = -ENOSYS;
    for (int i = 0; i < nwatchers && n >= 0; i++)
        n += watchers[i]->up;
    pc__guard_unlock(&shw_mu);
    return n;
}
