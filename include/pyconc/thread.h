/*
 * pyconc/thread.h - threading.Thread and threading.Timer.
 *
 *   Python                                    pyconc
 *   Thread(target=f, args=(a,)).start()       pc_thread_new(&t, f, a, NULL); pc_thread_start(t)
 *   class MyThread(Thread): def run(self)     struct { pc_thread base; ... };
 *                                             pc_thread_init(&m.base, run, NULL)
 *   t.join(timeout)                           pc_thread_join(t, timeout)
 *   t.name / t.ident / t.native_id            pc_thread_name / pc_thread_ident /
 *                                             pc_thread_native_id
 *   t.is_alive() / t.daemon                   pc_thread_is_alive / pc_thread_set_daemon
 *   threading.current_thread()                pc_thread_current()
 *   threading.main_thread()                   pc_thread_main()
 *   threading.enumerate() / active_count()    pc_thread_enumerate / pc_thread_active_count
 *   threading.Timer(5, f).start(); .cancel()  pc_timer_new / pc_timer_start / pc_timer_cancel
 *
 * Exit of a C program.  Returning from main() calls exit(), which ends the
 * process and every thread in it, daemon or not: pyconc does not change what
 * C does.  Python instead waits for its non-daemon threads before it exits;
 * call pc_thread_shutdown() at the end of main() for the same, or
 * pc_thread_wait_at_exit(true) once to have exit() do it.
 *
 * Across fork(): the child has only the thread that called fork.  Every
 * other pyconc thread is reported not alive there, and pc_thread_current()
 * in the child is the main thread.
 */
#ifndef PYCONC_THREAD_H
#define PYCONC_THREAD_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pc_thread pc_thread;

/* A "class" thread's run(): `self` is the embedded pc_thread; use
 * container_of-style casting to reach the enclosing struct. */
typedef void (*pc_thread_run_fn)(pc_thread *self);
/* A function thread's target: its return value is kept (pc_thread_result). */
typedef void *(*pc_thread_fn)(void *arg);

typedef struct pc_thread_opts {
    const char *name;  /* NULL: "Thread-N", N counting from 1 */
    bool daemon;       /* see pc_thread_shutdown */
    size_t stack_size; /* 0: the system default */
    /* more fields may be added */
} pc_thread_opts;

/*
 * The thread object.  Public only so that a struct can embed it, as a
 * Python class derives from threading.Thread; its fields are private.
 */
struct pc_thread {
    pc_thread_run_fn _run;       /* private */
    pc_thread_fn _target;        /* private */
    void *_arg;                  /* private */
    struct pc__thread_rec *_rec; /* private: library-owned state */
};

/*
 * Prepare a "class" thread in caller storage: `run` is called with `t` in
 * the new thread.  Not started yet.  0, -EINVAL (NULL t or run, a name
 * longer than 63 bytes), -ENOMEM.
 */
PC_EXTERN int pc_thread_init(pc_thread *t, pc_thread_run_fn run, const pc_thread_opts *opts);
/*
 * Release what pc_thread_init took.  -EBUSY (and nothing done) while the
 * thread is started and not finished: its storage is still in use.
 */
PC_EXTERN int pc_thread_destroy(pc_thread *t);

/* A library-allocated function thread, not started yet.  0, -EINVAL,
 * -ENOMEM. */
PC_EXTERN int pc_thread_new(pc_thread **t, pc_thread_fn target, void *arg,
                            const pc_thread_opts *opts);
/* Free a thread made by pc_thread_new.  A thread still running goes on and
 * its state is released when it finishes (it can no longer be joined).
 * free(NULL) is a no-op, and so is freeing an object not made by
 * pc_thread_new (use pc_thread_destroy for those). */
PC_EXTERN void pc_thread_free(pc_thread *t);

/*
 * Start the thread; returns once it runs, so its ident and native id are
 * valid.  0; -EALREADY when it was started before (Python: "threads can
 * only be started once"), and for the main thread's or a dummy's object;
 * -EAGAIN when the system has no resources for another thread; -ENOMEM;
 * -EINVAL (NULL, or a stack_size below PTHREAD_STACK_MIN).  Thread-safe.
 */
PC_EXTERN int pc_thread_start(pc_thread *t);

/*
 * Wait for the thread to finish.  0 once it has (at once if it already
 * has, as often as you like); -ETIMEDOUT; -EDEADLK when a thread joins
 * itself; -ESRCH when the thread was never started; -EINVAL (NULL, NaN
 * timeout, or a dummy thread's object, which cannot be joined).
 * Thread-safe; a coroutine parks instead of blocking its thread.
 */
PC_EXTERN int pc_thread_join(pc_thread *t, double timeout);

/* A function thread's return value once joined (NULL before). */
PC_EXTERN void *pc_thread_result(const pc_thread *t);

/* The thread's name.  Valid until it is renamed or the thread freed;
 * renaming while another thread reads the name is a data race, so name
 * threads before starting them, as Python code does.  "" for NULL. */
PC_EXTERN const char *pc_thread_name(const pc_thread *t);
/* Rename (also the OS-level name, first 15 bytes).  0, -EINVAL (NULL or a
 * name longer than 63 bytes). */
PC_EXTERN int pc_thread_set_name(pc_thread *t, const char *name);

/* threading.get_ident(): a nonzero number identifying a running thread,
 * 0 before start.  May be reused after the thread ends. */
PC_EXTERN unsigned long pc_thread_ident(const pc_thread *t);
/* The kernel's thread id (gettid), 0 before start; -1 after it ended. */
PC_EXTERN long pc_thread_native_id(const pc_thread *t);
/* Started and not yet finished. */
PC_EXTERN bool pc_thread_is_alive(const pc_thread *t);
PC_EXTERN bool pc_thread_is_daemon(const pc_thread *t);
/* 0, or -EBUSY once the thread is started (Python: RuntimeError).  Unlike
 * Python, a new thread does not inherit its creator's daemon flag: it is
 * whatever the options said (default false). */
PC_EXTERN int pc_thread_set_daemon(pc_thread *t, bool daemon);

/*
 * The calling thread's object: the pc_thread it was started as, the main
 * thread's object ("MainThread"), or for a thread not made by pyconc a
 * "Dummy-N" object that lives until that thread exits.  Never NULL.
 */
PC_EXTERN pc_thread *pc_thread_current(void);
/* The object of the process's main thread. */
PC_EXTERN pc_thread *pc_thread_main(void);
/* Threads alive now: the main thread, started pyconc threads that have not
 * finished, and dummies.  Fills up to `cap` pointers into `out` (which may
 * be NULL with cap 0) and returns the total count. */
PC_EXTERN int pc_thread_enumerate(pc_thread **out, int cap);
PC_EXTERN int pc_thread_active_count(void);

/*
 * Python's exit-time wait: join every started non-daemon pyconc thread
 * (threads started meanwhile too) within `timeout`.  0, -ETIMEDOUT,
 * -EINVAL for a NaN timeout.
 */
PC_EXTERN int pc_thread_shutdown(double timeout);
/* When `on`, exit() runs pc_thread_shutdown(PC_FOREVER) first.  0, or
 * -ENOMEM when atexit() has no room for the handler. */
PC_EXTERN int pc_thread_wait_at_exit(bool on);

/* ----------------------------------------------------------------- Timer */

typedef struct pc_timer pc_timer;

/*
 * threading.Timer: a thread that calls fn(arg) after `interval` seconds
 * unless cancelled first.  0, -EINVAL (NULL fn, NaN or negative interval),
 * -ENOMEM.
 */
PC_EXTERN int pc_timer_new(pc_timer **tm, double interval, pc_thread_fn fn, void *arg);
PC_EXTERN int pc_timer_start(pc_timer *tm); /* as pc_thread_start */
/* Stop the timer if it has not fired yet; harmless afterwards or twice.
 * 0, -EINVAL. */
PC_EXTERN int pc_timer_cancel(pc_timer *tm);
PC_EXTERN int pc_timer_join(pc_timer *tm, double timeout); /* as pc_thread_join */
/* Whether fn ran (after a join: it ran, or it was cancelled). */
PC_EXTERN bool pc_timer_fired(const pc_timer *tm);
/* The timer's thread object (name, ident, ...). */
PC_EXTERN pc_thread *pc_timer_thread(pc_timer *tm);
/* Free; a running timer is cancelled and joined first. */
PC_EXTERN void pc_timer_free(pc_timer *tm);

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_THREAD_H */
