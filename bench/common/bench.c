/*
 * The shared part of the benchmark programs: clock, options, output and the
 * calibrated loop (see bench.h).
 *
 * Calibration runs the measured loop itself with growing n, so the warm-up
 * touches the same code and data as the measurement.  Rejected: a fixed
 * iteration count per program; on a machine faster or slower than the one
 * it was chosen on, a measurement lasts milliseconds (noise) or minutes.
 */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double bench_target_s(void) {
    const char *s = getenv("BENCH_TIME");
    double t = s ? strtod(s, NULL) : 0.25;
    return t > 0 ? t : 0.25;
}

int bench_passes(void) {
    const char *s = getenv("BENCH_PASSES");
    long p = s ? strtol(s, NULL, 10) : 3;
    return p < 1 ? 1 : p > 99 ? 99 : (int)p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_metric(const char *name, double value, const char *unit) {
    printf("%s %.6g %s\n", name, value, unit);
    fflush(stdout);
}

void bench_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void bench_check(int rc, const char *what) {
    if (rc != 0)
        bench_die("%s failed: %d (%s)", what, rc, strerror(rc < 0 ? -rc : rc));
}

/* ---------------------------------------------------------------- options */

enum { MAX_OPTS = 16 };
static struct {
    const char *key, *val;
    int used;
} opts[MAX_OPTS];
static int n_opts;

void bench_opts(int argc, char **argv) {
    for (int i = 1; i < argc; i += 2) {
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc)
            bench_die("usage: %s [--key value]... (at '%s')", argv[0], argv[i]);
        if (n_opts == MAX_OPTS)
            bench_die("too many options");
        opts[n_opts].key = argv[i] + 2;
        opts[n_opts].val = argv[i + 1];
        n_opts++;
    }
}

static const char *find_opt(const char *key) {
    for (int i = 0; i < n_opts; i++)
        if (strcmp(opts[i].key, key) == 0) {
            opts[i].used = 1;
            return opts[i].val;
        }
    return NULL;
}

long bench_opt_long(const char *key, long def) {
    const char *s = find_opt(key);
    if (!s)
        return def;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        bench_die("--%s: not an integer: '%s'", key, s);
    return v;
}

const char *bench_opt_str(const char *key, const char *def) {
    const char *s = find_opt(key);
    return s ? s : def;
}

void bench_opts_done(void) {
    for (int i = 0; i < n_opts; i++)
        if (!opts[i].used)
            bench_die("unknown option --%s", opts[i].key);
}

/* ---------------------------------------------------------------- threads */

void bench_thread(pthread_t *t, void *(*fn)(void *), void *arg) {
    int rc = pthread_create(t, NULL, fn, arg);
    if (rc)
        bench_die("pthread_create: %s", strerror(rc));
}

static void *nothing(void *arg) {
    return arg;
}

void bench_go_multithreaded(void) {
    pthread_t t;
    bench_thread(&t, nothing, NULL);
    pthread_join(t, NULL);
}

/* ---------------------------------------------------------------- loops */

double bench_per_op(bench_loop_fn run, void *arg, long *n_out) {
    double target = bench_target_s();
    long n = 8;
    double s = run(n, arg);
    while (s < target / 10) {
        /* Aim at a tenth of the target, growing at least 2x, at most 16x. */
        double grow = s > 0 ? target / 10 / s : 16;
        grow = grow < 2 ? 2 : grow > 16 ? 16 : grow;
        n = (long)(n * grow) + 1;
        s = run(n, arg);
    }
    n = (long)(n * target / s) + 1;
    double per[99];
    int passes = bench_passes();
    for (int i = 0; i < passes; i++) {
        per[i] = run(n, arg) / (double)n;
        printf("# pass %d: %.4g ns/op\n", i + 1, per[i] * 1e9);
    }
    if (n_out)
        *n_out = n;
    return bench_median(per, passes);
}
