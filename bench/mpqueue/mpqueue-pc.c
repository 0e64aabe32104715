/*
 * pyconc's process Queue (pyconc/mpqueue.h): a forked child puts --items
 * messages of --size bytes (default 8), the parent gets them with a
 * blocking get (PC_FOREVER), one at a time.  Figure: items_per_s, from the
 * parent's go to its last get.
 *
 *   --items N     messages per pass (default 2000000)
 *   --size B      bytes per message (default 8)
 *   --maxsize M   the queue's maxsize (default 0: bounded by its 1 MiB ring)
 *
 * Each pass: the parent puts a go message on a second queue, the child
 * puts its N messages, the parent takes them all.  A warm-up pass of N/10,
 * then bench_passes() passes; the median pass is printed.  No pinning.
 * The same scenario as bench/mpqueue/pympqueue.py.
 */
#include <pyconc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static pc_mpqueue *data, *ctl;

static void child(long n, size_t size, int passes) {
    char buf[256] = {0};
    for (int p = 0; p < passes; p++) {
        long go;
        size_t len;
        bench_check(pc_mpqueue_get(ctl, &go, sizeof go, &len, PC_FOREVER), "get go");
        for (long i = 0; i < go; i++) {
            memcpy(buf, &i, sizeof i < size ? sizeof i : size);
            bench_check(pc_mpqueue_put(data, buf, size, PC_FOREVER), "pc_mpqueue_put");
        }
    }
    (void)n;
}

static double one_pass(long n, size_t size) {
    char buf[256];
    size_t len;
    int64_t t0 = bench_now_ns();
    bench_check(pc_mpqueue_put(ctl, &n, sizeof n, PC_FOREVER), "put go");
    for (long i = 0; i < n; i++) {
        bench_check(pc_mpqueue_get(data, buf, sizeof buf, &len, PC_FOREVER), "pc_mpqueue_get");
        if (len != size)
            bench_die("short message");
    }
    return (double)(bench_now_ns() - t0) / 1e9;
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    long items = bench_opt_long("items", 2000000);
    long size = bench_opt_long("size", 8);
    long maxsize = bench_opt_long("maxsize", 0);
    bench_opts_done();
    if (items < 10 || size < 8 || size > 256)
        bench_die("bad --items or --size (8..256)");
    bench_check(pc_mpqueue_new(&data, &(pc_mpqueue_opts){.maxsize = maxsize}), "pc_mpqueue_new");
    bench_check(pc_mpqueue_new(&ctl, NULL), "pc_mpqueue_new");
    int passes = bench_passes();
    if (passes > 64)
        passes = 64;
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork");
    if (pid == 0) {
        child(items, (size_t)size, passes + 1);
        _exit(0);
    }
    one_pass(items / 10, (size_t)size); /* warm-up */
    double v[64];
    for (int p = 0; p < passes; p++) {
        v[p] = (double)items / one_pass(items, (size_t)size);
        printf("# pass %d: %.4g items/s\n", p, v[p]);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        bench_die("the child failed");
    bench_metric("items_per_s", bench_median(v, passes), "items/s");
    pc_mpqueue_free(data);
    pc_mpqueue_free(ctl);
    return 0;
}
