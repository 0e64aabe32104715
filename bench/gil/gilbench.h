/*
 * gilbench.h - what the GIL benchmarks share.
 *
 * Some figures of the GIL have an absolute target (the check costs at most
 * 1 ns; a convoyed thread gets the GIL back within one switch interval).
 * A spec row compares a figure with its target through a "budget" peer:
 * the same program run with `--budget X` prints X as the figure and
 * measures nothing, so the row's ratio is figure / target.
 */
#ifndef PC_GILBENCH_H
#define PC_GILBENCH_H

#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

/* A "--key value" option as a double (0 when absent). */
static inline double gilbench_opt_double(const char *key) {
    const char *s = bench_opt_str(key, NULL);
    if (!s)
        return 0;
    char *end;
    double v = strtod(s, &end);
    if (*end)
        bench_die("--%s %s: not a number", key, s);
    return v;
}

/* With --budget X: print `metric` X and exit (the target of a row). */
static inline void gilbench_budget(const char *metric, const char *unit) {
    double b = gilbench_opt_double("budget");
    if (b <= 0)
        return;
    bench_opts_done();
    printf("# the target, not a measurement\n");
    bench_metric(metric, b, unit);
    exit(0);
}

static int gilbench_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of v[0..n) (sorts v). */
static inline double gilbench_quantile(double *v, int n, double q) {
    qsort(v, (size_t)n, sizeof *v, gilbench_cmp);
    return v[(int)(q * (n - 1) + 0.5)];
}

#endif
