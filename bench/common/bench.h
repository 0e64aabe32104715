/*
 * bench.h - what every benchmark program shares.
 *
 * A benchmark program measures ONE implementation (pyconc or one peer) and
 * prints its figures on stdout as machine-readable lines
 *
 *     metric_name value unit
 *
 * (lines starting with '#' are comments).  bench/runner.py runs the
 * programs named in bench/spec.tsv several times, interleaved, and compares
 * medians.  One implementation per program keeps a peer building and
 * running while the pyconc module it is compared with is missing.
 *
 * Time is CLOCK_MONOTONIC.  Nothing is pinned: the programs run on the
 * shared cores as any user program would.
 */
#ifndef PC_BENCH_H
#define PC_BENCH_H

#include <pthread.h>
#include <stdint.h>

/* Nanoseconds on CLOCK_MONOTONIC. */
int64_t bench_now_ns(void);

/* Seconds one measurement should last: $BENCH_TIME, default 0.25. */
double bench_target_s(void);

/* Measured passes per run, of which a program reports the median:
 * $BENCH_PASSES, default 3.  One slow pass (the shared machine ran
 * something else) then does not make the run's figure. */
int bench_passes(void);

/* The median of n values (sorts them). */
double bench_median(double *v, int n);

/* Print one figure: "name value unit". */
void bench_metric(const char *name, double value, const char *unit);

/* Print a message on stderr and exit 1. */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Exit with a message naming `what` when a call returned nonzero. */
void bench_check(int rc, const char *what);

/*
 * "--key value" options.  Unknown keys and malformed numbers are fatal, so a
 * typo in bench/spec.tsv cannot silently measure something else.  Call
 * bench_opts_done() after reading every key: it rejects keys nobody read.
 */
void bench_opts(int argc, char **argv);
long bench_opt_long(const char *key, long def);
const char *bench_opt_str(const char *key, const char *def);
void bench_opts_done(void);

/*
 * Start and join one thread, so that the process has been multi-threaded
 * before it measures: a libc may take shortcuts in a process that never
 * started a thread, and no real user of a lock is in one.
 */
void bench_go_multithreaded(void);

/*
 * Time a loop.  run(n, arg) performs n operations and returns the seconds
 * they took.  bench_per_op warms up with growing n until one call lasts a
 * tenth of bench_target_s(), then makes bench_passes() calls with n scaled
 * to last about bench_target_s() each.  Returns the median seconds per
 * operation; *n_out gets that n.
 */
typedef double (*bench_loop_fn)(long n, void *arg);
double bench_per_op(bench_loop_fn run, void *arg, long *n_out);

/* Start a pthread or die. */
void bench_thread(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
