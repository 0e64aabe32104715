/* Pipe with several senders or receivers on one connection (threads), and
 * with coroutines: a coroutine blocked in send, recv or poll parks only
 * itself. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

/* A message of thread t, number i: a header then bytes all equal to t, so
 * that bytes of two messages mixed together show. */
struct tag {
    int t, i;
};

static size_t msg_len(int t, int i) {
    return sizeof(struct tag) + (size_t)((t * 31 + i * 7919) % 120000);
}

static unsigned char *make(int t, int i, size_t *len) {
    *len = msg_len(t, i);
    unsigned char *m = malloc(*len);
    cr_assert_not_null(m);
    memcpy(m, &(struct tag){t, i}, sizeof(struct tag));
    memset(m + sizeof(struct tag), t + 1, *len - sizeof(struct tag));
    return m;
}

/* -1 when damaged, else the sender. */
static int check(const unsigned char *m, size_t len, struct tag *out) {
    if (len < sizeof(struct tag))
        return -1;
    memcpy(out, m, sizeof *out);
    if (out->t < 0 || out->t > 16 || len != msg_len(out->t, out->i))
        return -1;
    for (size_t k = sizeof(struct tag); k < len; k++)
        if (m[k] != out->t + 1)
            return -1;
    return out->t;
}

enum { SENDERS = 4, PER_SENDER = 150 };

struct sender {
    pc_conn *c;
    int t;
    int ok;
};

static void *sender_thread(void *arg) {
    struct sender *s = arg;
    for (int i = 0; i < PER_SENDER; i++) {
        size_t len;
        unsigned char *m = make(s->t, i, &len);
        int rc = pc_conn_send(s->c, m, len, 30.0);
        free(m);
        if (rc != 0)
            return NULL;
    }
    s->ok = 1;
    return NULL;
}

Test(pipe_concurrency, senders_never_mix_their_messages, .timeout = 60) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    struct sender s[SENDERS];
    pthread_t t[SENDERS];
    for (int k = 0; k < SENDERS; k++) {
        s[k] = (struct sender){w, k, 0};
        t[k] = start_pthread(sender_thread, &s[k]);
    }
    int next[SENDERS] = {0};
    for (int n = 0; n < SENDERS * PER_SENDER; n++) {
        void *p;
        size_t len;
        expect_rc(pc_conn_recv_alloc(r, &p, &len, 30.0), 0);
        struct tag tag;
        int who = check(p, len, &tag);
        cr_assert_geq(who, 0, "message %d damaged", n);
        cr_assert_lt(who, SENDERS);
        cr_assert_eq(tag.i, next[who]++, "sender %d out of order", who); /* FIFO per sender */
        pc_conn_buf_free(p);
    }
    for (int k = 0; k < SENDERS; k++) {
        pthread_join(t[k], NULL);
        cr_assert(s[k].ok);
    }
    pc_conn_free(r);
    pc_conn_free(w);
}

struct receiver {
    pc_conn *c;
    long count;
    int bad;
};

static void *receiver_thread(void *arg) {
    struct receiver *rv = arg;
    unsigned char *buf = malloc(200000);
    for (;;) {
        size_t len;
        int rc = pc_conn_recv(rv->c, buf, 200000, &len, 30.0);
        if (rc == -EPIPE)
            break;
        struct tag tag;
        if (rc != 0 || check(buf, len, &tag) < 0) {
            rv->bad++;
            break;
        }
        rv->count++;
    }
    free(buf);
    return NULL;
}

Test(pipe_concurrency, receivers_get_whole_messages, .timeout = 60) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, true), 0);
    struct receiver rv[3] = {{r, 0, 0}, {r, 0, 0}, {r, 0, 0}};
    pthread_t t[3];
    for (int k = 0; k < 3; k++)
        t[k] = start_pthread(receiver_thread, &rv[k]);
    struct sender s = {w, 2, 0};
    sender_thread(&s);
    cr_assert(s.ok);
    expect_rc(pc_conn_close(w), 0); /* end of stream for all three */
    long total = 0;
    for (int k = 0; k < 3; k++) {
        pthread_join(t[k], NULL);
        cr_assert_eq(rv[k].bad, 0);
        total += rv[k].count;
    }
    cr_assert_eq(total, PER_SENDER);
    pc_conn_free(r);
    pc_conn_free(w);
}

/* Another sender holds the connection (its message is stuck in a full
 * pipe): a send with a timeout waits for it no longer than the timeout,
 * and close reports the busy connection. */
struct stuck {
    pc_conn *c;
    size_t len;
    int rc;
};

static void *stuck_sender(void *arg) {
    struct stuck *s = arg;
    unsigned char *m = calloc(1, s->len);
    s->rc = pc_conn_send(s->c, m, s->len, PC_FOREVER);
    free(m);
    return NULL;
}

Test(pipe_concurrency, send_timeout_behind_another_sender, .timeout = 60) {
    pc_conn *r, *w;
    expect_rc(pc_pipe(&r, &w, false), 0);
    struct stuck s = {w, 8u << 20, 1};
    pthread_t t = start_pthread(stuck_sender, &s);
    /* Wait until the stuck sender is inside: a send that tries once fails. */
    int rc;
    while ((rc = pc_conn_send(w, "x", 1, 0)) == 0) {
        void *p;
        size_t len;
        expect_rc(pc_conn_recv_alloc(r, &p, &len, 5.0), 0);
        pc_conn_buf_free(p);
        usleep(1000);
    }
    expect_rc(rc, -ETIMEDOUT);
    double t0 = pc_now();
    expect_rc(pc_conn_send(w, "x", 1, 0.2), -ETIMEDOUT);
    double dt = pc_now() - t0;
    cr_assert(dt >= 0.18 && dt < 5, "waited %.3f s", dt);
    expect_rc(pc_conn_close(w), -EBUSY);
    void *p;
    size_t len;
    expect_rc(pc_conn_recv_alloc(r, &p, &len, 30.0), 0);
    cr_assert_eq(len, s.len);
    pc_conn_buf_free(p);
    pthread_join(t, NULL);
    expect_rc(s.rc, 0);
    pc_conn_free(r);
    pc_conn_free(w);
}

/* -------------------------------------------------------------- coroutines */

static atomic_int ticks;

static int ticker(void *arg, void **value) {
    (void)value;
    atomic_bool *stop = arg;
    while (!atomic_load(stop)) {
        atomic_fetch_add(&ticks, 1);
        int rc = pc_coro_sleep(0.001);
        if (rc)
            return rc;
    }
    return 0;
}

struct coro_recv {
    pc_conn *c;
    atomic_bool *stop;
    char got[32];
    int ticks_while_blocked;
};

static int blocked_receiver(void *arg, void **value) {
    (void)value;
    struct coro_recv *cr = arg;
    int before = atomic_load(&ticks);
    int rc = pc_conn_poll(cr->c, 10.0);
    if (rc != 1)
        return rc < 0 ? rc : -EIO;
    size_t len;
    rc = pc_conn_recv(cr->c, cr->got, sizeof cr->got - 1, &len, 10.0);
    cr->ticks_while_blocked = atomic_load(&ticks) - before;
    atomic_store(cr->stop, true);
    if (rc == 0)
        cr->got[len] = 0;
    return rc;
}

struct delayed {
    pc_conn *c;
};

static void *delayed_send(void *arg) {
    struct delayed *d = arg;
    while (atomic_load(&ticks) < 20) /* the ticker runs while the receiver waits */
        usleep(1000);
    pc_conn_send(d->c, "from a thread", 13, 10.0);
    return NULL;
}

Test(pipe_concurrency, a_coroutine_in_recv_parks_only_itself, .timeout = 60) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, true), 0);
    atomic_bool stop = false;
    struct coro_recv cr = {.c = b, .stop = &stop};
    pc_coro *rc, *tc;
    expect_rc(pc_coro_spawn(&rc, blocked_receiver, &cr, NULL), 0);
    expect_rc(pc_coro_spawn(&tc, ticker, &stop, NULL), 0);
    struct delayed d = {a};
    pthread_t t = start_pthread(delayed_send, &d);
    expect_rc(pc_coro_join(rc, 30.0), 0);
    expect_rc(pc_coro_join(tc, 30.0), 0);
    pthread_join(t, NULL);
    expect_rc(pc_coro_error(rc), 0);
    cr_assert_str_eq(cr.got, "from a thread");
    cr_assert_geq(cr.ticks_while_blocked, 20);
    pc_coro_free(rc);
    pc_coro_free(tc);
    pc_conn_free(a);
    pc_conn_free(b);
}

/* Two coroutines of one loop, one sending and one receiving on the same
 * duplex end, while a thread echoes at the other end: the two wait on the
 * same socket at once. */
enum { ECHOES = 200, ECHO_LEN = 65536 };

static void *echo_thread(void *arg) {
    pc_conn *c = arg;
    for (;;) {
        void *p;
        size_t len;
        if (pc_conn_recv_alloc(c, &p, &len, 30.0) != 0)
            break;
        int rc = pc_conn_send(c, p, len, 30.0);
        pc_conn_buf_free(p);
        if (rc)
            break;
    }
    return NULL;
}

static int coro_sender(void *arg, void **value) {
    (void)value;
    pc_conn *c = arg;
    unsigned char *m = malloc(ECHO_LEN);
    int rc = 0;
    for (int i = 0; i < ECHOES && rc == 0; i++) {
        memset(m, i, ECHO_LEN);
        rc = pc_conn_send(c, m, ECHO_LEN, 30.0);
    }
    free(m);
    return rc;
}

static int coro_receiver(void *arg, void **value) {
    pc_conn *c = arg;
    unsigned char *m = malloc(ECHO_LEN);
    long got = 0;
    int rc = 0;
    for (int i = 0; i < ECHOES; i++) {
        size_t len;
        rc = pc_conn_recv(c, m, ECHO_LEN, &len, 30.0);
        if (rc)
            break;
        if (len != ECHO_LEN || m[0] != (unsigned char)i || m[ECHO_LEN - 1] != (unsigned char)i) {
            rc = -EIO;
            break;
        }
        got++;
    }
    free(m);
    *value = (void *)got;
    return rc;
}

Test(pipe_concurrency, coroutines_send_and_receive_on_one_end, .timeout = 60) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, true), 0);
    pthread_t t = start_pthread(echo_thread, b);
    pc_coro *s, *r;
    expect_rc(pc_coro_spawn(&r, coro_receiver, a, NULL), 0);
    expect_rc(pc_coro_spawn(&s, coro_sender, a, NULL), 0);
    expect_rc(pc_coro_join(s, 50.0), 0);
    expect_rc(pc_coro_join(r, 50.0), 0);
    expect_rc(pc_coro_error(s), 0);
    expect_rc(pc_coro_error(r), 0);
    cr_assert_eq((long)pc_coro_value(r), ECHOES);
    pc_coro_free(s);
    pc_coro_free(r);
    expect_rc(pc_conn_close(a), 0); /* the echo thread sees the end */
    pthread_join(t, NULL);
    pc_conn_free(a);
    pc_conn_free(b);
}

static int recv_forever(void *arg, void **value) {
    (void)value;
    char buf[8];
    size_t len;
    return pc_conn_recv(arg, buf, sizeof buf, &len, PC_FOREVER);
}

static int recv_timeout(void *arg, void **value) {
    (void)value;
    char buf[8];
    size_t len;
    double t0 = pc_now();
    int rc = pc_conn_recv(arg, buf, sizeof buf, &len, 0.2);
    double dt = pc_now() - t0;
    if (dt < 0.18 || dt > 5)
        return -EIO;
    t0 = pc_now();
    if (pc_conn_poll(arg, 0.2) != 0 || pc_now() - t0 < 0.18)
        return -EIO;
    return rc;
}

Test(pipe_concurrency, coroutine_timeouts_and_kill, .timeout = 60) {
    pc_conn *a, *b;
    expect_rc(pc_pipe(&a, &b, true), 0);
    pc_coro *c;
    expect_rc(pc_coro_spawn(&c, recv_timeout, b, NULL), 0);
    expect_rc(pc_coro_join(c, 10.0), 0);
    expect_rc(pc_coro_error(c), -ETIMEDOUT);
    pc_coro_free(c);

    expect_rc(pc_coro_spawn(&c, recv_forever, b, NULL), 0);
    expect_rc(pc_loop_run_until(pc_loop_current(), c, 0.05), -ETIMEDOUT);
    expect_rc(pc_coro_kill(c), 0);
    expect_rc(pc_coro_join(c, 10.0), 0);
    expect_rc(pc_coro_error(c), -ECANCELED);
    pc_coro_free(c);
    /* Nothing was lost or left behind by the killed receiver. */
    expect_rc(pc_conn_send(a, "after", 5, 1.0), 0);
    char buf[8];
    size_t len;
    expect_rc(pc_conn_recv(b, buf, sizeof buf, &len, 1.0), 0);
    cr_assert_eq(len, 5);
    pc_conn_free(a);
    pc_conn_free(b);
}
