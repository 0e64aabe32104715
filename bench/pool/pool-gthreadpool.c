/*
 * Peer: GLib's GThreadPool doing the work of bench/pool/pool-pc.c.
 * Batches of --batch tasks: each a heap item carrying its argument and a
 * slot for its result (what a future is), pushed with g_thread_pool_push;
 * the worker computes, stores the result and counts the batch down under
 * a GMutex, signalling a GCond at zero; the submitter waits for that, then
 * reads every result and frees the items.  --workers threads, exclusive
 * (started at once, as pyconc's pool starts its workers).
 * Figure: tasks_per_s.
 */
#include <glib.h>

#include "bench.h"

typedef struct batch_t {
    GMutex mu;
    GCond cv;
    long left; /* guarded by mu */
} batch_t;

typedef struct item {
    long x, result;
    batch_t *b;
} item;

static void work(gpointer data, gpointer user) {
    (void)user;
    item *it = data;
    it->result = it->x + 1;
    g_mutex_lock(&it->b->mu);
    if (--it->b->left == 0)
        g_cond_signal(&it->b->cv);
    g_mutex_unlock(&it->b->mu);
}

typedef struct run_arg {
    GThreadPool *pool;
    long batch;
    item **items;
    batch_t b;
} run_arg;

static double run(long n, void *arg) {
    run_arg *a = arg;
    int64_t t0 = bench_now_ns();
    for (long done = 0; done < n;) {
        long k = n - done < a->batch ? n - done : a->batch;
        g_mutex_lock(&a->b.mu);
        a->b.left = k;
        g_mutex_unlock(&a->b.mu);
        for (long i = 0; i < k; i++) {
            item *it = g_new(item, 1);
            *it = (item){done + i, 0, &a->b};
            a->items[i] = it;
            if (!g_thread_pool_push(a->pool, it, NULL))
                bench_die("g_thread_pool_push");
        }
        g_mutex_lock(&a->b.mu);
        while (a->b.left > 0)
            g_cond_wait(&a->b.cv, &a->b.mu);
        g_mutex_unlock(&a->b.mu);
        for (long i = 0; i < k; i++) {
            if (a->items[i]->result != done + i + 1)
                bench_die("wrong result");
            g_free(a->items[i]);
        }
        done += k;
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    long workers = bench_opt_long("workers", 2);
    long batch = bench_opt_long("batch", 256);
    bench_opts_done();
    if (workers < 1 || batch < 1)
        bench_die("--workers and --batch must be positive");
    run_arg a = {.batch = batch};
    g_mutex_init(&a.b.mu);
    g_cond_init(&a.b.cv);
    a.pool = g_thread_pool_new(work, NULL, (int)workers, TRUE, NULL);
    a.items = g_new0(item *, batch);
    long n;
    double per = bench_per_op(run, &a, &n);
    bench_metric("tasks_per_s", 1.0 / per, "tasks/s");
    g_thread_pool_free(a.pool, FALSE, TRUE);
    g_free(a.items);
    return 0;
}
