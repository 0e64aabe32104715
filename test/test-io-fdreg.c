/*
 * The loop's fd registration cache (src/loop/fdwait.c) seen through the
 * public API: fds registered once and edge-triggered must never lose a
 * wake-up, whatever happens to the fd number.  Each test would hang (and
 * hit its timeout, or the loop's -EDEADLK) if an edge were lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "helpers.h"

typedef struct pipe_io {
    int rd, wr;  /* the ends */
    int step;    /* how far the coroutine got */
    ssize_t got; /* what its last read returned */
    char buf[64];
} pipe_io;

static int read_one(void *arg, void **value) {
    (void)value;
    pipe_io *p = arg;
    p->got = pc_io_read(p->rd, p->buf, sizeof p->buf, 5.0);
    return p->got < 0 ? (int)p->got : 0;
}

static int write_one(void *arg, void **value) {
    (void)value;
    pipe_io *p = arg;
    return pc_io_write(p->wr, "x", 1, 5.0) == 1 ? 0 : -EIO;
}

/* Run a reader until it parks, then a writer: the reader must get the byte. */
static void read_after_park(int rd, int wr) {
    pipe_io p = {.rd = rd, .wr = wr};
    pc_coro *r, *w;
    expect_rc(pc_coro_spawn(&r, read_one, &p, NULL), 0);
    expect_rc(pc_loop_run_until(pc_loop_current(), r, 0.02), -ETIMEDOUT); /* r parked */
    expect_rc(pc_coro_spawn(&w, write_one, &p, NULL), 0);
    expect_rc(pc_coro_join(r, 5.0), 0);
    expect_rc(pc_coro_error(r), 0);
    expect_rc(pc_coro_join(w, 5.0), 0);
    expect_rc(pc_coro_error(w), 0);
    cr_assert_eq(p.got, 1);
    pc_coro_free(r);
    pc_coro_free(w);
}

/* A pc_io pipe, waited on (so registered and trusted), then closed with
 * pc_io_close: the number's next file, made outside pc_io, or by pc_io,
 * is waited on correctly. */
Test(io_fdreg, closed_number_reused_by_a_foreign_fd_and_by_pc_io, .timeout = 30) {
    int a[2];
    expect_rc(pc_io_pipe(a), 0);
    read_after_park(a[0], a[1]);
    int old = a[0];
    expect_rc(pc_io_close(a[0]), 0);
    expect_rc(pc_io_close(a[1]), 0);

    int b[2]; /* foreign: pipe2 takes the lowest free numbers, the same ones */
    cr_assert_eq(pipe2(b, O_NONBLOCK | O_CLOEXEC), 0);
    cr_assert_eq(b[0], old, "the number came back (%d, %d)", b[0], old);
    read_after_park(b[0], b[1]);
    read_after_park(b[0], b[1]);     /* again: a foreign fd re-registers each wait */
    expect_rc(pc_io_close(b[0]), 0); /* foreign fds may be closed either way */
    close(b[1]);

    int c[2];
    expect_rc(pc_io_pipe(c), 0);
    cr_assert_eq(c[0], old);
    read_after_park(c[0], c[1]);
    read_after_park(c[0], c[1]);
    pc_io_close(c[0]);
    pc_io_close(c[1]);
}

/* A foreign fd closed with close(2) while its file lives on in a dup: the
 * loop's epoll keeps the old registration, whose events name the reused
 * number.  They may wake the new file's reader spuriously, never wrongly. */
Test(io_fdreg, foreign_fd_closed_behind_the_loops_back_while_its_file_lives, .timeout = 30) {
    int a[2];
    cr_assert_eq(pipe2(a, O_NONBLOCK | O_CLOEXEC), 0);
    read_after_park(a[0], a[1]);
    int keep = dup(a[0]); /* the old file stays open */
    int old = a[0];
    close(a[0]);
    int b[2];
    cr_assert_eq(pipe2(b, O_NONBLOCK | O_CLOEXEC), 0);
    cr_assert_eq(b[0], old);
    cr_assert_eq(write(a[1], "o", 1), 1); /* an event of the old file, for number `old` */
    read_after_park(b[0], b[1]);
    char buf[4];
    cr_assert_eq(read(keep, buf, sizeof buf), 1); /* the old file kept its byte */
    close(keep);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

/* Readiness that comes after a short read (the loop counts the fd idle)
 * and before the park: the event is queued in the kernel, not lost. */
static int short_then_write_then_read(void *arg, void **value) {
    (void)value;
    pipe_io *p = arg;
    if (pc_io_write(p->wr, "ab", 2, 1.0) != 2)
        return -EIO;
    if (pc_io_read(p->rd, p->buf, sizeof p->buf, 1.0) != 2) /* short: idle now */
        return -EIO;
    p->step = 1;
    if (write(p->wr, "c", 1) != 1) /* readiness, nobody waiting yet */
        return -EIO;
    ssize_t n = pc_io_read(p->rd, p->buf, sizeof p->buf, 2.0); /* skips the try, parks */
    if (n != 1 || p->buf[0] != 'c')
        return -EIO;
    p->step = 2;
    /* the same after EAGAIN: see it, then the byte comes before the park */
    char b;
    if (read(p->rd, &b, 1) != -1 || errno != EAGAIN)
        return -EIO;
    if (write(p->wr, "d", 1) != 1)
        return -EIO;
    n = pc_io_read(p->rd, p->buf, sizeof p->buf, 2.0);
    if (n != 1 || p->buf[0] != 'd')
        return -EIO;
    p->step = 3;
    return 0;
}

Test(io_fdreg, readiness_between_idle_and_park_is_not_lost, .timeout = 30) {
    pipe_io p;
    memset(&p, 0, sizeof p);
    int fds[2];
    expect_rc(pc_io_pipe(fds), 0);
    p.rd = fds[0];
    p.wr = fds[1];
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, short_then_write_then_read, &p, NULL), 0);
    expect_rc(pc_coro_join(c, 10.0), 0);
    expect_rc(pc_coro_error(c), 0);
    cr_assert_eq(p.step, 3);
    pc_coro_free(c);
    pc_io_close(fds[0]);
    pc_io_close(fds[1]);
}

/* An event that the loop dispatches while nobody waits is remembered; a
 * stale memory (the bytes were read behind pyconc's back) costs a retry,
 * never a busy loop or a lost wake-up. */
static int remembered_event(void *arg, void **value) {
    (void)value;
    pipe_io *p = arg;
    char b;
    if (pc_io_read(p->rd, &b, 1, 0.05) != -ETIMEDOUT) /* registered, idle */
        return -EIO;
    if (write(p->wr, "e", 1) != 1)
        return -EIO;
    pc_coro_sleep(0.02); /* the loop sleeps in epoll: the event comes, nobody waits */
    if (pc_io_read(p->rd, &b, 1, 1.0) != 1 || b != 'e')
        return -EIO;
    if (write(p->wr, "f", 1) != 1)
        return -EIO;
    pc_coro_sleep(0.02);
    if (read(p->rd, &b, 1) != 1) /* behind pyconc's back: the memory is stale */
        return -EIO;
    double t0 = pc_now();
    if (pc_io_read(p->rd, &b, 1, 0.1) != -ETIMEDOUT)
        return -EIO;
    if (pc_now() - t0 < 0.09)
        return -EIO;
    p->step = 1;
    return 0;
}

Test(io_fdreg, event_while_nobody_waits_is_remembered, .timeout = 30) {
    pipe_io p;
    memset(&p, 0, sizeof p);
    int fds[2];
    expect_rc(pc_io_pipe(fds), 0);
    p.rd = fds[0];
    p.wr = fds[1];
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, remembered_event, &p, NULL), 0);
    expect_rc(pc_coro_join(c, 10.0), 0);
    expect_rc(pc_coro_error(c), 0);
    cr_assert_eq(p.step, 1);
    pc_coro_free(c);
    pc_io_close(fds[0]);
    pc_io_close(fds[1]);
}

/* A reader and a writer parked on one TCP socket at once. */
#define BULK (8 << 20)

typedef struct duplex {
    int x, y;   /* the two ends of one connection */
    char *bulk; /* BULK bytes */
    int reader_got;
} duplex;

static int x_reader(void *arg, void **value) {
    (void)value;
    duplex *d = arg;
    char buf[16];
    ssize_t n = pc_io_recv(d->x, buf, sizeof buf, 10.0); /* parks: y answers last */
    if (n != 4 || memcmp(buf, "done", 4) != 0)
        return -EIO;
    d->reader_got = 1;
    return 0;
}

static int x_writer(void *arg, void **value) {
    (void)value;
    duplex *d = arg;
    return pc_io_sendall(d->x, d->bulk, BULK, 10.0); /* parks: the buffers fill up */
}

static int y_side(void *arg, void **value) {
    (void)value;
    duplex *d = arg;
    static char buf[65536];
    size_t total = 0;
    while (total < BULK) {
        ssize_t n = pc_io_recv(d->y, buf, sizeof buf, 10.0);
        if (n <= 0)
            return n < 0 ? (int)n : -EPIPE;
        total += (size_t)n;
    }
    return pc_io_sendall(d->y, "done", 4, 10.0);
}

static int second_reader(void *arg, void **value) {
    (void)value;
    char b;
    return (int)pc_io_recv(((duplex *)arg)->x, &b, 1, 10.0);
}

Test(io_fdreg, reader_and_writer_on_one_socket, .timeout = 60) {
    int lfd = pc_io_listen_tcp("127.0.0.1", "0", 4);
    cr_assert_geq(lfd, 0);
    char port[16];
    snprintf(port, sizeof port, "%d", pc_io_local_port(lfd));
    duplex d = {.bulk = calloc(1, BULK)};
    d.x = pc_io_connect_tcp("127.0.0.1", port, 5.0);
    cr_assert_geq(d.x, 0);
    d.y = pc_io_accept(lfd, NULL, NULL, 5.0);
    cr_assert_geq(d.y, 0);
    pc_coro *r, *w, *r2, *y;
    expect_rc(pc_coro_spawn(&r, x_reader, &d, NULL), 0);
    expect_rc(pc_coro_spawn(&w, x_writer, &d, NULL), 0);
    expect_rc(pc_loop_run_until(pc_loop_current(), r, 0.05), -ETIMEDOUT); /* both parked */
    expect_rc(pc_coro_spawn(&r2, second_reader, &d, NULL), 0);
    expect_rc(pc_coro_join(r2, 5.0), 0);
    expect_rc(pc_coro_error(r2), -EBUSY); /* one reader per fd and loop */
    expect_rc(pc_coro_spawn(&y, y_side, &d, NULL), 0);
    expect_rc(pc_coro_join(r, 20.0), 0);
    expect_rc(pc_coro_error(r), 0);
    expect_rc(pc_coro_join(w, 20.0), 0);
    expect_rc(pc_coro_error(w), 0);
    expect_rc(pc_coro_join(y, 20.0), 0);
    expect_rc(pc_coro_error(y), 0);
    cr_assert_eq(d.reader_got, 1);
    pc_coro_free(r);
    pc_coro_free(w);
    pc_coro_free(r2);
    pc_coro_free(y);
    free(d.bulk);
    pc_io_close(d.x);
    pc_io_close(d.y);
    pc_io_close(lfd);
}

/* A timeout and a kill end a registered wait and free its slot: the next
 * wait on the fd works and gets what comes. */
static int read_forever(void *arg, void **value) {
    (void)value;
    pipe_io *p = arg;
    return (int)pc_io_read(p->rd, p->buf, sizeof p->buf, PC_FOREVER);
}

static int timed_read(void *arg, void **value) {
    (void)value;
    pipe_io *p = arg;
    return (int)pc_io_read(p->rd, p->buf, sizeof p->buf, 0.05);
}

Test(io_fdreg, timeout_and_kill_while_registered, .timeout = 30) {
    int fds[2];
    expect_rc(pc_io_pipe(fds), 0);
    pipe_io p = {.rd = fds[0], .wr = fds[1]};
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, timed_read, &p, NULL), 0);
    expect_rc(pc_coro_join(c, 5.0), 0);
    expect_rc(pc_coro_error(c), -ETIMEDOUT);
    pc_coro_free(c);
    expect_rc(pc_coro_spawn(&c, read_forever, &p, NULL), 0);
    expect_rc(pc_loop_run_until(pc_loop_current(), c, 0.02), -ETIMEDOUT);
    expect_rc(pc_coro_kill(c), 0);
    expect_rc(pc_coro_join(c, 5.0), 0);
    expect_rc(pc_coro_error(c), -ECANCELED);
    pc_coro_free(c);
    read_after_park(fds[0], fds[1]); /* the slot is free, the registration works */
    pc_io_close(fds[0]);
    pc_io_close(fds[1]);
}

/* pc_io_close from a coroutine of the loop wakes the fd's waiters with
 * -EBADF instead of leaving them parked on a dead registration. */
static int closer(void *arg, void **value) {
    (void)value;
    return pc_io_close(((pipe_io *)arg)->rd);
}

Test(io_fdreg, close_wakes_the_waiters_of_the_loop, .timeout = 30) {
    int fds[2];
    expect_rc(pc_io_pipe(fds), 0);
    pipe_io p = {.rd = fds[0], .wr = fds[1]};
    pc_coro *r, *c;
    expect_rc(pc_coro_spawn(&r, read_forever, &p, NULL), 0);
    expect_rc(pc_loop_run_until(pc_loop_current(), r, 0.02), -ETIMEDOUT);
    expect_rc(pc_coro_spawn(&c, closer, &p, NULL), 0);
    expect_rc(pc_coro_join(r, 5.0), 0);
    expect_rc(pc_coro_error(r), -EBADF);
    expect_rc(pc_coro_join(c, 5.0), 0);
    expect_rc(pc_coro_error(c), 0);
    pc_coro_free(r);
    pc_coro_free(c);
    pc_io_close(fds[1]);
}

/* The fd is registered in the main thread's loop; a coroutine of another
 * thread's loop waits on it too (its own registration), then closes it
 * with pc_io_close; the number, reused on the main thread, still works. */
typedef struct cross {
    pipe_io p;
    pc_event *parked, *go;
    int result;
} cross;

static int cross_reader(void *arg, void **value) {
    (void)value;
    cross *x = arg;
    pc_event_set(x->parked); /* it parks next, or finds the byte */
    ssize_t n = pc_io_read(x->p.rd, x->p.buf, sizeof x->p.buf, 5.0);
    if (n != 1)
        return n < 0 ? (int)n : -EIO;
    return pc_io_close(x->p.rd);
}

static void *cross_thread(void *arg) {
    cross *x = arg;
    pc_coro *c;
    x->result = pc_coro_spawn(&c, cross_reader, x, NULL);
    if (x->result)
        return NULL;
    x->result = pc_coro_join(c, 10.0);
    if (!x->result)
        x->result = pc_coro_error(c);
    pc_coro_free(c);
    pc_loop_close();
    return NULL;
}

Test(io_fdreg, wait_from_a_coroutine_of_another_threads_loop, .timeout = 30) {
    int fds[2];
    expect_rc(pc_io_pipe(fds), 0);
    read_after_park(fds[0], fds[1]); /* registered in this thread's loop */
    cross x = {.p = {.rd = fds[0], .wr = fds[1]}};
    expect_rc(pc_event_new(&x.parked), 0);
    pc_thread *t;
    expect_rc(pc_thread_new(&t, cross_thread, &x, NULL), 0);
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_event_wait(x.parked, 5.0), 0);
    cr_assert_eq(write(fds[1], "y", 1), 1);
    expect_rc(pc_thread_join(t, 10.0), 0);
    expect_rc(x.result, 0);
    pc_io_close(fds[1]);
    int b[2];
    cr_assert_eq(pipe2(b, O_NONBLOCK | O_CLOEXEC), 0); /* foreign, the closed numbers */
    cr_assert_eq(b[0], fds[0]);
    read_after_park(b[0], b[1]);
    close(b[0]);
    close(b[1]);
    pc_thread_free(t);
    pc_event_free(x.parked);
}

/* The public pc_wait_fd is level-triggered: called again without reading
 * everything, it returns at once. */
static int level_wait(void *arg, void **value) {
    (void)value;
    pipe_io *p = arg;
    if (write(p->wr, "gh", 2) != 2)
        return -EIO;
    for (int i = 0; i < 2; i++) {
        int r = pc_wait_fd(p->rd, EPOLLIN, 1.0);
        if (r < 0)
            return r;
        if (!(r & EPOLLIN))
            return -EIO;
        char b;
        if (read(p->rd, &b, 1) != 1) /* one byte of two */
            return -EIO;
    }
    return pc_wait_fd(p->rd, EPOLLIN, 0.05); /* nothing left: times out */
}

Test(io_fdreg, pc_wait_fd_stays_level_triggered, .timeout = 30) {
    int fds[2];
    expect_rc(pc_io_pipe(fds), 0);
    pipe_io p = {.rd = fds[0], .wr = fds[1]};
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, level_wait, &p, NULL), 0);
    expect_rc(pc_coro_join(c, 5.0), 0);
    expect_rc(pc_coro_error(c), -ETIMEDOUT);
    pc_coro_free(c);
    pc_io_close(fds[0]);
    pc_io_close(fds[1]);
}

/* End of stream reported with the last bytes: the short read must not
 * make the loop wait for an edge that never comes. */
static int read_to_eof(void *arg, void **value) {
    (void)value;
    pipe_io *p = arg;
    char b;
    if (pc_io_read(p->rd, &b, 1, 0.05) != -ETIMEDOUT) /* registered, idle */
        return -EIO;
    if (write(p->wr, "ij", 2) != 2)
        return -EIO;
    pc_io_close(p->wr);
    pc_coro_sleep(0.02); /* the event (data + hang-up) is dispatched now */
    if (pc_io_read(p->rd, p->buf, sizeof p->buf, 1.0) != 2) /* short */
        return -EIO;
    return (int)pc_io_read(p->rd, p->buf, sizeof p->buf, 1.0); /* 0: end of stream */
}

Test(io_fdreg, end_of_stream_after_a_short_read, .timeout = 30) {
    int fds[2];
    expect_rc(pc_io_pipe(fds), 0);
    pipe_io p = {.rd = fds[0], .wr = fds[1]};
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, read_to_eof, &p, NULL), 0);
    expect_rc(pc_coro_join(c, 5.0), 0);
    expect_rc(pc_coro_error(c), 0);
    pc_coro_free(c);
    pc_io_close(fds[0]);
}

/* A file epoll cannot watch: the error, not a hang. */
static int wait_on_file(void *arg, void **value) {
    (void)value;
    return pc_wait_fd((int)(intptr_t)arg, EPOLLIN, 1.0);
}

Test(io_fdreg, unpollable_fd_is_refused) {
    char path[] = "/tmp/pyconc-fdreg-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, wait_on_file, (void *)(intptr_t)fd, NULL), 0);
    expect_rc(pc_coro_join(c, 5.0), 0);
    expect_rc(pc_coro_error(c), -EPERM);
    pc_coro_free(c);
    close(fd);
}

/* A thread writes in bursts of random size while a coroutine reads with
 * short reads and now and then sleeps, so events land at every point of
 * the reader's path: after its read, between its idle check and its park,
 * while it sleeps elsewhere.  Every
 * byte must arrive, in order, with no read ever waiting out its timeout. */
#define RACE_BYTES 100000

typedef struct race {
    int rd, wr;
    long sent;
    _Atomic long acked; /* what the reader got so far */
} race;

static void *race_writer(void *arg) {
    race *r = arg;
    unsigned seed = 12345;
    unsigned char buf[256];
    long next = 0;
    while (next < RACE_BYTES) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % sizeof buf;
        if ((long)n > RACE_BYTES - next)
            n = (size_t)(RACE_BYTES - next);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)((next + (long)i) & 0xff);
        ssize_t w = pc_io_write(r->wr, buf, n, 10.0); /* a thread: poll(2) */
        if (w <= 0)
            break;
        next += w;
        /* each burst the last for a while: a lost edge would hang the reader */
        double t0 = pc_now();
        while (atomic_load(&r->acked) < next && pc_now() - t0 < 10)
            sched_yield();
    }
    r->sent = next;
    return NULL;
}

static int race_reader(void *arg, void **value) {
    (void)value;
    race *r = arg;
    unsigned char buf[97]; /* odd size: many short reads, some full ones */
    long got = 0;
    for (unsigned reads = 0; got < RACE_BYTES; reads++) {
        if (reads % 3 == 0)
            pc_coro_sleep(0.0001); /* the loop polls: events come while nobody waits */
        ssize_t n = pc_io_read(r->rd, buf, sizeof buf, 5.0);
        if (n <= 0)
            return n < 0 ? (int)n : -EPIPE;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (unsigned char)((got + i) & 0xff))
                return -EILSEQ;
        got += n;
        atomic_store(&r->acked, got);
    }
    return 0;
}

Test(io_fdreg, writer_thread_racing_a_parking_reader, .timeout = 120) {
    int fds[2];
    expect_rc(pc_io_pipe(fds), 0);
    race r = {.rd = fds[0], .wr = fds[1]};
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, race_reader, &r, NULL), 0);
    pc_thread *t;
    expect_rc(pc_thread_new(&t, race_writer, &r, NULL), 0);
    expect_rc(pc_thread_start(t), 0);
    expect_rc(pc_coro_join(c, 100.0), 0);
    expect_rc(pc_coro_error(c), 0);
    expect_rc(pc_thread_join(t, 10.0), 0);
    cr_assert_eq(r.sent, RACE_BYTES);
    pc_coro_free(c);
    pc_thread_free(t);
    pc_io_close(fds[0]);
    pc_io_close(fds[1]);
}
