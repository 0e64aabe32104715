/*
 * pc_queue under the producer/consumer harness (common/qbench.h).
 *   --kind fifo|simple   Queue or SimpleQueue (default fifo)
 *   --maxsize M          Queue(M); 0 = unbounded (SimpleQueue ignores it)
 */
#include <string.h>

#include "bench.h"
#include "pyconc/queue.h"
#include "qbench.h"

static pc_queue_kind kind = PC_QUEUE_FIFO;

static void *make(long maxsize) {
    pc_queue *q;
    bench_check(pc_queue_new(&q, &(pc_queue_opts){.kind = kind, .maxsize = maxsize}),
                "pc_queue_new");
    return q;
}

static void put(void *q, void *item) {
    bench_check(pc_queue_put(q, item, PC_FOREVER), "pc_queue_put");
}

static void *get(void *q) {
    void *item;
    bench_check(pc_queue_get(q, &item, PC_FOREVER), "pc_queue_get");
    return item;
}

static void destroy(void *q) {
    pc_queue_free(q);
}

int main(int argc, char **argv) {
    bench_opts(argc, argv);
    const char *k = bench_opt_str("kind", "fifo");
    if (strcmp(k, "simple") == 0)
        kind = PC_QUEUE_SIMPLE;
    else if (strcmp(k, "fifo") != 0)
        bench_die("--kind fifo|simple, not '%s'", k);
    return qbench_main(&(qbench_ops){make, put, get, destroy, .fifo = true});
}
