/*
 * pyconc/process.h - multiprocessing.Process: child processes started by
 * fork, spawn or forkserver.
 *
 *   Python                                     pyconc
 *   Process(target=f, args=(a,)).start()       pc_process_new(&p, f, &a, sizeof a, NULL);
 *                                              pc_process_start(p)
 *   class P(Process): def run(self)            struct P { pc_process base; ... };
 *                                              pc_process_init(&x.base, run, sizeof x, NULL)
 *   p.join(timeout) / p.exitcode               pc_process_join(p, timeout) /
 *                                              pc_process_exitcode(p, &code)
 *   p.name / p.pid / p.is_alive() / p.daemon   pc_process_name / _pid / _is_alive / _set_daemon
 *   p.terminate() / p.kill() / p.close()       pc_process_terminate / _kill / _close
 *   p.sentinel                                 pc_process_sentinel(p)   (a pidfd)
 *   get_context('spawn')                       pc_get_context(PC_START_SPAWN)
 *   set_start_method('fork')                   pc_set_start_method(PC_START_FORK)
 *   cpu_count() / active_children()            pc_cpu_count() / pc_active_children()
 *   current_process() / parent_process()       pc_process_current() / pc_process_parent()
 *
 * Bytes cross process boundaries; pointers don't.  A target's argument is
 * a byte buffer, copied into the child; a "class" process is copied into
 * the child byte for byte (the `size` given to pc_process_init), so its
 * fields must be plain data to work under spawn and forkserver, where the
 * child is a fresh image of the program: a pointer into the parent's heap
 * means nothing there.  Under fork pointers happen to work; code that
 * relies on it is tied to fork.
 *
 * Functions survive exec.  The target (or run callback) is named by the
 * loaded object that holds it (the program or a shared library) and its
 * offset in it; the child finds the same object in its own image
 * (loading a library by path if the parent had loaded it later) and
 * checks that the code there is the same.  Any function works, static
 * ones included: no -rdynamic, no registration.
 *
 * How a child starts.  Under spawn and forkserver the child is the same
 * program, run again: a constructor in pyconc recognises it before main()
 * and runs the target, then exits, so any program linked with pyconc can
 * be a spawn child without changing its main().  Shared libraries are
 * initialized by then (docs/process.md says which); the program's own
 * constructors and
 * main() do not run in the child, so a target must not depend on what
 * they set up (Python's spawn child, by contrast, runs the main module's
 * top level again).
 *
 * The default start method is forkserver, as in Python 3.14 on Linux:
 * fork copies a process with all its threads' locks held as they were,
 * and a child that touches one deadlocks (malloc's, stdio's, any
 * library's); forkserver forks from a small single-threaded server that
 * never ran main(), so it is safe in a program with threads, and costs
 * less than spawn after the first start.  Choose fork for speed in a
 * program without threads, or spawn for a child that shares nothing.
 *
 * Child exit is observed through pidfds (Linux 5.3 and later), never with
 * a SIGCHLD handler: the application keeps SIGCHLD.  A handler of its own
 * that reaps every child (waitpid(-1, ...)) takes the exit status from
 * pyconc, and so does SIGCHLD set to SIG_IGN (the kernel reaps); join
 * then returns -ECHILD (forkserver children keep theirs).
 *
 * Safety.  Every function is thread-safe (a name may not be changed while
 * another thread reads it); none is async-signal-safe.  From a coroutine,
 * join parks only the coroutine (so does start while a spawn or forkserver
 * child starts); the other calls do not wait.
 *
 * Across fork(): the child of a fork has no children of its own: objects
 * of its parent's processes are not its children (join: -ECHILD), and
 * pc_active_children() is empty there.  A forkserver belongs to the process
 * that started it; a forked child starts its own when it needs one.
 */
#ifndef PYCONC_PROCESS_H
#define PYCONC_PROCESS_H

#include <sys/types.h>

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pc_start_method {
    PC_START_DEFAULT = 0, /* whatever pc_set_start_method chose: forkserver */
    PC_START_FORK,
    PC_START_SPAWN,
    PC_START_FORKSERVER,
} pc_start_method;

typedef struct pc_process pc_process;

/* A function process's target: `arg` is the child's copy of the bytes
 * given to pc_process_new (NULL when len is 0).  The return value is the
 * exit status (0 for success; only its low 8 bits reach the parent). */
typedef int (*pc_process_fn)(void *arg, size_t len);
/* A "class" process's run(): `self` is the child's copy of the object. */
typedef int (*pc_process_run_fn)(pc_process *self);

/* A context: Python's get_context(method), a start method bound to the
 * objects made through it.  Static; never freed. */
typedef struct pc_mp_context pc_mp_context;

typedef struct pc_process_opts {
    const char *name;             /* NULL: "Process-N", or "<parent name>:N" in a child */
    pc_start_method method;       /* 0: the context's, else pc_get_start_method() */
    const pc_mp_context *context; /* NULL: none */
    bool daemon;                  /* see pc_process_set_daemon */
    /* File descriptors the child gets at the same numbers, open and
     * inheritable (not O_CLOEXEC), under every start method; under spawn
     * and forkserver no other descriptor of the parent is passed (except
     * 0, 1, 2 and descriptors without O_CLOEXEC under spawn, as exec
     * does).  At most PC_PROCESS_MAX_FDS. */
    const int *pass_fds;
    int n_pass_fds;
    /* How long pc_process_start waits for a spawn or forkserver child to
     * answer that it found its target (a library constructor that hangs
     * in the child, a child stopped by a signal): 0 means
     * PC_PROCESS_START_TIMEOUT, PC_FOREVER (< 0) no limit.  When it
     * passes, the child is killed and start returns -ETIMEDOUT.  Fork
     * does not wait for the child. */
    double start_timeout;
    /* more fields may be added */
} pc_process_opts;

#define PC_PROCESS_MAX_FDS 64
/* The default of pc_process_opts.start_timeout, in seconds. */
#define PC_PROCESS_START_TIMEOUT 60.0

/*
 * The process object.  Public only so that a struct can embed it as its
 * FIRST member, as a Python class derives from multiprocessing.Process;
 * its fields are private.
 */
struct pc_process {
    pc_process_run_fn _run;       /* private */
    size_t _size;                 /* private: bytes copied into the child */
    struct pc__process_rec *_rec; /* private: library-owned state */
};

/*
 * Prepare a "class" process in caller storage: `p` must be the first
 * member of an object of `size` bytes (size >= sizeof(pc_process)), which
 * the child receives a copy of; `run` is called with the copy.  Not
 * started.  0; -EINVAL (NULL p or run, size too small, a name longer than
 * 63 bytes, a bad method, more than PC_PROCESS_MAX_FDS fds, a NaN
 * start_timeout); -ENOMEM.
 * Thread-safe (for distinct objects).
 */
PC_EXTERN int pc_process_init(pc_process *p, pc_process_run_fn run, size_t size,
                              const pc_process_opts *opts);
/* Release what pc_process_init took (as pc_process_close, and more).  0;
 * -EBUSY while the child runs (nothing done); -EINVAL for NULL. */
PC_EXTERN int pc_process_destroy(pc_process *p);

/*
 * A library-allocated function process, not started yet: target(arg) in
 * the child, on a copy of the `len` bytes at `arg` (copied now: the
 * caller's buffer may go at once).  0; -EINVAL (NULL target, NULL arg
 * with len > 0, bad options as pc_process_init); -ENOMEM.
 */
PC_EXTERN int pc_process_new(pc_process **p, pc_process_fn target, const void *arg, size_t len,
                             const pc_process_opts *opts);
/* Free a process made by pc_process_new.  A child still running goes on;
 * pc_active_children() reaps it when it ends.  NULL is a no-op. */
PC_EXTERN void pc_process_free(pc_process *p);

/*
 * Start the child.  Returns once the child exists and, under spawn and
 * forkserver, once it has found its target, so every failure to start is
 * reported here: 0; -EALREADY when started before; -EPERM from a daemon
 * process (daemons cannot have children, as in Python); -EINVAL (NULL, a
 * closed object, a target not in any loaded object under spawn or
 * forkserver); -ENOENT, -EACCES, -ENOEXEC... when the program cannot be
 * executed (spawn, or the forkserver's start); -ENOEXEC when the child
 * could not find its target (another build of the program) or died
 * before running it, or the program is not linked with pyconc; -EMFILE
 * when the child could not receive the passed fds; -ETIMEDOUT when a
 * spawn or forkserver child did not answer within the options'
 * start_timeout (it is killed and reaped); -EAGAIN, -ENOMEM,
 * -EMFILE when the system is out of processes, memory or descriptors.
 * Thread-safe.  From a coroutine, the wait for a spawn or forkserver
 * child's answer parks only the coroutine; the fork or spawn call itself
 * and the request to the forkserver block its thread briefly.
 * Fork: the child runs the target in a copy of the process with only the
 * calling thread; pthread_atfork handlers run.
 */
PC_EXTERN int pc_process_start(pc_process *p);

/*
 * Wait for the child to end.  0 once it has (at once if it already has,
 * as often as you like); -ETIMEDOUT; -ESRCH before start; -EDEADLK when a
 * process joins itself; -ECHILD when the caller is not the process that
 * started it (e.g. a forked child), or when someone else reaped it;
 * -EINVAL (NULL, closed, NaN timeout).  Thread-safe; a coroutine parks
 * only itself (the child's pidfd goes to its loop).
 */
PC_EXTERN int pc_process_join(pc_process *p, double timeout);

/*
 * Python's exitcode: *code is 0, the child's exit status, or minus the
 * number of the signal that killed it.  0 once the child ended (it is
 * reaped, without waiting); -EAGAIN while it runs; -ESRCH before start;
 * -EINVAL (NULL, closed); -ECHILD as for join.  Thread-safe.
 */
PC_EXTERN int pc_process_exitcode(pc_process *p, int *code);

/* Started and not ended (reaps it when it has).  False for NULL, closed
 * or never started objects.  Thread-safe. */
PC_EXTERN bool pc_process_is_alive(pc_process *p);

/* SIGTERM / SIGKILL to the child, through its pidfd (never to a reused
 * pid).  0, also when it has ended already; -ESRCH before start; -EINVAL
 * (NULL, closed); -ECHILD when not the caller's child.  Thread-safe. */
PC_EXTERN int pc_process_terminate(pc_process *p);
PC_EXTERN int pc_process_kill(pc_process *p);

/*
 * Release the child's descriptors; afterwards only pc_process_name,
 * pc_process_pid, pc_process_free/destroy work (others return -EINVAL).
 * 0 (also twice); -EBUSY while the child runs (Python: ValueError).
 */
PC_EXTERN int pc_process_close(pc_process *p);

/* The name; "" for NULL.  Valid until renamed or freed. */
PC_EXTERN const char *pc_process_name(const pc_process *p);
/* Rename: 0, -EINVAL (NULL, longer than 63 bytes).  Not while another
 * thread reads the name. */
PC_EXTERN int pc_process_set_name(pc_process *p, const char *name);
/* The child's pid; 0 before start. */
PC_EXTERN pid_t pc_process_pid(const pc_process *p);
PC_EXTERN bool pc_process_is_daemon(const pc_process *p);
/*
 * A daemon child is terminated (SIGTERM, then joined) when its parent
 * exits through exit() or a return from main(); and, when the parent dies
 * any other way, by the kernel (PR_SET_PDEATHSIG, when the parent's main
 * thread started it; under forkserver the server does it).  A daemon
 * cannot start children.  0; -EBUSY once started; -EINVAL.
 */
PC_EXTERN int pc_process_set_daemon(pc_process *p, bool daemon);
/* The start method this object uses (never PC_START_DEFAULT once
 * started). */
PC_EXTERN pc_start_method pc_process_start_method(const pc_process *p);

/*
 * A file descriptor readable once the child has ended (its pidfd; also
 * poll(2)-able and waitable with pc_wait_fd).  Owned by the object:
 * closed by pc_process_close.  >= 0; -ESRCH before start; -EINVAL.
 */
PC_EXTERN int pc_process_sentinel(const pc_process *p);

/*
 * The calling process's object: "MainProcess" in a process not started by
 * pyconc, else the child's own object (for a class process, the child's
 * copy that run() received).  Never NULL.
 */
PC_EXTERN pc_process *pc_process_current(void);
/*
 * In a child started by pyconc, an object for its parent: name, pid,
 * is_alive, sentinel and join (waits for the parent to end) work; NULL in
 * a process not started by pyconc.
 */
PC_EXTERN pc_process *pc_process_parent(void);

/*
 * Children of this process started and not yet known to have ended: reaps
 * those that have ended, then fills up to `cap` pointers into `out` (NULL
 * with cap 0 counts) and returns how many are alive.  Objects freed with
 * the child running are reaped but not listed.  Thread-safe.
 */
PC_EXTERN int pc_active_children(pc_process **out, int cap);

/*
 * CPUs this process may use: the CPUs of its affinity mask, at most the
 * cgroup v2 CPU quota (cpu.max, rounded up) of its cgroup and of every
 * cgroup above it; at least 1.  Python's process_cpu_count(), and the
 * quota that os.cpu_count() ignores.  Thread-safe.
 */
PC_EXTERN int pc_cpu_count(void);

/* ------------------------------------------------------ start methods */

/* The default for new objects: 0; -EINVAL for a method that is not one;
 * -EBUSY once a process was started with the default (Python: "context
 * has already been set"), unless `force`.  Thread-safe. */
PC_EXTERN int pc_set_start_method(pc_start_method m, bool force);
PC_EXTERN pc_start_method pc_get_start_method(void);
/* The context for `m` (PC_START_DEFAULT: the default's), or NULL for a
 * method that is not one. */
PC_EXTERN const pc_mp_context *pc_get_context(pc_start_method m);
PC_EXTERN pc_start_method pc_context_start_method(const pc_mp_context *ctx);
/* "fork", "spawn", "forkserver" (or "default", "?"). */
PC_EXTERN const char *pc_start_method_name(pc_start_method m);

/*
 * Python's set_executable(): the program a spawn child and the forkserver
 * run, which must be linked with pyconc and hold the targets at the same
 * offsets: in practice this program.  NULL: this program
 * (/proc/self/exe).  Copied.  A running forkserver is stopped (its
 * daemon children terminated, as at exit), so the next forkserver start
 * runs the new program.  0, -ENOMEM.  Not while processes start.
 */
PC_EXTERN int pc_set_executable(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* PYCONC_PROCESS_H */
