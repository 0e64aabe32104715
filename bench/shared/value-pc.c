/*
 * pyconc: a shared Value (long, its own RLock) incremented under its lock
 * by two processes at once (the parent and a forked child), `--ops N`
 * increments each.  The clock runs from a shared barrier both pass to the
 * parent's join of the child.  Figure: ops_per_s (both processes' ops).
 */
#include <pyconc.h>

#include "bench.h"

struct arg {
    pc_shared_ref v, go;
    long ops;
};

static void add(pc_shvalue *v, long ops) {
    long *p = pc_shvalue_ptr(v);
    for (long i = 0; i < ops; i++) {
        bench_check(pc_shvalue_lock(v, PC_FOREVER), "pc_shvalue_lock");
        (*p)++;
        bench_check(pc_shvalue_unlock(v), "pc_shvalue_unlock");
    }
}

static int child(void *arg, size_t len) {
    (void)len;
    struct arg *a = arg;
    void *v, *go;
    bench_check(pc_shared_deref(a->v, &v), "deref");
    bench_check(pc_shared_deref(a->go, &go), "deref");
    if (pc_shbarrier_wait(go, 60) < 0)
        return 1;
    add(v, a->ops);
    return 0;
}

static double one_pass(long ops) {
    pc_shvalue *v;
    pc_shbarrier *go;
    bench_check(pc_shvalue_new(&v, PC_SH_LONG, 0, NULL), "pc_shvalue_new");
    bench_check(pc_shbarrier_new(&go, 2), "pc_shbarrier_new");
    struct arg a = {.ops = ops};
    bench_check(pc_shared_ref_of(v, &a.v), "ref");
    bench_check(pc_shared_ref_of(go, &a.go), "ref");
    pc_process *p;
    bench_check(
        pc_process_new(&p, child, &a, sizeof a, &(pc_process_opts){.method = PC_START_FORK}),
        "pc_process_new");
    bench_check(pc_process_start(p), "pc_process_start");
    if (pc_shbarrier_wait(go, 60) < 0)
        bench_die("barrier");
    int64_t t0 = bench_now_ns();
    add(v, ops);
    bench_check(pc_process_join(p, PC_FOREVER), "pc_process_join");
    double s = (double)(bench_now_ns() - t0) * 1e-9;
    int code;
    bench_check(pc_process_exitcode(p, &code), "exitcode");
    long total;
    bench_check(pc_shvalue_get_long(v, &total), "get");
    if (code != 0 || total != 2 * ops)
        bench_die("child exit %d, total %ld of %ld", code, total, 2 * ops);
    pc_process_free(p);
    bench_check(pc_shvalue_free(v), "free");
    bench_check(pc_shbarrier_free(go), "free");
    return s;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    long ops = bench_opt_long("ops", 2000000);
    bench_opts_done();
    one_pass(ops / 10); /* warm-up */
    int n = bench_passes();
    double rate[64];
    for (int i = 0; i < n && i < 64; i++)
        rate[i] = 2.0 * (double)ops / one_pass(ops);
    bench_metric("ops", 2.0 * (double)ops, "ops");
    bench_metric("ops_per_s", bench_median(rate, n < 64 ? n : 64), "ops/s");
    return 0;
}
