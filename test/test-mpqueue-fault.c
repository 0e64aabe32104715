/*
 * Process queues when things go wrong: a putter killed while copying a
 * message (holding the put lock), a getter killed while copying one out
 * (holding the get lock), a child killed while blocked in a get, signals
 * during a wait, and a process out of file descriptors.
 */
#include <errno.h>
#include <fcntl.h>
#include <pyconc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../src/mpqueue/mpqueue-internal.h"
#include "process-helpers.h"

/* What a child is given: the queue and a flag block. */
struct job {
    pc_shared_ref q;
    pc_shared_ref flag; /* an _Atomic int the child sets to 1 where it stops */
    int point;          /* where the hook stops the child; 0: its first call */
};

static pc_mpqueue *make(long maxsize, size_t capacity) {
    pc_mpqueue *q;
    pc_mpqueue_opts o = {.maxsize = maxsize, .capacity = capacity};
    expect_rc(pc_mpqueue_new(&q, &o), 0);
    return q;
}

static _Atomic int *flag_of(struct job *j) {
    void *p;
    expect_rc(pc_shared_alloc(sizeof(_Atomic int), &p), 0);
    expect_rc(pc_shared_ref_of(p, &j->flag), 0);
    return p;
}

static struct job job_for(pc_mpqueue *q, _Atomic int **flag) {
    struct job j = {0};
    expect_rc(pc_mpqueue_ref(q, &j.q), 0);
    *flag = flag_of(&j);
    return j;
}

static void wait_flag(_Atomic int *flag) {
    while (!atomic_load(flag))
        usleep(1000);
}

/* The child's hook: say where it is, then stop there until killed. */
static _Atomic int *hook_flag;
static int stop_point;
static void stop_here(int point) {
    if (stop_point && point != stop_point)
        return;
    atomic_store(hook_flag, point);
    for (;;)
        pause();
}

static int child_setup(struct job *j, size_t len, pc_mpqueue **q) {
    if (len != sizeof *j || pc_mpqueue_from_ref(j->q, q) < 0 ||
        pc_shared_deref(j->flag, (void **)&hook_flag) < 0)
        return -1;
    stop_point = j->point;
    return 0;
}

/* Child: put "first", then stop half way through copying a second message. */
static int put_and_stop(void *arg, size_t len) {
    pc_mpqueue *q;
    if (child_setup(arg, len, &q) < 0)
        return 90;
    if (pc_mpqueue_put(q, "first", 5, 0) != 0)
        return 91;
    pc__mpqueue_hook = stop_here;
    char torn[64];
    memset(torn, 'T', sizeof torn);
    pc_mpqueue_put(q, torn, sizeof torn, 0);
    return 92;
}

static void expect_get(pc_mpqueue *q, const char *want, double timeout) {
    char buf[128];
    size_t len;
    expect_rc(pc_mpqueue_get(q, buf, sizeof buf, &len, timeout), 0);
    cr_assert_eq(len, strlen(want));
    cr_assert_eq(memcmp(buf, want, len), 0, "got %.*s, want %s", (int)len, buf, want);
}

PROC_TEST(a_putter_killed_while_copying_publishes_nothing, .timeout = 60) {
    pc_mpqueue *q = make(0, 4096);
    _Atomic int *flag;
    struct job j = job_for(q, &flag);
    pc_process *p = start_fn(m, put_and_stop, &j, sizeof j, NULL, 0);
    wait_flag(flag);
    cr_assert_eq(atomic_load(flag), PC__MPQ_PUT_COPY);
    cr_assert_eq(pc_mpqueue_qsize(q), 1);
    expect_rc(pc_mpqueue_put(q, "x", 1, 0), -EAGAIN); /* the put lock is held by a live putter */
    expect_rc(pc_process_kill(p), 0);
    /* the next putter takes the dead one's lock over and goes on */
    expect_rc(pc_mpqueue_put(q, "after", 5, 30), 0);
    expect_get(q, "first", 0);
    expect_get(q, "after", 0); /* nothing of the torn message */
    char buf[128];
    size_t len;
    expect_rc(pc_mpqueue_get(q, buf, sizeof buf, &len, 0), -EAGAIN);
    cr_assert_eq(join_code(p), -SIGKILL);
    pc_process_free(p);
    expect_rc(pc_shared_free(flag), 0);
    expect_rc(pc_mpqueue_free(q), 0);
}

/* Child: stop half way through copying the head message out. */
static int get_and_stop(void *arg, size_t len) {
    pc_mpqueue *q;
    if (child_setup(arg, len, &q) < 0)
        return 90;
    pc__mpqueue_hook = stop_here;
    char buf[128];
    size_t got;
    pc_mpqueue_get(q, buf, sizeof buf, &got, 30);
    return 92;
}

PROC_TEST(a_getter_killed_while_copying_leaves_the_message, .timeout = 60) {
    pc_mpqueue *q = make(0, 0);
    expect_rc(pc_mpqueue_put(q, "one", 3, 0), 0);
    expect_rc(pc_mpqueue_put(q, "two", 3, 0), 0);
    _Atomic int *flag;
    struct job j = job_for(q, &flag);
    pc_process *p = start_fn(m, get_and_stop, &j, sizeof j, NULL, 0);
    wait_flag(flag);
    cr_assert_eq(atomic_load(flag), PC__MPQ_GET_COPY);
    char buf[8];
    size_t len;
    expect_rc(pc_mpqueue_get(q, buf, sizeof buf, &len, 0), -EAGAIN); /* get lock held */
    expect_rc(pc_process_kill(p), 0);
    /* a getter already waiting on the dead one's lock gets the message */
    expect_get(q, "one", 30);
    expect_get(q, "two", 0);
    cr_assert(pc_mpqueue_empty(q));
    cr_assert_eq(join_code(p), -SIGKILL);
    pc_process_free(p);
    expect_rc(pc_shared_free(flag), 0);
    expect_rc(pc_mpqueue_free(q), 0);
}

/* Child: put "whole", stopping half way through publishing it. */
static int put_and_stop_publishing(void *arg, size_t len) {
    pc_mpqueue *q;
    if (child_setup(arg, len, &q) < 0)
        return 90;
    pc__mpqueue_hook = stop_here;
    pc_mpqueue_put(q, "whole", 5, 0);
    return 92;
}

PROC_TEST(a_putter_killed_while_publishing_has_its_put_completed, .timeout = 60) {
    pc_mpqueue *q = make(0, 0);
    _Atomic int *flag;
    struct job j = job_for(q, &flag);
    j.point = PC__MPQ_PUT_COMMIT;
    pc_process *p = start_fn(m, put_and_stop_publishing, &j, sizeof j, NULL, 0);
    wait_flag(flag);
    cr_assert_eq(atomic_load(flag), PC__MPQ_PUT_COMMIT);
    char buf[8];
    size_t len;
    expect_rc(pc_mpqueue_get(q, buf, sizeof buf, &len, 0), -EAGAIN); /* not visible yet */
    expect_rc(pc_process_kill(p), 0);
    cr_assert_eq(join_code(p), -SIGKILL);
    /* the next putter finishes the dead one's publication, then puts its own */
    expect_rc(pc_mpqueue_put(q, "after", 5, 30), 0);
    expect_get(q, "whole", 0);
    expect_get(q, "after", 0);
    cr_assert(pc_mpqueue_empty(q));
    pc_process_free(p);
    expect_rc(pc_shared_free(flag), 0);
    expect_rc(pc_mpqueue_free(q), 0);
}

PROC_TEST(a_getter_killed_while_publishing_has_taken_its_message, .timeout = 60) {
    pc_mpqueue *q = make(0, 0);
    expect_rc(pc_mpqueue_put(q, "one", 3, 0), 0);
    expect_rc(pc_mpqueue_put(q, "two", 3, 0), 0);
    _Atomic int *flag;
    struct job j = job_for(q, &flag);
    j.point = PC__MPQ_GET_COMMIT;
    pc_process *p = start_fn(m, get_and_stop, &j, sizeof j, NULL, 0);
    wait_flag(flag);
    cr_assert_eq(atomic_load(flag), PC__MPQ_GET_COMMIT);
    expect_rc(pc_process_kill(p), 0);
    cr_assert_eq(join_code(p), -SIGKILL);
    /* the next getter finishes the dead one's take: "one" went with it */
    expect_get(q, "two", 30);
    cr_assert(pc_mpqueue_empty(q));
    cr_assert_eq(pc_mpqueue_qsize(q), 0);
    pc_process_free(p);
    expect_rc(pc_shared_free(flag), 0);
    expect_rc(pc_mpqueue_free(q), 0);
}

/* Child: block in a get of an empty queue (or a put of a full one). */
static int block_forever(void *arg, size_t len) {
    pc_mpqueue *q;
    if (child_setup(arg, len, &q) < 0)
        return 90;
    atomic_store(hook_flag, 1);
    char buf[8];
    size_t got;
    if (pc_mpqueue_full(q))
        pc_mpqueue_put(q, "z", 1, PC_FOREVER);
    else
        pc_mpqueue_get(q, buf, sizeof buf, &got, PC_FOREVER);
    return 92;
}

/* Whether process pid sleeps (state S in /proc/pid/stat). */
static bool sleeping(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] == 'S';
}

static void killed_while_blocked(pc_start_method m, bool putter) {
    pc_mpqueue *q = make(putter ? 1 : 0, 0);
    if (putter)
        expect_rc(pc_mpqueue_put(q, "a", 1, 0), 0);
    _Atomic int *flag;
    struct job j = job_for(q, &flag);
    pc_process *p = start_fn(m, block_forever, &j, sizeof j, NULL, 0);
    wait_flag(flag);
    for (int i = 0; i < 30000 && !sleeping(pc_process_pid(p)); i++)
        usleep(1000);
    cr_assert(sleeping(pc_process_pid(p)));
    expect_rc(pc_process_kill(p), 0);
    cr_assert_eq(join_code(p), -SIGKILL);
    /* the queue works on, blocking calls included */
    if (putter)
        expect_get(q, "a", 0);
    expect_rc(pc_mpqueue_put(q, "b", 1, 30), 0);
    expect_get(q, "b", 30);
    expect_rc(pc_mpqueue_put(q, "c", 1, 30), 0);
    expect_rc(pc_mpqueue_put(q, "d", 1, putter ? 0.05 : 0), putter ? -ETIMEDOUT : 0);
    expect_get(q, "c", 30);
    pc_process_free(p);
    expect_rc(pc_shared_free(flag), 0);
    expect_rc(pc_mpqueue_free(q), 0);
}

PROC_TEST(a_child_killed_while_blocked_in_get_leaves_the_queue_usable, .timeout = 60) {
    killed_while_blocked(m, false);
}

PROC_TEST(a_child_killed_while_blocked_in_put_leaves_the_queue_usable, .timeout = 60) {
    killed_while_blocked(m, true);
}

/* ---- signals ---- */

static void on_signal(int sig) {
    (void)sig;
}

struct blocked {
    pc_mpqueue *q;
    _Atomic int started, rc;
    double timeout;
};

static void *blocked_get(void *arg) {
    struct blocked *b = arg;
    char c;
    size_t len;
    atomic_store(&b->started, 1);
    atomic_store(&b->rc, pc_mpqueue_get(b->q, &c, 1, &len, b->timeout));
    return NULL;
}

Test(mpqueue_fault, signals_do_not_end_a_wait, .timeout = 60) {
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART */
    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    struct blocked b = {.q = make(0, 0), .rc = 1, .timeout = PC_FOREVER};
    pthread_t t = start_pthread(blocked_get, &b);
    while (!atomic_load(&b.started))
        usleep(1000);
    for (int i = 0; i < 100; i++) {
        pthread_kill(t, SIGUSR1);
        usleep(1000);
    }
    cr_assert_eq(atomic_load(&b.rc), 1, "the get ended with %d", atomic_load(&b.rc));
    expect_rc(pc_mpqueue_put(b.q, "s", 1, 0), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    expect_rc(atomic_load(&b.rc), 0);

    /* a timed wait under a signal storm ends at its timeout, not before */
    b.rc = 1;
    b.started = 0;
    b.timeout = 0.2;
    double t0 = pc_now();
    t = start_pthread(blocked_get, &b);
    while (atomic_load(&b.rc) == 1) {
        pthread_kill(t, SIGUSR1);
        usleep(500);
    }
    double waited = pc_now() - t0;
    cr_assert_eq(pthread_join(t, NULL), 0);
    expect_rc(atomic_load(&b.rc), -ETIMEDOUT);
    cr_assert(waited >= 0.18 && waited < 5, "waited %f", waited);
    expect_rc(pc_mpqueue_free(b.q), 0);
}

/* ---- file descriptors ---- */

/* Child: with no file descriptor left to open, put n messages. */
static int put_without_fds(void *arg, size_t len) {
    pc_mpqueue *q;
    if (child_setup(arg, len, &q) < 0)
        return 90;
    struct rlimit rl = {0, 0};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 91;
    if (dup(0) >= 0 || errno != EMFILE)
        return 92;
    for (long i = 0; i < 1000; i++)
        if (pc_mpqueue_put(q, &i, sizeof i, 30) != 0)
            return 93;
    return 0;
}

PROC_TEST(a_process_out_of_file_descriptors_uses_queues_as_before, .timeout = 60) {
    pc_mpqueue *q = make(10, 0); /* bounded: both sides wait */
    _Atomic int *flag;
    struct job j = job_for(q, &flag);
    pc_process *p = start_fn(m, put_without_fds, &j, sizeof j, NULL, 0);
    /* the parent too: every descriptor taken */
    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 256;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fds[256], n = 0;
    while (n < 256 && (fds[n] = dup(0)) >= 0)
        n++;
    cr_assert_eq(errno, EMFILE);
    for (long i = 0; i < 1000; i++) {
        long v;
        size_t len;
        expect_rc(pc_mpqueue_get(q, &v, sizeof v, &len, 30), 0);
        cr_assert_eq(v, i);
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    cr_assert_eq(join_code(p), 0);
    pc_process_free(p);
    expect_rc(pc_shared_free(flag), 0);
    expect_rc(pc_mpqueue_free(q), 0);
}
