/*
 * pipebench.h - the two-process harness of the pipe benchmarks: a parent
 * and a forked child, connected by whatever the program measures, through
 * a table of four calls (send/recv of one message, each side's end).
 *
 *   --mode rtt   1-byte message round trips: the parent sends, the child
 *                answers; figure ns_per_roundtrip.
 *   --mode tput  --size bytes messages (default 65536) from the parent to
 *                the child, which answers once per pass; figure
 *                bytes_per_s, counted end to end.
 *   --count N    round trips or messages per pass.
 * A warm-up pass of N/10 first, then bench_passes() passes; the median pass
 * is printed.  No pinning.
 */
#ifndef PC_BENCH_PIPEBENCH_H
#define PC_BENCH_PIPEBENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

typedef struct pipebench_ops {
    /* side 0 the parent, 1 the child: send / receive exactly len bytes as
     * one message (a receive may be given a bigger buffer). */
    void (*send)(int side, const void *buf, size_t len);
    void (*recv)(int side, void *buf, size_t len);
    void (*child_setup)(void);  /* in the child after fork: close the parent's ends */
    void (*parent_setup)(void); /* in the parent after fork */
} pipebench_ops;

static inline double pipebench_pass(const pipebench_ops *ops, int rtt, long n, size_t size,
                                    char *buf) {
    int64_t t0 = bench_now_ns();
    if (rtt) {
        for (long i = 0; i < n; i++) {
            ops->send(0, buf, 1);
            ops->recv(0, buf, 1);
        }
    } else {
        for (long i = 0; i < n; i++)
            ops->send(0, buf, size);
        ops->recv(0, buf, 1);
    }
    return (double)(bench_now_ns() - t0);
}

static inline void pipebench_child(const pipebench_ops *ops, int rtt, long total, size_t size,
                                   char *buf, int passes) {
    (void)total;
    for (int p = 0; p < passes; p++) {
        long n = p == 0 ? total / 10 : total;
        if (n < 1)
            n = 1;
        if (rtt) {
            for (long i = 0; i < n; i++) {
                ops->recv(1, buf, 1);
                ops->send(1, buf, 1);
            }
        } else {
            for (long i = 0; i < n; i++)
                ops->recv(1, buf, size);
            ops->send(1, buf, 1);
        }
    }
}

/* extra_opts (may be NULL) reads the program's own options. */
static inline int pipebench_main(int argc, char **argv, const pipebench_ops *ops,
                                 void (*extra_opts)(void), void (*make)(void)) {
    bench_opts(argc, argv);
    if (extra_opts)
        extra_opts();
    const char *mode = bench_opt_str("mode", "rtt");
    long size = bench_opt_long("size", 65536);
    int rtt = strcmp(mode, "rtt") == 0;
    long count = bench_opt_long("count", 20000);
    bench_opts_done();
    if (!rtt && strcmp(mode, "tput") != 0)
        bench_die("--mode rtt or tput");
    if (size < 1 || count < 10)
        bench_die("bad --size or --count");
    char *buf = calloc(1, (size_t)size);
    if (!buf)
        bench_die("out of memory");
    int passes = bench_passes();
    make();
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork");
    if (pid == 0) {
        ops->child_setup();
        pipebench_child(ops, rtt, count, (size_t)size, buf, passes + 1);
        _exit(0);
    }
    ops->parent_setup();
    pipebench_pass(ops, rtt, count / 10, (size_t)size, buf); /* warm-up */
    double v[64];
    if (passes > 64)
        passes = 64;
    for (int p = 0; p < passes; p++) {
        double ns = pipebench_pass(ops, rtt, count, (size_t)size, buf);
        v[p] = rtt ? ns / (double)count : (double)count * (double)size / (ns / 1e9);
        printf("# pass %d: %.1f %s\n", p, v[p], rtt ? "ns/roundtrip" : "bytes/s");
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        bench_die("the child failed");
    if (rtt)
        bench_metric("ns_per_roundtrip", bench_median(v, passes), "ns");
    else
        bench_metric("bytes_per_s", bench_median(v, passes), "bytes/s");
    free(buf);
    return 0;
}

#endif
