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

/* pc__waiter.state values of a coroutine's waiter beyond waiter.h's
 * SPINNING ("not parked yet") and WOKEN. */
enum { PC__W_TIMEDOUT = 3, PC__W_CANCELLED = 4, PC__W_PARKED = 5 };

struct pc_coro {
    _Atomic long refs;                 /* the spawner's + the loop's while alive + joiners' */
    pc_loop *loop;                     /* fixed */
    pc_coro_fn fn;                     /* fixed */
    void *arg;                         /* fixed */
    char name[32];                     /* fixed after spawn */
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
    pc_coro *current;                     /* owner */
    pc_coro *ready_head, *ready_tail;     /* owner */
    pc__callback *soon_head, **soon_tail; /* owner */
    pc__timer **heap;                     /* owner: min-heap on (deadline, seq) */
    size_t heap_len, heap_cap;
    unsigned long timer_seq; /* owner */
    long live;               /* owner: coroutines spawned and not finished */
    long fd_waits;           /* owner: coroutines parked in pc_wait_fd */
    pc__fdent *fdents;       /* owner: indexed by fd (fdwait.c) */
    int nfdents;             /* owner */
    pc_coro *zombie;         /* owner: finished, its stack to release */
    pc__guard remote_guard;
    pc__callback *remote_head, **remote_tail; /* guarded by remote_guard */
    _Atomic(pc_coro *) incoming;              /* lock-free stack of woken coroutines */
    _Atomic bool sleeping;                    /* owner sets around epoll_wait; wakers read */
};

/* Take a pending cancellation (kill), if any: true once per kill.  The
 * relaxed load keeps the common case free of a locked instruction; the
 * exchange then settles a kill that raced in. */
static inline bool pc__coro_take_cancel(pc_coro *c) {
    return atomic_load_explicit(&c->cancel, memory_order_relaxed) &&
           atomic_exchange(&c->cancel, false);
}

/* loop.c */
pc_loop *pc__loop_of_thread(void);
pc_loop *pc__loop_if_any(void); /* the thread's loop if it has one; never makes one */
void pc__loop_make_ready(pc_loop *l, pc_coro *c);        /* owner thread */
void pc__loop_make_ready_remote(pc_loop *l, pc_coro *c); /* any thread */
void pc__loop_switch_out(pc_loop *l, bool final);        /* from the running coroutine */
bool pc__loop_on_owner(const pc_loop *l);
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
void pc__coro_schedule_links(pc_coro *c); /* join.c */

#endif
