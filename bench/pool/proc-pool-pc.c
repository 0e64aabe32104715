/*
 * pyconc: the process pool (PC_POOL_PROCESSES).  --mode:
 *   map      pc_pool_map of --items trivial tasks (an int plus one) with
 *            --chunksize (0: Python's rule), --workers processes; the pool
 *            is made once.  Figure: tasks_per_s.  Peer: Python's
 *            Pool.map (bench/pool/pypool.py --mode map).
 *   apply    pc_pool_apply of a trivial task, one at a time (a round
 *            trip to a worker process).  Figure: ns_per_roundtrip.  Peer:
 *            a raw pipe round trip (bench/pipe/pipe-raw --mode rtt).
 *   cpu      pc_pool_map of --items tasks of about 1 ms of arithmetic each,
 *            chunksize 1.  Figure: s_per_map.  Peer: the same with
 *            --workers 1 (2 workers should take <= 55% of one's time).
 *   startup  pc_pool_new + the first apply's result + close + join, a new
 *            pool each time.  Figure: ns_per_op.  Peer: Python's
 *            Pool(2) + apply + close + join (pypool.py --mode startup).
 * --method: fork, spawn or forkserver (default fork, as Python's peer on
 * Linux before 3.14).
 */
#include <stdlib.h>
#include <string.h>

#include <pyconc.h>

#include "bench.h"

static int add_one(const void *arg, size_t len, pc_task_result *out) {
    int x;
    (void)len;
    memcpy(&x, arg, sizeof x);
    x++;
    return pc_task_return(out, &x, sizeof x);
}

static volatile long spin_per_ms = 300000;

static int burn(const void *arg, size_t len, pc_task_result *out) {
    (void)arg, (void)len;
    unsigned long h = 1469598103934665603ul;
    for (long i = 0; i < spin_per_ms; i++)
        h = (h ^ (unsigned long)i) * 1099511628211ul;
    return pc_task_return(out, &h, sizeof h);
}

typedef struct ctx {
    pc_pool *p;
    pc_pool_opts o;
    long items;
    long chunksize;
    int *xs;
} ctx;

static double run_map(long n, void *arg) {
    ctx *c = arg;
    int64_t t0 = bench_now_ns();
    for (long r = 0; r < n; r++) {
        pc_pool_map_result *m;
        bench_check(pc_pool_map(c->p, add_one, PC_POOL_ARRAY(c->xs, (size_t)c->items),
                                (size_t)c->chunksize, &m, PC_FOREVER),
                    "pc_pool_map");
        const void *b;
        if (pc_pool_map_get(m, (size_t)c->items - 1, &b, NULL) != 0 ||
            *(const int *)b != c->xs[c->items - 1] + 1)
            bench_die("wrong result");
        pc_pool_map_free(m);
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

static double run_apply(long n, void *arg) {
    ctx *c = arg;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        int x = (int)i, y = 0;
        bench_check(pc_pool_apply(c->p, add_one, &x, sizeof x, &y, sizeof y, NULL, PC_FOREVER),
                    "pc_pool_apply");
        if (y != x + 1)
            bench_die("wrong result");
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

static double run_cpu(long n, void *arg) {
    ctx *c = arg;
    int64_t t0 = bench_now_ns();
    for (long r = 0; r < n; r++) {
        pc_pool_map_result *m;
        bench_check(
            pc_pool_map(c->p, burn, PC_POOL_ARRAY(c->xs, (size_t)c->items), 1, &m, PC_FOREVER),
            "pc_pool_map");
        pc_pool_map_free(m);
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

static double run_startup(long n, void *arg) {
    ctx *c = arg;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        pc_pool *p;
        bench_check(pc_pool_new(&p, &c->o), "pc_pool_new");
        int x = 1, y = 0;
        bench_check(pc_pool_apply(p, add_one, &x, sizeof x, &y, sizeof y, NULL, PC_FOREVER),
                    "pc_pool_apply");
        bench_check(pc_pool_close(p), "pc_pool_close");
        bench_check(pc_pool_join(p, PC_FOREVER), "pc_pool_join");
        pc_pool_free(p);
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

static pc_start_method method_of(const char *s) {
    if (!strcmp(s, "fork"))
        return PC_START_FORK;
    if (!strcmp(s, "spawn"))
        return PC_START_SPAWN;
    if (!strcmp(s, "forkserver"))
        return PC_START_FORKSERVER;
    bench_die("--method: fork, spawn or forkserver");
}

/* Calibrate burn() to about 1 ms in this process. */
static void calibrate(void) {
    pc_task_result *none = NULL;
    (void)none;
    long lo = 100000;
    spin_per_ms = lo;
    int64_t t0 = bench_now_ns();
    unsigned long h = 1;
    for (long i = 0; i < lo; i++)
        h = (h ^ (unsigned long)i) * 1099511628211ul;
    int64_t dt = bench_now_ns() - t0;
    if (h == 42)
        bench_die("unlikely");
    spin_per_ms = dt > 0 ? lo * 1000000 / dt : lo;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    const char *mode = bench_opt_str("mode", "map");
    long workers = bench_opt_long("workers", 2);
    long items = bench_opt_long("items", 100000);
    long chunksize = bench_opt_long("chunksize", 1);
    const char *method = bench_opt_str("method", "fork");
    bench_opts_done();
    if (workers < 1 || items < 1 || chunksize < 0)
        bench_die("--workers and --items must be positive, --chunksize >= 0");
    ctx c = {.items = items, .chunksize = chunksize};
    c.o = (pc_pool_opts){
        .kind = PC_POOL_PROCESSES, .workers = (int)workers, .method = method_of(method)};
    long n;
    if (!strcmp(mode, "startup")) {
        double per = bench_per_op(run_startup, &c, &n);
        bench_metric("ns_per_op", per * 1e9, "ns");
        return 0;
    }
    if (!strcmp(mode, "cpu"))
        calibrate();
    bench_check(pc_pool_new(&c.p, &c.o), "pc_pool_new");
    c.xs = malloc((size_t)items * sizeof *c.xs);
    if (!c.xs)
        bench_die("no memory");
    for (long i = 0; i < items; i++)
        c.xs[i] = (int)i;
    if (!strcmp(mode, "map")) {
        double per = bench_per_op(run_map, &c, &n);
        bench_metric("tasks_per_s", (double)items / per, "tasks/s");
    } else if (!strcmp(mode, "apply")) {
        double per = bench_per_op(run_apply, &c, &n);
        bench_metric("ns_per_roundtrip", per * 1e9, "ns");
    } else if (!strcmp(mode, "cpu")) {
        double per = bench_per_op(run_cpu, &c, &n);
        bench_metric("s_per_map", per, "s");
    } else {
        bench_die("--mode: map, apply, cpu or startup");
    }
    pc_pool_close(c.p);
    bench_check(pc_pool_join(c.p, PC_FOREVER), "pc_pool_join");
    pc_pool_free(c.p);
    free(c.xs);
    return 0;
}
