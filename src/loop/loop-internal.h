/*
 * The loop's and the coroutines' shared insides.
 *
 * Ownership and threads.  A loop belongs to one thread, its owner; only
 * the owner touches the fields marked "owner", without locks.  Other
 * threads reach a loop only through `remote` (callbacks, under
 * remote_guard) and `incoming` (coroutines made runnable, a lock-free
 * stack), then the eventfd that wakes the loop.
 *
 * Lock order: a primitive's guard (waiter.h) -> remote_guard.  Nothing in
 * the loop takes a primitive's guard.
 */
#ifndef PC_LOOP_INTERNAL_H
#define PC_LOOP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "../coro/ctx.h"
#include "../coro/stack.h"
#include "../internal/waiter.h"
#include "pyconc/coro.h"
#include "pyconc/loop.h"

typedef struct pc__callback {
    struct pc__callback *next;
    pc_callback cb;
    void *arg;
    /* Called instead of cb when the loop is freed with the callback still
     * queued (it may hold references); NULL: nothing to undo. */
    void (*drop)(struct pc__callback *c);
} pc__callback;

/* A timer: a callback at an absolute deadline, in the loop's heap. */
typedef struct pc__timer {
    int64_t deadline;
    unsigned long seq; /* ties: first armed, first fired */
    size_t slot;       /* index in the heap; (size_t)-1 when not armed */
    void (*fire)(struct pc__timer *t);
} pc__timer;

/* A loop's knowledge of one fd (fdwait.c, whose note states the
 * invariants).  Owner only. */
typedef struct pc__fdent {
    pc__waiter *rd, *wr; /* the coroutines parked reading / writing, or NULL */
    uint32_t rd_want;    /* the events rd waits for */
    uint32_t wr_want;    /* the events wr waits for */
    uint32_t ready;      /* events seen since the fd was last seen idle */
    uint32_t gen;        /* the fd's generation when registered */
    uint32_t flags;      /* fdwait.c's ENT_* */
} pc__fdent;

enum pc__coro_state {
    PC__C_NEW = 0,  /* start_later and not started */
    PC__C_READY,    /* in the ready queue or about to be */
    PC__C_RUNNING,  /* the loop switched to it */
    PC__C_PARKED,   /* switched away in a wait */
    PC__C_FINISHED, /* body returned (or never ran: killed before) */
};

/* pc_coro.name_state: a default name is written on first demand. */
enum { NAME_READY = 0, NAME_NUMBER, NAME_WRITING };

/* pc__waiter.state values of a coroutine's waiter beyond waiter.h's
 * SPINNING ("not parked yet") and WOKEN. */
enum { PC__W_TIMEDOUT = 3, PC__W_CANCELLED = 4, PC__W_PARKED = 5 };

/* Every field is set by coro.c's object_init(): add new ones there. */
struct pc_coro {
    _Atomic long refs;                 /* the spawner's + the loop's while alive + joiners' */
    pc_loop *loop;                     /* fixed */
    pc_coro_fn fn;                     /* fixed */
    void *arg;                         /* fixed */
    char name[32];                     /* written once: see name_state */
    unsigned long number;              /* fixed: the N of a default name "Coro-N" */
    _Atomic uint8_t name_state;        /* NAME_*: name written yet? (pc_coro_name) */
    int state;                         /* owner; PC__C_* (read elsewhere: atomic copy below) */
    _Atomic int finished;              /* 1 once FINISHED: release; read anywhere */
    _Atomic bool started;              /* set once it first ran */
    int error;                         /* the body's code; written before finished */
    void *value;                       /* written before finished */
    _Atomic bool cancel;               /* kill requested and not yet delivered */
    unsigned long kills;               /* owner: kills received while unfinished */
    pc__ctx ctx;                       /* owner */
    pc__stack stack;                   /* owner */
    pc__waiter *parked_on;             /* owner: the waiter of the current park */
    pc__timer timer;                   /* owner: the park's deadline */
    struct pc_coro *next;              /* owner: ready queue link */
    struct pc_coro *remote_next;       /* the incoming stack's link */
    pc__guard guard;                   /* guards joiners and links */
    pc__waitq joiners;                 /* guarded by guard */
    pc__callback *links, **links_tail; /* guarded by guard */
    void *asan_fake_stack;             /* owner: ASan's fake stack while suspended */
    void *tsan_fiber;                  /* owner: its TSan fiber (sanitize.h) */
};

struct pc_loop {
    pthread_t owner;                      /* fixed */
    int epfd, wakefd;                     /* fixed; -1 until made */
    bool running, stopping;               /* owner */
    pc__ctx main_ctx;                     /* owner: the thread's own context */
    void *main_fake;                      /* owner: ASan's fake stack of main_ctx */
    const void *main_bottom;              /* owner: the thread's stack, as ASan saw it */
    size_t main_size;                     /* owner: ditto */
    void *main_tsan;                      /* owner: the thread's own TSan fiber */
    bool from_main;                       /* owner: the last switch left main_ctx */
    pc_coro *current;                     /* owner */
    pc_coro *batch;                       /* owner: this turn's coroutines not yet run */
    pc_coro *ready_head, *ready_tail;     /* owner: the next turn's */
    pc_coro *until;                       /* owner: what run_until waits for, or NULL */
    int64_t until_deadline;               /* owner: run_until's deadline */
    pc__callback *soon_head, **soon_tail; /* owner */
    pc__timer **heap;                     /* owner: min-heap on (deadline, seq) */
    size_t heap_len, heap_cap;
    unsigned long timer_seq; /* owner */
    long live;               /* owner: coroutines spawned and not finished */
    long fd_waits;           /* owner: coroutines parked in pc_wait_fd */
    pc_coro *zombie;         /* owner: ended in the last switch; the next context reaps it */
    pc_coro *coro_cache;     /* owner: freed coroutine objects kept for spawns (coro.c) */
    int coro_cached;         /* owner: how many */
    pc__fdent *fdents;       /* owner: indexed by fd (fdwait.c) */
    int nfdents;             /* owner */
    pc__guard remote_guard;
    pc__callback *remote_head, **remote_tail; /* guarded by remote_guard */
    /* Set when something that only the loop's own turn handles arrived
     * from outside (a threadsafe callback, a signal); cleared by the turn.
     * Coroutines read it to decide whether they may run the next turn's
     * coroutines themselves (pc__loop_next). */
    _Atomic bool attention;
    _Atomic(pc_coro *) incoming; /* lock-free stack of woken coroutines */
    _Atomic bool sleeping;       /* owner sets around epoll_wait; wakers read */
    /* Remote wakers between publishing their work and the end of their
     * wake_loop(): the loop's memory must outlive them (loop_destroy waits
     * for 0).  Incremented seq_cst before the publish; decremented release
     * after the wake, pairing with the acquire load in loop_destroy. */
    _Atomic unsigned remote_wakers;

    /* signal.c: the loop's signal handlers; NULL until the first one */
    struct pc__loop_signals *sigs; /* owner */

    /* watchdog.c: what the monitor thread samples (see pc__watch_tick) */
    struct pc__watch *wd;           /* owner: the loop's watch record; NULL when off */
    _Atomic unsigned long wd_ticks; /* owner stores (relaxed); the monitor samples */
    _Atomic(pc_coro *) wd_cur;      /* owner stores (release); the monitor reads */
    _Atomic bool wd_running;        /* owner stores (relaxed) around a run; ditto */
};

/* Take a pending cancellation (kill), if any: true once per kill.  The
 * relaxed load keeps the common case free of a locked instruction; the
 * exchange then settles a kill that raced in. */
static inline bool pc__coro_take_cancel(pc_coro *c) {
    return atomic_load_explicit(&c->cancel, memory_order_relaxed) &&
           atomic_exchange(&c->cancel, false);
}

/*
 * The watchdog's hot-path hook: the loop calls it each time it hands the
 * thread to a coroutine (c) or to a callback (NULL), and once a turn.  Two
 * plain stores, no clock, no locked instruction: the monitor thread
 * (watchdog.c) sees a loop that keeps one tick value across a threshold
 * while running and not sleeping as blocked.  The tick is relaxed: the
 * monitor only compares samples; the release on wd_cur pairs with the
 * acquire in watchdog.c's sample(), so the monitor reads c->name (fixed at
 * spawn) after its write.  Whoever switches to coroutines (run_ready, or a
 * direct coroutine-to-coroutine switch) must call it.
 */
static inline void pc__watch_tick(pc_loop *l, pc_coro *c) {
    atomic_store_explicit(&l->wd_cur, c, memory_order_release);
    /* relaxed: only this thread writes the counter; no read-modify-write */
    atomic_store_explicit(&l->wd_ticks,
                          atomic_load_explicit(&l->wd_ticks, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* watchdog.c */
void pc__watch_coro_end_slow(pc_loop *l);
void pc__watch_loop_created(pc_loop *l); /* owner: PYCONC_WATCHDOG */
void pc__watch_loop_gone(pc_loop *l);    /* owner or its thread's exit */

/* The loop is about to drop its reference to a coroutine that ended (or
 * never ran): after this, the monitor can no longer reach it.  Costs a
 * branch unless the loop is watched. */
static inline void pc__watch_coro_end(pc_loop *l) {
    if (l->wd)
        pc__watch_coro_end_slow(l);
}

/* signal.c */
extern _Alignas(8) char pc__loop_signal_tag; /* epoll data.ptr of a signal slot's eventfd */
void pc__signals_dispatch_slow(pc_loop *l);  /* owner: run the handlers of pending signals */
void pc__signals_drain(pc_loop *l);          /* owner: the slot's eventfd fired */
void pc__signals_loop_gone(pc_loop *l);      /* owner or its thread's exit: remove all */
bool pc__signals_armed_slow(const pc_loop *l);
bool pc__signals_pending_slow(const pc_loop *l);
/* a signal arrived that the loop's turn has not dispatched yet */
static inline bool pc__signals_pending(const pc_loop *l) {
    return l->sigs && pc__signals_pending_slow(l);
}
/* owner: a handler is installed */
static inline bool pc__signals_armed(const pc_loop *l) {
    return l->sigs && pc__signals_armed_slow(l);
}
static inline void pc__signals_dispatch(pc_loop *l) {
    if (l->sigs)
        pc__signals_dispatch_slow(l);
}

/* loop.c */
pc_loop *pc__loop_of_thread(void);
pc_loop *pc__loop_if_any(void); /* the thread's loop if it has one; never makes one */
void pc__loop_make_ready(pc_loop *l, pc_coro *c);        /* owner thread */
void pc__loop_make_ready_remote(pc_loop *l, pc_coro *c); /* any thread */
void pc__loop_switch_out(pc_loop *l, bool final);        /* from the running coroutine */
pc_coro *pc__loop_next(pc_loop *l); /* the coroutine to switch to, or NULL: the loop */
/* Queue a callback node (freed by the loop after it ran, or dropped):
 * pc__loop_post on the owner thread, pc__loop_post_remote from any. */
void pc__loop_post(pc_loop *l, pc__callback *c);
void pc__loop_post_remote(pc_loop *l, pc__callback *c);
extern _Thread_local pc_loop *pc__tls_loop; /* the thread's loop, once made */
/* Whether the calling thread owns l (its loop is l). */
static inline bool pc__loop_on_owner(const pc_loop *l) {
    return l == pc__tls_loop;
}
int pc__loop_run_until_deadline(pc_loop *l, pc_coro *until, int64_t deadline);

/* timers.c (owner thread) */
void pc__timer_init(pc__timer *t, void (*fire)(pc__timer *t));
int pc__timer_arm(pc_loop *l, pc__timer *t, int64_t deadline);
void pc__timer_disarm(pc_loop *l, pc__timer *t);
int64_t pc__timers_next(pc_loop *l);              /* PC__NO_DEADLINE when none */
int pc__timers_fire_due(pc_loop *l, int64_t now); /* fires due timers; how many */
void pc__timers_free(pc_loop *l);

/* fdwait.c (owner thread) */
void pc__fd_event(pc_loop *l, int fd, uint32_t events); /* an epoll event for fd */
void pc__fds_free(pc_loop *l);

/* coro.c */
extern const pc__parker pc__coro_parker;
extern _Thread_local pc_coro *pc__tls_coro;
void pc__coro_run(pc_coro *c); /* loop: switch to c until it parks or ends */
void pc__coro_release(pc_coro *c);
void pc__coro_cache_free(pc_loop *l);
void pc__coro_schedule_links(pc_coro *c, pc__callback *links); /* join.c */

#endif
