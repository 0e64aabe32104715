/*
 * Internals of the process module, shared by its files:
 *   process.c     objects, start, join/reap, signals, the registry, at-exit
 *   fork.c        the fork start method and the atfork handlers
 *   spawn.c       exec of this program with a marker (spawn, the forkserver)
 *   forkserver.c  the server and its client
 *   child.c       the child's side: the constructor, the wire, current/parent
 *   target.c      naming a function so that it survives exec
 *   cpu.c         pc_cpu_count
 *
 * Lock order (a tree; never two records' mu at once):
 *   pc__fs_mu (forkserver client)
 *   pc__reg_mu (registry)
 *     rec->mu
 */
#ifndef PC_PROCESS_INTERNAL_H
#define PC_PROCESS_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyconc/process.h"

enum { PC__P_INIT, PC__P_STARTING, PC__P_STARTED, PC__P_FINISHED };

/* The wire's marker variables: the environment of a spawned image says
 * what it is; the constructor in child.c reads and removes them. */
#define PC__ENV_CHILD "PYCONC_CHILD_FD"
#define PC__ENV_SERVER "PYCONC_FORKSERVER_FD"

typedef struct pc__process_rec {
    pc_process *obj;      /* the object; NULL once freed running. guarded by pc__reg_mu */
    pc_process_fn target; /* function processes; set before start, then read-only */
    void *arg;            /* the copied argument, likewise */
    size_t len;
    char name[64];          /* written by the owner before start */
    pc_start_method method; /* fixed at start */
    bool daemon;            /* fixed at start */
    bool owned;             /* made by pc_process_new: obj is library memory */
    bool foreign;           /* the parent's object in a child: not our child */
    bool closed;            /* guarded by mu */
    bool lost;              /* reaped by someone else. guarded by mu */
    bool self;              /* the calling process's own object */
    bool pdeathsig;         /* fork: started by the main thread (known before the fork) */
    double start_timeout;   /* spawn, forkserver: the wait for the child's answer; read-only */
    int state;              /* guarded by mu */
    pid_t pid;              /* set at start under mu; read-only after */
    pid_t owner;            /* the process that started it; likewise */
    int pidfd;              /* -1 before start and after close. guarded by mu */
    int statusfd;           /* forkserver: the server's report; -1 otherwise. guarded by mu */
    int exitcode;           /* valid in PC__P_FINISHED unless lost. guarded by mu */
    int nfds;
    int fds[PC_PROCESS_MAX_FDS];
    pthread_mutex_t mu;
    struct pc__process_rec *next, *prev; /* guarded by pc__reg_mu */
    bool listed;                         /* guarded by pc__reg_mu */
} pc__process_rec;

/* A function, named by the loaded object that holds it and its offset. */
typedef struct pc__fn_name {
    char path[4096]; /* "" for the main program */
    uint64_t off;
    uint32_t code_len;
    uint8_t code[16]; /* the first bytes of its code, checked in the child */
} pc__fn_name;

int pc__fn_name_of(const void *fn, pc__fn_name *out);
int pc__fn_resolve(const pc__fn_name *n, void **fn);

/* process.c */
pc__process_rec *pc__proc_rec_new(const pc_process_opts *opts, int *err);
void pc__proc_rec_free(pc__process_rec *r);
void pc__process_atexit(void);
void pc__proc_registry_reset(void);
extern pthread_mutex_t pc__reg_mu;

/* spawn.c: exec this program (or pc_set_executable's) with NAME=fd in its
 * environment, fd one end of a new socketpair of `type`; the other end in
 * *chan.  0 or a negative errno (exec failures included). */
int pc__exec_self(const char *var, int type, int *chan, pid_t *pid);
int pc__spawn_start(pc__process_rec *r, pc_process *p);

/* What a spawn or forkserver child reads first on its channel, followed
 * by the target's object path, the child's name, the parent's name and
 * the payload (the argument, or the class object's bytes).  The fds to
 * pass ride on it as SCM_RIGHTS; `fds` says which numbers they take. */
#define PC__WIRE_MAGIC 0x70637072u /* "pcpr" */
typedef struct pc__wire {
    uint32_t magic;
    uint32_t is_class;
    uint32_t daemon;
    uint32_t pdeathsig; /* set PR_SET_PDEATHSIG (see fork.c) */
    int32_t parent_pid;
    int32_t nfds; /* pass_fds; the shared heap's memfd follows them if has_heap */
    uint32_t has_heap;
    uint64_t off;
    uint64_t len;
    uint32_t path_len, name_len, parent_name_len, code_len;
    uint8_t code[16];
    int32_t fds[PC_PROCESS_MAX_FDS];
} pc__wire;

/* The parent's half of the wire: send what the child needs over `chan`
 * (and the fds), then wait for its "ready".  0 or a negative errno. */
int pc__wire_send(int chan, pc__process_rec *r, pc_process *p);

/* fork.c */
int pc__fork_start(pc__process_rec *r, pc_process *p);
void pc__process_fork_handlers(void);

/* forkserver.c */
int pc__forkserver_start(pc__process_rec *r, pc_process *p);
void pc__forkserver_main(int ctl) __attribute__((noreturn));
void pc__forkserver_forget(void);
/* Close the server (it exits, terminating its daemon children) and reap it. */
void pc__forkserver_stop(void);

/* child.c */
/* Run as a spawn child (server 0) or a forkserver's child (server: the
 * server's pid, our real parent). */
void pc__child_main(int chan, pid_t server) __attribute__((noreturn));
/* The fork child's setup and end: runs the object, never returns. */
void pc__child_run_forked(pc__process_rec *r, pc_process *p) __attribute__((noreturn));
bool pc__child_is_daemon(void);
/* "Process-N" or "<current>:N" into buf. */
void pc__child_next_name(char *buf, size_t cap);
void pc__child_reset_after_fork(void);

/* Close-on-exec socketpair, pidfd and signal helpers (spawn.c). */
int pc__pidfd_open(pid_t pid);
int pc__pidfd_signal(int pidfd, int sig);
int pc__send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
/* Receive up to len bytes and up to maxfds fds (set O_CLOEXEC); the byte
 * count, 0 at end of stream, or a negative errno. */
ssize_t pc__recv_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds);
int pc__write_all(int fd, const void *buf, size_t len);
int pc__read_all(int fd, void *buf, size_t len); /* 0, -EPIPE at EOF, -errno */

#endif
