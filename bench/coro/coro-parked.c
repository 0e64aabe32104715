/*
 * Memory of parked coroutines: spawn N coroutines (default 1,000,000)
 * that all park on one pc_event, let each run until it parks, and read
 * the process's resident memory (VmRSS) before and after.  Figures:
 * kib_per_parked (resident KiB per parked coroutine, stack, object and
 * page tables' share not included: VmRSS counts pages, see VmPTE) and
 * parked (how many were parked at once).  Then the event is set and all
 * of them end.  Default kernel settings; stacks of the default size,
 * mapped lazily.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pyconc.h>

#include "bench.h"

static long status_kib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        bench_die("cannot read /proc/self/status");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = atol(line + kl + 1);
    fclose(f);
    return v;
}

static int parked_body(void *arg, void **value) {
    (void)value;
    return pc_event_wait(arg, PC_FOREVER);
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    long n = bench_opt_long("count", 1000000);
    bench_opts_done();
    pc_coro **c = malloc((size_t)n * sizeof *c);
    pc_event *e;
    if (!c || pc_event_new(&e))
        bench_die("out of memory");
    long rss0 = status_kib("VmRSS"), pte0 = status_kib("VmPTE");
    for (long i = 0; i < n; i++)
        bench_check(pc_coro_spawn(&c[i], parked_body, e, NULL), "pc_coro_spawn");
    /* one turn of the loop runs every coroutine until it parks */
    int r = pc_loop_run_until(pc_loop_current(), c[0], 0.001);
    if (r != -ETIMEDOUT)
        bench_check(r, "pc_loop_run_until");
    long parked = 0;
    for (long i = 0; i < n; i++)
        parked += pc_coro_started(c[i]) && !pc_coro_ready(c[i]);
    long rss1 = status_kib("VmRSS"), pte1 = status_kib("VmPTE");
    bench_metric("parked", (double)parked, "coroutines");
    bench_metric("kib_per_parked", (double)(rss1 - rss0) / (double)n, "KiB");
    bench_metric("pte_kib_per_parked", (double)(pte1 - pte0) / (double)n, "KiB");
    bench_check(pc_event_set(e), "pc_event_set");
    bench_check(pc_coro_joinall(c, (int)n, PC_FOREVER), "pc_coro_joinall");
    for (long i = 0; i < n; i++)
        pc_coro_free(c[i]);
    pc_event_free(e);
    free(c);
    return parked == n ? 0 : 1;
}
