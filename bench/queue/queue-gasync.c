/*
 * Peer: GLib's GAsyncQueue under the producer/consumer harness.
 * GAsyncQueue has no bound: --maxsize must be 0 (its producers never block,
 * which favours it; GLib offers nothing closer to Queue(1024)).
 */
#include <glib.h>

#include "bench.h"
#include "qbench.h"

static void *make(long maxsize) {
    if (maxsize != 0)
        bench_die("GAsyncQueue is unbounded: --maxsize must be 0");
    return g_async_queue_new();
}

static void put(void *q, void *item) {
    g_async_queue_push(q, item);
}

static void *get(void *q) {
    return g_async_queue_pop(q);
}

static void destroy(void *q) {
    g_async_queue_unref(q);
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    return qbench_main(&(qbench_ops){make, put, get, destroy, .fifo = true});
}
