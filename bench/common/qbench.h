/*
 * qbench.h - the producer/consumer harness shared by every C queue
 * benchmark (pyconc's and the peers').
 *
 * A program supplies the queue as a table of four operations and calls
 * qbench_main().  Options (all "--key value"):
 *   --producers P  --consumers C   threads on each side (default 1 and 1)
 *   --items N      items moved in the measured pass (default 4000000)
 *   --maxsize M    bound of the queue; 0 = unbounded (default 0)
 * plus whatever the program reads itself before calling qbench_main.
 *
 * Each pass: P producers each put N/P distinct non-NULL items (the
 * numbers 1..N); once every producer is done, the main thread puts C
 * end markers; each consumer gets until it sees a marker.  All threads
 * start behind one barrier; the clock runs from the barrier to the last
 * consumer's exit, so the figure counts items moved end to end.  Consumers
 * sum what they get: a lost or doubled item fails the run.  With one
 * producer and one consumer the order is checked too (FIFO).
 *
 * A warm-up pass of N/10 items runs first, then bench_passes() measured
 * passes, all on the same queue.  Output, of the median pass: "items",
 * "seconds", "items_per_s", "ns_per_item".
 */
#ifndef PC_BENCH_QBENCH_H
#define PC_BENCH_QBENCH_H

#include <stdbool.h>

typedef struct qbench_ops {
    /* Make a queue bounded to maxsize items (0: unbounded; a program that
     * cannot honour the request dies with a message). */
    void *(*make)(long maxsize);
    void (*put)(void *q, void *item); /* blocking; dies on error */
    void *(*get)(void *q);            /* blocking; dies on error */
    void (*destroy)(void *q);
    bool fifo; /* items come out in the order they went in */
} qbench_ops;

/* Run the warm-up and the measured pass and print the figures.  Call
 * bench_opts() first, and read the program's own keys before. */
int qbench_main(const qbench_ops *ops);

#endif
