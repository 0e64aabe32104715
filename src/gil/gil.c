/*
 * pc_gil: a global interpreter lock after CPython's "new GIL" (3.2+).
 *
 * State.  `word` holds the holder's identity (the address of its
 * thread-local tstate) with bit 0, WAITERS, set while a thread is queued.
 * Taking a free GIL is one CAS 0 -> me and releasing one nobody waits for
 * is one CAS me -> 0, as a futex mutex: that is the uncontended cost.  A
 * failed CAS tells the misuse apart at no extra cost (-EDEADLK: the holder
 * is me; -EPERM: it is not).
 *
 * Waiting.  A thread that finds the GIL taken takes the guard, sets
 * WAITERS (so the holder's release CAS fails and comes to the guard),
 * queues a pc__waiter on its stack and parks it with the thread parker
 * (never a coroutine's: the GIL is the thread's).  Release, with the guard,
 * pops the next waiter and *hands the GIL over*: it writes the waiter's
 * identity into `word` and wakes it.  Being dequeued is being granted, as
 * everywhere in pyconc (waiter.h), so a timeout that races with a hand-off
 * loses and the waiter returns with the GIL.
 *
 * Switching.  The holder calls pc_gil_check() often; it is one relaxed
 * load of `drop_request` (the first field, the only one the header sees).
 * The holder's turn ends one switch interval after it began: at the
 * hand-off that gave it the GIL (`turn_ns`), or, for a holder that took a
 * free GIL (no clock read on that fast path, turn_ns 0), at the arrival
 * of the first waiter, as in CPython.  The first ordinary waiter to queue
 * publishes that deadline (`drop_at_ns`) and sets DROP_DEADLINE; a
 * hand-off to a thread while ordinary waiters remain publishes the new
 * holder's (hand-off time + interval).  The holder's check, which now
 * takes its slow path, reads the clock every `clock_stride`-th call and
 * yields once the deadline passed.  The stride adapts so that the reads
 * come about interval/128 apart (1 to 50 us): it starts at 1 each turn,
 * doubles while reads come closer than half that gap and halves while
 * they come further than twice it.  So the drop is late by at most about
 * two gaps (0.016 interval) plus the time between two checks, and costs a
 * clock read (~20 ns, vDSO) per gap; CLOCK_MONOTONIC_COARSE would be
 * cheaper but ticks in jiffies (1 to 4 ms), too coarse for a 5 ms turn.
 *
 * Why the holder and not the waiter: CPython's waiter times out on a
 * condition variable and only then sets the drop request, so a drop waits
 * for the waiter's timed wake-up to be scheduled, then for the holder's
 * next check, then for the waiter's second wake-up, at the hand-off; on a
 * loaded machine the first wake-up alone can take milliseconds.  The
 * holder is running anyway.  The waiter's timed wake-up stays, as the
 * fallback for a holder whose check rate fell far below its stride (a
 * long stretch between checks): a queued waiter parks until the deadline;
 * if no hand-off happened meanwhile (`switch_seq` unchanged, re-read under
 * the guard so that a fresh holder is never asked to drop at once) it sets
 * DROP_TIMER, which the holder's next check honours without the clock.
 * A holder that stops checking keeps the GIL either way.
 *
 * Counting from the turn's start rather than always from the arrival
 * (CPython) means a thread back from a short blocking call waits only for
 * the rest of the holder's turn: under one interval, where CPython's
 * waits at least one (the convoy effect of bpo-7946, smaller without any
 * priority).  A waiter may read a stale turn_ns just as a new holder takes
 * a free GIL; it then publishes an early deadline, once: benign.  The
 * holder yields with the guard: it pops the next waiter, hands the GIL to
 * it and queues itself at the tail in the same critical section.  That is
 * CPython's forced switching (FORCE_SWITCHING: the dropper waits until
 * another thread took the GIL) without its second condition variable: the
 * hand-off cannot be undone by the dropper, which is a waiter like any
 * other from then on.
 *
 * Order.  Two FIFO queues: prioritized waiters (threads coming back from a
 * blocking call under PC_GIL_IO_PRIORITY, bpo-7946's remedy) and the rest.
 * A prioritized waiter sets DROP_PRIO as it queues, so the holder yields at
 * its next check.  The head of the ordinary queue counts how often it was
 * passed (waiter.result) and is served after max_bypass passes, so the
 * waiter at position k is served within k * (max_bypass + 1) hand-offs.
 * Count-based intervals (check_interval > 0): a waiter sets DROP_COUNT as
 * it queues; the holder's check then counts down `countdown` and yields at
 * zero (no deadline, no clock).  A hand-off recomputes DROP_COUNT /
 * DROP_PRIO / DROP_DEADLINE for the new holder from the queues.
 *
 * Invariants (guard held): WAITERS is set iff a queue is non-empty or a
 * waiter that timed out has not cleared it yet; DROP_DEADLINE is set iff
 * the ordinary queue is non-empty (timer mode), and then drop_at_ns is
 * the current holder's deadline; `word` changes from a
 * holder to another holder only under the guard; outside the guard only
 * 0 -> me (acquire) and me -> 0 (release of an un-waited GIL).
 *
 * Memory orders: the release CAS/store of `word` (release, hand_to) pairs
 * with the acquire CAS of the next holder; the release fetch_or of
 * DROP_DEADLINE (set_deadline) pairs with the acquire load of
 * drop_request in pc__gil_check_slow, which then reads drop_at_ns; the
 * new holder of a hand-off learns drop_at_ns and drop_request through its
 * waiter's wake-up (release exchange / acquire load in waiter.c).  The
 * fast check's load is relaxed: a hint, re-read on the slow path.
 *
 * Rejected: CPython's design proper — a mutex, a condition variable the
 * waiters time out on and a second one for forced switching, every waiter
 * woken on release to fight for the lock.  Direct hand-off gives the same
 * guarantees with one wake-up per switch, a documented order instead of
 * whoever the scheduler runs first, and no thundering herd.  Also rejected:
 * a fast check that counts calls (Python 2's ticks): a store per check
 * where a load is enough; counting happens only once a thread waits.  A
 * clock read on every check while someone waits (~20 ns against ~0.5):
 * the stride gives the same precision for a read per tens of
 * microseconds.  Asking for the drop some margin before the interval
 * ends, to hide the hand-off's latency: it would shorten every turn, and
 * the interval means "a holder runs at least that long when others wait".
 *
 * Lock order: gil->guard is a leaf (nothing is taken under it).  The GIL
 * itself is taken by threads holding anything; a thread holding the GIL
 * blocks in other primitives only through pc__blocking_begin, which
 * releases it first when the thread is attached.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>

#include "../internal/alloc.h"
#include "../internal/blocking.h"
#include "../internal/clock.h"
#include "../internal/waiter.h"
#include "pyconc/gil.h"

enum {
    DROP_TIMER = 1,                        /* a waiter waited a switch interval without a switch */
    DROP_COUNT = 2,                        /* count-based interval: somebody waits, count checks */
    DROP_PRIO = 4,                         /* a prioritized waiter: drop at the next check */
    DROP_DEADLINE = PC__GIL_DROP_DEADLINE, /* an ordinary waiter is queued: drop at drop_at_ns */
};
#define WAITERS ((uintptr_t)1)
#define DEFAULT_INTERVAL_NS 5000000
#define DEFAULT_MAX_BYPASS 4
/* The holder's deadline clock: read it about every interval/128 of checks,
 * between 1 us and 50 us apart (see "Switching"). */
#define CLOCK_GAP_DIV 128
#define CLOCK_GAP_MIN_NS 1000
#define CLOCK_GAP_MAX_NS 50000
#define CLOCK_STRIDE_MAX (1L << 20)

/* Per thread: the identity the GIL records and the thread's statistics
 * (only the thread itself touches them). */
struct tstate {
    pc_gil_stats st;
};
static _Thread_local struct tstate tls_ts;
_Thread_local pc_gil *pc__tls_gil;

struct counters {
    /* Written only by the GIL's holder (a load and a store, relaxed: the
     * GIL's own hand-off orders the writers); read by anyone, relaxed. */
    _Atomic uint64_t acquisitions, waits, switches, forced, prio, blocking;
    _Atomic int64_t wait_ns, wait_max_ns;
};

struct pc_gil {
    struct pc__gil_head head; /* first: pc_gil_check() reads it */
    _Atomic uintptr_t word;   /* holder | WAITERS; see the note above */
    pc__guard guard;
    pc__waitq normal, prio;      /* guarded by guard */
    unsigned nwaiting;           /* guarded by guard */
    _Atomic uint64_t switch_seq; /* written under guard; waiters read it relaxed */
    _Atomic int64_t turn_ns;     /* when the holder was handed the GIL, else 0
                                  * (unknown); relaxed, a hint */
    /* When the holder drops the GIL for the ordinary waiters (DROP_DEADLINE
     * set): written under guard before the release RMW that sets the bit;
     * the holder reads it after its acquire load of the bit. */
    _Atomic int64_t drop_at_ns;
    /* The holder's clock reads while DROP_DEADLINE is set: guarded by
     * holding the GIL (reset by got()). */
    int32_t clock_stride;        /* checks between two clock reads, counted down
                                  * in head.clock_left by pc_gil_check() */
    int64_t clock_last;          /* the last read, 0: none this turn */
    _Atomic int64_t interval_ns; /* relaxed: a setting */
    long check_interval;         /* fixed at new */
    long countdown;              /* guarded by holding the GIL */
    unsigned flags, max_bypass;  /* fixed at new */
    _Atomic unsigned attached;   /* threads attached; for pc_gil_free */
    struct counters c;
};

static inline uintptr_t me_id(void) {
    return (uintptr_t)&tls_ts;
}

static inline void bump(_Atomic uint64_t *c, uint64_t by) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

/* ------------------------------------------------------------ lifetime */

int pc_gil_new(pc_gil **out, const pc_gil_opts *opts) {
    pc_gil_opts o = opts ? *opts : (pc_gil_opts){0};
    if (!out || isnan(o.switch_interval) || o.switch_interval < 0 || o.check_interval < 0 ||
        (o.flags & ~PC_GIL_IO_PRIORITY))
        return -EINVAL;
    pc_gil *g = pc__calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    int64_t ns = o.switch_interval > 0 ? (int64_t)(o.switch_interval * 1e9) : DEFAULT_INTERVAL_NS;
    atomic_init(&g->interval_ns, ns > 0 ? ns : 1);
    g->check_interval = o.check_interval;
    g->countdown = o.check_interval;
    g->flags = o.flags;
    g->max_bypass = o.max_bypass ? o.max_bypass : DEFAULT_MAX_BYPASS;
    *out = g;
    return 0;
}

int pc_gil_free(pc_gil *g) {
    if (!g)
        return 0;
    pc__guard_lock(&g->guard);
    bool busy = atomic_load(&g->word) != 0 || g->nwaiting || atomic_load(&g->attached);
    pc__guard_unlock(&g->guard);
    if (busy)
        return -EBUSY;
    pc__free(g);
    return 0;
}

int pc_gil_after_fork(pc_gil *g) {
    if (!g)
        return -EINVAL;
    uintptr_t holder = atomic_load(&g->word) & ~WAITERS;
    atomic_store(&g->word, holder == me_id() ? holder : 0);
    atomic_store(&g->guard, 0);
    g->normal.head = g->normal.tail = NULL;
    g->prio.head = g->prio.tail = NULL;
    g->nwaiting = 0;
    atomic_store(&g->head.drop_request, 0);
    atomic_store(&g->drop_at_ns, 0);
    atomic_store(&g->attached, pc__tls_gil == g ? 1u : 0u);
    return 0;
}

/* ------------------------------------------------------------ settings */

int pc_gil_set_switch_interval(pc_gil *g, double seconds) {
    if (!g || !(seconds > 0))
        return -EINVAL;
    int64_t ns = seconds > 1e9 ? INT64_MAX / 2 : (int64_t)(seconds * 1e9);
    atomic_store_explicit(&g->interval_ns, ns > 0 ? ns : 1, memory_order_relaxed);
    return 0;
}

double pc_gil_switch_interval(const pc_gil *g) {
    if (!g)
        return -1;
    return (double)atomic_load_explicit(&((pc_gil *)g)->interval_ns, memory_order_relaxed) / 1e9;
}

/* ------------------------------------------------------------ internals */

static bool has_waiters(const pc_gil *g) {
    return g->normal.head || g->prio.head;
}

/* Guard held: the next waiter to serve (see "Order"), dequeued. */
static pc__waiter *pick(pc_gil *g, bool *prio) {
    pc__waiter *n = g->normal.head;
    if (g->prio.head && (!n || (unsigned)n->result < g->max_bypass)) {
        if (n)
            n->result++;
        *prio = true;
        return pc__waitq_pop(&g->prio);
    }
    *prio = false;
    return pc__waitq_pop(&g->normal);
}

/* Guard held: the drop requests the next holder starts with. */
static uint32_t standing_requests(const pc_gil *g) {
    uint32_t timed = g->check_interval > 0 ? DROP_COUNT : DROP_DEADLINE;
    return (g->prio.head ? DROP_PRIO : 0) | (g->normal.head ? timed : 0);
}

/* Guard held: an ordinary waiter that arrived at `now` is queued; unless
 * a deadline stands already, the holder must drop the GIL one interval
 * after its turn began (when it was handed the GIL), else after `now`. */
static void set_deadline(pc_gil *g, int64_t now) {
    if (atomic_load_explicit(&g->head.drop_request, memory_order_relaxed) & DROP_DEADLINE)
        return;
    int64_t turn = atomic_load_explicit(&g->turn_ns, memory_order_relaxed);
    atomic_store_explicit(&g->drop_at_ns,
                          (turn ? turn : now) +
                              atomic_load_explicit(&g->interval_ns, memory_order_relaxed),
                          memory_order_relaxed);
    /* release: pairs with the acquire load in pc__gil_check_slow(), which
     * then reads drop_at_ns */
    atomic_fetch_or_explicit(&g->head.drop_request, DROP_DEADLINE, memory_order_release);
}

/* Guard held, by the holder: give the GIL to `n` (dequeued by pick). */
static void hand_to(pc_gil *g, pc__waiter *n, bool prio, bool forced, int64_t now) {
    struct tstate *me = &tls_ts;
    g->nwaiting--;
    /* relaxed (both): the new holder learns of the GIL, and so of these,
     * through its waiter's wake-up (release), never through this word */
    atomic_store_explicit(&g->drop_at_ns,
                          now + atomic_load_explicit(&g->interval_ns, memory_order_relaxed),
                          memory_order_relaxed);
    atomic_store_explicit(&g->head.drop_request, standing_requests(g), memory_order_relaxed);
    bump(&g->c.switches, 1);
    me->st.switches++;
    if (forced) {
        bump(&g->c.forced, 1);
        me->st.forced_switches++;
    }
    if (prio) {
        bump(&g->c.prio, 1);
        me->st.priority_handoffs++;
    }
    atomic_store_explicit(&g->turn_ns, now, memory_order_relaxed);
    atomic_store_explicit(&g->switch_seq,
                          atomic_load_explicit(&g->switch_seq, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    /* release: pairs with the acquire CAS of an acquirer that reads it */
    atomic_store_explicit(&g->word, n->data | (has_waiters(g) ? WAITERS : 0), memory_order_release);
}

/* The caller got the GIL; `t0` is when it began to wait (0: it did not). */
static void got(pc_gil *g, int64_t t0) {
    struct tstate *me = &tls_ts;
    bump(&g->c.acquisitions, 1);
    me->st.acquisitions++;
    g->countdown = g->check_interval;
    g->clock_stride = 1;
    atomic_store_explicit(&g->head.clock_left, 1, memory_order_relaxed); /* only the holder */
    g->clock_last = 0;
    if (!t0)
        return;
    int64_t waited = pc__mono_ns() - t0;
    bump(&g->c.waits, 1);
    atomic_store_explicit(&g->c.wait_ns,
                          atomic_load_explicit(&g->c.wait_ns, memory_order_relaxed) + waited,
                          memory_order_relaxed);
    if (waited > atomic_load_explicit(&g->c.wait_max_ns, memory_order_relaxed))
        atomic_store_explicit(&g->c.wait_max_ns, waited, memory_order_relaxed);
    me->st.waits++;
    me->st.wait_total += (double)waited / 1e9;
    if ((double)waited / 1e9 > me->st.wait_max)
        me->st.wait_max = (double)waited / 1e9;
}

static void waiter_init(pc__waiter *w) {
    pc__waiter_init(w);
    w->parker = &pc__thread_parker; /* the GIL is the thread's, even in a coroutine */
    w->ctx = NULL;
    w->data = me_id();
    w->result = 0; /* times passed by a prioritized waiter, while at the head */
}

/*
 * Park `w` (queued on `q`) until it is handed the GIL or `deadline`
 * passes; meanwhile ask the holder to drop it every switch interval
 * without a hand-off.  `seq` is the switch_seq seen when w was queued at
 * time t0.  0 (holding the GIL) or -ETIMEDOUT (dequeued, not holding it).
 */
static int wait_turn(pc_gil *g, pc__waiter *w, pc__waitq *q, uint64_t seq, int64_t t0,
                     int64_t deadline) {
    bool timed = g->check_interval == 0 && q == &g->normal;
    int64_t turn = atomic_load_explicit(&g->turn_ns, memory_order_relaxed);
    int64_t since = turn ? turn : t0;
    for (;;) {
        int64_t due = PC__NO_DEADLINE;
        if (timed)
            due = since + atomic_load_explicit(&g->interval_ns, memory_order_relaxed);
        if (pc__thread_parker.park(w, due < deadline ? due : deadline) == 0)
            break;
        int64_t now = pc__mono_ns();
        if (now >= deadline) {
            pc__guard_lock(&g->guard);
            if (w->queued) {
                pc__waitq_remove(q, w);
                g->nwaiting--;
                if (!has_waiters(g)) /* relaxed: the holder reads it with its release CAS */
                    atomic_fetch_and_explicit(&g->word, ~WAITERS, memory_order_relaxed);
                if (!g->normal.head) /* relaxed: a hint; nobody to drop the GIL for */
                    atomic_fetch_and_explicit(&g->head.drop_request, ~(uint32_t)DROP_DEADLINE,
                                              memory_order_relaxed);
                pc__guard_unlock(&g->guard);
                return -ETIMEDOUT;
            }
            pc__guard_unlock(&g->guard);
            pc__waiter_await_committed(w); /* handed over meanwhile: that wins */
            break;
        }
        uint64_t s = atomic_load_explicit(&g->switch_seq, memory_order_relaxed);
        if (s != seq) { /* the GIL changed hands: the new holder gets an interval */
            seq = s;
            turn = atomic_load_explicit(&g->turn_ns, memory_order_relaxed);
            since = turn ? turn : now;
        } else if (now >= due) {
            /* Under the guard, so that a hand-off that just happened (the
             * holder's own deadline, usually) is seen and the new holder
             * is not asked to drop at once. */
            pc__guard_lock(&g->guard);
            if (w->queued && atomic_load_explicit(&g->switch_seq, memory_order_relaxed) == seq)
                atomic_fetch_or(&g->head.drop_request, DROP_TIMER);
            pc__guard_unlock(&g->guard);
            since = now; /* ask again an interval later, if it is still not done */
        }
    }
    got(g, t0);
    return 0;
}

static int acquire_slow(pc_gil *g, int64_t deadline, bool nonblocking, bool prio) {
    int64_t t0 = pc__mono_ns();
    pc__waiter w;
    waiter_init(&w);
    pc__guard_lock(&g->guard);
    for (;;) {
        uintptr_t cur = atomic_load_explicit(&g->word, memory_order_relaxed);
        if (cur == 0) {
            /* acquire; pairs with the release CAS/store of the last holder */
            if (atomic_compare_exchange_strong_explicit(
                    &g->word, &cur, me_id() | (has_waiters(g) ? WAITERS : 0), memory_order_acquire,
                    memory_order_relaxed)) {
                atomic_store_explicit(&g->turn_ns, 0, memory_order_relaxed);
                pc__guard_unlock(&g->guard);
                got(g, 0);
                return 0;
            }
            continue;
        }
        if ((cur & ~WAITERS) == me_id()) {
            pc__guard_unlock(&g->guard);
            return -EDEADLK;
        }
        if (nonblocking) {
            pc__guard_unlock(&g->guard);
            return -EAGAIN;
        }
        /* relaxed: the guard orders the queue; the holder's release CAS
         * fails on the bit and comes to the guard */
        if ((cur & WAITERS) ||
            atomic_compare_exchange_strong_explicit(&g->word, &cur, cur | WAITERS,
                                                    memory_order_relaxed, memory_order_relaxed))
            break;
    }
    pc__waitq *q = prio ? &g->prio : &g->normal;
    pc__waitq_push(q, &w);
    g->nwaiting++;
    if (prio)
        atomic_fetch_or(&g->head.drop_request, DROP_PRIO);
    else if (g->check_interval > 0)
        atomic_fetch_or(&g->head.drop_request, DROP_COUNT);
    else
        set_deadline(g, t0);
    uint64_t seq = atomic_load_explicit(&g->switch_seq, memory_order_relaxed);
    pc__guard_unlock(&g->guard);
    return wait_turn(g, &w, q, seq, t0, deadline);
}

static int acquire(pc_gil *g, int64_t deadline, bool nonblocking, bool prio) {
    uintptr_t cur = 0;
    /* acquire; pairs with the release CAS in pc_gil_release() and the
     * release store in hand_to() */
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(
                             &g->word, &cur, me_id(), memory_order_acquire, memory_order_relaxed),
                         1)) {
        atomic_store_explicit(&g->turn_ns, 0, memory_order_relaxed);
        got(g, 0);
        return 0;
    }
    if ((cur & ~WAITERS) == me_id())
        return -EDEADLK;
    return acquire_slow(g, deadline, nonblocking, prio);
}

/* The caller holds g and someone may wait: hand over, or free it. */
static void release_slow(pc_gil *g) {
    pc__guard_lock(&g->guard);
    bool prio;
    pc__waiter *n = pick(g, &prio);
    if (!n) {
        atomic_store_explicit(&g->head.drop_request, 0, memory_order_relaxed);
        /* release: pairs with the acquire CAS of the next acquirer */
        atomic_store_explicit(&g->word, 0, memory_order_release);
        pc__guard_unlock(&g->guard);
        return;
    }
    hand_to(g, n, prio, false, pc__mono_ns());
    pc__guard_unlock(&g->guard);
    pc__waiter_wake(n);
}

/* The caller holds g: hand it to the next waiter and queue behind. */
static int yield(pc_gil *g, bool forced) {
    int64_t t0 = pc__mono_ns();
    pc__waiter w;
    waiter_init(&w);
    pc__guard_lock(&g->guard);
    bool prio;
    pc__waiter *n = pick(g, &prio);
    if (!n) {
        atomic_store_explicit(&g->head.drop_request, 0, memory_order_relaxed);
        pc__guard_unlock(&g->guard);
        g->countdown = g->check_interval;
        return 0;
    }
    pc__waitq_push(&g->normal, &w);
    g->nwaiting++;
    hand_to(g, n, prio, forced, t0);
    uint64_t seq = atomic_load_explicit(&g->switch_seq, memory_order_relaxed);
    pc__guard_unlock(&g->guard);
    pc__waiter_wake(n);
    wait_turn(g, &w, &g->normal, seq, t0, PC__NO_DEADLINE);
    return 1;
}

/* ------------------------------------------------------------------ API */

int pc_gil_acquire(pc_gil *g, double timeout) {
    int64_t deadline;
    if (!g || pc__deadline(timeout, &deadline))
        return -EINVAL;
    return acquire(g, deadline, timeout == 0, false);
}

int pc_gil_release(pc_gil *g) {
    if (!g)
        return -EINVAL;
    uintptr_t cur = me_id();
    /* release; pairs with the acquire CAS in acquire() / acquire_slow() */
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(
                             &g->word, &cur, 0, memory_order_release, memory_order_relaxed),
                         1))
        return 0;
    if ((cur & ~WAITERS) != me_id())
        return -EPERM;
    release_slow(g);
    return 0;
}

bool pc_gil_held(const pc_gil *g) {
    /* relaxed: only this thread writes its own identity there */
    return g &&
           (atomic_load_explicit(&((pc_gil *)g)->word, memory_order_relaxed) & ~WAITERS) == me_id();
}

/* The holder, DROP_DEADLINE alone set and head.clock_left counted down
 * by pc_gil_check(): whether its turn is over.  The next read comes after
 * clock_stride checks, the stride doubling while reads come closer than
 * the gap and halving while they come further apart. */
static bool deadline_passed(pc_gil *g) {
    int64_t now = pc__mono_ns();
    int64_t gap = atomic_load_explicit(&g->interval_ns, memory_order_relaxed) / CLOCK_GAP_DIV;
    gap = gap < CLOCK_GAP_MIN_NS   ? CLOCK_GAP_MIN_NS
          : gap > CLOCK_GAP_MAX_NS ? CLOCK_GAP_MAX_NS
                                   : gap;
    if (g->clock_last) {
        int64_t dt = now - g->clock_last;
        if (dt < gap / 2 && g->clock_stride < CLOCK_STRIDE_MAX)
            g->clock_stride *= 2;
        else if (dt > 2 * gap && g->clock_stride > 1)
            g->clock_stride /= 2;
    }
    g->clock_last = now;
    atomic_store_explicit(&g->head.clock_left, g->clock_stride, memory_order_relaxed);
    /* relaxed: ordered by the caller's acquire load of DROP_DEADLINE */
    return now >= atomic_load_explicit(&g->drop_at_ns, memory_order_relaxed);
}

int pc__gil_check_slow(pc_gil *g) {
    if (!pc_gil_held(g))
        return -EPERM;
    /* acquire: pairs with the release RMW in set_deadline(), for
     * drop_at_ns; otherwise a hint: yield() decides under the guard */
    uint32_t bits = atomic_load_explicit(&g->head.drop_request, memory_order_acquire);
    if (bits == 0 || (bits == DROP_COUNT && --g->countdown > 0) ||
        (bits == DROP_DEADLINE && !deadline_passed(g)))
        return 0; /* withdrawn meanwhile, or not this check yet */
    return yield(g, true);
}

int pc_gil_yield(pc_gil *g) {
    if (!g)
        return -EINVAL;
    if (!pc_gil_held(g))
        return -EPERM;
    return yield(g, false);
}

/* ------------------------------------------------------------ attaching */

static pthread_key_t attach_key;
static pthread_once_t attach_once = PTHREAD_ONCE_INIT;
static bool attach_key_ok;

/* A thread that ends attached detaches. */
static void on_exit_attached(void *p) {
    atomic_fetch_sub(&((pc_gil *)p)->attached, 1u);
}

static void make_key(void) {
    attach_key_ok = pthread_key_create(&attach_key, on_exit_attached) == 0;
}

int pc_gil_attach(pc_gil *g) {
    if (!g)
        return -EINVAL;
    if (pc__tls_gil == g)
        return 0;
    if (pc__tls_gil)
        return -EBUSY;
    pthread_once(&attach_once, make_key);
    if (!attach_key_ok || pthread_setspecific(attach_key, g) != 0)
        return -ENOMEM;
    atomic_fetch_add(&g->attached, 1u);
    pc__tls_gil = g;
    return 0;
}

int pc_gil_detach(pc_gil *g) {
    if (!g)
        return -EINVAL;
    if (pc__tls_gil != g)
        return -EPERM;
    pthread_setspecific(attach_key, NULL);
    pc__tls_gil = NULL;
    atomic_fetch_sub(&g->attached, 1u);
    return 0;
}

pc_gil *pc_gil_attached(void) {
    return pc__tls_gil;
}

pc_gil *pc_gil_save(void) {
    pc_gil *g = pc__tls_gil;
    if (!g || !pc_gil_held(g))
        return NULL;
    bump(&g->c.blocking, 1);
    tls_ts.st.blocking_releases++;
    pc_gil_release(g);
    return g;
}

int pc_gil_restore(pc_gil *g) {
    if (!g)
        return 0;
    return acquire(g, PC__NO_DEADLINE, false, (g->flags & PC_GIL_IO_PRIORITY) != 0);
}

/* ----------------------------------------------------------- statistics */

int pc_gil_get_stats(pc_gil *g, pc_gil_stats *out) {
    if (!g || !out)
        return -EINVAL;
    pc__guard_lock(&g->guard);
    out->waiting = g->nwaiting;
    pc__guard_unlock(&g->guard);
    out->acquisitions = atomic_load_explicit(&g->c.acquisitions, memory_order_relaxed);
    out->waits = atomic_load_explicit(&g->c.waits, memory_order_relaxed);
    out->switches = atomic_load_explicit(&g->c.switches, memory_order_relaxed);
    out->forced_switches = atomic_load_explicit(&g->c.forced, memory_order_relaxed);
    out->priority_handoffs = atomic_load_explicit(&g->c.prio, memory_order_relaxed);
    out->blocking_releases = atomic_load_explicit(&g->c.blocking, memory_order_relaxed);
    out->wait_total = (double)atomic_load_explicit(&g->c.wait_ns, memory_order_relaxed) / 1e9;
    out->wait_max = (double)atomic_load_explicit(&g->c.wait_max_ns, memory_order_relaxed) / 1e9;
    return 0;
}

int pc_gil_thread_stats(pc_gil_stats *out) {
    if (!out)
        return -EINVAL;
    *out = tls_ts.st;
    out->waiting = 0;
    return 0;
}
