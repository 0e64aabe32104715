/*
 * pyconc: a pc_queue ping-pong between two coroutines of one loop.  Ping
 * puts a message on `there` and gets the answer from `back`; pong gets
 * from `there` and puts it on `back`.  --kind queue (default): two
 * Queue(1), so each side also blocks on a full queue as an unbuffered
 * channel would; --kind simple: two SimpleQueues.  Every get finds its
 * queue empty and parks, so each message costs one park and one wake-up
 * of the other coroutine.  A pass runs the loop until ping has sent its
 * n messages there and back.  Figure: ns_per_msg (a message is one put
 * and its get; a round trip is two).  Floor: the bare swap's ping-pong
 * (`switch-bare`), where one switch hands over one message.
 */
#include <stdint.h>
#include <string.h>

#include <pyconc/loop.h>
#include <pyconc/queue.h>

#include "bench.h"

static pc_queue *there, *back;
static long rounds; /* round trips in this pass */

static int ping(void *arg, void **value) {
    (void)arg;
    (void)value;
    void *item;
    for (long i = 1; i <= rounds; i++) {
        bench_check(pc_queue_put(there, (void *)(intptr_t)i, PC_FOREVER), "ping put");
        bench_check(pc_queue_get(back, &item, PC_FOREVER), "ping get");
        if ((intptr_t)item != i)
            bench_die("round %ld came back as %ld", i, (long)(intptr_t)item);
    }
    return pc_queue_put(there, NULL, PC_FOREVER); /* the end marker */
}

static int pong(void *arg, void **value) {
    (void)arg;
    (void)value;
    void *item;
    for (;;) {
        bench_check(pc_queue_get(there, &item, PC_FOREVER), "pong get");
        if (!item)
            return 0;
        bench_check(pc_queue_put(back, item, PC_FOREVER), "pong put");
    }
}

static double pingpong_loop(long n, void *arg) {
    (void)arg;
    rounds = n;
    pc_coro *a, *b;
    int64_t t0 = bench_now_ns();
    bench_check(pc_coro_spawn(&b, pong, NULL, NULL), "pc_coro_spawn");
    bench_check(pc_coro_spawn(&a, ping, NULL, NULL), "pc_coro_spawn");
    bench_check(pc_loop_run(pc_loop_current()), "pc_loop_run");
    double s = (double)(bench_now_ns() - t0) * 1e-9;
    bench_check(pc_coro_error(a), "ping");
    bench_check(pc_coro_error(b), "pong");
    pc_coro_free(a);
    pc_coro_free(b);
    return s;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    const char *kind = bench_opt_str("kind", "queue");
    bench_opts_done();
    pc_queue_opts o = {.maxsize = 1};
    if (!strcmp(kind, "simple"))
        o = (pc_queue_opts){.kind = PC_QUEUE_SIMPLE};
    else if (strcmp(kind, "queue"))
        bench_die("--kind must be queue or simple");
    bench_check(pc_queue_new(&there, &o), "pc_queue_new");
    bench_check(pc_queue_new(&back, &o), "pc_queue_new");
    long n;
    double per = bench_per_op(pingpong_loop, NULL, &n) / 2; /* two messages a round */
    bench_metric("messages", 2.0 * (double)n, "messages");
    bench_metric("ns_per_msg", per * 1e9, "ns/msg");
    pc_queue_free(there);
    pc_queue_free(back);
    return 0;
}
