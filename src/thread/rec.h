/*
 * The thread record: the library-owned state behind every pc_thread.
 *
 * A pc_thread (public, embeddable) points at one record.  The record holds
 * the name, the ids, the state machine, the joiners and the registry links.
 * It is reference counted so that its owner (the pc_thread's user) and the
 * running thread can let go in either order:
 *
 *   - the owner's reference: taken by pc_thread_init/new, dropped by
 *     pc_thread_destroy/free;
 *   - the running thread's reference: taken by pc_thread_start, dropped by
 *     the thread as its very last act (or by the fork child handler for a
 *     thread that does not exist in the child);
 *   - short-lived references: pc_thread_shutdown holds one while it joins.
 *
 * A function thread (pc_thread_new) has its pc_thread inside the record
 * (`fobj`), so pc_thread_free of a running thread leaves the object valid
 * for the thread itself (pc_thread_current()) until the record dies.
 *
 * State machine (rec->state):
 *
 *   NEW --start--> STARTING --thread runs--> RUNNING --run returns--> FINISHED
 *    ^                |
 *    +--create fails--+
 *
 * STARTING -> RUNNING and RUNNING -> FINISHED happen under rec->guard (so a
 * waiter that checked the state under the guard cannot miss the wake-up);
 * the -> FINISHED step also happens under the registry guard, so a fork sees
 * a thread either registered and unfinished, or finished and unregistered.
 * FINISHED is final and needs no guard to read: nothing ever takes the guard
 * of a finished record again except a joiner that timed out removing
 * itself, and every path that meets FINISHED returns before the guard.
 *
 * Lock order (outer to inner):
 *
 *   registry guard (registry.c)
 *     `-- rec->guard
 */
#ifndef PC_THREAD_REC_H
#define PC_THREAD_REC_H

#include <pthread.h>
#include <stdatomic.h>

#include "../internal/waiter.h"
#include "pyconc/thread.h"

#define PC__NAME_MAX 63 /* bytes, without the terminating NUL */

enum pc__thread_state {
    PC__T_NEW = 0,
    PC__T_STARTING = 1,
    PC__T_RUNNING = 2,
    PC__T_FINISHED = 3,
};

enum pc__thread_kind {
    PC__K_CLASS = 0, /* pc_thread_init: caller storage */
    PC__K_FUNC = 1,  /* pc_thread_new: the object is rec->fobj */
    PC__K_MAIN = 2,  /* the process's main thread (static storage) */
    PC__K_DUMMY = 3, /* a thread pyconc did not start (thread-local storage) */
};

struct pc__thread_rec {
    _Atomic long refs;           /* atomic; see the ownership list above */
    _Atomic int state;           /* PC__T_*; NEW->STARTING by a CAS in start,
                                    every later step under guard; read anywhere */
    int kind;                    /* PC__K_*; fixed at creation */
    pc_thread *obj;              /* the object; fixed at creation */
    pc_thread fobj;              /* the object of a FUNC, MAIN or DUMMY record */
    char name[PC__NAME_MAX + 1]; /* unguarded: renaming races readers (doc'd) */
    bool daemon;                 /* written only while NEW (owner), read after start */
    size_t stack_size;           /* fixed at creation */
    _Atomic unsigned long ident; /* written by the thread before RUNNING */
    _Atomic long native_id;      /* ditto; -1 once FINISHED */
    void *result;                /* written by the thread before FINISHED (release) */

    pc__guard guard;    /* guards the two queues */
    pc__waitq joiners;  /* guarded by guard: pc_thread_join callers */
    pc__waitq starters; /* guarded by guard: the pc_thread_start caller */

    struct pc__thread_rec *prev, *next; /* guarded by the registry guard */
    bool registered;                    /* guarded by the registry guard */
};

typedef struct pc__thread_rec pc__thread_rec;

/* rec.c */
pc__thread_rec *pc__rec_new(int kind, const pc_thread_opts *opts);
void pc__rec_init_static(pc__thread_rec *r, int kind, const char *name);
int pc__rec_default_name(char *buf, size_t len, const char *prefix);
void pc__rec_retain(pc__thread_rec *r);
void pc__rec_release(pc__thread_rec *r);
void pc__rec_set_os_name(pthread_t pt, const char *name);
int pc__opts_check(const pc_thread_opts *opts);

/* registry.c: the list of alive threads.  Lock order: see above. */
void pc__registry_lock(void);
void pc__registry_unlock(void);
void pc__registry_add(pc__thread_rec *r);    /* registry lock held */
void pc__registry_remove(pc__thread_rec *r); /* registry lock held */
pc__thread_rec *pc__registry_head(void);     /* registry lock held */
void pc__registry_reset_after_fork(void);

/* current.c: the calling thread's object and the exit hook. */
extern _Thread_local pc_thread *pc__tls_self;
void pc__thread_module_init(void);
pc__thread_rec *pc__main_rec(void);
void pc__set_main_rec(pc__thread_rec *r);
int pc__exit_hook_arm(pc__thread_rec *r);
void pc__exit_hook_disarm(void);

/* thread.c: the end of a started thread's life. */
void pc__thread_finish(pc__thread_rec *r);

/* join.c: wait for FINISHED until an absolute deadline. */
int pc__rec_join(pc__thread_rec *r, int64_t deadline);

#endif
