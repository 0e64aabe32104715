/*
 * Peer: raw fork()+waitpid() of a child that _exit()s at once
 * (--kind fork), or posix_spawn() of this same program told to exit at
 * once, + waitpid (--kind spawn).  Figure: ns_per_op.
 */
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

static double loop(long n, void *arg) {
    bool spawn = *(bool *)arg;
    char *argv[] = {"process-raw", "--exit-at-once", NULL};
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid;
        if (spawn) {
            bench_check(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ), "spawn");
        } else if ((pid = fork()) == 0) {
            _exit(0);
        }
        bench_check(waitpid(pid, NULL, 0) != pid, "waitpid");
    }
    return (double)(bench_now_ns() - t0) * 1e-9;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "--exit-at-once"))
        return 0;
    bench_opts(argc, argv);
    const char *kind = bench_opt_str("kind", "fork");
    bench_opts_done();
    bool spawn = !strcmp(kind, "spawn");
    if (!spawn && strcmp(kind, "fork"))
        bench_die("bad --kind %s", kind);
    long n;
    double per = bench_per_op(loop, &spawn, &n);
    bench_metric("ops", (double)n, "ops");
    bench_metric("ns_per_op", per * 1e9, "ns/op");
    return 0;
}
