/*
 * pyconc's Pipe between two processes (bench/pipe/pipebench.h): one duplex
 * pc_pipe, pc_conn_send + pc_conn_recv (into a buffer) with PC_FOREVER.
 * --duplex 0: two one-way pipes instead.
 */
#include <pyconc.h>

#include "pipebench.h"

static pc_conn *end[2][2]; /* [side][0 = receive on, 1 = send on] */
static long duplex;

static void make(void) {
    if (duplex) {
        pc_conn *a, *b;
        bench_check(pc_pipe(&a, &b, true), "pc_pipe");
        end[0][0] = end[0][1] = a;
        end[1][0] = end[1][1] = b;
    } else {
        pc_conn *r0, *w1, *r1, *w0;
        bench_check(pc_pipe(&r0, &w1, false), "pc_pipe"); /* child -> parent */
        bench_check(pc_pipe(&r1, &w0, false), "pc_pipe"); /* parent -> child */
        end[0][0] = r0, end[0][1] = w0;
        end[1][0] = r1, end[1][1] = w1;
    }
}

static void send_(int side, const void *buf, size_t len) {
    bench_check(pc_conn_send(end[side][1], buf, len, PC_FOREVER), "pc_conn_send");
}

static void recv_(int side, void *buf, size_t len) {
    size_t got;
    bench_check(pc_conn_recv(end[side][0], buf, len, &got, PC_FOREVER), "pc_conn_recv");
    if (got != len)
        bench_die("short message");
}

static void keep(int side) {
    pc_conn *gone[2] = {end[!side][0], end[!side][1]};
    pc_conn_free(gone[0]);
    if (gone[1] != gone[0])
        pc_conn_free(gone[1]);
}

static void child_setup(void) {
    keep(1);
}

static void parent_setup(void) {
    keep(0);
}

static void extra_opts(void) {
    duplex = bench_opt_long("duplex", 1);
}

int main(int argc, char **argv) {
    static const pipebench_ops ops = {send_, recv_, child_setup, parent_setup};
    return pipebench_main(argc, argv, &ops, extra_opts, make);
}
