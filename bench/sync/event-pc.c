/*
 * pc_event round trip between two threads (common/pingpong.h): a signal is
 * pc_event_set; a wait is pc_event_wait then pc_event_clear.
 */
#include "bench.h"
#include "pingpong.h"
#include "pyconc/sync.h"

static void *make(void) {
    pc_event *e;
    bench_check(pc_event_new(&e), "pc_event_new");
    return e;
}

static void signal_(void *e) {
    bench_check(pc_event_set(e), "pc_event_set");
}

static void wait_(void *e) {
    bench_check(pc_event_wait(e, PC_FOREVER), "pc_event_wait");
    bench_check(pc_event_clear(e), "pc_event_clear");
}

static void destroy(void *e) {
    pc_event_free(e);
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    return pingpong_main(&(pingpong_ops){make, signal_, wait_, destroy});
}
