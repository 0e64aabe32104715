/* Pipe fault cases: a full pipe and timeouts in the middle of messages,
 * signals (EINTR) during blocking calls, a writer killed in the middle of
 * a message, running out of file descriptors and memory, big messages. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

static unsigned char pattern(size_t i, unsigned seed) {
    return (unsigned char)((i * 2654435761u + seed) >> 13);
}

static unsigned char *make_msg(size_t len, unsigned seed) {
    unsigned char *p = malloc(len ? len : 1);
    cr_assert_not_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = pattern(i, seed);
    return p;
}

static bool msg_ok(const unsigned char *p, size_t len, unsigned seed) {
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern(i, seed))
            return false;
    return true;
}

/* ------------------------------------------------------------- full pipe */

Test(pipe_fault, full_pipe_send_times_out_with_nothing_sent, .timeout = 30) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    char small[100] = {0};
    long sent = 0;
    int rc;
    while ((rc = pc_conn_send(w, small, sizeof small, 0)) == 0)
        sent++;
    expect_rc(rc, -ETIMEDOUT);
    cr_assert_gt(sent, 10);
    double t0 = pc_now();
    expect_rc(pc_conn_send(w, small, sizeof small, 0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5, "send waited %.3f s", dt);
    /* The stream is intact: exactly `sent` messages, then nothing. */
    size_t len;
    for (long i = 0; i < sent; i++) {
        expect_rc(pc_conn_recv(r, small, sizeof small, &len, 5.0), 0);
        cr_assert_eq(len, sizeof small);
    }
    expect_rc(pc_conn_recv(r, small, sizeof small, &len, 0), -ETIMEDOUT);
    pc_conn_free(r);
    pc_conn_free(w);
}

struct drain {
    pc_conn *c;
    int n;
    size_t lens[4];
    unsigned seeds[4];
    int ok;
};

static void *drain_thread(void *arg) {
    struct drain *d = arg;
    for (int i = 0; i < d->n; i++) {
        void *p;
        size_t len;
        if (pc_conn_recv_alloc(d->c, &p, &len, 20.0) != 0)
            return NULL;
        bool good = len == d->lens[i] && msg_ok(p, len, d->seeds[i]);
        pc_conn_buf_free(p);
        if (!good)
            return NULL;
    }
    d->ok = 1;
    return NULL;
}

/* A send that times out after its first byte keeps the rest and succeeds;
 * the rest goes out first, and a send that cannot finish it fails with
 * its own message unsent. */
Test(pipe_fault, timeout_in_the_middle_of_a_message_commits_its_rest, .timeout = 60) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    size_t big = 4u << 20;
    unsigned char *m1 = make_msg(big, 1), *m2 = make_msg(1000, 2), *m3 = make_msg(3, 3);
    double t0 = pc_now();
    expect_rc(pc_conn_send(w, m1, big, 0.1), 0); /* committed, not all written */
    cr_assert_lt(pc_now() - t0, 5.0);
    memset(m1, 0, big);                                  /* the caller's buffer is free again */
    expect_rc(pc_conn_send(w, m2, 1000, 0), -ETIMEDOUT); /* the rest is still queued */
    expect_rc(pc_conn_flush(w, 0), -ETIMEDOUT);
    struct drain d = {.c = r, .n = 3, .lens = {big, 1000, 3}, .seeds = {1, 2, 3}};
    pthread_t t = start_pthread(drain_thread, &d);
    expect_rc(pc_conn_send(w, m2, 1000, 20.0), 0);
    expect_rc(pc_conn_flush(w, 20.0), 0);
    expect_rc(pc_conn_send(w, m3, 3, 20.0), 0);
    pthread_join(t, NULL);
    cr_assert(d.ok, "the reader saw a wrong message");
    free(m1);
    free(m2);
    free(m3);
    pc_conn_free(r);
    pc_conn_free(w);
}

/* A receive that times out in the middle of a message keeps what came;
 * receives with timeout 0 in a loop, switching between the two kinds of
 * receive, get every message whole. */
Test(pipe_fault, timeout_in_the_middle_of_a_receive_loses_nothing, .timeout = 60) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    enum { N = 6 };
    size_t lens[N] = {3u << 20, 0, 1, 1u << 20, 70000, 5};
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        for (int i = 0; i < N; i++) {
            unsigned char *m = make_msg(lens[i], (unsigned)i);
            if (pc_conn_send(w, m, lens[i], 20.0) != 0)
                _exit(1);
            free(m);
        }
        _exit(0);
    }
    pc_conn_free(w);
    unsigned char *buf = malloc(4u << 20);
    long timeouts = 0;
    for (int i = 0; i < N; i++) {
        size_t len;
        int rc;
        void *p = NULL;
        for (;;) {
            rc = (i % 2) ? pc_conn_recv_alloc(r, &p, &len, 0)
                         : pc_conn_recv(r, buf, 4u << 20, &len, 0);
            if (rc != -ETIMEDOUT)
                break;
            timeouts++;
            pc_conn_poll(r, 1.0);
            if ((timeouts & 1) && !(i % 2)) /* switch kinds in the middle */
                rc = pc_conn_recv_alloc(r, &p, &len, 0);
            if (rc == 0)
                break;
        }
        expect_rc(rc, 0);
        cr_assert_eq(len, lens[i]);
        cr_assert(msg_ok(p ? p : buf, len, (unsigned)i), "message %d damaged", i);
        pc_conn_buf_free(p);
    }
    size_t len;
    expect_rc(pc_conn_recv(r, buf, 16, &len, 10.0), -EPIPE);
    cr_assert_gt(timeouts, 0);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(buf);
    pc_conn_free(r);
}

/* ------------------------------------------------------------------ EINTR */

static atomic_long signals_seen;
static void on_signal(int sig) {
    (void)sig;
    atomic_fetch_add(&signals_seen, 1);
}

struct storm {
    pthread_t targets[2];
    atomic_bool stop;
};

static void *storm_thread(void *arg) {
    struct storm *s = arg;
    while (!atomic_load(&s->stop)) {
        pthread_kill(s->targets[0], SIGUSR1);
        pthread_kill(s->targets[1], SIGUSR1);
        usleep(50);
    }
    return NULL;
}

struct storm_writer {
    pc_conn *c;
    int n;
    int ok;
};

static size_t storm_len(int i) {
    return (size_t)(i * 7919) % 150000;
}

static void *storm_writer_thread(void *arg) {
    struct storm_writer *sw = arg;
    for (int i = 0; i < sw->n; i++) {
        unsigned char *m = make_msg(storm_len(i), (unsigned)i);
        int rc = pc_conn_send(sw->c, m, storm_len(i), PC_FOREVER);
        free(m);
        if (rc != 0)
            return NULL;
    }
    sw->ok = 1;
    return NULL;
}

Test(pipe_fault, signals_during_blocking_calls_are_not_errors, .timeout = 120) {
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, true), 0);
    struct storm_writer sw = {.c = w, .n = 400};
    struct storm s = {.targets = {pthread_self(), start_pthread(storm_writer_thread, &sw)}};
    pthread_t st = start_pthread(storm_thread, &s);
    unsigned char *buf = malloc(150000);
    for (int i = 0; i < sw.n; i++) {
        size_t len;
        if (i % 50 == 0) /* a blocking wait with nothing to read for a while */
            pc_sleep(0.005);
        expect_rc(pc_conn_recv(r, buf, 150000, &len, PC_FOREVER), 0);
        cr_assert_eq(len, storm_len(i));
        cr_assert(msg_ok(buf, len, (unsigned)i), "message %d damaged", i);
    }
    pthread_join(s.targets[1], NULL);
    cr_assert(sw.ok, "a send failed");
    /* A poll and a timed receive that wait through the storm. */
    double t0 = pc_now();
    expect_rc(pc_conn_poll(r, 0.2), 0);
    size_t len;
    expect_rc(pc_conn_recv(r, buf, 16, &len, 0.2), -ETIMEDOUT);
    cr_assert_geq(pc_now() - t0, 0.36);
    atomic_store(&s.stop, true);
    pthread_join(st, NULL);
    cr_assert_gt(atomic_load(&signals_seen), 10);
    free(buf);
    pc_conn_free(r);
    pc_conn_free(w);
}

/* ------------------------------------------------- writer killed mid-message */

Test(pipe_fault, writer_killed_in_the_middle_of_a_message, .timeout = 60) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    int go[2];
    cr_assert_eq(pipe(go), 0);
    size_t big = 64u << 20;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        pc_conn_free(r);
        unsigned char *m = make_msg(big, 9);
        if (pc_conn_send(w, "whole", 5, 10.0) != 0)
            _exit(1);
        if (write(go[1], "s", 1) != 1)
            _exit(2);
        pc_conn_send(w, m, big, PC_FOREVER); /* blocks: nobody reads it all */
        _exit(3);
    }
    pc_conn_free(w);
    close(go[1]);
    char x;
    cr_assert_eq(read(go[0], &x, 1), 1);
    /* Wait until part of the big message is in the socket, then kill. */
    int queued = 0;
    for (int i = 0; i < 10000 && queued < 65536; i++) {
        ioctl(pc_conn_fileno(r), FIONREAD, &queued);
        if (queued < 65536)
            usleep(1000);
    }
    cr_assert_geq(queued, 65536);
    kill(pid, SIGKILL);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    char buf[16];
    size_t len;
    expect_rc(pc_conn_recv(r, buf, sizeof buf, &len, 5.0), 0);
    cr_assert_eq(len, 5);
    void *p = NULL;
    expect_rc(pc_conn_recv_alloc(r, &p, &len, 10.0), -ECONNRESET);
    cr_assert_null(p);
    expect_rc(pc_conn_recv(r, buf, sizeof buf, &len, 5.0), -EPIPE);
    close(go[0]);
    pc_conn_free(r);
}

/* A writer killed before its length was complete: the same report. */
Test(pipe_fault, writer_gone_inside_the_length) {
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pc_conn *r;
    expect_rc(pc_conn_from_fd(&r, sv[0], PC_CONN_READ), 0);
    cr_assert_eq(write(sv[1], "\x05\0\0", 3), 3);
    char buf[16];
    size_t len;
    expect_rc(pc_conn_recv(r, buf, sizeof buf, &len, 0), -ETIMEDOUT);
    close(sv[1]);
    expect_rc(pc_conn_recv(r, buf, sizeof buf, &len, 5.0), -ECONNRESET);
    expect_rc(pc_conn_recv(r, buf, sizeof buf, &len, 5.0), -EPIPE);
    pc_conn_free(r);
}

/* --------------------------------------------------- out of fds, of memory */

static int next_fd(void) {
    int fd = dup(0);
    cr_assert_geq(fd, 0);
    close(fd);
    return fd;
}

Test(pipe_fault, out_of_file_descriptors_is_emfile_and_leaks_nothing) {
    struct rlimit rl = {.rlim_cur = 64, .rlim_max = 64};
    struct rlimit old;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl.rlim_max = old.rlim_max;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int held[64], n = 0;
    for (;;) {
        int fd = dup(0);
        if (fd < 0) {
            cr_assert_eq(errno, EMFILE);
            break;
        }
        cr_assert_lt(n, 64);
        held[n++] = fd;
    }
    pc_conn *a = NULL, *b = NULL;
    expect_rc(pc_pipe(&a, &b, true), -EMFILE);
    cr_assert_null(a);
    close(held[--n]); /* one free: a pair needs two */
    expect_rc(pc_pipe(&a, &b, false), -EMFILE);
    cr_assert_null(a);
    int fd = dup(0); /* the one free fd is still free */
    cr_assert_geq(fd, 0);
    close(fd);
    close(held[--n]);
    expect_rc(pc_pipe(&a, &b, true), 0);
    expect_rc(pc_conn_send(a, "ok", 2, 1.0), 0);
    pc_conn_free(a);
    pc_conn_free(b);
    while (n > 0)
        close(held[--n]);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
}

Test(pipe_fault, out_of_memory_is_enomem_and_leaks_nothing) {
    int before = next_fd();
    pc_conn *a = NULL, *b = NULL;
    for (long nth = 1; nth <= 2; nth++) {
        pc_alloc_fail_nth(nth);
        expect_rc(pc_pipe(&a, &b, true), -ENOMEM);
        cr_assert_null(a);
        cr_assert_eq(next_fd(), before);
    }
    pc_alloc_fail_nth(0);
    expect_rc(pc_pipe(&a, &b, true), 0);
    /* A receive that cannot allocate its buffer keeps the message. */
    expect_rc(pc_conn_send(a, "kept", 4, 1.0), 0);
    void *p;
    size_t len;
    pc_alloc_fail_nth(1);
    expect_rc(pc_conn_recv_alloc(b, &p, &len, 1.0), -ENOMEM);
    pc_alloc_fail_nth(0);
    expect_rc(pc_conn_recv_alloc(b, &p, &len, 1.0), 0);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(p, "kept", 4), 0);
    pc_conn_buf_free(p);
    pc_conn_free(a);
    pc_conn_free(b);
    cr_assert_eq(next_fd(), before);
}

/* ------------------------------------------------------------ big messages */

static void big_message(size_t big) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        pc_conn_free(r);
        unsigned char *m =
            mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            _exit(2);
        for (size_t i = 0; i < big; i += 4096)
            m[i] = pattern(i, 5);
        m[big - 1] = 0x5a;
        _exit(pc_conn_send(w, m, big, 120.0) == 0 ? 0 : 1);
    }
    pc_conn_free(w);
    char small[16];
    size_t len = 0;
    expect_rc(pc_conn_recv(r, small, sizeof small, &len, 60.0), -EMSGSIZE);
    cr_assert_eq(len, big);
    void *p;
    expect_rc(pc_conn_recv_alloc(r, &p, &len, 120.0), 0);
    cr_assert_eq(len, big);
    unsigned char *m = p;
    size_t bad = big;
    for (size_t i = 0; i < big - 1 && bad == big; i++)
        if (m[i] != (i % 4096 ? 0 : pattern(i, 5)))
            bad = i;
    cr_assert_eq(bad, big, "byte %zu differs", bad);
    cr_assert_eq(m[big - 1], 0x5a);
    pc_conn_buf_free(p);
    expect_rc(pc_conn_recv(r, small, sizeof small, &len, 10.0), -EPIPE);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
    pc_conn_free(r);
}

Test(pipe_fault, a_64_mib_message, .timeout = 60) {
    big_message(64u << 20);
}

/* 1 GiB and a byte (past any 32-bit signed length): 2 GiB of memory and a
 * few seconds, so only with PC_SLOW_TESTS=1. */
Test(pipe_fault, a_1_gib_message, .timeout = 300) {
    const char *slow = getenv("PC_SLOW_TESTS");
    if (!slow || strcmp(slow, "1") != 0) {
        cr_log_info("skipped: set PC_SLOW_TESTS=1 to send a 1 GiB message");
        return;
    }
    big_message((1u << 30) + 1);
}
