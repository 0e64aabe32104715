/*
 * The future's insides, shared by future.c (the state machine), wait.c
 * (waiting on several futures) and executor.c (the default executor).
 *
 * Lock order (outer to inner):
 *
 *   executor guard (executor.c)
 *     `-- future guard
 *           `-- watch set guard (wait.c)
 *
 * A future's guard is held for a few instructions (state, lists), never
 * across a park or a callback.  Wake-ups happen after it is dropped.
 */
#ifndef PC_FUTURE_INTERNAL_H
#define PC_FUTURE_INTERNAL_H

#include <stdatomic.h>

#include "../internal/waiter.h"
#include "pyconc/coro.h"
#include "pyconc/future.h"

enum { PC__FK_NONE = 0, PC__FK_BYTES = 1, PC__FK_VALUE = 2 };

/* Results shorter than this (their NUL included) are kept in the future
 * itself: a trivial task's result then costs no allocation. */
enum { PC__FSMALL = 32 };

typedef struct pc__fcb {
    struct pc__fcb *next;
    pc_future_done_fn cb;
    void *arg;
} pc__fcb;

typedef struct pc__fwatch pc__fwatch;
typedef struct pc__watchset pc__watchset;

/* One future's membership in a watch set (wait.c). */
struct pc__fwatch {
    pc__fwatch *next, *prev; /* guarded by the future's guard */
    bool linked;             /* guarded by the future's guard */
    pc_future *f;            /* fixed */
    pc__watchset *ws;        /* fixed */
    pc__fwatch *done_next;   /* guarded by ws->guard: completion order */
};

/* Waiters on several futures at once (wait.c).  The futures tell it
 * about completions through pc__watchset_notify, under their guard. */
struct pc__watchset {
    pc__guard guard;
    pc__waitq waiters;                  /* guarded by guard */
    int n, mode;                        /* fixed; mode 0: as_completed */
    int ndone, nerr;                    /* guarded by guard */
    pc__fwatch *done_head, **done_tail; /* guarded by guard */
};

struct pc_future {
    _Atomic long refs;
    pc__guard guard;
    /* PC_FUTURE_*: written under guard (release once done); read anywhere
     * (acquire).  The outcome fields below are written before the store
     * that makes the future done and never change afterwards. */
    _Atomic int state;
    int kind;                 /* PC__FK_* */
    int error;                /* 0, the task's code, or -ECANCELED */
    char *message;            /* owned; NULL when none */
    void *value;              /* the pointer, or the bytes (owned, or `small`) */
    size_t len;               /* bytes */
    pc__waitq waiters;        /* guarded by guard: result/value callers */
    pc__fwatch *watch_head;   /* guarded by guard: watch sets (wait.c) */
    pc__fcb *cbs, **cbs_tail; /* guarded by guard: until done */
    /* executor.c: the task, fixed before the future is queued */
    pc_coro_fn task_fn;
    void *task_arg;
    /* a short result, written under the guard before the final state.
     * Last: pc__future_new_ext zeroes every field before it, not it */
    unsigned char small[PC__FSMALL];
    /* pc__future_new_ext's extra bytes follow, aligned as max_align_t */
};

/* An outcome to settle a future with. */
typedef struct pc__outcome {
    int state; /* PC_FUTURE_FINISHED or PC_FUTURE_CANCELLED */
    int kind, error;
    char *message;
    void *value;
    size_t len;
    /* PC__FK_BYTES only: `value` is the caller's (len < PC__FSMALL); the
     * settle copies it into the future's `small`, under the guard */
    bool small;
} pc__outcome;

/*
 * A new future with `refs` references (>= 1, the caller's to hand out:
 * cheaper than retaining a future nobody else sees yet) and `extra` more
 * bytes in the same allocation, aligned as max_align_t, at *ext: they live
 * as long as the future, so whatever lives there holds a reference to it.
 * The pool puts a single-task job there: one allocation per apply_async.
 * 0, -ENOMEM.
 */
int pc__future_new_ext(pc_future **f, long refs, size_t extra, void **ext);

/*
 * Make `f` done with `o` (whose owned memory it takes on success), wake
 * its waiters and watch sets (before returning), and hand back the done
 * callbacks to run with pc__future_run_callbacks.  0; -EALREADY
 * (finished), -ECANCELED (cancelled), -EBUSY (a cancel of a running
 * future): then `o` is still the caller's.  Takes f's guard.
 */
int pc__future_settle(pc_future *f, const pc__outcome *o, pc__fcb **cbs);
void pc__future_run_callbacks(pc_future *f, pc__fcb *cbs);

/* wait.c: called under the future's guard for each linked watch when
 * the future gets done; pushes the set's waiters to wake on *chain. */
void pc__watchset_notify(pc__fwatch *w, bool failed, pc__waiter **chain);

/* executor.c */
int pc__executor_submit(pc_coro_fn fn, void *arg, pc_future **out);
/* pyconc threads that could still wake a coroutine (the loop's LoopExit
 * test): pc_thread_active_count() less the default executor's idle
 * workers, counted together under the executor's guard. */
int pc__wakers_count(void);

#endif
